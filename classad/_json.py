"""HTCondor's JSON form of ClassAds (jsonSink.cpp / jsonSource.cpp).

An ad is a JSON object.  Literals map to JSON values (UNDEFINED is
``null``); lists are arrays and nested ads objects; everything else, an
expression, ERROR, a time, INF or NaN, is the string
``"\\/Expr(<new-syntax text>)\\/"``.  On input only that escaped spelling is
an expression: ``"/Expr(1)/"`` written without backslashes stays a string,
so ordinary strings can never be mistaken for code.

The output text matches ``classad2.ClassAd.printJson()`` (two-space
indentation, reals as ``%.16G``); :func:`dump_ads` writes the list form of
``condor_q -json``.  Input follows HTCondor's reader, which is lenient about
extra commas and the case of ``true``/``false``/``null``; JSON integers that
do not fit int64 read as 0, as HTCondor's do.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from classad._ast import ListExpr, Literal, Node, RecordExpr
from classad._errors import ClassAdSyntaxError
from classad._unparse import format_value, unparse
from classad._values import ERROR, INT64_MAX, INT64_MIN, UNDEFINED, AbsTime, RelTime

if TYPE_CHECKING:
    from classad._classad import ClassAd

__all__ = ["dump_ad", "dump_ads", "print_json", "load_ads", "parse_json_ads", "json_of_node"]

log = logging.getLogger(__name__)

_INDENT = 2


# --------------------------------------------------------------------------
# writing


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _escape_one(m: re.Match[str]) -> str:
    ch = m.group()
    return _SHORT_ESCAPES.get(ch) or f"\\u{ord(ch):04X}"


def _escape(text: str) -> str:
    """HTCondor's JSON string escaping: the usual short escapes, other
    control characters as ``\\u00XX``, everything else (``/`` and non-ASCII
    included) as it is."""
    return _NEEDS_ESCAPE.sub(_escape_one, text) if _NEEDS_ESCAPE.search(text) else text


def _quoted_expr(text: str) -> str:
    return '"\\/Expr(' + _escape(text) + ')\\/"'


def _real(v: float) -> str:
    if v == 0.0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    if math.isnan(v):
        return _quoted_expr('real("NaN")')
    if math.isinf(v):
        return _quoted_expr('real("INF")' if v > 0 else 'real("-INF")')
    text = f"{v:.16G}"
    if float(text) != v:
        # HTCondor stops at 16 digits and loses the last bit of some reals;
        # a 17th digit keeps the value exact (all others print identically).
        text = f"{v:.17G}"
    if not any(c in text for c in ".Ee"):
        text += ".0"
    return text


def _literal(v: Any) -> str:
    t = type(v)
    if t is str:
        return '"' + _escape(v) + '"'
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return _real(v)
    if v is UNDEFINED:
        return "null"
    if v is ERROR or t is AbsTime or t is RelTime:
        return _quoted_expr(format_value(v))
    raise TypeError(f"not a ClassAd literal: {v!r}")


def json_of_node(node: Node, level: int = 0) -> str:
    """The JSON text of one expression; *level* is the indentation of the
    line it starts on (nested objects and arrays indent from there)."""
    if type(node) is Literal:
        return _literal(node.value)
    if type(node) is RecordExpr:
        return _object(node.attrs, level)
    if type(node) is ListExpr:
        inner = level + _INDENT
        pad = " " * inner
        items = ",".join(f"\n{pad}{json_of_node(i, inner)}" for i in node.items)
        return "[" + items + "\n" + " " * level + "]"
    return _quoted_expr(unparse(node))


def _object(attrs: Iterable[tuple[str, Node]], level: int) -> str:
    inner = level + _INDENT
    pad = " " * inner
    body = ",".join(f'\n{pad}"{_escape(name)}": {json_of_node(n, inner)}' for name, n in attrs)
    return "{" + body + "\n" + " " * level + "}"


def dump_ad(ad: ClassAd) -> str:
    """One ad as HTCondor's ``printJson`` writes it (no trailing newline)."""
    return _object(ad._pairs(), 0)  # own and inherited attributes


#: ``ClassAd.print_json`` calls it by this name.
print_json = dump_ad


def dump_ads(ads: Iterable[ClassAd]) -> str:
    """Several ads as a JSON array, laid out as ``condor_q -json`` does;
    an empty sequence is ``[]``."""
    parts = [dump_ad(ad) for ad in ads]
    if not parts:
        return "[]\n"
    return "[\n" + "\n,\n".join(parts) + "\n]\n"


# --------------------------------------------------------------------------
# reading

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACES = re.compile(r"[ \t\n\r\v\f]*")
_CHUNK = re.compile(r'[^"\\]*')
_PLAIN_STRING = re.compile(r'"([^"\\\x00-\x1f]*)"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Reader:
    """A recursive-descent reader producing AST nodes, with positions for
    error messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, pos: int | None = None) -> ClassAdSyntaxError:
        return ClassAdSyntaxError(f"JSON: {message}", self.text, self.pos if pos is None else pos)

    def skip(self) -> str:
        """Skip white space; the next character, or "" at the end."""
        text = self.text
        pos = self.pos = _SPACES.match(text, self.pos).end()  # type: ignore[union-attr]
        return text[pos] if pos < len(text) else ""

    def value(self) -> Node:
        ch = self.skip()
        if ch == "{":
            return self.record()
        if ch == "[":
            return self.array()
        if ch == '"':
            return self.string()
        if ch == "-" or ch.isdigit():
            return self.number()
        m = _WORD.match(self.text, self.pos)
        if m:
            word = m.group().lower()
            if word in ("true", "false", "null"):
                self.pos = m.end()
                return Literal(UNDEFINED if word == "null" else word == "true")
            raise self.fail(f"unexpected word {m.group()!r}")
        if not ch:
            raise self.fail("unexpected end of input, expected a value")
        raise self.fail(f"unexpected character {ch!r}, expected a value")

    def record(self) -> RecordExpr:
        start = self.pos
        self.pos += 1  # {
        attrs: list[tuple[str, Node]] = []
        while True:
            ch = self.skip()
            if ch == "}":
                self.pos += 1
                return RecordExpr(attrs)
            if ch == ",":  # HTCondor skips stray commas between members
                self.pos += 1
                continue
            if ch != '"':
                if not ch:
                    raise self.fail("unterminated object", start)
                raise self.fail(f"expected an attribute name in quotes, found {ch!r}")
            name_pos = self.pos
            name = self.string_text()[0]
            if not name:
                raise self.fail("empty attribute name", name_pos)
            if self.skip() != ":":
                raise self.fail(f"expected ':' after attribute name {name!r}")
            self.pos += 1
            attrs.append((name, self.value()))
            ch = self.skip()
            if not ch:
                raise self.fail("unterminated object", start)
            if ch not in (",", "}"):
                raise self.fail("expected ',' or '}' after a value in an object")

    def array(self) -> ListExpr:
        start = self.pos
        self.pos += 1  # [
        items: list[Node] = []
        if self.skip() == "]":
            self.pos += 1
            return ListExpr(items)
        while True:
            if not self.skip():
                raise self.fail("unterminated array", start)
            items.append(self.value())
            ch = self.skip()
            if ch == "]":
                self.pos += 1
                return ListExpr(items)
            if ch != ",":
                raise self.fail("expected ',' or ']' after an array element")
            self.pos += 1

    def number(self) -> Literal:
        m = _NUMBER.match(self.text, self.pos)
        if m is None:
            raise self.fail("malformed number")
        end = m.end()
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "._"):
            raise self.fail("malformed number")
        self.pos = end
        text = m.group()
        if m.group(1) is None and m.group(2) is None:
            n = int(text)
            # HTCondor's from_chars leaves 0 behind on overflow.
            return Literal(n if INT64_MIN <= n <= INT64_MAX else 0)
        return Literal(float(text))

    def string_text(self) -> tuple[str, bool]:
        """Read a quoted string: its text, and whether it was written as
        ``"\\/ ... \\/"`` (the only spelling that may carry an expression)."""
        text = self.text
        start = self.pos
        m = _PLAIN_STRING.match(text, start)
        if m:  # no escapes at all: the usual case
            self.pos = m.end()
            return m.group(1), False
        i = start + 1
        out: list[str] = []
        while True:
            j = _CHUNK.match(text, i).end()  # type: ignore[union-attr]
            out.append(text[i:j])
            if j >= len(text):
                raise self.fail("unterminated string", start)
            if text[j] == '"':
                break
            if j + 1 >= len(text):
                raise self.fail("unterminated string", start)
            esc = text[j + 1]
            if esc == "u":
                ch, i = self.unicode_escape(j)
                out.append(ch)
                continue
            out.append(_ESCAPES.get(esc, esc))
            i = j + 2
        raw = text[start + 1 : j]
        self.pos = j + 1
        quoted = len(raw) >= 4 and raw.startswith("\\/") and raw.endswith("\\/")
        return "".join(out), quoted

    def unicode_escape(self, at: int) -> tuple[str, int]:
        """``\\uXXXX`` at *at* (a UTF-16 surrogate pair is joined): the
        character and the index after it."""
        code = self.hex4(at)
        end = at + 6
        if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", end):
            low = self.hex4(end)
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), end + 6
        if code == 0:
            raise self.fail("\\u0000 is not allowed in a ClassAd string", at)
        if 0xD800 <= code < 0xE000:
            raise self.fail("unpaired UTF-16 surrogate in \\u escape", at)
        return chr(code), end

    def hex4(self, at: int) -> int:
        digits = self.text[at + 2 : at + 6]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail("malformed \\u escape", at)
        return int(digits, 16)

    def string(self) -> Node:
        start = self.pos
        text, quoted = self.string_text()
        if quoted and text[:6].lower() == "/expr(" and text.endswith(")/"):
            from classad._parser import parse_expression

            try:
                return parse_expression(text[6:-2])
            except ClassAdSyntaxError as exc:
                raise self.fail(f"bad expression in {text!r}: {exc.reason}", start) from None
        return Literal(text)


def _records(text: str) -> Iterator[tuple[RecordExpr, int]]:
    """The ads in *text* as record nodes, each with the offset after it:
    one object, several objects one after another, or an array of objects."""
    r = _Reader(text)
    ch = r.skip()
    if ch == "[":
        start = r.pos
        r.pos += 1
        while True:
            ch = r.skip()
            if ch == "]":
                r.pos += 1
                break
            if ch == ",":
                r.pos += 1
                continue
            if ch != "{":
                if not ch:
                    raise r.fail("unterminated array of ads", start)
                raise r.fail(f"expected an ad (a JSON object), found {ch!r}")
            yield r.record(), r.pos
        if r.skip():
            raise r.fail("unexpected text after the array of ads")
        return
    while ch:
        if ch != "{":
            raise r.fail(f"expected an ad (a JSON object), found {ch!r}")
        yield r.record(), r.pos
        ch = r.skip()
        if ch == ",":
            r.pos += 1
            ch = r.skip()


def parse_json_ads(text: str) -> Iterator[tuple[ClassAd, int]]:
    """Each ad in *text* with the offset just after it (what
    ``classad.parse_ads``/``parse_next`` use for the JSON parser type)."""
    from classad._classad import ClassAd

    for record, end in _records(text):
        ad = ClassAd()
        ad._load_record(record)
        yield ad, end


def load_ads(text: str) -> Iterator[ClassAd]:
    """Parse *text* (one JSON object, several, or an array of them) into
    ClassAds.  Bad input raises :class:`ClassAdSyntaxError` naming the line
    and column."""
    for ad, _end in parse_json_ads(text):
        yield ad
