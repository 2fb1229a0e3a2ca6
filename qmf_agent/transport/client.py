"""The client half: what a console uses to talk to agents over AMQP.

::

    with Client("amqp://127.0.0.1:5672") as client:
        parts = client.request(query_request("OBJECT", class_name="job"), agent=name)
        found = client.broadcast(agent_locate_request(), wait=1.0)
        sub = client.subscribe("agent.ind.#", on_indication)

Works against the direct listener and against a broker; the addressing
profile is detected when the connection opens (or given as ``profile=``).
The connection is re-made with backoff when it drops; subscriptions come
back by themselves, a request in flight at that moment fails at once with
:class:`~qmf_agent.errors.Unreachable`.

Threading contract: every method is thread-safe -- many threads may call
:meth:`Client.request` at once; answers are matched by correlation id.
Subscription callbacks run on the client's container thread: do not block
in them (hand work to another thread instead).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from qmf_agent.errors import RequestTimeout, Unreachable
from qmf_agent.message import Message
from qmf_agent.protocol import LOCATE_SUBJECT, Addressing, Route

from ._convert import encode
from ._loop import LoopClosed
from ._peer import Peer, ReceiverSpec, TransportError
from ._security import Security

__all__ = ["Client", "Subscription", "Unreachable"]  # Unreachable lives in qmf_agent.errors

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class _Pending:
    """The messages gathered so far for one correlation id."""

    __slots__ = ("messages", "done", "gather_all", "stream", "refused")

    def __init__(
        self, gather_all: bool, stream: Callable[[Message], None] | None = None
    ) -> None:
        self.messages: list[Message] = []
        self.done = threading.Event()
        self.gather_all = gather_all
        self.stream = stream
        self.refused: str | None = None

    def refuse(self, reason: str) -> None:
        """No answer can come, because of *reason* (container thread)."""
        self.refused = reason
        self.done.set()


class Subscription:
    """A topic subscription; :meth:`cancel` detaches it."""

    def __init__(self, client: Client, spec_id: int, pattern: str) -> None:
        self._client = client
        self._spec_id = spec_id
        self.pattern = pattern

    def cancel(self) -> None:
        self._client._peer.remove_receiver(self._spec_id)


class Client:
    """A connection to an agent's listener or a broker (see module docstring).

    Raises :class:`~qmf_agent.transport.TransportError` when the connection
    cannot be made within *timeout* seconds (refused, bad credentials, TLS).
    """

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        user: str | None = None,
        password: str | None = None,
        profile: str | None = None,
        security: Security | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self.timeout = timeout
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._reply_to: str | None = None
        self._peer = Peer(
            url,
            name=f"qmf-client-{next(_ids)}",
            user=user,
            password=password,
            profile=profile,
            security=security,
            confirm=True,  # learn at once when the listener cannot route a request
        )
        self.url = self._peer.url
        self._reply_route: tuple[str, Route | None] | None = None
        self._peer.on_lost = self._connection_lost
        self._peer.add_receiver(ReceiverSpec(self._reply_source, self._on_reply, self._set_reply_to))
        self._peer.start(timeout)

    # -- public API -------------------------------------------------------

    @property
    def profile(self) -> str:
        """``standard`` or ``rabbitmq``: how addresses are spelled here."""
        return self._peer.addressing.name if self._peer.addressing else "standard"

    @property
    def user(self) -> str | None:
        return self._peer.user

    def request(
        self,
        message: Message,
        agent: str | None = None,
        timeout: float | None = None,
        stream: Callable[[Message], None] | None = None,
    ) -> list[Message]:
        """Send *message* to *agent*; return every message of the answer.

        Gathers each ``partial`` message until the final one.  Raises
        :class:`~qmf_agent.errors.RequestTimeout` when no final answer comes.
        With *stream* (a QMFv2 subscribe), the messages that arrive later
        with the same correlation id -- the subscription's deliveries -- go
        to ``stream(message)`` on the client's thread until
        :meth:`end_stream` is called with that correlation id.
        """
        wait = self.timeout if timeout is None else timeout
        route = self._route_for(message, agent)
        pending = _Pending(gather_all=False, stream=stream)
        cid = self._send(message, route, pending, wait)
        answered = False
        try:
            if pending.done.wait(wait) and pending.refused is not None:
                raise Unreachable(
                    f"{message.opcode or 'request'} for {agent or route.address}: {pending.refused}"
                )
            if not pending.done.is_set():
                got = len(pending.messages)
                partial = f" ({got} partial message(s) arrived)" if got else ""
                raise RequestTimeout(
                    f"no answer from {agent or route.address} to {message.opcode or 'request'} "
                    f"within {wait} s{partial} via {self.url}"
                )
            answered = True
            return pending.messages
        finally:
            if stream is None or not answered:
                self.end_stream(cid)

    def end_stream(self, correlation_id: str) -> None:
        """Stop passing messages with *correlation_id* to a request's stream."""
        with self._lock:
            self._pending.pop(correlation_id, None)

    def broadcast(
        self, message: Message, subject: str = LOCATE_SUBJECT, wait: float = 1.0
    ) -> list[Message]:
        """Send *message* to every agent listening on *subject*; return
        whatever answers arrive within *wait* seconds (maybe none)."""
        addressing = self._peer.addressing
        assert addressing is not None  # set once start() returned
        pending = _Pending(gather_all=True)
        cid = self._send(message, addressing.to_topic(subject), pending, self.timeout)
        try:
            pending.done.wait(wait)
            return list(pending.messages)
        finally:
            with self._lock:
                self._pending.pop(cid, None)

    def subscribe(self, pattern: str, callback: Callable[[Message], None]) -> Subscription:
        """Receive indications whose subject matches *pattern* (``*``, ``#``).

        Returns once the peer has attached the subscription (or after the
        client's timeout while disconnected: it attaches on reconnect), so
        nothing published after this returns is missed.  *callback* runs on
        the client's thread; it must not block.
        """
        if not pattern or any(not word for word in pattern.split(".")):
            raise ValueError(f"subscription pattern {pattern!r}: empty word")
        spec = ReceiverSpec(lambda profile: profile.topic_source(pattern), callback)
        subscription = Subscription(self, self._peer.add_receiver(spec), pattern)
        if self._peer.loop.in_loop():  # called from a callback: waiting would block the attach
            return subscription
        if not spec.attached.wait(self.timeout):
            log.warning("subscription %s not attached yet (%s)", pattern, self._peer.error)
        return subscription

    def close(self) -> None:
        """Close the connection; pending requests time out."""
        self._peer.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals --------------------------------------------------------

    @staticmethod
    def _route_for(message: Message, agent: str | None) -> Route:
        if agent:
            return Route(None, agent)
        if message.address:
            return Route(message.address, message.subject)
        raise ValueError("request needs agent= (or a message with an address)")

    def _send(self, message: Message, route: Route, pending: _Pending, wait: float) -> str:
        """Stamp, register, encode and send; returns the correlation id."""
        if not self._peer.loop.thread.is_alive():
            raise TransportError(f"the client for {self.url} is closed")
        deadline = time.monotonic() + wait
        while not self._peer.ready.wait(0.05):
            if time.monotonic() >= deadline or self._peer.refused:
                raise RequestTimeout(
                    f"not connected to {self.url} ({self._peer.error or 'reconnecting'}); "
                    f"{message.opcode or 'request'} not sent within {wait} s"
                )
        if route.address is None:  # direct to an agent: spelled by the profile
            assert self._peer.addressing is not None
            route = self._peer.addressing.to_agent(route.subject or "")
        cid = str(uuid.uuid4())
        outgoing = Message(
            body=message.body,
            address=route.address,
            subject=route.subject if route.subject is not None else message.subject,
            reply_to=self._reply_to,
            correlation_id=cid,
            user_id=self._peer.user,
            content_type=message.content_type,
            properties=dict(message.properties),
        )
        data = encode(outgoing, wrap_lists=self._peer.wrap_lists)
        with self._lock:
            self._pending[cid] = pending
        try:
            self._peer.send(
                route, data, on_refused=lambda why: pending.refuse(f"refused by {self.url}: {why}")
            )
        except LoopClosed:
            self.end_stream(cid)
            raise TransportError(f"the client for {self.url} is closed") from None
        return cid

    def _reply_source(self, profile: Addressing) -> Route | None:
        """The reply route, the same one after a reconnect where the profile
        names it (RabbitMQ), so answers and a QMF subscription's deliveries
        that the agent addresses to it keep arriving after a broker restart."""
        if self._reply_route is None or self._reply_route[0] != profile.name:
            self._reply_route = (profile.name, profile.reply_source())
        return self._reply_route[1]

    def _connection_lost(self, why: str) -> None:
        """Fail the requests under way at once (broadcasts just end with
        what they gathered): their answers cannot be counted on.  With a
        dynamic reply address (the standard profile) the address died with
        the connection.  With a named one (RabbitMQ) the queue behind it did
        too -- an answer sent before the receiver is attached again is
        dropped -- and a request the broker had not yet taken is gone.
        Measured: RabbitMQ 3.10 now and then ends a session with
        ``internal_error ... noproc`` when 50 consoles connect at once, and
        a request under way then waited out its whole timeout.  The caller
        (the Session) sends again what is safe to send again.  Streams
        already answered (QMFv2 subscriptions) keep their named route."""
        with self._lock:
            waiting = [p for p in self._pending.values() if not p.done.is_set()]
        for pending in waiting:
            if pending.gather_all:
                pending.done.set()
            else:
                pending.refuse(f"the connection to {self.url} was lost ({why}) before the answer")

    def _set_reply_to(self, address: str) -> None:
        self._reply_to = address

    def _on_reply(self, message: Message) -> None:
        cid = message.correlation_id
        if isinstance(cid, bytes):
            cid = cid.decode("utf-8", "replace")
        with self._lock:
            pending = self._pending.get(cid) if isinstance(cid, str) else None
        if pending is None:
            log.debug("dropped an answer nobody waits for (correlation id %r)", cid)
            return
        if pending.stream is not None and pending.done.is_set():
            try:
                pending.stream(message)
            except Exception:
                log.exception("a request's stream callback failed")
            return
        pending.messages.append(message)
        if not pending.gather_all and "partial" not in message.properties:
            pending.done.set()
