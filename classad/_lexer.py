"""The ClassAd tokenizer: one compiled master regex, HTCondor's lexical rules.

Why a hand-made lexer instead of lark's: the parser's speed target (15,000
cold job expressions a second) is out of reach with lark's standard lexer, and
several ClassAd rules are contextual anyway (a ``-`` glued to a digit lexes
into the number unless it follows an operand; adjacent string literals
concatenate; keywords are case-insensitive while quoted names never are
keywords).  :func:`tokenize` produces a list of :class:`Tok` for the parsers of
:mod:`classad._fastparse` and :mod:`classad._parser`.  It is the full path:
a single expression is first tried by :mod:`classad._quicklex`, which
leaves out positions; texts that path declines (every error among them)
come here, so every error position comes from this module.

Tokens are ``(type, value, start, end)`` tuples.  Constants come out
already converted: a ``CONST`` token's value is a :class:`classad._ast.Literal`
(shared: the keywords, and integers and short strings from bounded
tables), a ``NAME`` token's value the unquoted, interned name.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ._ast import Literal
from ._errors import ClassAdSyntaxError
from ._values import ERROR, INT64_MAX, INT64_MIN, UNDEFINED

__all__ = ["Tok", "tokenize", "unescape_string", "old_strings_to_new", "OPERAND_END"]

# Token types handed to lark (declared in classad.lark).
_OPS = {
    "*": "BINOP", "/": "BINOP", "%": "BINOP",
    "<<": "BINOP", ">>": "BINOP", ">>>": "BINOP",
    "<": "BINOP", "<=": "BINOP", ">": "BINOP", ">=": "BINOP",
    "==": "BINOP", "!=": "BINOP", "=?=": "BINOP", "=!=": "BINOP",
    "&": "BINOP", "^": "BINOP", "|": "BINOP", "&&": "BINOP", "||": "BINOP",
    "+": "ADDOP", "-": "ADDOP",
    "!": "NOTOP", "~": "NOTOP",
    "?": "QMARK", ":": "COLON", ",": "COMMA", ";": "SEMI",
    "=": "ASSIGN", "(": "LPAR", ")": "RPAR", "{": "LBRACE", "}": "RBRACE",
    "[": "LBRACK", "]": "RBRACK",
}
# Operators normalised to the spelling the new-syntax unparser prints.
_OP_SPELLING = {"=?=": "is", "=!=": "isnt"}

_KEYWORD_TOKENS = {
    "true": ("CONST", Literal(True)),
    "false": ("CONST", Literal(False)),
    "undefined": ("CONST", Literal(UNDEFINED)),
    "error": ("CONST", Literal(ERROR)),
    "is": ("BINOP", "is"),
    "isnt": ("BINOP", "isnt"),
}

# ``findall`` walks the whole text in one C call and hands back, per token,
# the whitespace before it and the token text; positions follow from the
# lengths, so the Python loop below makes no method call per token.  The
# kind is found by one dict lookup (operators, keywords and every name seen
# so far are in :data:`_KNOWN`), else by the first character.  The last
# alternative takes any other character, so nothing is ever skipped
# silently; only trailing whitespace is left unmatched.
_MASTER = re.compile(
    r"""(\s*)(
      //[^\n]*|/\*.*?\*/
    | [A-Za-z_][A-Za-z0-9_]*
    | >>>|>>|<<|<=|>=|==|!=|=\?=|=!=|&&|\|\||\?\s*:|[-+*/%<>&|^!~?:,;=(){}\[\]]
    | (?:\d+\.\d+|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+
    | \d+\.(?!\d)|\d+[eE](?![+-]?\d)
    | 0[xX][0-9A-Fa-f]+|\d+
    | \.\.?
    | "(?:[^"\\]|\\.)*"
    | '(?:[^'\\]|\\.)*'
    | \S
    )""",
    re.VERBOSE | re.DOTALL,
)

#: Token types after which a ``-`` is a binary operator, not a sign.
OPERAND_END = frozenset({"CONST", "NAME", "RPAR", "RBRACK", "RBRACE"})

#: A token is a tuple ``(type, value, start, end)``: tuples are the cheapest
#: thing Python can build, and the parser is the only consumer.
Tok = tuple

def _spellings(word: str) -> list[str]:
    """Every upper/lower-case spelling of *word*."""
    out = [""]
    for ch in word:
        out = [p + c for p in out for c in {ch.lower(), ch.upper()}]
    return out


_OP_TOKENS = {op: (kind, _OP_SPELLING.get(op, op)) for op, kind in _OPS.items()}

#: Token text -> (type, value) for every text whose kind the text alone
#: decides: operators, ``.``/``..``, the keywords in every spelling (a table
#: spares the lexer a lower() call per identifier), and - added as they are
#: met, up to :data:`_KNOWN_LIMIT` - plain names with their interned value.
_STATIC: dict[str, tuple[str, Any]] = {
    **_OP_TOKENS,
    "?:": ("ELVIS", "?:"), ".": ("DOT", "."), "..": ("DOT", "."),  # HTCondor reads x..a as x.a
    **{spelling: tok for word, tok in _KEYWORD_TOKENS.items() for spelling in _spellings(word)},
}
_KNOWN: dict[str, tuple[str, Any]] = dict(_STATIC)
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_KNOWN_LIMIT = 20_000

# Literals are immutable and compiled per node, so one node serves every
# occurrence of a common constant ("X86_64", 1048576): fewer objects for the
# garbage collector to walk and for parsed ads to hold.  Bounded tables;
# long strings are not kept (they are rarely repeated, and large).
_INTS: dict[int, Literal] = {}
_STRINGS: dict[str, Literal] = {}
_CONST_LIMIT = 20_000
_SHARED_STRING_MAX = 64


def _int_literal(value: int) -> Literal:
    """The shared ``Literal(value)`` for an int64 *value*."""
    node = _INTS.get(value)
    if node is None:
        if len(_INTS) >= _CONST_LIMIT:
            _INTS.clear()
        node = _INTS[value] = Literal(value)
    return node


def _string_literal(value: str) -> Literal:
    """A ``Literal(value)`` for a string, shared when it is short."""
    node = _STRINGS.get(value)
    if node is None:
        if len(value) > _SHARED_STRING_MAX:
            return Literal(value)
        if len(_STRINGS) >= _CONST_LIMIT:
            _STRINGS.clear()
        node = _STRINGS[value] = Literal(value)
    return node


def _name_token(name: str) -> tuple[str, Any]:
    """The ``(type, value)`` of an identifier met for the first time."""
    global _KNOWN
    if len(_KNOWN) >= _KNOWN_LIMIT + len(_STATIC):
        # A fresh table rather than clear(): a tokenize() running in another
        # thread keeps the old one, and never sees the operators missing.
        _KNOWN = dict(_STATIC)
    kv = _KNOWN[name] = ("NAME", sys.intern(name))
    return kv


_SIMPLE_ESCAPES = {
    '"': b'"', "'": b"'", "?": b"?", "\\": b"\\", "a": b"\a", "b": b"\b",
    "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
}
_ESCAPE = re.compile(r"\\([0-3][0-7]{0,2}|[4-7][0-7]?|.)", re.DOTALL)


def unescape_string(body: str) -> str | None:
    """Decode the inside of a string literal; ``None`` if it holds a NUL.

    New syntax knows C's escapes plus octal; any other escaped character
    stands for itself.
    Octal escapes are bytes: the result is the UTF-8 decoding of the byte
    string (undecodable bytes kept as surrogates so nothing is lost).
    """
    if "\\" not in body:
        return None if "\0" in body else body
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
    raw = b"".join(parts)
    if b"\0" in raw:
        return None
    return raw.decode("utf-8", "surrogateescape")


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
    if len(text) > 19:
        return INT64_MIN if negative and text.lstrip("0") == "9223372036854775808" else 0
    n = -int(text) if negative else int(text)
    return n if INT64_MIN <= n <= INT64_MAX else 0


def tokenize(text: str, strict: bool = False) -> list[Tok]:
    """Split *text* into ``(type, value, start, end)`` tokens; raise
    :class:`ClassAdSyntaxError` on anything the ClassAd lexer rejects.

    *strict* selects strict-mode integer rules (leading zeros allowed).
    """
    toks: list[Tok] = []
    append = toks.append
    known = _KNOWN
    pos = 0
    last_string = -1  # index of a string token that a next string extends
    for ws, raw in _MASTER.findall(text):
        start = pos + len(ws)
        pos = start + len(raw)
        kv = known.get(raw)
        if kv is not None:  # operators, keywords, names met before
            append((kv[0], kv[1], start, pos))
            continue
        c = raw[0]
        if c == '"':
            if len(raw) == 1:
                _bad_character(text, start)
            body = raw[1:-1]
            if "\\" in body or "\0" in body:
                unescaped = unescape_string(body)
                if unescaped is None:
                    raise ClassAdSyntaxError("NUL character in a string literal", text, start)
                body = unescaped
            if last_string == len(toks) - 1 and last_string >= 0:  # "a" "b" is "ab"
                prev = toks[-1]
                toks[-1] = ("CONST", Literal(prev[1].value + body), prev[2], pos)
            else:
                append(("CONST", _string_literal(body), start, pos))
            last_string = len(toks) - 1
        elif c in _NAME_START:
            kv = _name_token(raw)
            append((kv[0], kv[1], start, pos))
        elif c.isdecimal() or c == ".":  # \\d is any Unicode decimal digit
            _number(toks, raw, start, pos, strict, text)
        elif c == "'":
            if len(raw) == 1:
                _bad_character(text, start)
            unquoted = unescape_string(raw[1:-1])
            if unquoted is None:
                raise ClassAdSyntaxError("NUL character in a quoted attribute name", text, start)
            append(("NAME", sys.intern(unquoted), start, pos))
        elif c == "?":  # '?' and ':' apart, still one Elvis operator
            append(("ELVIS", "?:", start, pos))
        elif c != "/":  # '/' here starts a comment, which is skipped
            _bad_character(text, start)
    return toks


def _number(toks: list[Tok], raw: str, start: int, end: int, strict: bool, text: str) -> None:
    """Append the ``CONST`` token for the number *raw*, taking in a ``-``
    glued to it when that is a sign rather than a binary operator."""
    last = raw[-1]
    if last == "." or last == "e" or last == "E":
        if not raw.startswith(("0x", "0X")):
            raise ClassAdSyntaxError(f"malformed number {raw!r}", text, start)
    # A '-' glued to the number, not after an operand, is its sign.
    negative = bool(toks and toks[-1][1] == "-" and toks[-1][3] == start
                    and (len(toks) < 2 or toks[-2][0] not in OPERAND_END))
    if negative:
        start = toks.pop()[2]
    if raw.isdecimal() or raw.startswith(("0x", "0X")):
        toks.append(("CONST", _int_literal(_int_value(raw, negative, strict, start, text)), start, end))
    else:
        toks.append(("CONST", Literal(-float(raw) if negative else float(raw)), start, end))


def _bad_character(text: str, pos: int) -> None:
    """Raise the error for the character at *pos*, which starts no token."""
    if text.startswith("/*", pos):
        raise ClassAdSyntaxError("unterminated comment", text, pos)
    if text[pos] in "\"'":
        raise ClassAdSyntaxError("unterminated quoted text", text, pos)
    raise ClassAdSyntaxError(f"unexpected character {text[pos]!r}", text, pos)


def old_strings_to_new(text: str) -> str:
    """Rewrite the string literals of an old-syntax value in new syntax.

    Old syntax has one escape, ``\\"``, and takes every other backslash
    literally; a ``\\"`` that ends the line is a literal backslash and the
    closing quote (so ``print_old``'s ``"x\\"`` reads back as ``x\\``).
    HTCondor converts old values the same way before parsing them.
    """
    if "\\" not in text:
        return text
    out: list[str] = []
    in_string = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if in_string and c == "\\":
            if i + 1 < n and text[i + 1] == '"' and text[i + 2:].strip():
                out.append('\\"')
                i += 2
                continue
            out.append("\\\\")
        else:
            out.append(c)
            if c == '"':
                in_string = not in_string
        i += 1
    return "".join(out)

