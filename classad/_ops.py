"""ClassAd operator semantics on values (HTCondor 25's operators.cpp).

Both evaluators (the compiled one and the tree-walking reference one in
:mod:`classad._eval`) call these functions, so an operator's meaning lives in
exactly one place.  Values are in the representation of
:mod:`classad._values`; a function never raises, a bad operand gives ERROR.

The strict operators check ERROR before UNDEFINED (``undefined + error`` is
error).  ``&&``, ``||``, ``?:`` and ``c ? a : b`` are not here: they need
their operands unevaluated, so the evaluators implement them with
:func:`truth`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._values import (
    ERROR,
    INT64_MAX,
    INT64_MIN,
    UNDEFINED,
    AbsTime,
    Record,
    RelTime,
    Value,
    wrap_int,
)

__all__ = [
    "BINARY",
    "UNARY",
    "truth",
    "identical",
    "casefold_ascii",
]

_MASK64 = (1 << 64) - 1
_INF = math.inf
_NUMERIC = (int, float, bool)


def casefold_ascii(s: str) -> str:
    """Lower-case ASCII letters only: HTCondor's strcasecmp works on bytes."""
    if s.isascii():
        return s.lower()
    return "".join(c.lower() if c.isascii() else c for c in s)


def _special(a: Any, b: Any) -> Any:
    """ERROR if either operand is ERROR, else UNDEFINED if either is, else None."""
    if a is ERROR or b is ERROR:
        return ERROR
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    return None


def _real(v: float) -> Any:
    # HTCondor turns a result of +HUGE_VAL into error (but not -inf or NaN).
    return ERROR if v == _INF else v


def _arith(int_op: Callable[[int, int], Any], real_op: Callable[[float, float], Any],
           time_op: Callable[[Any, Any], Any] | None) -> Callable[[Any, Any], Any]:
    def op(a: Any, b: Any) -> Any:
        ta = type(a)
        tb = type(b)
        if ta is int and tb is int:
            return int_op(a, b)
        if ta is Value or tb is Value:
            return _special(a, b)
        if ta in _NUMERIC and tb in _NUMERIC:
            if ta is float or tb is float:
                return real_op(float(a), float(b))
            return int_op(int(a), int(b))  # booleans count as 0 and 1
        if time_op is not None:
            return time_op(a, b)
        return ERROR

    return op


def _add_time(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is AbsTime and tb is RelTime:
        return AbsTime(int(a.secs + b.secs), a.offset)
    if ta is RelTime and tb is AbsTime:
        return AbsTime(int(a.secs + b.secs), b.offset)
    if ta is RelTime and tb is RelTime:
        return RelTime(a.secs + b.secs)
    return ERROR


def _sub_time(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is AbsTime and tb is RelTime:
        return AbsTime(int(a.secs - b.secs), a.offset)
    if ta is AbsTime and tb is AbsTime:
        return RelTime(a.secs - b.secs)
    if ta is RelTime and tb is RelTime:
        return RelTime(a.secs - b.secs)
    return ERROR


# Time scaling is plain C double arithmetic in HTCondor: no overflow check
# (inf and NaN durations result), and a boolean factor is an error.
_SCALARS = (int, float)


def _mul_time(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is RelTime and tb in _SCALARS:
        return RelTime(a.secs * b)
    if tb is RelTime and ta in _SCALARS:
        return RelTime(a * b.secs)
    return ERROR


def _div_time(a: Any, b: Any) -> Any:
    if type(a) is RelTime and type(b) in _SCALARS:
        if b == 0:
            secs = a.secs
            if secs == 0 or secs != secs:
                return RelTime(math.nan)
            negative = (secs < 0) != (math.copysign(1.0, b) < 0)
            return RelTime(-_INF if negative else _INF)
        return RelTime(a.secs / b)
    return ERROR


def _int_div(a: int, b: int) -> Any:
    if b == 0:
        return ERROR
    if a == INT64_MIN and b == -1:
        return INT64_MAX
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _int_mod(a: int, b: int) -> Any:
    if b == 0:
        return ERROR
    if b == -1:
        return 0
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _real_div(a: float, b: float) -> Any:
    if b == 0.0:
        if a == 0.0 or a != a:
            return math.nan
        neg = (a < 0) != (math.copysign(1.0, b) < 0)
        return -_INF if neg else ERROR
    return _real(a / b)


def _real_mul(a: float, b: float) -> Any:
    return _real(a * b)


def _real_add(a: float, b: float) -> Any:
    return _real(a + b)


def _real_sub(a: float, b: float) -> Any:
    return _real(a - b)


def _no_real(a: float, b: float) -> Any:
    return ERROR


def _int_only(fn: Callable[[int, int], Any]) -> Callable[[Any, Any], Any]:
    def op(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            return fn(a, b)
        special = _special(a, b)
        return ERROR if special is None else special

    return op


def _shl(a: int, b: int) -> Any:
    # Counts outside 0..63 are undefined behaviour in C; we define them.
    if b < 0:
        return ERROR
    return 0 if b >= 64 else wrap_int(a << b)


def _shr(a: int, b: int) -> Any:
    if b < 0:
        return ERROR
    return a >> min(b, 63)


def _ushr(a: int, b: int) -> Any:
    if b < 0:
        return ERROR
    return 0 if b >= 64 else wrap_int((a & _MASK64) >> b)


# --- comparison -------------------------------------------------------------


def _compare(int_cmp: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def op(a: Any, b: Any) -> Any:
        ta = type(a)
        tb = type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return int_cmp(a, b)
        if ta is str and tb is str:
            return int_cmp(casefold_ascii(a), casefold_ascii(b))
        if ta is Value or tb is Value:
            return _special(a, b)
        if ta is bool or tb is bool:
            if ta in _NUMERIC and tb in _NUMERIC:
                return int_cmp(a + 0, b + 0)
            return ERROR
        if ta is AbsTime and tb is AbsTime:
            return int_cmp(a.secs, b.secs)
        if ta is RelTime and tb is RelTime:
            return int_cmp(a.secs, b.secs)
        return ERROR

    return op


def identical(a: Any, b: Any) -> Any:
    """``a =?= b``: same type and same value; never UNDEFINED.  Lists and
    records make it ERROR when both sides are of that kind."""
    ta = type(a)
    tb = type(b)
    if ta is not tb:
        if isinstance(a, Record) and isinstance(b, Record):
            return ERROR
        return False
    if ta is tuple or isinstance(a, Record):
        return ERROR
    if ta is float:
        return a == b  # NaN is not identical to itself
    if ta is AbsTime:
        return a.secs == b.secs and a.offset == b.offset
    return a == b


def _not_identical(a: Any, b: Any) -> Any:
    r = identical(a, b)
    return r if r is ERROR else not r


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _arith(lambda a, b: wrap_int(a + b), _real_add, _add_time),
    "-": _arith(lambda a, b: wrap_int(a - b), _real_sub, _sub_time),
    "*": _arith(lambda a, b: wrap_int(a * b), _real_mul, _mul_time),
    "/": _arith(_int_div, _real_div, _div_time),
    "%": _arith(_int_mod, _no_real, None),
    "<<": _int_only(_shl),
    ">>": _int_only(_shr),
    ">>>": _int_only(_ushr),
    "&": _int_only(lambda a, b: a & b),
    "|": _int_only(lambda a, b: a | b),
    "^": _int_only(lambda a, b: a ^ b),
    "<": _compare(lambda a, b: a < b),
    "<=": _compare(lambda a, b: a <= b),
    ">": _compare(lambda a, b: a > b),
    ">=": _compare(lambda a, b: a >= b),
    "==": _compare(lambda a, b: a == b),
    "!=": _compare(lambda a, b: a != b),
    "is": identical,
    "isnt": _not_identical,
}


def truth(v: Any) -> Any:
    """A value as a logical operand: True, False, UNDEFINED or ERROR.
    Numbers count (zero is false); strings, lists, records and times are
    ERROR."""
    t = type(v)
    if t is bool:
        return v
    if t is int or t is float:
        return v != 0
    if v is UNDEFINED:
        return UNDEFINED
    return ERROR


def _neg(v: Any) -> Any:
    t = type(v)
    if t is int:
        return wrap_int(-v)
    if t is float:
        return -v
    if t is RelTime:
        return RelTime(-v.secs)
    if t is Value:
        return v
    return ERROR


def _pos(v: Any) -> Any:
    t = type(v)
    if t is int or t is float or t is RelTime or t is Value:
        return v
    return ERROR


def _not(v: Any) -> Any:
    r = truth(v)
    return r if type(r) is Value else not r


def _invert(v: Any) -> Any:
    t = type(v)
    if t is int:
        return ~v
    if t is Value:
        return v
    return ERROR


UNARY: dict[str, Callable[[Any], Any]] = {"-": _neg, "+": _pos, "!": _not, "~": _invert}
