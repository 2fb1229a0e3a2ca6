"""The real `python3 -m qmf_agent` process, driven over the wire.

Each agent listens on a free loopback port with its own state directory;
the tests talk to it with the transport's Client and the protocol module,
exactly as a console does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from qmf_testing import BROKER_URL, free_port

import classad
from qmf_agent.errors import Forbidden, ParameterInvalid
from qmf_agent.protocol import (
    agent_locate_request,
    decode_response,
    method_request,
    query_request,
)
from qmf_agent.transport import Client, Security

REPO = Path(__file__).resolve().parents[2]
NAME = "itest"
AGENT = f"redhat.com:qmf-grid:{NAME}"
START_TIMEOUT = 60.0


@dataclass
class RunningAgent:
    proc: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    config: Path
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_agent(tmp: Path, config_text: str, *extra: str, port: int | None = None,
                wait: bool = True) -> RunningAgent:
    tmp.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = tmp / "agent.conf"
    if not config.exists():
        config.write_text(config_text)
    log = tmp / "agent.log"
    args = [sys.executable, "-m", "qmf_agent", "--state-dir", str(tmp / "state"),
            "--config", str(config), "--name", NAME, *extra]
    if "--broker" not in extra and "--listen" not in extra:
        args += ["--listen", f"127.0.0.1:{port}"]
    with open(log, "ab") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    agent = RunningAgent(proc, f"amqp://127.0.0.1:{port}", tmp / "state", config, log)
    if wait:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"agent exited {proc.returncode}:\n{agent.stderr()}")
            if "--broker" in extra and "serving on" in agent.stderr():
                break
            if "--broker" not in extra and _port_open(port) and "serving on" in agent.stderr():
                break
            time.sleep(0.05)
        else:
            proc.kill()
            raise AssertionError(f"agent did not start:\n{agent.stderr()}")
    return agent


def stop_agent(agent: RunningAgent) -> int:
    if agent.proc.poll() is None:
        agent.proc.send_signal(signal.SIGTERM)
    try:
        return agent.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        agent.proc.kill()
        agent.proc.wait()
        raise AssertionError(f"agent ignored SIGTERM:\n{agent.stderr()}") from None


CONFIG = "NUM_SLOTS = 2\nNEGOTIATOR_INTERVAL = 0.5\nHEARTBEAT_INTERVAL = 1\n"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path_factory.mktemp("agent"), CONFIG)
    yield running
    stop_agent(running)


@pytest.fixture(scope="module")
def client(agent: RunningAgent) -> Iterator[Client]:
    with Client(agent.url, timeout=20.0) as c:
        yield c


def objects(client: Client, class_name: str, agent: str = AGENT) -> list[dict[str, Any]]:
    answer = decode_response(client.request(query_request("OBJECT", class_name=class_name), agent=agent))
    assert isinstance(answer, list)
    return answer


def call(client: Client, obj: dict[str, Any], method: str, agent: str = AGENT, **args: Any) -> dict[str, Any]:
    answer = decode_response(client.request(method_request(obj["_object_id"], method, args), agent=agent))
    assert isinstance(answer, dict)
    return answer


def true_job() -> dict[str, Any]:
    """A job ad in the typed encoding (the 2009 QMF prototype's)."""
    return {"Cmd": "/bin/true", "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"}, "JobUniverse": 5,
            "Iwd": "/tmp", "Owner": os.environ.get("USER", "root")}


def the(client: Client, class_name: str) -> dict[str, Any]:
    (obj,) = objects(client, class_name)
    return obj


def test_locate_finds_the_agent_by_name(client: Client) -> None:
    answers = [decode_response([m]) for m in client.broadcast(agent_locate_request(), wait=1.0)]
    mine = [a for a in answers if isinstance(a, dict) and a.get("_name") == AGENT]
    assert len(mine) == 1
    assert mine[0]["_instance"] == NAME
    assert mine[0]["_epoch"] >= 1


def test_every_daemon_object_is_there(client: Client) -> None:
    master = the(client, "master")["_values"]
    assert master["Name"] == NAME
    assert master["RealUid"] == os.getuid()
    assert master["CondorVersion"].startswith("$CondorVersion:")
    collector = the(client, "collector")["_values"]
    assert collector["Name"] == NAME
    assert the(client, "scheduler")["_values"]["Name"] == NAME
    assert the(client, "negotiator")["_values"]["Name"] == NAME
    assert len(objects(client, "slot")) == 2


def test_configuration_over_the_wire(client: Client, agent: RunningAgent) -> None:
    master = the(client, "master")
    assert call(client, master, "GetConfig", Names=["NUM_SLOTS", "NOPE"]) == {"Config": {"NUM_SLOTS": "2"}}
    assert call(client, master, "GetRawConfig", Name="LOCAL_DIR") == {"Value": str(agent.state_dir)}
    with pytest.raises(ParameterInvalid, match="no configuration variable 'NOPE'"):
        call(client, master, "GetRawConfig", Name="NOPE")
    # anonymous on loopback is an admin by default (QMF_ANONYMOUS_ADMIN = auto)
    call(client, master, "SetRawConfig", Name="MY_KNOB", Value="$(NUM_SLOTS)0")
    assert "MY_KNOB = $(NUM_SLOTS)0" in agent.config.read_text()
    assert call(client, master, "GetConfig", Names=["MY_KNOB"])["Config"] == {"MY_KNOB": "20"}
    call(client, master, "Reconfig")


def test_the_collector_lists_the_agents_daemons_with_their_address(client: Client, agent: RunningAgent) -> None:
    collector = the(client, "collector")
    out = call(client, collector, "Locate", DaemonType="Schedd")
    schedd = classad.decode_job_ad(out["Ad"])[0]
    assert schedd.eval("Name") == NAME
    assert schedd.eval("QmfUrl") == agent.url
    assert schedd.eval("QmfAgent") == AGENT
    assert schedd.eval("MyAddress") == f"<{agent.url[len('amqp://'):]}?agent={AGENT}>"
    masters = call(client, collector, "LocateAll", DaemonType="Master")["Ads"]
    assert [classad.decode_job_ad(a)[0].eval("MyType") for a in masters] == ["DaemonMaster"]
    slots = call(client, collector, "Query", AdType="Startd", Constraint="Cpus >= 1",
                 Projection=["Name", "State"])["Ads"]
    assert len(slots) == 2


def test_the_tutorials_collector_interaction(client: Client) -> None:
    collector = the(client, "collector")
    demo = classad.encode_job_ad(classad.ClassAd({"MyType": "Demo", "foo": 1, "Name": "DemoAd"}), "typed")
    call(client, collector, "Advertise", Ads=[demo], Command="UPDATE_AD_GENERIC")
    ads = call(client, collector, "Query", AdType="Any", Constraint='MyType =?= "Demo"')["Ads"]
    (found,) = [classad.decode_job_ad(a)[0] for a in ads]
    assert found.eval("foo") == 1
    assert found.eval("AuthenticatedIdentity") == "unauthenticated@unmapped"
    assert abs(found.eval("LastHeardFrom") - time.time()) < 600


def test_a_job_runs_through_the_assembled_agent(client: Client, tmp_path: Path) -> None:
    scheduler = the(client, "scheduler")
    ad = {"Cmd": "/bin/echo", "Args": "hello from qmf", "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"},
          "JobUniverse": 5, "Iwd": str(tmp_path), "Owner": os.environ.get("USER", "root"),
          "Out": str(tmp_path / "out.txt")}
    job_id = call(client, scheduler, "Submit", Ad=ad)["Id"]
    deadline = time.monotonic() + 60
    status: int | None = 1
    while time.monotonic() < deadline:
        jobs = decode_response(client.request(
            query_request("OBJECT", class_name="job", where=["eq", "CustomId", ["quote", job_id]]),
            agent=AGENT))
        assert isinstance(jobs, list)
        # a completed job leaves the queue for the history
        status = jobs[0]["_values"]["JobStatus"] if jobs else None
        if status in (4, None):
            break
        time.sleep(0.2)
    assert status in (4, None), f"job {job_id} still in status {status}"
    history = call(client, scheduler, "History", Constraint=f'CustomId == "{job_id}"',
                   Projection=["JobStatus", "ExitCode"], Limit=1)["Jobs"]
    (done,) = [classad.decode_job_ad(j)[0] if isinstance(j, dict) else j for j in history]
    assert done.eval("JobStatus") == 4
    assert done.eval("ExitCode") == 0
    assert (tmp_path / "out.txt").read_text() == "hello from qmf\n"


def test_sigterm_shuts_down_cleanly_and_a_restart_keeps_the_queue(tmp_path: Path) -> None:
    first = start_agent(tmp_path, CONFIG + "START = FALSE\n")  # jobs stay idle
    with Client(first.url, timeout=20.0) as c:
        epoch = decode_response(c.broadcast(agent_locate_request(), wait=1.0)[:1])["_epoch"]  # type: ignore[index]
        scheduler = the(c, "scheduler")
        ad = true_job()
        job_id = call(c, scheduler, "Submit", Ad=ad)["Id"]
    assert stop_agent(first) == 0  # 1 would mean the SHUTDOWN_TIMEOUT watchdog fired
    assert "stopped" in first.stderr()
    second = start_agent(tmp_path, CONFIG)
    try:
        with Client(second.url, timeout=20.0) as c:
            located = decode_response(c.broadcast(agent_locate_request(), wait=1.0)[:1])
            assert located["_epoch"] == epoch + 1  # type: ignore[index]
            ids = [j["_values"]["CustomId"] for j in objects(c, "job")]
            assert job_id in ids
    finally:
        assert stop_agent(second) == 0


def test_sigterm_with_a_running_job_puts_it_back_in_the_queue(tmp_path: Path) -> None:
    first = start_agent(tmp_path, CONFIG)
    with Client(first.url, timeout=20.0) as c:
        ad = {**true_job(), "Cmd": "/bin/sleep", "Args": "300"}
        job_id = call(c, the(c, "scheduler"), "Submit", Ad=ad)["Id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            (job,) = [j for j in objects(c, "job") if j["_values"]["CustomId"] == job_id]
            if job["_values"]["JobStatus"] == 2:
                break
            time.sleep(0.1)
        assert job["_values"]["JobStatus"] == 2
    assert stop_agent(first) == 0
    assert "stopped" in first.stderr()
    first.config.write_text(CONFIG + "START = FALSE\n")  # so the job stays where recovery put it
    second = start_agent(tmp_path, "")
    try:
        with Client(second.url, timeout=20.0) as c:
            (job,) = [j for j in objects(c, "job") if j["_values"]["CustomId"] == job_id]
            assert job["_values"]["JobStatus"] == 1
            assert job["_values"]["NumJobStarts"] >= 1
    finally:
        assert stop_agent(second) == 0


def test_sighup_and_reconfig_apply_the_agents_own_settings(tmp_path: Path) -> None:
    running = start_agent(tmp_path, CONFIG)
    try:
        with Client(running.url, timeout=20.0) as c:
            def heartbeat() -> int:
                (answer,) = [decode_response([m]) for m in c.broadcast(agent_locate_request(), wait=1.0)]
                assert isinstance(answer, dict)
                return int(answer["_heartbeat_interval"])

            assert heartbeat() == 1
            call(c, the(c, "master"), "SetRawConfig", Name="HEARTBEAT_INTERVAL", Value="7")
            assert heartbeat() == 1  # written, not yet applied
            call(c, the(c, "master"), "Reconfig")
            assert heartbeat() == 7
            running.config.write_text(CONFIG + "HEARTBEAT_INTERVAL = 3\n")
            running.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while heartbeat() != 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert heartbeat() == 3
    finally:
        assert stop_agent(running) == 0


def test_master_restart_keeps_the_process_and_the_queue(tmp_path: Path) -> None:
    running = start_agent(tmp_path, CONFIG + "START = FALSE\n")
    try:
        with Client(running.url, timeout=30.0) as c:
            scheduler = the(c, "scheduler")
            ad = true_job()
            job_id = call(c, scheduler, "Submit", Ad=ad)["Id"]
            master = the(c, "master")
            call(c, master, "Restart")
            assert running.proc.poll() is None
            assert job_id in [j["_values"]["CustomId"] for j in objects(c, "job")]
            call(c, master, "DaemonsOff", Mode="fast")
            collector = the(c, "collector")
            with pytest.raises(Exception, match="collector is off"):
                call(c, collector, "Query", AdType="Any")
            call(c, master, "Start", Subsystem="COLLECTOR")
            names = [classad.decode_job_ad(a)[0].eval("MyType")
                     for a in call(c, collector, "Query", AdType="Any")["Ads"]]
            assert "Scheduler" not in names and "DaemonMaster" in names
    finally:
        assert stop_agent(running) == 0


def test_anonymous_is_not_an_admin_when_configured_so(tmp_path: Path) -> None:
    running = start_agent(tmp_path, CONFIG + "QMF_ANONYMOUS_ADMIN = false\n")
    try:
        with Client(running.url, timeout=20.0) as c:
            with pytest.raises(Forbidden, match="only QMF_ADMINS may control daemons"):
                call(c, the(c, "master"), "Restart")
    finally:
        assert stop_agent(running) == 0


def _fails(tmp: Path, config_text: str, *args: str, port: int | None = None) -> tuple[int, str]:
    running = start_agent(tmp, config_text, *args, port=port, wait=False)
    code = running.proc.wait(timeout=60)
    return code, running.stderr()


def test_a_bad_config_line_is_one_clear_error(tmp_path: Path) -> None:
    code, err = _fails(tmp_path, "NUM_SLOTS = 2\nthis is wrong\n")
    assert code == 1
    assert f"qmf-agent: error: {tmp_path / 'agent.conf'}:2: expected NAME = value" in err
    assert "Traceback" not in err


def test_a_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _fails(tmp_path, CONFIG, port=port)
    assert code == 1
    assert "qmf-agent: error:" in err and str(port) in err
    assert "Traceback" not in err


def test_an_unreachable_broker_is_one_clear_error(tmp_path: Path) -> None:
    code, err = _fails(tmp_path, CONFIG, "--broker", f"amqp://127.0.0.1:{free_port()}")
    assert code == 1
    assert "qmf-agent: error: cannot connect to amqp://127.0.0.1:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [("--listen", "nowhere"), ("--backend", "pbs"), ("--name", "a:b"), ("--listen", "127.0.0.1:1", "--broker", "amqp://x")],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = subprocess.run([sys.executable, "-m", "qmf_agent", "--state-dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2
    assert "usage: qmf-agent" in proc.stderr


def test_tls_listener_from_the_configuration(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    port = free_port()
    running = start_agent(
        tmp_path, CONFIG + f"QMF_SSL_CERTFILE = {cert}\nQMF_SSL_KEYFILE = {key}\n",
        "--listen", f"amqps://127.0.0.1:{port}", port=port,
    )
    try:
        with Client(f"amqps://localhost:{port}", timeout=20.0, security=Security(ca_file=str(cert))) as c:
            assert the(c, "master")["_values"]["Name"] == NAME
            schedd = classad.decode_job_ad(call(c, the(c, "collector"), "Locate", DaemonType="Schedd")["Ad"])[0]
            assert schedd.eval("QmfUrl") == f"amqps://127.0.0.1:{port}"
    finally:
        assert stop_agent(running) == 0


def test_a_missing_certificate_is_one_clear_error(tmp_path: Path) -> None:
    code, err = _fails(tmp_path, CONFIG + "QMF_SSL_CERTFILE = /nonexistent/cert.pem\n"
                                          "QMF_SSL_KEYFILE = /nonexistent/key.pem\n")
    assert code == 1
    assert "qmf-agent: error: TLS/SASL settings (QMF_SSL_*, QMF_SASL_*): cert_file: no such file" in err


@pytest.mark.broker
def test_through_the_broker(tmp_path: Path) -> None:
    running = start_agent(tmp_path, CONFIG, "--broker", BROKER_URL)
    try:
        with Client(BROKER_URL, timeout=20.0) as c:
            master = the(c, "master")
            assert master["_values"]["Name"] == NAME
            schedd = classad.decode_job_ad(call(c, the(c, "collector"), "Locate", DaemonType="Schedd")["Ad"])[0]
            assert schedd.eval("QmfUrl") == "amqp://127.0.0.1:5672"  # no credentials
    finally:
        assert stop_agent(running) == 0
