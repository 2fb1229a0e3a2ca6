"""Value conversions and C-isms shared by the built-in function modules.

HTCondor's functions are written in C++ over byte strings, and many quirks
users can observe come straight from C: ``int("12abc")`` is 12 because the
conversion is ``strtod``; ``substr`` truncates its offsets to a 32-bit
``int``; a double that does not fit a ``long long`` becomes INT64_MIN (what
x86-64's conversion instruction yields).  This module reproduces those
conversions once, so the function modules can state HTCondor's rules in the
same terms as its source does.

Strings are Python ``str`` in the internal representation, but ClassAd
strings are bytes: ``size("é")`` is 2.  Byte-level work goes through
:func:`to_bytes`/:func:`from_bytes` (UTF-8 with ``surrogateescape``, so a
substring that splits a character still round-trips to the same bytes).
"""

from __future__ import annotations

import math
import re
from typing import Any

from classad._unparse import format_abstime, format_reltime, format_value, unparse
from classad._values import ERROR, INT64_MIN, UNDEFINED, AbsTime, Record, RelTime

__all__ = [
    "to_bytes",
    "from_bytes",
    "c_int32",
    "c_double_to_int64",
    "c_div",
    "c_mod",
    "strtod_prefix",
    "is_number",
    "to_int",
    "to_real",
    "to_text",
    "unparse_value",
]


def to_bytes(s: str) -> bytes:
    """The bytes HTCondor would hold for *s*."""
    return s.encode("utf-8", "surrogateescape")


def from_bytes(b: bytes) -> str:
    """The internal string for the bytes *b* (inverse of :func:`to_bytes`)."""
    return b.decode("utf-8", "surrogateescape")


def c_int32(n: int) -> int:
    """C's ``(int)`` of a 64-bit integer: keep the low 32 bits, signed."""
    return ((n + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def c_double_to_int64(x: float) -> int:
    """C's ``(long long)`` of a double on x86-64: truncation toward zero,
    and INT64_MIN for NaN or anything out of range."""
    if x != x or x >= 9.223372036854775808e18 or x < -9.223372036854775808e18:
        return INT64_MIN
    return int(x)


def c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero); *b* must not be 0."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a: int, b: int) -> int:
    """C's ``%``: the sign follows the dividend."""
    return a - b * c_div(a, b)


# strtod(3): optional C white space and sign, then hex, decimal, inf or nan.
_STRTOD = re.compile(
    r"[ \t\n\v\f\r]*"
    r"(?P<num>[+-]?(?:"
    r"(?P<hex>0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|(?P<inf>(?i:inf(?:inity)?))"
    r"|(?P<nan>(?i:nan)(?:\([0-9A-Za-z_]*\))?)"
    r"))"
)


def strtod_prefix(text: str) -> float | None:
    """The value ``strtod`` reads from the start of *text*, or None when it
    converts nothing (``"abc"``, ``""``, ``"-"``)."""
    m = _STRTOD.match(text)
    if m is None:
        return None
    num = m.group("num")
    negative = num.startswith("-")
    if m.group("nan"):
        return math.nan
    if m.group("inf"):
        return -math.inf if negative else math.inf
    if m.group("hex"):
        digits = m.group("hex")
        if "p" not in digits.lower():
            digits += "p0"
        try:
            value = float.fromhex(digits)
        except OverflowError:
            value = math.inf
        return -value if negative else value
    return float(num)  # overflow gives inf, like HUGE_VAL


def is_number(v: Any) -> bool:
    """HTCondor's ``Value::IsNumber``: integer, real or boolean."""
    t = type(v)
    return t is int or t is float or t is bool


def to_int(v: Any) -> Any:
    """``convertValueToIntegerValue``: an int, or UNDEFINED/ERROR."""
    t = type(v)
    if t is int:
        return v
    if t is bool:
        return 1 if v else 0
    if t is float:
        return c_double_to_int64(v)
    if t is str:
        r = strtod_prefix(v)
        return ERROR if r is None else c_double_to_int64(r)
    if t is AbsTime:
        return v.secs
    if t is RelTime:
        return c_double_to_int64(float(v.secs))
    return UNDEFINED if v is UNDEFINED else ERROR


def to_real(v: Any) -> Any:
    """``convertValueToRealValue``: a float, or UNDEFINED/ERROR.

    A RelTime is read through a ``time_t`` first, so its fraction is lost
    (``real(relTime(2.5))`` is 2.0 in HTCondor too).
    """
    t = type(v)
    if t is float:
        return v
    if t is int:
        return float(v)
    if t is bool:
        return 1.0 if v else 0.0
    if t is str:
        r = strtod_prefix(v)
        return ERROR if r is None else r
    if t is AbsTime:
        return float(v.secs)
    if t is RelTime:
        return float(c_double_to_int64(float(v.secs)))
    return UNDEFINED if v is UNDEFINED else ERROR


def to_text(v: Any) -> Any:
    """``convertValueToStringValue``: a str, or UNDEFINED/ERROR.

    Times print without their ``absTime("...")`` wrapper; every other
    value prints as its new-syntax unparse (``string(1.5)`` is
    ``"1.500000000000000E+00"``).
    """
    t = type(v)
    if t is str:
        return v
    if v is UNDEFINED or v is ERROR:
        return v
    if t is AbsTime:
        return format_abstime(v)
    if t is RelTime:
        # read through a time_t, so the fraction is dropped (HTCondor's too)
        return format_reltime(c_double_to_int64(float(v.secs)))
    return unparse_value(v)


def unparse_value(v: Any) -> str:
    """The one-line new-syntax text of a value, as HTCondor's unparser
    prints it (lists and records through the evaluator's value_node, so a
    record's own expressions print unevaluated)."""
    if type(v) is tuple or isinstance(v, Record):
        from classad._eval import value_node

        return unparse(value_node(v))
    return format_value(v)
