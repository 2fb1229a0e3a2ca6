"""A real ``python3 -m qmf_agent`` process the reliability tests can kill.

The tests here hurt the agent the way an operator's bad day does (SIGKILL,
a full disk, SIGTERM with jobs running), so they need the real process, not
an in-process Agent: only a process can die half-way through a commit.
The module name is unique in the suite on purpose (several directories are
on sys.path; see tests/qmf_testing.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from qmf_testing import free_port

from qmf_agent.protocol import REQUEST_ID_KEY, decode_response, method_request, query_request
from qmf_agent.transport import Client

__all__ = ["AGENT", "NAME", "SCHEDULER", "KillableAgent", "call", "held_job", "job_ids", "new_request_id",
           "sleep_job"]

REPO = Path(__file__).resolve().parents[2]
NAME = "rel"
AGENT = f"redhat.com:qmf-grid:{NAME}"
SCHEDULER = f"mrg.grid:scheduler:{NAME}"
START_TIMEOUT = 60.0
BASE_CONFIG = "NEGOTIATOR_INTERVAL = 0.5\nHEARTBEAT_INTERVAL = 1\nQMF_UPDATE_INTERVAL = 0.5\n"


def held_job(**extra: Any) -> dict[str, Any]:
    """A job ad (typed encoding) queued on hold, so it stays in the queue."""
    return {"Cmd": "/bin/true", "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"}, "JobUniverse": 5,
            "Iwd": "/tmp", "Owner": "root", "JobStatus": 5, **extra}


def sleep_job(seconds: int = 600) -> dict[str, Any]:
    """A job ad that runs until stopped."""
    return {"Cmd": "/bin/sleep", "Arguments": str(seconds), "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"},
            "JobUniverse": 5, "Iwd": "/tmp", "Owner": "root"}


def job_ids(answer: dict[str, Any]) -> list[tuple[int, int]]:
    """(cluster, proc) pairs of a Query answer's ``Jobs``."""
    out = []
    for ad in answer.get("Jobs") or []:
        cluster = ad["ClusterId"]
        proc = ad["ProcId"]
        cluster = int(cluster["VALUE"]) if isinstance(cluster, dict) else int(cluster)
        proc = int(proc["VALUE"]) if isinstance(proc, dict) else int(proc)
        out.append((cluster, proc))
    return out


class KillableAgent:
    """One state directory; :meth:`start` a process on it as often as needed."""

    def __init__(self, state_dir: Path, log_dir: Path, config: str = "", backend: str = "local",
                 broker: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.log_path = Path(log_dir) / "agent.log"
        self.config_path = Path(log_dir) / "agent.conf"
        self.config_path.write_text(BASE_CONFIG + config)
        self.backend = backend
        self.broker = broker
        self.port = free_port()
        self.url = broker or f"amqp://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> KillableAgent:
        """Start the process and wait until it answers a query."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        where = ["--broker", self.broker] if self.broker else ["--listen", f"127.0.0.1:{self.port}"]
        with open(self.log_path, "ab") as log:
            log.write(f"==== start {self.starts + 1}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qmf_agent", *where, "--state-dir", str(self.state_dir),
                 "--config", str(self.config_path), "--name", NAME, "--backend", self.backend],
                stdout=subprocess.DEVNULL, stderr=log, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the agent exited with {self.proc.returncode}:\n{self.log()}")
            if self._answers():
                return self
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the agent did not answer within {START_TIMEOUT}s:\n{self.log()}")

    def _answers(self) -> bool:
        if not self.broker:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return False
        try:
            with Client(self.url, timeout=2.0) as client:
                decode_response(client.request(query_request("OBJECT", class_name="scheduler"), agent=AGENT))
            return True
        except Exception:  # not up yet: any failure means "try again"
            return False

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed that was not already."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took)."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the agent ignored SIGTERM for {timeout}s:\n{self.log()}") from None
        return rc, time.monotonic() - began

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def client(self, timeout: float = 10.0) -> Client:
        return Client(self.url, timeout=timeout)


def call(client: Client, method: str, request_id: str | None = None, timeout: float | None = None,
         **args: Any) -> dict[str, Any]:
    """A scheduler method over the wire, optionally carrying a request id
    (the property a console sets so that a retried Submit is not queued twice)."""
    message = method_request(SCHEDULER, method, args)
    if request_id is not None:
        message.properties[REQUEST_ID_KEY] = request_id
    answer = decode_response(client.request(message, agent=AGENT, timeout=timeout))
    assert isinstance(answer, dict), answer
    return answer


def new_request_id() -> str:
    return f"rel-{uuid.uuid4()}"

