"""AgentServer: puts one Agent on the wire, on a direct listener or a broker.

::

    server = AgentServer(listen="127.0.0.1:5672")      # or broker="amqp://host"
    agent = Agent(name=..., schema=..., send=server.send, ...)
    server.serve(agent)       # returns once listening / connected
    ...
    server.stop()

The agent's ``handle()`` is called on the transport's container thread
(it is thread-safe and hands slow work to its own pool); ``tick()`` runs on
a thread of the server's own, so heartbeats and indications never stall
I/O.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from qmf_agent.message import Message

from ._security import Security
from .broker import BrokerLink
from .listener import DirectListener

__all__ = ["AgentServer", "ServedAgent"]

log = logging.getLogger(__name__)

_MAX_IDLE = 1.0


class ServedAgent(Protocol):
    """What the server needs of an agent (``qmf_agent.agent.Agent``)."""

    name: str

    def handle(self, message: Message) -> None: ...

    def tick(self, now: float) -> float: ...


class AgentServer:
    """Serve an agent on *listen* (default) or through *broker* (a URL).

    With *broker* set nothing listens; the agent is reached through the
    broker.  *security* configures TLS/SASL for either side.
    """

    def __init__(
        self,
        *,
        listen: str | None = "127.0.0.1:5672",
        broker: str | None = None,
        user: str | None = None,
        password: str | None = None,
        profile: str | None = None,
        security: Security | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        if broker is None and listen is None:
            raise ValueError("AgentServer needs listen= or broker=")
        self._listener: DirectListener | None = None
        self._link: BrokerLink | None = None
        if broker is not None:
            self._link = BrokerLink(
                broker, user=user, password=password, profile=profile, security=security
            )
        else:
            assert listen is not None
            self._listener = DirectListener(listen, security=security)
        self._connect_timeout = connect_timeout
        self._agent: ServedAgent | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where consoles reach the agent (the listener's or the broker's URL)."""
        if self._listener is not None:
            return self._listener.url
        assert self._link is not None
        return self._link.url

    @property
    def broker_link(self) -> BrokerLink | None:
        return self._link

    def send(self, message: Message) -> None:
        """The agent's ``send``: thread-safe, never blocks on the network."""
        if self._listener is not None:
            self._listener.send(message)
        else:
            assert self._link is not None
            self._link.send(message)

    def serve(self, agent: ServedAgent) -> None:
        """Start the transport for *agent* and its tick thread.

        Raises :class:`~qmf_agent.transport.ListenError` (address in use) or
        :class:`~qmf_agent.transport.TransportError` (broker unreachable).
        """
        if self._agent is not None:
            raise RuntimeError("AgentServer serves one agent; this one already has one")
        self._agent = agent
        if self._listener is not None:
            self._listener.start()
            self._listener.attach_agent(agent.name, agent.handle)
        else:
            assert self._link is not None
            self._link.attach_agent(agent.name, agent.handle)
            self._link.start(self._connect_timeout)
        self._ticker = threading.Thread(target=self._tick, name="qmf-agent-tick", daemon=True)
        self._ticker.start()
        log.info("serving agent %s on %s", agent.name, self.url)

    def stop(self) -> None:
        """Stop ticking and close the transport (idempotent)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5.0)
        if self._listener is not None:
            self._listener.stop()
        if self._link is not None:
            self._link.stop()

    def __enter__(self) -> AgentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        agent = self._agent
        assert agent is not None
        while not self._stop.is_set():
            try:
                delay = agent.tick(time.monotonic())
            except Exception:
                log.exception("agent tick failed")
                delay = _MAX_IDLE
            self._stop.wait(max(0.0, min(delay, _MAX_IDLE)))
