"""Message <-> AMQP 1.0 bytes: the only place the wire encoding is decided.

Two traps of proton's codec are handled here (design note "brokers"):

* binary values decode as memoryviews into proton's buffers, corrupted once
  the message is freed -- every binary is copied out with ``bytes()``;
* a Python ``int`` encodes as AMQP long, so values >= 2**63 overflow --
  they are sent as ``ulong`` when they fit (< 2**64), and refused with a
  :class:`ValueError` naming where the value sits when they do not.

A third is RabbitMQ 3.x's: its AMQP 1.0 plugin crashes the connection on
an ``amqp-value`` body that is a non-empty list (it decodes the list as the
section's fields).  For RabbitMQ a list body is therefore sent as a ``data``
section holding the list's AMQP encoding, with content type ``amqp/list``;
:func:`decode` turns such a body back into the list.

Encoding happens on the sender's thread (not the container thread), so a
large query response costs the I/O thread only the copy of its bytes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import proton
from proton import symbol, ulong

from qmf_agent.message import Message

__all__ = ["encode", "decode", "copy_out"]

_LIST_TYPE = "amqp/list"

_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_ULONG_MAX = 2**64 - 1


def _widen(value: Any, where: str) -> Any:
    """*value* with out-of-range ints made ``ulong`` (or refused)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if _LONG_MIN <= value <= _LONG_MAX or isinstance(value, ulong):
            return value
        if _LONG_MAX < value <= _ULONG_MAX:
            return ulong(value)
        raise ValueError(
            f"{where}: integer {value} does not fit AMQP's 64-bit types "
            f"(long from -2**63, ulong up to 2**64-1)"
        )
    if isinstance(value, dict):
        return {k: _widen(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_widen(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _list_as_data(body: list[Any]) -> bytes:
    data = proton.Data()
    data.put_object(body)
    return bytes(data.encode())


def _to_proton(msg: Message, wrap_lists: bool) -> proton.Message:
    wrap = wrap_lists and isinstance(msg.body, list) and bool(msg.body)
    pm = proton.Message(
        body=_list_as_data(msg.body) if wrap else msg.body,
        inferred=wrap,
        address=msg.address,
        subject=msg.subject,
        reply_to=msg.reply_to,
        correlation_id=msg.correlation_id,
        properties=dict(msg.properties) if msg.properties else None,
    )
    if wrap:
        pm.content_type = symbol(_LIST_TYPE)
    elif msg.content_type:
        pm.content_type = symbol(msg.content_type)
    if msg.user_id:
        pm.user_id = msg.user_id.encode("utf-8")
    return pm


def encode(msg: Message, *, wrap_lists: bool = False) -> bytes:
    """The AMQP bytes of *msg* (properties, application properties, body).

    *wrap_lists* sends a list body as a data section (for RabbitMQ).
    Raises :class:`ValueError` for a value AMQP cannot carry, naming it.
    """
    try:
        return bytes(_to_proton(msg, wrap_lists).encode())
    except OverflowError:
        pass
    body = _widen(msg.body, "body")
    pm = _to_proton(dataclasses.replace(msg, body=body), wrap_lists)
    if msg.properties:
        pm.properties = _widen(dict(msg.properties), "properties")
    try:
        return bytes(pm.encode())
    except (OverflowError, TypeError, KeyError) as exc:
        raise ValueError(f"message cannot be encoded as AMQP: {exc}") from exc


def copy_out(value: Any) -> Any:
    """*value* with every memoryview copied to ``bytes`` and every proton
    scalar subclass (symbol, ulong, ...) kept as its plain value."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {copy_out(k): copy_out(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_out(v) for v in value]
    return value


def decode(data: bytes, user_id: str | None = None, *, keep_user_id: bool = False) -> Message:
    """The :class:`Message` in *data*.

    *user_id* is the identity the connection authenticated; it replaces
    whatever the sender wrote in the message (never trusted) -- unless
    *keep_user_id*, for messages a broker has validated.
    Raises :class:`ValueError` when *data* is not an AMQP message.
    """
    pm = proton.Message()
    try:
        pm.decode(data)
    except Exception as exc:
        raise ValueError(f"not an AMQP message: {exc}") from exc
    props = pm.properties
    content_type = pm.content_type
    body = pm.body
    if content_type == _LIST_TYPE and isinstance(body, (bytes, memoryview)):
        unwrapped = proton.Data()
        try:
            unwrapped.decode(bytes(body))
            body = unwrapped.get_object()
        except Exception as exc:
            raise ValueError(f"amqp/list data section does not hold a list: {exc}") from exc
    return Message(
        body=copy_out(body),
        address=pm.address,
        subject=pm.subject,
        reply_to=pm.reply_to,
        correlation_id=copy_out(pm.correlation_id),
        user_id=_text(pm.user_id) if keep_user_id else user_id,
        # proton reports an absent content type as symbol("None")
        content_type=str(content_type) if content_type and content_type != "None" else None,
        properties={str(k): copy_out(v) for k, v in props.items()} if props else {},
    )


def _text(value: Any) -> str | None:
    if not value:
        return None
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
