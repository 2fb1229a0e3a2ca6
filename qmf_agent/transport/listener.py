"""The direct listener: consoles and monitors talk to the agent with no broker.

It is a small AMQP 1.0 router for the standard addressing profile:

* ``qmf.default.direct`` with subject = an agent's name goes to that agent
  (one served in this process, or a peer receiving from
  ``qmf.default.direct`` with a direct-binding subject filter for the name);
* ``qmf.default.topic`` fans out to every receiver whose subject filter
  (a topic-binding filter with ``*``/``#`` patterns; no filter means all)
  matches the subject; ``console.request.agent_locate`` also goes to every
  agent served here;
* any other address goes to the (first) receiver attached to it -- above
  all the reply addresses handed out to peers' dynamic receivers.

Unroutable messages are rejected with ``amqp:not-found`` (a client sees an
error at once instead of a timeout).  Senders may use anonymous relay
(``ANONYMOUS-RELAY`` is offered) or attach to a node address.  Each
subscriber has a bounded outbox: a slow reader loses messages, logged.

Every message received gets ``user_id`` = the identity the connection
authenticated (``None`` for anonymous); the sender's own is never trusted.
Anonymous peers are accepted only from loopback unless
:class:`~qmf_agent.transport.Security` says otherwise.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from proton import Condition, Connection, Delivery, Handler, Link, Sender, Url, symbol
from proton.handlers import EndpointStateHandler

from qmf_agent.message import Message
from qmf_agent.protocol import DIRECT_NODE, LOCATE_SUBJECT, TOPIC_NODE

from ._convert import decode, encode
from ._links import MAX_FRAME_SIZE, CreditWindow, Outbox, filter_pattern, subject_matches
from ._loop import Loop, LoopClosed, guarded
from ._security import Security

__all__ = ["DirectListener", "ListenError", "parse_listen"]

log = logging.getLogger(__name__)

ANONYMOUS_RELAY = symbol("ANONYMOUS-RELAY")
PRODUCT = "qmf-grid"
_IDLE_TIMEOUT = 60.0

AgentHandler = Callable[[Message], None]
T = TypeVar("T")


class ListenError(OSError):
    """The listener could not bind its address (in use, bad host, ...)."""


def parse_listen(listen: str) -> tuple[str, int, bool]:
    """``[amqp[s]://]HOST:PORT`` -> (host, port, tls); ValueError names the problem."""
    text = listen.strip()
    tls = text.startswith("amqps://")
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in ("amqp", "amqps"):
            raise ValueError(f"listen address {listen!r}: scheme must be amqp or amqps")
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"listen address {listen!r}: expected HOST:PORT with a port 1-65535")
    return host.strip("[]"), int(port_text), tls


_CN = re.compile(r"(?:^|,)\s*CN=((?:\\.|[^,\\])+)")


def _identity(connection: Connection) -> str | None:
    """The authenticated user of *connection*, None when anonymous.

    A SASL login is ``user@realm``; a client certificate (SASL EXTERNAL)
    is its subject's common name (``CN=carol,O=...`` is ``carol``), so
    ``QMF_ADMINS`` can name certificate users as plainly as others.
    """
    transport = connection.transport
    if transport is None:
        return None
    user = transport.user
    if not user or user.lower() == "anonymous":
        return None
    if transport.sasl().mech == "EXTERNAL":
        match = _CN.search(user)
        if match:
            return match.group(1).replace("\\", "")
    return str(user)


class DirectListener(Handler):
    """Accepts AMQP connections on *listen* and routes QMF messages.

    Agents served in this process register with :meth:`attach_agent`; what
    they send goes through :meth:`send`.  Threading: see the package
    docstring -- every method here except :meth:`send`, :meth:`start`,
    :meth:`stop`, :meth:`attach_agent` and :meth:`detach_agent` runs on the
    listener's container thread.
    """

    def __init__(
        self,
        listen: str = "127.0.0.1:5672",
        *,
        security: Security | None = None,
        max_queued: int = 10_000,
        max_message_bytes: int = 64 * 1024 * 1024,
        container_id: str | None = None,
    ) -> None:
        super().__init__()
        self.max_message_bytes = max_message_bytes
        self.host, self.port, tls = parse_listen(listen)
        self.security = security or Security()
        if tls and not self.security.cert_file:
            raise ValueError(f"listen address {listen!r}: amqps needs cert_file and key_file")
        self._tls = tls or bool(self.security.cert_file)
        self.max_queued = max_queued
        self.container_id = container_id or f"qmf-grid-{uuid.uuid4()}"
        self.handlers = [CreditWindow(), EndpointStateHandler(delegate=weakref.proxy(self))]
        self._agents: dict[str, AgentHandler] = {}
        self._exact: dict[str, list[Outbox]] = {}
        self._direct: dict[str, list[Outbox]] = {}
        self._topics: list[tuple[str, Outbox]] = []
        self._reply_ids = itertools.count(1)
        self._connections: set[Connection] = set()
        self._acceptor: Any = None
        self._loop = Loop(self, f"qmf-listener-{self.port}", self.container_id)

    # -- any thread -------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "amqps" if self._tls else "amqp"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind the address and start serving; :class:`ListenError` if taken."""
        domain = self.security.server_ssl_domain() if self._tls else None
        try:
            self._acceptor = self._loop.container.listen(Url(host=self.host, port=self.port), domain)
        except OSError as exc:
            raise ListenError(exc.errno, f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        except Exception as exc:
            raise ListenError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._loop.start()
        log.info("listening on %s", self.url)

    def stop(self) -> None:
        """Close every connection and the listening socket, then the thread."""
        try:
            self._loop.call(self._close_all, timeout=5.0)
        except Exception as exc:  # the loop may already be gone
            log.debug("listener stop: %s", exc)
        deadline = time.monotonic() + 1.0  # let peers answer the close
        while self._connections and time.monotonic() < deadline:
            time.sleep(0.01)
        self._loop.stop()

    def loop_call(self, fn: Callable[[], T]) -> T:
        """Run *fn* on the listener thread and return its result (for
        inspecting routing state safely, e.g. in tests and diagnostics)."""
        return self._loop.call(fn)

    def attach_agent(self, name: str, handle: AgentHandler) -> None:
        """Deliver requests for agent *name* (and locates) to *handle*.

        *handle* runs on the listener thread and must not block.
        """
        self._loop.call(self._agents.__setitem__, name, handle)

    def detach_agent(self, name: str) -> None:
        self._loop.call(self._agents.pop, name, None)

    def send(self, message: Message) -> None:
        """Route a message of an agent served here (thread-safe).

        Encoded on the calling thread; routed on the listener thread,
        which a thread streaming a big answer waits for when it is behind
        (:meth:`Loop.call_paced`), so batches reach the socket while the
        next ones are encoded.
        """
        data = encode(message)
        try:
            self._loop.call_paced(self._route_local, message.address, message.subject, data)
        except LoopClosed:  # an agent's late answer after stop(): nowhere to go
            log.debug("listener stopped: dropped %s", message.opcode)

    # -- container thread -------------------------------------------------

    def _close_all(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(self._connections):
            conn.close()

    @guarded
    def on_connection_bound(self, event: Any) -> None:
        self.security.configure_server_transport(event.transport)
        event.transport.idle_timeout = _IDLE_TIMEOUT  # drop peers that silently vanished
        event.transport.max_frame_size = MAX_FRAME_SIZE

    @guarded
    def on_connection_opening(self, event: Any) -> None:
        conn = event.connection
        conn.container = self.container_id
        conn.offered_capabilities = [ANONYMOUS_RELAY]
        conn.properties = {symbol("product"): PRODUCT}

    @guarded
    def on_connection_opened(self, event: Any) -> None:
        conn = event.connection
        user = _identity(conn)
        host = conn.url.host if getattr(conn, "url", None) else None
        if user is None and not self.security.anonymous_allowed(host):
            log.warning("refusing anonymous connection from %s", host)
            conn.condition = Condition(
                "amqp:unauthorized-access", "anonymous access is allowed only from loopback"
            )
            conn.close()
            return
        conn._qmf_user = user
        self._connections.add(conn)
        log.debug("connection from %s as %s", host, user or "anonymous")

    @guarded
    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_sender:
            self._open_outgoing(link)
        else:
            link.source.copy(link.remote_source)
            link.target.copy(link.remote_target)
            link.max_message_size = self.max_message_bytes

    def _open_outgoing(self, link: Sender) -> None:
        """A peer's receiver: decide what it receives."""
        remote = link.remote_source
        link.source.copy(remote)
        link.target.copy(link.remote_target)
        link.snd_settle_mode = Link.SND_SETTLED
        box = Outbox(link, self.max_queued)
        link._qmf_outbox = box
        pattern = filter_pattern(remote)
        if remote.dynamic:
            address = f"qmf.reply.{self.port}.{next(self._reply_ids)}.{uuid.uuid4().hex[:12]}"
            link.source.address = address
            self._exact.setdefault(address, []).append(box)
        elif remote.address == TOPIC_NODE:
            self._topics.append((pattern or "#", box))
        elif remote.address == DIRECT_NODE and pattern:
            self._direct.setdefault(pattern, []).append(box)
        elif remote.address:
            self._exact.setdefault(remote.address, []).append(box)
        else:
            link.condition = Condition("amqp:invalid-field", "a receiver needs an address or dynamic")
            link.close()

    def _forget(self, link: Link) -> None:
        box = getattr(link, "_qmf_outbox", None)
        if box is None:
            return
        link._qmf_outbox = None
        for table in (self._exact, self._direct):
            for key in [k for k, boxes in table.items() if box in boxes]:
                table[key].remove(box)
                if not table[key]:
                    del table[key]
        self._topics = [(p, b) for p, b in self._topics if b is not box]

    def on_link_closing(self, event: Any) -> None:
        self._forget(event.link)

    def on_link_closed(self, event: Any) -> None:
        self._forget(event.link)

    def on_link_error(self, event: Any) -> None:
        self._forget(event.link)
        event.link.close()

    def _forget_connection(self, conn: Connection) -> None:
        link = conn.link_head(0)
        while link:
            self._forget(link)
            link = link.next(0)
        self._connections.discard(conn)

    def on_connection_closing(self, event: Any) -> None:
        self._forget_connection(event.connection)

    def on_connection_closed(self, event: Any) -> None:
        self._forget_connection(event.connection)

    def on_connection_error(self, event: Any) -> None:
        self._forget_connection(event.connection)
        event.connection.close()

    def on_session_error(self, event: Any) -> None:
        event.session.close()

    def on_disconnected(self, event: Any) -> None:
        if event.connection is not None:
            self._forget_connection(event.connection)

    def on_transport_error(self, event: Any) -> None:
        cond = event.transport.condition
        log.info("transport error: %s", cond.description if cond else "unknown")

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
            if delivery.remote_state or delivery.settled:
                delivery.settle()
            return
        if delivery.pending > self.max_message_bytes:
            # Refuse before the rest arrives: one peer must not fill our memory.
            log.warning(
                "closing link %s from %s: a message over %d bytes",
                link.name, link.connection.remote_container, self.max_message_bytes,
            )
            link.condition = Condition(
                "amqp:link:message-size-exceeded",
                f"messages are limited to {self.max_message_bytes} bytes",
            )
            delivery.settle()
            link.close()
            return
        if not delivery.readable or delivery.partial:
            return
        data = link.recv(delivery.pending)
        link.advance()
        settled_by_peer = delivery.settled
        try:
            message = decode(data, getattr(link.connection, "_qmf_user", None))
            if message.address is None:
                message.address = link.target.address
            error = self._route_remote(message)
        except ValueError as exc:
            error = str(exc)
        if not settled_by_peer:
            if error is None:
                delivery.update(Delivery.ACCEPTED)
            else:
                delivery.local.condition = Condition("amqp:not-found", error)
                delivery.update(Delivery.REJECTED)
        if error is not None:
            log.info("rejected a message from %s: %s", link.connection.remote_container, error)
        delivery.settle()

    # -- routing ----------------------------------------------------------

    def _route_remote(self, message: Message) -> str | None:
        """Route a message received from a peer; an error text or None."""
        cache: list[bytes] = []

        def data() -> bytes:
            if not cache:
                cache.append(encode(message))
            return cache[0]

        return self._route(message.address, message.subject, data, lambda: message)

    def _route_local(self, address: str | None, subject: str | None, data: bytes) -> None:
        error = self._route(address, subject, lambda: data, lambda: decode(data, None))
        if error is not None:
            log.info("dropped a message from a local agent: %s", error)

    def _route(
        self,
        address: str | None,
        subject: str | None,
        data: Callable[[], bytes],
        message: Callable[[], Message],
    ) -> str | None:
        if address == DIRECT_NODE:
            if not subject:
                return "a message to qmf.default.direct needs the agent's name as subject"
            handle = self._agents.get(subject)
            if handle is not None:
                self._deliver(handle, message())
                return None
            boxes = self._direct.get(subject)
            if boxes:
                boxes[0].put(data())
                return None
            return f"no agent named {subject!r} is reachable here"
        if address == TOPIC_NODE:
            if not subject:
                return "a message to qmf.default.topic needs a subject"
            for pattern, box in self._topics:
                if subject_matches(pattern, subject):
                    box.put(data())
            if subject == LOCATE_SUBJECT:
                for handle in list(self._agents.values()):
                    self._deliver(handle, message())
            return None
        if not address:
            return "message has no address"
        boxes = self._exact.get(address)
        if not boxes:
            return f"no receiver for address {address!r}"
        boxes[0].put(data())
        return None

    @staticmethod
    def _deliver(handle: AgentHandler, message: Message) -> None:
        try:
            handle(message)
        except Exception:
            log.exception("the agent failed to take a message (opcode %s)", message.opcode)
