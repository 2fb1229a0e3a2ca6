"""Parsing ClassAd text into AST nodes.

One module-level lark LALR parser is built from ``classad.lark`` (package
data).  Tokens come from :mod:`classad._lexer` and are fed straight into the
LALR engine; the transformer is given to lark so AST nodes are built during
the parse and no parse tree ever exists.  A bounded LRU cache keyed by text
makes repeated texts (the same Requirements in ten thousand job ads) almost
free.

Nothing but :class:`ClassAdSyntaxError` escapes from here: lark's exceptions,
recursion errors from absurdly nested input and anything else are turned
into one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Transformer
from lark.exceptions import UnexpectedInput

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
from ._errors import ClassAdSyntaxError
from ._lexer import Tok, tokenize
from ._mode import is_strict
from ._values import ERROR, AbsTime, RelTime

__all__ = [
    "parse_expression",
    "parse_tokens",
    "parse_old_line",
    "iter_new_ads",
    "PRECEDENCE",
]

_log = logging.getLogger(__name__)

#: Binary operator precedence, higher binds tighter; all are left-associative.
PRECEDENCE = {
    "*": 10, "/": 10, "%": 10,
    "+": 9, "-": 9,
    "<<": 8, ">>": 8, ">>>": 8,
    "<": 7, "<=": 7, ">": 7, ">=": 7,
    "==": 6, "!=": 6, "is": 6, "isnt": 6,
    "&": 5, "^": 4, "|": 3, "&&": 2, "||": 1,
}


class _ParseFailure(Exception):
    """Raised inside the transformer; carries the source position."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def _fold_time(name: str, arg: Node, pos: int) -> Node | None:
    """``absTime("…")`` and ``relTime("…")`` with a string literal are
    constants that HTCondor folds at parse time (so a bad string is a syntax
    error); the string is read by the built-in function itself."""
    from . import _builtins  # late: the evaluator and builtins import us

    fn = _builtins.BUILTINS.get(name.lower())
    if fn is None:
        return None
    value = fn.fn(arg.value)  # type: ignore[attr-defined]
    if value is ERROR or type(value) not in (AbsTime, RelTime):
        raise _ParseFailure(f"invalid {name} string {arg.value!r}", pos)
    return Literal(value)


class _Build(Transformer):  # type: ignore[type-arg]
    """Inline transformer: lark calls these as it reduces, with every token
    kept (punctuation included), so the methods index their children."""

    def start(self, c: list[Any]) -> Node:
        return c[0]  # type: ignore[no-any-return]

    def literal(self, c: list[Tok]) -> Node:
        return c[0].value  # type: ignore[return-value]

    def attr(self, c: list[Tok]) -> Node:
        return AttrRef(c[0].value)  # type: ignore[arg-type]

    def root_attr(self, c: list[Tok]) -> Node:
        return AttrRef(c[1].value, None, True)  # type: ignore[arg-type]

    def paren(self, c: list[Any]) -> Node:
        return Paren(c[1])

    def select(self, c: list[Any]) -> Node:
        return AttrRef(c[2].value, c[0])

    def subscript(self, c: list[Any]) -> Node:
        return Subscript(c[0], c[2])

    def elvis(self, c: list[Any]) -> Node:
        return Elvis(c[0], c[2])

    def unary_op(self, c: list[Any]) -> Node:
        return UnaryOp(c[0].value, c[1])

    def conditional(self, c: list[Any]) -> Node:
        return Conditional(c[0], c[2], c[4])

    def args(self, c: list[Any]) -> list[Node]:
        return c[::2]

    def call(self, c: list[Any]) -> Node:
        name = c[0].value
        args = c[2] or []
        if len(args) == 1 and type(args[0]) is Literal and type(args[0].value) is str \
                and name.lower() in ("abstime", "reltime"):
            folded = _fold_time(name, args[0], c[0].start_pos)
            if folded is not None:
                return folded
        return FunctionCall(name, args)

    def list(self, c: list[Any]) -> Node:
        return ListExpr(c[1] or ())

    def attrdef(self, c: list[Any]) -> tuple[str, Node]:
        return (c[0].value, c[2])

    def record(self, c: list[Any]) -> Node:
        attrs = []
        prev_was_def = False
        for item in c[1:-1]:
            if type(item) is tuple:
                if prev_was_def:
                    raise _ParseFailure("missing ';' between attributes", c[0].start_pos)
                attrs.append(item)
                prev_was_def = True
            else:
                prev_was_def = False
        return RecordExpr(attrs)

    def chain(self, c: list[Any]) -> Node:
        # Precedence climbing over the flat operand/operator list.
        operands: list[Node] = [c[0]]
        ops: list[str] = []
        prec = PRECEDENCE
        for i in range(1, len(c), 2):
            op = c[i].value
            p = prec[op]
            while ops and prec[ops[-1]] >= p:
                right = operands.pop()
                operands[-1] = BinaryOp(ops.pop(), operands[-1], right)
            ops.append(op)
            operands.append(c[i + 1])
        while ops:
            right = operands.pop()
            operands[-1] = BinaryOp(ops.pop(), operands[-1], right)
        return operands[0]


def _load_grammar() -> str:
    # Next to this module rather than importlib.resources: an editable
    # install may present the package as a namespace, which resources
    # cannot read from.
    return Path(__file__).with_name("classad.lark").read_text(encoding="utf-8")


_LARK = Lark(
    _load_grammar(),
    parser="lalr",
    lexer="basic",
    transformer=_Build(),
    maybe_placeholders=True,
    start="start",
)
# The LALR engine proper: we hand it our own token list, skipping lark's
# lexer front end entirely.
_ENGINE = _LARK.parser.parser.parser


class _Feed:
    """What the LALR engine asks of a lexer: an iterator of tokens."""

    __slots__ = ("toks",)

    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks

    def lex(self, _state: object) -> Any:
        return iter(self.toks)


def parse_tokens(toks: list[Tok], text: str) -> Node:
    """Parse a complete token list (one expression) from *text*."""
    if not toks:
        raise ClassAdSyntaxError("empty expression", text, 0)
    try:
        return _ENGINE.parse(_Feed(toks), "start")  # type: ignore[no-any-return]
    except UnexpectedInput as exc:
        tok = getattr(exc, "token", None)
        pos = getattr(tok, "start_pos", None)
        if tok is not None and getattr(tok, "type", "") == "$END":
            pos = len(text)
            raise ClassAdSyntaxError("unexpected end of expression", text, pos) from None
        what = getattr(tok, "value", "?")
        if isinstance(what, Literal):
            from ._unparse import unparse

            what = unparse(what)
        raise ClassAdSyntaxError(f"unexpected {what!s}", text, pos or 0) from None
    except _ParseFailure as exc:
        raise ClassAdSyntaxError(str(exc), text, exc.pos) from None
    except RecursionError:
        raise ClassAdSyntaxError("expression nested too deeply", text, 0) from None


@lru_cache(maxsize=16384)
def _parse_cached(text: str, strict: bool, old: bool) -> Node:
    return parse_tokens(tokenize(text, strict, old), text)


def parse_expression(text: str, *, old: bool = False) -> Node:
    """Parse one ClassAd expression (new syntax unless *old*).

    Results are cached by text, so the returned node is shared: nodes are
    immutable by convention and must not be modified.
    """
    if not isinstance(text, str):
        raise TypeError(f"expression text must be a str, not {type(text).__name__}")
    try:
        return _parse_cached(text, is_strict(), old)
    except ClassAdSyntaxError:
        raise
    except RecursionError:
        raise ClassAdSyntaxError("expression nested too deeply", text, 0) from None
    except Exception as exc:  # never let a lark or internal error escape
        _log.debug("unexpected parser failure on %r", text, exc_info=True)
        raise ClassAdSyntaxError(f"cannot parse expression ({exc})", text, 0) from None


_OLD_LINE = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*|'(?:[^'\\]|\\.)*')\s*=(?![=?!])\s*(.*?)\s*\Z", re.DOTALL
)


def parse_old_line(line: str) -> tuple[str, Node] | None:
    """``Name = expr`` of old syntax, or ``None`` for a line HTCondor's lenient
    old-syntax reader would drop (blank, comment, malformed)."""
    m = _OLD_LINE.match(line)
    if m is None:
        return None
    name = m.group(1)
    if name[0] == "'":
        from ._lexer import unescape_string

        unq = unescape_string(name[1:-1])
        if not unq:
            return None
        name = unq
    elif name.lower() in ("true", "false", "undefined", "error", "is", "isnt"):
        return None
    try:
        return name, parse_expression(m.group(2), old=True)
    except ClassAdSyntaxError:
        _log.debug("old-syntax line dropped: %r", line)
        return None


def iter_new_ads(text: str) -> Iterator[tuple[Node, int]]:
    """Parse consecutive new-syntax ads ``[ ... ]`` from *text*.

    Yields ``(record, end offset)`` for each ad; the text is tokenized once.
    Raises :class:`ClassAdSyntaxError` at the first thing that is not an ad.
    """
    toks = tokenize(text, is_strict())
    n = len(toks)
    i = 0
    while i < n:
        first = toks[i]
        if first.type != "LBRACK":
            raise ClassAdSyntaxError("expected '[' to start a ClassAd", text, first.start_pos)
        depth = 0
        j = i
        while j < n:
            t = toks[j].type
            if t == "LBRACK" or t == "LBRACE" or t == "LPAR":
                depth += 1
            elif t == "RBRACK" or t == "RBRACE" or t == "RPAR":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j == n:
            raise ClassAdSyntaxError("unterminated ClassAd (missing ']')", text, len(text))
        node = parse_tokens(toks[i:j + 1], text)
        if type(node) is not RecordExpr:
            raise ClassAdSyntaxError("expected a ClassAd", text, first.start_pos)
        yield node, toks[j].end_pos
        i = j + 1
