"""SIGTERM with jobs running: a graceful shutdown within 10 s.

The agent stops its running jobs (their processes are gone afterwards),
exits 0, and the next start finds the jobs back in the queue as Idle with
the run counted -- docs/operating.md, "Signals and stopping".
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from reliability_agent import KillableAgent, call, sleep_job

pytestmark = pytest.mark.reliability

SLEEP = 6173  # an unusual argument, so that our job processes can be found in /proc


def our_sleepers() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if len(argv) >= 2 and argv[0].endswith(b"sleep") and argv[1] == str(SLEEP).encode():
                pids.append(int(entry))
    return pids


def statuses(agent: KillableAgent) -> dict[str, tuple[int, int]]:
    with agent.client(timeout=30.0) as client:
        jobs = call(client, "Query", Constraint="true",
                    Projection=["ClusterId", "ProcId", "JobStatus", "NumJobStarts"])["Jobs"]

    def value(v: object) -> int:
        return int(v["VALUE"]) if isinstance(v, dict) else int(v)  # type: ignore[arg-type]

    return {f"{value(j['ClusterId'])}.{value(j['ProcId'])}": (value(j["JobStatus"]), value(j.get("NumJobStarts", 0)))
            for j in jobs}


def test_sigterm_with_running_jobs_is_graceful_within_10s(tmp_path: Path) -> None:
    assert not our_sleepers(), "a sleeper from an earlier run is still alive"
    agent = KillableAgent(tmp_path / "state", tmp_path, config="NUM_SLOTS = 2\nKILLING_TIMEOUT = 2\n")
    try:
        agent.start()
        with agent.client(timeout=30.0) as client:
            ids = call(client, "Submit", Ad=sleep_job(SLEEP), Count=2)["Ids"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(s == 2 for s, _ in statuses(agent).values()) and len(our_sleepers()) == 2:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the jobs did not start: {statuses(agent)}\n{agent.log()}")
        rc, took = agent.terminate(timeout=30.0)
        assert rc == 0, agent.log()
        assert took < 10.0, f"graceful shutdown took {took:.1f}s"
        assert not our_sleepers(), "a job process outlived the agent"
        assert "stopped" in agent.log()

        agent.start()
        after = statuses(agent)
        assert set(after) == set(ids)
        for job, (status, starts) in after.items():
            assert status in (1, 2), (job, status)  # Idle again (or already matched anew)
            assert starts >= 1, (job, starts)
        agent.terminate()
        assert not our_sleepers()
    finally:
        agent.kill()
