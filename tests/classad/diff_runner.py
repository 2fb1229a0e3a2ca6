"""Run differential cases through both libraries and judge the results.

Shared by the pytest suite (test_diff_*.py through conftest.py) and by the
``disagreements.py`` report script, so both judge a case the same way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

import diff_cases
import oracle
from diff_deviations import DIFFERS, deviating_fields

__all__ = ["judge", "judge_all", "oracle_results", "ours", "run_ours"]

#: Result fields that explain a result but are not compared.
_UNCOMPARED = frozenset({"detail"})


@functools.lru_cache(maxsize=1)
def oracle_results() -> dict[str, dict[str, Any]]:
    """classad2's result for every case of every group, both modes (one child
    process per mode; about two seconds in all)."""
    cases = list(diff_cases.all_cases())
    results: dict[str, dict[str, Any]] = {}
    for mode in diff_cases.MODES:
        results.update(oracle.run_oracle([c for c in cases if c["mode"] == mode], mode == "strict"))
    return results


@functools.lru_cache(maxsize=1)
def ours() -> oracle.Adapter:
    """Our library behind the adapter (imported on first use)."""
    return oracle.ours_adapter()


def run_ours(case: dict[str, Any]) -> dict[str, Any]:
    """Our result for *case*, with the process-wide mode set for it and
    restored to compat (the library's default) afterwards."""
    adapter = ours()
    adapter.lib.set_strict(case["mode"] == "strict")
    try:
        return oracle.execute(adapter, case)
    finally:
        adapter.lib.set_strict(False)


def _fields(result: dict[str, Any]) -> set[str]:
    return set(result) - _UNCOMPARED


def _show(x: Any) -> str:
    return json.dumps(x, ensure_ascii=False)[:400]


def judge(case: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]) -> str | None:
    """None if *mine* agrees with *theirs* (or, for a field a listed
    deviation covers, with what the deviation expects), else a paragraph
    naming the case and every field that is wrong."""
    dev = deviating_fields(case["id"])
    name, expected = dev if dev else ("", {})
    problems = []
    for key in sorted(_fields(mine) | _fields(theirs)):
        a, b = mine.get(key, "<missing>"), theirs.get(key, "<missing>")
        if key not in expected:
            if a != b:
                problems.append(f"{key}: ours {_show(a)} != classad2 {_show(b)}")
        elif expected[key] == DIFFERS:
            if a == b:
                problems.append(f"{key}: deviation {name!r} expects a difference, both {_show(a)}")
        elif a != expected[key]:
            problems.append(f"{key}: ours {_show(a)} != {_show(expected[key])} (deviation {name!r}; "
                            f"classad2 {_show(b)})")
    if not problems:
        return None
    why = mine.get("detail")
    extra = f"\n    ours detail: {why}" if why else ""
    return f"{case['id']}\n    " + "\n    ".join(problems) + extra


def judge_all(cases: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Every disagreement among *cases*: (case, explanation)."""
    expected = oracle_results()
    out = []
    for case in cases:
        msg = judge(case, run_ours(case), expected[case["id"]])
        if msg:
            out.append((case, msg))
    return out
