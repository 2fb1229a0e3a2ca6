"""A short word for the wire type of a value, for error texts.

The protocol codec and the schema's argument checks both say what they got
instead of what they wanted ("must be a map, not a list"); they share this
one wording so a console sees the same words from either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["wire_kind"]


def wire_kind(value: Any) -> str:
    """"a map", "a list", "nothing"... for *value* as AMQP carries it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"
