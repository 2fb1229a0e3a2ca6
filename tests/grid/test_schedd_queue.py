"""The schedd's queue: submit, defaults, validation, state rules, authorization,
queries and durability (no processes run here: the negotiator is not started)."""

from __future__ import annotations

import os

import pytest
from jobpath_helpers import ALICE, ANON, BOB, ROOT, JobPath, expr, job_ad

from qmf_agent.binding import Caller
from qmf_agent.errors import (
    Forbidden,
    JobNotFound,
    JobStateError,
    ParameterInvalid,
    StoreError,
)
from qmf_agent.grid.jobs import Expr, JobStatus


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"))
    yield path
    path.stop()


def test_submit_typed_fills_htcondor_defaults(jp, tmp_path):
    ids, encoding = jp.schedd.submit(job_ad(str(tmp_path), Args="120"), 1, ROOT)
    assert ids == ["1.0"] and encoding == "typed"
    ad = jp.schedd.get_ad("1.0")
    assert ad["ClusterId"] == 1 and ad["ProcId"] == 0
    assert ad["JobStatus"] == JobStatus.IDLE
    assert ad["CustomId"] == "1.0"
    assert ad["GlobalJobId"] == f"testhost#1.0#{ad['QDate']}"
    assert ad["JobPrio"] == 0 and ad["MaxHosts"] == 1 and ad["NumJobStarts"] == 0
    assert ad["RemoteUserCpu"] == 0.0 and ad["ImageSize"] == 0
    assert ad["In"] == ad["Out"] == ad["Err"] == "/dev/null"
    assert ad["EnteredCurrentStatus"] == ad["QDate"]
    assert ad["Args"] == "120"
    assert ad["Requirements"] is True


def test_submit_plain_and_descriptor_encodings(jp, tmp_path):
    plain = {"Cmd": "/bin/true", "Requirements": True, "JobUniverse": 5,
             "Iwd": str(tmp_path), "Owner": "root"}
    ids, encoding = jp.schedd.submit(plain, 1, ROOT)
    assert encoding == "plain"
    desc = dict(plain, Requirements="TARGET.Memory > 10",
                **{"!!descriptors": {"Requirements": "com.redhat.grid.Expression"}})
    ids2, encoding2 = jp.schedd.submit(desc, 1, ROOT)
    assert encoding2 == "descriptor"
    req = jp.schedd.get_ad(ids2[0])["Requirements"]
    assert isinstance(req, Expr) and "Memory" in req.text


def test_count_makes_procs_sharing_one_cluster_ad(jp, tmp_path):
    ids, _ = jp.schedd.submit(job_ad(str(tmp_path)), 5, ROOT)
    assert ids == [f"1.{p}" for p in range(5)]
    cluster = jp.schedd.clusters[1]
    assert len(cluster.procs) == 5
    assert all(job.own is None for job in cluster.procs.values())
    assert jp.schedd.get_ad("1.4")["CustomId"] == "1.4"
    ids2, _ = jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
    assert ids2 == ["2.0"]


@pytest.mark.parametrize("missing", ["Cmd", "Requirements", "JobUniverse", "Iwd", "Owner"])
def test_missing_required_attribute_is_named(jp, tmp_path, missing):
    ad = job_ad(str(tmp_path))
    del ad[missing]
    # an authenticated caller's identity supplies Owner; an anonymous one cannot
    with pytest.raises(ParameterInvalid, match=missing):
        jp.schedd.submit(ad, 1, ANON if missing == "Owner" else ROOT)
    assert jp.schedd.clusters == {}


@pytest.mark.parametrize("name,value,needle", [
    ("JobUniverse", {"TYPE": "STRING", "VALUE": "vanilla"}, "JobUniverse"),
    ("JobUniverse", {"TYPE": "INTEGER", "VALUE": "42"}, "JobUniverse"),
    ("Iwd", {"TYPE": "STRING", "VALUE": "relative/dir"}, "absolute"),
    ("Cmd", {"TYPE": "INTEGER", "VALUE": "3"}, "Cmd"),
    ("Requirements", {"TYPE": "INTEGER", "VALUE": "1"}, "Requirements"),
])
def test_malformed_required_attribute(jp, tmp_path, name, value, needle):
    ad = job_ad(str(tmp_path))
    ad[name] = value
    with pytest.raises(ParameterInvalid, match=needle):
        jp.schedd.submit(ad, 1, ROOT)


def test_bad_wire_value_and_count(jp, tmp_path):
    ad = job_ad(str(tmp_path))
    ad["JobPrio"] = {"TYPE": "INTEGER", "VALUE": "ten"}
    with pytest.raises(ParameterInvalid, match="Ad"):
        jp.schedd.submit(ad, 1, ROOT)
    with pytest.raises(ParameterInvalid, match="Count"):
        jp.schedd.submit(job_ad(str(tmp_path)), 0, ROOT)
    with pytest.raises(ParameterInvalid, match="map"):
        jp.schedd.submit(["not", "a", "map"], 1, ROOT)  # type: ignore[arg-type]


def test_owner_comes_from_identity(jp, tmp_path):
    ids, _ = jp.schedd.submit(job_ad(str(tmp_path)), 1, ALICE)
    assert jp.schedd.get_ad(ids[0])["Owner"] == "alice"


def test_anonymous_submits_only_as_anonymous_owner(jp, tmp_path):
    with pytest.raises(Forbidden, match="nobody"):
        jp.schedd.submit(job_ad(str(tmp_path)), 1, ANON)
    ad = job_ad(str(tmp_path), Owner="nobody")
    ids, _ = jp.schedd.submit(ad, 1, ANON)
    assert jp.schedd.get_ad(ids[0])["Owner"] == "nobody"
    jp.schedd.act_one("hold", ids[0], "mine", ANON)
    assert jp.schedd.job(ids[0]).status == JobStatus.HELD


def test_retried_submit_with_request_id_is_not_queued_twice(jp, tmp_path):
    caller = Caller("alice", request_id="req-42")
    first, _ = jp.schedd.submit(job_ad(str(tmp_path)), 3, caller)
    again, _ = jp.schedd.submit(job_ad(str(tmp_path)), 3, caller)
    assert first == again
    assert len(jp.schedd.clusters) == 1


def test_state_rules_of_single_job_actions(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
    with pytest.raises(JobStateError, match="released"):
        jp.schedd.act_one("release", "1.0", "", ROOT)
    jp.schedd.act_one("hold", "1.0", "testing", ROOT)
    ad = jp.schedd.get_ad("1.0")
    assert ad["JobStatus"] == JobStatus.HELD
    assert ad["HoldReason"] == "testing" and ad["HoldReasonCode"] == 1
    with pytest.raises(JobStateError, match="already"):
        jp.schedd.act_one("hold", "1.0", "", ROOT)
    with pytest.raises(JobStateError):
        jp.schedd.act_one("suspend", "1.0", "", ROOT)
    jp.schedd.act_one("release", "1.0", "ok now", ROOT)
    assert jp.schedd.get_ad("1.0")["ReleaseReason"] == "ok now"
    jp.schedd.act_one("remove", "1.0", "bye", ROOT)
    assert jp.schedd.job("1.0") is None
    hist = jp.schedd.history()
    assert hist[0]["JobStatus"] == JobStatus.REMOVED and hist[0]["RemoveReason"] == "bye"
    with pytest.raises(JobNotFound):
        jp.schedd.act_one("remove", "1.0", "", ROOT)
    with pytest.raises(ParameterInvalid, match="Cluster.Proc"):
        jp.schedd.act_one("hold", "one", "", ROOT)
    names = [n for n, _ in jp.sink.events]
    assert "JobHeld" in names and "JobReleased" in names and "JobRemoved" in names
    changed = jp.sink.named("JobStatusChanged")
    assert [(c["From"], c["To"]) for c in changed] == [(1, 5), (5, 1), (1, 3)]
    assert all(c["Owner"] == "root" and c["Id"] == "1.0" for c in changed)
    assert [k for c, k, _ in jp.sink.deletions if c == "job"] == ["1.0"]


def test_act_totals_follow_htcondor(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path)), 3, ALICE)
    jp.schedd.submit(job_ad(str(tmp_path)), 1, BOB)
    jp.schedd.act_one("hold", "1.1", "", ALICE)
    totals = jp.schedd.act("Hold", ALICE, ids=["1.0", "1.1", "1.2", "2.0", "9.0"])
    assert totals == {"TotalSuccess": 2, "TotalNotFound": 1, "TotalPermissionDenied": 1,
                      "TotalAlreadyDone": 1, "TotalBadStatus": 0, "TotalError": 0,
                      "TotalJobAds": 5, "TotalChangedAds": 2}
    totals = jp.schedd.act("release", ROOT, constraint='Owner == "alice"')
    assert totals["TotalSuccess"] == 3
    totals = jp.schedd.act("RELEASE", ROOT, constraint="ClusterId == 1")
    assert totals["TotalBadStatus"] == 3 and totals["TotalSuccess"] == 0
    with pytest.raises(ParameterInvalid, match="Action"):
        jp.schedd.act("explode", ROOT, ids=["1.0"])
    with pytest.raises(ParameterInvalid, match="Constraint"):
        jp.schedd.act("hold", ROOT, constraint="Owner ==")
    with pytest.raises(ParameterInvalid):
        jp.schedd.act("hold", ROOT)


def test_non_admin_acts_only_on_own_jobs(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path)), 1, ALICE)
    with pytest.raises(Forbidden):
        jp.schedd.act_one("hold", "1.0", "", BOB)
    with pytest.raises(Forbidden):
        jp.schedd.set_attribute("1.0", "JobPrio", "5", BOB)
    with pytest.raises(Forbidden):
        jp.schedd.act_one("remove", "1.0", "", ANON)
    jp.schedd.act_one("hold", "1.0", "", ALICE)


def test_set_attribute_and_edit(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path)), 2, ALICE)
    jp.schedd.set_attribute("1.0", "jobprio", "10", ALICE)
    assert jp.schedd.get_ad("1.0")["JobPrio"] == 10
    assert jp.schedd.get_ad("1.1")["JobPrio"] == 0
    jp.schedd.set_attribute("1.1", "Foo", '"bar" + 1', ALICE)
    assert jp.schedd.get_ad("1.1")["Foo"] == Expr('"bar" + 1')
    for name in ("ClusterId", "ProcId", "JobStatus", "Owner"):
        with pytest.raises(ParameterInvalid, match=name):
            jp.schedd.set_attribute("1.0", name, "1", ALICE)
    with pytest.raises(ParameterInvalid, match="expression"):
        jp.schedd.set_attribute("1.0", "X", "1 +", ALICE)
    with pytest.raises(ParameterInvalid, match="Name"):
        jp.schedd.set_attribute("1.0", "bad name", "1", ALICE)
    assert jp.schedd.edit(ALICE, "Color", '"red"', constraint="ProcId >= 0") == 2
    assert {a["Color"] for a in jp.schedd.query(projection=["color"])} == {"red"}
    changed = jp.sink.named("JobAttributeChanged")
    assert changed[0] == {"Id": "1.0", "Owner": "alice", "Name": "JobPrio", "Value": "10"}


def test_query_constraint_projection_limit(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path)), 4, ROOT)
    jp.schedd.act_one("hold", "1.2", "", ROOT)
    held = jp.schedd.query("JobStatus == 5", ["ProcId", "HoldReason"])
    assert held == [{"ProcId": 2, "HoldReason": "via QMF by root"}]
    assert len(jp.schedd.query(limit=3)) == 3
    assert len(jp.schedd.query("true")) == 4
    with pytest.raises(ParameterInvalid):
        jp.schedd.query("((")


def test_fetch_reads_byte_ranges(jp, tmp_path):
    out = tmp_path / "job.out"
    out.write_bytes(b"0123456789")
    jp.schedd.submit(job_ad(str(tmp_path), Out="job.out"), 1, ROOT)
    assert jp.schedd.fetch("1.0", "Out", 0, -1, ROOT) == b"0123456789"
    assert jp.schedd.fetch("1.0", "out", 2, 5, ROOT) == b"234"
    assert jp.schedd.fetch("1.0", "Out", -3, -1, ROOT) == b"789"
    with pytest.raises(ParameterInvalid, match="no Err"):
        jp.schedd.fetch("1.0", "Err", 0, -1, ROOT)
    with pytest.raises(ParameterInvalid, match="File"):
        jp.schedd.fetch("1.0", "Secrets", 0, -1, ROOT)
    with pytest.raises(Forbidden):
        jp.schedd.fetch("1.0", "Out", 0, -1, BOB)


def test_queue_survives_restart_and_epoch_grows(tmp_path):
    state = str(tmp_path / "state")
    first = JobPath(state)
    first.schedd.submit(job_ad(str(tmp_path)), 3, ROOT)
    first.schedd.act_one("hold", "1.1", "keep me held", ROOT)
    first.schedd.set_attribute("1.2", "Note", '"hi"', ROOT)
    epoch = first.schedd.epoch
    first.stop()
    second = JobPath(state)
    try:
        assert second.schedd.epoch == epoch + 1
        assert second.schedd.job("1.1").status == JobStatus.HELD
        assert second.schedd.get_ad("1.1")["HoldReason"] == "keep me held"
        assert second.schedd.get_ad("1.2")["Note"] == "hi"
        assert second.schedd.statistics()["TotalIdleJobs"] == 2
        ids, _ = second.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
        assert ids == ["2.0"]
    finally:
        second.stop()


def test_running_jobs_go_back_to_idle_on_recovery(tmp_path):
    state = str(tmp_path / "state")
    first = JobPath(state)
    first.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sleep", Args="30"), 1, ROOT)
    job = first.schedd.job("1.0")
    # mark it running durably without a process, as a crash would leave it
    with first.store.transaction() as txn:
        txn.put_procs([(1, 0, {"JobStatus": 2, "NumJobStarts": 1})])
    first.store.close()
    del job
    second = JobPath(state)
    try:
        ad = second.schedd.get_ad("1.0")
        assert ad["JobStatus"] == JobStatus.IDLE
        assert ad["NumJobStarts"] == 1
        assert ad["LastJobStatus"] == JobStatus.RUNNING
    finally:
        second.stop()


def test_store_error_leaves_queue_unchanged(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
    jp.store._conn.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError, match="queue"):
        jp.schedd.act_one("hold", "1.0", "", ROOT)
    with pytest.raises(StoreError):
        jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
    jp.store._conn.execute("PRAGMA query_only = OFF")
    assert jp.schedd.job("1.0").status == JobStatus.IDLE
    assert 2 not in jp.schedd.clusters
    ids, _ = jp.schedd.submit(job_ad(str(tmp_path)), 1, ROOT)
    assert ids == ["2.0"]


def test_unopenable_store_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from qmf_agent.grid.store import Store
    with pytest.raises(StoreError, match="cannot open"):
        Store.open(str(blocker / "state"))
    assert os.path.isfile(blocker)


def test_statistics_and_objects(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path), Submission="batch-a"), 2, ALICE)
    jp.schedd.act_one("hold", "1.0", "", ALICE)
    stats = jp.schedd.statistics()
    assert stats["TotalJobAds"] == 2 and stats["TotalIdleJobs"] == 1
    assert stats["TotalHeldJobs"] == 1 and stats["NumUsers"] == 1
    assert stats["JobsSubmitted"] == 2
    by_sub = jp.schedd.counts.by_submission[("alice", "batch-a")]
    assert by_sub[JobStatus.IDLE] == 1 and by_sub[JobStatus.HELD] == 1


def test_requirements_expression_kept_for_matching(jp, tmp_path):
    jp.schedd.submit(job_ad(str(tmp_path), Requirements=expr("TARGET.Memory >= 2048")), 1, ROOT)
    assert jp.schedd.get_ad("1.0")["Requirements"] == Expr("TARGET.Memory >= 2048")


def test_recovery_finishes_removals_and_remembers_request_ids(tmp_path):
    state = str(tmp_path / "state")
    first = JobPath(state)
    caller = Caller("alice", request_id="submit-7")
    ids, _ = first.schedd.submit(job_ad(str(tmp_path)), 2, caller)
    # job 1.1 was being removed while it ran when the agent died
    with first.store.transaction() as txn:
        txn.put_procs([(1, 1, {"JobStatus": 3, "RemoveReason": "bye"})])
    first.store.close()
    second = JobPath(state)
    try:
        assert second.schedd.job("1.1") is None
        assert second.history_ad("1.1")["RemoveReason"] == "bye"
        assert second.schedd.job("1.0").status == JobStatus.IDLE
        again, _ = second.schedd.submit(job_ad(str(tmp_path)), 2, caller)
        assert again == ids and len(second.schedd.clusters) == 1
    finally:
        second.stop()
