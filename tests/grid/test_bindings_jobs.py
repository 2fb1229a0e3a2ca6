"""The job path's schema classes through the ClassBinding seam, as the agent
calls them (arguments already validated against the schema)."""

from __future__ import annotations

import os

import pytest
from jobpath_helpers import ALICE, BOB, ROOT, JobPath, expr, job_ad, wait_for

from qmf_agent.errors import (
    Forbidden,
    JobNotFound,
    JobStateError,
    ParameterInvalid,
    UnknownMethod,
    UnknownObject,
)
from qmf_agent.grid.bindings_jobs import job_bindings
from qmf_agent.grid.jobs import JobStatus
from qmf_agent.schema import Schema


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"), slots=3)
    yield path
    path.stop()


@pytest.fixture
def b(jp):
    return job_bindings(jp.schedd, jp.startd, jp.negotiator, pool="testpool")


def _call(bindings, cls, key, method, caller, **args):
    """Call as the agent does: validate (defaults filled) against the schema first."""
    schema_method = Schema.load().get_class(cls).method(method)
    return bindings[cls].call(key, method, schema_method.validate(args), caller)


def test_seed_submit_and_find_job_by_custom_id(jp, b, tmp_path):
    ad = job_ad(str(tmp_path), cmd="/bin/sleep", Args="120", Owner="nobody")
    result = _call(b, "scheduler", "testhost", "Submit", ROOT, Ad=ad)
    assert result == {"Id": "1.0", "Ids": ["1.0"]}
    jobs = [b["job"].state(k) for k in b["job"].keys()]
    found = [j for j in jobs if j.values["CustomId"] == result["Id"]]
    assert len(found) == 1
    values = found[0].values
    assert values["JobStatus"] == 1 and values["Args"] == "120" and values["Owner"] == "nobody"
    assert values["schedulerRef"] == {"_object_name": "mrg.grid:scheduler:testhost"}
    assert found[0].create_ts == values["QDate"] * 1_000_000_000


def test_scheduler_object_and_statistics(jp, b, tmp_path):
    _call(b, "scheduler", "testhost", "Submit", ALICE, Ad=job_ad(str(tmp_path)), Count=3)
    assert b["scheduler"].keys() == ["testhost"]
    values = b["scheduler"].state("testhost").values
    assert values["Name"] == "testhost" and values["Pool"] == "testpool"
    assert values["TotalIdleJobs"] == 3 and values["JobsSubmitted"] == 3
    assert values["NumUsers"] == 1
    assert "CondorVersion" in values and "MonitorSelfAge" in values
    schema = Schema.load().get_class("scheduler")
    names = {p.name for p in schema.properties} | {s.name for s in schema.statistics}
    assert names <= set(values), names - set(values)


def test_job_methods(jp, b, tmp_path):
    (tmp_path / "o.txt").write_text("hello output")
    _call(b, "scheduler", "testhost", "SubmitJob", ALICE,
          Ad=job_ad(str(tmp_path), Out="o.txt"))
    _call(b, "job", "1.0", "Hold", ALICE, Reason="wait")
    assert jp.status("1.0") == JobStatus.HELD
    with pytest.raises(JobStateError):
        _call(b, "job", "1.0", "Hold", ALICE)
    with pytest.raises(Forbidden):
        _call(b, "job", "1.0", "Release", BOB)
    _call(b, "job", "1.0", "Release", ALICE)
    _call(b, "job", "1.0", "SetAttribute", ALICE, Name="Color", Value='"blue"')
    ad = _call(b, "job", "1.0", "GetAd", ALICE)["JobAd"]
    assert ad["Color"] == {"TYPE": "STRING", "VALUE": "blue"}
    assert ad["JobStatus"]["VALUE"] == "1"
    assert _call(b, "job", "1.0", "Fetch", ALICE, File="Out")["Data"] == "hello output"
    assert _call(b, "job", "1.0", "Fetch", ALICE, File="Out", Start=6, End=-1)["Data"] == "output"
    with pytest.raises(UnknownObject):
        _call(b, "job", "7.0", "Hold", ALICE)
    with pytest.raises(UnknownMethod):
        b["job"].call("1.0", "Explode", {}, ALICE)


def test_scheduler_id_methods_act_edit_query_history(jp, b, tmp_path):
    _call(b, "scheduler", "testhost", "Submit", ALICE, Ad=job_ad(str(tmp_path)), Count=3)
    _call(b, "scheduler", "testhost", "HoldJob", ALICE, Id="1.0", Reason="r")
    with pytest.raises(JobNotFound):
        _call(b, "scheduler", "testhost", "ReleaseJob", ALICE, Id="5.0")
    result = _call(b, "scheduler", "testhost", "Act", ALICE, Action="Hold",
                   Constraint="ProcId > 0")["Result"]
    assert result["TotalSuccess"] == 2 and result["TotalJobAds"] == 2
    count = _call(b, "scheduler", "testhost", "Edit", ALICE, Jobs=["1.0", "1.1"],
                  Name="Tag", Value='"x"')["Count"]
    assert count == 2
    jobs = _call(b, "scheduler", "testhost", "Query", ALICE, Constraint='Tag == "x"',
                 Projection=["ProcId"])["Jobs"]
    assert sorted(j["ProcId"]["VALUE"] for j in jobs) == ["0", "1"]
    _call(b, "scheduler", "testhost", "RemoveJob", ALICE, Id="1.2", Reason="gone")
    hist = _call(b, "scheduler", "testhost", "History", ALICE)["Jobs"]
    assert hist[0]["RemoveReason"] == {"TYPE": "STRING", "VALUE": "gone"}
    with pytest.raises(ParameterInvalid):
        _call(b, "scheduler", "testhost", "Act", ALICE, Action="Hold")
    assert _call(b, "scheduler", "testhost", "GetJobAd", ALICE, Id="1.0")["JobAd"]["Tag"]


def test_analyze_method(jp, b, tmp_path):
    _call(b, "scheduler", "testhost", "Submit", ROOT,
          Ad=job_ad(str(tmp_path), Requirements=expr("TARGET.Cpus > 64")))
    result = _call(b, "scheduler", "testhost", "Analyze", ROOT, Id="1.0")["Result"]
    assert result["Matching"] == 0
    assert result["Clauses"] == [{"Clause": "TARGET.Cpus > 64", "MatchingSlots": 0}]
    with pytest.raises(UnknownObject):
        _call(b, "scheduler", "testhost", "Analyze", ROOT, Id="3.0")


def test_submission_and_submitter_objects(jp, b, tmp_path):
    jp.start()
    _call(b, "scheduler", "testhost", "Submit", ALICE,
          Ad=job_ad(str(tmp_path), Submission="run-1", cmd="/bin/sleep", Args="60"), Count=2)
    _call(b, "scheduler", "testhost", "Submit", ALICE,
          Ad=job_ad(str(tmp_path), Submission="run-2"), Count=1)
    wait_for(lambda: jp.status("2.0") == JobStatus.COMPLETED)
    wait_for(lambda: all(j.status == JobStatus.RUNNING for j in jp.schedd.jobs()))
    assert b["submission"].keys() == ["alice#run-1", "alice#run-2"]
    run1 = b["submission"].state("alice#run-1").values
    assert run1["Running"] == 2 and run1["Owner"] == "alice" and run1["Name"] == "run-1"
    run2 = b["submission"].state("alice#run-2").values
    assert run2["Completed"] == 1 and run2["Idle"] == 0
    summaries = b["submission"].call("alice#run-2", "GetJobSummaries", {}, ALICE)["Jobs"]
    assert summaries[0]["Id"] == "2.0" and summaries[0]["JobStatus"] == 4
    assert b["submitter"].keys() == ["alice"]
    sub = b["submitter"].state("alice").values
    assert sub["RunningJobs"] == 2 and sub["Name"] == "alice@testhost"
    assert b["submission"].state("bob#none") is None


def test_slot_objects(jp, b):
    assert b["slot"].keys() == ["slot1@testhost", "slot2@testhost", "slot3@testhost"]
    values = b["slot"].state("slot1@testhost").values
    assert values["Arch"] == "X86_64" and values["OpSys"] == "LINUX"
    assert values["Memory"] == 1024 and values["Cpus"] == 1 and values["SlotID"] == 1
    assert values["State"] == "Unclaimed" and values["Activity"] == "Idle"
    assert values["Start"] == "true" and values["Requirements"] == "START"
    assert b["slot"].state("slot9@testhost") is None


def test_negotiator_methods_need_admin(jp, b):
    with pytest.raises(Forbidden):
        _call(b, "negotiator", "testhost", "SetLimit", ALICE, Name="lic", Max=2.0)
    _call(b, "negotiator", "testhost", "SetLimit", ROOT, Name="lic", Max=2.0)
    assert _call(b, "negotiator", "testhost", "GetLimits", ALICE)["Limits"] == {
        "lic": {"Max": 2.0, "Current": 0.0}}
    _call(b, "negotiator", "testhost", "SetPriorityFactor", ROOT, Name="alice", Factor=10.0)
    stats = _call(b, "negotiator", "testhost", "GetStats", ALICE, Name="alice")["Ad"]
    assert stats["PriorityFactor"] == 10.0
    values = b["negotiator"].state("testhost").values
    assert {"Matches", "Rejections", "Duration", "NumIdleJobs", "LastCycleEnd"} <= set(values)
    _call(b, "negotiator", "testhost", "Reconfig", ROOT)


def test_spool_run_in_spool_dir_and_retrieve(jp, b, tmp_path):
    import base64
    jp.start()
    script = tmp_path / "upper.sh"
    script.write_text("#!/bin/sh\ntr a-z A-Z\n")
    ad = job_ad(str(tmp_path), cmd=str(script), In="input.txt", Out="result.out",
                JobStatus=5, HoldReasonCode=16, HoldReason="Spooling input data files")
    _call(b, "scheduler", "testhost", "Submit", ALICE, Ad=ad)
    assert jp.schedd.get_ad("1.0")["Spooled"] is True

    def spool(name, data, caller=ALICE, offset=0, final=True):
        return _call(b, "scheduler", "testhost", "SpoolFile", caller, Id="1.0", Name=name,
                     Offset=offset, Data=base64.b64encode(data).decode(), Final=final)

    assert spool("upper.sh", script.read_bytes())["Size"] == len(script.read_bytes())
    assert spool("input.txt", b"spooled ", final=False)["Size"] == 8
    assert spool("input.txt", b"input\n", offset=8)["Size"] == 14
    with pytest.raises(Forbidden):
        spool("input.txt", b"x", caller=BOB)
    with pytest.raises(ParameterInvalid, match="plain file name"):
        spool("../escape", b"x")
    _call(b, "scheduler", "testhost", "ReleaseJob", ALICE, Id="1.0")
    wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
    assert not (tmp_path / "result.out").exists()      # it ran in the spool directory
    out = _call(b, "scheduler", "testhost", "RetrieveFile", ALICE, Id="1.0", Name="result.out")
    assert base64.b64decode(out["Data"]) == b"SPOOLED INPUT\n" and out["Final"] is True
    with pytest.raises(Forbidden):
        _call(b, "scheduler", "testhost", "RetrieveFile", BOB, Id="1.0", Name="result.out")
    with pytest.raises(JobNotFound):
        _call(b, "scheduler", "testhost", "RetrieveFile", ALICE, Id="9.0", Name="result.out")
    with pytest.raises(JobNotFound):          # finished: it left the queue
        spool("late.txt", b"x")
    held = job_ad(str(tmp_path), JobStatus=5, HoldReasonCode=16, cmd="/bin/sleep", Args="60")
    _call(b, "scheduler", "testhost", "Submit", ALICE, Ad=held)
    _call(b, "scheduler", "testhost", "ReleaseJob", ALICE, Id="2.0")
    with pytest.raises(JobStateError):        # released: no more input files
        _call(b, "scheduler", "testhost", "SpoolFile", ALICE, Id="2.0", Name="x", Data="eA==")
    spool_dir = jp.schedd.spooled.store.job_dir("1.0")
    assert os.path.isdir(spool_dir)
    jp.schedd.config.history_limit = 0
    assert jp.schedd.prune_history() == 1          # 1.0 goes, with its spool files
    assert not os.path.exists(spool_dir)
    with pytest.raises(JobNotFound):
        _call(b, "scheduler", "testhost", "RetrieveFile", ALICE, Id="1.0", Name="result.out")
    _call(b, "scheduler", "testhost", "Submit", ALICE, Ad=job_ad(str(tmp_path)))
    with pytest.raises(ParameterInvalid, match="spool"):
        _call(b, "scheduler", "testhost", "SpoolFile", ALICE, Id="3.0", Name="x",
              Data="eA==")
