"""An in-memory transport: agents and clients in one process, no network.

:class:`MemoryBroker` routes :class:`~qmf_agent.message.Message` objects the
way a broker speaking one of our addressing profiles would (direct requests
by agent name, topic subjects with ``*`` / ``#`` patterns, reply addresses),
and :class:`MemoryClient` offers the request / broadcast / subscribe calls of
the real client (docs/internals.md section 4).  It exists so that the agent,
the console's session and anything else above the wire can be tested end to
end without proton; the proton transport is tested against real peers.

Messages are deep-copied on the way through, as a wire would, so that no
test passes because two sides share a mutable object; ``user_id`` is set by
the broker from the client's login, never taken from the sender.

Threading: :meth:`MemoryBroker.send` may be called from any thread; it
delivers synchronously in the caller's thread, outside its lock.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from qmf_agent.errors import RequestTimeout
from qmf_agent.message import Message
from qmf_agent.protocol import (
    DIRECT_NODE,
    LOCATE_SUBJECT,
    PARTIAL_KEY,
    TOPIC_NODE,
    Addressing,
    StandardAddressing,
)

__all__ = ["MemoryBroker", "MemoryClient", "Subscription", "topic_matches"]

log = logging.getLogger(__name__)

_RABBIT_QUEUE = f"/queue/{DIRECT_NODE}."
_RABBIT_TOPIC = "/exchange/amq.topic/qmf.default."


class _Handler(Protocol):
    name: str

    def handle(self, message: Message) -> None: ...


def topic_matches(pattern: str, subject: str) -> bool:
    """Whether topic *subject* matches binding *pattern*: ``*`` stands for
    one word, ``#`` for zero or more (AMQP topic exchange rules)."""
    return _match(tuple(pattern.split(".")), tuple(subject.split(".")))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _match(rest, words[1:])


@dataclass(eq=False)
class Subscription:
    """A topic subscription; :meth:`cancel` stops delivery."""

    broker: MemoryBroker
    pattern: str
    callback: Callable[[Message], None]

    def cancel(self) -> None:
        self.broker._unsubscribe(self)


class MemoryBroker:
    """Routes messages between in-process agents and clients."""

    def __init__(self, addressing: Addressing | None = None, *, copy_messages: bool = True) -> None:
        self.addressing = addressing or StandardAddressing()
        self.copy_messages = copy_messages
        self._lock = threading.Lock()
        self._agents: dict[str, _Handler] = {}
        self._topics: list[Subscription] = []
        self._replies: dict[str, Callable[[Message], None]] = {}
        self.dropped = 0  # messages nobody was there to receive

    def attach(self, agent: _Handler) -> None:
        """Deliver requests for ``agent.name`` and locate broadcasts to *agent*."""
        with self._lock:
            self._agents[agent.name] = agent
        self.subscribe(LOCATE_SUBJECT, agent.handle)

    def client(self, user: str | None = None, timeout: float = 10.0) -> MemoryClient:
        """A client whose requests carry ``user_id`` *user*."""
        return MemoryClient(self, user, timeout)

    def subscribe(self, pattern: str, callback: Callable[[Message], None]) -> Subscription:
        sub = Subscription(self, pattern, callback)
        with self._lock:
            self._topics.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._topics:
                self._topics.remove(sub)

    def _bind_reply(self, address: str, callback: Callable[[Message], None] | None) -> None:
        with self._lock:
            if callback is None:
                self._replies.pop(address, None)
            else:
                self._replies[address] = callback

    def send(self, message: Message, *, user: str | None = None) -> None:
        """Route *message* by its address (and subject); any thread."""
        if self.copy_messages:
            message = copy.deepcopy(message)
        message.user_id = user
        targets = self._targets(message.address, message.subject)
        if not targets:
            self.dropped += 1
            log.debug("no receiver for %s / %s", message.address, message.subject)
        for i, deliver in enumerate(targets):
            deliver(message if i == 0 or not self.copy_messages else copy.deepcopy(message))

    def _targets(self, address: str | None, subject: str | None) -> list[Callable[[Message], None]]:
        topic: str | None = None
        agent_name: str | None = None
        if address == DIRECT_NODE:
            agent_name = subject
        elif address == TOPIC_NODE:
            topic = subject
        elif address is not None and address.startswith(_RABBIT_QUEUE):
            agent_name = address[len(_RABBIT_QUEUE) :]
        elif address is not None and address.startswith(_RABBIT_TOPIC):
            topic = address[len(_RABBIT_TOPIC) :]
        with self._lock:
            if agent_name is not None:
                agent = self._agents.get(agent_name)
                return [agent.handle] if agent is not None else []
            if topic is not None:
                return [s.callback for s in self._topics if topic_matches(s.pattern, topic)]
            reply = self._replies.get(address or "")
            return [reply] if reply is not None else []


class MemoryClient:
    """The client half over a :class:`MemoryBroker`: the calls of the real
    ``qmf_agent.transport.Client`` (request with ``stream``, broadcast,
    subscribe, close, context manager), so code above the wire can be
    tested on either."""

    def __init__(
        self, broker: MemoryBroker, user: str | None = None, timeout: float = 10.0
    ) -> None:
        self.broker = broker
        self.user = user
        self.timeout = timeout
        self.reply_to = f"memory://reply/{uuid.uuid4()}"
        self._waiting: dict[Any, queue.Queue[Message]] = {}
        self._streams: dict[Any, Callable[[Message], None]] = {}
        self._lock = threading.Lock()
        self.unsolicited: queue.Queue[Message] = queue.Queue()
        broker._bind_reply(self.reply_to, self._on_reply)

    def _on_reply(self, message: Message) -> None:
        with self._lock:
            waiting = self._waiting.get(message.correlation_id)
            stream = None if waiting is not None else self._streams.get(message.correlation_id)
        if stream is not None:
            stream(message)
        else:
            (waiting or self.unsolicited).put(message)

    def _post(self, message: Message, route_agent: str | None, subject: str | None) -> Any:
        correlation_id = str(uuid.uuid4())
        out = copy.copy(message)
        out.properties = dict(message.properties)
        out.correlation_id = correlation_id
        out.reply_to = self.reply_to
        route = (
            self.broker.addressing.to_agent(route_agent)
            if route_agent is not None
            else self.broker.addressing.to_topic(subject or LOCATE_SUBJECT)
        )
        route.apply(out)
        with self._lock:
            self._waiting[correlation_id] = queue.Queue()
        self.broker.send(out, user=self.user)
        return correlation_id

    def request(
        self,
        message: Message,
        agent: str | None = None,
        timeout: float | None = None,
        stream: Callable[[Message], None] | None = None,
    ) -> list[Message]:
        """Every message of the answer to *message* (the final one last).

        With *stream*, later messages with the same correlation id (a
        subscription's deliveries) go to ``stream(message)`` until
        :meth:`end_stream`.
        """
        if agent is None:
            raise ValueError("the in-memory client needs the agent's name")
        wait = self.timeout if timeout is None else timeout
        correlation_id = self._post(message, agent, None)
        inbox = self._waiting[correlation_id]
        answer: list[Message] = []
        try:
            while True:
                try:
                    part = inbox.get(timeout=wait)
                except queue.Empty:
                    raise RequestTimeout(
                        f"no answer from {agent} within {wait} s ({message.opcode})"
                    ) from None
                answer.append(part)
                if PARTIAL_KEY not in part.properties:
                    return answer
        finally:
            early: list[Message] = []
            with self._lock:
                self._waiting.pop(correlation_id, None)
                if stream is not None and answer:
                    self._streams[correlation_id] = stream
                    while not inbox.empty():
                        early.append(inbox.get_nowait())
            for later in early:
                assert stream is not None
                stream(later)

    def end_stream(self, correlation_id: Any) -> None:
        """Stop passing messages with *correlation_id* to a request's stream."""
        with self._lock:
            self._streams.pop(correlation_id, None)

    def send(self, message: Message, agent: str) -> Any:
        """Send without waiting; answers for the returned correlation id
        are collected by :meth:`collect`."""
        return self._post(message, agent, None)

    def collect(self, correlation_id: Any, timeout: float = 1.0) -> list[Message]:
        """Messages received so far (waiting up to *timeout* for the first)."""
        with self._lock:
            inbox = self._waiting.get(correlation_id)
        if inbox is None:
            return []
        out: list[Message] = []
        try:
            out.append(inbox.get(timeout=timeout))
            while True:
                out.append(inbox.get_nowait())
        except queue.Empty:
            return out

    def broadcast(
        self, message: Message, subject: str = LOCATE_SUBJECT, wait: float = 0.2
    ) -> list[Message]:
        """Every answer that arrives within *wait* seconds (many agents answer)."""
        correlation_id = self._post(message, None, subject)
        inbox = self._waiting[correlation_id]
        answers: list[Message] = []
        try:
            while True:
                try:
                    answers.append(inbox.get(timeout=wait))
                except queue.Empty:
                    return answers
        finally:
            with self._lock:
                self._waiting.pop(correlation_id, None)

    def subscribe(self, pattern: str, callback: Callable[[Message], None]) -> Subscription:
        return self.broker.subscribe(pattern, callback)

    def close(self) -> None:
        self.broker._bind_reply(self.reply_to, None)

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
