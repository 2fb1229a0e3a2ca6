"""Where names live: ad storage, scopes and attribute resolution.

Both evaluators (:mod:`classad._eval`) resolve names through these
functions, so HTCondor's scoping rules are written once:

* an unscoped name is looked up in the ad, then its enclosing ads, then
  (compat mode) the target ad, then ``CurrentTime``;
* ``MY``/``self``, ``TARGET``/``other``, ``LEFT``/``RIGHT``, ``parent`` and
  ``root``/``toplevel``/``.x`` select an ad first;
* a circular reference is UNDEFINED, a chain of references deeper than
  :data:`MAX_REFERENCE_DEPTH` is ERROR.

The functions take a ``run(node, scope, target, busy)`` callable, the
evaluator to continue with, so the reference walker stays a reference.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from ._ast import ListExpr, Literal, Node, RecordExpr
from ._mode import _state as _mode_state
from ._values import ERROR, UNDEFINED, Record

__all__ = [
    "AdBase",
    "SPELLINGS",
    "MAX_REFERENCE_DEPTH",
    "Runner",
    "attribute_value",
    "resolve_name",
    "make_record",
    "record_from_dict",
    "value_node",
]

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
        from ._eval import evaluate  # late: the evaluator builds on this module

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


#: The evaluator a resolution continues with: ``run(node, scope, target, busy)``.
Runner = Callable[[Node, Any, Any, set], Any]


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
    """``base[index]``: strict like the other operators (ERROR, then
    UNDEFINED, in either operand), then a list by int or a record by name."""
    if base is ERROR or index is ERROR:
        return ERROR
    if base is UNDEFINED or index is UNDEFINED:
        return UNDEFINED
    if base.__class__ is tuple:
        if index.__class__ is int and 0 <= index < len(base):
            return base[index]
        return ERROR
    if isinstance(base, AdBase) and index.__class__ is str:
        value = attribute_value(base, index.lower(), target, busy, run)
        if isinstance(value, AdBase):
            value = _detached_copy(value)
        return value
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


