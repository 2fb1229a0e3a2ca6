"""Typed QMFv2 messages and their map-message encoding.

Every opcode of the protocol has one dataclass here; :func:`encode` turns one
into a :class:`~qmf_agent.message.Message` and :func:`decode` turns a message
back into one.  Decoding is where untrusted input is checked: a body of the
wrong shape raises :class:`~qmf_agent.errors.ParameterInvalid` naming the
field, an opcode we do not serve raises
:class:`~qmf_agent.errors.NotImplementedByAgent`.  Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, ClassVar, Self

from qmf_agent._wire_kind import wire_kind
from qmf_agent.errors import NotImplementedByAgent, ParameterInvalid, QmfError, from_wire, to_wire
from qmf_agent.message import Message

from . import _constants as C
from ._wire import WireObject

__all__ = [
    "SchemaId",
    "ObjectId",
    "QueryRequest",
    "AgentLocateRequest",
    "AgentLocateResponse",
    "HeartbeatIndication",
    "QueryResponse",
    "MethodRequest",
    "MethodResponse",
    "ExceptionResponse",
    "DataIndication",
    "SubscribeRequest",
    "SubscribeResponse",
    "SubscribeRefresh",
    "SubscribeCancel",
    "Request",
    "Response",
    "QmfMessage",
    "encode",
    "decode",
    "encode_batches",
]


def _bad(text: str) -> ParameterInvalid:
    return ParameterInvalid(text)


def _map(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(f"{what} must be a map, not {wire_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _bad(f"{what} has a key that is not a string: {key!r}")
    return dict(value)


def _str(body: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _bad(f"{where} lacks {name}")
        return None
    if not isinstance(value, str):
        raise _bad(f"{where}.{name} must be a string, not {wire_kind(value)}")
    if required and not value:
        raise _bad(f"{where}.{name} must not be empty")
    return value


def _number(
    body: Mapping[str, Any], name: str, where: str, *, integer: bool = False
) -> int | float | None:
    value = body.get(name)
    if value is None:
        return None
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "an integer" if integer else "a number"
        raise _bad(f"{where}.{name} must be {kind}, not {wire_kind(value)}")
    if not math.isfinite(value) or value < 0:
        raise _bad(f"{where}.{name} must be a finite number, not negative, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class SchemaId:
    """A schema class's identity; any field may be missing in a query."""

    class_name: str | None = None
    package: str | None = None
    type: str | None = None
    hash: str | None = None

    def to_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.package is not None:
            out["_package_name"] = self.package
        if self.class_name is not None:
            out["_class_name"] = self.class_name
        if self.type is not None:
            out["_type"] = self.type
        if self.hash is not None:
            out["_hash"] = self.hash
        return out

    @classmethod
    def from_map(cls, raw: Any, where: str = "_schema_id") -> SchemaId:
        body = _map(raw, where)
        kind = _str(body, "_type", where, required=False)
        if kind is not None and kind not in (C.TYPE_DATA, C.TYPE_EVENT):
            raise _bad(f"{where}._type must be _data or _event, not {kind!r}")
        return cls(
            class_name=_str(body, "_class_name", where, required=False),
            package=_str(body, "_package_name", where, required=False),
            type=kind,
            hash=_str(body, "_hash", where, required=False),
        )


@dataclass(frozen=True, slots=True)
class ObjectId:
    """A managed object's identity: ``mrg.grid:job:12.0`` at one agent."""

    object_name: str
    agent_name: str | None = None
    agent_epoch: int | None = None

    def to_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_object_name": self.object_name}
        if self.agent_name is not None:
            out["_agent_name"] = self.agent_name
        if self.agent_epoch is not None:
            out["_agent_epoch"] = self.agent_epoch
        return out

    @classmethod
    def from_map(cls, raw: Any, where: str = "_object_id") -> ObjectId:
        body = _map(raw, where)
        name = _str(body, "_object_name", where)
        assert name is not None
        epoch = _number(body, "_agent_epoch", where, integer=True)
        return cls(
            object_name=name,
            agent_name=_str(body, "_agent_name", where, required=False),
            agent_epoch=int(epoch) if epoch is not None else None,
        )


# ---------------------------------------------------------------- requests


@dataclass(slots=True)
class QueryRequest:
    """A QUERY: what to return, of which class or object, filtered how."""

    opcode: ClassVar[str] = C.QUERY_REQUEST
    method: ClassVar[str] = C.REQUEST

    what: str = C.WHAT_OBJECT
    schema_id: SchemaId | None = None
    object_id: ObjectId | None = None
    where: list[Any] | str | None = None
    projection: tuple[str, ...] | None = None
    limit: int | None = None

    def to_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_what": self.what}
        if self.schema_id is not None:
            out["_schema_id"] = self.schema_id.to_map()
        if self.object_id is not None:
            out["_object_id"] = self.object_id.to_map()
        if self.where is not None:
            out["_where"] = self.where
        if self.projection is not None:
            out["_projection"] = list(self.projection)
        if self.limit is not None:
            out["_limit"] = self.limit
        return out

    @classmethod
    def from_map(cls, raw: Any, where: str = "query") -> QueryRequest:
        body = _map(raw, where)
        what = _str(body, "_what", where)
        if what not in C.WHATS:
            raise _bad(
                f"{where}._what must be one of OBJECT, OBJECT_ID, SCHEMA, SCHEMA_ID, not {what!r}"
            )
        schema_id = (
            SchemaId.from_map(body["_schema_id"], f"{where}._schema_id")
            if body.get("_schema_id") is not None
            else None
        )
        object_id = (
            ObjectId.from_map(body["_object_id"], f"{where}._object_id")
            if body.get("_object_id") is not None
            else None
        )
        cond = body.get("_where")
        if cond is not None and not isinstance(cond, (list, tuple, str)):
            raise _bad(
                f"{where}._where must be a predicate list or a ClassAd expression string, "
                f"not {wire_kind(cond)}"
            )
        proj = body.get("_projection")
        projection: tuple[str, ...] | None = None
        if proj is not None:
            if not isinstance(proj, (list, tuple)) or not all(isinstance(p, str) for p in proj):
                raise _bad(f"{where}._projection must be a list of attribute names")
            projection = tuple(proj)
        raw_limit = body.get("_limit")
        if isinstance(raw_limit, int) and not isinstance(raw_limit, bool) and raw_limit < 0:
            raw_limit = None  # HTCondor's "-1: no limit"
        limit = _number({"_limit": raw_limit}, "_limit", where, integer=True)
        return cls(
            what=what,
            schema_id=schema_id,
            object_id=object_id,
            where=list(cond) if isinstance(cond, tuple) else cond,
            projection=projection,
            limit=int(limit) if limit is not None else None,
        )

    def body(self) -> Any:
        return self.to_map()

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> QueryRequest:
        return cls.from_map(body)


@dataclass(slots=True)
class AgentLocateRequest:
    """Who is there?  ``predicate`` filters on agent attributes (None = all)."""

    opcode: ClassVar[str] = C.AGENT_LOCATE_REQUEST
    method: ClassVar[str] = C.REQUEST

    predicate: list[Any] | None = None

    def body(self) -> Any:
        return list(self.predicate or [])

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> AgentLocateRequest:
        if body is None or body == {} or body == []:
            return cls(None)
        if isinstance(body, Mapping):
            # QMFv2 consoles of the Qpid generation send {"_where": predicate}
            body = body.get("_where")
            if body is None:
                return cls(None)
        if not isinstance(body, (list, tuple)):
            raise _bad(f"agent locate body must be a predicate list, not {wire_kind(body)}")
        return cls(list(body) or None)


@dataclass(slots=True)
class MethodRequest:
    """Call *method* on one object with named arguments."""

    opcode: ClassVar[str] = C.METHOD_REQUEST
    method: ClassVar[str] = C.REQUEST

    object_id: ObjectId
    method_name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    subtypes: dict[str, str] | None = None

    def body(self) -> Any:
        out: dict[str, Any] = {
            "_object_id": self.object_id.to_map(),
            "_method_name": self.method_name,
            "_arguments": dict(self.arguments),
        }
        if self.subtypes:
            out["_subtypes"] = dict(self.subtypes)
        return out

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> MethodRequest:
        raw = _map(body, "method request body")
        if raw.get("_object_id") is None:
            raise _bad("method request lacks _object_id")
        object_id = ObjectId.from_map(raw["_object_id"])
        name = _str(raw, "_method_name", "method request")
        assert name is not None
        args = raw.get("_arguments")
        arguments = {} if args is None else _map(args, "_arguments")
        subtypes = raw.get("_subtypes")
        return cls(
            object_id=object_id,
            method_name=name,
            arguments=arguments,
            subtypes=_map(subtypes, "_subtypes") if subtypes is not None else None,
        )


@dataclass(slots=True)
class SubscribeRequest:
    """Deliver the query's answer every ``interval_ms`` for ``duration_s``."""

    opcode: ClassVar[str] = C.SUBSCRIBE_REQUEST
    method: ClassVar[str] = C.REQUEST

    query: QueryRequest
    interval_ms: int | None = None
    duration_s: float | None = None

    def body(self) -> Any:
        out: dict[str, Any] = {"_query": self.query.to_map()}
        if self.interval_ms is not None:
            out["_interval"] = self.interval_ms
        if self.duration_s is not None:
            out["_duration"] = self.duration_s
        return out

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> SubscribeRequest:
        raw = _map(body, "subscribe request body")
        if raw.get("_query") is None:
            raise _bad("subscribe request lacks _query")
        query = QueryRequest.from_map(raw["_query"], "_query")
        interval = _number(raw, "_interval", "subscribe request")
        duration = _number(raw, "_duration", "subscribe request")
        return cls(
            query=query,
            interval_ms=int(interval) if interval is not None else None,
            duration_s=float(duration) if duration is not None else None,
        )


@dataclass(slots=True)
class SubscribeRefresh:
    """Keep subscription *subscription_id* alive for another ``duration_s``."""

    opcode: ClassVar[str] = C.SUBSCRIBE_REFRESH_INDICATION
    method: ClassVar[str] = C.INDICATION

    subscription_id: str
    duration_s: float | None = None

    def body(self) -> Any:
        out: dict[str, Any] = {"_subscription_id": self.subscription_id}
        if self.duration_s is not None:
            out["_duration"] = self.duration_s
        return out

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> SubscribeRefresh:
        raw = _map(body, "subscribe refresh body")
        sub_id = _str(raw, "_subscription_id", "subscribe refresh")
        assert sub_id is not None
        duration = _number(raw, "_duration", "subscribe refresh")
        return cls(sub_id, float(duration) if duration is not None else None)


@dataclass(slots=True)
class SubscribeCancel:
    """End subscription *subscription_id* now."""

    opcode: ClassVar[str] = C.SUBSCRIBE_CANCEL_INDICATION
    method: ClassVar[str] = C.INDICATION

    subscription_id: str

    def body(self) -> Any:
        return {"_subscription_id": self.subscription_id}

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> SubscribeCancel:
        raw = _map(body, "subscribe cancel body")
        sub_id = _str(raw, "_subscription_id", "subscribe cancel")
        assert sub_id is not None
        return cls(sub_id)


# --------------------------------------------------------------- responses


def _values_body(body: Any, what: str) -> dict[str, Any]:
    raw = _map(body, f"{what} body")
    return _map(raw.get("_values", {}), f"{what} _values")


@dataclass(slots=True)
class _AgentAttributes:
    """An agent's attributes under ``_values``: the shape locate responses
    and heartbeats share."""

    what: ClassVar[str]  # the message's name in error texts

    attributes: dict[str, Any]

    def body(self) -> Any:
        return {"_values": dict(self.attributes)}

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> Self:
        return cls(_values_body(body, cls.what))


@dataclass(slots=True)
class AgentLocateResponse(_AgentAttributes):
    """An agent's attributes, in answer to a locate request."""

    opcode: ClassVar[str] = C.AGENT_LOCATE_RESPONSE
    method: ClassVar[str] = C.RESPONSE
    what: ClassVar[str] = "agent locate response"


@dataclass(slots=True)
class HeartbeatIndication(_AgentAttributes):
    """An agent's attributes, published on its heartbeat subject."""

    opcode: ClassVar[str] = C.AGENT_HEARTBEAT_INDICATION
    method: ClassVar[str] = C.INDICATION
    what: ClassVar[str] = "heartbeat"


def _content(props: Mapping[str, Any], what: str) -> str:
    content = props.get(C.CONTENT_KEY)
    if content not in C.CONTENTS:
        raise _bad(f"{what} has no valid qmf.content (got {content!r})")
    return str(content)


def _items(body: Any, what: str) -> list[Any]:
    if not isinstance(body, (list, tuple)):
        raise _bad(f"{what} body must be a list, not {wire_kind(body)}")
    # Items an agent in this process encoded already (the memory transport
    # hands its messages over without a wire): their maps.  Items off the
    # wire are maps already: one C-level look at their types, then a copy,
    # not a Python step per object (100,000 of them in a big answer).
    if WireObject not in set(map(type, body)):
        return list(body)
    return [item.value() if type(item) is WireObject else item for item in body]


@dataclass(slots=True)
class _ItemBatch:
    """A list of items under a ``qmf.content``, ``partial`` on all but the
    last batch: the shape query responses and data indications share."""

    what: ClassVar[str]  # the message's name in error texts

    content: str
    items: list[Any]
    partial: bool = False

    def body(self) -> Any:
        return self.items

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> Self:
        return cls(
            _content(props, cls.what),
            _items(body, cls.what),
            C.PARTIAL_KEY in props,
        )


@dataclass(slots=True)
class QueryResponse(_ItemBatch):
    """One batch of a query's answer; ``partial`` on all but the last."""

    opcode: ClassVar[str] = C.QUERY_RESPONSE
    method: ClassVar[str] = C.RESPONSE
    what: ClassVar[str] = "query response"


@dataclass(slots=True)
class DataIndication(_ItemBatch):
    """Objects or events pushed to a topic or to a subscriber."""

    opcode: ClassVar[str] = C.DATA_INDICATION
    method: ClassVar[str] = C.INDICATION
    what: ClassVar[str] = "data indication"


@dataclass(slots=True)
class MethodResponse:
    """A method's out arguments."""

    opcode: ClassVar[str] = C.METHOD_RESPONSE
    method: ClassVar[str] = C.RESPONSE

    arguments: dict[str, Any] = field(default_factory=dict)

    def body(self) -> Any:
        return {"_arguments": dict(self.arguments)}

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> MethodResponse:
        raw = _map(body, "method response body")
        args = raw.get("_arguments")
        return cls({} if args is None else _map(args, "method response _arguments"))


@dataclass(slots=True)
class ExceptionResponse:
    """A request failed; :meth:`error` rebuilds the exception it names."""

    opcode: ClassVar[str] = C.EXCEPTION
    method: ClassVar[str] = C.RESPONSE

    code: int
    text: str

    @classmethod
    def from_error(cls, err: QmfError) -> ExceptionResponse:
        return cls(err.code, err.text)

    def error(self) -> QmfError:
        return from_wire(self.body())

    def body(self) -> Any:
        err = QmfError(self.text)
        err.code = self.code
        return to_wire(err)

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> ExceptionResponse:
        err = from_wire(body)
        return cls(err.code, err.text)


@dataclass(slots=True)
class SubscribeResponse:
    """A subscription was made (or refreshed): its id, interval, duration."""

    opcode: ClassVar[str] = C.SUBSCRIBE_RESPONSE
    method: ClassVar[str] = C.RESPONSE

    subscription_id: str
    interval_ms: int
    duration_s: float

    def body(self) -> Any:
        return {
            "_subscription_id": self.subscription_id,
            "_interval": self.interval_ms,
            "_duration": self.duration_s,
        }

    @classmethod
    def from_body(cls, body: Any, props: Mapping[str, Any]) -> SubscribeResponse:
        raw = _map(body, "subscribe response body")
        sub_id = _str(raw, "_subscription_id", "subscribe response")
        assert sub_id is not None
        interval = _number(raw, "_interval", "subscribe response") or 0
        duration = _number(raw, "_duration", "subscribe response") or 0
        return cls(sub_id, int(interval), float(duration))


Request = (
    AgentLocateRequest
    | QueryRequest
    | MethodRequest
    | SubscribeRequest
    | SubscribeRefresh
    | SubscribeCancel
)
Response = (
    AgentLocateResponse
    | HeartbeatIndication
    | QueryResponse
    | MethodResponse
    | ExceptionResponse
    | DataIndication
    | SubscribeResponse
)
QmfMessage = Request | Response

_CLASSES: dict[str, Any] = {
    cls.opcode: cls
    for cls in (
        AgentLocateRequest,
        QueryRequest,
        MethodRequest,
        SubscribeRequest,
        SubscribeRefresh,
        SubscribeCancel,
        AgentLocateResponse,
        HeartbeatIndication,
        QueryResponse,
        MethodResponse,
        ExceptionResponse,
        DataIndication,
        SubscribeResponse,
    )
}


def encode(
    obj: QmfMessage,
    *,
    agent_name: str | None = None,
    correlation_id: Any = None,
) -> Message:
    """The message for *obj*; ``address`` is left to an addressing profile.

    *agent_name* goes into ``qmf.agent`` (everything an agent sends carries
    it); *correlation_id* is copied from the request being answered.
    """
    body = obj.body()
    props: dict[str, Any] = {
        C.APP_ID_KEY: C.APP_ID,
        C.METHOD_KEY: obj.method,
        C.OPCODE_KEY: obj.opcode,
    }
    if agent_name is not None:
        props[C.AGENT_KEY] = agent_name
    content = getattr(obj, "content", None)
    if content is not None:
        props[C.CONTENT_KEY] = content
    if getattr(obj, "partial", False):
        props[C.PARTIAL_KEY] = True
    return Message(
        body=body,
        correlation_id=correlation_id,
        content_type=C.LIST_CONTENT_TYPE if isinstance(body, list) else C.MAP_CONTENT_TYPE,
        properties=props,
    )


def decode(message: Message) -> QmfMessage:
    """The typed form of *message*.

    Raises :class:`NotImplementedByAgent` for a missing or unknown opcode and
    :class:`ParameterInvalid` for a body or field of the wrong shape.
    """
    props = message.properties if isinstance(message.properties, Mapping) else {}
    opcode = props.get(C.OPCODE_KEY)
    if opcode is None:
        raise NotImplementedByAgent("message has no qmf.opcode property")
    cls = _CLASSES.get(opcode) if isinstance(opcode, str) else None
    if cls is None:
        raise NotImplementedByAgent(f"unknown qmf.opcode {opcode!r}")
    result: QmfMessage = cls.from_body(message.body, props)
    return result


def encode_batches(
    content: str,
    items: Iterable[Any],
    *,
    agent_name: str,
    correlation_id: Any = None,
    batch_size: int = 500,
    batch_bytes: int | None = None,
    indication: bool = False,
) -> Iterator[Message]:
    """A query response (or data indication) split into messages of at most
    *batch_size* items, ``partial`` on all but the last; at least one message
    even when *items* is empty, so the requester always gets a final answer.

    With *batch_bytes*, a message also ends once its pre-encoded items
    (:class:`WireObject`) reach that many bytes: few big messages cost less
    per object on both sides than many small ones, and the bound keeps
    messages of big objects from growing with them.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if batch_bytes is not None and batch_bytes < 1:
        raise ValueError(f"batch_bytes must be at least 1, got {batch_bytes}")
    kind = DataIndication if indication else QueryResponse
    chunks = _chunks(items, batch_size, batch_bytes)
    chunk = next(chunks, [])
    while True:
        # One batch of lookahead: only the next batch says whether this
        # one is the last.  An iterator of items is consumed lazily, so
        # the first batch leaves before the last object is read.
        following = next(chunks, None)
        yield encode(
            kind(content, chunk, following is not None),
            agent_name=agent_name,
            correlation_id=correlation_id,
        )
        if following is None:
            return
        chunk = following


def _chunks(items: Iterable[Any], batch_size: int, batch_bytes: int | None) -> Iterator[list[Any]]:
    """*items* in lists of at most *batch_size* (and *batch_bytes*, see
    :func:`encode_batches`), read lazily."""
    source = iter(items)
    if batch_bytes is None:
        while counted := list(islice(source, batch_size)):
            yield counted
        return
    chunk: list[Any] = []
    size = 0
    for item in source:
        chunk.append(item)
        if type(item) is WireObject:
            size += len(item.wire)
        if len(chunk) >= batch_size or size >= batch_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
