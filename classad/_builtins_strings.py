"""Built-ins: strings, version comparison and regular expressions.

ClassAd strings are byte strings: offsets, lengths and case folding are
byte-wise and ASCII-only, and regular expressions (PCRE2 in HTCondor, not in
UTF mode) run over bytes.  Python's :mod:`re` on bytes is used; the options
HTCondor reads are ``i m s x`` (lower case only) plus ``f`` and ``g`` for
substitution, and any other letter is ignored.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from classad._builtin_registry import builtin
from classad._builtin_support import c_int32, from_bytes, to_bytes, to_text
from classad._ops import casefold_ascii
from classad._pcre import pcre_to_python
from classad._values import ERROR, UNDEFINED

__all__ = ["compile_regex", "regex_search"]

log = logging.getLogger(__name__)


def _concat(args: tuple[Any, ...], is_join: bool) -> Any:
    """HTCondor's ``strCat`` for both strcat and join: each argument as
    text; ERROR wins; UNDEFINED stops strcat but is skipped by join; the
    result is UNDEFINED only if nothing at all was defined."""
    if not is_join and all(type(a) is str for a in args):
        return _rejoined("".join(args))  # the common case: nothing to convert
    if is_join and 1 <= len(args) <= 2 and type(args[-1]) is tuple:
        sep = args[0] if len(args) == 2 else ""
        args = (sep, *args[-1])
    out: list[str] = []
    sep_text = ""
    undefined = defined = False
    for i, a in enumerate(args):
        s = to_text(a)
        if s is ERROR:
            return ERROR
        if s is UNDEFINED:
            undefined = True
            if is_join:
                continue
            defined = False
            break
        if is_join:
            if i == 0:
                sep_text = s
                continue
            if any(out):  # HTCondor adds a separator only after some text
                out.append(sep_text)
        defined = True
        out.append(s)
    if undefined and not defined:
        return UNDEFINED
    return _rejoined("".join(out))


def _rejoined(text: str) -> str:
    """Pieces cut inside a UTF-8 character (substr works on bytes) joined
    back into the character they came from."""
    return text if text.isascii() else from_bytes(to_bytes(text))


@builtin("strcat", min_args=0, max_args=None)
def strcat(*args: Any) -> Any:
    """Concatenate the arguments as text (``strcat("a", 1)`` is ``"a1"``)."""
    return _concat(args, is_join=False)


@builtin("join", min_args=0, max_args=None)
def join(*args: Any) -> Any:
    """``join(sep, a, b...)``, ``join(sep, list)`` or ``join(list)``;
    UNDEFINED items are skipped."""
    return _concat(args, is_join=True)


def _case(name: str, convert: Any) -> None:
    def fn(v: Any) -> Any:
        s = to_text(v)
        if type(s) is not str:
            return s
        return from_bytes(convert(to_bytes(s)))

    fn.__name__ = name
    fn.__doc__ = f"``{name}(s)``: ASCII case change of the text of *s*."
    builtin(name, min_args=1, max_args=1)(fn)


_case("toUpper", bytes.upper)  # bytes methods fold ASCII only, like C toupper
_case("toLower", bytes.lower)


@builtin("substr", min_args=2, max_args=3)
def substr(s: Any, offset: Any, length: Any = None) -> Any:
    """Perl-like substring over bytes: negative offsets count from the end,
    a negative length stops that many bytes before the end."""
    if s is UNDEFINED or offset is UNDEFINED or length is UNDEFINED:
        return UNDEFINED
    if type(s) is not str or type(offset) is not int:
        return ERROR
    if length is not None and type(length) is not int:
        return ERROR
    data = to_bytes(s)
    n = len(data)
    off = c_int32(offset)
    ln = 0 if length is None else c_int32(length)
    if off < 0:
        off = max(n + off, 0)
    elif off >= n:
        off = n
    if ln <= 0:
        ln = max(n - off + ln, 0)
    elif ln > n - off:
        ln = n - off
    if length is not None and c_int32(length) == 0:
        ln = 0
    return from_bytes(data[off : off + ln])


def _strcmp(a: Any, b: Any, fold: bool) -> Any:
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    x, y = to_text(a), to_text(b)
    if type(x) is not str or type(y) is not str:
        return ERROR
    if fold:
        x, y = casefold_ascii(x), casefold_ascii(y)
    bx, by = to_bytes(x), to_bytes(y)
    return (bx > by) - (bx < by)


@builtin("strcmp", min_args=2, max_args=2)
def strcmp(a: Any, b: Any) -> Any:
    """-1, 0 or 1 comparing the texts of a and b byte-wise."""
    return _strcmp(a, b, fold=False)


@builtin("stricmp", min_args=2, max_args=2)
def stricmp(a: Any, b: Any) -> Any:
    """Like strcmp with ASCII case ignored."""
    return _strcmp(a, b, fold=True)


def natural_cmp(a: bytes, b: bytes) -> int:
    """HTCondor's ``natural_cmp`` (strverscmp-like): digit runs compare as
    numbers, and more leading zeros sort first.  The result is a signed
    difference, not just -1/0/1, exactly as HTCondor returns it."""

    def ch(s: bytes, i: int) -> int:
        if i >= len(s):
            return 0
        c = s[i]
        return c - 256 if c >= 128 else c  # C char is signed

    def isdigit(s: bytes, i: int) -> bool:
        return i < len(s) and 48 <= s[i] <= 57

    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    if ch(a, i) == ch(b, i):
        return 0
    n = i
    while n > 0 and isdigit(a, n - 1):
        n -= 1
    if n == i and (not isdigit(a, i) or not isdigit(b, i)):
        return ch(a, i) - ch(b, i)
    z1 = n
    while z1 < len(a) and a[z1] == 48:
        z1 += 1
    z2 = n
    while z2 < len(b) and b[z2] == 48:
        z2 += 1
    if z1 > n and not isdigit(a, z1):
        z1 -= 1
    if z2 > n and not isdigit(b, z2):
        z2 -= 1
    if z1 - n != z2 - n:
        return (z2 - n) - (z1 - n)
    if z1 > n:
        return ch(a, i) - ch(b, i)
    e1 = z1
    while isdigit(a, e1):
        e1 += 1
    e2 = z2
    while isdigit(b, e2):
        e2 += 1
    if e1 - n != e2 - n:
        return (e1 - n) - (e2 - n)
    return ch(a, i) - ch(b, i)


def _version_texts(*values: Any) -> Any:
    texts = [to_text(v) for v in values]
    if any(type(t) is not str for t in texts):
        return None
    return [to_bytes(t) for t in texts]


@builtin("versioncmp", min_args=2, max_args=2)
def versioncmp(a: Any, b: Any) -> Any:
    """Natural (version-number) comparison: negative, 0 or positive."""
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    texts = _version_texts(a, b)
    return ERROR if texts is None else natural_cmp(*texts)


def _version_test(name: str, test: Any) -> None:
    def fn(a: Any, b: Any) -> Any:
        r = versioncmp(a, b)
        return r if type(r) is not int else test(r)

    fn.__name__ = name
    fn.__doc__ = f"``{name}(a, b)``: versioncmp(a, b) tested against 0."
    builtin(name, min_args=2, max_args=2)(fn)


_version_test("versionGT", lambda r: r > 0)
_version_test("versionGE", lambda r: r >= 0)
_version_test("versionLT", lambda r: r < 0)
_version_test("versionLE", lambda r: r <= 0)
_version_test("versionEQ", lambda r: r == 0)


@builtin("version_in_range", min_args=3, max_args=3)
def version_in_range(v: Any, lo: Any, hi: Any) -> Any:
    """``lo <= v <= hi`` in version order.  (An UNDEFINED bound gives
    UNDEFINED, but an UNDEFINED version is ERROR, as in HTCondor.)"""
    if lo is UNDEFINED or hi is UNDEFINED:
        return UNDEFINED
    texts = _version_texts(v, lo, hi)
    if texts is None:
        return ERROR
    tv, tlo, thi = texts
    return natural_cmp(tlo, tv) <= 0 and natural_cmp(tv, thi) <= 0


_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


@lru_cache(maxsize=256)
def compile_regex(pattern: str, options: str) -> re.Pattern[bytes] | None:
    """Compile *pattern* (over bytes) with HTCondor option letters; None if
    the pattern is invalid."""
    flags = 0
    for letter, flag in _REGEX_FLAGS.items():
        if letter in options:
            flags |= flag
    try:
        return re.compile(to_bytes(pcre_to_python(pattern)), flags)
    except (re.error, OverflowError, RecursionError) as exc:
        log.debug("bad regular expression %r: %s", pattern, exc)
        return None


def regex_search(rx: re.Pattern[bytes], target: str) -> bool:
    """Does *rx* match anywhere in *target*?"""
    return rx.search(to_bytes(target)) is not None


def _expand(template: bytes, m: re.Match[bytes]) -> bytes | None:
    """A replacement with ``\\N`` group references; None (ERROR) when N is
    beyond the highest group that took part in the match."""
    highest = max((g for g in range(1, (m.re.groups or 0) + 1) if m.start(g) >= 0), default=0)
    out = bytearray()
    i = 0
    while i < len(template):
        c = template[i]
        if c == 0x5C and i + 1 < len(template) and 48 <= template[i + 1] <= 57:
            g = template[i + 1] - 48
            if g > highest:
                return None
            out += m.group(g) or b""
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def _substitute(rx: re.Pattern[bytes], target: bytes, repl: bytes, options: str) -> Any:
    """HTCondor's ``regexp_helper`` with a replacement.  Without ``f`` the
    result is only the replaced matches; with ``g`` every match is
    replaced.  An empty match is followed by a non-empty one tried at the
    same place, else one byte is copied; an empty match at the very end
    under ``g`` makes HTCondor fail (it runs past the string), so it gives
    ERROR here too."""
    full = "f" in options
    every = "g" in options
    out = bytearray()
    idx = 0
    after_empty = False
    while True:
        if after_empty:
            m = rx.match(target, idx)
            if m is None or m.end() == idx:
                if idx >= len(target):
                    return ERROR
                out.append(target[idx])
                idx += 1
                after_empty = False
                continue
        else:
            m = rx.search(target, idx)
            if m is None:
                break
        text = _expand(repl, m)
        if text is None:
            return ERROR
        if full:
            out += target[idx : m.start()]
        out += text
        idx = m.end()
        after_empty = m.start() == m.end()
        if not every:
            break
    if full:
        out += target[idx:]
    return from_bytes(bytes(out))


def _regex_args(*values: Any) -> Any:
    """ERROR if any argument is ERROR, else UNDEFINED if any is UNDEFINED,
    else None (HTCondor checks in that order for the regex functions)."""
    if any(v is ERROR for v in values):
        return ERROR
    if any(v is UNDEFINED for v in values):
        return UNDEFINED
    return None


@builtin("regexp", min_args=2, max_args=3)
def regexp(pattern: Any, target: Any, options: Any = "") -> Any:
    """Does the pattern match anywhere in the string?"""
    bad = _regex_args(pattern, target, options)
    if bad is not None:
        return bad
    if type(options) is not str or type(pattern) is not str or type(target) is not str:
        return ERROR
    rx = compile_regex(pattern, options)
    return ERROR if rx is None else regex_search(rx, target)


@builtin("regexpMember", min_args=2, max_args=3)
def regexp_member(pattern: Any, items: Any, options: Any = "") -> Any:
    """Does the pattern match some string of the list?  UNDEFINED elements
    make a no-match UNDEFINED; a bad pattern is simply no match (HTCondor's
    quirk)."""
    bad = _regex_args(pattern, items, options)
    if bad is not None:
        return bad
    if type(options) is not str or type(pattern) is not str or type(items) is not tuple:
        return ERROR
    rx = compile_regex(pattern, options)
    maybe = False
    for item in items:
        if type(item) is not str:
            if item is UNDEFINED:
                maybe = True
                continue
            return ERROR
        if rx is not None and regex_search(rx, item):
            return True
    return UNDEFINED if maybe else False


def _regex_subst(name: str, forced: str) -> None:
    def fn(pattern: Any, target: Any, repl: Any, options: Any = "") -> Any:
        bad = _regex_args(pattern, target, repl, options)
        if bad is not None:
            return bad
        if type(options) is not str:
            return ERROR
        if type(pattern) is not str or type(target) is not str or type(repl) is not str:
            return ERROR
        opts = options + forced
        rx = compile_regex(pattern, opts)
        if rx is None:
            return ERROR
        return _substitute(rx, to_bytes(target), to_bytes(repl), opts)

    fn.__name__ = name
    fn.__doc__ = (
        f"``{name}(pattern, s, replacement[, opts])``: regular-expression "
        f"substitution{' (options ' + forced + ' implied)' if forced else ''}."
    )
    builtin(name, min_args=3, max_args=4)(fn)


_regex_subst("regexps", "")
_regex_subst("replace", "f")
_regex_subst("replaceall", "fg")
