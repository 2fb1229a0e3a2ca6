"""A TCP proxy between a console and an agent that loses answers on demand.

It forwards bytes both ways and records what the console sends, so a test
can read the request ids on the wire.  :meth:`LossyProxy.lose_answers`
arms it: each of the next *n* agent-to-console chunks that carry a
method response is swallowed and the console's connection cut -- the
agent did the work and answered, the answer never arrived, exactly what a
broker restart or a dropped link does.  The module name is unique in the
suite on purpose (several test directories are on sys.path).
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable

from qmf_testing import free_port

__all__ = ["LossyProxy"]

_RESPONSE = b"_method_response"
_REQUEST_ID = re.compile(rb"console-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class LossyProxy:
    """Listens on a free loopback port (:attr:`url`) and forwards to *target_port*."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"amqp://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._to_lose = 0
        self._then: Callable[[], None] | None = None
        self.lost = 0
        self._sent = bytearray()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._closed = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._thread = threading.Thread(target=self._accept, name="lossy-proxy", daemon=True)
        self._thread.start()

    def lose_answers(self, n: int = 1, then: Callable[[], None] | None = None) -> None:
        """Swallow the next *n* method responses, cutting the connection each
        time; *then*, if given, runs before each cut (the console still
        waiting), e.g. to SIGKILL and restart the agent."""
        with self._lock:
            self._to_lose = n
            self._then = then

    def request_ids(self) -> list[str]:
        """Every console request id sent through the proxy, in order (repeats kept)."""
        with self._lock:
            return [m.decode() for m in _REQUEST_ID.findall(bytes(self._sent))]

    def cut(self) -> None:
        """Drop every connection now (the console reconnects)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._server.close()
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                console, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                agent = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                console.close()   # the agent is down: the console sees a refused connection
                continue
            agent.settimeout(None)
            with self._lock:
                self._pairs.append((console, agent))
            threading.Thread(target=self._pump, args=(console, agent, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(agent, console, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                then = None
                with self._lock:
                    if upstream:
                        self._sent += data
                    elif self._to_lose and _RESPONSE in data:
                        self._to_lose -= 1
                        self.lost += 1
                        then = self._then or (lambda: None)
                if then is not None:
                    then()
                    break   # swallowed: close both ends below
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
