"""The proton transport: the only code in qmf-grid that touches AMQP objects.

* :class:`DirectListener` -- the embedded default: consoles connect to the
  agent itself, no broker (a small router for the standard profile);
* :class:`BrokerLink` -- the agent's connection to a broker, with the
  standard or the RabbitMQ 3.x addressing profile, detected or given;
* :class:`Client` -- the console's half: request / broadcast / subscribe;
* :class:`AgentServer` -- serves an Agent on either of the first two;
* :class:`Security` -- TLS (``amqps://``) and SASL settings.

Threading contract.  Each listener, broker link and client runs one proton
``Container`` on its own daemon thread, and that thread alone touches its
connections, links and deliveries.  Other threads get in only through the
container's wake-up pipe (``Loop.call_soon`` / ``Loop.call``): the
public methods here (``send``, ``request``, ``subscribe``, ``stop``, ...)
are thread-safe because they do no more than encode a message on the
calling thread and queue it for the container thread.  Callbacks the
transport makes -- an agent's ``handle()``, a subscription's callback --
run on the container thread and must not block: a slow callback stalls
every connection that thread serves.

Subject routing on the direct listener is by *subject filter*: a receiver
on ``qmf.default.topic`` (or ``qmf.default.direct``) carries Qpid's
``legacy-amqp-topic-binding`` (``-direct-binding``) filter with the
pattern; ``*`` matches one word, ``#`` zero or more.
"""

from __future__ import annotations

from ._peer import TransportError
from ._security import Security
from .broker import BrokerLink
from .client import Client, Subscription, Unreachable
from .listener import DirectListener, ListenError
from .server import AgentServer

__all__ = [
    "AgentServer",
    "BrokerLink",
    "Client",
    "DirectListener",
    "ListenError",
    "Security",
    "Subscription",
    "TransportError",
    "Unreachable",
]
