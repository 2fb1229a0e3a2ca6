"""The ClassAd tokenizer: one compiled master regex, HTCondor's lexical rules.

Why a hand-made lexer instead of lark's: the parser's speed target (15,000
cold job expressions a second) is out of reach with lark's standard lexer, and
several ClassAd rules are contextual anyway (a ``-`` glued to a digit lexes
into the number unless it follows an operand; adjacent string literals
concatenate; keywords are case-insensitive while quoted names never are
keywords).  :func:`tokenize` produces a list of :class:`Tok` that
:mod:`classad._parser` feeds to lark's LALR parser.

Constants come out already converted: a ``CONST`` token's value is a
:class:`classad._ast.Literal`, a ``NAME`` token's value the unquoted name.
"""

from __future__ import annotations

import re
import sys

from ._ast import Literal
from ._errors import ClassAdSyntaxError
from ._values import ERROR, INT64_MAX, INT64_MIN, UNDEFINED

__all__ = ["Tok", "tokenize", "unescape_string", "OPERAND_END"]

# Token types handed to lark (declared in classad.lark).
_OPS = {
    "*": "BINOP", "/": "BINOP", "%": "BINOP",
    "<<": "BINOP", ">>": "BINOP", ">>>": "BINOP",
    "<": "BINOP", "<=": "BINOP", ">": "BINOP", ">=": "BINOP",
    "==": "BINOP", "!=": "BINOP", "=?=": "BINOP", "=!=": "BINOP",
    "&": "BINOP", "^": "BINOP", "|": "BINOP", "&&": "BINOP", "||": "BINOP",
    "+": "ADDOP", "-": "ADDOP",
    "!": "NOTOP", "~": "NOTOP",
    "?": "QMARK", ":": "COLON", ".": "DOT", ",": "COMMA", ";": "SEMI",
    "=": "ASSIGN", "(": "LPAR", ")": "RPAR", "{": "LBRACE", "}": "RBRACE",
    "[": "LBRACK", "]": "RBRACK",
}
# Operators normalised to the spelling the new-syntax unparser prints.
_OP_SPELLING = {"=?=": "is", "=!=": "isnt"}

_KEYWORD_CONSTS = {
    "true": True,
    "false": False,
    "undefined": UNDEFINED,
    "error": ERROR,
}

_MASTER = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<real>(?:\d+\.\d+|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<badreal>\d+\.(?!\d)|\d+[eE](?![+-]?\d))
  | (?P<int>0[xX][0-9A-Fa-f]+|\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<qname>'(?:[^'\\]|\\.)*')
  | (?P<elvis>\?\s*:)
  | (?P<op>>>>|>>|<<|<=|>=|==|!=|=\?=|=!=|&&|\|\||[-+*/%<>&|^!~?:.,;=(){}\[\]])
    """,
    re.VERBOSE | re.DOTALL,
)

#: Token types after which a ``-`` is a binary operator, not a sign.
OPERAND_END = frozenset({"CONST", "NAME", "RPAR", "RBRACK", "RBRACE"})


class Tok:
    """A token in the shape lark's LALR parser needs (type, value and the
    position attributes it reads when it reports an error)."""

    __slots__ = ("type", "value", "start_pos", "end_pos", "line", "column",
                 "end_line", "end_column")

    def __init__(self, type_: str, value: object, start: int, end: int) -> None:
        self.type = type_
        self.value = value
        self.start_pos = start
        self.end_pos = end
        # lark reads these only to report an error; ours are computed from
        # start_pos (see classad._parser).
        self.line = self.column = self.end_line = self.end_column = None

    def __repr__(self) -> str:
        return f"Tok({self.type}, {self.value!r}, {self.start_pos})"


_SIMPLE_ESCAPES = {
    '"': b'"', "'": b"'", "?": b"?", "\\": b"\\", "a": b"\a", "b": b"\b",
    "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
}
_ESCAPE = re.compile(r"\\([0-3][0-7]{0,2}|[4-7][0-7]?|.)", re.DOTALL)


def unescape_string(body: str, old: bool = False) -> str | None:
    """Decode the inside of a string literal; ``None`` if it holds a NUL.

    New syntax knows C's escapes plus octal; any other escaped character
    stands for itself.  Old syntax (``old=True``) escapes only ``"``.
    Octal escapes are bytes: the result is the UTF-8 decoding of the byte
    string (undecodable bytes kept as surrogates so nothing is lost).
    """
    if "\\" not in body:
        return None if "\0" in body else body
    if old:
        out = body.replace('\\"', '"')
        return None if "\0" in out else out
    parts: list[bytes] = []
    pos = 0
    for m in _ESCAPE.finditer(body):
        parts.append(body[pos:m.start()].encode("utf-8", "surrogateescape"))
        esc = m.group(1)
        if esc[0] in "01234567":
            code = int(esc, 8)
            if code == 0:
                return None
            parts.append(bytes((code,)))
        else:
            parts.append(_SIMPLE_ESCAPES.get(esc, esc.encode("utf-8", "surrogateescape")))
        pos = m.end()
    parts.append(body[pos:].encode("utf-8", "surrogateescape"))
    out = b"".join(parts)
    if b"\0" in out:
        return None
    return out.decode("utf-8", "surrogateescape")


def _int_value(text: str, negative: bool, strict: bool, start: int, source: str) -> int:
    """The int64 value of an integer literal (out of range gives 0, as
    HTCondor's ``from_chars`` leaves it)."""
    if len(text) > 1 and text[0] == "0" and not strict:
        raise ClassAdSyntaxError(
            "integer literal with a leading zero (octal/hex are not supported)",
            source, start,
        )
    if text[:2] in ("0x", "0X"):
        return 0  # HTCondor reads these with base 10 and stops at the 'x'
    n = -int(text) if negative else int(text)
    return n if INT64_MIN <= n <= INT64_MAX else 0


def tokenize(text: str, strict: bool = False, old: bool = False) -> list[Tok]:
    """Split *text* into tokens; raise :class:`ClassAdSyntaxError` on
    anything the ClassAd lexer rejects.

    *strict* selects strict-mode integer rules (leading zeros allowed);
    *old* selects the old-syntax string escape rule.
    """
    toks: list[Tok] = []
    append = toks.append
    match = _MASTER.match
    pos = 0
    end = len(text)
    prev_type = ""
    last_was_string = False
    while pos < end:
        m = match(text, pos)
        if m is None:
            if text.startswith("/*", pos):
                raise ClassAdSyntaxError("unterminated comment", text, pos)
            if text[pos] in "\"'":
                raise ClassAdSyntaxError("unterminated quoted text", text, pos)
            raise ClassAdSyntaxError(f"unexpected character {text[pos]!r}", text, pos)
        kind = m.lastgroup
        start = pos
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "name":
            word = m.group()
            low = word.lower()
            if low in _KEYWORD_CONSTS:
                tok = Tok("CONST", Literal(_KEYWORD_CONSTS[low]), start, pos)
            elif low == "is" or low == "isnt":
                tok = Tok("BINOP", low, start, pos)
            else:
                tok = Tok("NAME", sys.intern(word), start, pos)
        elif kind == "op":
            op = m.group()
            tok = Tok(_OPS[op], _OP_SPELLING.get(op, op), start, pos)
        elif kind == "int" or kind == "real":
            raw = m.group()
            # A '-' glued to the number, not after an operand, is its sign.
            negative = (prev_type == "ADDOP" and toks[-1].value == "-"
                        and toks[-1].end_pos == start
                        and (len(toks) < 2 or toks[-2].type not in OPERAND_END))
            if negative:
                start = toks.pop().start_pos
            if kind == "int":
                value: int | float = _int_value(raw, negative, strict, start, text)
            else:
                value = -float(raw) if negative else float(raw)
            tok = Tok("CONST", Literal(value), start, pos)
        elif kind == "str":
            body = unescape_string(m.group()[1:-1], old)
            if body is None:
                raise ClassAdSyntaxError("NUL character in a string literal", text, start)
            if last_was_string:  # "a" "b" is "ab"
                last = toks[-1]
                last.value = Literal(last.value.value + body)
                last.end_pos = pos
                continue
            tok = Tok("CONST", Literal(body), start, pos)
            prev_type = "CONST"
            last_was_string = True
            append(tok)
            continue
        elif kind == "qname":
            name = unescape_string(m.group()[1:-1])
            if not name:
                raise ClassAdSyntaxError("empty or invalid quoted attribute name", text, start)
            tok = Tok("NAME", sys.intern(name), start, pos)
        elif kind == "elvis":
            tok = Tok("ELVIS", "?:", start, pos)
        else:  # badreal
            raise ClassAdSyntaxError(f"malformed number {m.group()!r}", text, start)
        prev_type = tok.type
        last_was_string = False
        append(tok)
    return toks

