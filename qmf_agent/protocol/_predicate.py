"""QMFv2 query predicates and ClassAd constraints, compiled once per query.

A query's ``_where`` is either a QMFv2 predicate (a nested list) or a ClassAd
expression (a string).  Both compile to a plain ``match(values) -> bool``
closure before the first object is looked at, so that filtering 100,000
objects costs one call per object and no parsing; a malformed predicate is
refused up front with :class:`~qmf_agent.errors.ParameterInvalid`, never
half-way through the objects.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from qmf_agent.errors import FeatureNotImplemented, ParameterInvalid

__all__ = ["Matcher", "compile_predicate", "compile_where", "match_all"]

Matcher = Callable[[Mapping[str, Any]], bool]

_MISSING: Any = object()

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def match_all(values: Mapping[str, Any]) -> bool:
    """The matcher of an empty predicate: every object matches."""
    return True


def compile_where(where: Any, what: str = "_where") -> Matcher:
    """A matcher for a query's ``_where``: predicate list, ClassAd string or None."""
    if where is None:
        return match_all
    if isinstance(where, str):
        return _compile_classad(where, what)
    return compile_predicate(where, what)


def compile_predicate(predicate: Any, what: str = "predicate") -> Matcher:
    """Compile a QMFv2 predicate; ``None`` or ``[]`` match everything."""
    if predicate is None or (isinstance(predicate, (list, tuple)) and not predicate):
        return match_all
    return _compile(predicate, what)


def _compile(node: Any, what: str) -> Matcher:
    if not isinstance(node, (list, tuple)) or not node:
        raise ParameterInvalid(
            f"{what}: expected a non-empty list like ['eq', name, value], got {node!r}"
        )
    op = node[0]
    if not isinstance(op, str):
        raise ParameterInvalid(f"{what}: the operator must be a string, got {op!r}")
    name = op.lower()
    args = node[1:]
    if name in ("true", "false"):
        if args:
            raise ParameterInvalid(f"{what}: {op!r} takes no operands")
        return match_all if name == "true" else _match_none
    if name in ("and", "or", "not"):
        subs = [_compile(a, what) for a in args]
        if name == "and":
            return lambda v: all(s(v) for s in subs)
        if name == "or":
            return lambda v: any(s(v) for s in subs)
        return lambda v: not any(s(v) for s in subs)
    if name == "exists":
        if len(args) != 1 or not isinstance(args[0], str):
            raise ParameterInvalid(f"{what}: 'exists' takes one attribute name")
        attr = args[0]
        return lambda v: attr in v
    if name in _COMPARE or name == "re_match":
        if len(args) != 2:
            raise ParameterInvalid(f"{what}: {op!r} takes two operands, got {len(args)}")
        left = _operand(args[0], what)
        right = _operand(args[1], what)
        if name == "re_match":
            return _compile_re_match(left, right, what)
        return _comparison(_COMPARE[name], left, right)
    raise ParameterInvalid(
        f"{what}: unknown operator {op!r} (use and, or, not, eq, ne, lt, le, gt, ge, "
        f"re_match, exists, true, false)"
    )


def _match_none(values: Mapping[str, Any]) -> bool:
    return False


def _operand(arg: Any, what: str) -> tuple[bool, Any]:
    """(is_name, name_or_literal): a bare string names a value."""
    if isinstance(arg, str):
        return True, arg
    if isinstance(arg, (list, tuple)):
        if len(arg) == 2 and isinstance(arg[0], str) and arg[0].lower() == "quote":
            return False, arg[1]
        raise ParameterInvalid(f"{what}: an operand list must be ['quote', value], got {arg!r}")
    if isinstance(arg, (dict, Mapping)):
        raise ParameterInvalid(f"{what}: an operand cannot be a map")
    return False, arg


def _comparison(
    fn: Callable[[Any, Any], Any], left: tuple[bool, Any], right: tuple[bool, Any]
) -> Matcher:
    lname, lval = left
    rname, rval = right

    def safe(a: Any, b: Any) -> bool:
        try:
            return bool(fn(a, b))
        except TypeError:  # e.g. "abc" < 3: incomparable is not a match
            return False

    if lname and not rname:

        def name_lit(v: Mapping[str, Any]) -> bool:
            x = v.get(lval, _MISSING)
            return x is not _MISSING and safe(x, rval)

        return name_lit
    if lname and rname:

        def name_name(v: Mapping[str, Any]) -> bool:
            x = v.get(lval, _MISSING)
            y = v.get(rval, _MISSING)
            return x is not _MISSING and y is not _MISSING and safe(x, y)

        return name_name
    if rname:

        def lit_name(v: Mapping[str, Any]) -> bool:
            y = v.get(rval, _MISSING)
            return y is not _MISSING and safe(lval, y)

        return lit_name
    constant = safe(lval, rval)
    return match_all if constant else _match_none


def _compile_re_match(left: tuple[bool, Any], right: tuple[bool, Any], what: str) -> Matcher:
    lname, lval = left
    rname, rval = right
    if rname:
        raise ParameterInvalid(f"{what}: re_match needs a quoted pattern as its second operand")
    if not isinstance(rval, str):
        raise ParameterInvalid(f"{what}: re_match's pattern must be a string, got {rval!r}")
    try:
        pattern = re.compile(rval)
    except re.error as exc:
        raise ParameterInvalid(f"{what}: bad regular expression {rval!r}: {exc}") from None
    search = pattern.search
    if not lname:
        constant = isinstance(lval, str) and search(lval) is not None
        return match_all if constant else _match_none

    def matcher(v: Mapping[str, Any]) -> bool:
        x = v.get(lval)
        return isinstance(x, str) and search(x) is not None

    return matcher


def _compile_classad(text: str, what: str) -> Matcher:
    """A ClassAd constraint, evaluated with the object's values as MY.

    Only a result of exactly ``true`` matches: UNDEFINED, ERROR and
    non-booleans do not, as in HTCondor's ``condor_q -constraint``.
    """
    try:
        import classad
    except ImportError:  # pragma: no cover - the classad package ships with us
        raise FeatureNotImplemented("ClassAd constraints need the classad package") from None
    expr_tree = getattr(classad, "ExprTree", None)
    class_ad = getattr(classad, "ClassAd", None)
    if expr_tree is None or class_ad is None:
        raise FeatureNotImplemented("this build's classad package cannot evaluate constraints")
    try:
        expr = expr_tree(text)
    except (ValueError, TypeError) as exc:
        raise ParameterInvalid(f"{what}: not a valid ClassAd expression {text!r}: {exc}") from None

    refs = _plain_references(class_ad, expr, text)
    if refs is None:

        def matcher(values: Mapping[str, Any]) -> bool:
            try:
                return expr.eval(scope=class_ad(dict(values))) is True
            except (ValueError, TypeError):  # a value the ClassAd cannot hold: no match
                return False

        return matcher

    wanted: dict[str, bool] = {}  # attribute name -> referenced (names repeat across objects)

    def narrow_matcher(values: Mapping[str, Any]) -> bool:
        scope = {}
        for name, value in values.items():
            keep = wanted.get(name)
            if keep is None:
                keep = wanted[name] = name.lower() in refs
            if keep:
                scope[name] = value
        try:
            return expr.eval(scope=class_ad(scope)) is True
        except (ValueError, TypeError):
            return False

    return narrow_matcher


# a scoped reference (MY.x, TARGET.x, ...) or eval() can reach attributes
# that a plain reference list does not name
_OPAQUE = re.compile(
    r"\b(?:my|target|other|self|parent|root|toplevel|left|right)\s*\.|\beval\s*\(", re.I
)


def _plain_references(class_ad: Any, expr: Any, text: str) -> frozenset[str] | None:
    """Lower-cased names *expr* refers to, when that list is complete.

    Building a ClassAd from only those attributes, not all of an object's,
    is what keeps a constraint over 100,000 jobs affordable.  ``None``
    (use every attribute) when the expression could reach others.
    """
    if _OPAQUE.search(text):
        return None
    try:
        names = class_ad().external_refs(expr)
    except (AttributeError, TypeError, ValueError):
        return None
    if any(not isinstance(n, str) or "." in n for n in names):
        return None
    return frozenset(n.lower() for n in names)
