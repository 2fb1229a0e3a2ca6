"""Slurm's nodes as slots: one slot object per node with its CPUs and memory.

A node's Slurm state gives the slot HTCondor's State/Activity (idle ->
Unclaimed/Idle, mixed or allocated -> Claimed/Busy, down or drained ->
Owner/Idle); its ad also carries SlurmState, SlurmPartitions,
CpusAllocated and FreeMemory.  The slots are never *free* to our
negotiator: Slurm places jobs, not us.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import classad

from ...binding import AgentSink
from ..backend import SlotView, slot_values
from ._cli import NodeRow

__all__ = ["SlurmNodes", "slot_state"]

log = logging.getLogger(__name__)


@dataclass
class _Node:
    row: NodeRow
    state: str
    activity: str
    entered_state: int
    entered_activity: int
    ad: classad.ClassAd


def slot_state(row: NodeRow) -> tuple[str, str]:
    """HTCondor's State/Activity for a Slurm node state."""
    base = row.state.rstrip("*~#!%$@^-+").lower()
    if base == "idle":
        return "Unclaimed", "Idle"
    if base in ("mixed", "allocated", "completing", "mix", "alloc", "comp"):
        return "Claimed", "Busy"
    return "Owner", "Idle"     # down, drained, maint, unknown: not available to jobs


class SlurmNodes:
    """The node table the backend refreshes from ``sinfo`` and the slot binding reads."""

    def __init__(self, sink: AgentSink, arch: str, opsys: str) -> None:
        self._sink = sink
        self.arch = arch
        self.opsys = opsys
        self._lock = threading.Lock()
        self._nodes: dict[str, _Node] = {}

    def refresh(self, rows: list[NodeRow]) -> None:
        """Take a fresh ``sinfo`` listing; changed slots are reported to the sink."""
        now = int(time.time())
        announce: list[tuple[str, str, str, str]] = []
        with self._lock:
            for slot_id, row in enumerate(sorted(rows, key=lambda r: r.name), start=1):
                state, activity = slot_state(row)
                old = self._nodes.get(row.name)
                if old is not None and old.row == row:
                    continue
                node = _Node(row, state, activity,
                             old.entered_state if old and old.state == state else now,
                             old.entered_activity if old and old.activity == activity else now,
                             classad.ClassAd())
                node.ad = self._slot_ad(node, slot_id)
                self._nodes[row.name] = node
                announce.append((row.name, old.state if old else "", state, activity))
            gone = set(self._nodes) - {row.name for row in rows}
            for name in gone:
                log.warning("Slurm node %s is gone from sinfo", name)
                del self._nodes[name]
        for name, old_state, state, activity in announce:
            self._sink.changed("slot", name)
            if old_state != state:
                self._sink.event("SlotStateChanged", {"Name": name, "From": old_state,
                                                      "To": state, "Activity": activity,
                                                      "JobId": "", "Owner": ""})

    def _slot_ad(self, node: _Node, slot_id: int) -> classad.ClassAd:
        row = node.row
        ad = classad.ClassAd({
            "MyType": "Machine", "Name": row.name, "Machine": row.name, "SlotID": slot_id,
            "Arch": self.arch, "OpSys": self.opsys,
            "Cpus": row.cpus, "TotalCpus": row.cpus, "Memory": row.memory_mib, "Disk": 0,
            "State": node.state, "Activity": node.activity,
            "EnteredCurrentState": node.entered_state,
            "EnteredCurrentActivity": node.entered_activity,
            "LoadAvg": row.load, "TotalJobRunTime": 0,
            "SlurmState": row.state, "SlurmPartitions": ",".join(row.partitions),
            "CpusAllocated": row.cpus_allocated, "FreeMemory": row.free_memory_mib,
        })
        ad["Start"] = classad.ExprTree("true")
        ad["Requirements"] = classad.ExprTree("START")
        ad["Rank"] = classad.ExprTree("0")
        return ad

    def slots(self) -> list[SlotView]:
        """Slurm's nodes; never free to our negotiator (Slurm places jobs)."""
        with self._lock:
            return [SlotView(name, node.ad, False) for name, node in self._nodes.items()]

    def names(self) -> list[str]:
        with self._lock:
            return list(self._nodes)

    def values(self, name: str) -> dict[str, Any] | None:
        """A node's properties and statistics for its slot object."""
        with self._lock:
            node = self._nodes.get(name)
            if node is None:
                return None
            ad = node.ad
        return slot_values(ad, ("SlurmState", "SlurmPartitions", "CpusAllocated", "FreeMemory"))
