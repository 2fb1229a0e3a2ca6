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
(UNDEFINED, ERROR).  Name resolution lives in :mod:`classad._scope`,
function calls in :mod:`classad._special`.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
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
from ._ops import BINARY, UNARY, casefold_ascii, truth
from ._scope import (
    _TARGET_NAMES,
    AdBase,
    _eval_found,
    _in_target,
    _keyword_scope,
    _root,
    _select,
    _subscript,
    attribute_value,
    make_record,
    resolve_name,
    value_node,
)
from ._special import SPECIAL_FUNCTIONS, call_builtin, iter_refs
from ._values import ERROR, UNDEFINED, Value

# AdBase, make_record, value_node and iter_refs are re-exported: the rest of
# the package meets the evaluator here.
__all__ = [
    "AdBase",
    "compile_node",
    "evaluate",
    "evaluate_reference",
    "make_record",
    "value_node",
    "iter_refs",
    "Fn",
]

_log = logging.getLogger(__name__)

#: A compiled expression: ``fn(scope, target, busy) -> value``.
Fn = Callable[[Any, Any, set], Any]

def _run_compiled(node: Node, scope: Any, target: Any, busy: set) -> Any:
    try:
        fn = node._fn
    except AttributeError:
        fn = compile_node(node)
    return fn(scope, target, busy)


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
