"""Message <-> AMQP 1.0 bytes: the only place the wire encoding is decided.

The codec is :mod:`._amqp` (plain Python, ten times proton's speed on QMF
bodies).  Three traps are handled here (design note "brokers"):

* proton hands out binary values as memoryviews into its own buffers; our
  decoder only ever returns ``bytes`` copied out of the frame;
* a Python ``int`` is an AMQP long; from 2**63 to 2**64-1 it is sent as
  ``ulong``, and beyond that refused with a :class:`ValueError` naming
  where in the message the value sits;
* RabbitMQ 3.x's AMQP 1.0 plugin crashes the connection on an
  ``amqp-value`` body that is a non-empty list (it reads the list as the
  section's fields).  For RabbitMQ a list body is therefore sent as a
  ``data`` section holding the list's AMQP encoding, with content type
  ``amqp/list``; :func:`decode` turns such a body back into the list.

Encoding happens on the sender's thread (not the container thread), so a
large query response costs the I/O thread only the copy of its bytes.
"""

from __future__ import annotations

import gc
from typing import Any

from qmf_agent.message import Message

from ._amqp import decode_message, decode_value, encode_message, encode_value

__all__ = ["encode", "decode"]

_LIST_TYPE = "amqp/list"
_ULONG_MAX = 2**64 - 1
_LONG_MIN = -(2**63)
#: Messages at least this big are decoded with the cyclic garbage collector
#: paused.  A query answer of 2,000 objects allocates ~10,000 dicts and
#: lists, and each 700 allocations start a collection that walks young
#: objects in vain (decoded values hold no cycles); the periodic full
#: collections walk every answer gathered so far.  Paused, a 100,000-object
#: answer decodes ~20% faster.  Small messages are not worth the two calls.
_GC_PAUSE_BYTES = 64 * 1024


def _find_unencodable(value: Any, where: str) -> None:
    """Raise a ValueError naming the first value AMQP cannot carry."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not _LONG_MIN <= value <= _ULONG_MAX:
            raise ValueError(
                f"{where}: integer {value} does not fit AMQP's 64-bit types "
                f"(long from -2**63, ulong up to 2**64-1)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _find_unencodable(key, f"{where} key {key!r}")
            _find_unencodable(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _find_unencodable(item, f"{where}[{index}]")
    elif not isinstance(value, (str, bytes, float)):
        try:
            encode_value(value)
        except (TypeError, OverflowError) as exc:
            raise ValueError(f"{where}: {exc}") from exc


def encode(msg: Message, *, wrap_lists: bool = False) -> bytes:
    """The AMQP bytes of *msg* (properties, application properties, body).

    *wrap_lists* sends a list body as a data section (for RabbitMQ).
    Raises :class:`ValueError` for a value AMQP cannot carry, naming it.
    """
    try:
        body = msg.body
        as_data = wrap_lists and isinstance(body, list) and bool(body)
        return encode_message(
            encode_value(body) if as_data else body,
            to=msg.address,
            subject=msg.subject,
            reply_to=msg.reply_to,
            correlation_id=msg.correlation_id,
            user_id=msg.user_id.encode("utf-8") if msg.user_id else None,
            content_type=_LIST_TYPE if as_data else msg.content_type,
            properties=msg.properties or None,
            body_as_data=as_data,
        )
    except (OverflowError, TypeError) as exc:
        _find_unencodable(msg.body, "body")
        _find_unencodable(msg.properties, "properties")
        _find_unencodable(msg.correlation_id, "correlation_id")
        raise ValueError(f"message cannot be encoded as AMQP: {exc}") from exc


def decode(data: bytes, user_id: str | None = None, *, keep_user_id: bool = False) -> Message:
    """The :class:`Message` in *data*.

    *user_id* is the identity the connection authenticated; it replaces
    whatever the sender wrote in the message (never trusted) -- unless
    *keep_user_id*, for messages a broker has validated.
    Raises :class:`ValueError` when *data* is not an AMQP message.
    """
    if len(data) < _GC_PAUSE_BYTES or not gc.isenabled():
        return _decode(data, user_id, keep_user_id)
    # Not thread-proof against an application that itself calls
    # gc.disable() while this runs (it would be re-enabled here); two of
    # these in parallel are: the GC runs again once neither decodes.
    gc.disable()
    try:
        return _decode(data, user_id, keep_user_id)
    finally:
        gc.enable()


def _decode(data: bytes, user_id: str | None, keep_user_id: bool) -> Message:
    parts = decode_message(data)
    body = parts.body
    if parts.body_is_data and parts.content_type == _LIST_TYPE:
        body = decode_value(body)
        if not isinstance(body, list):
            raise ValueError("an amqp/list data section does not hold a list")
    if keep_user_id:
        user_id = parts.user_id.decode("utf-8", "replace") if parts.user_id else None
    properties = parts.properties
    if any(type(key) is not str for key in properties):
        properties = {str(key): value for key, value in properties.items()}
    return Message(
        body=body,
        address=parts.to if isinstance(parts.to, str) else None,
        subject=parts.subject if isinstance(parts.subject, str) else None,
        reply_to=parts.reply_to if isinstance(parts.reply_to, str) else None,
        correlation_id=parts.correlation_id,
        user_id=user_id,
        content_type=parts.content_type if isinstance(parts.content_type, str) else None,
        properties=properties,
    )
