"""The ClassAd abstract syntax tree.

Every node is a small slotted class so that a parsed job ad (about sixty
expressions) stays within a few kilobytes.  Nodes are immutable by
convention: the parser builds them, the unparser prints them, the compiler
(:mod:`classad._eval`) turns them into closures and caches the result on the
node itself (the ``_fn`` slot), so an expression is compiled once however
many times it is evaluated.

Node classes and what they mean:

=================  ==========================================================
``Literal``        a constant value in the internal representation of
                   :mod:`classad._values` (int, float, str, bool, UNDEFINED,
                   ERROR, AbsTime, RelTime); never a list or record
``AttrRef``        ``name`` (``base`` None), ``base.name`` (``base`` a node),
                   or ``.name`` (``absolute`` True: look up from the root)
``BinaryOp``       ``left op right``; ``op`` is the operator text as written
                   in new syntax (``is``/``isnt`` for ``=?=``/``=!=``)
``UnaryOp``        ``op operand`` for ``- + ! ~``
``Paren``          an explicit ``( expr )``: HTCondor keeps parentheses so
                   that the unparsed text reproduces them
``Conditional``    ``cond ? then : else_``
``Elvis``          ``left ?: right``
``Subscript``      ``base[index]``
``FunctionCall``   ``name(args...)``; ``name`` keeps its spelling
``ListExpr``       ``{ items... }``
``RecordExpr``     ``[ name = expr; ... ]``; ``attrs`` is a list of
                   ``(name, node)`` pairs in source order
=================  ==========================================================

Scope keywords (``MY``, ``TARGET``, ``parent``...) are not special nodes: the
text ``TARGET.x`` is ``AttrRef("x", AttrRef("TARGET"))``, exactly as HTCondor
holds it, so the original spelling survives a round trip.  The evaluator
recognises the keywords when it compiles; :attr:`AttrRef.scope` names them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Node",
    "Literal",
    "AttrRef",
    "BinaryOp",
    "UnaryOp",
    "Paren",
    "Conditional",
    "Elvis",
    "Subscript",
    "FunctionCall",
    "ListExpr",
    "RecordExpr",
    "SCOPE_KEYWORDS",
    "BINARY_OPERATORS",
    "UNARY_OPERATORS",
]

#: Lower-case names that, as the base of ``x.name``, select a scope rather
#: than an attribute.  ``other`` is HTCondor's alias for the target ad in
#: matchmaking; ``left`` and ``right`` name the two ads of a match (ours,
#: then the target).
SCOPE_KEYWORDS = frozenset(
    {"my", "target", "other", "left", "right", "parent", "root", "toplevel", "self"}
)

#: Binary operators as the new-syntax unparser prints them.
BINARY_OPERATORS = frozenset(
    {
        "*", "/", "%", "+", "-", "<<", ">>", ">>>", "<", "<=", ">", ">=",
        "==", "!=", "is", "isnt", "&", "^", "|", "&&", "||",
    }
)
UNARY_OPERATORS = frozenset({"-", "+", "!", "~"})


class Node:
    """Base of every AST node.

    ``_fn`` caches the compiled closure (see :mod:`classad._eval`); it is
    filled lazily and never part of equality.
    """

    __slots__ = ("_fn",)
    _fn: Any  # the compiled closure, once compiled

    def children(self) -> tuple[Node, ...]:
        """The direct sub-expressions, in source order."""
        return ()

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __repr__(self) -> str:
        from ._unparse import unparse

        return f"<{type(self).__name__} {unparse(self)}>"


class Literal(Node):
    """A constant scalar value (internal representation)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def _key(self) -> tuple[Any, ...]:
        # type() in the key keeps 1, 1.0 and true apart.
        v = self.value
        if type(v) is float and v != v:
            return (float, "nan")
        return (type(v), v)


class AttrRef(Node):
    """An attribute reference: ``name``, ``base.name`` or ``.name``."""

    __slots__ = ("name", "base", "absolute")

    def __init__(self, name: str, base: Node | None = None, absolute: bool = False) -> None:
        self.name = name
        self.base = base
        self.absolute = absolute

    @property
    def scope(self) -> str | Node | None:
        """``None`` for a plain name, ``'root'`` for ``.name``, the lower-case
        keyword for ``MY.name``/``TARGET.name``/..., else the base node."""
        if self.absolute:
            return "root"
        b = self.base
        if b is None:
            return None
        if type(b) is AttrRef and b.base is None and not b.absolute:
            low = b.name.lower()
            if low in SCOPE_KEYWORDS:
                return low
        return b

    def children(self) -> tuple[Node, ...]:
        return (self.base,) if self.base is not None else ()

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.base, self.absolute)


class BinaryOp(Node):
    """``left op right``."""

    __slots__ = ("op", "left", "right")

    def __init__(self, op: str, left: Node, right: Node) -> None:
        self.op = op
        self.left = left
        self.right = right

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def _key(self) -> tuple[Any, ...]:
        return (self.op, self.left, self.right)


class UnaryOp(Node):
    """``op operand`` for ``-``, ``+``, ``!`` and ``~``."""

    __slots__ = ("op", "operand")

    def __init__(self, op: str, operand: Node) -> None:
        self.op = op
        self.operand = operand

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)

    def _key(self) -> tuple[Any, ...]:
        return (self.op, self.operand)


class Paren(Node):
    """Explicit parentheses, kept so unparsing reproduces them."""

    __slots__ = ("expr",)

    def __init__(self, expr: Node) -> None:
        self.expr = expr

    def children(self) -> tuple[Node, ...]:
        return (self.expr,)

    def _key(self) -> tuple[Any, ...]:
        return (self.expr,)


class Conditional(Node):
    """``cond ? then : else_``; only the chosen branch is evaluated."""

    __slots__ = ("cond", "then", "else_")

    def __init__(self, cond: Node, then: Node, else_: Node) -> None:
        self.cond = cond
        self.then = then
        self.else_ = else_

    def children(self) -> tuple[Node, ...]:
        return (self.cond, self.then, self.else_)

    def _key(self) -> tuple[Any, ...]:
        return (self.cond, self.then, self.else_)


class Elvis(Node):
    """``left ?: right``: *right* only when *left* is UNDEFINED."""

    __slots__ = ("left", "right")

    def __init__(self, left: Node, right: Node) -> None:
        self.left = left
        self.right = right

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def _key(self) -> tuple[Any, ...]:
        return (self.left, self.right)


class Subscript(Node):
    """``base[index]``: a list element or a record attribute by name."""

    __slots__ = ("base", "index")

    def __init__(self, base: Node, index: Node) -> None:
        self.base = base
        self.index = index

    def children(self) -> tuple[Node, ...]:
        return (self.base, self.index)

    def _key(self) -> tuple[Any, ...]:
        return (self.base, self.index)


class FunctionCall(Node):
    """``name(args...)``; the name keeps its spelling, lookup is by lower case."""

    __slots__ = ("name", "args")

    def __init__(self, name: str, args: list[Node] | tuple[Node, ...]) -> None:
        self.name = name
        self.args = tuple(args)

    def children(self) -> tuple[Node, ...]:
        return self.args

    def _key(self) -> tuple[Any, ...]:
        return (self.name.lower(), self.args)


class ListExpr(Node):
    """``{ items... }``; items stay unevaluated until used."""

    __slots__ = ("items",)

    def __init__(self, items: list[Node] | tuple[Node, ...]) -> None:
        self.items = tuple(items)

    def children(self) -> tuple[Node, ...]:
        return self.items

    def _key(self) -> tuple[Any, ...]:
        return (self.items,)


class RecordExpr(Node):
    """``[ name = expr; ... ]`` as ``(name, node)`` pairs in source order.

    Duplicate names (in any case) are kept here as written; the ClassAd built
    from a record applies HTCondor's rule (first spelling, last value).
    """

    __slots__ = ("attrs",)

    def __init__(self, attrs: list[tuple[str, Node]]) -> None:
        self.attrs = list(attrs)

    def children(self) -> tuple[Node, ...]:
        return tuple(n for _, n in self.attrs)

    def _key(self) -> tuple[Any, ...]:
        return (tuple((k.lower(), v) for k, v in self.attrs),)
