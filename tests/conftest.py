"""Shared test helpers: is the RabbitMQ broker there, and a free loopback port.

Tests that need RabbitMQ carry ``@pytest.mark.broker``.  They are skipped
when nothing answers on 127.0.0.1:5672, *unless* the environment variable
``CI`` is set: CI starts the broker, so a missing broker there is a failure,
not a reason to skip.  Keep this file tiny and generic; every part uses it.
"""

from __future__ import annotations

import os
import socket

import pytest

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 5672
BROKER_URL = f"amqp://qmf:qmf@{BROKER_HOST}:{BROKER_PORT}"


def broker_available(timeout: float = 0.5) -> bool:
    """True when a TCP connection to the broker's port succeeds."""
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A currently free ephemeral TCP port on 127.0.0.1 (never 5672)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _need_broker() -> None:
    """Skip (or, under CI, fail) the current test when no broker answers."""
    if broker_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no RabbitMQ answers on {BROKER_HOST}:{BROKER_PORT}")
    pytest.skip(f"no RabbitMQ on {BROKER_HOST}:{BROKER_PORT} (set CI to make this a failure)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Apply :func:`_need_broker` to every ``broker``-marked test or param."""
    if item.get_closest_marker("broker") is not None:
        _need_broker()


@pytest.fixture
def require_broker() -> str:
    """The broker URL (user qmf), for tests that ask for it explicitly."""
    _need_broker()
    return BROKER_URL


@pytest.fixture
def unused_port() -> int:
    """A free loopback port for a test's own listener."""
    return free_port()
