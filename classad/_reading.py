"""Reading ads from text or files: parse_one, parse_ads, parse_next.

Three syntaxes, as HTCondor reads them:

* new: ``[ a = 1; b = "x" ]`` ads one after another;
* old: one ``Name = expr`` per line, ads separated by blank lines, ``#``
  comment lines; lenient like HTCondor's reader: an ad ends quietly at its
  first line that does not parse;
* JSON: handed to :mod:`classad._json`.

``ParserType.Auto`` looks at the first significant character: ``[`` is new
syntax, ``{`` is JSON, anything else old syntax.
"""

from __future__ import annotations

import enum
import io
import logging
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from ._classad import ClassAd
from ._errors import ClassAdSyntaxError
from ._lexer import tokenize
from ._parser import iter_new_ads, parse_old_line

__all__ = ["ParserType", "parse_one", "parse_ads", "parse_next", "quote", "unquote"]

_log = logging.getLogger(__name__)


class ParserType(enum.IntEnum):
    """Which syntax to read (values as in HTCondor's bindings)."""

    Auto = -1
    Old = 0
    XML = 1
    JSON = 2
    New = 3
    FileAuto = 4


def _text_of(source: str | IO[str] | Iterable[str]) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, (bytes, bytearray)):
        raise TypeError("ClassAd text must be str, not bytes (decode it first)")
    if isinstance(source, io.IOBase) or hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, str):
            raise TypeError("ClassAd files must be opened in text mode")
        return data
    if isinstance(source, Iterable):
        return "".join(source)
    raise TypeError(f"cannot read ClassAds from a {type(source).__name__}")


_LEADING = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)


def _detect(text: str, pos: int = 0) -> ParserType:
    """New syntax if the first thing after blanks and comments is ``[``,
    JSON if it is ``{``, old syntax otherwise."""
    i = _LEADING.match(text, pos).end()  # type: ignore[union-attr]
    if text.startswith("[", i):
        return ParserType.New
    if text.startswith("{", i):
        return ParserType.JSON
    return ParserType.Old


def _resolve(parser: Any, text: str, pos: int = 0) -> ParserType:
    try:
        parser = ParserType(parser)
    except ValueError:
        raise ValueError(f"unknown parser type {parser!r}") from None
    if parser in (ParserType.Auto, ParserType.FileAuto):
        return _detect(text, pos)
    if parser is ParserType.XML:
        raise ValueError("XML ClassAds are not supported")
    return parser


def _lines(text: str) -> list[str]:
    """*text* split after each newline, the newlines kept."""
    lines = text.split("\n")
    out = [ln + "\n" for ln in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _old_ads(text: str) -> Iterator[tuple[ClassAd, int]]:
    """Old-syntax ads separated by blank lines, with their end offsets."""
    ad: ClassAd | None = None
    broken = False  # HTCondor stops reading an ad at its first bad line
    offset = 0
    # Lines end at "\n" only: str.splitlines() would also break at \v, \f
    # or U+0085, which old syntax writes raw inside strings.
    for line in _lines(text):
        offset += len(line)
        stripped = line.strip()
        if not stripped:
            if ad is not None:
                yield ad, offset
                ad = None
                broken = False
            continue
        if stripped.startswith("#"):
            continue
        if ad is None:
            ad = ClassAd()
        if broken:
            continue
        parsed = parse_old_line(stripped)
        if parsed is None:
            _log.debug("old-syntax ad ends at bad line %r", stripped)
            broken = True
            continue
        ad._set_node(*parsed)
    if ad is not None:
        yield ad, offset


def _new_ads(text: str) -> Iterator[tuple[ClassAd, int]]:
    for record, end in iter_new_ads(text):
        ad = ClassAd()
        ad._load_record(record)
        yield ad, end


def _json_ads(text: str) -> Iterator[tuple[ClassAd, int]]:
    from ._json import parse_json_ads  # the JSON engineer's module

    yield from parse_json_ads(text)


_READERS = {ParserType.Old: _old_ads, ParserType.New: _new_ads, ParserType.JSON: _json_ads}


def parse_ads(source: str | IO[str] | Iterable[str],
              parser: ParserType = ParserType.Auto) -> Iterator[ClassAd]:
    """Every ad in *source* (a string, a text file or an iterable of lines)."""
    text = _text_of(source)
    kind = _resolve(parser, text)
    for ad, _end in _READERS[kind](text):
        yield ad


def parse_one(source: str | IO[str] | Iterable[str],
              parser: ParserType = ParserType.Auto) -> ClassAd:
    """All of *source* as one ad (later ads' attributes override earlier
    ones', as HTCondor's ``parseOne`` merges them)."""
    text = _text_of(source)
    kind = _resolve(parser, text)
    ads = [ad for ad, _end in _READERS[kind](text)]
    if len(ads) == 1:
        return ads[0]
    merged = ClassAd()
    for ad in ads:
        for low, node in ad._exprs.items():
            merged._set_node(ad._spelling(low), node)
    return merged


def parse_next(text: str, parser: ParserType = ParserType.Auto,
               offset: int = 0) -> tuple[ClassAd | None, int]:
    """The next ad in *text* from *offset*: ``(ad, offset after it)``, or
    ``(None, len(text))`` when no ad is left."""
    if not isinstance(text, str):
        raise TypeError(f"parse_next() reads a str, not {type(text).__name__}")
    if not 0 <= offset <= len(text):
        raise ValueError(f"offset {offset} is outside the text")
    rest = text[offset:]
    kind = _resolve(parser, rest)
    for ad, end in _READERS[kind](rest):
        return ad, offset + end
    return None, len(text)


def quote(s: str) -> str:
    """*s* as a ClassAd string literal."""
    if not isinstance(s, str):
        raise TypeError(f"quote() takes a str, not {type(s).__name__}")
    from ._unparse import quote_string

    return quote_string(s)


def unquote(s: str) -> str:
    """The string a ClassAd string literal stands for."""
    if not isinstance(s, str):
        raise TypeError(f"unquote() takes a str, not {type(s).__name__}")
    toks = tokenize(s)
    if len(toks) != 1 or toks[0][0] != "CONST" or toks[0][1].value.__class__ is not str \
            or not s.strip().startswith('"'):
        raise ClassAdSyntaxError("not a quoted ClassAd string", s, 0)
    return toks[0][1].value
