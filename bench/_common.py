"""Helpers the bench scripts share (imported as ``_common``: each script runs
with bench/ first on sys.path).

Benches measure one part in-process, so they stand in for the agent's sink
with one that does nothing, and time calls the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from qmf_agent.binding import ObjectState

__all__ = ["NullSink", "timed"]


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
