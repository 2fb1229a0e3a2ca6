"""Pieces shared by the listener and the outgoing connections.

* :class:`CreditWindow` -- receiver credit topped up in batches, not one
  flow frame per message.
* :class:`Outbox` -- a bounded queue of encoded messages per sender link,
  drained as the peer grants credit.  A subscriber that stops reading loses
  messages (with a log line) instead of growing our memory without bound.
* :func:`subject_matches` -- AMQP/QMF topic patterns: ``*`` is exactly one
  dot-separated word, ``#`` zero or more.
* :func:`subject_filter` / :func:`filter_pattern` -- the subject filter a
  receiver puts on its source (Qpid's legacy-amqp binding filters, which
  brokers with subject routing understand) and reading it back.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
from collections.abc import Callable
from typing import Any

from proton import Delivery, Described, Handler, Link, Sender, Terminus, symbol
from proton.reactor import Filter

__all__ = [
    "MAX_FRAME_SIZE",
    "CreditWindow",
    "Outbox",
    "Refused",
    "outcome",
    "subject_matches",
    "subject_filter",
    "filter_pattern",
    "DIRECT_BINDING",
    "TOPIC_BINDING",
]

log = logging.getLogger(__name__)

DIRECT_BINDING = symbol("apache.org:legacy-amqp-direct-binding:string")
TOPIC_BINDING = symbol("apache.org:legacy-amqp-topic-binding:string")
_FILTER_KEY = symbol("subject-filter")

_tags = itertools.count()

# The largest frame we accept (and so, on the other side, send).  proton's
# default is 32 KiB: a 180 KB batch of a query answer then arrives as six
# transfer frames, each an I/O event and a delivery event dispatched through
# Python handlers on both sides.  1 MiB makes it one; small messages are
# unaffected (a frame is never padded).
MAX_FRAME_SIZE = 1 << 20

Refused = Callable[[str], None]


class CreditWindow(Handler):
    """Keeps every receiver's credit between half the window and the window.

    proton's ``FlowController`` tops credit up after every delivery: one
    flow frame per message, which a broker must read and act on while the
    answer is waiting behind it.  Granting the missing half at once costs
    one frame per ``window // 2`` messages and never lets credit run dry.
    """

    def __init__(self, window: int = 200) -> None:
        super().__init__()
        if window < 2:
            raise ValueError(f"credit window must be at least 2, not {window}")
        self._window = window
        self._low = window // 2

    def _top_up(self, link: Link) -> None:
        if link.is_receiver and link.state & Link.LOCAL_ACTIVE and link.credit <= self._low:
            link.flow(self._window - link.credit)

    def on_link_local_open(self, event: Any) -> None:
        self._top_up(event.link)

    def on_link_remote_open(self, event: Any) -> None:
        self._top_up(event.link)

    def on_link_flow(self, event: Any) -> None:
        self._top_up(event.link)

    def on_delivery(self, event: Any) -> None:
        self._top_up(event.link)


class Outbox:
    """Encoded messages waiting for credit on one sender link."""

    def __init__(self, sender: Sender, limit: int) -> None:
        self.sender = sender
        self.limit = limit
        self.dropped = 0
        self._queue: collections.deque[tuple[bytes, Refused | None]] = collections.deque()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, data: bytes, on_refused: Refused | None = None) -> bool:
        """Queue *data* and send what credit allows; False when dropped.

        On an unsettled link, *on_refused* is called with the peer's reason
        if it rejects (or releases) the message.
        """
        if len(self._queue) >= self.limit:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "link %s to %s is not reading: %d message(s) dropped (limit %d queued)",
                    self.sender.name,
                    self.sender.source.address or self.sender.target.address,
                    self.dropped,
                    self.limit,
                )
            return False
        self._queue.append((data, on_refused))
        self.pump()
        return True

    def pump(self) -> None:
        """Send queued messages while the peer gives credit."""
        sender = self.sender
        queue = self._queue
        settled = sender.snd_settle_mode == Link.SND_SETTLED
        while queue and sender.credit > 0 and sender.state & Link.LOCAL_ACTIVE:
            data, on_refused = queue.popleft()
            delivery = sender.delivery(str(next(_tags)))
            sender.stream(data)
            sender.advance()
            if settled:
                delivery.settle()
            elif on_refused is not None:
                delivery._qmf_refused = on_refused


def outcome(delivery: Delivery) -> None:
    """Settle a sent delivery the peer answered; report a refusal."""
    state = delivery.remote_state
    on_refused = getattr(delivery, "_qmf_refused", None)
    if on_refused is not None and state in (Delivery.REJECTED, Delivery.RELEASED, Delivery.MODIFIED):
        condition = delivery.remote.condition
        reason = condition.description if condition is not None else None
        on_refused(reason or ("rejected" if state == Delivery.REJECTED else "not delivered"))
    if state or delivery.remote_settled:
        delivery.settle()


@functools.lru_cache(maxsize=8192)
def subject_matches(pattern: str, subject: str) -> bool:
    """Does *subject* match the topic *pattern* (``*`` one word, ``#`` any)?"""
    return _match(tuple(pattern.split(".")), tuple(subject.split(".")))


def _match(pat: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pat:
        return not words
    head, rest = pat[0], pat[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


def subject_filter(node_is_topic: bool, pattern: str) -> Filter:
    """The receiver option that asks a node for messages whose subject matches."""
    descriptor = TOPIC_BINDING if node_is_topic else DIRECT_BINDING
    return Filter({_FILTER_KEY: Described(descriptor, pattern)})


def filter_pattern(source: Terminus) -> str | None:
    """The subject pattern a peer's source asks for, if it has a binding filter."""
    data = source.filter
    try:
        data.rewind()
        filters: Any = data.get_object() if data.next() is not None else None
    except Exception:  # an undecodable filter is treated as none
        return None
    if not isinstance(filters, dict):
        return None
    for value in filters.values():
        if isinstance(value, Described) and value.descriptor in (DIRECT_BINDING, TOPIC_BINDING):
            return str(value.value)
    return None
