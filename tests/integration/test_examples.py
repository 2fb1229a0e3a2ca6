"""The examples run as programs against a real agent; their output is checked."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "console"))
from console_agent_process import REPO, AgentProcess, subprocess_env  # noqa: E402
from qmf_testing import slurm_agent_config, slurm_nodes  # noqa: E402

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module", params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def agent(request, tmp_path_factory):
    """The agent the examples talk to: jobs on its own slots, or in Slurm."""
    extra = slurm_agent_config() if request.param == "slurm" else ""
    proc = AgentProcess(tmp_path_factory.mktemp("agent"), extra_config=extra).start()
    proc.slots = slurm_nodes() if request.param == "slurm" else 2   # NUM_SLOTS of its config
    yield proc
    from console._connection import forget_sessions

    forget_sessions()
    proc.stop()


def run_example(name: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_seed_tutorial(agent, tmp_path):
    done = run_example("seed_tutorial.py", "--url", agent.url, "--workdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for line in (
        '[ Hello = "World" ]',
        '[ Hello = "World"; foo = "bar"; bar = { 1,2,3 }; baz = bar ]',
        "[1, 2, 3]",
        "classad.Value.Undefined",
        "KeyError: 'bar'",
        "[ foo = [ bar = true ] ]",
        f"schedd: test{agent.port}",
        "demo ads without a Name: 0",
        "demo ads: 1 foo = 1",
        f"startd ads: {agent.slots} first has Cpus: True",
        "test.out: 'Hello world\\n'",
        "foo = bar",
        "foo = 42",
        "hold: TotalSuccess = 1 TotalJobAds = 1",
        "hold again: TotalAlreadyDone = 1",
        "remove: TotalSuccess = 1",
        "ad_results: 1 JobStatus: 5",
        "retrieved spool.out: 'Hello spool\\n'",
        "remove: TotalJobAds = 1",
        "reconfig sent",
        "param lookup works: True",
        "sessions invalidated; queue still answers: True",
        "tutorial complete",
    ):
        assert line in out, f"missing {line!r} in:\n{out}"
    assert f"MyAddress: <127.0.0.1:{agent.port}" in out


def test_qmf_submit(agent, tmp_path):
    import console as htcondor

    # the job sleeps long enough to be found in the queue however slow the machine
    done = run_example("qmf_submit.py", "--url", agent.url, "--seconds", "600", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Submitted job: ") and lines[0].endswith(".0")
    job_id = lines[0].split(": ")[1]
    htcondor.Schedd(agent.url).act(htcondor.JobAction.Remove, [job_id])
    assert lines[1] in ("Job status: Idle", "Job status: Running")
    assert lines[2] == "Job properties:"
    props = dict(line.strip().split(" = ", 1) for line in lines[3:])
    assert props["Cmd"] == "/bin/sleep" and props["Args"] == "600" and props["Owner"] == "nobody"
    assert props["CustomId"] == job_id and props["Iwd"] == "/tmp"


def test_qmf_submit_reports_a_refused_job(tmp_path):
    done = run_example("qmf_submit.py", "--url", "amqp://127.0.0.1:1", cwd=tmp_path, timeout=60)
    assert done.returncode != 0
    assert "ConnectionError" in done.stderr or "TransportError" in done.stderr


def test_fleet_monitor_sees_heartbeats_events_and_a_lost_agent(tmp_path):
    watched = AgentProcess(tmp_path / "fleet").start()
    try:
        errors = open(tmp_path / "monitor.err", "w+")
        monitor = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "fleet_monitor.py"), "--url", watched.url, "--for", "30"],
            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=errors, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(monitor.stdout.readline, "")), daemon=True)
        reader.start()

        def printed(text: str) -> bool:
            return any(text in line for line in list(lines))

        from console import Session

        # the monitor says "watching" once its session (and subscription) is up
        assert _until(lambda: printed("watching"), 60), f"monitor did not start: {lines}"
        with Session(watched.url) as s:
            (scheduler,) = s.getObjects(_class="scheduler")
            assert scheduler.Submit({"Cmd": "/bin/true", "Requirements": True, "JobUniverse": 5,
                                     "Iwd": "/tmp", "Owner": "nobody"}).status == 0
        assert _until(lambda: printed("event       JobSubmitted") and printed("heartbeat"), 30), lines
        watched.stop()
        monitor.wait(timeout=60)
        reader.join(timeout=10)
        out = "".join(lines)
        errors.seek(0)
        err = errors.read()
        errors.close()
    finally:
        watched.stop()
    assert monitor.returncode == 0, err
    name = f"redhat.com:qmf-grid:test{watched.port}"
    assert f"agent up    {name}" in out
    assert f"heartbeat   {name}" in out
    assert "event       JobSubmitted" in out
    assert f"agent LOST  {name}" in out
    assert "summary: 1 agent(s)" in out and "1 lost" in out


def _until(cond, timeout: float) -> bool:
    """Poll *cond* until it holds (True) or *timeout* seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_auto_release_releases_at_most_n_times(agent, tmp_path):
    import console as htcondor
    from console import classad

    schedd = htcondor.Schedd(agent.url)
    cluster = schedd.submit(classad.ClassAd({"Cmd": "/bin/sleep", "Args": "300", "Iwd": str(tmp_path),
                                             "Requirements": classad.ExprTree("false")}))
    job = f"{cluster}.0"
    outputs = []
    for _ in range(3):
        schedd.act(htcondor.JobAction.Hold, [job], "test hold")
        done = run_example("auto_release.py", "--url", agent.url, "--codes", "1", "--max", "2", "--once",
                           cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert f"{job}: released (1/2), hold code 1" in outputs[0]
    assert f"{job}: released (2/2), hold code 1" in outputs[1]
    assert f"{job}: released 2 times already; left held" in outputs[2]
    other = run_example("auto_release.py", "--url", agent.url, "--codes", "26", "--once", cwd=tmp_path)
    assert f"{job}: hold code 1 not in [26]; left held" in other.stdout
    (ad,) = schedd.query(f"ClusterId == {cluster}", ["JobStatus", "AutoReleaseCount"])
    assert ad["JobStatus"] == 5 and ad["AutoReleaseCount"] == 2
    bad = run_example("auto_release.py", "--url", agent.url, "--codes", "x", "--once", cwd=tmp_path)
    assert bad.returncode == 2 and "--codes must be integers" in bad.stderr
    schedd.act(htcondor.JobAction.Remove, [job])
