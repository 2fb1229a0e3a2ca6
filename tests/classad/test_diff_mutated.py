"""Seeded mutations of old-syntax and JSON ads: what each parser accepts, drops or rejects.

Cases come from diff_cases.py (group "mutate"); how they run and compare is in
oracle.py and diff_runner.py.
"""

from __future__ import annotations

import diff_cases
import pytest

ROWS = diff_cases.rows_for("mutate")


@pytest.mark.parametrize("cases", [r[1] for r in ROWS], ids=[r[0] for r in ROWS])
def test_agrees_with_classad2(cases, diff_check):
    diff_check(cases)
