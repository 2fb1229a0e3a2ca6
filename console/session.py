"""The QMF console session: find agents, query objects, call methods, watch.

This is the shape of the classic QMF Python console (``qmf.console``), so
a program written for it works with only its import changed::

    session = Session(); session.addBroker("amqp://localhost:5672")
    schedulers = session.getObjects(_class="scheduler", _package="mrg.grid")
    result = schedulers[0].Submit(ad)          # result.status, result.text, result.Id
    job.JobStatus; job.getProperties()         # attributes read as attributes

Everything goes through :mod:`qmf_agent.protocol` (message bodies) and
:class:`qmf_agent.transport.client.Client` (AMQP); this module adds the
object model: objects whose properties read as attributes, methods whose
positional arguments are matched to the schema, agents that are found,
kept alive by heartbeats and declared lost after two missed ones.

Threading contract: a Session may be used from several threads at once
(each request is independent; shared caches are guarded by one lock).
Handler callbacks never run on the transport's thread: indications are put
on a queue and delivered, in order, by one dispatcher thread per session,
so a callback may itself call the session (``getObjects`` in a ``newAgent``
callback is fine) but a slow callback delays the ones after it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from qmf_agent import protocol
from qmf_agent.errors import QmfError, RequestTimeout, UnknownObject, Unreachable
from qmf_agent.message import Message
from qmf_agent.schema import Schema

__all__ = [
    "Session",
    "Handler",
    "QmfObject",
    "Agent",
    "MethodResult",
    "SchemaClass",
    "ClassKey",
    "Event",
    "DEFAULT_URL",
    "SUBMIT_ATTEMPTS",
    "default_url",
]

log = logging.getLogger(__name__)

DEFAULT_URL = "amqp://127.0.0.1:5672"
PACKAGE = "mrg.grid"
SUBMIT_ATTEMPTS = 3
"""How many times in all a request that may be re-sent (a Submit, a query,
an idempotent method) is sent when its answer is lost."""
_RETRY_PAUSE = 0.5  # seconds before the 2nd attempt; twice that before the 3rd
_RESENT_AFTER_TIMEOUT = frozenset({"submit", "submitjob"})  # the agent de-duplicates these by request id


def _class_of(object_name: str) -> str | None:
    """The class in an object name ``package:class:key``, if it has one."""
    parts = object_name.split(":", 2)
    return parts[1] if len(parts) == 3 else None


def default_url(url: str | None = None) -> str:
    """The URL a console uses: *url*, else ``$QMF_URL``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get("QMF_URL") or DEFAULT_URL


class ClassKey(tuple):
    """``(package, class)``; prints as ``package:class`` like QMF's."""

    def __new__(cls, package: str, class_name: str) -> ClassKey:
        return super().__new__(cls, (package, class_name))

    @property
    def package(self) -> str:
        return str(self[0])

    @property
    def class_name(self) -> str:
        return str(self[1])

    def __str__(self) -> str:
        return f"{self[0]}:{self[1]}"


class SchemaClass:
    """One class's schema: properties, statistics, methods (with arguments),
    or an event class's arguments."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        sid = raw.get("_schema_id") or {}
        self.key = ClassKey(str(sid.get("_package_name", "")), str(sid.get("_class_name", "")))
        self.kind = str(sid.get("_type", "_data"))
        self.description = str(raw.get("_desc", ""))
        self.properties: list[dict[str, Any]] = list(raw.get("_properties") or [])
        self.statistics: list[dict[str, Any]] = list(raw.get("_statistics") or [])
        self.arguments: list[dict[str, Any]] = list(raw.get("_arguments") or [])
        self.methods: dict[str, dict[str, Any]] = {
            str(m.get("_name")): dict(m) for m in raw.get("_methods") or [] if isinstance(m, Mapping)
        }
        self._lower = {name.lower(): name for name in self.methods}

    def method(self, name: str) -> dict[str, Any] | None:
        """The method named *name* (case-insensitively, as the agent matches)."""
        real = self._lower.get(name.lower())
        return self.methods[real] if real is not None else None

    def in_arguments(self, method: str) -> list[str]:
        m = self.method(method) or {}
        return [
            str(a["_name"])
            for a in m.get("_arguments") or []
            if "I" in str(a.get("_dir", "I"))
        ]

    def property_names(self) -> list[str]:
        return [str(p["_name"]) for p in self.properties]

    def statistic_names(self) -> list[str]:
        return [str(p["_name"]) for p in self.statistics]

    def __repr__(self) -> str:
        return f"<SchemaClass {self.key}>"


class Agent:
    """An agent that answered a locate or sent a heartbeat."""

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        self.attributes = dict(attributes)
        self.name = str(attributes.get("_name", ""))
        self.epoch = attributes.get("_epoch")
        self.heartbeat_interval = float(attributes.get("_heartbeat_interval") or 10)
        self.last_seen = time.monotonic()

    @property
    def vendor(self) -> str:
        return str(self.attributes.get("_vendor", ""))

    @property
    def product(self) -> str:
        return str(self.attributes.get("_product", ""))

    @property
    def instance(self) -> str:
        return str(self.attributes.get("_instance", ""))

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"

    def __str__(self) -> str:
        return self.name


class MethodResult:
    """What a method call returned: ``status`` (0 ok, else the QMF error
    code), ``text`` ("OK" or the agent's reason) and the out arguments,
    readable as attributes (``result.Id``) or as ``outArgs``."""

    def __init__(self, status: int, text: str, out_args: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.text = text
        self.outArgs = dict(out_args or {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["outArgs"][name]
        except KeyError:
            raise AttributeError(
                f"the method result has no out argument {name!r}"
                + (f" (the call failed: {self.text})" if self.__dict__.get("status") else "")
            ) from None

    def __repr__(self) -> str:
        return f"MethodResult(status={self.status}, text={self.text!r}, outArgs={self.outArgs!r})"


class QmfObject:
    """A managed object as a query returned it.

    Properties and statistics read as attributes (``job.JobStatus``);
    methods are called as attributes (``scheduler.Submit(ad)``).  The values
    are those of the query; :meth:`update` fetches them again.
    """

    def __init__(self, session: Session, agent: str, raw: Mapping[str, Any]) -> None:
        self._session = session
        self._agent = agent
        self._load(raw)

    def _load(self, raw: Mapping[str, Any]) -> None:
        self._raw = dict(raw)
        self._values: dict[str, Any] = dict(raw.get("_values") or {})
        oid = raw.get("_object_id") or {}
        self._object_name = str(oid.get("_object_name", "")) if isinstance(oid, Mapping) else str(oid)
        sid = raw.get("_schema_id") or {}
        self._key = ClassKey(str(sid.get("_package_name", PACKAGE)), str(sid.get("_class_name", "")))

    # identity ------------------------------------------------------------
    def getObjectId(self) -> str:
        return self._object_name

    def getClassKey(self) -> ClassKey:
        return self._key

    def getAgent(self) -> str:
        return self._agent

    def getTimestamps(self) -> tuple[int, int, int]:
        """``(update, create, delete)`` in ns since the epoch, QMF's order."""
        r = self._raw
        return (int(r.get("_update_ts") or 0), int(r.get("_create_ts") or 0), int(r.get("_delete_ts") or 0))

    def isDeleted(self) -> bool:
        return bool(self._raw.get("_delete_ts"))

    @property
    def key(self) -> str:
        """The object's key: the last part of its name (``12.0`` for a job)."""
        return self._object_name.split(":", 2)[-1]

    # values ------------------------------------------------------------
    def _schema(self) -> SchemaClass | None:
        return self._session._schema_for(self._agent, self._key)

    def getProperties(self) -> list[tuple[str, Any]]:
        """``(name, value)`` for each property, in the schema's order."""
        schema = self._schema()
        names = schema.property_names() if schema else list(self._values)
        return [(n, self._values[n]) for n in names if n in self._values]

    def getStatistics(self) -> list[tuple[str, Any]]:
        """``(name, value)`` for each statistic, in the schema's order."""
        schema = self._schema()
        names = schema.statistic_names() if schema else []
        return [(n, self._values[n]) for n in names if n in self._values]

    def values(self) -> dict[str, Any]:
        """Every property and statistic by name."""
        return dict(self._values)

    def update(self) -> None:
        """Fetch this object's values again (raises UnknownObject if gone)."""
        found = self._session._query(self._agent, object_id=self._object_name)
        if not found:
            raise UnknownObject(f"object {self._object_name} no longer exists")
        self._load(found[0])

    def invokeMethod(self, name: str, args: Mapping[str, Any] | None = None, timeout: float | None = None) -> MethodResult:
        """Call method *name* with arguments by name."""
        return self._session._call(self._agent, self._object_name, name, dict(args or {}), timeout)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        schema = self._schema()
        if schema is not None and schema.method(name) is not None:
            return _BoundMethod(self, name, schema.in_arguments(name))
        if schema is None and name[:1].isupper():
            return _BoundMethod(self, name, None)
        raise AttributeError(f"{self._key.class_name} {self.key} has no property, statistic or method {name!r}")

    def __repr__(self) -> str:
        return f"<{self._key} {self.key}>"


class _BoundMethod:
    """``obj.Submit`` before it is called: maps positional arguments onto
    the schema's in-arguments, in order."""

    def __init__(self, obj: QmfObject, name: str, in_args: list[str] | None) -> None:
        self._obj, self._name, self._in_args = obj, name, in_args

    def __call__(self, *args: Any, _timeout: float | None = None, **kwargs: Any) -> MethodResult:
        named = dict(kwargs)
        if args:
            if self._in_args is None:
                raise TypeError(f"{self._name}: the schema is unknown, pass arguments by name")
            if len(args) > len(self._in_args):
                raise TypeError(
                    f"{self._name} takes at most {len(self._in_args)} arguments "
                    f"({', '.join(self._in_args)}), got {len(args)}"
                )
            for name, value in zip(self._in_args, args):
                if name in named:
                    raise TypeError(f"{self._name}: argument {name!r} given twice")
                named[name] = value
        return self._obj.invokeMethod(self._name, named, _timeout)


class Event:
    """An event an agent raised (``JobHeld``, ``JobCompleted``, ...)."""

    def __init__(self, agent: str, raw: Mapping[str, Any]) -> None:
        self.agent = agent
        sid = raw.get("_schema_id") or {}
        self.name = str(sid.get("_class_name", ""))
        self.package = str(sid.get("_package_name", ""))
        self.arguments: dict[str, Any] = dict(raw.get("_values") or {})
        self.timestamp = int(raw.get("_timestamp") or 0)
        severity = raw.get("_severity")
        self.severity = int(severity) if isinstance(severity, int) else 6

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["arguments"][name]
        except KeyError:
            raise AttributeError(f"event {self.__dict__.get('name')} has no argument {name!r}") from None

    def __repr__(self) -> str:
        return f"Event({self.name}, {self.arguments!r})"


class Handler:
    """Receives what agents publish; override the methods you need.

    All calls come from the session's dispatcher thread, in arrival order.
    """

    def newAgent(self, agent: Agent) -> None:
        """An agent was seen for the first time (or again after being lost)."""

    def delAgent(self, agent: Agent) -> None:
        """An agent missed two heartbeats in a row."""

    def heartbeat(self, agent: Agent, timestamp: int) -> None:
        """An agent's heartbeat (``timestamp`` in ns since the epoch)."""

    def objectProps(self, obj: QmfObject) -> None:
        """An object was created, changed or deleted (``obj.isDeleted()``)."""

    def event(self, event: Event) -> None:
        """An agent raised an event."""


class Session:
    """A console's connection to one or more brokers (or direct agents).

    ``Session(url)`` connects at once; ``Session()`` waits for
    :meth:`addBroker` (as the classic console does) and otherwise uses
    ``$QMF_URL`` or :data:`DEFAULT_URL` on first use.  ``handler`` (a
    :class:`Handler`) gets heartbeats, agent arrivals and losses, object
    updates and events.  ``timeout`` bounds every request.
    """

    def __init__(
        self,
        url: str | None = None,
        handler: Handler | None = None,
        timeout: float = 10.0,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.timeout = timeout
        self.handler = handler
        self._user, self._password = user, password
        self._lock = threading.RLock()
        self._clients: list[Any] = []
        self._agents: dict[str, Agent] = {}
        self._agent_client: dict[str, Any] = {}
        self._schemas: dict[tuple[str, ClassKey], SchemaClass | None] = {}
        self._closed = False
        self._inbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        if url is not None:
            self.addBroker(url)

    # connections ---------------------------------------------------------
    def addBroker(self, url: str | None = None) -> None:
        """Connect to a broker or an agent's listener at *url*."""
        from qmf_agent.transport.client import Client

        target = default_url(url)
        client = Client(target, timeout=self.timeout, user=self._user, password=self._password)
        with self._lock:
            self._clients.append(client)
        log.debug("connected to %s", target)
        if self.handler is not None:
            self._start_watching(client)

    @property
    def user(self) -> str | None:
        """The user the first connection authenticated as (None: anonymous)."""
        self._ensure_client()
        return getattr(self._clients[0], "user", None)

    def _ensure_client(self) -> None:
        if self._closed:
            raise QmfError("the session is closed")
        if not self._clients:
            self.addBroker(None)

    def close(self) -> None:
        """Close every connection and stop the dispatcher (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            clients, self._clients = self._clients, []
        self._inbox.put(None)
        for client in clients:
            try:
                client.close()
            except Exception:  # closing a dead connection must not mask the caller's error
                log.debug("error closing a client", exc_info=True)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)

    delBroker = close

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # agents --------------------------------------------------------------
    def getAgents(self, wait: float = 1.0) -> list[Agent]:
        """Every agent that answers a locate within *wait* seconds."""
        self._ensure_client()
        found: list[Agent] = []
        for client in list(self._clients):
            msgs = client.broadcast(
                protocol.agent_locate_request(), subject=protocol.LOCATE_SUBJECT, wait=wait
            )
            for m in msgs:
                try:
                    attrs = protocol.decode_response([m])
                except QmfError as e:
                    log.warning("ignoring a bad agent-locate answer: %s", e)
                    continue
                if not isinstance(attrs, Mapping) or not attrs.get("_name"):
                    continue
                agent, fresh = self._saw_agent(attrs, client)
                if fresh and self.handler is not None:
                    self._inbox.put(("newAgent", agent))
                if agent not in found:
                    found.append(agent)
        return found

    def _saw_agent(self, attrs: Mapping[str, Any], client: Any) -> tuple[Agent, bool]:
        """Record an agent's attributes; returns it and whether it is new."""
        name = str(attrs["_name"])
        with self._lock:
            agent = self._agents.get(name)
            fresh = agent is None
            if agent is None:
                agent = self._agents[name] = Agent(attrs)
            else:
                agent.attributes.update(attrs)
                agent.heartbeat_interval = float(attrs.get("_heartbeat_interval") or agent.heartbeat_interval)
                agent.last_seen = time.monotonic()
            self._agent_client[name] = client
        return agent, fresh

    def _agent_names(self, agent: str | Agent | None) -> list[str]:
        if agent is not None:
            return [str(agent)]
        with self._lock:
            known = list(self._agents)
        if not known:
            known = [a.name for a in self.getAgents(wait=0.5)]
        if not known:
            raise RequestTimeout(
                f"no agent answered at {', '.join(getattr(c, 'url', '?') for c in self._clients)}"
            )
        return known

    def _client_for(self, agent: str) -> Any:
        self._ensure_client()
        with self._lock:
            client = self._agent_client.get(agent)
        return client or self._clients[0]

    # queries -------------------------------------------------------------
    def _request(self, agent: str, message: Message, timeout: float | None,
                 again: type[RequestTimeout] | None = Unreachable, what: str = "") -> Any:
        """Send *message* to *agent* and decode the answer.

        A request whose answer is lost with an error of type *again* is sent
        again, as the same request, up to :data:`SUBMIT_ATTEMPTS` times in
        all.  Queries and idempotent methods pass :class:`Unreachable` (the
        connection dropped before the answer -- a broker may drop one at any
        time -- or a restarting agent was not there yet): waiting for an
        answer that cannot come would only end in a timeout.  A Submit
        passes every :class:`RequestTimeout`; other calls pass None.
        """
        client = self._client_for(agent)
        attempts = SUBMIT_ATTEMPTS if again is not None else 1
        attempt = 1
        while True:
            try:
                return protocol.decode_response(
                    client.request(message, agent=agent, timeout=timeout or self.timeout))
            except RequestTimeout as e:
                if again is None or not isinstance(e, again):
                    raise
                request_id = message.properties.get(protocol.REQUEST_ID_KEY)
                if attempt >= attempts:
                    as_request = f" as request {request_id}" if request_id else ""
                    raise type(e)(f"{e.text} (sent {attempts} times{as_request}; "
                                  "it may or may not have been done)") from None
                attempt += 1
                log.warning("%s: answer lost (%s); sending it again (attempt %d of %d)",
                            what or message.opcode or "request", e.text, attempt, attempts)
                # a restarting agent refuses at once until it is attached again:
                # pause so the attempts are not all spent inside that window
                time.sleep(_RETRY_PAUSE * (attempt - 1))

    def _query(self, agent: str, timeout: float | None = None, **query: Any) -> list[Any]:
        result = self._request(agent, protocol.query_request("OBJECT", **query), timeout)
        return list(result) if isinstance(result, list) else []

    def getObjects(
        self,
        _class: str | None = None,
        _package: str | None = None,
        _objectId: str | None = None,
        _agent: str | Agent | None = None,
        _where: list[Any] | str | None = None,
        _projection: Sequence[str] | None = None,
        _limit: int | None = None,
        _timeout: float | None = None,
        _key: ClassKey | None = None,
    ) -> list[QmfObject]:
        """Objects of a class (or one object by id) from every agent, or
        from ``_agent`` only.  ``_where`` is a QMFv2 predicate list or a
        ClassAd expression string; ``_projection`` names the values wanted.
        """
        if _key is not None:
            _package, _class = _key
        if _class is None and _objectId is None:
            raise ValueError("getObjects needs _class (or _key) or _objectId")
        self._ensure_client()
        out: list[QmfObject] = []
        agents = self._agent_names(_agent)
        silent: list[RequestTimeout] = []
        for agent in agents:
            try:
                items = self._query(
                    agent,
                    _timeout,
                    class_name=_class if _objectId is None else None,
                    package=_package if _objectId is None else None,
                    object_id=_objectId,
                    where=_where,
                    projection=_projection,
                    limit=_limit,
                )
            except RequestTimeout as e:
                if _agent is not None:
                    raise
                # one agent of a fleet gone quiet must not hide the others'
                # objects; it is forgotten until it answers a locate again
                log.warning("agent %s did not answer (%s); skipping it", agent, e.text)
                with self._lock:
                    self._agents.pop(agent, None)
                silent.append(e)
                continue
            out.extend(QmfObject(self, agent, raw) for raw in items if isinstance(raw, Mapping))
        if silent and len(silent) == len(agents):
            raise silent[0]
        return out

    def getObject(self, **kwargs: Any) -> QmfObject:
        """Exactly one object (raises UnknownObject when there is none)."""
        found = self.getObjects(**kwargs)
        if not found:
            what = kwargs.get("_objectId") or kwargs.get("_class")
            raise UnknownObject(f"no {what} object found")
        return found[0]

    def _call(
        self, agent: str, object_name: str, method: str, args: dict[str, Any], timeout: float | None
    ) -> MethodResult:
        try:
            out = self._method(agent, object_name, method, args, timeout)
        except RequestTimeout:
            raise
        except QmfError as e:
            return MethodResult(e.code, e.text)
        return MethodResult(0, "OK", out if isinstance(out, Mapping) else {})

    def call(self, object_name: str, method: str, args: Mapping[str, Any] | None = None,
             agent: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Call *method* on the object named *object_name* and return its out
        arguments; a failure raises the agent's error (unlike ``invokeMethod``,
        which reports it in the result as the classic console does)."""
        target = agent or self._agent_names(None)[0]
        out = self._method(target, object_name, method, dict(args or {}), timeout)
        return dict(out) if isinstance(out, Mapping) else {}

    def _method(self, agent: str, object_name: str, method: str, args: Mapping[str, Any],
                timeout: float | None) -> Any:
        """Send one method call and decode its answer.

        Every call carries a fresh request id (``qmf.request_id``): the
        agent's audit log names it, and a scheduler's Submit/SubmitJob
        remembers it durably, so that the same request sent again is
        answered with the first one's ids instead of queueing the jobs
        twice.  Those two are therefore sent again with the SAME id when
        their answer is lost in any way (a timeout, the connection dropped,
        the agent restarted).  Methods the schema marks idempotent (reads,
        spool chunks) are sent again only when the connection dropped
        before their answer.  Other calls (Act, Edit, SetJobAttribute, ...)
        are never re-sent: their lost answer is the caller's
        :class:`~qmf_agent.errors.RequestTimeout`.
        """
        message = protocol.method_request(object_name, method, _wire_args(args))
        message.properties[protocol.REQUEST_ID_KEY] = f"console-{uuid.uuid4()}"
        again: type[RequestTimeout] | None = None
        if method.lower() in _RESENT_AFTER_TIMEOUT:
            again = RequestTimeout
        elif Schema.load().is_idempotent(method, _class_of(object_name)):  # loaded once, at the first call
            again = Unreachable
        return self._request(agent, message, timeout, again, f"{method} on {object_name}")

    # schema --------------------------------------------------------------
    def _schema_query(self, agent: str, what: str, **query: Any) -> list[Any]:
        result = self._request(agent, protocol.query_request(what, **query), None)
        return list(result) if isinstance(result, list) else []

    def getPackages(self, agent: str | None = None) -> list[str]:
        packages: list[str] = []
        for a in self._agent_names(agent):
            for sid in self._schema_query(a, "SCHEMA_ID"):
                name = str(sid.get("_package_name", "")) if isinstance(sid, Mapping) else ""
                if name and name not in packages:
                    packages.append(name)
        return packages

    def getClasses(self, package: str = PACKAGE, agent: str | None = None) -> list[ClassKey]:
        keys: list[ClassKey] = []
        for a in self._agent_names(agent):
            for sid in self._schema_query(a, "SCHEMA_ID", package=package):
                if isinstance(sid, Mapping):
                    key = ClassKey(str(sid.get("_package_name", package)), str(sid.get("_class_name", "")))
                    if key not in keys:
                        keys.append(key)
        return keys

    def getSchema(self, key: ClassKey | tuple[str, str] | str, agent: str | None = None) -> SchemaClass:
        """The schema of class *key* (``(package, class)`` or ``"class"``)."""
        if isinstance(key, str):
            package, _, cls = key.rpartition(":")
            key = ClassKey(package or PACKAGE, cls)
        key = ClassKey(*key)
        target = agent or self._agent_names(None)[0]
        schema = self._schema_for(target, key)
        if schema is None:
            raise UnknownObject(f"agent {target} has no class {key}")
        return schema

    def _schema_for(self, agent: str, key: ClassKey) -> SchemaClass | None:
        cache_key = (agent, ClassKey(key.package, key.class_name.lower()))
        with self._lock:
            if cache_key in self._schemas:
                return self._schemas[cache_key]
        try:
            found = self._schema_query(agent, "SCHEMA", class_name=key.class_name, package=key.package or None)
        except QmfError as e:
            log.debug("no schema for %s from %s: %s", key, agent, e)
            found = []
        schema = SchemaClass(found[0]) if found and isinstance(found[0], Mapping) else None
        with self._lock:
            self._schemas[cache_key] = schema
        return schema

    # indications -----------------------------------------------------------
    def _start_watching(self, client: Any) -> None:
        with self._lock:
            need_threads = not self._threads
            if need_threads:
                for target, name in ((self._dispatch, "qmf-dispatch"), (self._watch_liveness, "qmf-liveness")):
                    t = threading.Thread(target=target, name=name, daemon=True)
                    self._threads.append(t)
        if need_threads:
            for t in self._threads:
                t.start()
        client.subscribe("agent.ind.#", lambda m, c=client: self._inbox.put(("message", c, m)))

    def _dispatch(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            try:
                self._deliver(item)
            except Exception:  # a handler's bug must not stop later deliveries
                log.exception("handler failed on %s", item[0])

    def _deliver(self, item: tuple[Any, ...]) -> None:
        handler = self.handler
        if handler is None:
            return
        kind = item[0]
        if kind == "newAgent":
            handler.newAgent(item[1])
            return
        if kind == "delAgent":
            handler.delAgent(item[1])
            return
        _, client, message = item
        opcode = message.opcode
        try:
            body = protocol.decode_response([message])
        except QmfError as e:
            log.warning("ignoring a malformed indication: %s", e)
            return
        agent_name = str(message.properties.get("qmf.agent") or "")
        if opcode == "_agent_heartbeat_indication" and isinstance(body, Mapping):
            agent, fresh = self._saw_agent(body, client)
            if fresh:
                handler.newAgent(agent)
            handler.heartbeat(agent, int(body.get("_timestamp") or time.time_ns()))
            return
        if agent_name:
            with self._lock:
                known = self._agents.get(agent_name)
            if known is not None:
                known.last_seen = time.monotonic()
        content = message.properties.get("qmf.content")
        for raw in body if isinstance(body, list) else []:
            if not isinstance(raw, Mapping):
                continue
            sid = raw.get("_schema_id") or {}
            if content == "_event" or sid.get("_type") == "_event":
                handler.event(Event(agent_name, raw))
            else:
                handler.objectProps(QmfObject(self, agent_name, raw))

    def _watch_liveness(self) -> None:
        """Declare an agent lost after two missed heartbeats."""
        while not self._closed:
            time.sleep(0.5)
            now = time.monotonic()
            lost: list[Agent] = []
            with self._lock:
                for name, agent in list(self._agents.items()):
                    if now - agent.last_seen > 2 * agent.heartbeat_interval + 0.5:
                        lost.append(self._agents.pop(name))
                        self._agent_client.pop(name, None)
            for agent in lost:
                log.info("agent %s lost (no heartbeat for %.1fs)", agent.name, now - agent.last_seen)
                self._inbox.put(("delAgent", agent))


def _wire_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Method arguments as AMQP values: a ClassAd becomes a typed map."""
    import classad

    out: dict[str, Any] = {}
    for name, value in args.items():
        if isinstance(value, classad.ClassAd):
            value = classad.encode_job_ad(value, "typed")
        elif isinstance(value, (list, tuple)) and any(isinstance(v, classad.ClassAd) for v in value):
            value = [classad.encode_job_ad(v, "typed") if isinstance(v, classad.ClassAd) else v for v in value]
        out[name] = value
    return out

