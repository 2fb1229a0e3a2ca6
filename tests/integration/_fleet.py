"""Helpers for the fleet, broker-restart, security and limits tests.

* :func:`start_agent` / :func:`stop_agent`: a real ``python3 -m qmf_agent``
  with its own name, state directory, configuration and environment (Cyrus
  SASL reads ``PN_SASL_CONFIG_PATH`` at process start, so it must be set
  for the child, not in the test process);
* :class:`PrivateRabbit`: a RabbitMQ node of the test's own, on free ports
  with its data under a temporary directory, that the test may stop and
  start -- the shared broker on 5672 is never touched;
* small wrappers around the protocol module for queries and calls.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qmf_testing import free_port

from qmf_agent.protocol import decode_response, method_request, query_request
from qmf_agent.transport import Client

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
RABBIT_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def agent_name(name: str) -> str:
    return f"redhat.com:qmf-grid:{name}"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll *predicate* until it is truthy; AssertionError naming *what*."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class RunningAgent:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    log: Path

    @property
    def agent(self) -> str:
        return agent_name(self.name)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def audit(self) -> list[str]:
        path = self.state_dir / "audit.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []


def start_agent(tmp: Path, name: str, config: str, *, broker: str | None = None,
                listen: str | None = None, env: dict[str, str] | None = None,
                wait: bool = True) -> RunningAgent:
    """Run ``python3 -m qmf_agent`` (through *broker*, or listening on
    *listen*, default a free loopback port) and wait until it serves."""
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "agent.conf"
    conf.write_text(config)
    log = tmp / "agent.log"
    args = [sys.executable, "-m", "qmf_agent", "--state-dir", str(tmp / "state"),
            "--config", str(conf), "--name", name]
    if broker:
        args += ["--broker", broker]
        url = broker
        port = None
    else:
        listen = listen or f"127.0.0.1:{free_port()}"
        args += ["--listen", listen]
        port = int(listen.rsplit(":", 1)[1])
        url = listen if "://" in listen else f"amqp://{listen}"
    with open(log, "ab") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    running = RunningAgent(name, proc, url, tmp / "state", log)
    if wait:
        deadline = time.monotonic() + START_TIMEOUT
        while "serving on" not in running.stderr() or (port and not port_open(port)):
            if proc.poll() is not None:
                raise AssertionError(f"agent {name} exited {proc.returncode}:\n{running.stderr()}")
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"agent {name} did not start:\n{running.stderr()}")
            time.sleep(0.05)
    return running


def stop_agent(agent: RunningAgent, sig: int = signal.SIGTERM) -> int:
    if agent.proc.poll() is None:
        agent.proc.send_signal(sig)
    try:
        return agent.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        agent.proc.kill()
        agent.proc.wait()
        raise AssertionError(f"agent {agent.name} ignored {sig}:\n{agent.stderr()}") from None


def objects(client: Client, class_name: str, agent: str) -> list[dict[str, Any]]:
    answer = decode_response(client.request(query_request("OBJECT", class_name=class_name), agent=agent))
    assert isinstance(answer, list)
    return answer


def call(client: Client, obj: dict[str, Any], method: str, agent: str, *,
         properties: dict[str, Any] | None = None, timeout: float | None = None,
         **args: Any) -> dict[str, Any]:
    message = method_request(obj["_object_id"], method, args)
    message.properties.update(properties or {})
    answer = decode_response(client.request(message, agent=agent, timeout=timeout))
    assert isinstance(answer, dict)
    return answer


def the(client: Client, class_name: str, agent: str) -> dict[str, Any]:
    (obj,) = objects(client, class_name, agent)
    return obj


def job_ad(owner: str | None = None, **extra: Any) -> dict[str, Any]:
    """A job ad in the typed encoding."""
    ad: dict[str, Any] = {"Cmd": "/bin/true", "Requirements": {"TYPE": "EXPR", "VALUE": "FALSE"},
                          "JobUniverse": 5, "Iwd": "/tmp"}
    if owner is not None:
        ad["Owner"] = owner
    ad.update(extra)
    return ad


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of our own (AMQP 1.0 plugin, guest allowed from
    loopback) whose data lives in *base*; :meth:`stop` / :meth:`start` as
    often as a test likes.  Needs root or the rabbitmq user's rights."""

    base: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return os.path.exists(RABBIT_SERVER) and shutil.which("erl") is not None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        b = self.base
        return {
            **os.environ,
            "HOME": str(b),  # its own Erlang cookie
            "RABBITMQ_CONF_ENV_FILE": str(b / "env.conf"),
            "RABBITMQ_CONFIG_FILE": str(b / "rabbitmq"),
            "RABBITMQ_NODENAME": f"qmftest{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(b / "mnesia"),
            "RABBITMQ_LOG_BASE": str(b / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(b / "plugins"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 60.0) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "env.conf").write_text("")
        (self.base / "plugins").write_text("[rabbitmq_amqp1_0].\n")
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        out = open(self.base / "server.out", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen([RABBIT_SERVER], env=self._env(), stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.base,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = (self.base / "server.out").read_text(errors="replace")[-3000:]
                raise AssertionError(f"private RabbitMQ did not start:\n{text}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node gracefully (SIGTERM to its process group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        wait_for(lambda: not port_open(self.port), 15, "the private broker's port to close")
