"""A real ``python3 -m qmf_agent`` process for the benches that measure the
agent over the wire (load, soak, fleet, backend).

One class so that every bench starts, waits for and stops the agent the same
way: a fresh state directory, its own ``qmf-grid.conf``, a direct listener on
a free loopback port or a broker URL, and a bounded wait until its scheduler
answers an ``echo`` (so no figure includes the agent's start-up).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import free_port

__all__ = ["AgentProcess", "REPO", "RESTD", "restd_answers", "restd_config"]

REPO = Path(__file__).resolve().parents[1]

#: The configuration the load and soak benches run with.
DEFAULT_CONFIG = """\
NUM_SLOTS = 2
NEGOTIATOR_INTERVAL = 1
HEARTBEAT_INTERVAL = 2
QMF_ADMINS = root, qmf
"""


#: where .ci/slurm.sh starts slurmrestd
RESTD = "/run/slurmrestd/rest.sock"


def restd_answers(path: str = RESTD) -> bool:
    """True when slurmrestd accepts a connection on the Unix socket *path*."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(path)
        return True
    except OSError:
        return False


def restd_config(path: str) -> str:
    """The agent's configuration line for slurmrestd at *path* ("": none)."""
    return f"SLURM_RESTD_SOCKET = {path}\n" if path else ""


@dataclass
class AgentProcess:
    """``python3 -m qmf_agent`` on a fresh state directory *state*."""

    backend: str
    broker: str | None
    state: Path
    config: str = DEFAULT_CONFIG
    name: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""

    @property
    def agent(self) -> str:
        """The agent's QMF address name."""
        return f"redhat.com:qmf-grid:{self.name}"

    @property
    def scheduler(self) -> str:
        """The scheduler object's name, for method calls."""
        return f"mrg.grid:scheduler:{self.name}"

    def start(self, timeout: float = 60.0) -> AgentProcess:
        """Start the agent and return once its scheduler answers."""
        from console import Session

        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "qmf-grid.conf").write_text(self.config)
        if self.broker:
            self.url, where = self.broker, ["--broker", self.broker]
        else:
            port = free_port()
            self.url, where = f"amqp://127.0.0.1:{port}", ["--listen", f"127.0.0.1:{port}"]
        with open(self.state / "agent.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qmf_agent", *where, "--state-dir", str(self.state),
                 "--name", self.name, "--backend", self.backend, "--log-level", "WARNING"],
                stdout=subprocess.DEVNULL, stderr=log, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the agent exited: {self.log()}")
            try:
                with Session(self.url, timeout=3) as s:
                    s.call(self.scheduler, "echo", {"sequence": 0, "body": "up"}, agent=self.agent)
                return self
            except Exception:  # not up yet
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the agent did not answer within {timeout}s: {self.log()}")

    def client(self, timeout: float = 60.0) -> Any:
        """A raw transport ``Client`` on the agent's URL (no console layer)."""
        from qmf_agent.transport import Client

        return Client(self.url, timeout=timeout)

    def call(self, client: Any, method: str, args: dict[str, Any]) -> Any:
        """One method call on the scheduler through *client*: its out-arguments."""
        from qmf_agent.protocol import decode_response, method_request

        return decode_response(client.request(method_request(self.scheduler, method, args),
                                              agent=self.agent))

    def rss_kib(self) -> int:
        """The agent's resident set size (VmRSS), KiB."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log(self) -> str:
        """The end of the agent's log (for error messages)."""
        try:
            return (self.state / "agent.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it takes more than 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
