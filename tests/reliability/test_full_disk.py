"""A full disk under the job queue.

The state directory is a 2 MiB tmpfs mounted for the test (CI runs as
root; elsewhere the test is skipped, saying why).  Big jobs are submitted
until the disk is full: the Submit that does not fit fails with a
``StoreError`` naming the queue and the cause, nothing of it is queued, the
agent keeps answering, the jobs queued before are intact, SQLite's
``integrity_check`` passes after a graceful stop, and the agent starts
again -- on the still-full disk, and after the operator makes room, when
Submit works again.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_agent import KillableAgent, call, held_job, job_ids

from qmf_agent.errors import StoreError

pytestmark = pytest.mark.reliability

BIG = "x" * 100_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    state.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(state)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def queued(agent: KillableAgent) -> set[str]:
    with agent.client(timeout=30.0) as client:
        return {f"{c}.{p}" for c, p in job_ids(call(client, "Query", Constraint="true",
                                                         Projection=["ClusterId", "ProcId"]))}


def integrity(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def test_a_full_disk_refuses_submit_clearly_and_corrupts_nothing(small_disk: Path, tmp_path: Path) -> None:
    agent = KillableAgent(small_disk, tmp_path, config="NUM_SLOTS = 1\n")
    try:
        agent.start()
        acked: set[str] = set()
        with agent.client(timeout=30.0) as client:
            acked.update(call(client, "Submit", Ad=held_job(), Count=50)["Ids"])
            refused = None
            for _ in range(100):  # 2 MiB fills after about 20 of these
                try:
                    acked.update(call(client, "Submit", Ad=held_job(Blob=BIG), Count=2)["Ids"])
                except StoreError as err:
                    refused = err
                    break
            assert refused is not None, "2 MiB never filled up"
            text = str(refused)
            assert "queue.db" in text and "full" in text and "nothing was changed" in text, text
            # the agent keeps serving: a query answers, and holds exactly what was acknowledged
            assert queued(agent) == acked
            # a refused change is retried as often as the operator likes: still a clear error
            with pytest.raises(StoreError, match="full"):
                call(client, "Submit", Ad=held_job(Blob=BIG), Count=2)
        rc, _ = agent.terminate()
        assert rc == 0, agent.log()
        assert integrity(small_disk / "queue.db") == "ok"

        agent.start()  # on the still-full disk: recovery needs no room
        assert queued(agent) == acked
        agent.terminate()

        subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
        agent.start()
        assert queued(agent) == acked
        with agent.client(timeout=30.0) as client:
            more = call(client, "Submit", Ad=held_job(Blob=BIG), Count=2)["Ids"]
        assert queued(agent) == acked | set(more)
        assert agent.terminate()[0] == 0
        assert integrity(small_disk / "queue.db") == "ok"
    finally:
        agent.kill()
