"""Helpers for the built-in function tests: call a registered function the
way the evaluator does (arity checked first) and compare results exactly.

Every expected value in the test_builtins_*.py tables was checked against
HTCondor's classad2 (25.14.1) with TZ=UTC, except the rows marked as our
documented deviations (docs/classad-deviations-builtins.md).
"""

from __future__ import annotations

import math
from typing import Any

from classad._builtins import BUILTINS
from classad._values import ERROR, AbsTime, Record, RelTime

__all__ = ["call", "same", "Ad"]


def call(name: str, *args: Any) -> Any:
    """Evaluate ``name(args...)``: ERROR for an unknown name or a wrong
    argument count, else the function's result."""
    entry = BUILTINS.get(name.lower())
    if entry is None:
        return ERROR
    if len(args) < entry.min_args or (entry.max_args is not None and len(args) > entry.max_args):
        return ERROR
    return entry.fn(*args)


def same(got: Any, want: Any) -> bool:
    """Exact equality of values: type included (1, 1.0 and true differ),
    NaN equal to NaN, lists elementwise, records (dicts) as maps."""
    if type(want) is float:
        return type(got) is float and (
            (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) == math.copysign(1, want))
        )
    if type(want) is tuple:
        return type(got) is tuple and len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if type(want) is dict:
        return (
            type(got) is dict
            and set(got) == set(want)
            and all(same(got[k], want[k]) for k in want)
        )
    if type(want) is RelTime:
        return type(got) is RelTime and float(got.secs) == float(want.secs)
    if type(want) is AbsTime:
        return type(got) is AbsTime and got == want
    return type(got) is type(want) and got == want


def Ad(**attrs: Any) -> Record:  # noqa: N802 - reads like a constructor in tables
    """A record value for the tables: a real ClassAd holding *attrs*."""
    from classad import ClassAd

    return ClassAd(attrs)
