"""The cold-parse fast path's tokenizer: words without positions.

Why a second tokenizer: :func:`classad._lexer.tokenize` builds a
``(type, value, start, end)`` tuple per token in a Python loop, and that
loop cost more than the regex and the descent parser together.  Positions
are only ever read to word a syntax error, and the descent parser declines
every text with an error to the reference path anyway.  So here one regex
``findall`` returns the bare words (whitespace outside the only group), and
one list comprehension turns each into a shared ``(kind, value)`` token
from :data:`_WORDS`: no tuple is built for a word met before.

Two merges cut the token count: ``base.name`` (no blanks around the dot)
is one ``SELECT`` word whose value is the shared select node, and a ``-``
glued to a number is one word; a sign when no operand precedes it, else
split back into the binary ``-`` and the number (the ``tokenize`` rule).

Anything outside the common subset - comments, quoted names, escapes that
hide a NUL, numbers with a leading zero, hex, malformed numbers, keywords
around a dot, characters no token starts with - makes :func:`quick_tokens`
return ``None``, and the text takes the full path (``tokenize`` and the
parsers), which raises the exact error with its position.  Adjacent string
literals (which concatenate) come out as two ``CONST`` tokens in a row,
which no parse accepts, so they are declined too.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ._ast import Literal
from ._fastparse import END, shared_select
from ._lexer import _STATIC, Tok, _int_literal, _int_value, _string_literal, unescape_string

__all__ = ["quick_tokens"]


class _Decline(Exception):
    """A word outside the fast path's subset."""


# The words of _lexer._MASTER, split the same way (every alternative of it
# is here, so no text splits differently), plus the two merges.  sre tries
# the alternatives in order, so the commonest come first (measured on job
# Requirements: 20% faster than names first); every multi-character
# operator before the single characters; '//' and '/*' before the '/'
# operator; numbers before the '.' and '-' operators.  [0-9], not \d:
# other decimal digits fall to the last alternative and are declined.
_WORD = re.compile(
    r"""\s*(
      [()]|&&|==|>=|<=|\|\||!=|=\?=|=!=|>>>|>>|<<|\?\s*:
    | [A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?
    | -?(?:(?:[0-9]+\.[0-9]+|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+
        |[0-9]+\.(?![0-9])|[0-9]+[eE](?![+-]?[0-9])|0[xX][0-9A-Fa-f]+|[0-9]+)
    | //[^\n]*|/\*.*?\*/
    | [-+*/%<>&|^!~?:,;=(){}\[\]]
    | "[^"\\]*(?:\\.[^"\\]*)*"
    | \.\.?
    | \S
    )""",
    re.VERBOSE | re.DOTALL,
)

#: Word -> token for operators, keywords and every name, select and short
#: string met so far (bounded: a fresh copy of the static part when full).
_WORDS: dict[str, tuple[str, Any]] = dict(_STATIC)
_WORDS_LIMIT = 20_000

_KEYWORDS = frozenset({"true", "false", "undefined", "error", "is", "isnt"})
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NUMBER_START = frozenset("-.0123456789")
#: Token kinds after which a glued ``-`` is the binary operator.
_OPERAND_END = frozenset({"CONST", "NAME", "SELECT", "RPAR", "RBRACK", "RBRACE"})
_MINUS = _STATIC["-"]
_SHARED_STRING_MAX = 64  # as _lexer: longer strings are not kept


def quick_tokens(text: str) -> list[Tok] | None:
    """*text* as ``(kind, value)`` tokens ending with :data:`END`, or
    ``None`` when it holds anything this fast path leaves to ``tokenize``."""
    get = _WORDS.get
    try:
        toks = [get(w) or _new_word(w) for w in _WORD.findall(text)]
        if "-" in text:
            toks = _signs(toks)
    except _Decline:
        return None
    toks.append(END)
    return toks


def _remember(word: str, tok: tuple[str, Any]) -> tuple[str, Any]:
    global _WORDS
    if len(_WORDS) >= _WORDS_LIMIT + len(_STATIC):
        # A fresh table rather than clear(): a quick_tokens() running in
        # another thread keeps the old one, operators and all.
        _WORDS = dict(_STATIC)
    _WORDS[word] = tok
    return tok


def _new_word(word: str) -> tuple[str, Any]:
    """The token for a word not in :data:`_WORDS` (remembered when it is
    a name, a select or a short string); :class:`_Decline` when the word
    is outside the subset."""
    c = word[0]
    if c in _NAME_START:
        if "." not in word:  # keywords are all in the table
            return _remember(word, ("NAME", sys.intern(word)))
        base, name = word.split(".")
        if base.lower() in _KEYWORDS or name.lower() in _KEYWORDS:
            raise _Decline
        return _remember(word, ("SELECT", shared_select(sys.intern(base), sys.intern(name))))
    if c == '"':
        if len(word) == 1:
            raise _Decline  # unterminated
        body = word[1:-1]
        if "\\" in body or "\0" in body:
            unescaped = unescape_string(body)
            if unescaped is None:
                raise _Decline  # a NUL
            body = unescaped
        tok = ("CONST", _string_literal(body))
        return _remember(word, tok) if len(body) <= _SHARED_STRING_MAX else tok
    if c in _NUMBER_START:
        if c == "-":
            return ("SIGNED", word)  # see _signs
        return _number(word, False)
    if c == "?":  # '?' and ':' apart, still one Elvis operator
        return ("ELVIS", "?:")
    raise _Decline  # comments, quoted names, stray characters


def _number(digits: str, negative: bool) -> tuple[str, Any]:
    """The ``CONST`` token of an unsigned number word."""
    last = digits[-1]
    if last == "." or last == "e" or last == "E" or digits[:2] in ("0x", "0X"):
        raise _Decline  # malformed, or hex
    if digits.isdigit():
        if len(digits) > 1 and digits[0] == "0":
            raise _Decline  # an error or not depending on the mode
        return ("CONST", _int_literal(_int_value(digits, negative, False, 0, digits)))
    value = float(digits)
    return ("CONST", Literal(-value if negative else value))


def _signs(toks: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Resolve the ``SIGNED`` words: after an operand the ``-`` is the
    binary operator, anywhere else the number's sign."""
    out: list[tuple[str, Any]] = []
    for tok in toks:
        if tok[0] == "SIGNED":
            if out and out[-1][0] in _OPERAND_END:
                out.append(_MINUS)
                out.append(_number(tok[1][1:], False))
            else:
                out.append(_number(tok[1][1:], True))
        else:
            out.append(tok)
    return out
