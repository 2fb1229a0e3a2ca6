"""Function calls: the built-in registry, and the functions that need the
evaluation context or unevaluated arguments.

``eval``, ``unparse``, ``unresolved``, ``ifThenElse``, ``evalInEachContext``,
``countMatches`` and ``debug`` live here rather than in
:mod:`classad._builtins` because they look at expressions, scopes or
laziness; every other function comes from the registry, called with
evaluated arguments (wrong arity or an unknown name is ERROR).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from ._ast import AttrRef, Node
from ._ops import truth
from ._scope import _SCOPE_WORDS, AdBase, Runner, record_from_dict
from ._values import ERROR, UNDEFINED, AbsTime, RelTime, Value

__all__ = ["SPECIAL_FUNCTIONS", "call_builtin", "iter_refs"]

_log = logging.getLogger(__name__)


def _builtins() -> dict[str, Any]:
    from ._builtins import BUILTINS  # late: the registry imports nothing of ours

    return BUILTINS


def _builtin_result(r: Any) -> Any:
    t = r.__class__
    if t is dict:
        return record_from_dict(r)
    if t is list:
        return tuple(r)
    return r


def call_builtin(lname: str, values: list[Any]) -> Any:
    """Call the registered built-in *lname* on evaluated *values*."""
    b = _builtins().get(lname)
    if b is None or len(values) < b.min_args or (
            b.max_args is not None and len(values) > b.max_args):
        return ERROR
    try:
        return _builtin_result(b.fn(*values))
    except Exception:  # a built-in must never take the evaluator down
        _log.warning("built-in %s failed on %r", lname, values, exc_info=True)
        return ERROR


def _special_if(args: tuple[Node, ...], scope: Any, target: Any, busy: set, run: Runner) -> Any:
    if len(args) != 3:
        return ERROR
    c = truth(run(args[0], scope, target, busy))
    if c.__class__ is Value:
        return c
    return run(args[1] if c else args[2], scope, target, busy)


def _special_eval(args: tuple[Node, ...], scope: Any, target: Any, busy: set, run: Runner) -> Any:
    if len(args) != 1:
        return ERROR
    v = run(args[0], scope, target, busy)
    if v.__class__ is not str:
        # Non-strings pass through, except the ones HTCondor refuses.
        if v.__class__ is Value or v.__class__ is AbsTime or v.__class__ is RelTime:
            return ERROR
        return v
    from ._errors import ClassAdSyntaxError
    from ._parser import parse_expression

    try:
        node = parse_expression(v)
    except ClassAdSyntaxError:
        return ERROR
    if scope is None:
        return run(node, scope, target, busy)
    key = (id(scope), "\0eval:" + v)
    if key in busy:
        return UNDEFINED
    busy.add(key)
    try:
        return run(node, scope, target, busy)
    finally:
        busy.discard(key)


def _ref_node(arg: Node, scope: Any, target: Any) -> Node | None:
    """The definition an attribute-reference argument names (unparse and
    unresolved look at expressions, not values)."""
    if arg.__class__ is not AttrRef or scope is None:
        return None
    ref: AttrRef = arg
    if ref.base is not None or ref.absolute:
        return None  # HTCondor only looks up plain names here
    lname = ref.name.lower()
    a: AdBase | None = scope
    while a is not None:
        n = a._find(lname)
        if n is not None:
            return n
        a = a._lexparent
    return None


def _special_unparse(args: tuple[Node, ...], scope: Any, target: Any, busy: set,
                     run: Runner) -> Any:
    if len(args) != 1 or args[0].__class__ is not AttrRef:
        return ERROR
    from ._unparse import unparse_pretty

    node = _ref_node(args[0], scope, target)
    return "" if node is None else unparse_pretty(node)


def _special_unresolved(args: tuple[Node, ...], scope: Any, target: Any, busy: set,
                        run: Runner) -> Any:
    """The names *attr*'s expression uses that the ad does not define (a
    comma-separated string), or with a regex: whether any of them matches."""
    if not 1 <= len(args) <= 2 or args[0].__class__ is not AttrRef:
        return ERROR
    node = _ref_node(args[0], scope, target)
    if node is None:
        return UNDEFINED
    names = sorted({r.name for r in iter_refs(node) if r.base is None and not r.absolute
                    and r.name.lower() not in _SCOPE_WORDS
                    and _ref_node(r, scope, None) is None})
    if len(args) == 1:
        return ",".join(names)
    pattern = run(args[1], scope, target, busy)
    if pattern.__class__ is not str:
        return ERROR
    import re

    try:
        rx = re.compile(pattern)
    except re.error:
        return ERROR
    return any(rx.search(n) for n in names)


def _each_context(args: tuple[Node, ...], scope: Any, target: Any, busy: set,
                  run: Runner) -> Any:
    if len(args) != 2:
        return ERROR
    ads = run(args[1], scope, target, busy)
    if ads.__class__ is not tuple:
        return UNDEFINED if ads is UNDEFINED else ERROR
    out = []
    for ad in ads:
        if not isinstance(ad, AdBase):
            out.append(ERROR)
            continue
        out.append(run(args[0], ad, target, busy))
    return tuple(out)


def _special_count(args: tuple[Node, ...], scope: Any, target: Any, busy: set,
                   run: Runner) -> Any:
    results = _each_context(args, scope, target, busy, run)
    if results is UNDEFINED:
        return 0  # no ads, no matches
    if results.__class__ is not tuple:
        return results
    return sum(1 for r in results if r is True or (r.__class__ in (int, float) and r != 0))


def _special_debug(args: tuple[Node, ...], scope: Any, target: Any, busy: set,
                   run: Runner) -> Any:
    if len(args) != 1:
        return ERROR
    v = run(args[0], scope, target, busy)
    if _log.isEnabledFor(logging.DEBUG):
        from ._unparse import unparse

        _log.debug("debug(%s) = %r", unparse(args[0]), v)
    return v


#: Functions that need their arguments unevaluated or the evaluation context.
SPECIAL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ifthenelse": _special_if,
    "eval": _special_eval,
    "unparse": _special_unparse,
    "unresolved": _special_unresolved,
    "evalineachcontext": _each_context,
    "countmatches": _special_count,
    "debug": _special_debug,
}


def iter_refs(node: Node) -> Iterator[AttrRef]:
    """Every attribute reference in *node*, outermost first."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.__class__ is AttrRef:
            yield n
        stack.extend(reversed(n.children()))
