"""Fixtures of the console tests: a real agent process (module-scoped)."""

from __future__ import annotations

import pytest
from console_agent_process import AgentProcess
from qmf_testing import slurm_agent_config, slurm_nodes


@pytest.fixture(scope="module", params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def agent(request, tmp_path_factory):
    """A running agent, with jobs on its own slots or in Slurm; its ``url``
    is what consoles connect to."""
    extra = slurm_agent_config() if request.param == "slurm" else ""
    proc = AgentProcess(tmp_path_factory.mktemp("agent"), extra_config=extra).start()
    proc.slots = slurm_nodes() if request.param == "slurm" else 2   # NUM_SLOTS of its config
    yield proc
    from console._connection import forget_sessions

    forget_sessions()
    proc.stop()
