"""The seam between the generic agent and the system it manages.

``qmf_agent.agent`` knows schemas and managed objects, not jobs;
``qmf_agent.grid`` knows jobs, not AMQP.  They meet here, and only here:

* the modelled system implements one :class:`ClassBinding` per schema class
  (``scheduler``, ``job``, ``slot``, ...) and registers it with the agent
  explicitly (``agent.bind("job", binding)``) -- no lookups by name;
* the agent hands each binding an :class:`AgentSink`, through which the
  system reports that objects changed or went away and raises events.

The agent pulls object values from the binding when it answers a query or
publishes an indication, so the system stays the one owner of its state
(a queue of 100,000 jobs is not copied into a second registry).

Threading contract: a binding's methods may be called from any thread the
agent uses to serve requests, concurrently; a binding protects its own state.
:class:`AgentSink` methods are thread-safe and never block on the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Caller", "ObjectState", "ClassBinding", "AgentSink", "after_answer",
           "collect_after_answer"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request.

    ``identity`` is the authenticated user (SASL user, certificate subject,
    or the broker-validated ``user_id``); ``None`` means anonymous.
    ``admin`` is decided by the agent's configuration, not by the caller.
    ``request_id`` lets a binding recognise a retried request (a Submit
    sent again after a reconnect must not queue the job twice).
    """

    identity: str | None = None
    admin: bool = False
    request_id: str | None = None


@dataclass(slots=True)
class ObjectState:
    """One managed object's current state, ready for the wire.

    ``values`` holds properties and statistics by schema name, as plain
    AMQP-encodable values (str, int, float, bool, None, list, dict).
    Timestamps are nanoseconds since the Unix epoch; a non-zero
    ``delete_ts`` marks an object that is gone.
    """

    key: str
    values: dict[str, Any]
    create_ts: int
    update_ts: int
    delete_ts: int = 0
    subtypes: dict[str, str] = field(default_factory=dict)


class ClassBinding(Protocol):
    """The live objects of one schema class."""

    def keys(self) -> Iterable[str]:
        """Keys of every object that exists now (``"12.0"`` for a job)."""
        ...

    def state(self, key: str) -> ObjectState | None:
        """The object's state, or ``None`` when there is no such object."""
        ...

    def call(
        self, key: str, method: str, args: Mapping[str, Any], caller: Caller
    ) -> dict[str, Any]:
        """Run *method* on object *key*.

        *args* have already been validated and coerced against the schema
        (defaults filled).  Returns the out arguments by name.  Raises a
        :class:`qmf_agent.errors.QmfError` subclass for anything the caller
        can act on; any other exception is reported as an internal error.
        A method that changes durable state returns only after the change
        is committed.
        """
        ...


class AgentSink(Protocol):
    """What the modelled system may tell the agent."""

    def changed(self, class_name: str, key: str) -> None:
        """Object *key* was created or changed; the agent will pull its
        state when it next publishes."""
        ...

    def deleted(self, class_name: str, key: str, state: ObjectState) -> None:
        """Object *key* is gone; *state* is its last state with
        ``delete_ts`` set, published once and then forgotten."""
        ...

    def event(self, name: str, values: Mapping[str, Any], severity: int = 6) -> None:
        """Raise event *name* (a schema event class, e.g. ``JobHeld``)."""
        ...


#: per serving thread: the work registered by :func:`after_answer` while
#: the method call that thread serves runs (absent or None outside a call)
_serving = threading.local()


def after_answer(work: Callable[[], None]) -> bool:
    """Run *work* once the answer of the method call this thread is serving
    has been sent; False (and *work* not taken) outside a method call.

    Why: what a method does after its result is settled but that its
    caller does not wait for (a Submit's events, its audit line) need not
    delay the answer.  The agent runs *work* right after sending the answer,
    or right away if the call fails; the caller runs it itself when this
    returns False (the scheduler called in process, e.g. by tests).
    """
    pending: list[Callable[[], None]] | None = getattr(_serving, "work", None)
    if pending is None:
        return False
    pending.append(work)
    return True


def collect_after_answer(work: list[Callable[[], None]] | None) -> None:
    """Where :func:`after_answer` puts work on this thread: *work* while the
    agent serves a method call here, None once the call has returned."""
    _serving.work = work
