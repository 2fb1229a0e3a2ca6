"""The backend seam: what runs jobs, and where slot ads come from.

The schedd, its durable queue and the managed objects are the same whatever
executes the jobs.  A backend is handed a fully resolved :class:`JobSpec`
(argv, environment, files -- no ClassAd evaluation left to do), reports
each end of a run through the ``on_exit`` callback with an
:class:`ExitResult`, and describes its execution resources as slot ads for
the negotiator.  ``local`` (:class:`qmf_agent.grid.startd.Startd`) runs
processes on this machine; a ``slurm`` backend would submit batch jobs and
report Slurm's nodes as slots, behind the same interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import classad

__all__ = [
    "JobSpec", "ExitResult", "SlotView", "Backend", "ExitCallback", "SelfScheduling", "slot_values",
]


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to run one job, resolved by the schedd."""

    job_id: str
    owner: str
    universe: int
    argv: list[str]
    env: dict[str, str]
    iwd: str
    stdin: str
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ExitResult:
    """How one run ended.

    ``error`` is set (with a HTCondor hold code in ``error_code``) when the
    job could not be started at all: the schedd holds it with that reason.
    ``killed`` marks a run ended on the scheduler's request (hold, remove),
    whose exit status is therefore not the job's own.
    """

    job_id: str
    start: float
    end: float
    exit_code: int | None = None
    signal: int | None = None
    user_cpu: float = 0.0
    sys_cpu: float = 0.0
    image_size_kib: int = 0
    error: str | None = None
    error_code: int = 0
    killed: bool = False


@dataclass
class SlotView:
    """A slot as the negotiator sees it: its ad and whether it is free."""

    name: str
    ad: classad.ClassAd
    free: bool
    extra: dict[str, object] = field(default_factory=dict)


#: Slot ad attributes every backend's slot object shows, as values.
_SLOT_VALUE_ATTRS = ("Name", "Machine", "Arch", "OpSys", "Cpus", "Memory", "Disk", "SlotID",
                     "State", "Activity", "EnteredCurrentState", "EnteredCurrentActivity",
                     "LoadAvg", "TotalJobRunTime")


def slot_values(ad: classad.ClassAd, extra: Sequence[str] = ()) -> dict[str, Any]:
    """A slot ad's properties and statistics for its managed slot object.

    The common attributes plus a backend's *extra* ones, where set to a plain
    value, and the policy expressions as their text: the local startd and
    the Slurm nodes show slots alike to a console.
    """
    values: dict[str, Any] = {}
    for attr in (*_SLOT_VALUE_ATTRS, *extra):
        value = ad.get(attr)
        if value is not None and not isinstance(value, classad.ExprTree):
            values[attr] = value
    for attr in ("Requirements", "Rank", "Start"):
        values[attr] = str(ad.lookup(attr))
    return values


#: Receives the run endings collected together (one store transaction for all).
ExitCallback = Callable[[list[ExitResult]], None]


class Backend(Protocol):
    """What the schedd and negotiator need from an execution backend."""

    name: str

    def set_exit_callback(self, callback: ExitCallback) -> None:
        """Where run endings are reported (called from the backend's threads)."""
        ...

    def slots(self) -> list[SlotView]:
        """Every slot, with its current ad."""
        ...

    def run(self, spec: JobSpec, slot: str | None) -> None:
        """Start *spec* on *slot* (``None``: outside any slot, local/scheduler
        universe).  Failures to start are reported through the callback."""
        ...

    def kill(self, job_id: str) -> bool:
        """Stop a run (TERM, then KILL after the grace period); False if not running."""
        ...

    def suspend(self, job_id: str) -> bool: ...

    def run_uid(self, owner: str) -> int:
        """The local uid whose files a job of *owner* may have Fetch read."""
        ...

    def resume(self, job_id: str) -> bool: ...

    def start(self) -> None: ...

    def stop(self, mode: str = "graceful") -> None: ...


class SelfScheduling(Backend, Protocol):
    """An optional capability: a backend that places jobs itself (Slurm).

    A backend with ``schedules_itself = True`` takes jobs at Submit, before
    the schedd commits them, and our negotiator matches nothing for it.
    Controls and SetAttribute reach it before the schedd commits them too,
    so that its refusal (a QmfError) leaves the queue unchanged.  Each call
    answers attributes to commit with the change: per proc for
    :meth:`submit`, by job id for :meth:`control` and :meth:`edit`.
    """

    schedules_itself: bool

    def submit(self, jobs: Sequence[tuple[JobSpec, classad.ClassAd]]) -> list[dict[str, Any]]:
        """Take one cluster's procs (spec and ad); each proc's new attributes."""
        ...

    def control(self, action: str, jobs: Sequence[tuple[str, int]]) -> dict[str, dict[str, Any]]:
        """Hold/release/remove/suspend/continue (job id, status) in the engine."""
        ...

    def edit(self, jobs: Sequence[tuple[str, int]], name: str,
             value: Any) -> dict[str, dict[str, Any]]:
        """A SetAttribute of *name* to the raw *value*, before the schedd commits it."""
        ...


class SelfSchedulingBackend(Backend, Protocol):
    """A backend that places jobs itself (Slurm): ``schedules_itself = True``.

    The negotiator matches nothing for it; the schedd hands it each
    Submit's procs *before* committing (a refusal fails the Submit with
    nothing queued) and asks it first about every action and attribute
    change, committing whatever attributes it answers along with the
    change (e.g. a new Slurm job id).
    """

    schedules_itself: bool

    def submit(self, jobs: Sequence[tuple[JobSpec, classad.ClassAd]],
               held: bool | None = None) -> list[dict[str, Any]]:
        """Take the procs of one cluster; each proc's own new attributes."""
        ...

    def control(self, action: str, jobs: Sequence[tuple[str, int]]) -> dict[str, dict[str, Any]]:
        """Do hold/release/remove/suspend/continue for (id, status) pairs first."""
        ...

    def edit(self, jobs: Sequence[tuple[str, int]], name: str,
             value: Any) -> dict[str, dict[str, Any]]:
        """Carry a SetAttribute/Edit to the backend first."""
        ...
