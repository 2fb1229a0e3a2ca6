"""Addressing profiles: where a logical destination lives on a given broker.

The agent and the console think in three destinations -- *an agent* (direct
requests), *a topic subject* (broadcasts and indications) and *a reply
address* -- and a profile maps each to an AMQP target address and subject.
The standard profile is what our direct listener and brokers with subject
routing understand; RabbitMQ 3.x has no dynamic nodes nor anonymous relay,
so it gets its own ``/queue`` and ``/exchange`` forms.  The transport picks
the profile; nothing above it spells an address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from qmf_agent.message import Message

from ._constants import SEVERITY_NAMES

__all__ = [
    "Addressing",
    "Route",
    "StandardAddressing",
    "RabbitAddressing",
    "DIRECT_NODE",
    "TOPIC_NODE",
    "LOCATE_SUBJECT",
    "subject_part",
    "split_agent_name",
    "heartbeat_subject",
    "data_subject",
    "event_subject",
    "severity_name",
]

DIRECT_NODE = "qmf.default.direct"
TOPIC_NODE = "qmf.default.topic"
LOCATE_SUBJECT = "console.request.agent_locate"


def subject_part(name: str) -> str:
    """*name* made safe as one word of a topic subject (dots become ``_``)."""
    return name.replace(".", "_")


def split_agent_name(agent_name: str) -> tuple[str, str, str]:
    """``vendor:product:instance`` -> its three parts (instance may hold ':')."""
    vendor, _, rest = agent_name.partition(":")
    product, _, instance = rest.partition(":")
    return vendor, product, instance


def severity_name(severity: int) -> str:
    """QMFv2's word for a syslog severity (0 emerg .. 7 debug)."""
    if 0 <= severity < len(SEVERITY_NAMES):
        return SEVERITY_NAMES[severity]
    return str(severity)


def heartbeat_subject(vendor: str, product: str) -> str:
    return f"agent.ind.heartbeat.{subject_part(vendor)}.{subject_part(product)}"


def data_subject(package: str, class_name: str) -> str:
    return f"agent.ind.data.{subject_part(package)}.{subject_part(class_name)}"


def event_subject(package: str, event: str, severity: int) -> str:
    return (
        f"agent.ind.event.{subject_part(package)}.{subject_part(event)}.{severity_name(severity)}"
    )


@dataclass(frozen=True, slots=True)
class Route:
    """An AMQP target (or source) address and the subject to set (or filter on)."""

    address: str | None
    subject: str | None = None

    def apply(self, message: Message) -> Message:
        """Set *message*'s address and subject to this route; returns it."""
        message.address = self.address
        if self.subject is not None:
            message.subject = self.subject
        return message


class Addressing(Protocol):
    """What a transport needs to know to place and receive QMF messages."""

    name: str

    def to_agent(self, agent_name: str) -> Route:
        """Where a console sends a request for *agent_name*."""
        ...

    def to_topic(self, subject: str) -> Route:
        """Where a broadcast or indication with *subject* goes."""
        ...

    def to_reply(self, reply_to: str) -> Route:
        """Where an answer to a request with *reply_to* goes."""
        ...

    def agent_source(self, agent_name: str) -> Route:
        """What the agent receives requests from (subject = filter)."""
        ...

    def topic_source(self, pattern: str) -> Route:
        """What a subscriber to subjects matching *pattern* receives from."""
        ...

    def reply_source(self) -> Route | None:
        """A console's reply address; ``None`` means ask for a dynamic node."""
        ...


class StandardAddressing:
    """AMQP 1.0 node addressing: two nodes, routing by subject."""

    name = "standard"

    def to_agent(self, agent_name: str) -> Route:
        return Route(DIRECT_NODE, agent_name)

    def to_topic(self, subject: str) -> Route:
        return Route(TOPIC_NODE, subject)

    def to_reply(self, reply_to: str) -> Route:
        return Route(reply_to)

    def agent_source(self, agent_name: str) -> Route:
        return Route(DIRECT_NODE, agent_name)

    def topic_source(self, pattern: str) -> Route:
        return Route(TOPIC_NODE, pattern)

    def reply_source(self) -> Route | None:
        return None


class RabbitAddressing:
    """RabbitMQ 3.x's AMQP 1.0 plugin: ``/queue/...`` and ``/exchange/...``."""

    name = "rabbitmq"

    def to_agent(self, agent_name: str) -> Route:
        return Route(f"/queue/{DIRECT_NODE}.{agent_name}", agent_name)

    def to_topic(self, subject: str) -> Route:
        return Route(f"/exchange/amq.topic/qmf.default.{subject}", subject)

    def to_reply(self, reply_to: str) -> Route:
        return Route(reply_to)

    def agent_source(self, agent_name: str) -> Route:
        return Route(f"/queue/{DIRECT_NODE}.{agent_name}")

    def topic_source(self, pattern: str) -> Route:
        return Route(f"/exchange/amq.topic/qmf.default.{pattern}")

    def reply_source(self) -> Route | None:
        return Route(f"/exchange/amq.direct/{uuid.uuid4()}")
