"""`python3 -m qmf_agent --backend slurm` end to end: a console drives Slurm through it.

The agent runs as its own process on a free loopback port; the console is
the HTCondor-style API (``import console as htcondor``) and the QMF
Session, as a user's program would use them.  Slurm's side is checked with
Slurm's own tools.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "console"))
from console_agent_process import free_port, subprocess_env  # noqa: E402

import console as htcondor  # noqa: E402
from console import Session, Submit, classad  # noqa: E402

pytestmark = pytest.mark.slurm

NAME = "slurmagent"


class SlurmAgent:
    """The agent process, started with ``--backend slurm`` on the command line."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"amqp://127.0.0.1:{self.port}"
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "qmf-grid.conf").write_text(
            "HEARTBEAT_INTERVAL = 1\nQMF_UPDATE_INTERVAL = 0.5\nSLURM_POLL_INTERVAL = 0.2\n"
            "SLURM_NODE_INTERVAL = 0.5\n")
        self.log_path = state_dir / "agent.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qmf_agent", "--backend", "slurm", "--listen",
             f"127.0.0.1:{self.port}", "--state-dir", str(state_dir), "--name", NAME],
            stdout=self._log, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=state_dir)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"agent exited:\n{self.log()}"
            try:
                with Session(self.url, timeout=3) as s:
                    if f"redhat.com:qmf-grid:{NAME}" in [a.name for a in s.getAgents(wait=0.5)]:
                        return
            except Exception:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the agent did not answer:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmAgent]:
    running = SlurmAgent(tmp_path_factory.mktemp("slurm-agent"))
    try:
        running.wait_ready()
        yield running
    finally:
        from console._connection import forget_sessions

        forget_sessions()
        running.stop()


@pytest.fixture
def schedd(agent: SlurmAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> htcondor.Schedd:
    monkeypatch.chdir(tmp_path)
    return htcondor.Schedd(agent.url)


def finished(schedd: htcondor.Schedd, cluster: int, count: int,
             timeout: float = 90.0) -> list[classad.ClassAd]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ads = schedd.history(f"ClusterId == {cluster}")
        if len(ads) == count:
            return sorted(ads, key=lambda a: a["ProcId"])
        time.sleep(0.2)
    raise AssertionError(f"cluster {cluster} did not finish in {timeout}s")


def slurm_state(slurm_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-t", "all", "-j", slurm_id, "-o", "%T"],
                          capture_output=True, text=True, check=True).stdout.strip()


def settles_to(slurm_id: str, state: str, timeout: float = 30.0) -> str:
    """Slurm's state of the job once it is *state*, or the last one seen
    when *timeout* runs out: a held running job passes through COMPLETING
    before it is PENDING again, so the state is waited for, not sampled."""
    deadline = time.monotonic() + timeout
    seen = slurm_state(slurm_id)
    while seen != state and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = slurm_state(slurm_id)
    return seen


def test_submit_description_with_per_proc_values_runs_in_slurm(
        schedd: htcondor.Schedd, tmp_path: Path) -> None:
    sub = Submit("executable = /bin/sh\narguments = \"-c 'echo proc $(Process); exit $(Process)'\"\n"
                 "output = out.$(Process)\nerror = err.$(Process)\nqueue 3")
    cluster = schedd.submit(sub)
    ads = finished(schedd, cluster, 3)
    assert [a["ExitCode"] for a in ads] == [0, 1, 2]
    assert all(a["JobStatus"] == 4 and a["SlurmJobId"] for a in ads)
    for proc in range(3):
        assert (tmp_path / f"out.{proc}").read_text() == f"proc {proc}\n"


def test_hold_release_and_remove_through_the_console(schedd: htcondor.Schedd) -> None:
    cluster = schedd.submit(classad.ClassAd({"Cmd": "/bin/sleep", "Args": "60"}))
    (ad,) = schedd.query(f"ClusterId == {cluster}", ["SlurmJobId"])
    slurm_id = ad["SlurmJobId"]
    deadline = time.monotonic() + 60
    while schedd.query(f"ClusterId == {cluster}", ["JobStatus"])[0]["JobStatus"] != 2:
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.2)
    assert slurm_state(slurm_id) == "RUNNING"
    totals = schedd.act(htcondor.JobAction.Hold, f"ClusterId == {cluster}")
    assert totals["TotalSuccess"] == 1
    assert schedd.query(f"ClusterId == {cluster}", ["JobStatus"])[0]["JobStatus"] == 5
    assert settles_to(slurm_id, "PENDING") == "PENDING"
    schedd.act(htcondor.JobAction.Release, f"ClusterId == {cluster}")
    assert schedd.query(f"ClusterId == {cluster}", ["JobStatus"])[0]["JobStatus"] in (1, 2)
    schedd.act(htcondor.JobAction.Remove, f"ClusterId == {cluster}")
    (gone,) = finished(schedd, cluster, 1)
    assert gone["JobStatus"] == 3
    assert settles_to(slurm_id, "CANCELLED") == "CANCELLED"


def test_objects_show_the_backend_and_slurms_nodes(agent: SlurmAgent) -> None:
    nodes = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True,
                           check=True).stdout.split()
    with Session(agent.url, timeout=10) as session:
        (scheduler,) = session.getObjects(_class="scheduler")
        assert (scheduler.Backend, scheduler.BackendStatus) == ("slurm", "up")
        slots = session.getObjects(_class="slot")
        assert sorted(slot.Name for slot in slots) == sorted(set(nodes))
