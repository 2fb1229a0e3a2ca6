"""The submit-description language: commands to job ads, macros, queue forms, errors."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import classad
from console import Submit, SubmitError


def ev(ad: classad.ClassAd, name: str):
    return ad.eval(name)


BASIC = """
# a comment
executable     = /bin/echo
arguments      = "hello 'big world' $(Process)"
output         = out.$(Cluster).$(Process)
error          = err.$(Process)
log            = job.log
universe       = vanilla
request_cpus   = 2
request_memory = 2GB
request_disk   = 1M
requirements   = TARGET.Memory >= 100
+Foo           = "bar"
MY.Baz         = 1 + 2
queue 3
"""


def test_commands_become_job_attributes(tmp_path):
    ads = Submit(BASIC, base_dir=str(tmp_path)).jobs(cluster=42)
    assert len(ads) == 3
    ad = ads[1]
    assert ev(ad, "Cmd") == "/bin/echo"
    assert ev(ad, "Arguments") == "hello 'big world' 1"
    assert ev(ad, "Out") == "out.42.1"
    assert ev(ad, "Err") == "err.1"
    assert ev(ad, "UserLog") == "job.log"
    assert ev(ad, "In") == "/dev/null"
    assert ev(ad, "JobUniverse") == 5
    assert ev(ad, "RequestCpus") == 2
    assert ev(ad, "RequestMemory") == 2048
    assert ev(ad, "RequestDisk") == 1024
    assert str(ad.lookup("Requirements")).replace(" ", "") == "TARGET.Memory>=100"
    assert ev(ad, "Foo") == "bar"
    assert ev(ad, "Baz") == 3
    assert ev(ad, "Iwd") == str(tmp_path)
    assert ev(ad, "ClusterId") == 42 and ev(ad, "ProcId") == 1
    assert isinstance(ev(ad, "Owner"), str) and ev(ad, "Owner")


def test_submit_ads_cluster_ad_and_what_each_job_changes(tmp_path):
    sub = Submit(BASIC, base_dir=str(tmp_path))
    ad, own = sub.submit_ads()
    assert len(own) == 3
    assert "ClusterId" not in ad and ev(ad, "Cmd") == "/bin/echo"
    # proc 0 is the cluster ad itself; the others change what depends on the job
    assert len(own[0]) == 0
    assert set(own[1].keys()) == {"Arguments", "Out", "Err"} == set(own[2].keys())
    # $(Cluster) is not known before the agent queues the jobs: an expression over ClusterId
    assert str(ad.lookup("Out")).replace(" ", "") == 'strcat("out.",ClusterId,".0")'
    assert str(own[2].lookup("Out")).replace(" ", "") == 'strcat("out.",ClusterId,".2")'
    probe = classad.ClassAd({"ClusterId": 9})
    probe.update(own[2])
    assert probe.eval("Out") == "out.9.2" == ev(sub.jobs(9)[2], "Out")
    same = Submit("executable = /bin/true\noutput = fixed.out\nqueue 5")
    _, own = same.submit_ads()
    assert [len(o) for o in own] == [0] * 5
    assert same.job_count() == 5


def test_submit_ads_group_items_and_count():
    sub = Submit("executable = /bin/echo\narguments = $(x)\nqueue 2 x in (a, b)")
    ad, own = sub.submit_ads()
    assert ev(ad, "Args") == "a"
    assert [dict(o.items()) for o in own] == [{}, {}, {"Args": "b"}, {"Args": "b"}]
    _, own = Submit("executable = /bin/true\noutput = o.$(Process)\nqueue").submit_ads(count=4)
    assert [o.eval("Out") for o in own[1:]] == ["o.1", "o.2", "o.3"]


def test_cluster_id_in_expressions_and_attributes_missing_in_some_jobs():
    sub = Submit("executable = /bin/true\n+Group = $(Cluster) * 10\n+Tag = \"c$(Cluster)p$(Process)\"\n"
                 "queue\n+Extra = 1\nqueue")
    ad, own = sub.submit_ads()
    assert str(ad.lookup("Group")).replace(" ", "") == "ClusterId*10"
    assert str(own[1].lookup("Tag")).replace(" ", "") == 'strcat("c",ClusterId,"p1")'
    assert own[1]["Extra"] == 1 and "Extra" not in ad
    glued = Submit("executable = /bin/true\n+Bad = x$(Cluster)\nqueue")
    with pytest.raises(SubmitError, match=r"Bad: \$\(Cluster\) is glued"):
        glued.submit_ads()


def test_relative_executable_and_initialdir(tmp_path):
    (tmp_path / "run").mkdir()
    sub = Submit("executable = prog.sh\ninitialdir = run\nqueue", base_dir=str(tmp_path))
    ad = sub.jobs()[0]
    assert ev(ad, "Iwd") == str(tmp_path / "run")
    assert ev(ad, "Cmd") == str(tmp_path / "run" / "prog.sh")


def test_old_style_arguments_go_to_args():
    ad = Submit("executable=/bin/sleep\narguments = 120\nqueue").jobs()[0]
    assert ev(ad, "Args") == "120"
    assert "Arguments" not in ad


def test_macros_defaults_env_and_plain_variables(monkeypatch):
    monkeypatch.setenv("QMF_TEST_VALUE", "from-env")
    sub = Submit(
        "name = alpha\n"
        "executable = /bin/$(tool:true)\n"
        "output = $(name)-$(missing:none).out\n"
        "error = $ENV(QMF_TEST_VALUE).err\n"
        "queue\n"
    )
    ad = sub.jobs()[0]
    assert ev(ad, "Cmd") == "/bin/true"
    assert ev(ad, "Out") == "alpha-none.out"
    assert ev(ad, "Err") == "from-env.err"


def test_line_continuation_and_case_insensitive_commands():
    ad = Submit("Executable = /bin/echo\nARGUMENTS = \"a \\\n b\"\nQueue").jobs()[0]
    assert ev(ad, "Cmd") == "/bin/echo"
    assert ev(ad, "Arguments") == "a b"


def test_queue_in_list_gives_one_job_per_item():
    sub = Submit("executable = /bin/echo\narguments = $(word)\nqueue word in (alpha, beta gamma)")
    assert [ev(a, "Args") for a in sub.jobs()] == ["alpha", "beta", "gamma"]
    assert sub.job_count() == 3


def test_queue_in_multiline_list():
    sub = Submit("executable = /bin/echo\narguments = $(item)\nqueue in (\n  one\n  two\n)\n")
    assert [ev(a, "Args") for a in sub.jobs()] == ["one", "two"]


def test_queue_count_times_items_and_step():
    sub = Submit("executable = /bin/echo\narguments = $(x)-$(Step)\nqueue 2 x in (a, b)")
    assert [ev(a, "Args") for a in sub.jobs()] == ["a-0", "a-1", "b-0", "b-1"]
    assert [ev(a, "ProcId") for a in sub.jobs()] == [0, 1, 2, 3]


def test_queue_from_file_with_several_variables(tmp_path):
    (tmp_path / "rows.txt").write_text("# header comment\n1, one\n2, two words\n")
    sub = Submit("executable = /bin/echo\narguments = $(n) $(name)\nqueue n, name from rows.txt",
                 base_dir=str(tmp_path))
    assert [ev(a, "Args") for a in sub.jobs()] == ["1 one", "2 two words"]


def test_queue_from_inline_rows():
    sub = Submit("executable = /bin/echo\narguments = $(a)/$(b)\nqueue a b from (\n x 1\n y 2\n)")
    assert [ev(a, "Args") for a in sub.jobs()] == ["x/1", "y/2"]


def test_queue_matching_files(tmp_path):
    for name in ("b.dat", "a.dat", "c.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "d.dat").mkdir()
    sub = Submit("executable = /bin/cat\ninput = $(file)\nqueue file matching files *.dat",
                 base_dir=str(tmp_path))
    assert [ev(a, "In") for a in sub.jobs()] == ["a.dat", "b.dat"]


def test_several_queue_statements_continue_the_proc_numbers():
    sub = Submit("executable = /bin/echo\narguments = first\nqueue 2\narguments = second\nqueue")
    ads = sub.jobs(cluster=3)
    assert [(ev(a, "ProcId"), ev(a, "Args")) for a in ads] == [(0, "first"), (1, "first"), (2, "second")]


def test_environment_and_getenv(monkeypatch):
    monkeypatch.setenv("QMF_SUBMIT_X", "1")
    ad = Submit('executable=/bin/env\nenvironment = "A=1 B=\'two words\'"\ngetenv = QMF_SUBMIT_*\nqueue').jobs()[0]
    env = ev(ad, "Environment")
    assert "A=1" in env and "B='two words'" in env and "QMF_SUBMIT_X=1" in env
    old = Submit("executable=/bin/env\nenvironment = A=1;B=2\nqueue").jobs()[0]
    assert ev(old, "Environment") == "A=1 B=2"


def test_transfer_and_misc_commands():
    ad = Submit(
        "executable=/bin/true\nshould_transfer_files = yes\nwhen_to_transfer_output = on_exit\n"
        "transfer_input_files = a, b\nnotification = complete\nhold = true\npriority = 5\nqueue"
    ).jobs()[0]
    assert ev(ad, "ShouldTransferFiles") == "YES"
    assert ev(ad, "WhenToTransferOutput") == "ON_EXIT"
    assert ev(ad, "TransferInput") == "a, b"
    assert ev(ad, "JobNotification") == 2
    assert ev(ad, "JobStatus") == 5
    assert ev(ad, "JobPrio") == 5


def test_submit_from_dict_and_keywords():
    sub = Submit({"executable": "/bin/sleep", "arguments": "1"}, output="o.txt")
    ad = sub.jobs()[0]
    assert ev(ad, "Cmd") == "/bin/sleep"
    assert ev(ad, "Out") == "o.txt"
    assert sub["Executable"] == "/bin/sleep"
    assert len(sub.jobs()) == 1


def test_count_replaces_a_plain_queue_only():
    _, own = Submit("executable=/bin/true\noutput = o.$(Process)\nqueue").submit_ads(count=7)
    assert len(own) == 7
    assert len(Submit("executable=/bin/true\nqueue 2").jobs(count=4)) == 4
    with pytest.raises(SubmitError, match="count can replace only a single plain"):
        Submit("executable=/bin/echo\narguments=$(x)\nqueue x in (a, b)").submit_ads(count=3)
    with pytest.raises(SubmitError, match="count must be a positive integer"):
        Submit("executable=/bin/true\nqueue").submit_ads(count=0)


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("executable = /bin/true\nthis is not a command\nqueue", 2, "expected 'command = value'"),
        ("executable = /bin/true\nuniverse = moon\nqueue", 2, "unknown universe 'moon'"),
        ("arguments = 1\nqueue", 2, "no 'executable'"),
        ("executable = /bin/true\nrequest_memory = 3 parsecs\nqueue", 2, "request_memory"),
        ("executable = /bin/true\nrequirements = (((\nqueue", 2, "requirements is not a ClassAd expression"),
        ("executable = /bin/true\nqueue 2 x in a b", 2, "needs a list in parentheses"),
        ("executable = /bin/true\nqueue x in (a,\n b", 2, "no closing ')'"),
        ("executable = /bin/true\nnotification = sometimes\nqueue", 2, "notification must be one of"),
        ("executable = /bin/true\narguments = \"unterminated\nqueue", 2, "arguments"),
        ("executable = /bin/true\nhold = maybe\nqueue", 2, "hold must be true or false"),
        ("executable = /bin/true\n+Bad = [[\nqueue", 2, "+Bad is not a ClassAd expression"),
        ("a = $(a)\nexecutable = /bin/$(a)\nqueue", 1, "loops"),
        ("2bad = x\nqueue", 1, "bad command name"),
    ],
)
def test_errors_name_the_line(text, line, words):
    with pytest.raises(SubmitError) as info:
        Submit(text).jobs()
    assert info.value.line == line
    assert words in str(info.value)
    assert str(info.value).startswith(f"line {line}:")


def test_queue_from_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SubmitError, match="queue from .*missing.txt"):
        Submit("executable=/bin/true\nqueue x from missing.txt", base_dir=str(tmp_path)).jobs()


def test_from_file_reads_relative_to_the_file(tmp_path):
    f = tmp_path / "job.sub"
    f.write_text("executable = run.sh\nqueue 2\n")
    sub = Submit.from_file(str(f))
    assert [ev(a, "Cmd") for a in sub.jobs()] == [os.path.join(str(tmp_path), "run.sh")] * 2
    with pytest.raises(SubmitError, match="cannot read submit file"):
        Submit.from_file(str(tmp_path / "nope.sub"))


def test_text_round_trip_keeps_commands_and_queue():
    sub = Submit("executable = /bin/echo\narguments = $(x)\nqueue x in (a, b)")
    again = Submit(str(sub))
    assert [ev(a, "Args") for a in again.jobs()] == ["a", "b"]


def test_text_round_trip_of_file_and_glob_queues(tmp_path):
    (tmp_path / "rows.txt").write_text("1 a\n2 b\n")
    (tmp_path / "x.dat").write_text("")
    for text in ("executable = /bin/echo\narguments = $(n)$(w)\nqueue n, w from rows.txt",
                 "executable = /bin/echo\narguments = $(f)\nqueue f matching files *.dat",
                 "executable = /bin/echo\narguments = $(a)-$(b)\nqueue a b from (\n x 1\n y 2\n)"):
        sub = Submit(text, base_dir=str(tmp_path))
        again = Submit(str(sub), base_dir=str(tmp_path))
        assert [ev(a, "Args") for a in again.jobs()] == [ev(a, "Args") for a in sub.jobs()]
        assert sub.job_count() == len(sub.jobs()) > 0


def test_wrong_description_type():
    with pytest.raises(TypeError, match="description text or a mapping"):
        Submit(42)  # type: ignore[arg-type]


ALPHABET = "abqeuxrt =$()#+\"',\n\\:.01*/"
WORDS = st.sampled_from(["executable", "arguments", "queue", "in", "from", "matching", "$(Process)",
                         "$(x)", "+A", "MY.b", "request_memory", "universe", "=", "(", ")", "\n",
                         "environment", "getenv", "hold", "true", "1", "2GB", '"', "'"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet=ALPHABET, max_size=80),
                 st.lists(WORDS, max_size=25).map(" ".join)))
def test_any_text_gives_jobs_or_a_submit_error(text):
    try:
        sub = Submit("executable = /bin/true\n" + text)
        ads = sub.jobs(cluster=3)
        _, own = sub.submit_ads()
    except SubmitError as e:
        assert str(e)
        return
    assert all(ev(a, "ClusterId") == 3 for a in ads) and len(own) == len(ads)
