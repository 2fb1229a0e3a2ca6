"""Parsing ClassAd text into AST nodes.

A text is first tried on the fast path: the position-free words of
:mod:`classad._quicklex` straight into the descent parser of
:mod:`classad._fastparse`.  Whatever that path leaves (a word outside its
subset, every syntax error) is tokenized in full by :mod:`classad._lexer`
and parsed again, by the descent parser and, if it declines, by the
reference parser here, so errors keep their one wording and position: one
module-level lark LALR parser built from ``classad.lark`` (package data),
whose table :func:`_drive` runs with the transformer building AST nodes
during the parse, so no parse tree ever exists.  A bounded LRU cache keyed
by text makes repeated texts (the same Requirements in ten thousand job ads)
almost free.

Nothing but :class:`ClassAdSyntaxError` escapes from here: lark's exceptions,
recursion errors from absurdly nested input and anything else are turned
into one.
"""

from __future__ import annotations

import calendar
import logging
import math
import re
import sys
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Transformer

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
from ._fastparse import descend, fast_parse
from ._lexer import Tok, old_strings_to_new, tokenize
from ._mode import _state as _mode_state
from ._mode import is_strict
from ._quicklex import quick_tokens
from ._values import AbsTime, RelTime

__all__ = [
    "parse_expression",
    "parse_tokens",
    "parse_old_line",
    "iter_new_ads",
    "PRECEDENCE",
    "MAX_DEPTH",
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


#: Deepest expression tree accepted.  Compiling, evaluating and printing
#: recurse once (compiling three frames) per level, and Python's stack must
#: hold that; only texts with more tokens than this can be that deep, so
#: ordinary expressions never pay for the check.
MAX_DEPTH = 250


class _ParseFailure(Exception):
    """Raised inside the transformer; carries the source position."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


_ABSTIME = re.compile(
    r"\s*(\d{4})-?(\d\d)-?(\d\d)(?:[T ]:?(\d\d):?(\d\d)(?::?(\d\d))?)?"
    r"\s*(?:(Z)|([+-])(\d\d):?(\d\d))?\s*\Z",
    re.IGNORECASE,
)
_RELTIME = re.compile(
    r"\s*(-)?(?:(\d+)\+)?(?:(\d+):)??(?:(\d+):)?(\d+(?:\.\d*)?)\s*\Z"
)
_RELTIME_UNITS = re.compile(
    r"\s*(-)?(?=\d)(?:(\d+)[dD])?(?:(\d+)[hH])?(?:(\d+)[mM])?(?:(\d+(?:\.\d*)?)[sS]?)?\s*\Z"
)


# What we print for a non-finite duration (HTCondor prints garbage there).
_RELTIME_SPECIAL = {"INF": math.inf, "-INF": -math.inf, "NAN": math.nan}


def _abstime_from_text(text: str) -> AbsTime | None:
    """``YYYY-MM-DD[Thh:mm[:ss]][Z|±hh:mm]`` (separators optional); no zone
    means the local zone, as in HTCondor."""
    m = _ABSTIME.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.group(1, 2, 3, 4, 5, 6))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and sec < 61):
        return None
    try:
        civil = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    if m.group(7):
        offset = 0
    elif m.group(8):
        offset = int(m.group(9)) * 3600 + int(m.group(10)) * 60
        if m.group(8) == "-":
            offset = -offset
    else:
        offset = time.localtime(civil).tm_gmtoff
    return AbsTime(civil - offset, offset)


def _reltime_from_text(text: str) -> RelTime | None:
    """``[-][D+][[hh:]mm:]ss[.fff]`` or ``[-][Nd][Nh][Nm][N[.f][s]]``."""
    m = _RELTIME.match(text) or _RELTIME_UNITS.match(text)
    if m is None:
        special = _RELTIME_SPECIAL.get(text.strip().upper())
        return None if special is None else RelTime(special)
    neg, days, hours, mins, secs = m.groups()
    secs = secs or "0"
    total: int | float = float(secs) if "." in secs else int(secs)
    total += int(days or 0) * 86400 + int(hours or 0) * 3600 + int(mins or 0) * 60
    return RelTime(-total if neg else total)


def _fold_time(name: str, arg: Literal, pos: int) -> Node:
    """``absTime("…")`` and ``relTime("…")`` with a string literal are
    constants that HTCondor folds at parse time, so a bad string is a
    syntax error rather than a value."""
    value = (_abstime_from_text if name.lower() == "abstime" else _reltime_from_text)(arg.value)
    if value is None:
        raise _ParseFailure(f"invalid {name} string {arg.value!r}", pos)
    return Literal(value)


class _Build(Transformer):
    """Inline transformer: lark calls these as it reduces, with every token
    kept (punctuation included), so the methods index their children."""

    def start(self, c: list[Any]) -> Node:
        return c[0]

    def literal(self, c: list[Tok]) -> Node:
        return c[0][1]

    def attr(self, c: list[Tok]) -> Node:
        return AttrRef(c[0][1])

    def root_attr(self, c: list[Tok]) -> Node:
        return AttrRef(c[1][1], None, True)

    def paren(self, c: list[Any]) -> Node:
        return Paren(c[1])

    def select(self, c: list[Any]) -> Node:
        return AttrRef(c[2][1], c[0])

    def subscript(self, c: list[Any]) -> Node:
        return Subscript(c[0], c[2])

    def elvis(self, c: list[Any]) -> Node:
        return Elvis(c[0], c[2])

    def unary_op(self, c: list[Any]) -> Node:
        return UnaryOp(c[0][1], c[1])

    def conditional(self, c: list[Any]) -> Node:
        return Conditional(c[0], c[2], c[4])

    def args(self, c: list[Any]) -> list[Node]:
        return c[::2]

    def call(self, c: list[Any]) -> Node:
        name = c[0][1]
        args = c[2] or []
        if len(args) == 1 and type(args[0]) is Literal and type(args[0].value) is str \
                and name.lower() in ("abstime", "reltime"):
            return _fold_time(name, args[0], c[0][2])
        return FunctionCall(name, args)

    def listexpr(self, c: list[Any]) -> Node:
        return ListExpr(c[1] or ())

    def attrdef(self, c: list[Any]) -> tuple[str, Node]:
        return (c[0][1], c[2])

    def record(self, c: list[Any]) -> Node:
        # HTCondor keeps one attribute per name (any case): the first
        # spelling and position, the last value.
        attrs: list[tuple[str, Node]] = []
        where: dict[str, int] = {}
        prev_was_def = False
        for item in c[1:-1]:
            if len(item) == 2:  # an attrdef; tokens are 4-tuples
                if prev_was_def:
                    raise _ParseFailure("missing ';' between attributes", c[0][2])
                low = item[0].lower()
                if low in where:
                    attrs[where[low]] = (attrs[where[low]][0], item[1])
                else:
                    where[low] = len(attrs)
                    attrs.append(item)
                prev_was_def = True
            else:
                prev_was_def = False
        if not attrs and len(c) > 2:
            raise _ParseFailure("';' in an empty ClassAd", c[1][2])
        return RecordExpr(attrs)

    def binop(self, c: list[Any]) -> Node:
        # The grammar reads a chain of binary operators left to right as if
        # they all had one precedence; each new operator that binds tighter
        # than the node on the left is pushed down its right spine.  The
        # nodes touched were all built by this chain moments ago (operands
        # are unary-level nodes, parentheses are Paren nodes), so mutating
        # them is safe.
        left, op, right = c[0], c[1][1], c[2]
        prec = PRECEDENCE
        p = prec[op]
        if type(left) is not BinaryOp or prec[left.op] >= p:
            return BinaryOp(op, left, right)
        node = left
        while type(node.right) is BinaryOp and prec[node.right.op] < p:
            node = node.right
        node.right = BinaryOp(op, node.right, right)
        return left


def _load_grammar() -> str:
    # Next to this module rather than importlib.resources: an editable
    # install may present the package as a namespace, which resources
    # cannot read from.
    return Path(__file__).with_name("classad.lark").read_text(encoding="utf-8")


_BUILD = _Build()

_LARK = Lark(
    _load_grammar(),
    parser="lalr",
    lexer="basic",
    transformer=_BUILD,
    maybe_placeholders=True,
    start="start",
)


def _build_tables() -> tuple[list[dict[str, Any]], int, int]:
    """Re-encode lark's LALR table for a tight driver loop.

    lark computes the table and the reduction callbacks (our transformer,
    wrapped by lark where rules are inlined); its own generic loop costs more
    than the rest of parsing put together, so :func:`_drive` runs the same
    automaton with states as list indices, a shift as an ``int`` and a
    reduction as ``(size, goto name, callback or None)`` - ``None`` for the
    ``?rule: x`` pass-through reductions, which need no call at all.
    """
    engine = _LARK.parser.parser.parser
    table = engine.parse_table
    callbacks = engine.callbacks
    index = {st: n for n, st in enumerate(table.states)}
    actions: list[dict[str, Any]] = [{} for _ in index]
    for st, row in table.states.items():
        out = actions[index[st]]
        for sym, (action, arg) in row.items():
            sym = sys.intern("".join(sym))
            if action.name == "Shift":
                out[sym] = index[arg]
            else:
                size = len(arg.expansion)
                fn = None if (arg.options.expand1 and size == 1 and not arg.alias) else callbacks[arg]
                # lark's rule names are Token objects whose __eq__ is slow;
                # the goto lookups want plain strings.
                out[sym] = (size, sys.intern("".join(arg.origin.name)), fn)
    return actions, index[table.start_states["start"]], index[table.end_states["start"]]


_ACTIONS, _START, _ACCEPT = _build_tables()


class _Unexpected(Exception):
    def __init__(self, tok: Tok | None) -> None:
        super().__init__()
        self.tok = tok


def _drive(toks: list[Tok]) -> Node:
    """Run the LALR automaton over *toks* (see :func:`_build_tables`).

    The hot loop of the parser: one-symbol reductions (most of them) replace
    the top of the stacks in place instead of popping and pushing, and a
    missing table entry (a syntax error) surfaces as KeyError."""
    actions = _ACTIONS
    states = [_START]
    values: list[Any] = []
    push_state = states.append
    push_value = values.append
    tok: Any = None
    try:
        for tok in toks:
            ttype = tok[0]
            act = actions[states[-1]][ttype]
            while act.__class__ is not int:
                size, origin, fn = act
                if size == 1:
                    if fn is not None:
                        values[-1] = fn([values[-1]])
                    states[-1] = actions[states[-2]][origin]
                elif size:
                    args = values[-size:]
                    del values[-size:]
                    del states[-size:]
                    push_value(fn(args))
                    push_state(actions[states[-1]][origin])
                else:
                    _reduce(states, values, size, origin, fn)
                act = actions[states[-1]][ttype]
            push_state(act)
            push_value(tok)
    except KeyError:
        raise _Unexpected(tok) from None
    while True:  # end of input: reduce until accepted
        act = actions[states[-1]].get("$END")
        if act is None or act.__class__ is int:
            raise _Unexpected(None)
        size, origin, fn = act
        if size == 1:
            if fn is not None:
                values[-1] = fn([values[-1]])
            states.pop()
        else:
            _reduce(states, values, size, origin, fn)
            states.pop()
        goto = actions[states[-1]][origin]
        if goto == _ACCEPT:
            return values[-1]
        states.append(goto)


def _reduce(states: list[int], values: list[Any], size: int, origin: str, fn: Any) -> None:
    """Reduce *size* symbols (not 1) by *fn* and take the goto for *origin*."""
    if size:
        args = values[-size:]
        del values[-size:]
        del states[-size:]
    else:
        args = []
    values.append(fn(args))
    states.append(_ACTIONS[states[-1]][origin])


def parse_tokens(toks: list[Tok], text: str) -> Node:
    """Parse a complete token list (one expression) from *text*."""
    if not toks:
        raise ClassAdSyntaxError("empty expression", text, 0)
    node = fast_parse(toks, PRECEDENCE, _BUILD.call, _BUILD.record)
    if node is None:
        node = _reference_parse(toks, text)
    if len(toks) > MAX_DEPTH and _tree_depth(node) > MAX_DEPTH:  # fewer tokens: shallower
        raise ClassAdSyntaxError(
            f"expression nested more than {MAX_DEPTH} levels deep", text, 0)
    return node


def _reference_parse(toks: list[Tok], text: str) -> Node:
    """Parse *toks* with the LALR automaton, the reference for what is
    valid: the fast parser leaves every text it does not accept to this one,
    which also words every syntax error."""
    try:
        return _drive(toks)
    except _Unexpected as exc:
        tok = exc.tok
        if tok is None:
            raise ClassAdSyntaxError("unexpected end of expression", text, len(text)) from None
        what = tok[1]
        if isinstance(what, Literal):
            from ._unparse import unparse

            what = unparse(what)
        raise ClassAdSyntaxError(f"unexpected {what!s}", text, tok[2]) from None
    except _ParseFailure as exc:
        raise ClassAdSyntaxError(str(exc), text, exc.pos) from None
    except Exception as exc:  # a bug must still surface as bad input, not a crash
        _log.warning("parser failure on %r", text, exc_info=True)
        raise ClassAdSyntaxError(f"cannot parse ({exc})", text, 0) from None


def _tree_depth(node: Node) -> int:
    """Depth of the AST, without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        n, d = stack.pop()
        if d > deepest:
            deepest = d
        for child in n.children():
            stack.append((child, d + 1))
    return deepest


def _parse_text(text: str, strict: bool) -> Node:
    # The fast path first: position-free words straight into the descent
    # parser.  Whatever it leaves (every error among it) is tokenized and
    # parsed again in full, so errors keep their positions and wording.
    toks = quick_tokens(text)
    if toks is not None:
        node = descend(toks, PRECEDENCE, _BUILD.call, _BUILD.record)
        # A word adds at most two levels (a select); only the depth check
        # of parse_tokens is left out, so a tree that may be too deep goes
        # the full way and meets it there.
        if node is not None and (2 * len(toks) <= MAX_DEPTH or _tree_depth(node) <= MAX_DEPTH):
            return node
    return parse_tokens(tokenize(text, strict), text)


# One cache per integer mode, keyed by the text alone: a one-argument key
# is the string itself, where two arguments cost a key tuple per entry.
@lru_cache(maxsize=16384)
def _parse_lenient(text: str) -> Node:
    return _parse_text(text, False)


@lru_cache(maxsize=16384)
def _parse_strict(text: str) -> Node:
    return _parse_text(text, True)


def _parse_cached(text: str, strict: bool) -> Node:
    return (_parse_strict if strict else _parse_lenient)(text)


def parse_expression(text: str, *, old: bool = False) -> Node:
    """Parse one ClassAd expression (new syntax unless *old*, whose string
    literals are rewritten first, see :func:`old_strings_to_new`).

    Results are cached by text, so the returned node is shared: nodes are
    immutable by convention and must not be modified.
    """
    if text.__class__ is not str and not isinstance(text, str):
        raise TypeError(f"expression text must be a str, not {type(text).__name__}")
    try:
        if old:
            text = old_strings_to_new(text)
        return _parse_cached(text, _mode_state["strict"])
    except ClassAdSyntaxError:
        raise
    except RecursionError:
        raise ClassAdSyntaxError("expression nested too deeply", text, 0) from None
    except Exception as exc:  # never let a lark or internal error escape
        _log.debug("unexpected parser failure on %r", text, exc_info=True)
        raise ClassAdSyntaxError(f"cannot parse expression ({exc})", text, 0) from None


_QUICK = re.compile(r'\s*(?:(-?[1-9][0-9]{0,17}|0)|"([^"\\\0]*)"|(true|false))\s*\Z', re.IGNORECASE)
_TRUE, _FALSE = Literal(True), Literal(False)
# Small integers are the commonest values in job ads; nodes are immutable,
# so every ad can share one.
_SMALL_INTS = {n: Literal(n) for n in range(-16, 1025)}


def _quick_literal(text: str) -> Literal | None:
    """A plain integer, escape-free string or boolean without the parser:
    most job-ad values are one of these, and skipping the parse cache for
    them keeps the cache for expressions worth caching."""
    m = _QUICK.match(text)
    if m is None:
        return None
    digits, string, boolean = m.groups()
    if digits is not None:
        n = int(digits)
        return _SMALL_INTS.get(n) or Literal(n)
    if string is not None:
        return Literal(string)
    return _TRUE if boolean.lower() == "true" else _FALSE


def parse_old_line(line: str) -> tuple[str, Node] | None:
    """``Name = expr`` of old syntax, or ``None`` for a line HTCondor's
    old-syntax reader rejects.

    As in HTCondor, the name is everything before the first ``=`` (taken
    literally, so ``'a b'`` keeps its quotes), and the value ends at a
    ``;`` (``a = 1; b = 2`` defines only ``a``).
    """
    eq = line.find("=")
    if eq <= 0:
        return None
    name = line[:eq].strip()
    if not name:
        return None
    text = line[eq + 1:]
    quick = _quick_literal(text)
    if quick is not None:
        return name, quick
    text = old_strings_to_new(text)
    try:
        if ";" not in text:  # the usual case: whole text, through the cache
            return name, _parse_cached(text.strip(), is_strict())
        toks = tokenize(text, is_strict())
        depth = 0
        for n, tok in enumerate(toks):
            kind = tok[0]
            if kind == "LBRACK" or kind == "LBRACE" or kind == "LPAR":
                depth += 1
            elif kind == "RBRACK" or kind == "RBRACE" or kind == "RPAR":
                depth -= 1
            elif kind == "SEMI" and depth == 0:
                del toks[n:]
                break
        return name, parse_tokens(toks, text)
    except ClassAdSyntaxError:
        _log.debug("old-syntax line rejected: %r", line)
        return None


def iter_new_ads(text: str) -> Iterator[tuple[RecordExpr, int]]:
    """Parse consecutive new-syntax ads ``[ ... ]`` from *text*.

    Yields ``(record, end offset)`` for each ad; the text is tokenized once.
    Raises :class:`ClassAdSyntaxError` at the first thing that is not an ad.
    """
    toks = tokenize(text, is_strict())
    n = len(toks)
    i = 0
    while i < n:
        first = toks[i]
        if first[0] != "LBRACK":
            raise ClassAdSyntaxError("expected '[' to start a ClassAd", text, first[2])
        depth = 0
        j = i
        while j < n:
            t = toks[j][0]
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
            raise ClassAdSyntaxError("expected a ClassAd", text, first[2])
        yield node, toks[j][3]
        i = j + 1
