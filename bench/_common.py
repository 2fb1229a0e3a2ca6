"""Helpers the bench scripts share (imported as ``_common``: each script runs
with bench/ first on sys.path).

Benches measure one part in-process, so they stand in for the agent's sink
with one that does nothing, and time calls the same way; those that start
agents pick free loopback ports and look for the local broker alike.
Imports only the standard library at run time, so a bench can import it
before it puts the checkout on sys.path.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qmf_agent.binding import ObjectState

__all__ = ["NullSink", "timed", "free_port", "broker_up", "BROKER", "TARGET_PREFIX", "report_target"]

#: The local RabbitMQ the broker benches use.
BROKER = ("127.0.0.1", 5672)


class NullSink:
    """The agent's sink, doing nothing (the bench measures the scheduler)."""

    def changed(self, class_name: str, key: str) -> None:
        pass

    def deleted(self, class_name: str, key: str, state: ObjectState) -> None:
        pass

    def event(self, name: str, values: Any, severity: int = 6) -> None:
        pass


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call of *fn* took, and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def free_port() -> int:
    """A loopback port nothing listens on now (for an agent to listen on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_up() -> bool:
    """Does something answer on the local broker's port?"""
    try:
        with socket.create_connection(BROKER, timeout=0.5):
            return True
    except OSError:
        return False


#: The prefix of the one-line JSON records :func:`report_target` prints.
TARGET_PREFIX = "TARGET "


def report_target(issue: int, what: str, target: str, figure: str, anchor: str, met: bool) -> None:
    """Print one issue target's outcome as a machine-readable line.

    Every bench prints a table for people; ``run_all.py`` builds the summary
    of docs/benchmarks.md from these lines instead of guessing at the
    tables' wording.  *figure* is ours, *anchor* the same work done by the
    reference measured in this run, with the ratio.
    """
    record = {"issue": issue, "what": what, "target": target, "figure": figure, "anchor": anchor, "met": met}
    print(TARGET_PREFIX + json.dumps(record), flush=True)
