"""The Slurm backend against the real one-node cluster (``.ci/slurm.sh``).

Each test builds a Grid with ``BACKEND = slurm`` on its own state directory
and drives it through the scheduler and job bindings, as a console's calls
arrive; what Slurm did is checked with Slurm's own tools.  Waits are
bounded polls for a condition, never timing assertions.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import classad
from qmf_agent.binding import Caller, ObjectState
from qmf_agent.errors import FeatureNotImplemented, ParameterInvalid, SchedulerError
from qmf_agent.grid import Config, Grid
from qmf_agent.grid.jobs import JobStatus
from qmf_agent.grid.slurm import SlurmCli

pytestmark = pytest.mark.slurm

ROOT = Caller("root", admin=True)
NAME = "slurmtest"


class Sink:
    """Records what the grid tells the agent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changes: list[tuple[str, str]] = []

    def changed(self, class_name: str, key: str) -> None:
        with self.lock:
            self.changes.append((class_name, key))

    def deleted(self, class_name: str, key: str, state: ObjectState) -> None:
        with self.lock:
            self.changes.append((class_name, key))

    def event(self, name: str, values: Any, severity: int = 6) -> None:
        with self.lock:
            self.events.append((name, dict(values)))

    def named(self, name: str, job_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [v for n, v in self.events
                    if n == name and (job_id is None or v.get("Id") == job_id)]


class CountingCli(SlurmCli):
    """The real command-line driver, counting the commands it runs."""

    def __init__(self) -> None:
        super().__init__(timeout=30.0)
        self.calls: dict[str, int] = {}

    def run(self, tool: str, args: Any, stdin: str | None = None,
            env: Any = None) -> str:
        self.calls[tool] = self.calls.get(tool, 0) + 1
        return super().run(tool, args, stdin, env)


def wait_for(what: Callable[[], Any], timeout: float = 180.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def slurm(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def slurm_row(slurm_id: str) -> tuple[str, str]:
    """(state, reason) of a Slurm job, from squeue."""
    out = slurm("squeue", "-h", "-t", "all", "-j", slurm_id, "-o", "%T|%r").strip()
    state, _, reason = out.partition("|")
    return state, reason


@contextlib.contextmanager
def node_busy() -> Iterator[int]:
    """One CPU taken by a job of our own: a job asking for every CPU (the number
    yielded) stays pending (Resources) meanwhile, whatever else runs."""
    cpus = int(slurm("sinfo", "-h", "-o", "%c").split()[0].rstrip("+"))
    blocker = slurm("sbatch", "--parsable", "-c", "1", "--output=/dev/null",
                    "--wrap=sleep 300").strip()
    try:
        wait_for(lambda: slurm_row(blocker)[0] == "RUNNING", timeout=120)
        yield cpus
    finally:
        slurm("scancel", blocker)


def make_grid(tmp: Path, extra: str = "") -> tuple[Grid, Sink]:
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "agent.conf"
    conf.write_text(f"SCHEDD_NAME = {NAME}\nBACKEND = slurm\nSLURM_POLL_INTERVAL = 0.2\n"
                    f"SLURM_RETRY_INTERVAL = 0.5\nSLURM_NODE_INTERVAL = 0.5\n{extra}")
    sink = Sink()
    grid = Grid(Config(conf), tmp / "state", sink)
    return grid, sink


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[tuple[Grid, Sink, Path]]:
    g, sink = make_grid(tmp_path)
    g.start()
    yield g, sink, tmp_path
    for job in g.schedd.jobs():          # leave nothing behind in Slurm
        slurm_id = job.get("SlurmJobId")
        if slurm_id:
            subprocess.run(["scancel", slurm_id], check=False, timeout=30)
    g.stop("fast")
    g.close()


def submit(g: Grid, iwd: Path, args: str, count: int = 1, **attrs: Any) -> list[str]:
    ad: dict[str, Any] = {"Cmd": "/bin/sh", "Arguments": args, "Iwd": str(iwd),
                          "Requirements": True, "JobUniverse": 5, "Owner": "root", **attrs}
    if any(isinstance(v, classad.ExprTree) for v in ad.values()):   # typed wire encoding
        ad = classad.encode_job_ad(classad.ClassAd(ad), encoding="typed")
    result = g.bindings()["scheduler"].call(NAME, "Submit", {"Ad": ad, "Count": count}, ROOT)
    return list(result["Ids"])


def call(g: Grid, job_id: str, method: str, **args: Any) -> dict[str, Any]:
    return dict(g.bindings()["job"].call(job_id, method, args, ROOT))


def status(g: Grid, job_id: str) -> int | None:
    with g.schedd.lock:
        job = g.schedd.job(job_id)
        return job.status if job is not None else None


def finished(g: Grid, job_id: str) -> dict[str, Any] | None:
    cid, pid = job_id.split(".")
    found = g.schedd.history(f"ClusterId == {cid} && ProcId == {pid}")
    return found[0] if found else None


def test_job_runs_in_slurm_with_output_and_exit_code_recorded(
        grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    [job_id] = submit(g, tmp, "-c 'echo hello from $CONDOR_ID; exit 3'", Out="out.txt",
                      Err="err.txt")
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    assert slurm_id.isdigit()
    assert slurm_row(slurm_id)[0] in ("PENDING", "RUNNING", "COMPLETED", "FAILED")
    done = wait_for(lambda: finished(g, job_id))
    assert done["JobStatus"] == JobStatus.COMPLETED
    assert done["ExitCode"] == 3 and done["ExitBySignal"] is False
    assert done["SlurmJobId"] == slurm_id
    assert done["LastRemoteHost"] == slurm("hostname", "-s").strip()
    assert done["CompletionDate"] >= done["QDate"]
    assert (tmp / "out.txt").read_text() == f"hello from {job_id}\n"
    moves = [(e["From"], e["To"]) for e in sink.named("JobStatusChanged", job_id)]
    assert moves == [(1, 2), (2, 4)]
    assert sink.named("JobCompleted", job_id)[0]["ExitCode"] == 3


def test_count_goes_as_one_array_with_procs_kept_apart(grid: tuple[Grid, Sink, Path]) -> None:
    g, _, tmp = grid
    ids = submit(g, tmp, "-c 'echo $CONDOR_ID > p$CONDOR_ID.txt'", count=4)
    slurm_ids = [g.schedd.get_ad(i)["SlurmJobId"] for i in ids]
    array = slurm_ids[0].split("_")[0]
    assert slurm_ids == [f"{array}_{n}" for n in range(4)]
    for job_id in ids:
        assert wait_for(lambda j=job_id: finished(g, j))["ExitCode"] == 0
        assert (tmp / f"p{job_id}.txt").read_text() == f"{job_id}\n"


def test_hold_and_release_of_a_pending_job(grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    with node_busy() as cpus:
        [job_id] = submit(g, tmp, "-c true", RequestCpus=cpus)
        slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
        wait_for(lambda: g.startd.polls >= 2)
        assert slurm_row(slurm_id)[0] == "PENDING"
        call(g, job_id, "Hold", Reason="wait")
        assert status(g, job_id) == JobStatus.HELD
        assert slurm_row(slurm_id) == ("PENDING", "JobHeldUser")
        with pytest.raises(SchedulerError, match="already"):
            call(g, job_id, "Hold")
        call(g, job_id, "Release")
        assert status(g, job_id) == JobStatus.IDLE
        assert slurm_row(slurm_id)[1] != "JobHeldUser"
        time.sleep(1.0)   # several polls: the agent must not think Slurm changed anything
        assert status(g, job_id) == JobStatus.IDLE
    assert [e["Reason"] for e in sink.named("JobHeld", job_id)] == ["wait"]


def test_submitted_held_then_released_runs(grid: tuple[Grid, Sink, Path]) -> None:
    g, _, tmp = grid
    [job_id] = submit(g, tmp, "-c 'exit 0'", JobStatus=5)
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    assert slurm_row(slurm_id) == ("PENDING", "JobHeldUser")
    assert status(g, job_id) == JobStatus.HELD
    call(g, job_id, "Release")
    assert wait_for(lambda: finished(g, job_id))["JobStatus"] == JobStatus.COMPLETED


def test_hold_of_a_running_job_requeues_it_held(grid: tuple[Grid, Sink, Path]) -> None:
    g, _, tmp = grid
    [job_id] = submit(g, tmp, "-c 'sleep 60'")
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    wait_for(lambda: status(g, job_id) == JobStatus.RUNNING)
    call(g, job_id, "Hold")
    assert status(g, job_id) == JobStatus.HELD
    assert wait_for(lambda: slurm_row(slurm_id)[0] == "PENDING")
    # the run's end is recorded (its wall time), the job stays held
    wait_for(lambda: g.schedd.get_ad(job_id)["RemoteWallClockTime"] > 0)
    time.sleep(0.6)
    assert status(g, job_id) == JobStatus.HELD
    call(g, job_id, "Remove")
    assert wait_for(lambda: finished(g, job_id))["JobStatus"] == JobStatus.REMOVED


def test_remove_of_a_running_job_cancels_it(grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    [job_id] = submit(g, tmp, "-c 'sleep 60'")
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    wait_for(lambda: status(g, job_id) == JobStatus.RUNNING)
    call(g, job_id, "Remove", Reason="enough")
    assert wait_for(lambda: slurm_row(slurm_id)[0] == "CANCELLED")
    done = wait_for(lambda: finished(g, job_id))
    assert done["JobStatus"] == JobStatus.REMOVED and done["RemoveReason"] == "enough"
    assert sink.named("JobRemoved", job_id)


def test_suspend_and_continue(grid: tuple[Grid, Sink, Path]) -> None:
    g, _, tmp = grid
    [job_id] = submit(g, tmp, "-c 'sleep 60'")
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    wait_for(lambda: status(g, job_id) == JobStatus.RUNNING)
    call(g, job_id, "Suspend")
    assert slurm_row(slurm_id)[0] == "SUSPENDED"
    assert status(g, job_id) == JobStatus.SUSPENDED
    call(g, job_id, "Continue")
    assert slurm_row(slurm_id)[0] == "RUNNING"
    assert status(g, job_id) == JobStatus.RUNNING


def test_set_attribute_reaches_slurm_for_pending_jobs_only(
        grid: tuple[Grid, Sink, Path]) -> None:
    g, _, tmp = grid
    [pending] = submit(g, tmp, "-c true", JobStatus=5)
    call(g, pending, "SetAttribute", Name="RequestCpus", Value="2")
    shown = slurm("scontrol", "show", "job", "-o", g.schedd.get_ad(pending)["SlurmJobId"])
    assert "NumCPUs=2" in shown
    assert g.schedd.get_ad(pending)["RequestCpus"] == 2
    with pytest.raises(ParameterInvalid, match="RequestMemory must be a positive integer"):
        call(g, pending, "SetAttribute", Name="RequestMemory", Value='"lots"')
    call(g, pending, "SetAttribute", Name="Note", Value='"ours only"')
    assert g.schedd.get_ad(pending)["Note"] == "ours only"
    [running] = submit(g, tmp, "-c 'sleep 60'")
    wait_for(lambda: status(g, running) == JobStatus.RUNNING)
    with pytest.raises(FeatureNotImplemented, match="cannot change RequestCpus of running job"):
        call(g, running, "SetAttribute", Name="RequestCpus", Value="2")
    assert g.schedd.get_ad(running)["RequestCpus"] == 1


def test_rejected_submission_leaves_nothing_queued(grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    before = slurm("squeue", "-h", "-t", "all", "-o", "%i").split()
    with pytest.raises(SchedulerError, match="Slurm rejected the submission: .*Memory"):
        submit(g, tmp, "-c true", RequestMemory=1 << 40)
    assert list(g.schedd.jobs()) == [] and g.schedd.history() == []
    assert not sink.named("JobSubmitted")
    with pytest.raises(ParameterInvalid, match="'BAD-NAME'"):
        submit(g, tmp, "-c true", Environment="BAD-NAME=1")
    assert list(g.schedd.jobs()) == []
    # Slurm itself keeps a FAILED record of a job it refused; nothing of it may run
    after = slurm("squeue", "-h", "-t", "all", "-o", "%i|%T").split()
    assert all(row.split("|")[1] == "FAILED" for row in after
               if row.split("|")[0] not in before)
    [ok] = submit(g, tmp, "-c true")
    assert ok == "1.0"     # the refused Submits used no cluster id


def test_scancel_behind_the_agents_back_is_recorded_as_removed(
        grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    running, pending = submit(g, tmp, "-c 'sleep 60'")[0], submit(g, tmp, "-c true",
                                                                   JobStatus=5)[0]
    wait_for(lambda: status(g, running) == JobStatus.RUNNING)
    for job_id in (running, pending):
        slurm("scancel", g.schedd.get_ad(job_id)["SlurmJobId"])
    for job_id in (running, pending):
        done = wait_for(lambda j=job_id: finished(g, j))
        assert done["JobStatus"] == JobStatus.REMOVED
        assert "cancelled outside the agent (scancel)" in done["RemoveReason"]
        assert "scancel" in sink.named("JobRemoved", job_id)[0]["Reason"]


def test_requeuehold_of_a_running_job_behind_the_agents_back(
        grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    [job_id] = submit(g, tmp, "-c 'sleep 60'")
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    wait_for(lambda: status(g, job_id) == JobStatus.RUNNING)
    slurm("scontrol", "requeuehold", slurm_id)
    wait_for(lambda: status(g, job_id) == JobStatus.HELD)
    wait_for(lambda: g.schedd.get_ad(job_id)["RemoteWallClockTime"] > 0)
    time.sleep(0.6)
    assert status(g, job_id) == JobStatus.HELD
    assert "held in Slurm" in sink.named("JobHeld", job_id)[0]["Reason"]


def test_hold_behind_the_agents_back_is_observed(grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    with node_busy() as cpus:
        [job_id] = submit(g, tmp, "-c true", RequestCpus=cpus)
        slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
        slurm("scontrol", "hold", slurm_id)
        wait_for(lambda: status(g, job_id) == JobStatus.HELD)
        assert "held in Slurm" in sink.named("JobHeld", job_id)[0]["Reason"]
        slurm("scontrol", "release", slurm_id)
        wait_for(lambda: status(g, job_id) == JobStatus.IDLE)
        assert sink.named("JobReleased", job_id)


def test_slots_are_slurms_nodes(grid: tuple[Grid, Sink, Path]) -> None:
    g, _, _ = grid
    binding = g.bindings()["slot"]
    wait_for(lambda: binding.keys())
    lines = slurm("sinfo", "-h", "-N", "-o", "%N %c %m").split("\n")
    nodes = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    assert sorted(binding.keys()) == sorted(nodes)
    for name, (cpus, memory) in nodes.items():
        values = binding.state(name).values
        assert values["Cpus"] == int(cpus) and values["Memory"] == int(memory)
        assert values["State"] in ("Unclaimed", "Claimed", "Owner")
    assert [v.free for v in g.startd.slots()] == [False] * len(nodes)
    assert g.bindings()["scheduler"].state(NAME).values["BackendStatus"] == "up"


def test_polling_is_one_squeue_per_interval_for_all_jobs(tmp_path: Path) -> None:
    g, _ = make_grid(tmp_path)
    cli = CountingCli()
    g.startd.cli = cli
    g.start()
    try:
        ids = [submit(g, tmp_path, "-c 'sleep 30'")[0] for _ in range(10)]
        polls = g.startd.polls
        wait_for(lambda: g.startd.polls >= polls + 5)
        before_squeue, before_polls = cli.calls["squeue"], g.startd.polls
        wait_for(lambda: g.startd.polls >= before_polls + 5)
        squeues = cli.calls["squeue"] - before_squeue
        assert squeues == g.startd.polls - before_polls or squeues == g.startd.polls - before_polls + 1
        assert cli.calls.get("scontrol", 0) == 0   # no per-job questions
        g.bindings()["scheduler"].call(NAME, "Act", {"Action": "Remove", "Jobs": ids}, ROOT)
        assert cli.calls["scancel"] == 1           # one call for all ten
    finally:
        g.stop("fast")
        g.close()


def _restart_slurmctld() -> None:
    subprocess.run(["slurmctld"], check=True, timeout=60)
    wait_for(lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                    check=False, timeout=30).stdout.strip().rstrip("*")
             in ("idle", "mixed", "allocated"), timeout=90, step=0.5)


def test_polling_survives_slurmctld_restarting_and_slurm_down_at_start(tmp_path: Path) -> None:
    g, sink = make_grid(tmp_path / "a")
    g.start()
    late: Grid | None = None
    try:
        [job_id] = submit(g, tmp_path, "-c 'sleep 3; exit 5'")
        wait_for(lambda: status(g, job_id) == JobStatus.RUNNING)
        slurm("scontrol", "shutdown", "slurmctld")
        try:
            wait_for(lambda: "does not answer" in g.startd.backend_status()["BackendStatus"])
            # an agent started now starts, says Slurm is down, and refuses Submits clearly
            late, _ = make_grid(tmp_path / "b")
            late.start()
            wait_for(lambda: "does not answer" in late.startd.backend_status()["BackendStatus"])
            with pytest.raises(SchedulerError, match="Slurm rejected the submission"):
                submit(late, tmp_path, "-c true")
            assert list(late.schedd.jobs()) == []
            assert status(g, job_id) == JobStatus.RUNNING     # nothing guessed meanwhile
        finally:
            _restart_slurmctld()
        done = wait_for(lambda: finished(g, job_id), timeout=90)
        assert done["JobStatus"] == JobStatus.COMPLETED and done["ExitCode"] == 5
        assert g.startd.backend_status()["BackendStatus"] == "up"
        assert late is not None
        wait_for(lambda: late.startd.backend_status()["BackendStatus"] == "up", timeout=30)
        [again] = submit(late, tmp_path, "-c true")
        assert wait_for(lambda: finished(late, again))["ExitCode"] == 0
    finally:
        for grid_ in (g, late):
            if grid_ is not None:
                grid_.stop("fast")
                grid_.close()


def test_per_proc_values_set_while_held_reach_slurm_at_release(
        grid: tuple[Grid, Sink, Path]) -> None:
    """The console's way: a held cluster, per-proc Edits, then one Release."""
    g, _, tmp = grid
    ids = submit(g, tmp, "-c 'exit 9'", count=3, JobStatus=5)
    old = [g.schedd.get_ad(i)["SlurmJobId"] for i in ids]
    scheduler = g.bindings()["scheduler"]
    for n, job_id in enumerate(ids):
        scheduler.call(NAME, "Edit", {"Jobs": [job_id], "Name": "Arguments",
                                      "Value": f"\"-c 'echo {n} > f{n}'\""}, ROOT)
    assert [g.schedd.get_ad(i)["SlurmJobId"] for i in ids] == old   # nothing sent yet
    scheduler.call(NAME, "Act", {"Action": "Release", "Constraint": "true"}, ROOT)
    new = [g.schedd.get_ad(i)["SlurmJobId"] for i in ids]
    assert len({sid.split("_")[0] for sid in new}) == 1 and not set(new) & set(old)
    for n, job_id in enumerate(ids):
        assert wait_for(lambda j=job_id: finished(g, j))["ExitCode"] == 0
        assert (tmp / f"f{n}").read_text() == f"{n}\n"
    array = old[0].split("_")[0]   # never split into tasks: listed as one record
    assert set(slurm("squeue", "-h", "-t", "all", "-j", array, "-o", "%T").split()) == {
        "CANCELLED"}


def test_changing_what_an_idle_job_runs_replaces_its_slurm_job(
        grid: tuple[Grid, Sink, Path]) -> None:
    g, sink, tmp = grid
    with node_busy() as cpus:
        [job_id] = submit(g, tmp, "-c 'exit 9'", RequestCpus=cpus)
        old = g.schedd.get_ad(job_id)["SlurmJobId"]
        call(g, job_id, "SetAttribute", Name="Arguments", Value="\"-c 'exit 4'\"")
        new = g.schedd.get_ad(job_id)["SlurmJobId"]
        assert new != old and slurm_row(old)[0] == "CANCELLED"
        time.sleep(0.6)   # the old Slurm job's end is not taken for this job's
        assert status(g, job_id) == JobStatus.IDLE
    assert wait_for(lambda: finished(g, job_id), timeout=120)["ExitCode"] == 4
    assert not sink.named("JobRemoved", job_id)


def test_agent_restart_picks_up_its_slurm_jobs(tmp_path: Path) -> None:
    g, _ = make_grid(tmp_path)
    g.start()
    try:
        [job_id] = submit(g, tmp_path, "-c 'sleep 2; exit 6'")
        slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
        wait_for(lambda: status(g, job_id) == JobStatus.RUNNING)
    finally:
        g.stop("fast")
        g.close()
    # stopping the agent leaves Slurm's jobs alone
    assert slurm_row(slurm_id)[0] in ("RUNNING", "COMPLETING", "FAILED")
    wait_for(lambda: slurm_row(slurm_id)[0] == "FAILED")
    again, sink = make_grid(tmp_path)
    again.start()
    try:
        done = wait_for(lambda: finished(again, job_id))
        assert done["JobStatus"] == JobStatus.COMPLETED and done["ExitCode"] == 6
        assert sink.named("JobCompleted", job_id)
    finally:
        again.stop("fast")
        again.close()


def test_jobs_gone_from_squeue_come_from_the_completion_log_or_are_removed(
        tmp_path: Path) -> None:
    """After a restart, jobs Slurm purged (MinJobAge) are found in the completion
    log; one Slurm has no record of at all is removed with the reason."""
    comp = tmp_path / "jobcomp.log"
    comp.write_text("JobId=999998 UserId=root(0) GroupId=root(0) Name=x JobState=FAILED "
                    "Partition=debug StartTime=2026-11-22T01:00:00 EndTime=2026-11-22T01:00:09 "
                    "NodeList=vm ExitCode=7:0 \n")
    extra = f"SLURM_JOBCOMP_LOG = {comp}\n"
    g, _ = make_grid(tmp_path, extra)
    try:
        purged, lost = (submit(g, tmp_path, "-c true", JobStatus=5)[0] for _ in range(2))
        for job_id, fake in ((purged, "999998"), (lost, "999999")):
            g.schedd.edit(ROOT, "SlurmJobId", f'"{fake}"', ids=[job_id])
            subprocess.run(["scancel", g.startd.slurm_id(job_id) or ""], check=False)
    finally:
        g.close()
    again, sink = make_grid(tmp_path, extra)
    again.start()
    try:
        done = wait_for(lambda: finished(again, purged))
        assert done["JobStatus"] == JobStatus.COMPLETED and done["ExitCode"] == 7
        assert done["RemoteWallClockTime"] == 9.0
        gone = wait_for(lambda: finished(again, lost))
        assert gone["JobStatus"] == JobStatus.REMOVED
        assert "no record of Slurm job 999999" in gone["RemoveReason"]
    finally:
        again.stop("fast")
        again.close()


def test_jobs_queued_under_the_local_backend_go_to_slurm(tmp_path: Path) -> None:
    conf = tmp_path / "local.conf"
    conf.write_text(f"SCHEDD_NAME = {NAME}\n")
    local = Grid(Config(conf), tmp_path / "state", Sink(), "local")
    try:
        ids = submit(local, tmp_path, "-c 'echo $CONDOR_ID > o$CONDOR_ID'", count=2, JobStatus=5)
    finally:
        local.close()
    g, _ = make_grid(tmp_path)
    g.start()
    try:
        wait_for(lambda: all(g.schedd.get_ad(i).get("SlurmJobId") for i in ids))
        g.schedd.act("release", ROOT, ids=ids)
        for job_id in ids:
            assert wait_for(lambda j=job_id: finished(g, j))["ExitCode"] == 0
            assert (tmp_path / f"o{job_id}").read_text() == f"{job_id}\n"
    finally:
        g.stop("fast")
        g.close()


def test_job_runs_as_its_owner(grid: tuple[Grid, Sink, Path]) -> None:
    users = [p for p in pwd.getpwall() if 1000 <= p.pw_uid < 60000 and p.pw_name != "slurm"]
    if os.geteuid() != 0 or not users:
        pytest.skip("needs root and an ordinary user account")
    user = users[0]
    g, _, _ = grid
    with tempfile.TemporaryDirectory(dir="/tmp") as where:   # a place the user can reach
        iwd = Path(where)
        iwd.chmod(0o777)
        [job_id] = submit(g, iwd, "-c 'id -u; id -g'", Owner=user.pw_name, Out="who.txt")
        done = wait_for(lambda: finished(g, job_id))
        assert done["ExitCode"] == 0 and done["Owner"] == user.pw_name
        assert (iwd / "who.txt").read_text().split() == [str(user.pw_uid), str(user.pw_gid)]
        assert (iwd / "who.txt").stat().st_uid == user.pw_uid


def test_quick_hold_release_hold_is_not_undone_by_slurms_lag(
        grid: tuple[Grid, Sink, Path]) -> None:
    """Slurm carries out a requeue-hold in steps (RUNNING, COMPLETING, PENDING):
    the poller must not take the old state for a change made behind our back."""
    g, sink, tmp = grid
    [job_id] = submit(g, tmp, "-c 'sleep 120'")
    wait_for(lambda: status(g, job_id) == JobStatus.RUNNING)
    call(g, job_id, "Hold")
    seen = set()
    for _ in range(30):            # 3 s, many polls while Slurm requeues the job
        seen.add(status(g, job_id))
        time.sleep(0.1)
    assert seen == {JobStatus.HELD}
    call(g, job_id, "Release")
    call(g, job_id, "Hold")
    time.sleep(2.0)
    assert status(g, job_id) == JobStatus.HELD
    assert not [e for e in sink.named("JobReleased", job_id) if "Slurm" in e["Reason"]]
    assert not [e for e in sink.named("JobHeld", job_id) if "Slurm" in e["Reason"]]


def test_hold_of_a_job_slurm_started_before_the_agent_saw_it(
        grid: tuple[Grid, Sink, Path]) -> None:
    g, _, tmp = grid
    g.startd.stop()                        # no polls: our queue still has it Idle
    [job_id] = submit(g, tmp, "-c 'sleep 60'")
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    wait_for(lambda: slurm_row(slurm_id)[0] == "RUNNING")
    assert status(g, job_id) == JobStatus.IDLE
    call(g, job_id, "Hold")
    wait_for(lambda: slurm_row(slurm_id)[0] == "PENDING")
    assert "held" in slurm_row(slurm_id)[1].lower()
    g.startd.start()
    time.sleep(1.5)
    assert status(g, job_id) == JobStatus.HELD


def test_large_counts_go_as_several_arrays(tmp_path: Path) -> None:
    g, _ = make_grid(tmp_path, "SLURM_ARRAY_LIMIT = 2\n")
    g.start()
    try:
        ids = submit(g, tmp_path, "-c 'echo $CONDOR_ID > p$CONDOR_ID'", count=5)
        slurm_ids = [g.schedd.get_ad(i)["SlurmJobId"] for i in ids]
        arrays = [sid.split("_")[0] for sid in slurm_ids]
        assert len(set(arrays)) == 3 and "_" not in slurm_ids[4]
        assert [sid.split("_")[1] for sid in slurm_ids[:4]] == ["0", "1", "0", "1"]
        for job_id in ids:
            assert wait_for(lambda j=job_id: finished(g, j))["ExitCode"] == 0
            assert (tmp_path / f"p{job_id}").read_text() == f"{job_id}\n"
    finally:
        g.stop("fast")
        g.close()


def test_jobs_run_again_after_their_slurm_job_ended(grid: tuple[Grid, Sink, Path]) -> None:
    """On-exit policy: requeued (OnExitRemove false) or held (OnExitHold) after
    the Slurm job ended, the job gets a new Slurm job when it is idle again."""
    g, _, tmp = grid
    [again] = submit(g, tmp, "-c 'exit 0'", OnExitRemove=classad.ExprTree("NumJobStarts >= 2"))
    first = g.schedd.get_ad(again)["SlurmJobId"]
    done = wait_for(lambda: finished(g, again))
    assert done["NumJobStarts"] == 2 and done["SlurmJobId"] != first
    [held] = submit(g, tmp, "-c 'exit 3'", OnExitHold=classad.ExprTree("NumJobStarts < 2"))
    wait_for(lambda: status(g, held) == JobStatus.HELD)
    before = g.schedd.get_ad(held)["SlurmJobId"]
    call(g, held, "Release")
    assert g.schedd.get_ad(held)["SlurmJobId"] != before
    done = wait_for(lambda: finished(g, held))
    assert done["ExitCode"] == 3 and done["NumJobStarts"] == 2


def test_job_ends_come_from_the_completion_log_between_listings(tmp_path: Path) -> None:
    """Listings a minute apart: a short job's run and exit code are recorded
    from its completion record within seconds, with no listing more."""
    g, sink = make_grid(tmp_path, "SLURM_POLL_INTERVAL = 60\n")
    cli = CountingCli()
    g.startd.cli = cli
    g.start()
    try:
        wait_for(lambda: g.startd.polls >= 1)
        [job_id] = submit(g, tmp_path, "-c 'exit 5'")
        slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
        done = wait_for(lambda: finished(g, job_id), timeout=50)   # the next listing: 60 s
        assert done["JobStatus"] == JobStatus.COMPLETED and done["ExitCode"] == 5
        assert done["SlurmJobId"] == slurm_id
        assert g.startd.polls == 1 and cli.calls["squeue"] == 1
        moves = [(e["From"], e["To"]) for e in sink.named("JobStatusChanged", job_id)]
        assert moves == [(1, 2), (2, 4)]
    finally:
        g.stop("fast")
        g.close()


def _sbatch_children() -> list[int]:
    """Our own child processes that are sbatch (the spare, waiting)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, _, rest = text.partition(") ")
        if comm.endswith("(sbatch") and int(rest.split()[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


def test_one_spare_sbatch_waits_and_stopping_ends_it(tmp_path: Path) -> None:
    g, _ = make_grid(tmp_path)
    g.start()
    try:
        wait_for(lambda: len(_sbatch_children()) == 1, timeout=30, step=0.5)   # started by the poller
        ids = [submit(g, tmp_path, "-c 'exit 0'")[0] for _ in range(5)]
        assert len({g.schedd.get_ad(j)["SlurmJobId"] for j in ids}) == 5
        wait_for(lambda: len(_sbatch_children()) == 1, timeout=30)   # one, not one per Submit
        for job_id in ids:
            assert wait_for(lambda j=job_id: finished(g, j))["ExitCode"] == 0
    finally:
        g.stop("fast")
        g.close()
    assert _sbatch_children() == []
