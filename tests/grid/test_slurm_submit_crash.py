"""A Submit through the Slurm backend, with the agent killed (SIGKILL) at each
point of it, against the real one-node cluster.

The backend commits a Submit's procs durably *while* ``sbatch`` runs and
records the Slurm job id after, so the crash windows are: before Slurm has
the job, after Slurm has it but before its id is recorded, and right after
the Submit was answered.  An agent process is killed for real in each (an
``sbatch`` wrapper in ``SLURM_BIN_DIR`` holds it in the window, the other
tools are Slurm's own), then a new agent opens the same queue: it must
adopt the Slurm job (never submit a second one), never lose an answered
Submit, and remove a job Slurm never received.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qmf_agent.binding import Caller
from qmf_agent.errors import SchedulerError
from qmf_agent.grid import Config, Grid
from qmf_agent.grid.jobs import JobStatus

pytestmark = pytest.mark.slurm

ROOT = Caller("root", admin=True)
NAME = "crashtest"

#: The agent process: one Submit, its answer on stdout, then it waits to be killed.
_AGENT = """
import sys, time
from qmf_agent.binding import Caller
from qmf_agent.grid import Config, Grid
grid = Grid(Config(sys.argv[1]), sys.argv[2], None)
grid.start()
ad = {"Cmd": "/bin/sh", "Arguments": "-c 'exit 4'", "Iwd": sys.argv[3],
      "Requirements": True, "JobUniverse": 5, "Owner": "root"}
result = grid.bindings()["scheduler"].call(sys.argv[5], "Submit", {"Ad": ad, "Count": int(sys.argv[4])},
                                           Caller("root", admin=True))
print("ANSWERED", " ".join(result["Ids"]), flush=True)
time.sleep(600)
"""


def wait_for(what: Callable[[], Any], timeout: float = 120.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def slurm(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def jobs_named(name: str) -> list[str]:
    """Slurm's (base) job ids under *name*, whatever their state."""
    out = slurm("squeue", "-h", "-t", "all", f"--name={name}", "-o", "%F")
    return sorted(set(out.split()))


def tool_dir(tmp: Path, sbatch_body: str) -> Path:
    """Slurm's tools, but ``sbatch`` is *sbatch_body* (a shell script)."""
    bins = tmp / "bin"
    bins.mkdir()
    for tool in ("squeue", "sinfo", "scontrol", "scancel"):
        real = subprocess.run(["which", tool], capture_output=True, text=True,
                              check=True).stdout.strip()
        (bins / tool).symlink_to(real)
    real = subprocess.run(["which", "sbatch"], capture_output=True, text=True,
                          check=True).stdout.strip()
    wrapper = bins / "sbatch"
    wrapper.write_text(f"#!/bin/sh\nREAL={real}\nDIR={tmp}\necho $$ >> $DIR/sbatch.pid\n"
                       + sbatch_body)
    wrapper.chmod(0o755)
    return bins


def config(tmp: Path, extra: str = "") -> Path:
    conf = tmp / f"agent{len(list(tmp.glob('agent*.conf')))}.conf"
    conf.write_text(f"SCHEDD_NAME = {NAME}\nBACKEND = slurm\nSLURM_POLL_INTERVAL = 0.2\n"
                    f"SLURM_RETRY_INTERVAL = 0.5\nSLURM_NODE_INTERVAL = 0.5\n{extra}")
    return conf


def committed_procs(state: Path) -> list[tuple[int, int, str | None]]:
    """The procs the killed agent's queue holds on disk."""
    db = state / "queue.db"
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=5) as conn:
        return list(conn.execute("SELECT cluster, proc, ad FROM procs ORDER BY cluster, proc"))


class KilledAgent:
    """An agent process, and the ``sbatch`` wrappers it started (the one that
    submitted, and the spare waiting for the next Submit), to be SIGKILLed."""

    def __init__(self, tmp: Path, bins: Path | None, count: int = 1) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        conf = config(tmp, f"SLURM_BIN_DIR = {bins}\n" if bins else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _AGENT, str(conf), str(self.state), str(tmp), str(count), NAME],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def answer(self) -> list[str]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ANSWERED "), line
        return line.split()[1:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        pid_file = self.tmp / "sbatch.pid"     # every wrapper started (the spare too)
        for pid in pid_file.read_text().split() if pid_file.exists() else ():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def restarted() -> Iterator[list[Grid]]:
    """The agents a test opens on the killed agent's queue, stopped (and their
    Slurm jobs cancelled) afterwards."""
    grids: list[Grid] = []
    yield grids
    for g in grids:
        ids = [j.get("SlurmJobId") for j in g.schedd.jobs() if j.get("SlurmJobId")]
        if ids:
            subprocess.run(["scancel", *ids], check=False, timeout=30)
        g.stop("fast")
        g.close()


def restart(tmp: Path, grids: list[Grid], extra: str = "") -> Grid:
    g = Grid(Config(config(tmp, extra)), tmp / "state", None)
    grids.append(g)
    g.start()
    return g


def finished(g: Grid, job_id: str) -> dict[str, Any] | None:
    cid, pid = job_id.split(".")
    found = g.schedd.history(f"ClusterId == {cid} && ProcId == {pid}")
    return found[0] if found else None


def test_killed_after_slurm_took_the_job_before_its_id_was_recorded(
        tmp_path: Path, restarted: list[Grid]) -> None:
    """sbatch has submitted (the wrapper saved Slurm's answer), the agent is
    still waiting for it: the restart adopts that Slurm job, submits no other."""
    bins = tool_dir(tmp_path, '"$REAL" "$@" > $DIR/sbatch.out.$$ && '
                              'mv $DIR/sbatch.out.$$ $DIR/sbatch.out\nexec sleep 600\n')
    agent = KilledAgent(tmp_path, bins, count=3)
    try:
        out = wait_for(lambda: (tmp_path / "sbatch.out").exists()
                       and (tmp_path / "sbatch.out").read_text().strip())
        wait_for(lambda: len(committed_procs(agent.state)) == 3)
    finally:
        agent.kill()
    slurm_base = out.split(";")[0]
    on_disk = committed_procs(agent.state)
    assert all('"SlurmJobName"' in (ad or "") and "SlurmJobId" not in (ad or "")
               for _, _, ad in on_disk), on_disk      # the window: name only
    g = restart(tmp_path, restarted)
    job_ids = [f"{c}.{p}" for c, p, _ in on_disk]
    for n, job_id in enumerate(job_ids):
        done = wait_for(lambda j=job_id: finished(g, j), timeout=180)
        assert done["JobStatus"] == JobStatus.COMPLETED and done["ExitCode"] == 4
        assert done["SlurmJobId"] == f"{slurm_base}_{n}"    # the Slurm job it had
        assert jobs_named(done["SlurmJobName"]) == [slurm_base]   # never a second sbatch


def test_killed_before_slurm_had_the_job_removes_it_after_the_grace(
        tmp_path: Path, restarted: list[Grid]) -> None:
    """sbatch never reached Slurm and the Submit was never answered: the
    restart waits out an sbatch the old agent might have left running, then
    removes the job, naming why."""
    bins = tool_dir(tmp_path, "exec sleep 600\n")
    agent = KilledAgent(tmp_path, bins)
    try:
        wait_for(lambda: (tmp_path / "sbatch.pid").exists())
        wait_for(lambda: len(committed_procs(agent.state)) == 1)
    finally:
        agent.kill()
    [(cid, pid, ad)] = committed_procs(agent.state)
    job_id = f"{cid}.{pid}"
    g = restart(tmp_path, restarted, "SLURM_TIMEOUT = 3\n")
    name = g.schedd.get_ad(job_id)["SlurmJobName"]
    assert jobs_named(name) == []
    time.sleep(1.0)     # within the grace: still queued, not handed to Slurm again
    assert g.schedd.job(job_id) is not None and not g.schedd.get_ad(job_id).get("SlurmJobId")
    done = wait_for(lambda: finished(g, job_id), timeout=60)
    assert done["JobStatus"] == JobStatus.REMOVED
    assert "never received it" in done["RemoveReason"]
    assert jobs_named(name) == []                      # and none submitted meanwhile


def test_answered_submit_survives_a_kill_right_after_the_answer(
        tmp_path: Path, restarted: list[Grid]) -> None:
    agent = KilledAgent(tmp_path, None, count=2)
    try:
        ids = agent.answer()
    finally:
        agent.kill()
    assert len(ids) == 2
    g = restart(tmp_path, restarted)
    ads = [g.schedd.get_ad(j) for j in ids]
    base = ads[0]["SlurmJobId"].split("_")[0]
    assert [a["SlurmJobId"] for a in ads] == [f"{base}_0", f"{base}_1"]
    assert jobs_named(ads[0]["SlurmJobName"]) == [base]
    for job_id in ids:
        done = wait_for(lambda j=job_id: finished(g, j), timeout=180)
        assert done["JobStatus"] == JobStatus.COMPLETED and done["ExitCode"] == 4


def test_refused_submit_leaves_nothing_in_the_queue_even_after_a_restart(
        tmp_path: Path, restarted: list[Grid]) -> None:
    g = restart(tmp_path, restarted)
    ad = {"Cmd": "/bin/true", "Iwd": str(tmp_path), "Requirements": True, "JobUniverse": 5,
          "Owner": "root", "RequestMemory": 1 << 40}
    scheduler = g.bindings()["scheduler"]
    with pytest.raises(SchedulerError, match="Slurm rejected the submission"):
        scheduler.call(NAME, "Submit", {"Ad": ad, "Count": 1}, ROOT)
    assert list(g.schedd.jobs()) == []
    assert committed_procs(tmp_path / "state") == []
    ad["RequestMemory"] = 1
    ad["JobStatus"] = JobStatus.HELD
    [later] = scheduler.call(NAME, "Submit", {"Ad": ad, "Count": 1}, ROOT)["Ids"]
    assert later == "1.0"                  # the refused Submit used no cluster id
    # Slurm keeps a FAILED record of the refused job under the same name
    name = g.schedd.get_ad(later)["SlurmJobName"]
    slurm_id = g.schedd.get_ad(later)["SlurmJobId"]
    assert len(jobs_named(name)) == 2 and slurm_id in jobs_named(name)
    # the record of the new job without its Slurm id (a crash before it was
    # recorded, or a power loss after): the restart adopts the newest of the name
    g.stop("fast")
    g.close()
    restarted.clear()
    with sqlite3.connect(tmp_path / "state" / "queue.db") as conn:
        conn.execute("UPDATE procs SET ad = json_remove(ad, '$.SlurmJobId')")
    again = restart(tmp_path, restarted)
    wait_for(lambda: again.schedd.get_ad(later).get("SlurmJobId"))
    assert again.schedd.get_ad(later)["SlurmJobId"] == slurm_id
    subprocess.run(["scancel", slurm_id], check=False, timeout=30)


def test_job_names_are_unique_to_the_queue(tmp_path: Path, restarted: list[Grid]) -> None:
    """Two agents number their clusters alike; their Slurm job names differ,
    so a restart can only ever adopt its own queue's job."""
    a = restart(tmp_path / "a", restarted) if (tmp_path / "a").mkdir() is None else None
    b = restart(tmp_path / "b", restarted) if (tmp_path / "b").mkdir() is None else None
    assert a is not None and b is not None
    names = []
    for g in (a, b):
        ad = {"Cmd": "/bin/true", "Iwd": str(tmp_path), "Requirements": True,
              "JobUniverse": 5, "Owner": "root", "JobStatus": JobStatus.HELD}
        [job_id] = g.bindings()["scheduler"].call(NAME, "Submit", {"Ad": ad, "Count": 1},
                                                  ROOT)["Ids"]
        names.append((job_id, g.schedd.get_ad(job_id)["SlurmJobName"]))
    assert names[0][0] == names[1][0]
    assert names[0][1] != names[1][1]
    assert all(name.startswith("qmf-") and name.endswith(f"-{job}") for job, name in names)
    # the tag is the queue's: the same after a restart
    tag = names[0][1]
    a.stop("fast")
    a.close()
    restarted.remove(a)
    again = restart(tmp_path / "a", restarted)
    assert again.startd.job_name(names[0][0]) == tag
