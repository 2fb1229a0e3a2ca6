"""Built-ins of HTCondor's compatibility layer: string lists, environment
and argument strings, user names, user maps and home directories.

HTCondor registers these from ``compat_classad.cpp`` once its configuration
is loaded (so they are always present in a daemon); ``stringListsIntersect``
comes from the core library but lives here with its siblings.

A "string list" is text such as ``"a, b,c"``: items are separated by any of
the delimiter characters, surrounding white space is trimmed and empty items
are dropped.  The default delimiters differ by function, as in HTCondor.
"""

from __future__ import annotations

import logging
import pwd
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from classad._builtin_registry import builtin
from classad._builtin_support import c_double_to_int64, c_int32, from_bytes, strtod_prefix, to_bytes
from classad._builtins_strings import compile_regex, regex_search
from classad._usermap import UserMap
from classad._values import ERROR, UNDEFINED
from classad.arguments import ARG_SPACE, UnbalancedQuote, split_v2

__all__ = ["register_user_map", "string_list_items", "quote_arg"]

log = logging.getLogger(__name__)

_C_SPACE = b" \t\n\v\f\r"


def string_list_items(text: str, delims: str) -> list[str]:
    """Split *text* at any of *delims*, trimming white space around items
    and dropping empty ones (HTCondor's ``StringTokenIterator``)."""
    out = []
    for part in _split_bytes(to_bytes(text), to_bytes(delims)):
        part = part.strip(_C_SPACE)
        if part:
            out.append(from_bytes(part))
    return out


def _split_bytes(s: bytes, delims: bytes) -> list[bytes]:
    """*s* cut at every byte in *delims* (HTCondor splits byte-wise, so a
    multi-byte delimiter character counts as each of its bytes)."""
    return _splitter(delims).split(s) if delims else [s]


@lru_cache(maxsize=64)
def _splitter(delims: bytes) -> re.Pattern[bytes]:
    return re.compile(b"[" + b"".join(re.escape(bytes([c])) for c in delims) + b"]")


def _strings(*values: Any) -> bool:
    return all(type(v) is str for v in values)


@builtin("stringListSize", min_args=1, max_args=2)
def string_list_size(lst: Any, delims: Any = ", ") -> Any:
    """Number of items in a string list."""
    if not _strings(lst, delims):
        return ERROR
    return len(string_list_items(lst, delims))


_FLT_MAX = 3.4028234663852886e38
_FLT_MIN = 1.1754943508222875e-38


def _summarize(name: str, start: float, step: Any, average: bool, empty: Any) -> None:
    def fn(lst: Any, delims: Any = ", ") -> Any:
        if not _strings(lst, delims):
            return ERROR
        acc = start
        is_real = False
        items = string_list_items(lst, delims)
        for item in items:
            value = strtod_prefix(item)
            if value is None:
                return ERROR
            if item.strip("+-0123456789"):
                is_real = True
            acc = step(value, acc)
        if not items:
            return empty
        if average:
            acc /= len(items)
        return acc if is_real else c_double_to_int64(acc)

    fn.__name__ = name
    fn.__doc__ = f"``{name}(list[, delims])`` over the numbers of a string list."
    builtin(name, min_args=1, max_args=2)(fn)


# HTCondor's quirks kept: the integer result unless an item looks real
# (stringListAvg("1,2,4") is 2), and max starting from FLT_MIN, so the max
# of negative numbers is 0.
_summarize("stringListSum", 0.0, lambda v, a: v + a, average=False, empty=0.0)
_summarize("stringListAvg", 0.0, lambda v, a: v + a, average=True, empty=0.0)
_summarize("stringListMin", _FLT_MAX, lambda v, a: v if v < a else a, average=False, empty=UNDEFINED)
_summarize("stringListMax", _FLT_MIN, lambda v, a: v if v > a else a, average=False, empty=UNDEFINED)


def _member_args(x: Any, lst: Any, delims: Any) -> Any:
    """Common argument rules: strings or UNDEFINED (which acts as the empty
    string); both UNDEFINED gives UNDEFINED."""
    for v in (x, lst, delims):
        if v is not UNDEFINED and type(v) is not str:
            return ERROR
    if x is UNDEFINED and lst is UNDEFINED:
        return UNDEFINED
    return None


_MEMBER_DELIMS = ", \t\r\n"


def _list_member(fold: bool) -> Any:
    def fn(x: Any, lst: Any, delims: Any = _MEMBER_DELIMS) -> Any:
        bad = _member_args(x, lst, delims)
        if bad is not None:
            return bad
        item = "" if x is UNDEFINED else x
        text = "" if lst is UNDEFINED else lst
        d = _MEMBER_DELIMS if delims is UNDEFINED else delims
        items = string_list_items(text, d)
        if fold:
            low = to_bytes(item).lower()
            return any(to_bytes(i).lower() == low for i in items)
        return item in items

    return fn


def _subset_match(fold: bool) -> Any:
    def fn(sub: Any, lst: Any, delims: Any = _MEMBER_DELIMS) -> Any:
        bad = _member_args(sub, lst, delims)
        if bad is not None:
            return bad
        text = "" if sub is UNDEFINED else sub
        if not text:
            return True  # the empty list is a subset of anything
        d = _MEMBER_DELIMS if delims is UNDEFINED else delims
        key = (lambda s: to_bytes(s).lower()) if fold else to_bytes
        pool = {key(i) for i in string_list_items("" if lst is UNDEFINED else lst, d)}
        found = False
        for item in string_list_items(text, d):
            found = key(item) in pool
            if not found:
                break
        return found

    return fn


builtin("stringListMember", min_args=2, max_args=3)(_list_member(fold=False))
builtin("stringListIMember", min_args=2, max_args=3)(_list_member(fold=True))
builtin("stringListSubsetMatch", min_args=2, max_args=3)(_subset_match(fold=False))
builtin("stringListISubsetMatch", min_args=2, max_args=3)(_subset_match(fold=True))


def _plain_split(text: str, delims: str) -> list[bytes]:
    """``strcspn`` splitting with no trimming (stringListsIntersect's)."""
    return [p for p in _split_bytes(to_bytes(text), to_bytes(delims or " ,")) if p]


@builtin("stringListsIntersect", min_args=2, max_args=3)
def string_lists_intersect(a: Any, b: Any, delims: Any = "") -> Any:
    """Do two string lists share an item?  (Items are not trimmed here, and
    the default delimiters are space and comma.)"""
    if a is ERROR or b is ERROR or delims is ERROR:
        return ERROR
    if a is UNDEFINED or b is UNDEFINED or delims is UNDEFINED:
        return UNDEFINED
    if not _strings(a, b, delims):
        return ERROR
    pool = set(_plain_split(b, delims))
    return any(i in pool for i in _plain_split(a, delims))


@builtin("stringList_regexpMember", min_args=2, max_args=4)
def string_list_regexp_member(pattern: Any, lst: Any, delims: Any = ", ", options: Any = "") -> Any:
    """Does the pattern match some item of a string list?  UNDEFINED for an
    empty list; option letters may be upper case here."""
    if not _strings(pattern, lst, delims, options):
        return ERROR
    rx = compile_regex(pattern, options.lower())
    if rx is None:
        return ERROR
    items = string_list_items(lst, delims)
    if not items:
        return UNDEFINED
    return any(regex_search(rx, i) for i in items)


@builtin("split", min_args=1, max_args=2)
def split(text: Any, seps: Any = ", \t") -> Any:
    """Split at any separator character.  Runs of white space and a single
    separator with white space around it count as one break, but repeated
    non-space separators yield empty items (``"a,,b"`` has three)."""
    if not _strings(text, seps):
        return ERROR
    s, d = to_bytes(text), to_bytes(seps)
    out: list[bytes] = []
    last = 0
    if d:
        prev = -1
        ix = _find_first_of(s, d, last)
        while ix < len(s):
            if ix > last:
                out.append(s[last:ix])
            elif prev == s[ix] and prev not in _C_SPACE:
                out.append(b"")
            if s[ix] not in _C_SPACE:
                prev = s[ix]
            last = ix + 1
            ix = _find_first_of(s, d, last)
    if len(s) > last:
        out.append(s[last:])
    return tuple(from_bytes(x) for x in out)


def _find_first_of(s: bytes, chars: bytes, start: int) -> int:
    for i in range(start, len(s)):
        if s[i] in chars:
            return i
    return len(s)


def _split_at(text: Any, no_at_is_second: bool) -> Any:
    if type(text) is not str:
        return ERROR
    head, at, tail = text.partition("@")
    if not at:
        return ("", text) if no_at_is_second else (text, "")
    return (head, tail)


@builtin("splitUserName", min_args=1, max_args=1)
def split_user_name(text: Any) -> Any:
    """``"user@domain"`` -> ``{"user", "domain"}`` (domain empty if no @)."""
    return _split_at(text, no_at_is_second=False)


@builtin("splitSlotName", min_args=1, max_args=1)
def split_slot_name(text: Any) -> Any:
    """``"slot1@host"`` -> ``{"slot1", "host"}`` (slot empty if no @)."""
    return _split_at(text, no_at_is_second=True)


# ---- argument and environment strings (condor_arglist.cpp, env.cpp) -------

def quote_arg(arg: str) -> str:
    """One argument in V2 syntax: white space and ``'`` inside single
    quotes, ``'`` doubled, the empty argument as ``''``."""
    if not arg:
        return "''"
    out: list[str] = []
    for ch in arg:
        if ch in ARG_SPACE or ch == "'":
            if out and out[-1] == "'":
                out.pop()  # extend the quoted run rather than reopen it
            else:
                out.append("'")
            out.append("''" if ch == "'" else ch)
            out.append("'")
        else:
            out.append(ch)
    return "".join(out)


def _join_v2(args: Iterable[str]) -> str:
    return " ".join(quote_arg(a) for a in args)


def _split_v2(text: str) -> list[str] | None:
    """V2 arguments (see :mod:`classad.arguments`); None for an unbalanced
    quote, which the built-ins turn into ERROR."""
    try:
        return split_v2(text)
    except UnbalancedQuote:
        return None


def _split_v1(text: str) -> list[str]:
    """V1 (Unix) arguments: split on white space, no quoting."""
    out: list[str] = []
    buf: list[str] = []
    for ch in text:
        if ch in ARG_SPACE:
            if buf:
                out.append("".join(buf))
                buf = []
        else:
            buf.append(ch)
    if buf:
        out.append("".join(buf))
    return out


def _args_version(version: Any) -> int | None:
    if type(version) is not int:
        return None
    v = c_int32(version)
    return v if v in (1, 2) else None


@builtin("argsToList", min_args=1, max_args=2)
def args_to_list(text: Any, version: Any = 2) -> Any:
    """Parse an argument string (V2 syntax, or V1 with version 1) into a
    list of strings."""
    v = _args_version(version)
    if v is None or type(text) is not str:
        return ERROR
    items = _split_v1(text) if v == 1 else _split_v2(text)
    return ERROR if items is None else tuple(items)


@builtin("listToArgs", min_args=1, max_args=2)
def list_to_args(items: Any, version: Any = 2) -> Any:
    """Join a list of strings into an argument string (V2 quoting, or V1,
    where an argument with white space cannot be written: ERROR)."""
    v = _args_version(version)
    if v is None or type(items) is not tuple or not all(type(i) is str for i in items):
        return ERROR
    if v == 2:
        return _join_v2(items)
    if any(c in i for i in items for c in ARG_SPACE):
        return ERROR
    return " ".join(items)


# An entry such as "$$(FOO)" without "=" is kept verbatim, with no value.
_NO_VALUE = None
_V1_DELIMS = "!#$%&*+,-/:;<>?@^`|~\x1f"


def _env_set(env: dict[str, str | None], entry: str) -> bool:
    name, eq, value = entry.partition("=")
    if not eq:
        if "$$" in entry:
            env[entry] = _NO_VALUE
            return True
        return False
    if not name:
        return False
    env[name] = value
    return True


def _env_v2_text(env: Mapping[str, str | None]) -> str:
    keys = sorted(env, key=to_bytes)  # HTCondor keeps a std::map
    return _join_v2(k if env[k] is _NO_VALUE else f"{k}={env[k]}" for k in keys)


def _merge_v1(env: dict[str, str | None], text: str) -> bool:
    """V1 environment: ``;``-separated (or the leading character, if it is
    one of HTCondor's permitted delimiters); newlines separate too."""
    if not text:
        return True
    delim = ";"
    if text[0] == delim:
        text = text[1:]
    elif text[0] in _V1_DELIMS:
        delim, text = text[0], text[1:]
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in ARG_SPACE:
            i += 1
        start = i
        while i < n and text[i] != "\n" and text[i] != delim:
            i += 1
        entry = text[start:i]
        i += 1
        if entry and not _env_set(env, entry):
            return False
    return True


@builtin("envV1ToV2", min_args=1, max_args=1)
def env_v1_to_v2(text: Any) -> Any:
    """Rewrite a V1 environment string in V2 syntax (UNDEFINED stays
    UNDEFINED, so it composes with mergeEnvironment)."""
    if text is UNDEFINED:
        return UNDEFINED
    if type(text) is not str:
        return ERROR
    env: dict[str, str | None] = {}
    return _env_v2_text(env) if _merge_v1(env, text) else ERROR


@builtin("mergeEnvironment", min_args=0, max_args=None)
def merge_environment(*texts: Any) -> Any:
    """Merge V2 environment strings, later ones winning; UNDEFINED
    arguments are skipped."""
    env: dict[str, str | None] = {}
    for text in texts:
        if text is UNDEFINED:
            continue
        if type(text) is not str:
            return ERROR
        entries = _split_v2(text)
        if entries is None or not all(_env_set(env, e) for e in entries):
            return ERROR
    return _env_v2_text(env)


# ---- users ----------------------------------------------------------------

_user_maps: dict[str, UserMap] = {}


def register_user_map(name: str, mapping: UserMap | Mapping[str, Iterable[str]] | None) -> None:
    """Make ``userMap(name, user...)`` use *mapping*: a :class:`UserMap`
    (HTCondor's map-file rules, e.g. ``UserMap.from_file(path)`` for
    ``CLASSAD_USER_MAPFILE_<name>``) or a dict of user -> groups.  None
    forgets the map."""
    if mapping is None:
        _user_maps.pop(name, None)
    elif isinstance(mapping, UserMap):
        _user_maps[name] = mapping
    else:
        _user_maps[name] = UserMap.from_groups(mapping)


_ABSENT = object()


@builtin("userMap", min_args=2, max_args=4)
def user_map(name: Any, user: Any, preferred: Any = _ABSENT, default: Any = _ABSENT) -> Any:
    """Map a user through a named map: the comma-separated groups with two
    arguments, else the preferred group if the user has it (any case), else
    the first group, else *default* (or UNDEFINED)."""
    fallback = UNDEFINED if default is _ABSENT else default
    if type(name) is not str or type(user) is not str:
        return ERROR if name is ERROR or user is ERROR else fallback
    map_name, _, method = name.partition(".")  # "name.method" picks a method
    mapping = _user_maps.get(map_name)
    text = None if mapping is None else mapping.lookup(user, method or "*")
    if text is None:
        return fallback
    if preferred is _ABSENT:
        return text
    items = string_list_items(text, ",")
    if type(preferred) is str:
        low = to_bytes(preferred).lower()
        for item in items:
            if to_bytes(item).lower() == low:
                return item
    return items[0] if items else fallback


@builtin("userHome", min_args=1, max_args=2)
def user_home(user: Any, default: Any = "") -> Any:
    """The home directory of a local user (from the password database), or
    *default* when there is none."""
    fallback = default if type(default) is str else ""
    if user is UNDEFINED and not fallback:
        return UNDEFINED
    if type(user) is not str:
        return fallback or ERROR
    try:
        home = pwd.getpwnam(user).pw_dir
    except (KeyError, ValueError):
        home = ""
    return home or fallback or UNDEFINED
