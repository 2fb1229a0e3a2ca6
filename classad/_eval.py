"""Evaluating ClassAd expressions: a compiler to closures and a reference walker.

:func:`compile_node` turns an AST into one Python closure per node, with
constant sub-expressions folded and the common shapes of a Requirements
expression (``TARGET.attr == "const"``, ``x >= y``, ``a && b``) given
specialised closures.  The closure is cached on the node (``Node._fn``), so
a parsed expression is compiled once, however many ads evaluate it.

:func:`evaluate_reference` is a plain recursive tree walk over the same
operator functions (:mod:`classad._ops`) and the same scoping rules.  It
exists so the conformance tables can check the compiler against something
simple (both run every table in tests/classad/test_core_*.py).

Every closure has the signature ``f(scope, target, busy)``:

``scope``   the ad the expression lives in (an :class:`AdBase`);
``target``  the other ad of a match (``TARGET``), or None;
``busy``    the set of ``(id(ad), name)`` attributes being evaluated, so a
            circular reference yields UNDEFINED (HTCondor 25's behaviour).

Evaluation never raises for a language-level problem; those are values
(UNDEFINED, ERROR).
"""

from __future__ import annotations

import logging
import operator
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ._ast import (
    AttrRef,
    BinaryOp,
    Conditional,
    Elvis,
    FunctionCall,
    ListExpr,
    Literal,
    Node,
    Paren,
    RecordExpr,
    Subscript,
    UnaryOp,
)
from ._mode import _state as _mode_state
from ._ops import BINARY, UNARY, casefold_ascii, truth
from ._values import ERROR, UNDEFINED, AbsTime, Record, RelTime, Value

__all__ = [
    "AdBase",
    "compile_node",
    "evaluate",
    "evaluate_reference",
    "attribute_value",
    "make_record",
    "value_node",
    "iter_refs",
    "SPECIAL_FUNCTIONS",
    "Fn",
]

_log = logging.getLogger(__name__)

#: A compiled expression: ``fn(scope, target, busy) -> value``.
Fn = Callable[[Any, Any, set], Any]

_TARGET_NAMES = frozenset({"target", "other"})

#: Attribute references followed inside one another before giving ERROR;
#: each costs several Python frames, and the stack is finite.
MAX_REFERENCE_DEPTH = 100

#: lower-case attribute name -> the first spelling this process has seen.
SPELLINGS: dict[str, str] = {}
_intern = sys.intern


class AdBase(Record):
    """Attribute storage and scoping: what the evaluator needs of an ad.

    ``_exprs`` maps lower-case names (interned, so a thousand job ads share
    one copy of each key) to nodes.  Spellings live in the process-wide
    :data:`SPELLINGS` table (the first spelling seen of each name); an ad
    whose own first spelling differs keeps it in ``_names``, which is None
    for almost every ad - this halves the memory of a job ad.  ``_chain``
    is a chained parent ad (storage fall-through: a proc ad over its cluster
    ad); ``_lexparent`` the enclosing ad of a nested record (what
    ``parent.x`` and unscoped names climb to).  The public
    :class:`classad.ClassAd` adds the Python API.
    """

    __slots__ = ("_exprs", "_names", "_chain", "_lexparent", "_detached", "__weakref__")

    def __init__(self) -> None:
        self._exprs: dict[str, Node] = {}
        self._names: dict[str, str] | None = None
        self._chain: AdBase | None = None
        self._lexparent: AdBase | None = None
        # HTCondor quirk: a record taken out of a record by subscript
        # (``ad["b"]``) answers UNDEFINED to ``.attr`` (but not to ``["attr"]``).
        self._detached = False

    def _set_node(self, name: str, node: Node) -> None:
        """Store *node* under *name*; a later spelling never replaces the first."""
        low = name.lower()
        exprs = self._exprs
        if low not in exprs:
            low = _intern(low)
            if SPELLINGS.setdefault(low, name) != name:
                if self._names is None:
                    self._names = {}
                self._names[low] = name
        exprs[low] = node

    def _drop(self, low: str) -> None:
        del self._exprs[low]
        if self._names is not None:
            self._names.pop(low, None)

    def _spelling(self, low: str) -> str:
        names = self._names
        if names is not None:
            name = names.get(low)
            if name is not None:
                return name
        return SPELLINGS[low]

    # -- what built-in functions use (classad._values.Record) ---------------

    def __len__(self) -> int:
        return len(self._all_names())

    def attribute_names(self) -> list[str]:
        return list(self._all_names().values())

    def evaluate_attribute(self, name: str) -> Any:
        node = self._find(name.lower())
        if node is None:
            return UNDEFINED
        return evaluate(node, self, None, {(id(self), name.lower())})

    def _all_names(self) -> dict[str, str]:
        """lower-case name -> spelling over this ad and its chain."""
        merged = {} if self._chain is None else self._chain._all_names()
        for low in self._exprs:
            merged[low] = self._spelling(low)
        return merged

    def _find(self, lname: str) -> Node | None:
        """The node for *lname* here or in the chained parents."""
        a: AdBase | None = self
        while a is not None:
            n = a._exprs.get(lname)
            if n is not None:
                return n
            a = a._chain
        return None


# --- attribute resolution (shared by both evaluators) -----------------------

Runner = Callable[[Node, Any, Any, set], Any]


def _run_compiled(node: Node, scope: Any, target: Any, busy: set) -> Any:
    try:
        fn = node._fn
    except AttributeError:
        fn = compile_node(node)
    return fn(scope, target, busy)


def _root(ad: AdBase) -> AdBase:
    while ad._lexparent is not None:
        ad = ad._lexparent
    return ad


def _eval_found(ad: AdBase, lname: str, node: Node, target: Any, busy: set, run: Runner) -> Any:
    """Evaluate *node*, the definition of *lname* in *ad*, in *ad*'s scope."""
    if node.__class__ is Literal:
        return node.value
    key = (id(ad), lname)
    if key in busy:
        return UNDEFINED  # circular reference
    if len(busy) > MAX_REFERENCE_DEPTH:
        return ERROR  # a chain of references too long to follow
    busy.add(key)
    try:
        return run(node, ad, target, busy)
    finally:
        busy.discard(key)


def attribute_value(ad: AdBase, lname: str, target: Any, busy: set, run: Runner) -> Any:
    """*lname* looked up in *ad* itself (and its chain), no fallback."""
    node = ad._find(lname)
    if node is None:
        return UNDEFINED
    return _eval_found(ad, lname, node, target, busy, run)


def _in_target(tgt: AdBase, lname: str, scope: AdBase, busy: set, run: Runner) -> Any:
    """*lname* in the target ad; there, TARGET means our own (root) ad."""
    node = tgt._find(lname)
    if node is None:
        return UNDEFINED
    return _eval_found(tgt, lname, node, _root(scope), busy, run)


def _keyword_scope(word: str, scope: AdBase, target: Any) -> Any:
    """The ad a scope keyword names, or UNDEFINED."""
    if word in _TARGET_NAMES:
        return UNDEFINED if target is None else target
    if word == "self":
        return scope
    if word == "my":
        if target is None and _mode_state["strict"]:
            return UNDEFINED
        return scope
    if word == "right":  # a match's two ads: ours is left, the target right
        return UNDEFINED if target is None else target
    if word == "left":
        return UNDEFINED if target is None else _root(scope)
    if word == "parent":
        return UNDEFINED if scope._lexparent is None else scope._lexparent
    # root, toplevel: in a match, the root is HTCondor's MatchClassAd wrapper,
    # which holds no attributes of ours.
    return UNDEFINED if target is not None else _root(scope)


def resolve_name(lname: str, scope: AdBase, target: Any, busy: set, run: Runner) -> Any:
    """An unscoped name: this ad, enclosing ads, scope keywords, then (compat
    mode) the target ad and ``CurrentTime``."""
    a: AdBase | None = scope
    while a is not None:
        node = a._exprs.get(lname)
        if node is None and a._chain is not None:
            node = a._chain._find(lname)
        if node is not None:
            return _eval_found(a, lname, node, target, busy, run)
        a = a._lexparent
    if lname in _SCOPE_WORDS:
        return _keyword_scope(lname, scope, target)
    if not _mode_state["strict"]:
        if target is not None:
            node = target._find(lname)
            if node is not None:
                return _eval_found(target, lname, node, _root(scope), busy, run)
        if lname == "currenttime":
            return int(time.time())
    return UNDEFINED


_SCOPE_WORDS = frozenset(
    {"my", "target", "other", "left", "right", "parent", "root", "toplevel", "self"}
)


def _select(base: Any, lname: str, target: Any, busy: set, run: Runner) -> Any:
    """``base.name`` on an evaluated base."""
    if isinstance(base, AdBase):
        if base._detached:
            return UNDEFINED
        return attribute_value(base, lname, target, busy, run)
    if base is UNDEFINED:
        return UNDEFINED
    if base.__class__ is tuple:
        # A list maps the selection over its elements.
        return tuple(
            (UNDEFINED if e._detached else attribute_value(e, lname, target, busy, run))
            if isinstance(e, AdBase) else (UNDEFINED if e is UNDEFINED else ERROR)
            for e in base
        )
    return ERROR


def _subscript(base: Any, index: Any, target: Any, busy: set, run: Runner) -> Any:
    tb = base.__class__
    ti = index.__class__
    if tb is tuple:
        if ti is int:
            if 0 <= index < len(base):
                return base[index]
            return ERROR
        if index is UNDEFINED:
            return UNDEFINED
        return ERROR
    if isinstance(base, AdBase):
        if ti is str:
            value = attribute_value(base, index.lower(), target, busy, run)
            if isinstance(value, AdBase):
                value = _detached_copy(value)
            return value
        if index is UNDEFINED:
            return UNDEFINED
        return ERROR
    if tb is Value:
        if base is ERROR or index is ERROR:
            return ERROR
        return UNDEFINED
    if index is ERROR:
        return ERROR
    return ERROR


def _detached_copy(ad: AdBase) -> AdBase:
    """A copy of *ad* marked as HTCondor's subscript results are (see
    ``AdBase._detached``); a copy, because the original may be shared."""
    copy = _record_class()()
    copy._exprs = dict(ad._exprs)
    copy._names = None if ad._names is None else dict(ad._names)
    copy._chain = ad._chain
    copy._lexparent = ad._lexparent
    copy._detached = True
    return copy


def _record_class() -> type[AdBase]:
    from ._classad import ClassAd  # late: _classad imports this module

    return ClassAd


def make_record(node: RecordExpr, scope: AdBase | None) -> AdBase:
    """A record literal evaluated: a new ad whose lexical parent is *scope*."""
    ad = _record_class()()
    for name, value in node.attrs:
        ad._set_node(name, value)
    ad._lexparent = scope
    return ad


def record_from_dict(values: dict[str, Any]) -> AdBase:
    """A record returned by a built-in function (name -> internal value)."""
    ad = _record_class()()
    for name, value in values.items():
        ad._set_node(name, value_node(value))
    return ad


def value_node(value: Any) -> Node:
    """An AST node whose value is *value* (internal representation)."""
    if value.__class__ is tuple:
        return ListExpr([value_node(v) for v in value])
    if isinstance(value, AdBase):
        return RecordExpr([(value._spelling(k), n) for k, n in value._exprs.items()])
    return Literal(value)


# --- functions ---------------------------------------------------------------


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
    if ads is UNDEFINED:
        return UNDEFINED
    if ads.__class__ is not tuple:
        return ERROR
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


# --- the reference evaluator -------------------------------------------------


def evaluate_reference(node: Node, scope: Any, target: Any, busy: set) -> Any:
    """Evaluate *node* by walking the tree (slow, simple; for conformance)."""
    t = node.__class__
    run = evaluate_reference
    if t is Literal:
        return node.value  # type: ignore[attr-defined]
    if t is AttrRef:
        ref: AttrRef = node  # type: ignore[assignment]
        lname = ref.name.lower()
        where = ref.scope
        if isinstance(where, Node):
            return _select(run(where, scope, target, busy), lname, target, busy, run)
        if scope is None:
            if where in _TARGET_NAMES and target is not None:
                return attribute_value(target, lname, None, busy, run)
            return UNDEFINED
        if ref.absolute:
            if target is not None:  # see _keyword_scope
                return UNDEFINED
            return attribute_value(_root(scope), lname, target, busy, run)
        if where is None:
            return resolve_name(lname, scope, target, busy, run)
        if isinstance(where, str):
            ad = _keyword_scope(where, scope, target)
            if ad is UNDEFINED:
                return UNDEFINED
            if ad is target:
                return _in_target(target, lname, scope, busy, run)
            return attribute_value(ad, lname, target, busy, run)
    if t is BinaryOp:
        b: BinaryOp = node  # type: ignore[assignment]
        if b.op == "&&" or b.op == "||":
            return _logic(b.op, run(b.left, scope, target, busy),
                          lambda: run(b.right, scope, target, busy))
        return BINARY[b.op](run(b.left, scope, target, busy), run(b.right, scope, target, busy))
    if t is UnaryOp:
        return UNARY[node.op](run(node.operand, scope, target, busy))  # type: ignore[attr-defined]
    if t is Paren:
        return run(node.expr, scope, target, busy)  # type: ignore[attr-defined]
    if t is Conditional:
        c: Conditional = node  # type: ignore[assignment]
        cv = truth(run(c.cond, scope, target, busy))
        if cv.__class__ is Value:
            return cv
        return run(c.then if cv else c.else_, scope, target, busy)
    if t is Elvis:
        left = run(node.left, scope, target, busy)  # type: ignore[attr-defined]
        return run(node.right, scope, target, busy) if left is UNDEFINED else left  # type: ignore[attr-defined]
    if t is Subscript:
        s: Subscript = node  # type: ignore[assignment]
        return _subscript(run(s.base, scope, target, busy), run(s.index, scope, target, busy),
                          target, busy, run)
    if t is FunctionCall:
        f: FunctionCall = node  # type: ignore[assignment]
        lname = f.name.lower()
        special = SPECIAL_FUNCTIONS.get(lname)
        if special is not None:
            return special(f.args, scope, target, busy, run)
        return call_builtin(lname, [run(a, scope, target, busy) for a in f.args])
    if t is ListExpr:
        return tuple(run(i, scope, target, busy) for i in node.items)  # type: ignore[attr-defined]
    if t is RecordExpr:
        return make_record(node, scope)  # type: ignore[arg-type]
    raise TypeError(f"not a ClassAd AST node: {node!r}")


def _logic(op: str, left: Any, right: Callable[[], Any]) -> Any:
    """``&&``/``||`` given the left value and a thunk for the right one."""
    lt = truth(left)
    if lt is ERROR:
        return ERROR
    if op == "&&":
        if lt is False:
            return False
        rt = truth(right())
        if rt is ERROR:
            return ERROR
        if lt is True:
            return rt
        return False if rt is False else UNDEFINED
    if lt is True:
        return True
    rt = truth(right())
    if rt is ERROR:
        return ERROR
    if lt is False:
        return rt
    return True if rt is True else UNDEFINED


# --- the compiler --------------------------------------------------------------

_NO_CONST = object()


def _const_fn(value: Any) -> Fn:
    def const(s: Any, t: Any, k: set) -> Any:
        return value

    const.const = value  # type: ignore[attr-defined]
    return const


def _const_of(fn: Fn) -> Any:
    return getattr(fn, "const", _NO_CONST)


def compile_node(node: Node) -> Fn:
    """The closure for *node* (cached on the node)."""
    try:
        return node._fn
    except AttributeError:
        pass
    fn = _compile(node)
    node._fn = fn
    return fn


def _compile(node: Node) -> Fn:
    t = node.__class__
    if t is Literal:
        return _const_fn(node.value)  # type: ignore[attr-defined]
    if t is AttrRef:
        return _compile_ref(node)  # type: ignore[arg-type]
    if t is Paren:
        return compile_node(node.expr)  # type: ignore[attr-defined]
    if t is BinaryOp:
        return _compile_binary(node)  # type: ignore[arg-type]
    if t is UnaryOp:
        return _compile_unary(node)  # type: ignore[arg-type]
    if t is Conditional:
        return _compile_conditional(node)  # type: ignore[arg-type]
    if t is Elvis:
        return _compile_elvis(node)  # type: ignore[arg-type]
    if t is Subscript:
        bf = compile_node(node.base)  # type: ignore[attr-defined]
        xf = compile_node(node.index)  # type: ignore[attr-defined]

        def subscript(s: Any, tg: Any, k: set) -> Any:
            return _subscript(bf(s, tg, k), xf(s, tg, k), tg, k, _run_compiled)

        return subscript
    if t is FunctionCall:
        return _compile_call(node)  # type: ignore[arg-type]
    if t is ListExpr:
        fns = tuple(compile_node(i) for i in node.items)  # type: ignore[attr-defined]
        consts = [_const_of(f) for f in fns]
        if all(c is not _NO_CONST for c in consts):
            return _const_fn(tuple(consts))

        def make_list(s: Any, tg: Any, k: set) -> Any:
            return tuple(f(s, tg, k) for f in fns)

        return make_list
    if t is RecordExpr:
        def record(s: Any, tg: Any, k: set) -> Any:
            return make_record(node, s)  # type: ignore[arg-type]

        return record
    raise TypeError(f"not a ClassAd AST node: {node!r}")


def _compile_ref(ref: AttrRef) -> Fn:
    lname = ref.name.lower()
    run = _run_compiled
    if ref.absolute:
        def root_ref(s: Any, t: Any, k: set) -> Any:
            if s is None or t is not None:  # see _keyword_scope
                return UNDEFINED
            return attribute_value(_root(s), lname, t, k, run)

        return root_ref
    where = ref.scope
    if where is None:
        def name_ref(s: Any, t: Any, k: set) -> Any:
            if s is None:
                return UNDEFINED
            a = s
            while a is not None:
                node = a._exprs.get(lname)
                if node is None and a._chain is not None:
                    node = a._chain._find(lname)
                if node is not None:
                    if node.__class__ is Literal:
                        return node.value
                    return _eval_found(a, lname, node, t, k, run)
                a = a._lexparent
            return resolve_name(lname, s, t, k, run)

        return name_ref
    if isinstance(where, str):
        if where in _TARGET_NAMES:
            def target_ref(s: Any, t: Any, k: set) -> Any:
                if t is None:
                    return UNDEFINED
                node = t._exprs.get(lname)
                if node is None:
                    node = t._find(lname)
                    if node is None:
                        return UNDEFINED
                if node.__class__ is Literal:
                    return node.value
                return _eval_found(t, lname, node, s if s is None else _root(s), k, run)

            return target_ref

        def keyword_ref(s: Any, t: Any, k: set) -> Any:
            if s is None:
                return UNDEFINED
            ad = _keyword_scope(where, s, t)
            if ad is UNDEFINED:
                return UNDEFINED
            if ad is t:
                return _in_target(t, lname, s, k, run)
            return attribute_value(ad, lname, t, k, run)

        return keyword_ref
    bf = compile_node(where)

    def select(s: Any, t: Any, k: set) -> Any:
        return _select(bf(s, t, k), lname, t, k, run)

    return select


def _compile_unary(u: UnaryOp) -> Fn:
    of = compile_node(u.operand)
    op = UNARY[u.op]
    c = _const_of(of)
    if c is not _NO_CONST:
        return _const_fn(op(c))

    def unary(s: Any, t: Any, k: set) -> Any:
        return op(of(s, t, k))

    return unary


def _compile_conditional(c: Conditional) -> Fn:
    cf = compile_node(c.cond)
    af = compile_node(c.then)
    bf = compile_node(c.else_)
    cc = _const_of(cf)
    if cc is not _NO_CONST:
        v = truth(cc)
        if v.__class__ is Value:
            return _const_fn(v)
        return af if v else bf

    def conditional(s: Any, t: Any, k: set) -> Any:
        v = truth(cf(s, t, k))
        if v is True:
            return af(s, t, k)
        if v is False:
            return bf(s, t, k)
        return v

    return conditional


def _compile_elvis(e: Elvis) -> Fn:
    lf = compile_node(e.left)
    rf = compile_node(e.right)
    lc = _const_of(lf)
    if lc is not _NO_CONST:
        return rf if lc is UNDEFINED else lf

    def elvis(s: Any, t: Any, k: set) -> Any:
        v = lf(s, t, k)
        return rf(s, t, k) if v is UNDEFINED else v

    return elvis


def _compile_binary(b: BinaryOp) -> Fn:
    lf = compile_node(b.left)
    rf = compile_node(b.right)
    lc = _const_of(lf)
    rc = _const_of(rf)
    op = b.op
    if op == "&&" or op == "||":
        if lc is not _NO_CONST and rc is not _NO_CONST:
            return _const_fn(_logic(op, lc, lambda: rc))
        return _compile_logic(op, _chain_operands(b, op))
    fn = BINARY[op]
    if lc is not _NO_CONST and rc is not _NO_CONST:
        return _const_fn(fn(lc, rc))
    if rc is not _NO_CONST:
        if (op == "==" or op == "!=") and rc.__class__ is str:
            folded = casefold_ascii(rc)
            equal = op == "=="

            def str_equal(s: Any, t: Any, k: set) -> Any:
                v = lf(s, t, k)
                if v.__class__ is str:
                    return (casefold_ascii(v) == folded) is equal
                return fn(v, rc)

            return str_equal

        def binary_const(s: Any, t: Any, k: set) -> Any:
            return fn(lf(s, t, k), rc)

        return binary_const
    native = _NATIVE_COMPARE.get(op)
    if native is not None:
        # Two ints (the usual Memory >= RequestMemory) compare natively.
        def compare(s: Any, t: Any, k: set) -> Any:
            a = lf(s, t, k)
            b = rf(s, t, k)
            if a.__class__ is int and b.__class__ is int:
                return native(a, b)
            return fn(a, b)

        return compare

    def binary(s: Any, t: Any, k: set) -> Any:
        return fn(lf(s, t, k), rf(s, t, k))

    return binary


_NATIVE_COMPARE = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


def _chain_operands(b: BinaryOp, op: str) -> list[Fn]:
    """The operands of a left-nested ``a && b && c`` (or ``||``) chain,
    compiled, so the chain runs in one closure instead of nested ones."""
    operands: list[Node] = []
    node: Node = b
    while node.__class__ is BinaryOp and node.op == op:
        operands.append(node.right)
        node = node.left
    operands.append(node)
    operands.reverse()
    return [compile_node(n) for n in operands]


def _same(v: Any) -> Any:
    return v


def _compile_logic(op: str, fns: list[Fn]) -> Fn:
    # Fast path: every operand a boolean.  The first non-boolean hands over
    # to the general left fold (_logic), which is what nested evaluation of
    # ((a && b) && c) computes.
    stop = op == "||"  # the value that decides the whole chain

    def chain(s: Any, t: Any, k: set) -> Any:
        for i, f in enumerate(fns):
            v = f(s, t, k)
            if v is stop:
                return stop
            if v is not (not stop):
                acc = _logic(op, not stop, partial(_same, v))
                for g in fns[i + 1:]:
                    acc = _logic(op, acc, partial(g, s, t, k))
                return acc
        return not stop

    return chain


def _compile_call(f: FunctionCall) -> Fn:
    lname = f.name.lower()
    args = f.args
    special = SPECIAL_FUNCTIONS.get(lname)
    run = _run_compiled
    if special is not None:
        def special_call(s: Any, t: Any, k: set) -> Any:
            return special(args, s, t, k, run)

        return special_call
    fns = tuple(compile_node(a) for a in args)

    def call(s: Any, t: Any, k: set) -> Any:
        return call_builtin(lname, [fn(s, t, k) for fn in fns])

    return call


def evaluate(node: Node, scope: Any = None, target: Any = None, busy: set | None = None) -> Any:
    """Evaluate *node* (compiled) with *scope* as MY and *target* as TARGET.

    This is the entry point for callers outside the evaluator: an
    evaluation too deep for Python's stack gives ERROR instead of an
    exception (*busy* names attributes already being evaluated)."""
    try:
        return _run_compiled(node, scope, target, set() if busy is None else busy)
    except RecursionError:
        _log.warning("evaluation nested too deeply; result is ERROR")
        return ERROR
