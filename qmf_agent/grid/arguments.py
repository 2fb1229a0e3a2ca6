"""HTCondor's two syntaxes for a job's arguments and environment.

``Args`` / ``Env`` are the old syntax: arguments split on whitespace (a
backslash-escaped double quote is a literal quote), environment entries
``NAME=value`` separated by semicolons.  ``Arguments`` / ``Environment``
are the new syntax: whitespace-separated tokens where single quotes group
(two single quotes inside a quoted token are one literal quote).  A job
that gives both uses the new one, as HTCondor's starter does.
"""

from __future__ import annotations

from classad.arguments import UnbalancedQuote, split_v2

__all__ = ["ArgumentError", "split_new", "split_old_args", "parse_old_env", "parse_new_env"]


class ArgumentError(ValueError):
    """The arguments or environment text is malformed (the message says where)."""


def split_new(text: str) -> list[str]:
    """Split new-syntax text: whitespace separates, ``'...'`` groups, ``''`` is
    a quote (:func:`classad.arguments.split_v2`, so a job runs the argv that
    ``argsToList(Arguments)`` shows)."""
    try:
        return split_v2(text)
    except UnbalancedQuote:
        raise ArgumentError(f"unterminated single quote in {text!r}") from None


def split_old_args(text: str) -> list[str]:
    """Split old-syntax ``Args``: whitespace separates; ``\\"`` is a literal quote."""
    if '"' in text.replace('\\"', ""):
        raise ArgumentError(f'a double quote in old-syntax Args must be escaped as \\": {text!r}')
    return [t.replace('\\"', '"') for t in text.split()]


def parse_old_env(text: str) -> dict[str, str]:
    """Old-syntax ``Env``: ``NAME=value`` entries separated by semicolons."""
    env: dict[str, str] = {}
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        name, eq, value = entry.partition("=")
        if not eq or not name.strip():
            raise ArgumentError(f"Env entry {entry!r} is not NAME=value")
        env[name.strip()] = value
    return env


def parse_new_env(text: str) -> dict[str, str]:
    """New-syntax ``Environment``: ``NAME=value`` tokens, quoted as in :func:`split_new`."""
    env: dict[str, str] = {}
    for entry in split_new(text):
        name, eq, value = entry.partition("=")
        if not eq or not name:
            raise ArgumentError(f"Environment entry {entry!r} is not NAME=value")
        env[name] = value
    return env
