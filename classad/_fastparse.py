"""The production ClassAd parser: recursive descent with precedence climbing.

Why a second parser: the LALR automaton in :mod:`classad._parser` (lark's
tables, our driver loop) costs a table lookup, a state push and often a
reduction per token, and stayed well short of the cold-parse target (15,000
job Requirements a second).  Descent over the same tokens does roughly half
the work per token.  It builds the same AST; the two are held equal by
``tests/classad/test_core_parser_fast.py`` on the test suites' corpora.

The grammar (classad.lark) stays the reference: this parser only accepts.
Whenever it meets anything it does not expect it declines (returns
``None``) and the LALR parser parses the text again, so syntax errors,
their positions and their messages come from one place.  Record and
function-call nodes are built by the same :class:`classad._parser._Build`
methods the LALR parser uses (duplicate attributes, time-literal folding).

Tokens are read as ``(kind, value, ...)``: the lexer's positioned tokens
and :mod:`classad._quicklex`'s position-free ones alike, the latter with one
kind more, ``SELECT`` (``base.name`` as one word whose value is the shared
node).  Two shortcuts cover the commonest shapes of job expressions without
a call: a right operand that is one leaf, and ``(leaf op leaf)``.

Shared leaves: a plain attribute reference (``RequestMemory``) and a select
from one (``TARGET.Memory``) are taken from a bounded table instead of being
built again for every expression.  Nodes are immutable and their compiled
closure depends on the node alone, so sharing is invisible to everything
but the garbage collector - which, with thousands of parsed trees held by
the parse cache, was half the cost of a cold parse: every node allocated
is one more object each collection walks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._ast import AttrRef, BinaryOp, Conditional, Elvis, ListExpr, Node, Paren, Subscript, UnaryOp
from ._lexer import Tok

__all__ = ["END", "descend", "fast_parse", "shared_ref", "shared_select"]


class _Decline(Exception):
    """The token list is not one this parser accepts as it stands."""


#: Appended to a copy of the token list so that no lookahead needs a bounds
#: check: its kind continues nothing.
END: Tok = ("$END", None, -1, -1)
_END: list[Tok] = [END]
_LBRACK, _SEMI, _RBRACK = ("LBRACK", "[", -1, -1), ("SEMI", ";", -1, -1), ("RBRACK", "]", -1, -1)

#: Nesting (parentheses, lists, records, calls, subscripts, prefix operators,
#: conditionals) the descent follows before it declines: up to four Python
#: frames a level must fit the interpreter's stack with room to spare.
#: Deeper texts (real ads nest a few levels) go to the reference parser,
#: which needs no stack and turns the absurd ones into a syntax error.
MAX_NESTING = 64

# The shared leaves: plain name -> AttrRef(name); base name -> {name ->
# AttrRef(name, AttrRef(base))}.  Bounded: when they hold more than
# _SHARED_LIMIT nodes they start again (names in real ads are a few hundred).
_REFS: dict[str, AttrRef] = {}
_SELECTS: dict[str, dict[str, AttrRef]] = {}
_SHARED_LIMIT = 20_000
_shared_count = 0


def _count_shared() -> None:
    global _shared_count
    _shared_count += 1
    if _shared_count > _SHARED_LIMIT:
        _REFS.clear()
        _SELECTS.clear()
        _shared_count = 0


def shared_ref(name: str) -> AttrRef:
    """The shared ``AttrRef(name)`` (plain, unscoped reference)."""
    node = _REFS.get(name)
    if node is None:
        _count_shared()
        node = _REFS[name] = AttrRef(name)
    return node


def shared_select(base: str, name: str) -> AttrRef:
    """The shared ``AttrRef(name, AttrRef(base))`` (``base.name``)."""
    by_name = _SELECTS.get(base)
    if by_name is None:
        by_name = _SELECTS[base] = {}
    node = by_name.get(name)
    if node is None:
        _count_shared()
        node = by_name[name] = AttrRef(name, shared_ref(base))
    return node


#: Token kinds after which no postfix operator follows and no binary
#: operator continues: what ends an operand in the commonest shapes.
_CLOSERS = frozenset({"RPAR", "COMMA", "SEMI", "RBRACK", "RBRACE", "$END", "QMARK", "COLON"})
_BINARY = frozenset({"BINOP", "ADDOP"})
#: Token kinds that are a whole operand when a binary operator or a
#: closer follows.
_SIMPLE = frozenset({"CONST", "NAME", "SELECT"})


def fast_parse(toks: list[Tok], precedence: dict[str, int],
               build_call: Callable[[list[Any]], Node],
               build_record: Callable[[list[Any]], Node]) -> Node | None:
    """Parse a whole token list into one expression, or ``None`` to leave
    it to the reference parser (a syntax error, a time literal that does not
    fold, nesting deeper than :data:`MAX_NESTING`, ...).

    *build_call* and *build_record* are the reference parser's node builders,
    called with the children the grammar rule would give them.
    """
    return descend(toks + _END, precedence, build_call, build_record)


def descend(toks: list[Tok], precedence: dict[str, int],
             build_call: Callable[[list[Any]], Node],
             build_record: Callable[[list[Any]], Node]) -> Node | None:
    """:func:`fast_parse` over *toks* that already end with :data:`END`.

    Only a token's kind and value (``tok[0]``, ``tok[1]``) are read, so the
    ``(kind, value)`` tokens of :func:`quick_parse` serve as well as the
    lexer's.
    """
    pos = 0
    depth = 0
    refs = _REFS
    selects = _SELECTS
    closers = _CLOSERS
    binary = _BINARY
    simple = _SIMPLE

    def expr() -> Node:
        cond = chain(0, operand())
        if toks[pos][0] == "QMARK":
            return conditional(cond)
        return cond

    def conditional(cond: Node) -> Node:
        # ``cond ? yes : no`` with the '?' at *pos*.
        nonlocal pos, depth
        depth += 1
        if depth > MAX_NESTING:
            raise _Decline
        pos += 1
        yes = expr()
        if toks[pos][0] != "COLON":
            raise _Decline
        pos += 1
        node = Conditional(cond, yes, expr())
        depth -= 1
        return node

    def chain(floor: int, left: Node) -> Node:
        # The binary operators after the operand *left* that bind tighter
        # than *floor*; all are left-associative, so a right operand only
        # takes tighter ones.
        nonlocal pos
        tok = toks[pos]
        while tok[0] in binary:
            op = tok[1]
            p = precedence[op]
            if p <= floor:
                break
            # The commonest right operand, a constant or plain name that
            # nothing after it can extend, needs no descent.
            leaf = toks[pos + 1]
            after = toks[pos + 2]
            kind = after[0]
            if kind in closers or (kind in binary and precedence[after[1]] <= p):
                kind = leaf[0]
                if kind == "CONST" or kind == "SELECT":
                    pos += 2
                    left = BinaryOp(op, left, leaf[1])
                    tok = after
                    continue
                if kind == "NAME":
                    pos += 2
                    node = refs.get(leaf[1])
                    left = BinaryOp(op, left, node if node is not None else shared_ref(leaf[1]))
                    tok = after
                    continue
            pos += 1
            right = operand()
            tok = toks[pos]
            if tok[0] in binary and precedence[tok[1]] > p:
                right = chain(p, right)
                tok = toks[pos]
            left = BinaryOp(op, left, right)
        return left

    def operand(prefix_allowed: bool = True) -> Node:
        # A unary-level operand: prefix operators, a primary, then postfix
        # operators - one function, as a call per grammar level is most of
        # the cost of descent in Python.
        nonlocal pos, depth
        tok = toks[pos]
        kind = tok[0]
        pos += 1
        plain = None  # the name, while the node is a shared plain reference
        if kind == "NAME":
            kind = toks[pos][0]
            if kind == "LPAR":
                pos += 1
                depth += 1
                if depth > MAX_NESTING:
                    raise _Decline
                # A position-free name token: a call the builder refuses
                # (a time literal that does not fold) is declined anyway.
                node = build_call([("NAME", tok[1], -1, -1), None, arguments("RPAR"), None])
                depth -= 1
            else:
                plain = tok[1]
                node = refs.get(plain) or shared_ref(plain)
                if kind in closers or kind in binary:
                    return node
        elif kind == "SELECT":  # base.name as one word (quick_parse only)
            node = tok[1]
            kind = toks[pos][0]
            if kind in closers or kind in binary:
                return node
        elif kind == "CONST":
            node = tok[1]
        elif kind == "LPAR":
            # The commonest parenthesised shape, ``(a op b)`` with plain
            # operands, needs no descent (and no nesting count: no frame).
            first = toks[pos]
            second = toks[pos + 2]
            if first[0] in simple and second[0] in simple and toks[pos + 1][0] in binary \
                    and toks[pos + 3][0] == "RPAR":
                left = first[1] if first[0] != "NAME" else refs.get(first[1]) or shared_ref(first[1])
                right = second[1] if second[0] != "NAME" else refs.get(second[1]) or shared_ref(second[1])
                node = Paren(BinaryOp(toks[pos + 1][1], left, right))
                pos += 4
            else:
                depth += 1
                if depth > MAX_NESTING:
                    raise _Decline
                inner = chain(0, operand())
                if toks[pos][0] != "RPAR":
                    if toks[pos][0] != "QMARK":
                        raise _Decline
                    inner = conditional(inner)
                    if toks[pos][0] != "RPAR":
                        raise _Decline
                pos += 1
                depth -= 1
                node = Paren(inner)
        elif (kind == "ADDOP" or kind == "NOTOP") and prefix_allowed:
            depth += 1
            if depth > MAX_NESTING:
                raise _Decline
            node = UnaryOp(tok[1], operand())
            depth -= 1
            return node
        elif kind == "DOT":
            name = toks[pos]
            if name[0] != "NAME":
                raise _Decline
            pos += 1
            node = AttrRef(name[1], None, True)
        elif kind == "LBRACE":
            depth += 1
            if depth > MAX_NESTING:
                raise _Decline
            node = ListExpr(arguments("RBRACE") or ())
            depth -= 1
        elif kind == "LBRACK":
            depth += 1
            if depth > MAX_NESTING:
                raise _Decline
            node = build_record(record_items())
            depth -= 1
        else:
            raise _Decline
        while True:
            kind = toks[pos][0]
            if kind == "DOT":
                name = toks[pos + 1]
                if name[0] != "NAME":
                    raise _Decline
                pos += 2
                if plain is not None:
                    by_name = selects.get(plain)
                    shared = by_name.get(name[1]) if by_name is not None else None
                    node = shared if shared is not None else shared_select(plain, name[1])
                    plain = None
                else:
                    node = AttrRef(name[1], node)
            elif kind == "LBRACK":
                pos += 1
                depth += 1
                if depth > MAX_NESTING:
                    raise _Decline
                index = expr()
                if toks[pos][0] != "RBRACK":
                    raise _Decline
                pos += 1
                depth -= 1
                node = Subscript(node, index)
                plain = None
            elif kind == "ELVIS":
                # The right operand is a postfix expression (no prefix
                # operator), further Elvis operators included: the LALR
                # parser shifts there, so Elvis groups to the right.
                pos += 1
                depth += 1
                if depth > MAX_NESTING:
                    raise _Decline
                node = Elvis(node, operand(False))
                depth -= 1
                plain = None
            else:
                return node

    def arguments(close: str) -> list[Node]:
        nonlocal pos
        if toks[pos][0] == close:
            pos += 1
            return []
        args = [expr()]
        while True:
            kind = toks[pos][0]
            pos += 1
            if kind == "COMMA":
                args.append(expr())
            elif kind == close:
                return args
            else:
                raise _Decline

    def record_items() -> list[Any]:
        # What the grammar's record rule sees: '[', attrdefs as (name, expr)
        # and ';' tokens in order, ']' (the punctuation as position-free
        # 4-tuples: the builder tells attrdefs by their length, and any
        # error it raises is declined, so no position is ever read).
        nonlocal pos
        items: list[Any] = [_LBRACK]
        while True:
            tok = toks[pos]
            kind = tok[0]
            if kind == "NAME":
                if toks[pos + 1][0] != "ASSIGN":
                    raise _Decline
                pos += 2
                items.append((tok[1], expr()))
            elif kind == "SEMI":
                pos += 1
                items.append(_SEMI)
            elif kind == "RBRACK":
                pos += 1
                items.append(_RBRACK)
                return items
            else:
                raise _Decline

    try:
        node = expr()
    except Exception:  # noqa: BLE001 - any failure means: let the reference parser judge
        return None
    finally:
        # The nested functions reach each other through their cells: a
        # reference cycle that would keep them, and the whole token list,
        # alive until the garbage collector's next pass.  Emptying the cells
        # lets reference counting free everything now.
        expr = conditional = chain = operand = arguments = record_items = None  # type: ignore[assignment]
    return node if toks[pos][0] == "$END" else None
