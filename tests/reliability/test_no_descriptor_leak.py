"""A console process opening and closing sessions keeps its file descriptors.

Found by bench/soak_bench.py: every closed Client left the two descriptors
of proton's EventInjector pipe open, so a long-lived console ran out of
descriptors (``select()``) after about 500 sessions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reliability_agent import KillableAgent, call

pytestmark = pytest.mark.reliability


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_closed_clients_leave_no_descriptors_behind(tmp_path: Path) -> None:
    agent = KillableAgent(tmp_path / "state", tmp_path, config="NUM_SLOTS = 1\n").start()
    try:
        with agent.client() as client:  # warm up: imports, logging handlers
            call(client, "Query", Constraint="false")
        before = open_descriptors()
        for _ in range(30):
            with agent.client() as client:
                call(client, "Query", Constraint="false")
        assert open_descriptors() - before < 5, f"{open_descriptors() - before} descriptors leaked by 30 clients"
    finally:
        agent.kill()
