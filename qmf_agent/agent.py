"""The generic QMFv2 agent: managed objects over bindings, queries, methods,
heartbeats, data indications, events and subscriptions.

The agent knows schemas and managed objects, not jobs: the modelled system
registers one :class:`~qmf_agent.binding.ClassBinding` per schema class
(:meth:`Agent.bind`) and reports changes through the agent, which implements
:class:`~qmf_agent.binding.AgentSink`.  Values are pulled from the bindings
when a query is answered or an indication published, never copied into a
registry of our own.

Threading contract
------------------

* :meth:`Agent.handle` may be called from any thread (normally the
  transport's).  It decodes the request and answers cheap ones (agent
  locate, subscription refresh and cancel) at once; queries, method calls
  and new subscriptions run on a small worker pool, so a slow method or a
  100,000-object query never stalls the transport.  Every answer leaves
  through ``send``, which must be thread-safe and must not block on the
  network (the transport injects into its own thread).  With
  ``workers=0`` everything runs in the caller's thread (tests, tools).
* :meth:`Agent.tick` is called by one thread (the transport's timer, or a
  test with a fake clock); it sends heartbeats, data indications and
  subscription deliveries that are due and returns the seconds until the
  next due work.  ``now`` is any monotonic clock in seconds, used only for
  scheduling; the protocol's timestamps come from the wall clock.
* :meth:`changed`, :meth:`deleted` and :meth:`event` (the sink) may be
  called from any thread, concurrently; they only record work under a
  lock (events are sent at once, through ``send``).
* Bindings are called from the worker threads, concurrently; a binding
  protects its own state (binding.py).

Answers: every request with a ``reply_to`` gets exactly one final answer
(a response, or one ``_exception`` whose code says what kind of failure and
whose text says what was wrong with which field or argument); a request
without ``reply_to`` is logged and dropped.  An agent locate whose
predicate does not match this agent is the one request not answered, as in
QMFv2: it was a question to every agent.  Nothing a request contains can
raise out of :meth:`handle`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from qmf_agent.binding import ClassBinding, ObjectState, collect_after_answer
from qmf_agent.errors import (
    InternalError,
    NotImplementedByAgent,
    ParameterInvalid,
    QmfError,
    QueueFull,
    UnknownMethod,
    UnknownObject,
)
from qmf_agent.message import Message
from qmf_agent.protocol import (
    CONTENT_DATA,
    CONTENT_EVENT,
    CONTENT_OBJECT_ID,
    CONTENT_SCHEMA,
    CONTENT_SCHEMA_ID,
    REQUEST_ID_KEY,
    WHAT_OBJECT,
    WHAT_OBJECT_ID,
    WHAT_SCHEMA,
    WHAT_SCHEMA_ID,
    Addressing,
    AgentLocateRequest,
    AgentLocateResponse,
    DataIndication,
    ExceptionResponse,
    HeartbeatIndication,
    Matcher,
    MethodRequest,
    MethodResponse,
    ObjectId,
    ObjectTemplate,
    QueryRequest,
    StandardAddressing,
    SubscribeCancel,
    SubscribeRefresh,
    SubscribeRequest,
    SubscribeResponse,
    WireObject,
    compile_predicate,
    compile_where,
    data_subject,
    decode,
    encode,
    encode_batches,
    event_subject,
    heartbeat_subject,
    match_all,
    split_agent_name,
)
from qmf_agent.schema import Schema, SchemaClass
from qmf_agent.security import AccessPolicy

__all__ = ["Agent"]

log = logging.getLogger(__name__)

_MAX_DEPTH = 64
_MIN_INTERVAL_MS = 100
_DEFAULT_DURATION_S = 300.0
_MAX_DURATION_S = 86400.0
_TEMPLATES_LIMIT = 64  # (class, projection) pairs kept


@dataclass(slots=True)
class _Bound:
    """A schema class with the binding that serves its objects."""

    cls: SchemaClass
    binding: ClassBinding
    prefix: str  # "mrg.grid:job:"


@dataclass(slots=True)
class _Plan:
    """A query compiled once: which objects, which filter, which names."""

    what: str
    targets: list[tuple[_Bound, Iterable[str] | None]]  # None: every key of the class
    matcher: Matcher
    projection: tuple[str, ...] | None
    limit: int | None


@dataclass(slots=True)
class _Subscription:
    id: str
    plan: _Plan
    reply_to: str
    correlation_id: Any
    interval: float
    duration: float
    classes: frozenset[str]
    keys: frozenset[str] | None
    expires: float | None = None
    next_due: float | None = None
    refresh: float | None = None
    changed: set[tuple[str, str]] = field(default_factory=set)
    deleted: list[tuple[str, ObjectState]] = field(default_factory=list)


def _names(bound: _Bound, projection: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A projection in the schema's spelling of the class's attribute names."""
    if projection is None:
        return None
    return tuple(bound.cls.attribute_name(n) for n in projection)


def _action(request: QueryRequest | MethodRequest | SubscribeRequest) -> str:
    """What a request does, for its audit line."""
    if isinstance(request, MethodRequest):
        return f"method {request.method_name}"
    query = request if isinstance(request, QueryRequest) else request.query
    verb = "query" if isinstance(request, QueryRequest) else "subscribe"
    return f"{verb} {query.what}"


def _target(request: QueryRequest | MethodRequest | SubscribeRequest) -> str | None:
    """Which object or class a request is about, for its audit line."""
    if isinstance(request, MethodRequest):
        return request.object_id.object_name
    query = request if isinstance(request, QueryRequest) else request.query
    if query.object_id is not None:
        return query.object_id.object_name
    return query.schema_id.class_name if query.schema_id is not None else None


def _check_body(body: Any, limit: int) -> None:
    """Refuse a body over *limit* bytes (estimated) or nested too deep,
    before anything recursive (predicate compilation) looks at it."""
    total = 0
    stack: list[tuple[Any, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise ParameterInvalid(f"request body is nested deeper than {_MAX_DEPTH} levels")
        if isinstance(value, (str, bytes, bytearray)):
            total += len(value)
        elif isinstance(value, Mapping):
            total += 8 * len(value)
            for key, item in value.items():
                total += len(key) if isinstance(key, str) else 8
                stack.append((item, depth + 1))
        elif isinstance(value, (list, tuple)):
            total += 8 * len(value)
            stack.extend((item, depth + 1) for item in value)
        else:
            total += 8
        if total > limit:
            raise ParameterInvalid(f"request body is too large (more than {limit} bytes)")


class Agent:
    """A QMFv2 agent serving the classes of one schema package.

    :param name: ``vendor:product:instance``, e.g. ``redhat.com:qmf-grid:host1``.
    :param schema: the package's schema (:meth:`Schema.load`).
    :param send: delivers one outgoing message; thread-safe, non-blocking.
    :param epoch: incremented by the system at every start (persisted).
    :param heartbeat_interval: seconds between heartbeats.
    :param data_interval: seconds between data indications of changed
        objects on the topic; 0 disables them.
    :param admins: identities whose :class:`Caller` is marked ``admin``
        (shorthand for ``policy=AccessPolicy(admins=...)``).
    :param policy: who may call, limits, audit (:mod:`qmf_agent.security`).
    :param addressing: where answers and indications go; the transport
        may also set the ``addressing`` attribute before the first tick.
    :param batch_size: at most this many objects per message of a
        multi-message answer (measured: a 100,000-object query costs both
        sides less CPU in 50 messages of 2,000 than in 200 of 500).
    :param answer_bytes: a query answer's message also ends once its
        pre-encoded objects reach this many bytes (big objects, fewer each).
    :param workers: threads serving queries and methods (0: the caller's).
    :param max_request_bytes: requests with a larger body are refused.
    :param max_subscriptions: more concurrent subscriptions are refused.
    :param attributes: extra agent attributes for locate and heartbeat.
    """

    def __init__(
        self,
        name: str,
        schema: Schema,
        send: Callable[[Message], None],
        *,
        epoch: int = 0,
        heartbeat_interval: float = 10.0,
        data_interval: float = 5.0,
        admins: Iterable[str] = (),
        addressing: Addressing | None = None,
        batch_size: int = 2000,
        answer_bytes: int = 768 * 1024,
        workers: int = 4,
        max_request_bytes: int = 4 * 1024 * 1024,
        max_subscriptions: int = 1000,
        attributes: Mapping[str, Any] | None = None,
        policy: AccessPolicy | None = None,
    ) -> None:
        if heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if answer_bytes < 1:
            raise ValueError("answer_bytes must be at least 1")
        self.name = name
        self.schema = schema
        self.send = send
        self.epoch = int(epoch)
        self.heartbeat_interval = float(heartbeat_interval)
        self.data_interval = float(data_interval)
        self.policy = policy or AccessPolicy(admins=admins)
        self.addressing: Addressing = addressing or StandardAddressing()
        self.batch_size = batch_size
        self.answer_bytes = answer_bytes
        self.max_request_bytes = max_request_bytes
        self.max_subscriptions = max_subscriptions
        self.vendor, self.product, self.instance = split_agent_name(name)
        self._extra_attributes = dict(attributes or {})
        self._bound: dict[str, _Bound] = {}
        self._templates: dict[tuple[Any, ...], ObjectTemplate] = {}
        self._lock = threading.Lock()
        self._changed: dict[str, set[str]] = {}
        self._deleted: dict[str, list[ObjectState]] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._next_heartbeat: float | None = None
        self._next_data: float | None = None
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qmf-agent")
            if workers > 0
            else None
        )

    @property
    def admins(self) -> frozenset[str]:
        """The administrators' identities (the policy's; settable on reconfig)."""
        return self.policy.admins

    @admins.setter
    def admins(self, identities: Iterable[str]) -> None:
        self.policy.admins = frozenset(identities)

    # ------------------------------------------------------------ registry

    def bind(self, class_name: str, binding: ClassBinding) -> None:
        """Serve the objects of schema class *class_name* from *binding*."""
        cls = self.schema.get_class(class_name)
        if cls is None:
            raise ValueError(f"schema {self.schema.package} has no class {class_name!r}")
        self._bound[cls.name.lower()] = _Bound(cls, binding, f"{cls.package}:{cls.name}:")

    def object_name(self, class_name: str, key: str) -> str:
        """The stable object name of object *key* of *class_name*."""
        cls = self.schema.get_class(class_name)
        name = cls.name if cls is not None else class_name
        return f"{self.schema.package}:{name}:{key}"

    @property
    def attributes(self) -> dict[str, Any]:
        """The agent attributes of locate responses and heartbeats."""
        attrs = dict(self._extra_attributes)
        attrs.update(
            {
                "_vendor": self.vendor,
                "_product": self.product,
                "_instance": self.instance,
                "_name": self.name,
                "_timestamp": time.time_ns(),
                "_heartbeat_interval": int(round(self.heartbeat_interval)),
                "_epoch": self.epoch,
            }
        )
        return attrs

    def close(self) -> None:
        """Finish the calls under way and stop the worker pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # ------------------------------------------------------------- requests

    def handle(self, message: Message) -> None:
        """Serve one incoming message (any thread); answers go through ``send``."""
        try:
            self._handle(message)
        except Exception:  # an agent never dies of a request
            log.exception("unexpected failure handling a message; dropped")

    def _handle(self, message: Message) -> None:
        if not isinstance(message, Message):
            log.warning("dropping a %s that is not a Message", type(message).__name__)
            return
        reply_to = message.reply_to if isinstance(message.reply_to, str) else None
        reply_to = reply_to or None
        if not isinstance(message.properties, Mapping):
            self._refuse(message, reply_to, ParameterInvalid("message properties must be a map"))
            return
        try:
            _check_body(message.body, self.max_request_bytes)
            request = decode(message)
        except QmfError as err:
            self._refuse(message, reply_to, err)
            return
        except Exception:  # a body no codec path foresaw: still one answer
            log.exception("could not decode a %r message", message.opcode)
            self._refuse(message, reply_to, ParameterInvalid("malformed request body"))
            return
        if isinstance(request, (SubscribeRefresh, SubscribeCancel)):
            self._answer(message, reply_to, lambda: self._refresh_or_cancel(request))
            return
        if not isinstance(
            request, (AgentLocateRequest, QueryRequest, MethodRequest, SubscribeRequest)
        ):
            self._refuse(
                message,
                reply_to,
                NotImplementedByAgent(f"{request.opcode} is not a request an agent serves"),
            )
            return
        if reply_to is None:
            log.info("dropping %s without reply_to (nowhere to answer)", request.opcode)
            return
        if isinstance(request, AgentLocateRequest):
            self._locate(message, reply_to, request)
            return
        try:
            connection = self.policy.enter(message)
        except QmfError as err:
            self._refuse(message, reply_to, err, _action(request), _target(request))
            return
        if isinstance(request, QueryRequest):
            work: Callable[[], Iterable[Message]] = lambda: self._audited(  # noqa: E731
                message, request, lambda: self._query_answer(message, reply_to, request)
            )
        elif isinstance(request, MethodRequest):
            work = lambda: self._method(message, request)  # noqa: E731
        else:
            work = lambda: self._audited(  # noqa: E731
                message, request, lambda: self._subscribe(message, reply_to, request)
            )
        self._spawn(message, reply_to, work, lambda: self.policy.leave(connection))

    def _refuse(
        self,
        message: Message,
        reply_to: str | None,
        err: QmfError,
        action: str | None = None,
        target: str | None = None,
    ) -> None:
        """Answer a request that is refused before it is served (and audit it)."""
        opcode = message.opcode if isinstance(message.properties, Mapping) else None
        self.policy.audit(
            self.policy.identify(message), action or f"refused {opcode or 'message'}", target, err
        )
        if reply_to is None:
            log.info("dropping a bad message without reply_to: %s", err.text)
            return
        log.debug("refusing a request: %s", err.text)
        self._send(self._reply(message, ExceptionResponse.from_error(err)))

    def _reply(self, message: Message, answer: Any) -> Message:
        """Build (not send) the answer to *message*."""
        out = encode(answer, agent_name=self.name, correlation_id=message.correlation_id)
        assert message.reply_to is not None
        return self.addressing.to_reply(message.reply_to).apply(out)

    def _send(self, message: Message) -> None:
        try:
            self.send(message)
        except Exception:
            log.exception("the transport failed to take a %s message", message.opcode)

    def _answer(self, message: Message, reply_to: str | None, work: Callable[[], Any]) -> None:
        """Run *work* now; send its answer (or the error) if there is a reply_to."""
        try:
            answer = work()
        except QmfError as err:
            answer = ExceptionResponse.from_error(err)
        if reply_to is not None:
            self._send(self._reply(message, answer))

    def _spawn(
        self,
        message: Message,
        reply_to: str,
        work: Callable[[], Iterable[Message]],
        done: Callable[[], None],
    ) -> None:
        """Run *work* on the pool; it yields the messages to send, the final
        one last; *done* runs once it has finished, whatever happened."""
        if self._pool is None:
            self._run(message, work, done)
            return
        try:
            self._pool.submit(self._run, message, work, done)
        except RuntimeError:  # the pool is shut down
            done()
            self._send(
                self._reply(
                    message,
                    ExceptionResponse.from_error(
                        InternalError("the agent is shutting down; try again later")
                    ),
                )
            )

    def _run(
        self, message: Message, work: Callable[[], Iterable[Message]], done: Callable[[], None]
    ) -> None:
        try:
            for out in work():
                self._send(out)
        except QmfError as err:
            self._send(self._reply(message, ExceptionResponse.from_error(err)))
        except Exception:
            log.exception("internal error serving %s", message.opcode)
            self._send(
                self._reply(
                    message,
                    ExceptionResponse.from_error(
                        InternalError(
                            f"internal error serving {message.opcode}; see the agent's log"
                        )
                    ),
                )
            )
        finally:
            done()

    def _audited(
        self,
        message: Message,
        request: QueryRequest | SubscribeRequest,
        work: Callable[[], Iterable[Message]],
    ) -> Iterable[Message]:
        """Serve a query or subscribe as its caller (refused when the policy
        requires an identity it lacks) and leave its audit line."""
        caller = None
        try:
            caller = self.policy.caller(message)
            yield from work()
        except BaseException as err:
            who = caller or self.policy.identify(message)
            self.policy.audit(who, _action(request), _target(request), err)
            raise
        self.policy.audit(caller, _action(request), _target(request))

    # --------------------------------------------------------------- locate

    def _locate(self, message: Message, reply_to: str, request: AgentLocateRequest) -> None:
        try:
            matcher = compile_predicate(request.predicate, "agent locate predicate")
        except QmfError as err:
            self._refuse(message, reply_to, err)
            return
        attributes = self.attributes
        if matcher(attributes):
            self._send(self._reply(message, AgentLocateResponse(attributes)))

    # -------------------------------------------------------------- queries

    def _class_of(self, name: str) -> SchemaClass:
        cls = self.schema.get_class(name) or self.schema.get_event(name)
        if cls is None:
            known = ", ".join(c.name for c in self.schema.classes)
            raise ParameterInvalid(f"unknown class {name!r} (the classes are {known})")
        return cls

    def _resolve(self, object_id: ObjectId) -> tuple[_Bound, str]:
        """The bound class and key an object id names, or UnknownObject."""
        if object_id.agent_name is not None and object_id.agent_name != self.name:
            raise UnknownObject(
                f"object {object_id.object_name} belongs to agent {object_id.agent_name}, "
                f"not to {self.name}"
            )
        package, _, rest = object_id.object_name.partition(":")
        class_name, _, key = rest.partition(":")
        bound = self._bound.get(class_name.lower())
        if package.lower() != self.schema.package.lower() or bound is None or not key:
            raise UnknownObject(
                f"no object {object_id.object_name!r} here (names look like "
                f"{self.schema.package}:<class>:<key>)"
            )
        return bound, key

    def _plan(self, query: QueryRequest) -> _Plan:
        """Compile *query*: validate everything before the first object is read."""
        matcher = compile_where(query.where)
        targets: list[tuple[_Bound, Iterable[str] | None]] = []
        if query.what in (WHAT_OBJECT, WHAT_OBJECT_ID):
            if query.object_id is not None:
                try:
                    bound, key = self._resolve(query.object_id)
                except UnknownObject:
                    return _Plan(query.what, [], matcher, query.projection, query.limit)
                targets.append((bound, [key]))
            else:
                sid = query.schema_id
                if sid is not None and sid.class_name is not None:
                    self._class_of(sid.class_name)
                if sid is None or sid.type in (None, "_data"):
                    for cls in self.schema.select(
                        class_name=sid.class_name if sid else None,
                        package=sid.package if sid else None,
                        kind="_data",
                        hash=sid.hash if sid else None,
                    ):
                        served = self._bound.get(cls.name.lower())
                        if served is not None:
                            targets.append((served, None))
        return _Plan(query.what, targets, matcher, query.projection, query.limit)

    def _select(
        self, plan: _Plan, only: Mapping[str, Iterable[str]] | None = None
    ) -> Iterator[tuple[_Bound, str, ObjectState]]:
        """The (class, key, state) of every object *plan* selects; *only*
        narrows the keys.

        The hot path of a big query: per object one ``state`` call and one
        filter call (none without ``_where``); lazily, so an answer's first
        batch leaves before its last object is read.
        """
        remaining = plan.limit
        matcher = None if plan.matcher is match_all else plan.matcher
        for bound, keys in plan.targets:
            if remaining is not None and remaining <= 0:
                return
            if only is not None:
                narrowed = only.get(bound.cls.name.lower())
                if narrowed is None:
                    continue
                if keys is not None:
                    wanted = set(narrowed)
                    narrowed = [k for k in keys if k in wanted]
                keys = narrowed
            if keys is None:
                keys = bound.binding.keys()
            state_of = bound.binding.state
            for key in keys:
                state = state_of(key)
                if state is None or (matcher is not None and not matcher(state.values)):
                    continue
                yield bound, key, state
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return

    def _run_plan(
        self, plan: _Plan, only: Mapping[str, Iterable[str]] | None = None
    ) -> list[dict[str, Any]]:
        """The objects (or object ids) *plan* selects, as maps."""
        if plan.what == WHAT_OBJECT_ID:
            return [self._object_id(bound, key) for bound, key, _ in self._select(plan, only)]
        items: list[dict[str, Any]] = []
        template = None
        schema_id: dict[str, Any] = {}
        for bound, key, state in self._select(plan, only):
            if template is None or template.prefix != bound.prefix:
                template = self._template(bound, _names(bound, plan.projection))
                schema_id = dict(template.schema_id)  # one map shared by the answer
            items.append(template.map_of(key, state, schema_id))
        return items

    def _wire_objects(self, plan: _Plan) -> Iterator[WireObject]:
        """The objects *plan* selects, each encoded from its class's template."""
        template = None
        for bound, key, state in self._select(plan):
            if template is None or template.prefix != bound.prefix:
                template = self._template(bound, _names(bound, plan.projection))
            yield template.encode(key, state)

    def _template(self, bound: _Bound, names: tuple[str, ...] | None) -> ObjectTemplate:
        """The object template of *bound* with *names* (cached: built once
        per class and projection, rebuilt when the epoch changes)."""
        cache_key = (bound.prefix, names, self.epoch, self.name)
        template = self._templates.get(cache_key)
        if template is None:
            if len(self._templates) >= _TEMPLATES_LIMIT:
                self._templates.clear()
            template = ObjectTemplate(self.name, self.epoch, bound.prefix, bound.cls.schema_id, names)
            self._templates[cache_key] = template
        return template

    def _object_id(self, bound: _Bound, key: str) -> dict[str, Any]:
        return {
            "_agent_name": self.name,
            "_object_name": bound.prefix + key,
            "_agent_epoch": self.epoch,
        }

    def _object_map(
        self, bound: _Bound, key: str, state: ObjectState, names: tuple[str, ...] | None
    ) -> dict[str, Any]:
        """One object's map (indications and subscription deliveries)."""
        return self._template(bound, names).map_of(key, state)

    def query(self, query: QueryRequest) -> tuple[str, list[Any]]:
        """Answer *query* directly: (``qmf.content``, items).  Raises QmfError."""
        if query.what in (WHAT_SCHEMA, WHAT_SCHEMA_ID):
            sid = query.schema_id
            if sid is not None and sid.class_name is not None:
                self._class_of(sid.class_name)
            classes = self.schema.select(
                class_name=sid.class_name if sid else None,
                package=sid.package if sid else None,
                kind=sid.type if sid else None,
                hash=sid.hash if sid else None,
            )
            if query.limit is not None:
                classes = classes[: query.limit]
            if query.what == WHAT_SCHEMA:
                return CONTENT_SCHEMA, [c.to_wire() for c in classes]
            return CONTENT_SCHEMA_ID, [c.schema_id for c in classes]
        content = CONTENT_DATA if query.what == WHAT_OBJECT else CONTENT_OBJECT_ID
        return content, self._run_plan(self._plan(query))

    def _query_answer(
        self, message: Message, reply_to: str, query: QueryRequest
    ) -> Iterable[Message]:
        items: Iterable[Any]
        if query.what == WHAT_OBJECT:
            # Objects go out pre-encoded, batch by batch as they are read.
            content, items = CONTENT_DATA, self._wire_objects(self._plan(query))
        else:
            content, items = self.query(query)
        for out in encode_batches(
            content,
            items,
            agent_name=self.name,
            correlation_id=message.correlation_id,
            batch_size=self.batch_size,
            batch_bytes=self.answer_bytes,
        ):
            yield self.addressing.to_reply(reply_to).apply(out)

    # -------------------------------------------------------------- methods

    def _method(self, message: Message, request: MethodRequest) -> Iterator[Message]:
        """Serve a method call: its answer, then its audit line and the
        work the method left for after it (:func:`~qmf_agent.binding.after_answer`).

        Why after: the answer waits for nothing these add (the audit line
        is a write, a stat and a flush of the audit file; a Submit's event
        is encoded and handed to the transport), and ``_run`` sends each
        answer as it is yielded, so the caller has it while they run.  A
        failed call is audited before its error is answered (``_call``).
        """
        later: list[Callable[[], None]] = []
        collect_after_answer(later)
        try:
            response, audit = self._call(message, request)
        except BaseException:
            collect_after_answer(None)
            self._after(later)
            raise
        collect_after_answer(None)
        if audit is not None:
            later.append(audit)
        try:
            yield self._reply(message, response)
        finally:
            self._after(later)

    @staticmethod
    def _after(work: list[Callable[[], None]]) -> None:
        """Run the work registered by ``after_answer``, each despite
        the others' failures (the answer is out: nobody to tell)."""
        for fn in work:
            try:
                fn()
            except Exception:
                log.exception("work after an answer failed")

    def _call(
        self, message: Message, request: MethodRequest
    ) -> tuple[MethodResponse, Callable[[], None] | None]:
        """The answer to a method call, and the audit line to write once it
        is sent (None for ``echo``, which is not audited)."""
        bound, key = self._resolve(request.object_id)
        method = bound.cls.method(request.method_name)
        if method is None:
            known = ", ".join(m.name for m in bound.cls.methods)
            raise UnknownMethod(
                f"class {bound.cls.name} has no method {request.method_name!r} (it has {known})"
            )
        args = method.validate(request.arguments)
        if method.name == "echo":
            if bound.binding.state(key) is None:
                raise UnknownObject(f"no object {request.object_id.object_name!r} here")
            return MethodResponse(args), None
        request_id = message.properties.get(REQUEST_ID_KEY)
        caller = None
        action = f"{bound.cls.name}.{method.name}"
        try:
            caller = self.policy.caller(
                message, str(request_id) if isinstance(request_id, (str, int)) else None
            )
            self.policy.check_rate(caller, bound.cls.name, method.name)
            log.debug("%s(%s) by %s", action, key, caller.identity)
            out = bound.binding.call(key, method.name, args, caller)
            if not isinstance(out, Mapping):
                log.error("%s returned %r, not a map", action, type(out))
                raise InternalError(f"{method.name} returned no result map; see the agent's log")
        except BaseException as err:
            who = caller or self.policy.identify(message)
            self.policy.audit(who, action, request.object_id.object_name, err)
            raise
        name = request.object_id.object_name
        return MethodResponse(dict(out)), lambda: self.policy.audit(caller, action, name)

    # -------------------------------------------------------- subscriptions

    def _subscribe(
        self, message: Message, reply_to: str, request: SubscribeRequest
    ) -> Iterable[Message]:
        query = request.query
        if query.what not in (WHAT_OBJECT, WHAT_OBJECT_ID):
            raise ParameterInvalid("a subscription's _query._what must be OBJECT or OBJECT_ID")
        plan = self._plan(query)
        interval_ms = request.interval_ms
        if interval_ms is None:
            interval_ms = int((self.data_interval if self.data_interval > 0 else 5.0) * 1000)
        interval_ms = max(_MIN_INTERVAL_MS, interval_ms)
        duration = request.duration_s if request.duration_s else _DEFAULT_DURATION_S
        duration = min(duration, _MAX_DURATION_S)
        keys = None
        if query.object_id is not None and plan.targets:
            keys = frozenset(k for _, ks in plan.targets for k in (ks or ()))
        sub = _Subscription(
            id=str(uuid.uuid4()),
            plan=plan,
            reply_to=reply_to,
            correlation_id=message.correlation_id,
            interval=interval_ms / 1000.0,
            duration=duration,
            classes=frozenset(b.cls.name.lower() for b, _ in plan.targets),
            keys=keys,
        )
        with self._lock:
            if len(self._subscriptions) >= self.max_subscriptions:
                raise QueueFull(
                    f"too many subscriptions ({self.max_subscriptions}); cancel some first"
                )
            self._subscriptions[sub.id] = sub
        log.info("subscription %s for %s every %d ms", sub.id, reply_to, interval_ms)
        try:
            items = self._run_plan(plan)
        except BaseException:
            with self._lock:
                self._subscriptions.pop(sub.id, None)
            raise
        yield self._reply(message, SubscribeResponse(sub.id, interval_ms, duration))
        yield from self._deliver(sub, items, initial=True)

    def _deliver(
        self, sub: _Subscription, items: list[Any], *, initial: bool = False
    ) -> Iterable[Message]:
        if not items and not initial:
            return
        content = CONTENT_DATA if sub.plan.what == WHAT_OBJECT else CONTENT_OBJECT_ID
        for out in encode_batches(
            content,
            items,
            agent_name=self.name,
            correlation_id=sub.correlation_id,
            batch_size=self.batch_size,
            indication=True,
        ):
            yield self.addressing.to_reply(sub.reply_to).apply(out)

    def _refresh_or_cancel(self, request: SubscribeRefresh | SubscribeCancel) -> SubscribeResponse:
        with self._lock:
            sub = self._subscriptions.get(request.subscription_id)
            if sub is None:
                raise UnknownObject(
                    f"no subscription {request.subscription_id!r} (expired or cancelled?)"
                )
            if isinstance(request, SubscribeCancel):
                del self._subscriptions[sub.id]
                log.info("subscription %s cancelled", sub.id)
                return SubscribeResponse(sub.id, int(sub.interval * 1000), 0.0)
            duration = min(request.duration_s or sub.duration, _MAX_DURATION_S)
            sub.refresh = duration
            return SubscribeResponse(sub.id, int(sub.interval * 1000), duration)

    @property
    def subscription_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    # ------------------------------------------------------------------ sink

    def changed(self, class_name: str, key: str) -> None:
        """AgentSink: object *key* was created or changed."""
        lower = str(class_name).lower()
        if lower not in self._bound:
            log.warning("changed() for unbound class %r ignored", class_name)
            return
        with self._lock:
            if self.data_interval > 0:
                self._changed.setdefault(lower, set()).add(key)
            for sub in self._subscriptions.values():
                if lower in sub.classes and (sub.keys is None or key in sub.keys):
                    sub.changed.add((lower, key))

    def deleted(self, class_name: str, key: str, state: ObjectState) -> None:
        """AgentSink: object *key* is gone; *state* is published once."""
        lower = str(class_name).lower()
        if lower not in self._bound:
            log.warning("deleted() for unbound class %r ignored", class_name)
            return
        with self._lock:
            if self.data_interval > 0:
                self._changed.get(lower, set()).discard(key)
                self._deleted.setdefault(lower, []).append(state)
            for sub in self._subscriptions.values():
                if lower in sub.classes and (sub.keys is None or key in sub.keys):
                    sub.changed.discard((lower, key))
                    sub.deleted.append((lower, state))

    def event(self, name: str, values: Mapping[str, Any], severity: int = 6) -> None:
        """AgentSink: publish event *name* on its topic subject now."""
        cls = self.schema.get_event(str(name))
        if cls is None:
            log.error("event %r is not in schema %s; not published", name, self.schema.package)
            return
        if not isinstance(severity, int) or not 0 <= severity <= 7:
            log.warning("event %s: severity %r is not 0..7; using 6 (info)", cls.name, severity)
            severity = 6
        try:
            event_values = dict(values)
        except (TypeError, ValueError):
            log.error("event %s: values must be a mapping, not %r; not published", name, values)
            return
        item = {
            "_values": event_values,
            "_schema_id": cls.schema_id,
            "_timestamp": time.time_ns(),
            "_severity": severity,
        }
        out = encode(DataIndication(CONTENT_EVENT, [item]), agent_name=self.name)
        self.addressing.to_topic(event_subject(cls.package, cls.name, severity)).apply(out)
        self._send(out)

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> float:
        """Send what is due at *now*; the seconds until the next due work."""
        if self._next_heartbeat is None or now >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = now + self.heartbeat_interval
        due = [self._next_heartbeat]
        if self.data_interval > 0:
            if self._next_data is None or now >= self._next_data:
                self._publish_changes()
                self._next_data = now + self.data_interval
            due.append(self._next_data)
        due.extend(self._tick_subscriptions(now))
        return max(0.0, min(due) - now)

    def _heartbeat(self) -> None:
        out = encode(HeartbeatIndication(self.attributes), agent_name=self.name)
        self.addressing.to_topic(heartbeat_subject(self.vendor, self.product)).apply(out)
        self._send(out)

    def _publish_changes(self) -> None:
        with self._lock:
            changed, self._changed = self._changed, {}
            deleted, self._deleted = self._deleted, {}
        for lower in set(changed) | set(deleted):
            bound = self._bound[lower]
            items: list[Any] = []
            for key in changed.get(lower, ()):
                state = self._safe_state(bound, key)
                if state is not None:
                    items.append(self._object_map(bound, key, state, None))
            for state in deleted.get(lower, ()):
                items.append(self._object_map(bound, state.key, state, None))
            if not items:
                continue
            route = self.addressing.to_topic(data_subject(bound.cls.package, bound.cls.name))
            for out in encode_batches(
                CONTENT_DATA,
                items,
                agent_name=self.name,
                batch_size=self.batch_size,
                indication=True,
            ):
                self._send(route.apply(out))

    def _safe_state(self, bound: _Bound, key: str) -> ObjectState | None:
        try:
            return bound.binding.state(key)
        except Exception:
            log.exception("%s binding failed to give the state of %s", bound.cls.name, key)
            return None

    def _tick_subscriptions(self, now: float) -> list[float]:
        due: list[float] = []
        ready: list[tuple[_Subscription, set[tuple[str, str]], list[tuple[str, ObjectState]]]] = []
        with self._lock:
            for sub in list(self._subscriptions.values()):
                if sub.expires is None:
                    sub.expires = now + sub.duration
                    sub.next_due = now + sub.interval
                if sub.refresh is not None:
                    sub.expires = now + sub.refresh
                    sub.refresh = None
                if now >= sub.expires:
                    del self._subscriptions[sub.id]
                    log.info("subscription %s expired", sub.id)
                    continue
                assert sub.next_due is not None
                if now >= sub.next_due:
                    ready.append((sub, sub.changed, sub.deleted))
                    sub.changed, sub.deleted = set(), []
                    sub.next_due = now + sub.interval
                due.extend((sub.expires, sub.next_due))
        for sub, changed, deleted in ready:
            self._deliver_changes(sub, changed, deleted)
        return due

    def _deliver_changes(
        self,
        sub: _Subscription,
        changed: set[tuple[str, str]],
        deleted: list[tuple[str, ObjectState]],
    ) -> None:
        if not changed and not deleted:
            return
        try:
            only: dict[str, list[str]] = {}
            for lower, key in changed:
                only.setdefault(lower, []).append(key)
            items = self._run_plan(sub.plan, only) if only else []
            ids_only = sub.plan.what == WHAT_OBJECT_ID
            for lower, state in deleted:
                bound = self._bound[lower]
                if sub.plan.matcher(state.values):
                    items.append(
                        self._object_id(bound, state.key)
                        if ids_only
                        else self._object_map(
                            bound, state.key, state, _names(bound, sub.plan.projection)
                        )
                    )
            for out in self._deliver(sub, items):
                self._send(out)
        except Exception:
            log.exception("delivering subscription %s failed", sub.id)
