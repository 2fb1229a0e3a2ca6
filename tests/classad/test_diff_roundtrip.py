"""Round trips new -> old -> JSON: printOld lines, printJson data, and what parses back.

Cases come from diff_cases.py (group "rt"); how they run and compare is in
oracle.py and diff_runner.py.
"""

from __future__ import annotations

import diff_cases
import pytest

ROWS = diff_cases.rows_for("rt")


@pytest.mark.parametrize("cases", [r[1] for r in ROWS], ids=[r[0] for r in ROWS])
def test_agrees_with_classad2(cases, diff_check):
    diff_check(cases)
