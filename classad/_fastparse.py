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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._ast import AttrRef, BinaryOp, Conditional, Elvis, ListExpr, Node, Paren, Subscript, UnaryOp
from ._lexer import Tok

__all__ = ["fast_parse"]


class _Decline(Exception):
    """The token list is not one this parser accepts as it stands."""


def fast_parse(toks: list[Tok], precedence: dict[str, int],
               build_call: Callable[[list[Any]], Node],
               build_record: Callable[[list[Any]], Node]) -> Node | None:
    """Parse a whole token list into one expression, or ``None`` to leave
    it to the reference parser (a syntax error, a time literal that does not
    fold, nesting deeper than Python's stack, ...).

    *build_call* and *build_record* are the reference parser's node builders,
    called with the children the grammar rule would give them.
    """
    n = len(toks)
    pos = 0

    def expr() -> Node:
        nonlocal pos
        cond = chain(0)
        if pos < n and toks[pos][0] == "QMARK":
            pos += 1
            yes = expr()
            if toks[pos][0] != "COLON":
                raise _Decline
            pos += 1
            return Conditional(cond, yes, expr())
        return cond

    def chain(floor: int) -> Node:
        # Operators binding tighter than *floor* are taken here; all are
        # left-associative, so the right operand only takes tighter ones.
        nonlocal pos
        left = operand()
        while pos < n:
            tok = toks[pos]
            kind = tok[0]
            if kind != "BINOP" and kind != "ADDOP":
                break
            op = tok[1]
            p = precedence[op]
            if p <= floor:
                break
            pos += 1
            left = BinaryOp(op, left, chain(p))
        return left

    def operand(prefix_allowed: bool = True) -> Node:
        # A unary-level operand: prefix operators, a primary, then postfix
        # operators - one function, as a call per grammar level is most of
        # the cost of descent in Python.
        nonlocal pos
        tok = toks[pos]
        kind = tok[0]
        pos += 1
        if kind == "NAME":
            if pos < n and toks[pos][0] == "LPAR":
                pos += 1
                node = build_call([tok, None, arguments("RPAR"), None])
            else:
                node = AttrRef(tok[1])
        elif kind == "CONST":
            node = tok[1]
        elif kind == "LPAR":
            inner = expr()
            if toks[pos][0] != "RPAR":
                raise _Decline
            pos += 1
            node = Paren(inner)
        elif (kind == "ADDOP" or kind == "NOTOP") and prefix_allowed:
            return UnaryOp(tok[1], operand())
        elif kind == "DOT":
            name = toks[pos]
            if name[0] != "NAME":
                raise _Decline
            pos += 1
            node = AttrRef(name[1], None, True)
        elif kind == "LBRACE":
            node = ListExpr(arguments("RBRACE") or ())
        elif kind == "LBRACK":
            node = build_record(record_items(tok))
        else:
            raise _Decline
        while pos < n:
            kind = toks[pos][0]
            if kind == "DOT":
                name = toks[pos + 1]
                if name[0] != "NAME":
                    raise _Decline
                pos += 2
                node = AttrRef(name[1], node)
            elif kind == "LBRACK":
                pos += 1
                index = expr()
                if toks[pos][0] != "RBRACK":
                    raise _Decline
                pos += 1
                node = Subscript(node, index)
            elif kind == "ELVIS":
                # The right operand is a postfix expression (no prefix
                # operator), further Elvis operators included: the LALR
                # parser shifts there, so Elvis groups to the right.
                pos += 1
                node = Elvis(node, operand(False))
            else:
                break
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

    def record_items(open_tok: Tok) -> list[Any]:
        # What the grammar's record rule sees: '[', attrdefs as (name, expr)
        # and ';' tokens in order, ']'.
        nonlocal pos
        items: list[Any] = [open_tok]
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
                items.append(tok)
            elif kind == "RBRACK":
                pos += 1
                items.append(tok)
                return items
            else:
                raise _Decline

    try:
        node = expr()
    except Exception:  # noqa: BLE001 - any failure means: let the reference parser judge
        return None
    return node if pos == n else None
