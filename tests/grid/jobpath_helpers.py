"""Helpers for the job-path tests (schedd, startd, negotiator, bindings).

``Recorder`` is the in-process stand-in for the agent's sink: the layer above
the wire, recording what the grid told it.  ``JobPath`` builds the real roles
on a temporary state directory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from qmf_agent.binding import Caller, ObjectState
from qmf_agent.grid.negotiator import Negotiator, NegotiatorConfig
from qmf_agent.grid.schedd import Schedd, ScheddConfig
from qmf_agent.grid.startd import SlotConfig, Startd
from qmf_agent.grid.store import Store

ROOT = Caller("root", admin=True)
ALICE = Caller("alice")
BOB = Caller("bob")
ANON = Caller(None)


class Recorder:
    """A list-recording AgentSink (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changes: list[tuple[str, str]] = []
        self.deletions: list[tuple[str, str, ObjectState]] = []

    def changed(self, class_name: str, key: str) -> None:
        with self.lock:
            self.changes.append((class_name, key))

    def deleted(self, class_name: str, key: str, state: ObjectState) -> None:
        with self.lock:
            self.deletions.append((class_name, key, state))

    def event(self, name: str, values: Any, severity: int = 6) -> None:
        with self.lock:
            self.events.append((name, dict(values)))

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [v for n, v in self.events if n == name]


class JobPath:
    """Store + startd + schedd + negotiator on *state_dir* (started on demand)."""

    def __init__(self, state_dir: str, slots: int = 2, start: str = "true",
                 periodic: float = 3600.0, kill_grace: float = 2.0, **slot_kw: Any) -> None:
        self.state_dir = state_dir
        self.sink = Recorder()
        self.store = Store.open(state_dir)
        self.startd = Startd(self.sink, SlotConfig(count=slots, start=start, kill_grace=kill_grace,
                                                   host="testhost", memory_mib=1024,
                                                   disk_kib=1_000_000, **slot_kw))
        self.schedd = Schedd(self.store, self.sink, self.startd,
                             ScheddConfig(name="testhost", periodic_interval=periodic))
        self.negotiator = Negotiator(self.schedd, self.startd, self.sink,
                                     NegotiatorConfig(name="testhost", interval=0.5))

    def start(self) -> JobPath:
        self.startd.start()
        self.schedd.start()
        self.negotiator.start()
        return self

    def stop(self) -> None:
        self.negotiator.stop()
        self.schedd.stop()
        self.startd.stop("fast")
        self.store.close()

    def status(self, job_id: str) -> int | None:
        job = self.schedd.job(job_id)
        if job is not None:
            return job.status
        for flat in self.schedd.history():
            if f"{flat['ClusterId']}.{flat['ProcId']}" == job_id:
                return int(flat["JobStatus"])
        return None

    def history_ad(self, job_id: str) -> dict[str, Any]:
        for flat in self.schedd.history():
            if f"{flat['ClusterId']}.{flat['ProcId']}" == job_id:
                return flat
        raise AssertionError(f"{job_id} is not in history")


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll *cond* until it is truthy; fail the test after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def job_ad(iwd: str, cmd: str = "/bin/true", **extra: Any) -> dict[str, Any]:
    """A plain-encoded job ad with the required attributes."""
    ad: dict[str, Any] = {"Cmd": _typed(cmd), "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"},
                          "JobUniverse": {"TYPE": "INTEGER", "VALUE": "5"},
                          "Iwd": {"TYPE": "STRING", "VALUE": iwd},
                          "Owner": {"TYPE": "STRING", "VALUE": "root"}}
    for name, value in extra.items():
        ad[name] = value if isinstance(value, dict) else _typed(value)
    return ad


def _typed(value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        return {"TYPE": "BOOLEAN", "VALUE": "TRUE" if value else "FALSE"}
    if isinstance(value, int):
        return {"TYPE": "INTEGER", "VALUE": str(value)}
    if isinstance(value, float):
        return {"TYPE": "FLOAT", "VALUE": repr(value)}
    return {"TYPE": "STRING", "VALUE": str(value)}


def expr(text: str) -> dict[str, str]:
    return {"TYPE": "EXPR", "VALUE": text}
