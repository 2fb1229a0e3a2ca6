"""Deliberate, named deviations of our ClassAd library from HTCondor 25.14.1.

Each deviation names the cases (by id, see diff_cases.py) where we choose to
differ and the result fields that differ.  The differential tests require
those fields to DIFFER for those cases (so a deviation that silently stops
being one fails the suite), and every other field of the case still has to
agree.  docs/classad.md, section "Deviations from HTCondor 25", explains each
one; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DEVIATIONS", "Deviation", "deviating_fields"]


@dataclass(frozen=True)
class Deviation:
    """One named group of cases where we differ on purpose."""

    name: str
    htcondor: str
    ours: str
    why: str
    #: case id -> the result fields expected to differ (e.g. {"value"}).
    cases: dict[str, frozenset[str]] = field(default_factory=dict)


def _value(*ids: str) -> dict[str, frozenset[str]]:
    return {i: frozenset({"value"}) for i in ids}


DEVIATIONS: list[Deviation] = []


def deviating_fields(case_id: str) -> tuple[str, frozenset[str]] | None:
    """(deviation name, fields) if *case_id* is a listed deviation."""
    for dev in DEVIATIONS:
        if case_id in dev.cases:
            return dev.name, dev.cases[case_id]
    return None
