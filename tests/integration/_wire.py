"""Helpers for the transport suites: a toy binding and a TCP proxy to cut.

The proxy sits between a client (or the agent's broker link) and the real
peer, so a test can drop every connection at once -- what a broker restart
or a network blip does -- without touching the broker itself.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from qmf_agent.binding import Caller, ObjectState
from qmf_agent.errors import JobNotFound


class ToyJobs:
    """A ``job`` ClassBinding over *count* jobs held in a dict."""

    def __init__(self, count: int) -> None:
        now = time.time_ns()
        self.jobs = {
            f"{i}.0": {"ClusterId": i, "ProcId": 0, "Owner": f"user{i % 7}", "Cmd": "/bin/true",
                       "Args": f"arg {i}", "Iwd": "/tmp", "JobStatus": 1}
            for i in range(1, count + 1)
        }
        self.created = now
        self.calls: list[tuple[str, str, Mapping[str, Any], Caller]] = []
        self.block = threading.Event()
        self.block.set()

    def keys(self) -> Iterable[str]:
        return list(self.jobs)

    def state(self, key: str) -> ObjectState | None:
        values = self.jobs.get(key)
        if values is None:
            return None
        return ObjectState(key, dict(values), self.created, self.created)

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        if key not in self.jobs:
            raise JobNotFound(f"no job {key}")
        self.calls.append((key, method, dict(args), caller))
        self.block.wait(30)
        if method == "Hold":
            self.jobs[key]["JobStatus"] = 5
        return {}


class CutProxy:
    """Forwards TCP connections from a loopback port to *upstream*; :meth:`cut`
    closes every connection made so far (new ones are still accepted)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = int(self._server.getsockname()[1])
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True, name="cut-proxy").start()

    def url(self, scheme: str = "amqp", userinfo: str = "") -> str:
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                down, _ = self._server.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                down.close()
                continue
            with self._lock:
                self._socks += [down, up]
                self.accepted += 1
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()
        self.cut()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll *predicate* until truthy (returned) or raise AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
