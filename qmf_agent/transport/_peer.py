"""An outgoing AMQP connection that survives reconnects: the common half of
the client and of the agent's broker link.

It learns the addressing profile when the peer opens (RabbitMQ names itself
in the connection's ``product`` property; anything else is served with the
standard profile) unless one is given.  Receivers are declared as *specs*
and re-created after every reconnect; senders are made on demand -- one
anonymous-relay sender when the peer offers it and the profile allows,
else one cached sender per target address, every link named uniquely
(RabbitMQ closes a connection that attaches two links with one name).
While the connection is down, outgoing messages wait in a bounded queue.

Every method whose name starts with ``_`` or ``on_`` runs on the container
thread; the rest are thread-safe.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proton import Delivery, Handler, Link, Url, symbol
from proton.handlers import EndpointStateHandler
from proton.reactor import AtMostOnce, LinkOption

from qmf_agent.message import Message
from qmf_agent.protocol import (
    DIRECT_NODE,
    TOPIC_NODE,
    Addressing,
    RabbitAddressing,
    Route,
    StandardAddressing,
)

from ._convert import decode, encode
from ._links import MAX_FRAME_SIZE, CreditWindow, Outbox, Refused, outcome, subject_filter
from ._loop import Loop, guarded
from ._security import Security

__all__ = ["Peer", "ReceiverSpec", "TransportError", "profile_named"]

log = logging.getLogger(__name__)

_ANONYMOUS_RELAY = symbol("ANONYMOUS-RELAY")
_PENDING_LIMIT = 10_000
_SENDER_LIMIT = 256


class TransportError(ConnectionError):
    """The connection could not be made or was refused (says which and why)."""


def profile_named(name: str | None) -> Addressing | None:
    """``"standard"`` / ``"rabbitmq"`` -> a profile; None -> detect."""
    if name is None:
        return None
    key = name.lower()
    if key == "standard":
        return StandardAddressing()
    if key in ("rabbitmq", "rabbit"):
        return RabbitAddressing()
    raise ValueError(f"profile {name!r}: expected 'standard' or 'rabbitmq'")


@dataclass
class ReceiverSpec:
    """A receiver to keep attached: where from, and who gets the messages.

    ``source`` maps the connection's profile to the route to receive from
    (asked again at every attach, so a reply address can be fresh); a
    ``None`` route asks the peer for a dynamic node.  ``on_address`` is
    told the address each time the link attaches.  ``callback`` runs on
    the container thread and must not block.
    """

    source: Callable[[Addressing], Route | None]
    callback: Callable[[Message], None]
    on_address: Callable[[str], None] | None = None
    link: Any = field(default=None, repr=False)
    attached: threading.Event = field(default_factory=threading.Event, repr=False)


class Peer(Handler):
    """One logical connection to *url* (reconnected with backoff)."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        user: str | None = None,
        password: str | None = None,
        profile: str | None = None,
        security: Security | None = None,
        trust_user_id: bool = True,
        confirm: bool = False,
        max_backoff: float = 10.0,
        idle_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        parsed = Url(url)
        if parsed.scheme not in ("amqp", "amqps"):
            raise ValueError(f"url {url!r}: scheme must be amqp or amqps")
        self.user = user or (parsed.username or None)
        self._password = password or (parsed.password or None)
        self.url = f"{parsed.scheme}://{parsed.host}:{parsed.port}"
        self.security = security or Security()
        self._fixed = profile_named(profile)
        self.addressing: Addressing | None = self._fixed
        self._trust_user_id = trust_user_id
        self._confirm = confirm
        self._max_backoff = max_backoff
        self._idle_timeout = idle_timeout
        self.container_id = f"{name}-{uuid.uuid4()}"
        self.handlers = [CreditWindow(), EndpointStateHandler(delegate=weakref.proxy(self))]
        self._specs: dict[int, ReceiverSpec] = {}
        self._spec_ids = itertools.count(1)
        self._links = itertools.count(1)
        self._senders: collections.OrderedDict[str | None, Outbox] = collections.OrderedDict()
        self._pending: collections.deque[tuple[Route, bytes | Message, bool, Refused | None]] = (
            collections.deque()
        )
        self._conn: Any = None
        self._opened = False  # the current connection is open (links may attach)
        self._closing: Any = None
        self._closed = threading.Event()
        self._relay = False
        self._stopping = False
        self._delay = 0.0
        self._waiting_links = 0
        self.error: str | None = None
        self.refused = False
        self.ready = threading.Event()
        self.connects = 0
        # Told (container thread) when an established connection drops.
        self.on_lost: Callable[[str], None] | None = None
        self._loop = Loop(self, name, self.container_id)

    # -- any thread -------------------------------------------------------

    @property
    def loop(self) -> Loop:
        return self._loop

    def start(self, timeout: float) -> None:
        """Connect; raise :class:`TransportError` when not up in *timeout* s."""
        self._loop.start()
        self._loop.call_soon(self._connect)
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05) and not self.refused and time.monotonic() < deadline:
            pass
        if not self.ready.is_set():
            why = self.error if self.refused else f"{self.error or 'no answer'} within {timeout} s"
            self.stop()
            raise TransportError(f"cannot connect to {self.url}: {why}")

    def stop(self, linger: float = 2.0) -> None:
        """Close the connection and the thread.

        Waits up to *linger* seconds for the peer to answer the close (so a
        broker sees a clean close, not a dropped socket); links are never
        closed one by one -- RabbitMQ does not answer a link's detach.
        """
        try:
            self._loop.call(self._close, timeout=5.0)
        except Exception as exc:
            log.debug("%s stop: %s", self.url, exc)
        self._closed.wait(linger)
        self._loop.stop()

    @property
    def wrap_lists(self) -> bool:
        """Must list bodies travel as data sections (RabbitMQ, see _convert)?"""
        return self.addressing is not None and self.addressing.name == "rabbitmq"

    @property
    def presettled(self) -> bool:
        """Do this connection's links carry pre-settled messages both ways?

        On RabbitMQ, yes.  It never refuses what this transport sends (a
        ``/queue/`` node is declared on first use; a message no binding
        takes is accepted and dropped), so a confirmation tells a sender
        nothing, and settling what it delivers only makes it keep
        acknowledgement books: each is a disposition frame and broker work
        on the path of every answer.  Nothing relies on them: a console
        retries a request that got no answer, with its request id, so a
        retried Submit is answered from the agent's store, never run twice.
        The standard profile keeps confirmations: the direct listener
        rejects a request for an agent it does not serve, and the client
        turns that into :class:`~qmf_agent.transport.Unreachable` at once.
        """
        return self.addressing is not None and self.addressing.name == "rabbitmq"

    def send(
        self,
        route: Route,
        data: bytes | Message,
        logical: bool = False,
        on_refused: Refused | None = None,
        paced: bool = False,
    ) -> None:
        """Send *data* along *route* (thread-safe, never blocks).

        *data* is encoded bytes, or a Message to encode on the container
        thread once the peer's profile is known.  A *logical* route is in
        the standard profile's terms and is spelled for the peer's profile
        when the message actually goes out.  With *on_refused* (and a peer
        made with ``confirm=True``) ``on_refused(reason)`` runs on the
        container thread if the peer rejects the message.  *paced* is for a
        thread streaming many messages (an agent's big answer): it waits
        while the container thread is behind (:meth:`Loop.call_paced`).
        Raises :class:`LoopClosed` after :meth:`stop`.
        """
        if paced:
            self._loop.call_paced(self._send, route, data, logical, on_refused)
        else:
            self._loop.call_soon(self._send, route, data, logical, on_refused)

    def add_receiver(self, spec: ReceiverSpec) -> int:
        """Keep a receiver for *spec* attached (now and after reconnects)."""
        if not self._loop.thread.is_alive():  # before start(): nothing to race with
            return self._add_spec(spec)
        return self._loop.call(self._add_spec, spec)

    def remove_receiver(self, spec_id: int) -> None:
        self._loop.call_soon(self._remove_spec, spec_id)

    # -- container thread: connection life --------------------------------

    def _connect(self) -> None:
        if self._stopping:
            return
        self._relay = False
        self._senders.clear()
        domain = self.security.client_ssl_domain() if self.url.startswith("amqps") else None
        kwargs: dict[str, Any] = {
            "reconnect": False,
            # A peer that vanishes without closing (a broker host that
            # died) is noticed after this long without traffic.
            "heartbeat": self._idle_timeout,
            "ssl_domain": domain,
            "allow_insecure_mechs": self.security.allow_insecure_mechs,
            "container_id": self.container_id,
        }
        mechs = self.security.client_mechs(self.user)
        if mechs:
            kwargs["allowed_mechs"] = mechs
        if self.user:
            kwargs["user"] = self.user
            kwargs["password"] = self._password or ""
        try:
            self._conn = self._loop.container.connect(self.url, **kwargs)
        except Exception as exc:
            self.error = str(exc)
            log.warning("cannot connect to %s: %s", self.url, exc)
            self._retry_later()

    def _close(self) -> None:
        self._stopping = True
        self._opened = False
        self.ready.clear()
        if self._conn is not None:
            self._closing = self._conn
            self._conn.close()
            self._conn = None
        else:
            self._closed.set()

    def _retry_later(self) -> None:
        if self._stopping:
            return
        self.ready.clear()
        self._delay = min(self._max_backoff, self._delay * 2 if self._delay else 0.1)
        log.info("reconnecting to %s in %.1f s", self.url, self._delay)
        self._loop.container.schedule(self._delay, _Retry(self))

    def on_connection_bound(self, event: Any) -> None:
        event.transport.max_frame_size = MAX_FRAME_SIZE  # before our open frame goes out

    @guarded
    def on_connection_opened(self, event: Any) -> None:
        conn = event.connection
        if conn != self._conn:
            return
        props = conn.remote_properties or {}
        product = str(props.get(symbol("product"), props.get("product", "")))
        addressing = self._fixed
        if addressing is None:
            rabbit = "rabbitmq" in product.lower()
            addressing = RabbitAddressing() if rabbit else StandardAddressing()
        self.addressing = addressing
        caps = conn.remote_offered_capabilities or ()
        self._relay = addressing.name == "standard" and _ANONYMOUS_RELAY in caps
        self._delay = 0.0
        self.error = None
        self.connects += 1
        self._opened = True
        log.info(
            "connected to %s (%s, profile %s)", self.url, product or "unknown", addressing.name
        )
        self._waiting_links = 0
        for spec_id, spec in self._specs.items():
            self._attach(spec_id, spec)
        if self._waiting_links == 0:
            self._up()

    def _up(self) -> None:
        """Connected with every receiver attached: flush what waited.

        ``ready`` is set first so the flushed messages go out instead of
        queueing again; other threads' sends still come after them, since
        they reach this thread through the same queue.
        """
        self.ready.set()
        pending, self._pending = self._pending, collections.deque()
        for route, data, logical, on_refused in pending:
            self._send(route, data, logical, on_refused)

    def _lost(self, why: str) -> None:
        if self._conn is None:
            return
        was_up = self.ready.is_set()
        self._opened = False
        self.error = why
        self.ready.clear()
        self._senders.clear()
        self._conn = None
        if was_up and self.on_lost is not None:
            self.on_lost(why)
        if not self._stopping:
            if was_up:  # once per outage, not once per retry
                log.warning("connection to %s lost: %s", self.url, why)
            else:
                log.info("cannot connect to %s yet: %s", self.url, why)
            self._retry_later()

    @guarded
    def on_transport_error(self, event: Any) -> None:
        cond = event.transport.condition
        self.error = f"{cond.name}: {cond.description}" if cond else "transport error"
        refusal = cond is not None and (
            cond.name == "amqp:unauthorized-access" or "SSL" in (cond.description or "")
        )
        if refusal and not self.connects:
            # Wrong credentials or certificates will not get better by
            # retrying: give up at once.
            self.refused = True
            self._stopping = True

    @guarded
    def on_transport_closed(self, event: Any) -> None:
        if event.connection is None:
            return
        if event.connection == self._conn:
            self._lost(self.error or "connection closed")
        elif event.connection == self._closing:
            self._closed.set()

    def on_connection_closed(self, event: Any) -> None:
        if event.connection == self._closing:
            self._closed.set()

    @guarded
    def on_connection_error(self, event: Any) -> None:
        cond = event.connection.remote_condition
        self.error = f"{cond.name}: {cond.description}" if cond else "closed by peer"
        event.connection.close()

    def on_connection_closing(self, event: Any) -> None:
        self.error = "closed by peer"

    def on_session_error(self, event: Any) -> None:
        cond = event.session.remote_condition
        log.warning("%s ended a session: %s", self.url, cond.description if cond else "")
        event.connection.close()

    @guarded
    def on_link_error(self, event: Any) -> None:
        link = event.link
        cond = link.remote_condition
        log.warning(
            "%s refused link %s: %s", self.url, link.name, cond.description if cond else ""
        )
        box = getattr(link, "_qmf_outbox", None)
        for key, value in list(self._senders.items()):
            if value is box:
                del self._senders[key]
        if getattr(link, "_qmf_counted", False):  # a receiver we wait for: say why
            link._qmf_counted = False
            self.error = f"{link.remote_source.address or 'link'} refused: " + (
                cond.description if cond else "no reason given"
            )
            self._waiting_links -= 1
            if self._waiting_links == 0 and self._conn is not None:
                self._up()

    # -- container thread: links ------------------------------------------

    def _link_name(self, kind: str) -> str:
        return f"{self.container_id}-{kind}-{next(self._links)}"

    def _add_spec(self, spec: ReceiverSpec) -> int:
        spec_id = next(self._spec_ids)
        self._specs[spec_id] = spec
        if self._conn is not None and self._opened:  # else: attached when it opens
            self._attach(spec_id, spec)
        return spec_id

    def _remove_spec(self, spec_id: int) -> None:
        spec = self._specs.pop(spec_id, None)
        link = getattr(spec, "link", None)
        if link is not None and link.state & Link.LOCAL_ACTIVE:
            link.close()

    def _attach(self, spec_id: int, spec: ReceiverSpec) -> None:
        options: list[LinkOption] = []
        assert self.addressing is not None
        route = spec.source(self.addressing)
        if route is not None and spec.on_address is not None and route.address:
            spec.on_address(route.address)
        if route is not None and route.subject and self.addressing.name == "standard":
            options.append(subject_filter(route.address == TOPIC_NODE, route.subject))
        if self.presettled:
            options.append(AtMostOnce())  # the broker sends them settled
        link = self._loop.container.create_receiver(
            self._conn,
            source=route.address if route is not None else None,
            dynamic=route is None,
            name=self._link_name("rcv"),
            options=options or None,
        )
        link._qmf_spec = spec_id
        link._qmf_dynamic = route is None
        spec.link = link
        if not self.ready.is_set():
            self._waiting_links += 1
            link._qmf_counted = True

    @guarded
    def on_link_opened(self, event: Any) -> None:
        link = event.link
        spec = self._specs.get(getattr(link, "_qmf_spec", 0))
        if spec is not None:
            if spec.on_address is not None and link._qmf_dynamic:
                address = link.remote_source.address
                if address:
                    spec.on_address(address)
            spec.attached.set()
        if getattr(link, "_qmf_counted", False):
            link._qmf_counted = False
            self._waiting_links -= 1
            if self._waiting_links == 0 and self._conn is not None:
                self._up()

    def _sender_for(self, address: str | None) -> Outbox:
        """The cached sender for *address* (the relay sender when there is
        one); the least recently used is closed beyond ``_SENDER_LIMIT``, so
        an agent answering many short-lived consoles does not pile up links."""
        key = None if self._relay else address
        box = self._senders.get(key)
        if box is not None and box.sender.state & Link.LOCAL_ACTIVE:
            self._senders.move_to_end(key)
            return box
        sender = self._loop.container.create_sender(
            self._conn,
            target=key,
            name=self._link_name("snd"),
            options=AtMostOnce() if self.presettled or not self._confirm else None,
        )
        box = Outbox(sender, _PENDING_LIMIT)
        sender._qmf_outbox = box
        self._senders[key] = box
        if len(self._senders) > _SENDER_LIMIT:
            self._evict_idle_senders()
        return box

    def _evict_idle_senders(self) -> None:
        """Close least recently used senders with nothing queued (one still
        waiting for credit, or with deliveries not yet written, is kept:
        closing it would lose them)."""
        for key, old in list(self._senders.items())[:-1]:  # never the one just made
            if len(self._senders) <= _SENDER_LIMIT:
                return
            if len(old) == 0 and old.sender.queued == 0:  # nothing waiting, nothing unsent
                del self._senders[key]
                if old.sender.state & Link.LOCAL_ACTIVE:
                    old.sender.close()

    def _send(
        self, route: Route, data: bytes | Message, logical: bool, on_refused: Refused | None
    ) -> None:
        if self._conn is None or not self.ready.is_set():
            if len(self._pending) >= _PENDING_LIMIT:
                log.warning("not connected to %s: dropping a message to %s", self.url, route.address)
                return
            self._pending.append((route, data, logical, on_refused))
            return
        if isinstance(data, Message):
            try:
                data = encode(data, wrap_lists=self.wrap_lists)
            except ValueError as exc:
                log.error("dropped a message that cannot be encoded: %s", exc)
                return
        if logical:
            route = self.wire_route(route.address, route.subject)
        self._sender_for(route.address).put(data, on_refused)

    @guarded
    def on_link_flow(self, event: Any) -> None:
        box = getattr(event.link, "_qmf_outbox", None)
        if box is not None:
            box.pump()

    @guarded
    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        link = event.link
        if link.is_sender:
            outcome(delivery)
            return
        if not delivery.readable or delivery.partial:
            return
        data = link.recv(delivery.pending)
        link.advance()
        spec = self._specs.get(getattr(link, "_qmf_spec", 0))
        settled = delivery.settled  # pre-settled by the peer: nothing to answer
        try:
            message = decode(data, None, keep_user_id=self._trust_user_id)
        except ValueError as exc:
            log.warning("undecodable message from %s: %s", self.url, exc)
            if not settled:
                delivery.update(Delivery.REJECTED)
            delivery.settle()
            return
        if not settled:
            delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        if spec is None:
            return
        try:
            spec.callback(message)
        except Exception:
            log.exception("a receiver callback failed (opcode %s)", message.opcode)

    # -- helpers ----------------------------------------------------------

    def wire_route(self, address: str | None, subject: str | None) -> Route:
        """Map a standard (logical) address to this peer's profile."""
        addressing = self.addressing or StandardAddressing()
        if address == DIRECT_NODE and subject:
            return addressing.to_agent(subject)
        if address == TOPIC_NODE and subject:
            return addressing.to_topic(subject)
        return addressing.to_reply(address or "")


class _Retry(Handler):
    """The timer task that makes the next connection attempt."""

    def __init__(self, peer: Peer) -> None:
        super().__init__()
        self._peer = peer

    def on_timer_task(self, event: Any) -> None:
        self._peer._connect()
