"""Job ads on the wire: the three map encodings QMF clients use.

A job ad travels as an AMQP map of attribute name -> value, in one of three
encodings (design note "Job ads on the wire"); the agent accepts all three
and answers in the one the request used:

``plain``
    native values: str, int, float, bool, None (UNDEFINED), list, and a map
    for a nested ad.  It cannot mark an expression, so on output an
    expression travels as its text (a string).
``typed`` (the 2009 QMF prototype's)
    every value is ``{"TYPE": t, "VALUE": "text"}`` with t one of STRING,
    INTEGER, FLOAT, BOOLEAN, EXPR; EXPRESSION, UNDEFINED and ERROR are
    accepted too, in any case.  Lossless; the default answer.
``descriptor`` (the later condor plugin's)
    plain values, plus a key ``"!!descriptors"`` mapping an attribute name
    to ``"com.redhat.grid.Expression"`` when its string value is an
    expression.  Lossless for top-level expressions.

AMQP binary (Python ``bytes``) keys and values are read as UTF-8.  Anything
malformed raises :class:`WireFormatError` naming the attribute (as a path,
``Env.PATH`` or ``Args[2]``, inside nested values) and what is wrong.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from classad._ast import ListExpr, Literal, Node, RecordExpr
from classad._errors import ClassAdSyntaxError
from classad._unparse import unparse
from classad._values import ERROR, INT64_MAX, INT64_MIN, UNDEFINED

if TYPE_CHECKING:
    from classad._classad import ClassAd

__all__ = [
    "WireFormatError",
    "decode_job_ad",
    "encode_job_ad",
    "ENCODINGS",
    "DESCRIPTORS_KEY",
    "EXPRESSION_DESCRIPTOR",
]

log = logging.getLogger(__name__)

#: The encodings, by the names decode_job_ad reports and encode_job_ad takes.
ENCODINGS = ("plain", "typed", "descriptor")
DESCRIPTORS_KEY = "!!descriptors"
EXPRESSION_DESCRIPTOR = "com.redhat.grid.Expression"

_TYPES = ("STRING", "INTEGER", "FLOAT", "BOOLEAN", "EXPR", "EXPRESSION", "UNDEFINED", "ERROR")
_INTEGER = re.compile(r"[ \t]*[+-]?[0-9]+[ \t]*\Z")
_FLOAT = re.compile(
    r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)[ \t]*\Z",
    re.IGNORECASE,
)


class WireFormatError(ValueError):
    """A job ad map that cannot be read: ``attribute`` names the offending
    attribute (None when the map itself is wrong) and ``reason`` says what
    is wrong with it."""

    def __init__(self, attribute: str | None, reason: str) -> None:
        self.attribute = attribute
        self.reason = reason
        where = "job ad" if attribute is None else f"attribute {attribute!r}"
        super().__init__(f"{where}: {reason}")


# --------------------------------------------------------------------------
# decoding


def _text(v: Any, path: str | None, what: str) -> str:
    """A str, or bytes (AMQP binary) decoded as UTF-8."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        try:
            return bytes(v).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireFormatError(path, f"{what} is binary that is not UTF-8 ({exc.reason})") from None
    raise WireFormatError(path, f"{what} must be text, not {_kind(v)}")


def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _name(key: Any, parent: str | None) -> str:
    """A map key as an attribute name (checked: text, not empty)."""
    where = parent
    if isinstance(key, str) or isinstance(key, (bytes, bytearray, memoryview)):
        name = _text(key, where, "an attribute name")
        if name:
            return name
        raise WireFormatError(where, "an attribute name is empty")
    raise WireFormatError(where, f"attribute names must be text, not {_kind(key)} {key!r}")


def _join(parent: str | None, name: str) -> str:
    return name if parent is None else f"{parent}.{name}"


def _plain(v: Any, path: str) -> Node:
    """A native AMQP value as an AST node."""
    if v is None:
        return Literal(UNDEFINED)
    if isinstance(v, bool):
        return Literal(bool(v))
    if isinstance(v, int):
        n = int(v)
        if not INT64_MIN <= n <= INT64_MAX:
            raise WireFormatError(path, f"integer {n} does not fit in 64 bits")
        return Literal(n)
    if isinstance(v, float):
        return Literal(float(v))
    if isinstance(v, (str, bytes, bytearray, memoryview)):
        return Literal(_text(v, path, "a string value"))
    if isinstance(v, (list, tuple)):
        return ListExpr([_plain(x, f"{path}[{i}]") for i, x in enumerate(v)])
    if isinstance(v, Mapping):
        return RecordExpr(_plain_items(v, path))
    raise WireFormatError(path, f"a {_kind(v)} value cannot be a ClassAd value")


def _plain_items(mapping: Mapping[Any, Any], parent: str | None) -> list[tuple[str, Node]]:
    out = []
    for key, v in mapping.items():
        name = _name(key, parent)
        out.append((name, _plain(v, _join(parent, name))))
    return out


def _typed_parts(v: Any) -> tuple[Any, Any, bool] | None:
    """``(TYPE, VALUE, has VALUE)`` if *v* is a typed value (a map whose
    keys are TYPE and optionally VALUE, in any case), else None."""
    if not isinstance(v, Mapping) or not 1 <= len(v) <= 2:
        return None
    if "TYPE" in v:  # the usual spelling, checked first because it is cheap
        if len(v) == 1:
            return v["TYPE"], None, False
        if "VALUE" in v:
            return v["TYPE"], v["VALUE"], True
    parts: dict[str, Any] = {}
    for key, x in v.items():
        if isinstance(key, (bytes, bytearray)):
            try:
                key = bytes(key).decode("utf-8")
            except UnicodeDecodeError:
                return None
        if not isinstance(key, str) or key.upper() not in ("TYPE", "VALUE"):
            return None
        parts[key.upper()] = x
    if "TYPE" not in parts:
        return None
    return parts["TYPE"], parts.get("VALUE"), "VALUE" in parts


def _known_type(parts: tuple[Any, Any, bool] | None) -> bool:
    """Is *parts* a typed value whose TYPE is one we know?"""
    if parts is None:
        return False
    t = parts[0]
    if isinstance(t, (bytes, bytearray)):
        t = bytes(t).decode("utf-8", "replace")
    return isinstance(t, str) and t.upper() in _TYPES


def _expression(text: str, path: str, what: str) -> Node:
    from classad._parser import parse_expression

    try:
        return parse_expression(text)
    except ClassAdSyntaxError as exc:
        raise WireFormatError(path, f"{what} {text!r} is not a valid expression: {exc.reason}") from None


def _typed(parts: tuple[Any, Any, bool], path: str) -> Node:
    """``{"TYPE": t, "VALUE": text}`` (as :func:`_typed_parts` gives it)
    as an AST node."""
    raw_type, value, has_value = parts
    t = _text(raw_type, path, "TYPE").upper()
    if t == "UNDEFINED":
        return Literal(UNDEFINED)
    if t == "ERROR":
        return Literal(ERROR)
    if t not in _TYPES:
        raise WireFormatError(path, f"unknown TYPE {raw_type!r} (expected one of {', '.join(_TYPES)})")
    if not has_value:
        raise WireFormatError(path, f"{t} value is missing (no VALUE)")
    # The prototype sends every VALUE as text; native values of the right
    # type are accepted too.
    if t == "STRING":
        return Literal(_text(value, path, "STRING value"))
    if t == "INTEGER":
        if isinstance(value, int) and not isinstance(value, bool):
            return _plain(value, path)
        text = _text(value, path, "INTEGER value")
        if not _INTEGER.match(text):
            raise WireFormatError(path, f"INTEGER value {text!r} is not an integer")
        n = int(text)
        if not INT64_MIN <= n <= INT64_MAX:
            raise WireFormatError(path, f"INTEGER value {text!r} does not fit in 64 bits")
        return Literal(n)
    if t == "FLOAT":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Literal(float(value))
        text = _text(value, path, "FLOAT value")
        if not _FLOAT.match(text):
            raise WireFormatError(path, f"FLOAT value {text!r} is not a number")
        return Literal(float(text))
    if t == "BOOLEAN":
        if isinstance(value, bool):
            return Literal(bool(value))
        text = _text(value, path, "BOOLEAN value").strip().lower()
        if text in ("true", "1"):
            return Literal(True)
        if text in ("false", "0"):
            return Literal(False)
        raise WireFormatError(path, f"BOOLEAN value {value!r} is not true or false")
    return _expression(_text(value, path, f"{t} value"), path, f"{t} value")


def _descriptors(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise WireFormatError(DESCRIPTORS_KEY, f"must be a map of attribute -> descriptor, not {_kind(raw)}")
    out = {}
    for key, kind in raw.items():
        name = _name(key, DESCRIPTORS_KEY)
        text = _text(kind, _join(DESCRIPTORS_KEY, name), "a descriptor")
        if text != EXPRESSION_DESCRIPTOR:
            raise WireFormatError(name, f"unknown descriptor {text!r} (expected {EXPRESSION_DESCRIPTOR!r})")
        out[name.lower()] = name
    return out


def decode_job_ad(mapping: Any) -> tuple[ClassAd, str]:
    """Read a job ad map in any of the three encodings.

    Returns the ad and the encoding it came in (``"plain"``, ``"typed"`` or
    ``"descriptor"``), so the answer can use the same one.  A map with
    ``"!!descriptors"`` is the descriptor encoding; a map with any
    ``{TYPE, VALUE}`` value is typed (its other values are read as plain);
    anything else is plain.
    """
    from classad._classad import ClassAd

    if not isinstance(mapping, Mapping):
        raise WireFormatError(None, f"expected a map of attribute -> value, not {_kind(mapping)}")
    items: list[tuple[str, Node]] = []
    descriptors: dict[str, str] | None = None
    plain_values: dict[str, Any] = {}
    for key, value in mapping.items():
        if key == DESCRIPTORS_KEY or key == DESCRIPTORS_KEY.encode():
            descriptors = _descriptors(value)
        else:
            plain_values[_name(key, None)] = value
    typed = {} if descriptors is not None else {n: _typed_parts(v) for n, v in plain_values.items()}
    if descriptors is not None:
        encoding = "descriptor"
        seen = set()
        for name, value in plain_values.items():
            low = name.lower()
            if low in descriptors:
                seen.add(low)
                text = _text(value, name, "an expression (marked by !!descriptors)")
                items.append((name, _expression(text, name, "expression")))
            else:
                items.append((name, _plain(value, name)))
        missing = set(descriptors) - seen
        if missing:
            name = descriptors[sorted(missing)[0]]
            raise WireFormatError(name, "named in !!descriptors but not in the ad")
    elif any(_known_type(parts) for parts in typed.values()):
        encoding = "typed"
        for name, value in plain_values.items():
            parts = typed[name]
            items.append((name, _plain(value, name) if parts is None else _typed(parts, name)))
    else:
        encoding = "plain"
        items = [(name, _plain(value, name)) for name, value in plain_values.items()]
    ad = ClassAd()
    ad._load_record(RecordExpr(items))
    log.debug("decoded a %s job ad with %d attributes", encoding, len(items))
    return ad, encoding


# --------------------------------------------------------------------------
# encoding


def _native(node: Node) -> tuple[bool, Any]:
    """``(True, value)`` when *node* has a plain (native AMQP) form:
    literal strings, numbers, booleans, UNDEFINED, and lists and records of
    those; else ``(False, None)``."""
    t = type(node)
    if t is Literal:
        v = node.value  # type: ignore[attr-defined]
        tv = type(v)
        if tv is str or tv is int or tv is float or tv is bool:
            return True, v
        if v is UNDEFINED:
            return True, None
        return False, None
    if t is ListExpr:
        out = []
        for item in node.items:  # type: ignore[attr-defined]
            ok, x = _native(item)
            if not ok:
                return False, None
            out.append(x)
        return True, out
    if t is RecordExpr:
        rec: dict[str, Any] = {}
        for name, item in node.attrs:  # type: ignore[attr-defined]
            ok, x = _native(item)
            if not ok:
                return False, None
            rec[name] = x
        return True, rec
    return False, None


def _typed_value(node: Node) -> dict[str, str]:
    """A node as ``{"TYPE": t, "VALUE": text}``: literals by type,
    everything else EXPR with its new-syntax text."""
    if type(node) is Literal:
        v = node.value
        tv = type(v)
        if tv is str:
            return {"TYPE": "STRING", "VALUE": v}
        if tv is bool:
            return {"TYPE": "BOOLEAN", "VALUE": "true" if v else "false"}
        if tv is int:
            return {"TYPE": "INTEGER", "VALUE": str(v)}
        if tv is float and math.isfinite(v):
            return {"TYPE": "FLOAT", "VALUE": repr(v)}
    return {"TYPE": "EXPR", "VALUE": unparse(node)}


def encode_job_ad(ad: ClassAd, encoding: str = "typed") -> dict[str, Any]:
    """A job ad as a map in *encoding* (``"typed"``, ``"plain"`` or
    ``"descriptor"``).  In the plain encoding an expression becomes its
    text, indistinguishable from a string; the other two keep it."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown job ad encoding {encoding!r} (expected one of {', '.join(ENCODINGS)})")
    attrs = ad._pairs()  # own and inherited attributes, as first spelled
    if encoding == "typed":
        return {name: _typed_value(node) for name, node in attrs}
    out: dict[str, Any] = {}
    marked: dict[str, str] = {}
    for name, node in attrs:
        ok, value = _native(node)
        if ok:
            out[name] = value
        else:
            out[name] = unparse(node)
            marked[name] = EXPRESSION_DESCRIPTOR
    if encoding == "descriptor":
        out[DESCRIPTORS_KEY] = marked
    return out
