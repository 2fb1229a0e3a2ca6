"""PCRE2 pattern syntax that Python's :mod:`re` spells differently.

HTCondor's regular-expression functions use PCRE2 (byte mode, not UTF).
Python's ``re`` on bytes agrees on almost everything; this rewrites the
constructs users of HTCondor patterns actually write and ``re`` does not
accept, so such patterns behave the same instead of being errors:

* POSIX classes inside brackets, ``[[:alpha:]_]`` (ASCII, as in the C locale);
* ``\\z`` (very end) and PCRE's ``\\Z`` (end, or before a final newline);
* named groups ``(?<name>...)`` / ``(?'name'...)`` and back references
  ``\\k<name>``, ``\\k'name'``, ``\\k{name}``, ``\\g{N}``;
* a literal ``[`` inside a class, which ``re`` would warn about as a
  possible nested set.

Anything else passes through unchanged; what ``re`` still rejects (PCRE
verbs, recursion, ``\\p`` properties) makes the function ERROR, as a bad
pattern does in HTCondor.
"""

from __future__ import annotations

import re

__all__ = ["pcre_to_python"]

_POSIX = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": "\\t\\n\\v\\f\\r ",
    "blank": " \\t",
    "punct": "!-/:-@\\[-`{-~",
    "xdigit": "0-9A-Fa-f",
    "word": "\\w",
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": " -~",
    "graph": "!-~",
    "ascii": "\\x00-\\x7f",
}
_POSIX_CLASS = re.compile(r"\[:([a-z]+):\]")
_NAMED = re.compile(r"\(\?(?:<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')")
_BACKREF = re.compile(r"\\(?:k<(\w+)>|k'(\w+)'|k\{(\w+)\}|g\{(\w+)\}|g(\d+))")


def pcre_to_python(pattern: str) -> str:
    """*pattern* with the PCRE-only spellings above rewritten for ``re``."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            m = _BACKREF.match(pattern, i)
            if m:
                ref = next(g for g in m.groups() if g is not None)
                out.append(f"\\{ref}" if ref.isdigit() else f"(?P={ref})")
                i = m.end()
                continue
            nxt = pattern[i + 1]
            out.append("\\Z" if nxt == "z" else "(?=\\n?\\Z)" if nxt == "Z" else pattern[i : i + 2])
            i += 2
        elif ch == "[":
            i = _bracket(pattern, i, out)
        elif ch == "(":
            m = _NAMED.match(pattern, i)
            if m:
                out.append(f"(?P<{m.group(1) or m.group(2)}>")
                i = m.end()
            else:
                out.append(ch)
                i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _bracket(pattern: str, i: int, out: list[str]) -> int:
    """Copy the character class starting at ``pattern[i] == "["``; returns
    the index after it (or after the pattern, if it is unterminated and
    ``re`` will complain)."""
    n = len(pattern)
    out.append("[")
    i += 1
    if i < n and pattern[i] == "^":
        out.append("^")
        i += 1
    if i < n and pattern[i] == "]":  # a leading ] is literal
        out.append("\\]")
        i += 1
    while i < n:
        ch = pattern[i]
        if ch == "]":
            out.append("]")
            return i + 1
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            m = _POSIX_CLASS.match(pattern, i)
            if m and m.group(1) in _POSIX:
                out.append(_POSIX[m.group(1)])
                i = m.end()
                continue
            out.append("\\[")
            i += 1
            continue
        out.append(ch)
        i += 1
    return i
