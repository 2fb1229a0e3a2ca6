"""An Act or Edit on 20,000 jobs gets a correct answer, not the console's
default 10 s timeout: its timeout scales with the jobs it may touch."""

from __future__ import annotations

import pytest

import console as htcondor
from console import classad
from console._schedd import BULK_SECONDS_PER_JOB

HELD = classad.ClassAd({"Cmd": "/bin/true", "JobStatus": 5, "Iwd": "/tmp"})


@pytest.fixture
def schedd(agent):
    return htcondor.Schedd(agent.url)


def test_bulk_timeout_scales_with_ids_or_the_queue(schedd):
    base = schedd.session.timeout
    assert schedd._bulk_timeout({"Jobs": ["1.0"] * 500}) == pytest.approx(base + 500 * BULK_SECONDS_PER_JOB)
    cluster = schedd.submit(HELD, count=50)
    queued = len(schedd.query("true", ["ProcId"]))
    assert queued >= 50
    assert schedd._bulk_timeout({"Constraint": "true"}) == pytest.approx(base + queued * BULK_SECONDS_PER_JOB)
    schedd.act(htcondor.JobAction.Remove, cluster)


def test_removing_20000_jobs_in_one_act_answers_with_true_totals(schedd):
    assert schedd.session.timeout == 10.0   # the default that 20,000 removals used to overrun
    cluster = schedd.submit(HELD, count=20000)
    assert schedd.edit(cluster, "Batch", '"big"') == 20000
    totals = schedd.act(htcondor.JobAction.Remove, cluster, "bulk")
    assert totals["TotalSuccess"] == 20000 and totals["TotalJobAds"] == 20000
    assert totals["TotalNotFound"] == 0 and totals["TotalBadStatus"] == 0
    assert schedd.query(f"ClusterId == {cluster}", ["ProcId"]) == []
    again = schedd.act(htcondor.JobAction.Remove, [f"{cluster}.0", f"{cluster}.19999"])
    assert again["TotalNotFound"] == 2
    # newest first: the last one removed is found at once among 20,000 history rows
    gone = schedd.history(f"ClusterId == {cluster} && ProcId == 19999", ["JobStatus", "RemoveReason"], 1)
    assert gone[0]["JobStatus"] == 3 and gone[0]["RemoveReason"] == "bulk"
