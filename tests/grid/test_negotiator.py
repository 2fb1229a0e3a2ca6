"""Matchmaking: two-way Requirements, Rank, autoclusters, fair share, limits,
and Analyze's explanation of a job that cannot run."""

from __future__ import annotations

import pytest
from jobpath_helpers import ALICE, BOB, ROOT, JobPath, expr, job_ad, wait_for

from qmf_agent.errors import ParameterInvalid
from qmf_agent.grid.analyze import analyze, split_conjunction
from qmf_agent.grid.jobs import JobStatus


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"), slots=4)
    path.startd.start()
    yield path
    path.stop()


def _sleeper(tmp_path, **extra):
    return job_ad(str(tmp_path), cmd="/bin/sleep", Args="60", **extra)


def test_requirements_both_ways(tmp_path):
    jp = JobPath(str(tmp_path / "state"), slots=2, start='TARGET.Owner =!= "bob"')
    jp.startd.start()
    try:
        jp.schedd.submit(_sleeper(tmp_path, Requirements=expr("TARGET.Memory >= 512")), 1, ALICE)
        jp.schedd.submit(_sleeper(tmp_path, Requirements=expr("TARGET.Memory >= 4096")), 1, ALICE)
        jp.schedd.submit(_sleeper(tmp_path), 1, BOB)
        assert jp.negotiator.cycle() == 1
        assert jp.status("1.0") == JobStatus.RUNNING
        assert jp.status("2.0") == JobStatus.IDLE      # no slot has 4096 MiB
        assert jp.status("3.0") == JobStatus.IDLE      # the slots' Start refuses bob
        assert jp.negotiator.stats["Rejections"] == 2
    finally:
        jp.stop()


def test_rank_chooses_the_slot(jp, tmp_path):
    jp.schedd.submit(_sleeper(tmp_path, Rank=expr("TARGET.SlotID")), 1, ROOT)
    jp.negotiator.cycle()
    assert jp.schedd.get_ad("1.0")["RemoteHost"] == "slot4@testhost"
    jp.schedd.submit(_sleeper(tmp_path, Rank=expr("-TARGET.SlotID")), 1, ROOT)
    jp.negotiator.cycle()
    assert jp.schedd.get_ad("2.0")["RemoteHost"] == "slot1@testhost"


def test_autoclusters_group_equal_jobs(jp, tmp_path):
    jp.schedd.submit(_sleeper(tmp_path), 50, ROOT)
    jp.schedd.submit(_sleeper(tmp_path), 20, ROOT)          # same kind, other cluster
    jp.schedd.submit(_sleeper(tmp_path, RequestMemory=100), 5, ROOT)
    jp.schedd.set_attribute("1.3", "RequestMemory", "100", ROOT)
    jp.schedd.set_attribute("1.4", "Args", '"30"', ROOT)      # bookkeeping: same cluster
    idle = list(jp.schedd.idle)
    groups = jp.negotiator.autoclusters(idle, [s for s in jp.startd.slots()])
    # clusters 1 and 2 merge (they differ only in bookkeeping); 1.3 splits off
    # by its own RequestMemory; 1.4's Args is bookkeeping, so it stays
    assert sorted(len(g) for g in groups) == [1, 5, 69]
    # an attribute the Requirements mention is significant even if bookkeeping
    jp.schedd.submit(_sleeper(tmp_path, Requirements=expr('MY.Args =!= "x"')), 3, ROOT)
    jp.schedd.set_attribute("4.1", "Args", '"x"', ROOT)
    groups = jp.negotiator.autoclusters(
        [j for j in jp.schedd.idle if j.cluster.id == 4], jp.startd.slots())
    assert sorted(len(g) for g in groups) == [1, 2]


def test_one_match_per_slot_and_prio_order(jp, tmp_path):
    jp.schedd.submit(_sleeper(tmp_path), 10, ROOT)
    jp.schedd.submit(_sleeper(tmp_path, JobPrio=5), 1, ROOT)
    assert jp.negotiator.cycle() == 4
    assert jp.status("2.0") == JobStatus.RUNNING
    assert sum(1 for j in jp.schedd.jobs() if j.status == JobStatus.RUNNING) == 4
    assert jp.negotiator.cycle() == 0
    assert jp.negotiator.stats["NumIdleJobs"] == 7


def test_fair_share_splits_slots(jp, tmp_path):
    jp.schedd.submit(_sleeper(tmp_path), 10, ALICE)
    jp.schedd.submit(_sleeper(tmp_path), 10, BOB)
    jp.negotiator.cycle()
    running = [j.owner for j in jp.schedd.jobs() if j.status == JobStatus.RUNNING]
    assert sorted(running) == ["alice", "alice", "bob", "bob"]


def test_priority_factor_orders_owners(jp, tmp_path):
    jp.negotiator.set_priority_factor("alice", 1000.0)
    jp.schedd.submit(_sleeper(tmp_path), 10, ALICE)
    jp.schedd.submit(_sleeper(tmp_path), 10, BOB)
    jp.negotiator.cycle()
    running = [j.owner for j in jp.schedd.jobs() if j.status == JobStatus.RUNNING]
    assert running.count("bob") > running.count("alice")
    stats = jp.negotiator.submitter_stats("alice")
    assert stats["PriorityFactor"] == 1000.0
    with pytest.raises(ParameterInvalid):
        jp.negotiator.submitter_stats("carol")
    with pytest.raises(ParameterInvalid):
        jp.negotiator.set_priority_factor("alice", 0.1)
    with pytest.raises(ParameterInvalid):
        jp.negotiator.set_priority("alice", 0.0)
    jp.negotiator.set_usage("alice", 42.0)
    assert jp.negotiator.submitter_stats("alice")["AccumulatedUsage"] == 42.0


def test_concurrency_limits(jp, tmp_path):
    jp.negotiator.set_limit("license", 1)
    jp.schedd.submit(_sleeper(tmp_path, ConcurrencyLimits="license"), 3, ROOT)
    jp.negotiator.cycle()
    assert sum(1 for j in jp.schedd.jobs() if j.status == JobStatus.RUNNING) == 1
    assert jp.negotiator.get_limits() == {"license": {"Max": 1.0, "Current": 1.0}}
    jp.negotiator.set_limit("LICENSE", 2)
    jp.negotiator.cycle()
    assert sum(1 for j in jp.schedd.jobs() if j.status == JobStatus.RUNNING) == 2
    with pytest.raises(ParameterInvalid):
        jp.negotiator.set_limit("license", -1)


def test_freed_slot_is_rematched_at_once(tmp_path):
    jp = JobPath(str(tmp_path / "state"), slots=1).start()
    jp.negotiator.config.interval = 3600.0     # only pokes can start jobs now
    try:
        jp.schedd.submit(job_ad(str(tmp_path)), 5, ROOT)
        wait_for(lambda: not jp.schedd.clusters, what="all five jobs to finish")
        assert len(jp.schedd.history()) == 5
    finally:
        jp.stop()


def test_split_conjunction():
    assert split_conjunction("a && b") == ["a", "b"]
    assert split_conjunction("(a && b)") == ["a", "b"]
    assert split_conjunction('(a && b) || c && d == "&&"') == ["(a && b) || c", 'd == "&&"']
    assert split_conjunction("f(x && y) && z") == ["f(x && y)", "z"]


def test_analyze_names_the_failing_clause(tmp_path):
    jp = JobPath(str(tmp_path / "state"), slots=3, start='TARGET.Owner =!= "bob"')
    try:
        req = 'TARGET.OpSys == "LINUX" && TARGET.Memory >= 100000'
        jp.schedd.submit(_sleeper(tmp_path, Requirements=expr(req)), 1, ALICE)
        jp.negotiator.cycle()
        assert jp.status("1.0") == JobStatus.IDLE
        job = jp.schedd.job("1.0")
        report = analyze(job.id, job.ad(), job.status, jp.startd.slots())
        assert report["Matching"] == 0 and report["Slots"] == 3
        assert report["Clauses"] == [
            {"Clause": 'TARGET.OpSys == "LINUX"', "MatchingSlots": 3},
            {"Clause": "TARGET.Memory >= 100000", "MatchingSlots": 0}]
        assert "TARGET.Memory >= 100000" in report["Summary"]
        jp.schedd.submit(_sleeper(tmp_path), 1, BOB)
        job = jp.schedd.job("2.0")
        report = analyze(job.id, job.ad(), job.status, jp.startd.slots())
        assert report["Matching"] == 0 and len(report["RejectedBySlot"]) == 3
        assert "Start refuses" in report["Summary"]
        assert "bob" in report["RejectedBySlot"][0]["Start"]
    finally:
        jp.stop()


def test_no_job_starts_while_the_matchmaker_is_off(tmp_path):
    jp = JobPath(str(tmp_path / "state"), slots=1).start()
    try:
        gate = tmp_path / "gate"
        body = f"while [ ! -e {gate} ]; do sleep 0.05; done"
        jp.schedd.submit(job_ad(str(tmp_path), cmd="/bin/sh", Arguments=f"-c '{body}'"), 1, ROOT)
        jp.schedd.submit(job_ad(str(tmp_path)), 2, ROOT)
        wait_for(lambda: jp.status("1.0") == JobStatus.RUNNING)
        jp.negotiator.stop()
        gate.touch()
        wait_for(lambda: jp.status("1.0") == JobStatus.COMPLETED)
        wait_for(lambda: jp.startd.slot_values("slot1@testhost")["State"] == "Unclaimed")
        assert jp.status("2.0") == jp.status("2.1") == JobStatus.IDLE   # the claim was not reused
        jp.negotiator.start()
        wait_for(lambda: not jp.schedd.clusters, what="the queue to drain once matching resumes")
    finally:
        jp.stop()
