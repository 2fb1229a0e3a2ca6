"""The qmf CLI against a real agent: through main(argv) and as a program."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "console"))
from console_agent_process import AgentProcess, free_port, subprocess_env  # noqa: E402

from console.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    proc = AgentProcess(tmp_path_factory.mktemp("agent")).start()
    yield proc
    from console._connection import forget_sessions

    forget_sessions()
    proc.stop()


@pytest.fixture
def qmf(agent, capsys, monkeypatch, tmp_path):
    """Run ``qmf ARGS`` in-process against the agent; (status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--url", agent.url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    run.url = agent.url  # type: ignore[attr-defined]
    return run


def submit(qmf, tmp_path: Path, text: str) -> int:
    f = tmp_path / "job.sub"
    f.write_text(text)
    code, out, err = qmf("--json", "submit", str(f))
    assert code == 0, err
    return int(json.loads(out)["cluster"])


def wait_done(qmf, cluster: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, out, _ = qmf("--json", "q", str(cluster))
        if code == 0 and json.loads(out) == []:
            return
        time.sleep(0.3)
    raise AssertionError(f"cluster {cluster} still queued after {timeout}s")


def test_submit_q_history(qmf, tmp_path):
    cluster = submit(qmf, tmp_path, "executable = /bin/sh\narguments = \"-c 'echo $(Process)'\"\n"
                                    "output = o.$(Process)\nerror = e.$(Cluster).$(Process)\nqueue 2\n")
    wait_done(qmf, cluster)
    assert (tmp_path / "o.0").read_text() == "0\n" and (tmp_path / "o.1").read_text() == "1\n"
    assert (tmp_path / f"e.{cluster}.1").exists()
    code, out, _ = qmf("history", str(cluster))
    assert code == 0
    assert out.splitlines()[0].split() == ["ID", "OWNER", "SUBMITTED", "RUN_TIME", "ST", "COMPLETED", "CMD"]
    assert {line.split()[0] for line in out.splitlines()[1:]} == {f"{cluster}.0", f"{cluster}.1"}
    code, out, _ = qmf("history", "-af", "ProcId", "ExitCode", "-constraint", f"ClusterId == {cluster}")
    assert sorted(out.splitlines()) == ["0 0", "1 0"]


def test_q_views(qmf, tmp_path):
    # requirements = false: the jobs stay queued (idle) while the views are read
    cluster = submit(qmf, tmp_path, "executable = /bin/sleep\narguments = 300\n+Color = \"blue\"\n"
                                    "requirements = false\nqueue 3\n")
    code, out, _ = qmf("q")
    assert code == 0
    assert "OWNER" in out and "BATCH_NAME" in out and f"ID: {cluster}" in out
    assert f"{cluster}.0-2" in out
    assert "Total for query:" in out
    code, out, _ = qmf("q", "-nobatch", str(cluster))
    rows = [line.split() for line in out.splitlines() if line.startswith(f"{cluster}.")]
    assert [r[0] for r in rows] == [f"{cluster}.0", f"{cluster}.1", f"{cluster}.2"]
    assert all(r[-2:] == ["sleep", "300"] for r in rows)
    code, out, _ = qmf("q", str(cluster), "-af", "ProcId", "Color", "NoSuchAttr")
    assert out.splitlines() == ["0 blue undefined", "1 blue undefined", "2 blue undefined"]
    code, out, _ = qmf("q", f"{cluster}.1", "-long")
    assert 'Color = "blue"' in out and f"ClusterId = {cluster}" in out
    code, out, _ = qmf("--json", "q", "-constraint", f"ClusterId == {cluster} && ProcId > 0")
    assert sorted(a["ProcId"] for a in json.loads(out)) == [1, 2]
    assert qmf("rm", str(cluster))[0] == 0


def test_hold_release_rm_edit(qmf, tmp_path):
    cluster = submit(qmf, tmp_path, "executable = /bin/sleep\narguments = 300\nrequirements = false\nqueue 2\n")
    code, out, _ = qmf("hold", f"{cluster}.0", "-reason", "cli test")
    assert (code, out) == (0, "1 job(s) held.\n")
    code, out, _ = qmf("q", "-hold", str(cluster))
    assert "cli test" in out and f"{cluster}.0" in out and f"{cluster}.1" not in out
    code, _, err = qmf("hold", f"{cluster}.0")
    assert code == 1 and err == "qmf hold: no job held: 1 already done\n"
    code, out, _ = qmf("release", str(cluster))
    assert (code, out) == (0, "1 job(s) released.\n")
    code, out, _ = qmf("edit", f"{cluster}.1", "Color", '"red"')
    assert (code, out) == (0, "Set attribute Color in 1 job(s).\n")
    assert qmf("q", f"{cluster}.1", "-af", "Color")[1] == "red\n"
    code, out, _ = qmf("--json", "rm", "-constraint", f"ClusterId == {cluster}")
    assert code == 0 and json.loads(out)["TotalSuccess"] == 2


def test_errors_are_one_line_and_non_zero(qmf, tmp_path):
    code, out, err = qmf("hold", "99999.0")
    assert code == 1 and out.endswith("0 job(s) held.\n")
    assert err == "qmf hold: no matching job in the queue (99999.0)\n"
    code, _, err = qmf("q", "-constraint", "ClusterId ==")
    assert code == 1 and err.startswith("qmf q: bad constraint") and len(err.splitlines()) == 1
    code, _, err = qmf("edit", "99999.0", "Color", "1")
    assert code == 1 and err == "qmf edit: no job matched 99999.0\n"
    code, _, err = qmf("edit", "1.0", "Owner", "x y")
    assert code == 1 and "bad value" in err
    code, _, err = qmf("call", "job:99999.0", "Hold")
    assert code == 1 and err == "qmf call: no object job:99999.0\n"
    code, _, err = qmf("call", "scheduler", "NoSuchMethod")
    assert code == 1 and "NoSuchMethod" in err and len(err.splitlines()) == 1
    code, _, err = qmf("hold")
    assert code == 2 and "give job ids" in err
    code, _, err = qmf("q", "-analyze", "99999.0")
    assert code == 1 and "99999.0" in err


def test_submit_spool_and_retrieve(qmf, tmp_path):
    (tmp_path / "in.txt").write_text("over the bus\n")
    f = tmp_path / "s.sub"
    f.write_text("executable = /bin/cat\ninput = in.txt\noutput = s.out\nqueue\n")
    code, out, err = qmf("--json", "submit", str(f), "-spool")
    assert code == 0, err
    cluster = json.loads(out)["cluster"]
    wait_done(qmf, cluster)
    assert not (tmp_path / "s.out").exists()  # the job ran in the agent's spool directory
    code, out, err = qmf("retrieve", str(cluster))
    assert code == 0, err
    assert out == f"{tmp_path / 's.out'}\n"
    assert (tmp_path / "s.out").read_text() == "over the bus\n"
    code, _, err = qmf("retrieve", "99999")
    assert code == 1 and err == "qmf retrieve: no output files to retrieve for 99999\n"


def test_status_agents_objects_call(qmf, agent):
    code, out, _ = qmf("status")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["Name", "OpSys", "Arch", "State"]
    assert sum(1 for line in lines if line.startswith("slot")) == 2
    assert lines[-1].split()[:2] == ["Total", "2"]
    code, out, _ = qmf("--json", "status", "-constraint", 'State == "Unclaimed" || State == "Claimed"')
    assert code == 0 and len(json.loads(out)) == 2
    code, out, _ = qmf("agents")
    assert f"redhat.com:qmf-grid:test{agent.port}" in out
    code, out, _ = qmf("objects", "scheduler")
    assert out.startswith("== mrg.grid:scheduler:") and "TotalJobAds" in out
    code, out, _ = qmf("--json", "call", "scheduler", "Query", "Constraint=false", "Limit=5")
    assert code == 0 and json.loads(out) == {"Jobs": []}
    code, out, _ = qmf("call", "master", "GetConfig", 'Names=["NUM_SLOTS"]')
    assert code == 0 and '"NUM_SLOTS": "2"' in out


def test_analyze(qmf, tmp_path):
    cluster = submit(qmf, tmp_path, "executable = /bin/true\nrequirements = TARGET.Memory > 100000000\nqueue\n")
    code, out, _ = qmf("q", "-analyze", f"{cluster}.0")
    assert code == 0
    assert "2 slots considered, 0 match the job" in out
    code, out, _ = qmf("--json", "q", "-analyze", f"{cluster}.0")
    assert json.loads(out)["Matching"] == 0
    qmf("rm", str(cluster))


def test_watch_filters_events(qmf, agent, tmp_path):
    import threading

    from console import Session

    stop = threading.Event()

    def keep_submitting() -> None:
        # until the watcher has what it needs: it may take a moment to subscribe
        with Session(agent.url) as s:
            (scheduler,) = s.getObjects(_class="scheduler")
            while not stop.wait(1.0):
                scheduler.Submit({"Cmd": "/bin/true", "Requirements": True, "JobUniverse": 5,
                                  "Iwd": "/tmp", "Owner": "nobody"})

    t = threading.Thread(target=keep_submitting)
    t.start()
    try:
        code, out, _ = qmf("--json", "watch", "--class", "JobSubmitted", "--owner", "nobody",
                           "--constraint", 'Event == "JobSubmitted" && Owner == "nobody"',
                           "--count", "2", "--for", "60")
    finally:
        stop.set()
        t.join()
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["JobSubmitted", "JobSubmitted"]
    assert all(e["values"]["Owner"] == "nobody" for e in events)
    code, _, err = qmf("watch", "--constraint", "((", "--for", "1")
    assert code == 1 and "bad constraint" in err


def test_daemon_and_top(qmf):
    code, out, _ = qmf("daemon", "reconfig")
    assert code == 0 and out.startswith("Sent reconfig")
    code, out, _ = qmf("top", "--once")
    assert code == 0
    assert "Slots: 2 total" in out and "Jobs:  total" in out and "Rates:" in out
    assert "\x1b[" not in out
    code, _, err = qmf("daemon", "on")
    assert code == 2 and "needs --subsystem" in err
    code, out, _ = qmf("daemon", "off", "--subsystem", "negotiator")
    assert (code, out) == (0, f"Sent off NEGOTIATOR to {qmf.url}\n")
    code, out, _ = qmf("daemon", "on", "--subsystem", "NEGOTIATOR")
    assert code == 0
    code, _, err = qmf("daemon", "off", "--subsystem", "BOGUS")
    assert code == 1 and "BOGUS" in err and len(err.splitlines()) == 1


def test_as_a_program(agent, tmp_path):
    env = subprocess_env(QMF_URL=agent.url)
    (tmp_path / "j.sub").write_text("executable = /bin/true\nqueue 2\n")
    done = subprocess.run([sys.executable, "-m", "console", "submit", "j.sub"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"2 job\(s\) submitted to cluster \d+\.\n", done.stdout)
    bad = subprocess.run([sys.executable, "-m", "console", "--url", f"amqp://127.0.0.1:{free_port()}",
                          "--timeout", "2", "q"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "is the agent running?" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "console", "nonsense"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    missing = subprocess.run([sys.executable, "-m", "console", "submit", "nope.sub"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and missing.stderr == "qmf submit: cannot read submit file nope.sub: No such file or directory\n"


@pytest.mark.skipif(shutil.which("qmf") is None, reason="the qmf script is not installed")
def test_installed_qmf_script(agent):
    done = subprocess.run(["qmf", "--url", agent.url, "agents"], env=subprocess_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"test{agent.port}" in done.stdout
