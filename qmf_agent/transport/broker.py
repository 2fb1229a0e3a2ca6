"""The agent's link to a broker (``qmf-agent --broker URL``).

The agent speaks the standard profile's logical addresses
(``qmf.default.direct`` + agent name, ``qmf.default.topic`` + subject, a
reply address); this link spells them for the broker it reached -- the
RabbitMQ 3.x profile (``/queue/qmf.default.direct.<agent>``,
``/exchange/amq.topic/qmf.default.<subject>``, one cached sender per reply
address) or the standard one -- detected from the broker's ``product``
connection property unless ``profile=`` says.  It receives the agent's
requests and agent-locate broadcasts, and re-attaches both after a
reconnect.

A broker validates ``user_id`` against the login of whoever sent the
message, so here the message's own ``user_id`` is what the agent sees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from qmf_agent.message import Message
from qmf_agent.protocol import LOCATE_SUBJECT, Route

from ._convert import encode
from ._loop import LoopClosed
from ._peer import Peer, ReceiverSpec
from ._security import Security

__all__ = ["BrokerLink"]

log = logging.getLogger(__name__)


class BrokerLink:
    """One agent-side connection to *url* (thread-safe :meth:`send`)."""

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        profile: str | None = None,
        security: Security | None = None,
    ) -> None:
        self._peer = Peer(
            url,
            name="qmf-broker-link",
            user=user,
            password=password,
            profile=profile,
            security=security,
            trust_user_id=True,
        )
        self.url = self._peer.url

    @property
    def profile(self) -> str | None:
        """The addressing profile in use (None before the first connect)."""
        return self._peer.addressing.name if self._peer.addressing else None

    @property
    def connects(self) -> int:
        """How many times the connection was (re)made."""
        return self._peer.connects

    @property
    def connected(self) -> bool:
        return self._peer.ready.is_set()

    def attach_agent(self, name: str, handle: Callable[[Message], None]) -> None:
        """Receive requests for *name* and agent locates; call *handle*.

        Call before :meth:`start`.  *handle* runs on the link's thread.
        """
        self._peer.add_receiver(ReceiverSpec(lambda profile: profile.agent_source(name), handle))
        self._peer.add_receiver(
            ReceiverSpec(lambda profile: profile.topic_source(LOCATE_SUBJECT), handle)
        )

    def start(self, timeout: float = 10.0) -> None:
        """Connect; :class:`TransportError` when the broker is not reached."""
        self._peer.start(timeout)

    def stop(self) -> None:
        self._peer.stop()

    def send(self, message: Message) -> None:
        """Send what the agent produced (thread-safe).

        Encoded here with the logical address; the link spells the route
        for the broker's profile when it goes out (the profile may not be
        known yet: messages wait while the link is down).  Paced like the
        listener's (:meth:`Loop.call_paced`): a big answer streams.
        """
        route = Route(message.address, message.subject)
        data = message if self._peer.addressing is None else (  # unknown: encode later
            encode(message, wrap_lists=self._peer.wrap_lists)
        )
        try:
            self._peer.send(route, data, logical=True, paced=True)
        except LoopClosed:  # an agent's late answer after stop(): nowhere to go
            log.debug("broker link stopped: dropped %s", message.opcode)
