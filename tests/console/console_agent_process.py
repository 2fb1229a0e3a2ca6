"""A real agent process for console tests: ``python3 -m qmf_agent`` on a
free loopback port with its own state directory and a fast heartbeat.

Used by tests/console (the API end to end) and tests/integration (the CLI
and the examples as subprocesses); a module, not a conftest, so that both
directories share one copy.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["AgentProcess", "free_port", "subprocess_env", "REPO"]

CONFIG = """\
HEARTBEAT_INTERVAL = 1
QMF_UPDATE_INTERVAL = 0.5
NEGOTIATOR_INTERVAL = 0.5
NUM_SLOTS = 2
"""


REPO = Path(__file__).resolve().parents[2]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for our child processes: this checkout first on the
    path (whatever the editable install recorded), no inherited QMF_URL."""
    env = {k: v for k, v in os.environ.items() if k != "QMF_URL"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AgentProcess:
    """Start with :meth:`start`, stop with :meth:`stop` (SIGTERM, then kill)."""

    def __init__(self, state_dir: Path, extra_config: str = "", broker: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.port = free_port()
        self.broker = broker
        self.url = broker or f"amqp://127.0.0.1:{self.port}"
        self.name = f"redhat.com:qmf-grid:test{self.port}"
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.state_dir / "agent.log"

    def start(self, timeout: float = 30.0) -> AgentProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "qmf-grid.conf").write_text(CONFIG + self.extra_config)
        env = subprocess_env()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qmf_agent",
             *(["--broker", self.broker] if self.broker else ["--listen", f"127.0.0.1:{self.port}"]),
             "--state-dir", str(self.state_dir), "--name", f"test{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(self.state_dir),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the agent exited with {self.proc.returncode}:\n{self.log()}")
            if self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the agent did not answer within {timeout}s:\n{self.log()}")

    def _answers(self) -> bool:
        if not self.broker:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                return False
        from console import Session

        try:
            with Session(self.url, timeout=3) as s:
                return self.name in [a.name for a in s.getAgents(wait=0.5)]
        except Exception:
            return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
