"""Seeded random expressions over functions, operators and every value type, with scope and target.

Cases come from diff_cases.py (group "rand"); how they run and compare is in
oracle.py and diff_runner.py.
"""

from __future__ import annotations

import diff_cases
import pytest

ROWS = diff_cases.rows_for("rand")


@pytest.mark.parametrize("cases", [r[1] for r in ROWS], ids=[r[0] for r in ROWS])
def test_agrees_with_classad2(cases, diff_check):
    diff_check(cases)
