"""Many procs of one cluster leaving the queue in one transaction: the
cluster row goes with the last of them (it used to stay behind when the
whole cluster left at once), and a retried Submit is answered, not queued
again, even when it arrives while the first is still being committed."""

from __future__ import annotations

import threading

import pytest
from jobpath_helpers import ROOT, JobPath, job_ad

from qmf_agent.binding import Caller


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"))
    yield path
    path.stop()


def held(iwd: str) -> dict:
    return job_ad(iwd, JobStatus={"TYPE": "INTEGER", "VALUE": "5"})


def cluster_rows(jp: JobPath) -> set[int]:
    return {cid for (cid,) in jp.store._query("SELECT id FROM clusters")}


def test_removing_a_whole_cluster_at_once_deletes_its_row(jp, tmp_path):
    ids, _ = jp.schedd.submit(held(str(tmp_path)), 300, ROOT)
    keep, _ = jp.schedd.submit(held(str(tmp_path)), 3, ROOT)
    cid, kept = int(ids[0].split(".")[0]), int(keep[0].split(".")[0])
    totals = jp.schedd.act("remove", ROOT, constraint=f"ClusterId == {cid} || ProcId == 0")
    assert totals["TotalSuccess"] == 301
    assert cluster_rows(jp) == {kept}          # the kept cluster lost one proc of three, not its row
    assert jp.schedd.job(keep[1]) is not None and jp.schedd.job(keep[0]) is None
    totals = jp.schedd.act("remove", ROOT, ids=keep[1:])
    assert totals["TotalSuccess"] == 2
    assert cluster_rows(jp) == set()
    assert len(jp.store._query("SELECT cluster FROM history")) == 303


def test_a_retry_arriving_during_the_first_commit_is_answered_with_its_ids(jp, tmp_path):
    caller = Caller(identity="root", admin=True, request_id="r-1")
    answers: list[list[str]] = []
    barrier = threading.Barrier(2)

    def submit() -> None:
        barrier.wait()
        answers.append(jp.schedd.submit(held(str(tmp_path)), 2000, caller)[0])

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 2 and answers[0] == answers[1]
    assert len(jp.schedd.query("true", ["ClusterId"], -1)) == 2000
