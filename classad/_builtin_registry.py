"""The registry the built-in function modules fill and the evaluator reads.

It lives apart from :mod:`classad._builtins` so that each family of
functions (:mod:`classad._builtins_core`, ``_builtins_time``,
``_builtins_strings``, ``_builtins_compat``) can register itself without an
import cycle; :mod:`classad._builtins` imports them all and is the public
face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Builtin", "BUILTINS", "builtin"]


@dataclass(frozen=True, slots=True)
class Builtin:
    """A registered function and the argument counts it accepts.

    ``max_args`` None means any number.  The evaluator checks the count
    before calling (HTCondor gives ERROR for a wrong count), so a function
    may rely on it.
    """

    fn: Callable[..., Any]
    min_args: int
    max_args: int | None


#: lower-case function name -> Builtin
BUILTINS: dict[str, Builtin] = {}


def builtin(
    *names: str, min_args: int = 0, max_args: int | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function under each of *names*.

    Names are stored in lower case because ClassAd function names are
    case-insensitive (``StrCat`` and ``strcat`` are the same function).
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        entry = Builtin(fn, min_args, max_args)
        for name in names:
            BUILTINS[name.lower()] = entry
        return fn

    return register
