"""ClassAd run-time values, as the evaluator and the built-in functions see them.

The internal representation is chosen so that the evaluator can dispatch on
``type(v)`` with no wrapper objects in the hot path:

===============  ==============================================================
ClassAd type     Python representation
===============  ==============================================================
Integer          ``int`` (always kept within int64 by :func:`wrap_int`)
Real             ``float``
String           ``str``
Boolean          ``bool`` (test with ``type(v) is bool``: a bool is not an int here)
Undefined        ``Value.Undefined``
Error            ``Value.Error``
AbsTime          :class:`AbsTime`
RelTime          :class:`RelTime`
List             ``tuple`` of values, when handed to a built-in function
Record           a :class:`Record` (the public ``ClassAd`` is one)
===============  ==============================================================

``Value`` is an ``IntEnum`` because HTCondor's bindings expose it that way
(``print(Value.Undefined)`` shows 2).  Its members are therefore ints to
``isinstance``: code must test ``v is UNDEFINED`` / ``v is ERROR`` (or use
``type(v)``), never ``isinstance(v, int)``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import Any, Union

__all__ = [
    "Value",
    "UNDEFINED",
    "ERROR",
    "AbsTime",
    "RelTime",
    "Record",
    "INT64_MIN",
    "INT64_MAX",
    "wrap_int",
]


class Value(enum.IntEnum):
    """The two special ClassAd values, with HTCondor's numbering."""

    Error = 1
    Undefined = 2

    def __repr__(self) -> str:
        return f"classad.Value.{self.name}"


UNDEFINED = Value.Undefined
ERROR = Value.Error

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_MASK64 = (1 << 64) - 1


def wrap_int(n: int) -> int:
    """Reduce *n* to int64 the way C's two's-complement arithmetic wraps."""
    if INT64_MIN <= n <= INT64_MAX:
        return n
    n &= _MASK64
    return n - (1 << 64) if n > INT64_MAX else n


class AbsTime:
    """An absolute time: whole seconds since the Unix epoch, and the zone
    offset (seconds east of UTC) it is shown in.

    ``==`` in the ClassAd language ignores the offset while ``=?=`` compares
    it; Python equality here compares both (it is the ``=?=`` notion).
    """

    __slots__ = ("secs", "offset")

    def __init__(self, secs: int, offset: int = 0) -> None:
        self.secs = secs
        self.offset = offset

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is AbsTime
            and self.secs == other.secs
            and self.offset == other.offset
        )

    def __hash__(self) -> int:
        return hash((AbsTime, self.secs, self.offset))

    def __repr__(self) -> str:
        return f"AbsTime({self.secs!r}, {self.offset!r})"


class RelTime:
    """A relative time (a duration) in seconds, possibly fractional."""

    __slots__ = ("secs",)

    def __init__(self, secs: float) -> None:
        self.secs = secs

    def __eq__(self, other: object) -> bool:
        return type(other) is RelTime and self.secs == other.secs

    def __hash__(self) -> int:
        return hash((RelTime, self.secs))

    def __repr__(self) -> str:
        return f"RelTime({self.secs!r})"


class Record(ABC):
    """What a built-in function may ask of a record (nested ClassAd) value.

    The public ``classad.ClassAd`` implements this; built-ins never import it
    (that would be a cycle), they only use this interface.
    """

    __slots__ = ()

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def attribute_names(self) -> list[str]:
        """The attribute names, in the spelling first given."""

    @abstractmethod
    def evaluate_attribute(self, name: str) -> Any:
        """The value of attribute *name* in this record's own scope
        (``UNDEFINED`` when it is missing), in the internal representation."""


#: Any value in the internal representation.
ClassAdValue = Union[int, float, str, bool, Value, AbsTime, RelTime, tuple, Record]  # noqa: UP007
