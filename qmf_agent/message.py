"""The one message type the layers above the wire see.

``qmf_agent.transport`` converts between this and ``proton.Message``; the
protocol codec, the agent and the console's session only ever handle
:class:`Message`, which is what lets them be tested with an in-memory
transport and no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Message"]


@dataclass(slots=True)
class Message:
    """An AMQP message reduced to the fields QMF uses.

    ``address`` is the target node as the *sender* names it (for the standard
    profile ``qmf.default.direct`` or ``qmf.default.topic``; a reply address
    for responses).  ``properties`` are the AMQP application properties
    (``qmf.opcode``, ``method``, ``qmf.agent``, ``partial``, ...).
    ``user_id`` is the identity the connection authenticated, set by the
    transport on receipt (never trusted from the sender's properties).
    """

    body: Any = None
    address: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    correlation_id: Any = None
    user_id: str | None = None
    content_type: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def opcode(self) -> str | None:
        op = self.properties.get("qmf.opcode")
        return op if isinstance(op, str) else None
