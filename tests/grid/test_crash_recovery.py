"""Crash recovery: a scheduler in a child process is SIGKILLed while it
submits and runs jobs; after a restart nothing it acknowledged is lost and
the jobs that were running are Idle again with their runs counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from jobpath_helpers import JobPath

from qmf_agent.grid.jobs import JobStatus

_CHILD = r"""
import sys, time
sys.path.insert(0, {helpers!r})
from jobpath_helpers import JobPath, ROOT, job_ad
jp = JobPath({state!r}, slots=2).start()
n = 0
while True:
    if n % 3 == 0:
        ad = job_ad({iwd!r}, cmd="/bin/sh", Arguments="-c 'sleep 300; : {token}'")
    else:
        ad = job_ad({iwd!r}, cmd="/bin/true")
    ids, _ = jp.schedd.submit(ad, 2, ROOT)
    print(" ".join(ids), flush=True)
    n += 1
    time.sleep(0.005)
"""


def _job_pids(token: str) -> list[int]:
    """Pids of the job shells carrying *token* in their command line."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if token.encode() in cmd and b"-c" in cmd:
            pids.append(int(entry))
    return pids


def _kill_leftovers(token: str) -> None:
    """End the job process groups the killed scheduler left behind (by id)."""
    for pid in _job_pids(token):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_sigkill_loses_nothing_acknowledged(tmp_path):
    state = str(tmp_path / "state")
    token = f"crash-{uuid.uuid4().hex}"
    code = _CHILD.format(helpers=os.path.dirname(__file__), state=state, iwd=str(tmp_path),
                         token=token)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    acknowledged: list[str] = []
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        # kill once enough was acknowledged and jobs are running
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.extend(line.split())
            if len(acknowledged) >= 100 and len(_job_pids(token)) >= 2:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        _kill_leftovers(token)
    assert len(acknowledged) >= 20, "the child scheduler acknowledged too few submits"

    jp = JobPath(state)
    try:
        in_queue = {job.id for job in jp.schedd.jobs()}
        finished = {f"{a['ClusterId']}.{a['ProcId']}" for a in jp.schedd.history()}
        lost = [i for i in acknowledged if i not in in_queue and i not in finished]
        assert not lost, f"acknowledged jobs lost: {lost[:5]}"
        assert jp.schedd.epoch == 2
        statuses = {job.status for job in jp.schedd.jobs()}
        assert JobStatus.RUNNING not in statuses and JobStatus.SUSPENDED not in statuses
        requeued = [job for job in jp.schedd.jobs() if job.get("LastJobStatus") == 2
                    and job.get("NumJobStarts", 0) >= 1]
        assert requeued, "no job was running at the kill: the test proved nothing"
        assert all(job.status == JobStatus.IDLE for job in requeued)
        completed = [a for a in jp.schedd.history() if a["JobStatus"] == JobStatus.COMPLETED]
        assert all(a.get("ExitCode") == 0 for a in completed), [a for a in completed if a.get("ExitCode") != 0][:2]
    finally:
        jp.stop()
