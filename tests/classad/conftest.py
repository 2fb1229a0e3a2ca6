"""Shared setup for tests/classad: a pinned time zone, and the differential
fixture used by test_diff_*.py.

TZ is pinned to UTC because formatTime/splitTime/absTime show local time; the
classad2 oracle child runs with the same TZ (see oracle.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session")
def diff_check() -> Callable[[list[dict[str, Any]]], None]:
    """``diff_check(cases)`` fails, listing every disagreement, unless our
    library agrees with classad2 on all *cases* (named deviations aside)."""
    import diff_runner

    expected = diff_runner.oracle_results()

    def check(cases: list[dict[str, Any]]) -> None:
        problems = []
        for case in cases:
            msg = diff_runner.judge(case, diff_runner.run_ours(case), expected[case["id"]])
            if msg:
                problems.append(msg)
        assert not problems, f"{len(problems)} of {len(cases)} cases disagree:\n" + "\n".join(problems)

    return check
