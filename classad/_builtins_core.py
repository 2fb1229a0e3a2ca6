"""Built-ins: type tests, lists, conversions and arithmetic.

Each function states HTCondor 25's rule (src/classad/fnCall.cpp) including
where UNDEFINED is passed through and where it becomes ERROR, because users
write expressions that depend on exactly that.
"""

from __future__ import annotations

import logging
import math
import random as _random
from typing import Any

from classad._builtin_registry import builtin
from classad._builtin_support import (
    c_div,
    c_double_to_int64,
    c_int32,
    is_number,
    to_bytes,
    to_int,
    to_real,
    to_text,
)
from classad._ops import BINARY
from classad._values import ERROR, UNDEFINED, AbsTime, Record, RelTime, wrap_int

__all__: list[str] = []

log = logging.getLogger(__name__)


def _type_test(name: str, test: Any) -> None:
    builtin(name, min_args=1, max_args=1)(test)


_type_test("isUndefined", lambda v: v is UNDEFINED)
_type_test("isError", lambda v: v is ERROR)
_type_test("isString", lambda v: type(v) is str)
_type_test("isInteger", lambda v: type(v) is int)
_type_test("isReal", lambda v: type(v) is float)
_type_test("isBoolean", lambda v: type(v) is bool)
_type_test("isList", lambda v: type(v) is tuple)
_type_test("isClassAd", lambda v: isinstance(v, Record))
_type_test("isAbsTime", lambda v: type(v) is AbsTime)
_type_test("isRelTime", lambda v: type(v) is RelTime)


def _member(x: Any, lst: Any, op: str) -> Any:
    identical = op == "is"
    if lst is UNDEFINED or (not identical and x is UNDEFINED):
        return UNDEFINED
    if type(lst) is not tuple or type(x) is tuple or isinstance(x, Record):
        return ERROR
    if not identical and x is ERROR:
        return ERROR
    for item in lst:
        if BINARY[op](item, x) is True:
            return True
    return False


@builtin("member", min_args=2, max_args=2)
def member(x: Any, lst: Any) -> Any:
    """``member(x, list)``: is some element ``== x``?  UNDEFINED when x or
    the list is UNDEFINED; elements that compare as UNDEFINED/ERROR are
    skipped."""
    return _member(x, lst, "==")


@builtin("identicalMember", min_args=2, max_args=2)
def identical_member(x: Any, lst: Any) -> Any:
    """``identicalMember(x, list)``: is some element ``=?= x``?"""
    return _member(x, lst, "is")


_LIST_COMPARE_OPS = frozenset({"<", "<=", "==", "!=", ">", ">=", "is", "isnt"})


def _list_compare(op: Any, lst: Any, x: Any, need_all: bool) -> Any:
    if op is UNDEFINED:
        return UNDEFINED
    if type(op) is not str or op not in _LIST_COMPARE_OPS:
        return ERROR
    if lst is UNDEFINED:
        return UNDEFINED
    if type(lst) is not tuple:
        return ERROR
    for item in lst:
        r = BINARY[op](item, x)
        if r is UNDEFINED:
            # HTCondor stops at the first UNDEFINED comparison: allCompare
            # is then false and anyCompare keeps its false.
            return False
        if r is ERROR:
            return ERROR
        if r and not need_all:
            return True
        if not r and need_all:
            return False
    return need_all


@builtin("anyCompare", min_args=3, max_args=3)
def any_compare(op: Any, lst: Any, x: Any) -> Any:
    """``anyCompare(op, list, x)``: does ``item op x`` hold for some item?"""
    return _list_compare(op, lst, x, need_all=False)


@builtin("allCompare", min_args=3, max_args=3)
def all_compare(op: Any, lst: Any, x: Any) -> Any:
    """``allCompare(op, list, x)``: does ``item op x`` hold for every item?"""
    return _list_compare(op, lst, x, need_all=True)


@builtin("size", min_args=1, max_args=1)
def size(v: Any) -> Any:
    """Length of a list, number of attributes of an ad, or byte length of
    a string (``size("é")`` is 2)."""
    if v is UNDEFINED:
        return UNDEFINED
    if type(v) is tuple:
        return len(v)
    if isinstance(v, Record):
        return len(v)
    if type(v) is str:
        return len(to_bytes(v))
    return ERROR


def _numbers(lst: Any) -> Any:
    """The defined elements of *lst* if all are numbers, else ERROR or
    UNDEFINED (for an UNDEFINED list)."""
    if lst is UNDEFINED:
        return UNDEFINED
    if type(lst) is not tuple:
        return ERROR
    out = []
    for item in lst:
        if item is UNDEFINED:
            continue
        if not is_number(item):
            return ERROR
        out.append(item)
    return out


def _sum(items: list[Any]) -> Any:
    total: Any = 0  # sum({}) is the integer 0
    for i, item in enumerate(items):
        total = item if i == 0 else BINARY["+"](total, item)
        if total is ERROR:
            return ERROR
    return total


@builtin("sum", min_args=1, max_args=1)
def sum_(lst: Any) -> Any:
    """Sum of the defined elements; ``sum({})`` is 0 and a lone boolean
    stays a boolean (``sum({true})`` is true), as in HTCondor."""
    items = _numbers(lst)
    if type(items) is not list:
        return items
    return _sum(items)


@builtin("avg", min_args=1, max_args=1)
def avg(lst: Any) -> Any:
    """Mean of the defined elements, always real, except ``avg({})`` which
    is the integer 0 like HTCondor's."""
    items = _numbers(lst)
    if type(items) is not list:
        return items
    total = _sum(items)
    if total is ERROR or not items:
        return total
    return BINARY["/"](total, float(len(items)))


def _bound(lst: Any, smaller: bool) -> Any:
    """min/max.  HTCondor compares with its operator, which promotes both
    operands in place (booleans to integers, an integer next to a real to
    real), so the bound takes the promoted type: ``min({1, 2.5})`` is 1.0."""
    items = _numbers(lst)
    if type(items) is not list:
        return items
    best: Any = UNDEFINED
    for item in items:
        if best is UNDEFINED:
            best = item
            continue
        a = int(item) if type(item) is bool else item
        b = int(best) if type(best) is bool else best
        if type(a) is float or type(b) is float:
            a, b = float(a), float(b)
        best = a if (a < b if smaller else a > b) else b
    return best


@builtin("min", min_args=1, max_args=1)
def min_(lst: Any) -> Any:
    """Smallest defined element; UNDEFINED if none."""
    return _bound(lst, smaller=True)


@builtin("max", min_args=1, max_args=1)
def max_(lst: Any) -> Any:
    """Largest defined element; UNDEFINED if none."""
    return _bound(lst, smaller=False)


@builtin("int", min_args=1, max_args=1)
def int_(v: Any) -> Any:
    """Integer conversion; strings go through ``strtod`` so ``int("12abc")``
    is 12 and ``int("0x10")`` is 16."""
    return to_int(v)


@builtin("real", min_args=1, max_args=1)
def real(v: Any) -> Any:
    """Real conversion (strings through ``strtod``)."""
    return to_real(v)


@builtin("string", min_args=1, max_args=1)
def string(v: Any) -> Any:
    """String conversion: strings as they are, times as their text,
    anything else as its new-syntax unparse."""
    return to_text(v)


@builtin("bool", min_args=1, max_args=1)
def bool_(v: Any) -> Any:
    """Boolean conversion: numbers by non-zero, strings only ``"true"`` and
    ``"false"`` (any case; anything else is UNDEFINED)."""
    t = type(v)
    if t is bool:
        return v
    if t is int or t is float:
        return v != 0
    if t is str:
        low = v.lower()
        if low == "true":
            return True
        if low == "false":
            return False
        return UNDEFINED
    if t is RelTime:
        return c_double_to_int64(float(v.secs)) != 0
    return UNDEFINED if v is UNDEFINED else ERROR


def _rounder(name: str, op: Any) -> None:
    def fn(v: Any) -> Any:
        if type(v) is int:
            return v
        r = to_real(v)
        if type(r) is not float:
            return ERROR  # even UNDEFINED: HTCondor's documented quirk
        if math.isnan(r) or math.isinf(r):
            return c_double_to_int64(r)
        return c_double_to_int64(float(op(r)))

    fn.__name__ = name
    fn.__doc__ = f"``{name}(x)``: an integer; other types via real conversion."
    builtin(name, min_args=1, max_args=1)(fn)


_rounder("floor", math.floor)
_rounder("ceiling", math.ceil)
_rounder("ceil", math.ceil)
_rounder("round", round)  # Python's round() is C rint(): half to even


@builtin("pow", min_args=2, max_args=2)
def pow_(base: Any, exp: Any) -> Any:
    """``pow(b, e)``: an integer for integer b and e >= 0, else real.

    Deviation: HTCondor computes the integer case through a double and adds
    0.5 (so ``pow(-2,3)`` is -7 and large results lose precision); here it
    is exact with int64 wrapping, the same as repeated ``*``.
    """
    if type(base) is int and type(exp) is int and exp >= 0:
        return wrap_int(pow(base, exp, 1 << 64))
    b = to_real(base)
    e = to_real(exp)
    if type(b) is not float or type(e) is not float:
        return ERROR
    return _c_pow(b, e)


def _c_pow(b: float, e: float) -> float:
    """C's ``pow``: Python's math.pow raises where C returns inf or NaN."""
    try:
        return math.pow(b, e)
    except (OverflowError, ValueError):
        pass
    integral = math.isfinite(e) and e == int(e)
    odd = integral and int(e) % 2 == 1
    if b == 0.0:  # 0 to a negative power: a pole
        return math.copysign(math.inf, b) if odd else math.inf
    if b < 0 and not integral:
        return math.nan
    return -math.inf if b < 0 and odd else math.inf


def _ceil(x: float) -> float:
    """``ceil`` on a double, keeping inf and NaN (math.ceil raises)."""
    if not math.isfinite(x):
        return x
    r = float(math.ceil(x))
    return math.copysign(r, x) if r == 0.0 else r  # ceil(-0.5) is -0.0


@builtin("quantize", min_args=2, max_args=2)
def quantize(a: Any, b: Any) -> Any:
    """Round *a* up to a multiple of *b*; with a list, the first element
    at least *a*, else multiples of the last element."""
    rval = to_real(a)
    if type(rval) is not float:
        return ERROR
    base: Any = b
    if type(b) is tuple:
        base = 0.0  # an empty list means "don't quantize"
        for item in b:
            base = item
            rb = to_real(item)
            if type(rb) is not float:
                return ERROR
            if rb >= rval:
                return item
        rbase = to_real(base)
    else:
        rbase = to_real(b)
        if type(rbase) is not float:
            return ERROR
    if type(base) is int:
        if base == 0:
            return a
        if type(a) is int:
            return wrap_int(c_div(wrap_int(a + base - 1), base) * base)
        return _ceil(rval / base) * float(base)
    if -1e-8 <= rbase <= 1e-8:
        return a
    return _ceil(rval / rbase) * rbase


_rng = _random.Random()


@builtin("random", min_args=0, max_args=1)
def random(limit: Any = 1.0) -> Any:
    """``random()`` is a real in [0,1); ``random(n)`` an integer in [0,n)
    for an integer n, a real in [0,n) for a real n.  A bound <= 0 is ERROR
    (HTCondor fails the whole evaluation there)."""
    if type(limit) is int:
        n = c_int32(limit)
        return _rng.randrange(n) if n > 0 else ERROR
    if type(limit) is float:
        return limit * _rng.random() if limit > 0 else ERROR
    return ERROR
