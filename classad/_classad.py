"""The Python API: ClassAd and ExprTree in the shape of HTCondor's v2 bindings.

A :class:`ClassAd` is a mutable mapping with case-insensitive keys (the
first spelling is kept) whose values are held as AST nodes and evaluated
lazily.  Reading ``ad[k]`` gives a Python value for a literal and an
:class:`ExprTree` otherwise; ``ad.eval(k)`` evaluates.  Setting converts
Python values (None -> undefined, dict -> nested ad, list -> list,
datetime -> absTime, ExprTree kept as is).

Chained ads (``ClassAd(parent=cluster_ad)`` or ``ad.parent = ...``) look
attributes up in the parent when they lack them, and store only their own:
a scheduler keeps one cluster ad and many small proc ads.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from . import _match
from ._ast import (
    SCOPE_KEYWORDS,
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
from ._errors import ClassAdEvaluationError
from ._eval import AdBase, evaluate, make_record, value_node
from ._mode import is_strict
from ._ops import BINARY, UNARY, truth
from ._parser import iter_new_ads, parse_expression
from ._unparse import unparse, unparse_pretty, unparse_record_items
from ._values import ERROR, INT64_MAX, INT64_MIN, UNDEFINED, AbsTime, RelTime, Value

__all__ = ["ClassAd", "ExprTree", "to_python", "from_python"]

_log = logging.getLogger(__name__)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def to_python(value: Any) -> Any:
    """An internal value as the bindings return it: bool/int/float/str,
    ``Value.Undefined``/``Value.Error``, list, ClassAd, UTC datetime for an
    absTime and float seconds for a relTime."""
    t = value.__class__
    if t is tuple:
        return [to_python(v) for v in value]
    if t is AbsTime:
        return _EPOCH + _dt.timedelta(seconds=value.secs)
    if t is RelTime:
        return float(value.secs)
    return value


def from_python(value: Any) -> Node:
    """A Python value as an AST node (what assigning it to an ad stores)."""
    if isinstance(value, ExprTree):
        return value._node
    if value is None:
        return Literal(UNDEFINED)
    t = type(value)
    if t is bool or t is str or t is float or t is Value:
        return Literal(value)
    if t is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"integer {value} does not fit a ClassAd int64")
        return Literal(value)
    if isinstance(value, Node):
        return value
    if isinstance(value, ClassAd):
        return RecordExpr([(value._spelling(k), n) for k, n in value._merged().items()])
    if isinstance(value, Mapping):
        return RecordExpr([(_key(k), from_python(v)) for k, v in value.items()])
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.astimezone()
        offset = value.utcoffset()
        secs = int((value - _EPOCH).total_seconds())
        return Literal(AbsTime(secs, int(offset.total_seconds()) if offset else 0))
    if isinstance(value, _dt.timedelta):
        return Literal(RelTime(value.total_seconds()))
    if isinstance(value, (AbsTime, RelTime)):
        return Literal(value)
    if isinstance(value, int):  # other int subclasses (not bool, not Value)
        return from_python(int(value))
    if isinstance(value, float):
        return Literal(float(value))
    if isinstance(value, str):
        return Literal(str(value))
    if isinstance(value, (list, tuple)):
        return ListExpr([from_python(v) for v in value])
    raise TypeError(f"cannot store a {type(value).__name__} in a ClassAd")


def _key(k: Any) -> str:
    if not isinstance(k, str):
        raise TypeError(f"ClassAd attribute names are strings, not {type(k).__name__}")
    if not k:
        raise ValueError("a ClassAd attribute name cannot be empty")
    return k


def _node_to_python(node: Node, scope: ClassAd | None) -> Any:
    """``ad[k]``: literals (and lists/records of them) become Python values,
    anything else an ExprTree bound to *scope*."""
    t = node.__class__
    if t is Literal:
        return to_python(node.value)  # type: ignore[attr-defined]
    if t is ListExpr:
        return [_node_to_python(i, scope) for i in node.items]  # type: ignore[attr-defined]
    if t is RecordExpr:
        return make_record(node, scope)  # type: ignore[arg-type]
    return ExprTree(node, scope)


class ExprTree:
    """An unevaluated ClassAd expression.

    ``ExprTree(text)`` parses new syntax (the whole text must be one
    expression).  An ExprTree taken from an ad remembers it, so ``eval()``
    without a scope evaluates where the expression lives.
    """

    __slots__ = ("_node", "_scope")

    def __init__(self, expr: str | Node | ExprTree, scope: ClassAd | None = None) -> None:
        self._scope: ClassAd | None = scope
        self._node: Node
        if expr.__class__ is str:  # the common case first
            self._node = parse_expression(expr)
            return
        if isinstance(expr, ExprTree):
            self._node = expr._node
            if scope is None:
                self._scope = expr._scope
            return
        if isinstance(expr, str):
            self._node = parse_expression(expr)
        elif isinstance(expr, Node):
            self._node = expr
        else:
            raise TypeError(f"ExprTree() needs expression text, not {type(expr).__name__}")

    @property
    def node(self) -> Node:
        """The AST (shared; do not modify)."""
        return self._node

    def _value(self, scope: Any, target: Any) -> Any:
        if scope is not None and not isinstance(scope, AdBase):
            raise TypeError(f"scope must be a ClassAd, not {type(scope).__name__}")
        if target is not None and not isinstance(target, AdBase):
            raise TypeError(f"target must be a ClassAd, not {type(target).__name__}")
        if scope is None:
            scope = self._scope
        return evaluate(self._node, scope, target)

    def eval(self, scope: ClassAd | None = None, target: ClassAd | None = None) -> Any:
        """Evaluate with *scope* as MY and *target* as TARGET.

        A list comes back as HTCondor's bindings give it: literal elements
        as values, the others as unevaluated ExprTrees."""
        value = self._value(scope, target)
        if value.__class__ is tuple:
            found = _list_source(self._node, scope if scope is not None else self._scope, target)
            if found is not None:
                return _node_to_python(*found)
        return to_python(value)

    def simplify(self, scope: ClassAd | None = None, target: ClassAd | None = None) -> ExprTree:
        """The value as an expression (a literal, list or record)."""
        return ExprTree(value_node(self._value(scope, target)))

    def __repr__(self) -> str:
        return unparse(self._node)

    def __str__(self) -> str:
        return unparse_pretty(self._node)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExprTree):
            return self._node == other._node
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._node)

    def __bool__(self) -> bool:
        v = self._value(None, None)
        if v.__class__ is bool:
            return v
        if v.__class__ in (int, float):
            return v != 0
        raise ClassAdEvaluationError(f"{unparse(self._node)} is not a boolean: {to_python(v)!r}")

    def __int__(self) -> int:
        v = self._value(None, None)
        if v.__class__ in (int, float, bool):
            return int(v)
        raise ClassAdEvaluationError(f"{unparse(self._node)} is not a number: {to_python(v)!r}")

    def __float__(self) -> float:
        v = self._value(None, None)
        if v.__class__ in (int, float, bool):
            return float(v)
        raise ClassAdEvaluationError(f"{unparse(self._node)} is not a number: {to_python(v)!r}")


class ClassAd(AdBase, MutableMapping):
    """A ClassAd: case-insensitive mapping of attribute names to expressions.

    ``ClassAd()`` is empty; ``ClassAd(text)`` parses one new-syntax ad;
    ``ClassAd(mapping)`` converts Python values.  ``parent=`` chains the ad
    to another whose attributes it inherits.
    """

    __slots__ = ()

    def __init__(self, input: str | Mapping[str, Any] | None = None, *,
                 parent: ClassAd | None = None) -> None:
        super().__init__()
        if input is not None:
            if isinstance(input, str):
                # Like classad2: the first ad; text after it is not read.
                first = next(iter_new_ads(input), None)
                if first is not None:
                    self._load_record(first[0])
            elif isinstance(input, Mapping):
                for k, v in input.items():
                    self[k] = v
            else:
                raise TypeError(
                    f"ClassAd() takes ad text or a mapping, not {type(input).__name__}")
        if parent is not None:
            self.parent = parent

    def _load_record(self, record: RecordExpr) -> None:
        for name, node in record.attrs:
            self._set_node(name, node)

    # -- chaining ---------------------------------------------------------------

    @property
    def parent(self) -> ClassAd | None:
        """The chained parent ad (lookups fall through to it), or None."""
        return self._chain  # type: ignore[return-value]

    @parent.setter
    def parent(self, ad: ClassAd | None) -> None:
        if ad is not None and not isinstance(ad, AdBase):
            raise TypeError(f"parent must be a ClassAd, not {type(ad).__name__}")
        a: AdBase | None = ad
        while a is not None:
            if a is self:
                raise ValueError("chaining these ads would make a cycle")
            a = a._chain
        self._chain = ad

    def own_items(self) -> Iterator[tuple[str, Any]]:
        """``(name, value)`` of the attributes stored in this ad itself."""
        for low, node in self._exprs.items():
            yield self._spelling(low), _node_to_python(node, self)

    def _merged(self) -> dict[str, Node]:
        if self._chain is None:
            return self._exprs
        merged = dict(self._chain._merged())  # type: ignore[attr-defined]
        merged.update(self._exprs)
        return merged

    # -- mapping protocol ---------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        node = self._find(_key(key).lower())
        if node is None:
            raise KeyError(key)
        return _node_to_python(node, self)

    def __setitem__(self, key: str, value: Any) -> None:
        self._set_node(_key(key), from_python(value))

    def __delitem__(self, key: str) -> None:
        low = _key(key).lower()
        if low not in self._exprs:
            raise KeyError(key)
        self._drop(low)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._all_names().values()))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key.lower()) is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClassAd):
            return NotImplemented
        return self._merged() == other._merged()

    __hash__ = None  # type: ignore[assignment]

    # -- evaluation ---------------------------------------------------------------

    def lookup(self, attr: str) -> ExprTree:
        """The expression of *attr* (KeyError if absent)."""
        node = self._find(_key(attr).lower())
        if node is None:
            raise KeyError(attr)
        return ExprTree(node, self)

    def eval(self, attr: str) -> Any:
        """The value of *attr* evaluated in this ad (KeyError if absent)."""
        low = _key(attr).lower()
        node = self._find(low)
        if node is None:
            raise KeyError(attr)
        value = evaluate(node, self, None, {(id(self), low)})
        if value.__class__ is tuple:
            found = _list_source(node, self, None)
            if found is not None:
                return _node_to_python(*found)
        return to_python(value)

    def flatten(self, expr: ExprTree | str) -> Any:
        """*expr* partially evaluated in this ad, as HTCondor's Flatten does:
        references with a scalar value become that value, constant parts
        fold, and what cannot be resolved stays.  A fully evaluated result
        comes back as a Python value, anything else as an ExprTree."""
        result = _flatten(_as_node(expr), self)
        if isinstance(result, Node):
            return ExprTree(result)
        return to_python(result)

    def external_refs(self, expr: ExprTree | str) -> list[str]:
        """Attribute references in *expr* this ad does not define."""
        return sorted(_refs(_as_node(expr), self)[1])

    def internal_refs(self, expr: ExprTree | str) -> list[str]:
        """Attribute references in *expr* this ad defines."""
        return sorted(_refs(_as_node(expr), self)[0])

    # -- matching -----------------------------------------------------------------

    def matches(self, other: ClassAd) -> bool:
        """Whether *other*'s Requirements accept this ad."""
        return _match.matches(self, other)

    def symmetric_match(self, other: ClassAd) -> bool:
        """Whether both ads' Requirements accept each other."""
        return _match.symmetric_match(self, other)

    # -- printing -----------------------------------------------------------------

    def _pairs(self) -> list[tuple[str, Node]]:
        names = self._all_names()
        return [(names[k], n) for k, n in self._merged().items()]

    def __repr__(self) -> str:
        return unparse_record_items(self._pairs())

    def __str__(self) -> str:
        return unparse_record_items(self._pairs(), pretty=True)

    def print_old(self) -> str:
        """Old syntax: one ``Name = expr`` line per attribute."""
        from ._unparse import quote_name, unparse_old

        return "".join(f"{quote_name(k)} = {unparse_old(n)}\n" for k, n in self._pairs())

    def print_json(self) -> str:
        """The ad as a JSON object (classad/_json.py's encoding)."""
        from ._json import print_json

        return print_json(self)

    # camelCase names from HTCondor's bindings and the seed tutorial.
    printOld = print_old
    printJson = print_json
    symmetricMatch = symmetric_match
    externalRefs = external_refs
    internalRefs = internal_refs


def _list_source(node: Node, scope: Any, target: Any) -> tuple[Node, Any] | None:
    """The list literal an expression evaluates to by plain reference, with
    the ad it lives in, or None (a computed list)."""
    for _ in range(32):  # bounded: references may be circular
        t = node.__class__
        if t is Paren:
            node = node.expr  # type: ignore[attr-defined]
        elif t is ListExpr:
            return node, scope
        elif t is Conditional:
            c: Conditional = node  # type: ignore[assignment]
            v = truth(evaluate(c.cond, scope, target))
            if v.__class__ is Value:
                return None
            node = c.then if v else c.else_
        elif t is Elvis:
            e: Elvis = node  # type: ignore[assignment]
            if evaluate(e.left, scope, target) is not UNDEFINED:
                node = e.left
            else:
                node = e.right
        elif t is AttrRef and scope is not None:
            ref: AttrRef = node  # type: ignore[assignment]
            where = ref.scope
            low = ref.name.lower()
            if where is None:
                found = _lookup_local(scope, low)
                if found is None and target is not None and not is_strict():
                    found = (target, target._find(low)) if target._find(low) else None
                    scope, target = target, scope
                if found is None:
                    return None
                scope, node = found
            elif where in ("target", "other") and target is not None:
                n = target._find(low)
                if n is None:
                    return None
                node, scope, target = n, target, scope
            else:
                return None
        else:
            return None
    return None


def _as_node(expr: ExprTree | str | Node) -> Node:
    if isinstance(expr, ExprTree):
        return expr._node
    if isinstance(expr, str):
        return parse_expression(expr)
    if isinstance(expr, Node):
        return expr
    raise TypeError(f"expected an expression, not {type(expr).__name__}")


def _lookup_local(ad: AdBase, lname: str) -> tuple[AdBase, Node] | None:
    a: AdBase | None = ad
    while a is not None:
        n = a._find(lname)
        if n is not None:
            return a, n
        a = a._lexparent
    return None


def _is_value(v: Any) -> bool:
    return not isinstance(v, Node)


def _flatten(node: Node, ad: AdBase) -> Any:
    """A value (internal representation) or a residual node."""
    t = node.__class__
    if t is Literal:
        return node.value  # type: ignore[attr-defined]
    if t is AttrRef:
        # A reference whose value is a scalar is replaced by it; one that is
        # undefined, a list or a record stays as written.
        v = evaluate(node, ad, None)
        if v is UNDEFINED or v.__class__ is tuple or isinstance(v, AdBase):
            return node
        return v
    if t is Paren:
        inner = _flatten(node.expr, ad)  # type: ignore[attr-defined]
        return inner if _is_value(inner) else Paren(inner)
    if t is UnaryOp:
        u: UnaryOp = node  # type: ignore[assignment]
        operand = _flatten(u.operand, ad)
        return UNARY[u.op](operand) if _is_value(operand) else UnaryOp(u.op, operand)
    if t is BinaryOp:
        return _flatten_binary(node, ad)  # type: ignore[arg-type]
    if t is Conditional:
        c: Conditional = node  # type: ignore[assignment]
        cond = _flatten(c.cond, ad)
        if _is_value(cond):
            v = truth(cond)
            if v.__class__ is Value:
                return v
            return _flatten(c.then if v else c.else_, ad)
        return Conditional(cond, _to_node(_flatten(c.then, ad)), _to_node(_flatten(c.else_, ad)))
    if t is Elvis:
        e: Elvis = node  # type: ignore[assignment]
        left = _flatten(e.left, ad)
        if _is_value(left):
            return _flatten(e.right, ad) if left is UNDEFINED else left
        return Elvis(left, _to_node(_flatten(e.right, ad)))
    if t is Subscript:
        sub: Subscript = node  # type: ignore[assignment]
        base = _flatten(sub.base, ad)
        index = _flatten(sub.index, ad)
        if _is_value(base) and _is_value(index):
            return evaluate(Subscript(value_node(base), value_node(index)), ad, None)
        return Subscript(_to_node(base), _to_node(index))
    if t is FunctionCall:
        f: FunctionCall = node  # type: ignore[assignment]
        args = [_flatten(a, ad) for a in f.args]
        call = FunctionCall(f.name, [_to_node(a) for a in args])
        if all(_is_value(a) for a in args):
            return evaluate(call, ad, None)
        return call
    if t is ListExpr:
        return ListExpr([_to_node(_flatten(i, ad)) for i in node.items])  # type: ignore[attr-defined]
    return node  # a record literal stays as written


def _flatten_binary(b: BinaryOp, ad: AdBase) -> Any:
    op = b.op
    left = _flatten(b.left, ad)
    right = _flatten(b.right, ad)
    lv, rv = _is_value(left), _is_value(right)
    if lv and rv:
        if op == "&&" or op == "||":
            return _logic_values(op, left, right)
        return BINARY[op](left, right)
    if op == "&&" or op == "||":
        decides = op == "||"  # true decides ||, false decides &&
        if lv:
            v = truth(left)
            if v is decides or v is ERROR:
                return v
            if v is (not decides):
                return right  # true && e is e; false || e is e
        if rv and truth(right) is (not decides):
            return left  # e && true is e; e || false is e
    elif rv and (op == "+" or op == "*"):
        # HTCondor puts the constant first in a commutative operation.
        return BinaryOp(op, value_node(right), left)
    return BinaryOp(op, _to_node(left), _to_node(right))


def _logic_values(op: str, left: Any, right: Any) -> Any:
    return evaluate(BinaryOp(op, value_node(left), value_node(right)), None, None)


def _to_node(v: Any) -> Node:
    return v if isinstance(v, Node) else value_node(v)


def _refs(node: Node, ad: AdBase) -> tuple[set[str], set[str]]:
    """(internal, external) reference names of *node*, as HTCondor counts
    them: a name the ad defines is internal and its definition is followed
    (a nested record's is not); one it does not define is external; scoped
    references to other ads are external under their full text."""
    internal: set[str] = set()
    external: set[str] = set()
    seen: set[str] = set()
    strict = is_strict()

    def name_ref(name: str) -> None:
        low = name.lower()
        found = _lookup_local(ad, low)
        if found is None:
            if low not in SCOPE_KEYWORDS:
                external.add(name)
        elif low not in seen:
            seen.add(low)
            internal.add(name)
            visit(found[1])

    def visit(n: Node) -> None:
        if n.__class__ is AttrRef:
            ref: AttrRef = n
            where = ref.scope
            if where is None or where in ("self", "root", "toplevel") \
                    or (where == "my" and not strict):
                name_ref(ref.name)
            elif isinstance(where, str):
                external.add(unparse(ref))
            elif not _select_in_record(ref, where):
                visit(where)  # x.name: the reference is x
            return
        for child in n.children():
            visit(child)

    def _select_in_record(ref: AttrRef, base: Node) -> bool:
        # c.d with c a record literal of this ad: c is internal, and only
        # d's definition inside it is followed (HTCondor's behaviour).
        if base.__class__ is not AttrRef or base.base is not None or base.absolute:
            return False
        found = _lookup_local(ad, base.name.lower())
        if found is None or found[1].__class__ is not RecordExpr:
            return False
        internal.add(base.name)
        low = ref.name.lower()
        for name, definition in found[1].attrs:
            if name.lower() == low:
                visit(definition)
        return True

    visit(node)
    return internal, external
