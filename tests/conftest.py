"""Shared fixtures: the broker check and a free loopback port.

Tests that need RabbitMQ carry ``@pytest.mark.broker``.  They are skipped
when nothing answers on 127.0.0.1:5672, *unless* the environment variable
``CI`` is set: CI starts the broker, so a missing broker there is a failure,
not a reason to skip.  Plain helpers live in ``tests/qmf_testing.py``
(import them from there, never ``from conftest import``).
"""

from __future__ import annotations

import pytest
from qmf_testing import BROKER_URL, cancel_agent_slurm_jobs, free_port, need_broker, need_slurm

_ran_slurm_tests = False


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Apply :func:`need_broker` / :func:`need_slurm` to ``broker`` / ``slurm``-marked tests."""
    if item.get_closest_marker("broker") is not None:
        need_broker()
    if item.get_closest_marker("slurm") is not None:
        global _ran_slurm_tests
        _ran_slurm_tests = True
        need_slurm()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Leave the test cluster as clean as the session found it."""
    factory = getattr(session.config, "_tmp_path_factory", None)  # pytest's own tmp_path root
    if _ran_slurm_tests and factory is not None:
        cancel_agent_slurm_jobs(factory.getbasetemp())


@pytest.fixture
def require_broker() -> str:
    """The broker URL (user qmf), for tests that ask for it explicitly."""
    need_broker()
    return BROKER_URL


@pytest.fixture
def unused_port() -> int:
    """A free loopback port for a test's own listener."""
    return free_port()
