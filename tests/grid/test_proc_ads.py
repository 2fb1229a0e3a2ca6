"""Submit with per-proc ads (ProcAds) and run attributes given as expressions.

A submit description whose jobs differ is queued by ONE Submit: the cluster
ad plus one override map per proc, in one durable transaction.  The
attributes that make a run (Cmd, Arguments, Environment, In, Out, Err, Iwd)
may be ClassAd expressions, evaluated per proc when the job starts -- the
seed's ``Err = strcat("test.err", ProcID)``.  Real processes throughout.
"""

from __future__ import annotations

import pytest
from jobpath_helpers import ROOT, JobPath, expr, job_ad, wait_for

from qmf_agent.errors import ParameterInvalid
from qmf_agent.grid.jobs import JobStatus


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"), slots=2, kill_grace=1.0).start()
    yield path
    path.stop()


def _done(jp: JobPath, ids: list[str]) -> bool:
    return all(jp.status(i) == JobStatus.COMPLETED for i in ids)


def test_err_as_strcat_of_procid_gives_one_file_per_proc(jp, tmp_path):
    ad = job_ad(str(tmp_path), cmd="/bin/sh", Arguments="-c 'echo oops $CONDOR_ID >&2'",
                Err=expr('strcat("test.err", ProcId)'))
    ids, _ = jp.schedd.submit(ad, 2, ROOT)
    wait_for(lambda: _done(jp, ids), what="both procs to complete")
    assert (tmp_path / "test.err0").read_text() == "oops 1.0\n"
    assert (tmp_path / "test.err1").read_text() == "oops 1.1\n"
    # the queue keeps the expression; it is evaluated, not rewritten
    assert jp.history_ad("1.1")["Err"].text.replace(" ", "") == 'strcat("test.err",ProcId)'


def test_cmd_arguments_environment_iwd_in_as_expressions(jp, tmp_path):
    work = tmp_path / "w1"
    work.mkdir()
    (work / "in.txt").write_text("input line\n")
    ad = job_ad(str(tmp_path), cmd="unused",
                Cmd=expr('strcat("/bin/", "sh")'),
                Iwd=expr(f'strcat("{tmp_path}/w", ProcId + 1)'),
                Arguments=expr("strcat(\"-c 'read x; echo $x $V'\")"),
                Environment=expr('strcat("V=proc", ProcId)'),
                In=expr('"in.txt"'), Out=expr('strcat("out", ProcId)'))
    ids, _ = jp.schedd.submit(ad, 1, ROOT)
    wait_for(lambda: _done(jp, ids), what="the job to complete")
    assert (work / "out0").read_text() == "input line proc0\n"


@pytest.mark.parametrize("attr, text, shown", [
    ("Out", "42 + ProcId", "evaluates to 42, not a string"),
    ("Arguments", "1/0 == 1", "evaluates to error"),
    ("Cmd", "NoSuchAttr", "undefined"),
    ("Iwd", "1/0", "evaluates to error"),
    ("Iwd", "NoSuchAttr", "Iwd is undefined"),
])
def test_expression_not_giving_a_string_holds_the_job_with_the_reason(jp, tmp_path, attr, text, shown):
    ad = job_ad(str(tmp_path), cmd="/bin/true", **{attr: expr(text)})
    jp.schedd.submit(ad, 1, ROOT)
    wait_for(lambda: jp.status("1.0") == JobStatus.HELD, what="the job to be held")
    got = jp.schedd.get_ad("1.0")
    assert got["HoldReasonCode"] == 6
    assert attr in got["HoldReason"] and shown in got["HoldReason"]


def test_proc_ads_override_the_cluster_ad_per_proc(jp, tmp_path):
    ad = job_ad(str(tmp_path), cmd="/bin/echo", Arguments="zero", Out="out.0")
    procs = [{}, {"Arguments": {"TYPE": "STRING", "VALUE": "one"},
                  "Out": {"TYPE": "STRING", "VALUE": "out.1"}},
             {"Arguments": {"TYPE": "STRING", "VALUE": "two"}, "Out": expr('strcat("out.", ProcId)'),
              "Color": {"TYPE": "STRING", "VALUE": "blue"}}]
    ids, encoding = jp.schedd.submit(ad, 3, ROOT, proc_ads=procs)
    assert ids == ["1.0", "1.1", "1.2"] and encoding == "typed"
    assert jp.schedd.get_ad("1.2")["Color"] == "blue" and "Color" not in jp.schedd.get_ad("1.1")
    assert len(jp.sink.named("JobSubmitted")) == 3
    wait_for(lambda: _done(jp, ids), what="three procs to complete")
    for proc, word in enumerate(("zero", "one", "two")):
        assert (tmp_path / f"out.{proc}").read_text() == f"{word}\n"


def test_proc_ads_are_durable_with_the_cluster(tmp_path):
    state = str(tmp_path / "state")
    first = JobPath(state)
    held = job_ad(str(tmp_path), JobStatus={"TYPE": "INTEGER", "VALUE": "5"})
    first.schedd.submit(held, 2, ROOT, proc_ads=[{"Note": {"TYPE": "STRING", "VALUE": "a"}},
                                                 {"Note": {"TYPE": "STRING", "VALUE": "b"}}])
    first.stop()
    second = JobPath(state)
    try:
        assert [second.schedd.get_ad(f"1.{p}")["Note"] for p in (0, 1)] == ["a", "b"]
    finally:
        second.stop()


@pytest.mark.parametrize("count, procs, words", [
    (2, [{}], "ProcAds has 1 ads but Count is 2"),
    (1, ["Out=x"], r"ProcAds\[0\] must be a map"),
    (2, [{}, {"ProcId": {"TYPE": "INTEGER", "VALUE": "7"}}], r"ProcAds\[1\] may not set ProcId"),
    (1, [{"owner": {"TYPE": "STRING", "VALUE": "bob"}}], "may not set Owner"),
    (1, [{"JobStatus": {"TYPE": "INTEGER", "VALUE": "5"}}], "may not set JobStatus"),
    (1, [{"Iwd": {"TYPE": "STRING", "VALUE": "relative"}}], "Iwd must be an absolute path"),
    (1, [{"Cmd": {"TYPE": "INTEGER", "VALUE": "3"}}], "Cmd must be a non-empty string or an expression"),
    (1, [{"Out": {"TYPE": "EXPR", "VALUE": "1 +"}}], r"ProcAds\[0\]"),
])
def test_bad_proc_ads_are_refused_with_nothing_queued(jp, tmp_path, count, procs, words):
    with pytest.raises(ParameterInvalid, match=words):
        jp.schedd.submit(job_ad(str(tmp_path)), count, ROOT, proc_ads=procs)
    assert list(jp.schedd.jobs()) == []
    ids, _ = jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
    assert ids == ["1.0"]   # no cluster id was used up by the refused submits
