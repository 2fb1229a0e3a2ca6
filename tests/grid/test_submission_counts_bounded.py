"""The schedd's per-submission counts stay bounded when jobs come and go
(issue #8): every Submit makes a submission, and counts kept in memory for
every submission ever seen grew with the queue's turnover.  Queued counts
now go when they reach zero; finished jobs are counted from the store's
history (bounded by ``history_limit``) when a submission is asked for."""

from __future__ import annotations

import pytest
from jobpath_helpers import ROOT, JobPath, job_ad

from qmf_agent.grid.bindings_jobs import SubmissionBinding
from qmf_agent.grid.jobs import JobStatus


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"))
    yield path
    path.stop()


def _submit_and_remove(jp: JobPath, iwd: str, n: int) -> None:
    for _ in range(n):
        jp.schedd.submit(dict(job_ad(iwd), JobStatus=JobStatus.HELD), 1, ROOT)
    assert jp.schedd.act("remove", ROOT, constraint="true", reason="round done")["TotalSuccess"] == n


def test_no_per_submission_memory_is_left_after_its_jobs_are_removed(jp, tmp_path):
    for _ in range(5):
        _submit_and_remove(jp, str(tmp_path), 40)
    counts = jp.schedd.counts
    assert counts.by_submission == {} and counts.submission_qdate == {}
    assert counts.by_owner["root"].get(JobStatus.HELD) == 0
    # the removed jobs are in the history: their submissions are still there, with their QDate
    binding = SubmissionBinding(jp.schedd)
    assert len(binding.keys()) == 200
    state = binding.state("root#testhost#7")
    assert state is not None
    assert state.values["Removed"] == 1 and state.values["Held"] == 0
    assert state.values["QDate"] == jp.history_ad("7.0")["QDate"] > 0


def test_submissions_leave_with_their_pruned_history(jp, tmp_path):
    jp.schedd.config.history_limit = 30
    for _ in range(4):
        _submit_and_remove(jp, str(tmp_path), 25)
        jp.schedd.prune_history()
    assert len(jp.schedd.history()) == 30
    binding = SubmissionBinding(jp.schedd)
    assert len(binding.keys()) == 30
    assert binding.state("root#testhost#1") is None
    assert binding.state("root#testhost#100").values["Removed"] == 1


def test_a_submission_half_queued_half_finished_counts_both(jp, tmp_path):
    ids, _ = jp.schedd.submit(dict(job_ad(str(tmp_path)), JobStatus=JobStatus.HELD), 3, ROOT)
    jp.schedd.act("remove", ROOT, ids=[ids[0]], reason="one of three")
    counts = jp.schedd.counts
    first = ("root", "testhost#1")
    assert counts.by_submission[first][JobStatus.HELD] == 2
    qdate = counts.submission_qdate[first]
    state = SubmissionBinding(jp.schedd).state("root#testhost#1")
    assert state is not None
    assert (state.values["Held"], state.values["Removed"], state.values["QDate"]) == (2, 1, qdate)
    jp.schedd.act("remove", ROOT, ids=ids[1:], reason="the rest")
    assert first not in counts.by_submission and first not in counts.submission_qdate
    state = SubmissionBinding(jp.schedd).state("root#testhost#1")
    assert (state.values["Held"], state.values["Removed"], state.values["QDate"]) == (0, 3, qdate)
    assert SubmissionBinding(jp.schedd).state("root#nosuch") is None
