"""Fixtures of the console tests: a real agent process (module-scoped)."""

from __future__ import annotations

import pytest
from console_agent_process import AgentProcess


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """A running agent; its ``url`` is what consoles connect to."""
    proc = AgentProcess(tmp_path_factory.mktemp("agent")).start()
    yield proc
    from console._connection import forget_sessions

    forget_sessions()
    proc.stop()
