"""Who may do what, how much, and the record of it: the agent's access policy.

The transport authenticates (SASL, client certificates, or a broker that
validates ``user_id`` against the login); this module decides what that
identity means for one request:

* **identity -> Caller**: the message's ``user_id`` is the identity
  (the direct listener overwrites it with the connection's SASL user; a
  broker such as RabbitMQ refuses a message whose ``user_id`` differs from
  the sender's login).  A request without one is anonymous -- refused with
  FORBIDDEN when ``require_identity`` is set (``QMF_REQUIRE_IDENTITY``),
  which is how an agent behind a broker insists on validated identities;
  A client certificate's subject (SASL EXTERNAL, e.g.
  ``O=example,CN=alice``) is known by its common name, ``alice``: an
  identity is a user name (it becomes the job's Owner and is what
  ``QMF_ADMINS`` lists, a comma-separated list a subject would not fit);
* **admin**: an identity listed in ``admins`` (``QMF_ADMINS``); never
  something the caller can claim;
* **limits**: requests in flight per connection (``QMF_MAX_IN_FLIGHT``;
  a connection is known to the agent by its reply address, one per console
  connection, on the direct listener and through a broker alike) and
  submits per user per second (``QMF_MAX_SUBMITS_PER_SECOND``, a token
  bucket with a burst of one second's worth).  Exceeding one is QUEUE_FULL
  with a text naming the limit -- a clear answer, never a dropped request;
* **audit**: one line per request on the logger ``qmf_agent.audit``
  (``qmf-agent`` also writes it to ``audit.log`` in the state directory):
  who, admin or not, what (class.method, or query/subscribe), which
  object, and the result (``ok`` or the error's name and text).

Thread-safe: the agent calls it from its worker threads concurrently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qmf_agent.binding import Caller
from qmf_agent.errors import Forbidden, QmfError, QueueFull
from qmf_agent.message import Message

__all__ = ["AccessPolicy", "AUDIT_LOGGER", "SUBMIT_METHODS", "audit_log", "identity_of"]

AUDIT_LOGGER = "qmf_agent.audit"
audit_log = logging.getLogger(AUDIT_LOGGER)
log = logging.getLogger(__name__)

#: Methods counted against ``max_submits_per_second`` (they queue new jobs).
SUBMIT_METHODS = frozenset({"scheduler.submit", "scheduler.submitjob"})

_ANONYMOUS = "anonymous"
_NO_CONNECTION = "(no reply address)"


def identity_of(user: str | None) -> str | None:
    """The user name an authenticated *user* stands for: None for none or
    anonymous, a certificate subject's common name, else *user* itself."""
    if not user or user.lower() == "anonymous":
        return None
    if "=" in user:
        for part in user.replace("/", ",").split(","):
            key, sep, value = part.strip().partition("=")
            if sep and key.strip().upper() == "CN" and value.strip():
                return value.strip()
    return user


def _clean(text: object, limit: int = 200) -> str:
    """One line of at most *limit* characters: an audit line stays one line
    whatever a caller puts into a name or an error text."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class AccessPolicy:
    """The agent's decisions about one request (see the module docstring).

    :param admins: identities that act as administrators.
    :param require_identity: refuse requests that carry no identity.
    :param max_in_flight: requests one connection may have under way at
        once (0: no limit).
    :param max_submits_per_second: Submit calls per identity per second
        (0: no limit); the anonymous callers share one budget.
    :param clock: monotonic seconds (a test may pass its own).
    """

    def __init__(
        self,
        *,
        admins: Iterable[str] = (),
        require_identity: bool = False,
        max_in_flight: int = 0,
        max_submits_per_second: float = 0.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_in_flight < 0:
            raise ValueError(f"max_in_flight must be 0 (no limit) or positive, not {max_in_flight}")
        if max_submits_per_second < 0:
            raise ValueError(
                "max_submits_per_second must be 0 (no limit) or positive, "
                f"not {max_submits_per_second}"
            )
        self.admins = frozenset(admins)
        self.require_identity = require_identity
        self.max_in_flight = int(max_in_flight)
        self.max_submits_per_second = float(max_submits_per_second)
        self._monotonic = clock or time.monotonic
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._buckets: dict[str, _Bucket] = {}

    # ------------------------------------------------------------ identity

    def identify(self, message: Message, request_id: str | None = None) -> Caller:
        """The :class:`Caller` *message* comes from (never refuses)."""
        identity = identity_of(message.user_id if isinstance(message.user_id, str) else None)
        return Caller(
            identity=identity,
            admin=identity is not None and identity in self.admins,
            request_id=request_id,
        )

    def caller(self, message: Message, request_id: str | None = None) -> Caller:
        """The :class:`Caller` to serve *message* as; FORBIDDEN when an
        identity is required and the message has none."""
        caller = self.identify(message, request_id)
        if caller.identity is None and self.require_identity:
            raise Forbidden(
                "this agent requires an authenticated identity (QMF_REQUIRE_IDENTITY); "
                "the request carried no user id"
            )
        return caller

    # -------------------------------------------------------------- limits

    @staticmethod
    def connection_of(message: Message) -> str:
        """The key requests are counted under: the reply address, which is
        one per console connection."""
        return message.reply_to if isinstance(message.reply_to, str) and message.reply_to else (
            _NO_CONNECTION
        )

    def enter(self, message: Message) -> str:
        """Count a request as under way; QUEUE_FULL past ``max_in_flight``.

        Returns the key to give :meth:`leave` when the request is answered.
        """
        key = self.connection_of(message)
        with self._lock:
            count = self._in_flight.get(key, 0)
            if self.max_in_flight and count >= self.max_in_flight:
                raise QueueFull(
                    f"too many requests in flight on this connection (QMF_MAX_IN_FLIGHT = "
                    f"{self.max_in_flight}); wait for answers before sending more"
                )
            self._in_flight[key] = count + 1
        return key

    def leave(self, key: str) -> None:
        """A request counted by :meth:`enter` was answered."""
        with self._lock:
            count = self._in_flight.get(key, 0) - 1
            if count > 0:
                self._in_flight[key] = count
            else:
                self._in_flight.pop(key, None)

    def in_flight(self, message: Message) -> int:
        """Requests under way on *message*'s connection."""
        with self._lock:
            return self._in_flight.get(self.connection_of(message), 0)

    def check_rate(self, caller: Caller, class_name: str, method: str) -> None:
        """Spend one of *caller*'s submits; QUEUE_FULL when none is left.

        Only :data:`SUBMIT_METHODS` count; administrators are limited too
        (a runaway script is as harmful when it runs as root).
        """
        rate = self.max_submits_per_second
        if not rate or f"{class_name}.{method}".lower() not in SUBMIT_METHODS:
            return
        who = caller.identity or _ANONYMOUS
        now = self._monotonic()
        burst = max(1.0, rate)
        with self._lock:
            bucket = self._buckets.get(who)
            if bucket is None:
                bucket = self._buckets[who] = _Bucket(burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                wait = (1.0 - bucket.tokens) / rate
                raise QueueFull(
                    f"{who} submits faster than QMF_MAX_SUBMITS_PER_SECOND = {rate:g}; "
                    f"retry in {wait:.2f} s"
                )
            bucket.tokens -= 1.0
            if len(self._buckets) > 10_000:  # forget callers that have been quiet
                self._buckets = {
                    k: b for k, b in self._buckets.items() if now - b.stamp < burst / rate
                }

    # --------------------------------------------------------------- audit

    @staticmethod
    def audit(
        caller: Caller | None,
        action: str,
        target: str | None,
        error: BaseException | None = None,
    ) -> None:
        """Write the audit line of one request: who, what, which object, result."""
        if not audit_log.isEnabledFor(logging.INFO):
            return
        if caller is None:
            who, admin = "?", "no"
        else:
            who, admin = caller.identity or _ANONYMOUS, "yes" if caller.admin else "no"
        if error is None:
            result = "ok"
        elif isinstance(error, QmfError):
            result = f"{type(error).__name__}({error.code}): {_clean(error.text)}"
        else:
            result = f"{type(error).__name__}: {_clean(error)}"
        audit_log.info(
            "user=%s admin=%s action=%s object=%s request_id=%s result=%s",
            _clean(who, 100), admin, _clean(action, 100), _clean(target or "-"),
            _clean(caller.request_id if caller and caller.request_id else "-", 100), result,
        )
