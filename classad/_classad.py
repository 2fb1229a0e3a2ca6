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
from ._ast import SCOPE_KEYWORDS, AttrRef, BinaryOp, ListExpr, Literal, Node, Paren, RecordExpr
from ._errors import ClassAdEvaluationError
from ._eval import AdBase, evaluate, iter_refs, make_record, value_node
from ._mode import is_strict
from ._ops import BINARY
from ._parser import iter_new_ads, parse_expression
from ._unparse import unparse, unparse_pretty, unparse_record_items
from ._values import INT64_MAX, INT64_MIN, UNDEFINED, AbsTime, RelTime, Value

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

    def flatten(self, expr: ExprTree | str) -> ExprTree:
        """*expr* with everything this ad defines substituted and folded;
        references it cannot resolve stay as they are."""
        node = _as_node(expr)
        result = _flatten(node, self, set())
        return ExprTree(result if isinstance(result, Node) else value_node(result))

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


def _flatten(node: Node, ad: AdBase, busy: set) -> Any:
    """A value (internal representation) or a residual node."""
    t = node.__class__
    if t is Literal:
        return node.value  # type: ignore[attr-defined]
    if t is AttrRef:
        ref: AttrRef = node  # type: ignore[assignment]
        if ref.base is not None or ref.absolute:
            return node
        low = ref.name.lower()
        found = _lookup_local(ad, low)
        if found is None or (id(found[0]), low) in busy:
            return node
        busy.add((id(found[0]), low))
        try:
            return _flatten(found[1], found[0], busy)
        finally:
            busy.discard((id(found[0]), low))
    if t is BinaryOp and node.op not in ("&&", "||"):  # type: ignore[attr-defined]
        b: BinaryOp = node  # type: ignore[assignment]
        left = _flatten(b.left, ad, busy)
        right = _flatten(b.right, ad, busy)
        if not isinstance(left, Node) and not isinstance(right, Node):
            return BINARY[b.op](left, right)
        return BinaryOp(b.op, _to_node(left), _to_node(right))
    if t is ListExpr or t is RecordExpr:
        return node
    # Anything else: a value when every reference in it resolves here.
    for ref in iter_refs(node):
        if ref.base is not None or ref.absolute or isinstance(_flatten(ref, ad, busy), Node):
            return node
    return evaluate(node, ad, None)


def _to_node(v: Any) -> Node:
    return v if isinstance(v, Node) else value_node(v)


def _refs(node: Node, ad: AdBase) -> tuple[set[str], set[str]]:
    """(internal, external) reference names of *node*, following the
    definitions of internal ones."""
    internal: set[str] = set()
    external: set[str] = set()
    seen: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        for ref in iter_refs(n):
            if ref.base is None and not ref.absolute:
                low = ref.name.lower()
                found = _lookup_local(ad, low)
                if found is None:
                    if low not in SCOPE_KEYWORDS:
                        external.add(ref.name)
                elif low not in seen:
                    seen.add(low)
                    internal.add(ref.name)
                    stack.append(found[1])
            elif ref.scope in ("target", "other"):
                external.add(unparse(ref))
    return internal, external
