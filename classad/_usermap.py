"""User map files, as HTCondor's ``CLASSAD_USER_MAPFILE_<name>`` reads them.

``userMap("groups", Owner)`` looks the user up in the map registered as
``groups``.  A map file has one rule per line::

    # method  principal          canonical (comma-separated groups)
    *         alice              physics,chem
    *         /^b.*$/i           biology
    *         /(\\w+)@example/    \\1_users

The principal is either a literal name (exact match) or ``/regex/`` with
optional ``i`` (ignore case); fields with spaces are written in double
quotes.  Rules are tried in file order and the first that matches wins;
``\\N`` in the canonical text is replaced by the regex's group N.  A map
name ``"groups.method"`` selects the rules of that method (``*`` by
default).  Lines that cannot be read are skipped with a warning, as in
HTCondor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from classad._pcre import pcre_to_python

__all__ = ["UserMap"]

log = logging.getLogger(__name__)

_SPACE = " \t\n"


@dataclass(frozen=True)
class _Rule:
    method: str
    literal: str | None
    regex: re.Pattern[str] | None
    canonical: str

    def apply(self, user: str) -> str | None:
        if self.literal is not None:
            return self.canonical if user == self.literal else None
        assert self.regex is not None
        m = self.regex.search(user)
        if m is None:
            return None
        groups = [m.group(0)] + [g or "" for g in m.groups()]
        return _substitute(self.canonical, groups)


def _substitute(canonical: str, groups: list[str]) -> str:
    """``\\N`` -> group N when the match has it; any other backslash stays."""
    out = []
    i = 0
    while i < len(canonical):
        ch = canonical[i]
        if ch == "\\" and i + 1 < len(canonical):
            nxt = canonical[i + 1]
            if nxt.isdigit() and int(nxt) < len(groups):
                out.append(groups[int(nxt)])
            else:
                out.append("\\" + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _field(line: str, pos: int, regex_ok: bool) -> tuple[str, int, str | None]:
    """One field from *pos*: (text, position after it, regex flags or None
    when the field was not a ``/regex/``)."""
    while pos < len(line) and line[pos] in _SPACE:
        pos += 1
    if pos >= len(line):
        return "", pos, None
    end_ch = line[pos]
    if end_ch == '"' or (end_ch == "/" and regex_ok):
        pos += 1
        out: list[str] = []
        while pos < len(line):
            ch = line[pos]
            if ch == end_ch:
                pos += 1
                flags = ""
                while end_ch == "/" and pos < len(line) and line[pos] in "iU":
                    flags += line[pos]
                    pos += 1
                return "".join(out), pos, (flags if end_ch == "/" else None)
            if ch == "\\" and pos + 1 < len(line):
                nxt = line[pos + 1]
                out.append(nxt if nxt == end_ch else "\\" if nxt == "\\" else "\\" + nxt)
                pos += 2
                continue
            out.append(ch)
            pos += 1
        # an unterminated quote or regex runs to the end of the line
        return "".join(out), pos, ("" if end_ch == "/" else None)
    start = pos
    while pos < len(line) and line[pos] not in _SPACE:
        pos += 1
    return line[start:pos], pos, None


class UserMap:
    """The rules of one map; see the module documentation for the format."""

    def __init__(self, rules: Iterable[_Rule] = ()) -> None:
        self._rules = list(rules)

    @classmethod
    def parse(cls, text: str, source: str = "<user map>") -> UserMap:
        """Read map-file text; unreadable lines are logged and skipped."""
        rules = []
        for number, line in enumerate(text.splitlines(), 1):
            method, pos, _ = _field(line, 0, regex_ok=False)
            if not method or method.startswith("#"):
                continue
            if method == "@include":
                log.warning("%s line %d: @include is not supported here; line skipped", source, number)
                continue
            principal, pos, flags = _field(line, pos, regex_ok=True)
            canonical, pos, _ = _field(line, pos, regex_ok=False)
            if not principal or not canonical:
                log.warning("%s line %d: expected 'method principal canonical'; line skipped", source, number)
                continue
            if flags is None:
                rules.append(_Rule(method, principal, None, canonical))
                continue
            if "U" in flags:
                log.warning("%s line %d: the U (ungreedy) flag is not supported; line skipped", source, number)
                continue
            try:
                rx = re.compile(pcre_to_python(principal), re.IGNORECASE if "i" in flags else 0)
            except re.error as exc:
                log.warning("%s line %d: bad regular expression %r (%s); line skipped",
                            source, number, principal, exc)
                continue
            rules.append(_Rule(method, None, rx, canonical))
        return cls(rules)

    @classmethod
    def from_file(cls, path: str) -> UserMap:
        """Read a map file (OSError if it cannot be opened)."""
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return cls.parse(fh.read(), source=path)

    @classmethod
    def from_groups(cls, groups: Mapping[str, Iterable[str]]) -> UserMap:
        """A map from a dict of user -> groups (exact user names)."""
        return cls(_Rule("*", user, None, ",".join(g)) for user, g in groups.items())

    def lookup(self, user: str, method: str = "*") -> str | None:
        """The canonical text (comma-separated groups) for *user*, or None."""
        for rule in self._rules:
            if rule.method == method:
                found = rule.apply(user)
                if found is not None:
                    return found
        return None

    def __len__(self) -> int:
        return len(self._rules)
