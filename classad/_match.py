"""Matchmaking: Requirements in both directions, and Rank.

``a.matches(b)`` asks whether *b* accepts *a*: b's Requirements evaluated
with MY = b and TARGET = a.  The Requirements node is found once per ad and
its compiled closure is cached on the node, so matching N jobs against M
machines parses nothing and compiles each distinct expression once.
"""

from __future__ import annotations

from typing import Any

from ._eval import AdBase, evaluate

__all__ = ["matches", "symmetric_match", "rank"]


def _accepts(ad: AdBase, other: AdBase) -> bool:
    """Whether *ad*'s Requirements are true with TARGET = *other*."""
    node = ad._find("requirements")
    if node is None:
        return False
    v: Any = evaluate(node, ad, other, {(id(ad), "requirements")})
    t = v.__class__
    if t is bool:
        return v
    if t is int or t is float:
        return v != 0
    return False  # undefined, error, strings and anything else: no match


def matches(ad: AdBase, other: AdBase) -> bool:
    """Whether *other*'s Requirements accept *ad* (HTCondor's ``matches``)."""
    if not isinstance(ad, AdBase) or not isinstance(other, AdBase):
        raise TypeError("matches() needs two ClassAds")
    return _accepts(other, ad)


def symmetric_match(ad: AdBase, other: AdBase) -> bool:
    """Whether both ads' Requirements accept each other."""
    if not isinstance(ad, AdBase) or not isinstance(other, AdBase):
        raise TypeError("symmetric_match() needs two ClassAds")
    return _accepts(ad, other) and _accepts(other, ad)


def rank(ad: AdBase, other: AdBase) -> float:
    """*ad*'s Rank with MY = *ad* and TARGET = *other*; 0.0 when it is
    missing or not a number (a negotiator sorts candidates by this)."""
    if not isinstance(ad, AdBase) or not isinstance(other, AdBase):
        raise TypeError("rank() needs two ClassAds")
    node = ad._find("rank")
    if node is None:
        return 0.0
    v = evaluate(node, ad, other, {(id(ad), "rank")})
    t = v.__class__
    if t is int or t is float or t is bool:
        return float(v)
    return 0.0
