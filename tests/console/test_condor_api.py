"""The HTCondor-style API (import console as htcondor) against a real agent."""

from __future__ import annotations

import os

import pytest

import console as htcondor
from console import Submit, classad
from qmf_agent.errors import JobNotFound, QmfError, RequestTimeout


@pytest.fixture
def schedd(agent, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # jobs get Iwd = cwd, as with HTCondor's bindings
    return htcondor.Schedd(agent.url)


def test_seed_submit_fills_the_missing_attributes_and_runs(schedd, tmp_path):
    cluster = schedd.submit(classad.ClassAd({
        "Cmd": "/bin/sh", "Arguments": "-c 'echo Hello world'", "Out": "test.out", "Err": "test.err"}))
    assert isinstance(cluster, int) and cluster > 0
    (ad,) = schedd.query(f"ClusterID =?= {cluster}") or schedd.history(f"ClusterId == {cluster}")
    assert ad["Iwd"] == str(tmp_path)
    assert ad["JobUniverse"] == 5
    assert ad.eval("Requirements") is True
    assert isinstance(ad["Owner"], str) and ad["Owner"]
    schedd.wait(cluster, timeout=30)
    assert (tmp_path / "test.out").read_text() == "Hello world\n"


# jobs that must stay in the queue while a test looks at them cannot match a slot
NEVER_RUNS = classad.ExprTree("false")


def test_query_projection_limit_and_bad_constraint(schedd):
    cluster = schedd.submit(classad.ClassAd({"Cmd": "/bin/sleep", "Args": "30",
                                             "Requirements": NEVER_RUNS}), count=3)
    ads = schedd.query(f"ClusterId == {cluster}", ["ClusterId", "ProcId"])
    assert sorted(a["ProcId"] for a in ads) == [0, 1, 2]
    assert all("Cmd" not in a for a in ads)
    assert len(schedd.query(f"ClusterId == {cluster}", limit=2)) == 2
    with pytest.raises(ValueError, match="bad constraint"):
        schedd.query("ClusterId ==")
    schedd.act(htcondor.JobAction.Remove, cluster)


def test_edit_act_and_totals(schedd):
    cluster = schedd.submit(classad.ClassAd({"Cmd": "/bin/sleep", "Args": "60", "Requirements": NEVER_RUNS}))
    assert schedd.edit(f"ClusterId =?= {cluster}", "foo", '"bar"') == 1
    assert schedd.query(f"ClusterId == {cluster}", ["foo"])[0]["foo"] == "bar"
    schedd.edit(f"ClusterId =?= {cluster}", "foo", "42")
    assert schedd.query(f"ClusterId == {cluster}", ["foo"])[0]["foo"] == 42
    totals = schedd.act(htcondor.JobAction.Hold, [f"{cluster}.0"], "testing")
    assert isinstance(totals, classad.ClassAd)
    assert totals["TotalSuccess"] == 1 and totals["TotalJobAds"] == 1
    again = schedd.act(htcondor.JobAction.Hold, [f"{cluster}.0"])
    assert again["TotalAlreadyDone"] == 1 and again["TotalSuccess"] == 0
    missing = schedd.act(htcondor.JobAction.Hold, ["99999.0"])
    assert missing["TotalNotFound"] == 1
    assert schedd.act(htcondor.JobAction.Release, f"{cluster}")["TotalSuccess"] == 1
    assert schedd.act(htcondor.JobAction.Remove, f"{cluster}.0")["TotalSuccess"] == 1
    with pytest.raises(ValueError, match="bad attribute name"):
        schedd.edit(cluster, "not an attr", "1")
    with pytest.raises(ValueError, match="bad value"):
        schedd.edit(cluster, "foo", "1 +")
    with pytest.raises(ValueError, match="unknown job action"):
        schedd.act("Explode", cluster)
    with pytest.raises(ValueError, match="bad job id"):
        schedd.act(htcondor.JobAction.Hold, ["x.y"])


def test_submit_description_one_cluster_many_jobs(schedd, tmp_path):
    sub = Submit("executable = /bin/sh\narguments = \"-c 'echo job $(Process) of $(Cluster)'\"\n"
                 "output = out.$(Process)\nerror = err.$(Cluster).$(Process)\nqueue 3\n")
    results: list[classad.ClassAd] = []
    cluster = schedd.submit(sub, ad_results=results)
    # the ads come from the submit itself, with the literals condor_submit writes:
    # the jobs may all have finished by now
    assert [(a["ClusterId"], a["ProcId"]) for a in results] == [(cluster, p) for p in range(3)]
    assert [a["Out"] for a in results] == ["out.0", "out.1", "out.2"]
    assert results[2]["Err"] == f"err.{cluster}.2"
    assert results[1]["Arguments"] == f"-c 'echo job 1 of {cluster}'"
    schedd.wait(cluster, timeout=30)
    for proc in range(3):
        assert (tmp_path / f"out.{proc}").read_text() == f"job {proc} of {cluster}\n"
        assert (tmp_path / f"err.{cluster}.{proc}").exists()
    # the queue has each job's own values; $(Cluster) ones as expressions over ClusterId
    ads = {a["ProcId"]: a for a in schedd.history(f"ClusterId == {cluster}")}
    assert ads[1]["Out"] == "out.1" and ads[1].eval("Err") == f"err.{cluster}.1"


def test_seed_err_expression_gives_a_file_per_proc(schedd, tmp_path):
    # HTCondor's tutorial: instead of error = test.err.$(Process), Err = strcat("test.err", ProcID)
    cluster = schedd.submit(classad.ClassAd({
        "Cmd": "/bin/sh", "Arguments": "-c 'echo failing >&2'",
        "Err": classad.ExprTree('strcat("test.err", ProcID)')}), count=2)
    schedd.wait(cluster, timeout=30)
    assert (tmp_path / "test.err0").read_text() == "failing\n"
    assert (tmp_path / "test.err1").read_text() == "failing\n"


def test_submit_with_proc_ads_on_the_wire(schedd, tmp_path):
    ad = htcondor._schedd.complete_job_ad(classad.ClassAd({"Cmd": "/bin/echo", "Requirements": NEVER_RUNS}))
    out = schedd._invoke("Submit", Ad=ad, ProcAds=[classad.ClassAd(), classad.ClassAd({"Args": "two"})])
    cluster = int(out["Id"].split(".")[0])
    assert out["Ids"] == [f"{cluster}.0", f"{cluster}.1"]   # Count defaults to len(ProcAds)
    ads = {a["ProcId"]: a for a in schedd.query(f"ClusterId == {cluster}", ["ProcId", "Args"])}
    assert "Args" not in ads[0] and ads[1]["Args"] == "two"
    with pytest.raises(QmfError, match="ProcAds has 1 ads but Count is 3"):
        schedd._invoke("Submit", Ad=ad, Count=3, ProcAds=[classad.ClassAd()])
    with pytest.raises(QmfError, match="may not set ClusterId"):
        schedd._invoke("Submit", Ad=ad, ProcAds=[classad.ClassAd({"ClusterId": 5})])
    schedd.act(htcondor.JobAction.Remove, cluster)


def test_submit_items_become_per_job_values(schedd, tmp_path):
    sub = Submit("executable = /bin/echo\narguments = $(word)\noutput = $(word).txt\n"
                 "queue word in (alpha, beta)\n")
    cluster = schedd.submit(sub)
    schedd.wait(cluster, timeout=30)
    assert (tmp_path / "alpha.txt").read_text() == "alpha\n"
    assert (tmp_path / "beta.txt").read_text() == "beta\n"


def test_history_and_watch(schedd):
    cluster = schedd.submit(classad.ClassAd({"Cmd": "/bin/sleep", "Args": "1"}))
    events = list(schedd.watch(f"{cluster}.0", timeout=30))
    assert events and events[-1].name == "JobCompleted"
    assert all(e.Id == f"{cluster}.0" for e in events)
    # a job that finished before anyone watched: its end is replayed from the history
    (replayed,) = list(schedd.watch(f"{cluster}.0", timeout=5))
    assert replayed.name == "JobCompleted" and replayed.Replayed is True and replayed.ExitCode == 0
    (ad,) = schedd.history(f"ClusterId == {cluster}", ["ClusterId", "JobStatus", "ExitCode"], 5)
    assert ad["JobStatus"] == 4 and ad["ExitCode"] == 0
    assert len(schedd.history("true", ["ClusterId"], limit=1)) == 1
    assert len(schedd.history("true", ["ClusterId"], match=1)) == 1


def test_submit_errors(schedd):
    with pytest.raises(QmfError, match="JobUniverse"):
        schedd.submit(classad.ClassAd({"Cmd": "/bin/true", "JobUniverse": 99}))
    with pytest.raises(ValueError, match="count must be a positive integer"):
        schedd.submit(classad.ClassAd({"Cmd": "/bin/true"}), count=0)
    with pytest.raises(TypeError, match="takes a ClassAd or a Submit"):
        schedd.submit("executable = /bin/true")  # type: ignore[arg-type]


def test_analyze_names_the_failing_clause(agent, schedd):
    cluster = schedd.submit(classad.ClassAd({
        "Cmd": "/bin/true", "Requirements": classad.ExprTree("TARGET.Memory > 100000000")}))
    result = schedd.analyze(f"{cluster}.0")
    assert result["Matching"] == 0 and result["Slots"] == agent.slots
    with pytest.raises(QmfError):
        schedd.analyze("99999.0")
    schedd.act(htcondor.JobAction.Remove, cluster)


def test_spool_and_retrieve(schedd, tmp_path):
    (tmp_path / "input.txt").write_text("spooled input\n")
    ad_results: list[classad.ClassAd] = []
    cluster = schedd.submit(classad.ClassAd({
        "Cmd": "/bin/cat", "In": "input.txt", "Out": "spool.out"}), 1, True, ad_results)
    assert ad_results[0]["JobStatus"] == 5 and ad_results[0]["HoldReasonCode"] == 16
    schedd.spool(ad_results)
    schedd.wait(cluster, timeout=30)
    if (tmp_path / "spool.out").exists():
        os.remove(tmp_path / "spool.out")
    schedd.retrieve(f"ClusterId == {cluster}")
    assert (tmp_path / "spool.out").read_text() == "spooled input\n"


def test_collector_locate_advertise_query(agent):
    coll = htcondor.Collector(agent.url)
    schedd_ad = coll.locate(htcondor.DaemonTypes.Schedd)
    assert schedd_ad["MyAddress"]
    assert [a["Name"] for a in coll.locateAll(htcondor.DaemonTypes.Schedd)] == [schedd_ad["Name"]]
    coll.advertise([classad.ClassAd({"MyType": "Demo", "foo": 1, "Name": "DemoAd"})])
    (demo,) = coll.query(htcondor.AdTypes.Any, 'MyType =?= "Demo"')
    assert demo["foo"] == 1 and demo["Name"] == "DemoAd"
    slots = coll.query(htcondor.AdTypes.Startd, "true", ["Name", "Cpus", "Memory"])
    assert len(slots) == agent.slots and all("Cpus" in s for s in slots)
    with pytest.raises(ValueError, match="unknown ad type"):
        coll.query("Martian")
    with pytest.raises(ValueError, match="bad constraint"):
        coll.query(htcondor.AdTypes.Any, "((")
    with pytest.raises(QmfError):
        coll.locate(htcondor.DaemonTypes.Schedd, "no-such-schedd")
    # a Schedd built from the location ad reaches the same queue
    assert isinstance(htcondor.Schedd(schedd_ad).query(), list)


def test_param_send_command_and_secman(agent, monkeypatch):
    monkeypatch.setenv("QMF_URL", agent.url)
    htcondor.reload_config()
    assert htcondor.param["NUM_SLOTS"] == "2"
    assert "HEARTBEAT_INTERVAL" in list(htcondor.param)
    with pytest.raises(KeyError):
        htcondor.param["NO_SUCH_KNOB_AT_ALL"]
    coll = htcondor.Collector(agent.url)
    htcondor.send_command(coll.locate(htcondor.DaemonTypes.Master), htcondor.DaemonCommands.Reconfig)
    with pytest.raises(ValueError, match="unknown daemon command"):
        htcondor.send_command(None, 12345)
    with pytest.raises(ValueError, match="needs a target"):
        htcondor.send_command(None, htcondor.DaemonCommands.DaemonOff)
    from console._connection import session_for

    before = session_for(agent.url)
    htcondor.SecMan().invalidateAllSessions()
    assert session_for(agent.url) is not before
    assert isinstance(htcondor.Schedd(agent.url).query(), list)


def test_wait_returns_the_finished_ads_or_times_out(schedd):
    cluster = schedd.submit(classad.ClassAd({"Cmd": "/bin/true"}), count=2)
    ads = schedd.wait(cluster, timeout=30)
    assert sorted(a["ProcId"] for a in ads) == [0, 1] and {a["JobStatus"] for a in ads} == {4}
    slow = schedd.submit(classad.ClassAd({"Cmd": "/bin/sleep", "Args": "60", "Requirements": NEVER_RUNS}))
    with pytest.raises(RequestTimeout, match="did not finish within 1s"):
        schedd.wait(f"{slow}.0", timeout=1, poll=0.2)
    schedd.act(htcondor.JobAction.Remove, slow)


def test_unknown_job_errors(schedd):
    with pytest.raises(JobNotFound):
        schedd._invoke("GetJobAd", Id="99999.0")
    assert schedd.edit("99999.0", "foo", "1") == 0


def test_enums_have_htcondor_values():
    import htcondor2

    for ours, theirs in ((htcondor.AdTypes, htcondor2.AdType), (htcondor.DaemonTypes, htcondor2.DaemonType),
                         (htcondor.JobAction, htcondor2.JobAction), (htcondor.DaemonCommands, htcondor2.DaemonCommand),
                         (htcondor.JobStatus, htcondor2.JobStatus)):
        for member in ours:
            assert theirs[member.name].value == member.value, (ours, member)
    assert htcondor.version().startswith("$CondorVersion: ")
