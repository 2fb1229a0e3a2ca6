"""The ClassAd built-in function library (HTCondor 25 semantics).

Every function takes already-evaluated arguments in the representation of
:mod:`classad._values` and returns a value; it never raises.  The evaluator
checks arity against :class:`Builtin` before calling, so functions may assume
their argument count is within ``min_args..max_args``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from classad._values import ERROR, UNDEFINED

__all__ = ["Builtin", "BUILTINS", "builtin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Builtin:
    """A registered function and the argument counts it accepts
    (``max_args`` None means unbounded)."""

    fn: Callable[..., Any]
    min_args: int
    max_args: int | None


#: lower-case function name -> Builtin
BUILTINS: dict[str, Builtin] = {}


def builtin(
    *names: str, min_args: int = 0, max_args: int | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function under each of *names* (case-insensitive)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        entry = Builtin(fn, min_args, max_args)
        for name in names:
            BUILTINS[name.lower()] = entry
        return fn

    return register


@builtin("isUndefined", min_args=1, max_args=1)
def _is_undefined(v: Any) -> bool:
    return v is UNDEFINED


@builtin("isError", min_args=1, max_args=1)
def _is_error(v: Any) -> bool:
    return v is ERROR


@builtin("isString", min_args=1, max_args=1)
def _is_string(v: Any) -> bool:
    return type(v) is str


@builtin("isInteger", min_args=1, max_args=1)
def _is_integer(v: Any) -> bool:
    return type(v) is int


@builtin("strcat", min_args=0, max_args=None)
def _strcat(*args: Any) -> Any:
    out = []
    for a in args:
        if a is ERROR:
            return ERROR
        if a is UNDEFINED:
            return UNDEFINED
        if type(a) is not str:
            return ERROR
        out.append(a)
    return "".join(out)
