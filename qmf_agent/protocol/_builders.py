"""What a console needs: request builders and one response reader.

The builders return a :class:`~qmf_agent.message.Message` with body and
properties set; the client adds ``reply_to``, ``correlation_id`` and the
address (through an addressing profile).  :func:`decode_response` turns all
the messages of one answer into a Python value or raises the error the agent
reported, rebuilt as the same :class:`~qmf_agent.errors.QmfError` subclass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qmf_agent.errors import QmfError
from qmf_agent.message import Message

from . import _constants as C
from ._codec import (
    AgentLocateRequest,
    AgentLocateResponse,
    DataIndication,
    ExceptionResponse,
    HeartbeatIndication,
    MethodRequest,
    MethodResponse,
    ObjectId,
    QueryRequest,
    QueryResponse,
    SchemaId,
    SubscribeCancel,
    SubscribeRefresh,
    SubscribeRequest,
    SubscribeResponse,
    decode,
    encode,
)

__all__ = [
    "agent_locate_request",
    "query_request",
    "method_request",
    "subscribe_request",
    "subscribe_refresh",
    "subscribe_cancel",
    "decode_response",
    "make_query",
    "object_id_of",
]


def object_id_of(object_id: str | Mapping[str, Any] | ObjectId) -> ObjectId:
    """Accept an object name (``mrg.grid:job:12.0``), an OBJECT_ID map or an ObjectId."""
    if isinstance(object_id, ObjectId):
        return object_id
    if isinstance(object_id, str):
        return ObjectId(object_id)
    return ObjectId.from_map(object_id)


def make_query(
    what: str,
    *,
    class_name: str | None = None,
    package: str | None = None,
    object_id: str | Mapping[str, Any] | ObjectId | None = None,
    where: list[Any] | str | None = None,
    projection: Sequence[str] | None = None,
    limit: int | None = None,
) -> QueryRequest:
    """A QUERY; ``what`` is OBJECT, OBJECT_ID, SCHEMA or SCHEMA_ID (any case)."""
    what_up = what.upper()
    if what_up not in C.WHATS:
        raise ValueError(f"what must be one of OBJECT, OBJECT_ID, SCHEMA, SCHEMA_ID, not {what!r}")
    if isinstance(projection, str):
        raise ValueError("projection must be a list of names, not a string")
    schema_id = (
        SchemaId(class_name=class_name, package=package)
        if class_name is not None or package is not None
        else None
    )
    return QueryRequest(
        what=what_up,
        schema_id=schema_id,
        object_id=object_id_of(object_id) if object_id is not None else None,
        where=where,
        projection=tuple(projection) if projection is not None else None,
        limit=limit,
    )


def agent_locate_request(predicate: list[Any] | None = None) -> Message:
    return encode(AgentLocateRequest(predicate))


def query_request(
    what: str,
    *,
    class_name: str | None = None,
    package: str | None = None,
    object_id: str | Mapping[str, Any] | ObjectId | None = None,
    where: list[Any] | str | None = None,
    projection: Sequence[str] | None = None,
    limit: int | None = None,
) -> Message:
    return encode(
        make_query(
            what,
            class_name=class_name,
            package=package,
            object_id=object_id,
            where=where,
            projection=projection,
            limit=limit,
        )
    )


def method_request(
    object_id: str | Mapping[str, Any] | ObjectId,
    method: str,
    arguments: Mapping[str, Any] | None = None,
) -> Message:
    return encode(MethodRequest(object_id_of(object_id), method, dict(arguments or {})))


def subscribe_request(
    query: QueryRequest | Message, interval_ms: int | None = None, duration_s: float | None = None
) -> Message:
    """Subscribe to *query* (a :func:`make_query` result or a query_request message)."""
    if isinstance(query, Message):
        query = QueryRequest.from_map(query.body)
    return encode(SubscribeRequest(query, interval_ms, duration_s))


def subscribe_refresh(sub_id: str, duration: float | None = None) -> Message:
    return encode(SubscribeRefresh(sub_id, duration))


def subscribe_cancel(sub_id: str) -> Message:
    return encode(SubscribeCancel(sub_id))


def decode_response(messages: Iterable[Message]) -> list[Any] | dict[str, Any]:
    """The value of one complete answer.

    * query responses and data indications: the items of every batch, in order;
    * method response: the out arguments;
    * agent locate response / heartbeat: the agent attributes;
    * subscribe response: ``{subscription_id, interval, duration}`` as sent.

    An ``_exception`` among them is raised as the error it names; an answer
    that is not QMF at all raises :class:`QmfError`.
    """
    items: list[Any] = []
    result: list[Any] | dict[str, Any] | None = None
    for message in messages:
        try:
            decoded = decode(message)
        except QmfError as exc:
            raise QmfError(f"malformed response from the agent: {exc.text}") from None
        if isinstance(decoded, ExceptionResponse):
            raise decoded.error()
        if isinstance(decoded, (QueryResponse, DataIndication)):
            items.extend(decoded.items)
            result = items
        elif isinstance(decoded, MethodResponse):
            result = decoded.arguments
        elif isinstance(decoded, (AgentLocateResponse, HeartbeatIndication)):
            result = decoded.attributes
        elif isinstance(decoded, SubscribeResponse):
            result = decoded.body()
        else:
            raise QmfError(f"expected a response, got a {decoded.opcode} message")
    if result is None:
        raise QmfError("no response messages to decode")
    return result
