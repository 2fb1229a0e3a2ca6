"""The negotiator: matchmaking of idle jobs to free slots, in fair-share order.

A cycle runs on an interval and at once when poked (a Submit, a Reschedule,
a slot freed by an ending job -- so a short job's slot is re-matched
immediately rather than on the next tick).

Autoclusters make a cycle cost proportional to the number of *kinds* of
job, not jobs: idle jobs whose significant attributes are equal match the
same slots, so one representative per autocluster is matched against every
free slot, and the slots found are handed to that autocluster's jobs in
order.  An attribute is significant unless it is one of the per-job
bookkeeping attributes (ids, dates, files, arguments) that no
Requirements/Rank/Start expression -- the job's or the slots' -- mentions.

Fair share is HTCondor's accountant, simplified: each owner has a real
priority that follows the number of slots they use with a half-life, a
priority factor, and accumulated usage; the effective priority is real
priority times factor (smaller is better).  Free slots are first divided
among owners with idle jobs in inverse proportion to their effective
priority (the "pie"), then leftovers go in priority order.  Concurrency
limits (``ConcurrencyLimits = "name[:n], ..."``) cap how many running jobs
may hold each named resource.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import classad

from ..binding import AgentSink
from ..errors import ParameterInvalid
from .backend import Backend, SlotView
from .config import Config
from .jobs import Expr, Job

__all__ = ["Negotiator", "NegotiatorConfig", "Accountant"]

log = logging.getLogger(__name__)

#: Per-job attributes that do not make two jobs match differently, unless an
#: expression mentions them.
_BOOKKEEPING = frozenset({
    "ClusterId", "ProcId", "GlobalJobId", "CustomId", "QDate", "JobStatus", "LastJobStatus",
    "EnteredCurrentStatus", "Args", "Arguments", "Environment", "Env", "In", "Out", "Err",
    "UserLog", "Cmd", "Iwd", "Submission", "JobPrio", "HoldReason", "HoldReasonCode",
    "HoldReasonSubCode", "ReleaseReason", "RemoveReason", "LastHoldReason", "NumJobStarts",
    "JobRunCount", "RemoteWallClockTime", "RemoteUserCpu", "RemoteSysCpu", "ImageSize",
    "CompletionDate", "JobStartDate", "JobCurrentStartDate", "RemoteHost", "LastRemoteHost",
    "ExitCode", "ExitStatus", "ExitBySignal", "ExitSignal", "PeriodicHold", "PeriodicRelease",
    "PeriodicRemove", "OnExitHold", "OnExitRemove", "NumRestarts", "LeaveJobInQueue",
})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class NegotiatorConfig:
    """The negotiator's knobs; :meth:`from_config` reads them from the agent's."""

    name: str = ""
    interval: float = 2.0
    half_life: float = 86400.0

    @classmethod
    def from_config(cls, config: Config) -> NegotiatorConfig:
        return cls(name=config.get("NEGOTIATOR_NAME") or "",
                   interval=config.get_float("NEGOTIATOR_INTERVAL"))


@dataclass
class _Owner:
    priority: float = 0.5
    factor: float = 1.0
    usage: float = 0.0
    in_use: int = 0
    matched: int = 0


@dataclass
class Accountant:
    """Per-owner priority, factor and usage (HTCondor's accountant, in memory)."""

    half_life: float = 86400.0
    owners: dict[str, _Owner] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)

    MIN_PRIORITY = 0.5

    def owner(self, name: str) -> _Owner:
        return self.owners.setdefault(name, _Owner())

    def update(self, in_use: Mapping[str, int]) -> None:
        """Age priorities toward current use and add the elapsed usage."""
        now = time.monotonic()
        dt, self.last = now - self.last, now
        beta = 0.5 ** (dt / self.half_life) if self.half_life > 0 else 0.0
        for name in set(self.owners) | set(in_use):
            rec = self.owner(name)
            rec.in_use = in_use.get(name, 0)
            rec.usage += rec.in_use * dt
            rec.priority = max(self.MIN_PRIORITY, rec.priority * beta + rec.in_use * (1 - beta))

    def effective(self, name: str) -> float:
        rec = self.owner(name)
        return rec.priority * rec.factor


def _limits_of(job: Job) -> list[tuple[str, float]]:
    text = job.get("ConcurrencyLimits")
    if type(text) is not str or not text.strip():
        return []
    out = []
    for item in text.split(","):
        name, _, amount = item.strip().partition(":")
        if not name:
            continue
        try:
            out.append((name.lower(), float(amount) if amount else 1.0))
        except ValueError:
            out.append((name.lower(), 1.0))
    return out


class Negotiator:
    """Matchmaking role.  ``schedd`` gives idle jobs and takes matches."""

    name = "negotiator"

    def __init__(self, schedd: Any, backend: Backend, sink: AgentSink,
                 config: NegotiatorConfig | None = None) -> None:
        self.config = config or NegotiatorConfig()
        self.schedd = schedd
        self.backend = backend
        self.sink = sink
        self.accountant = Accountant(self.config.half_life)
        self.limits: dict[str, float] = {}
        self.stats: dict[str, Any] = {
            "Matches": 0, "Rejections": 0, "Duration": 0.0, "NumIdleJobs": 0,
            "NumJobsConsidered": 0, "CandidateSlots": 0, "LastCycleEnd": 0, "Cycles": 0,
            "TotalMatches": 0,
        }
        self._lock = threading.Lock()       # one cycle at a time
        self._wake = threading.Condition()
        self._poked = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        if not getattr(self.backend, "schedules_itself", False):
            # a backend that places its jobs itself (Slurm) leaves a cycle
            # nothing to match: the periodic one keeps the statistics, and
            # waking this thread on every Submit only took the GIL from it
            schedd.on_work = self.poke

    # --- role --------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self.schedd.matchmaking = True
        self._thread = threading.Thread(target=self._loop, name="negotiator", daemon=True)
        self._thread.start()

    def stop(self, mode: str = "graceful") -> None:
        """Stop matchmaking: no job starts until :meth:`start` (claims included)."""
        self.schedd.matchmaking = False
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None

    def reconfig(self, config: Config) -> None:
        self.config.interval = config.get_float("NEGOTIATOR_INTERVAL")
        self.poke()

    def poke(self) -> None:
        """Run a cycle as soon as possible (Submit, Reschedule, a freed slot)."""
        with self._wake:
            self._poked = True
            self._wake.notify()

    def _loop(self) -> None:
        while True:
            with self._wake:
                if not self._poked and not self._stopping:
                    self._wake.wait(self.config.interval)
                if self._stopping:
                    return
                self._poked = False
            try:
                self.cycle()
            except Exception:
                log.exception("negotiation cycle failed")

    # --- the cycle ---------------------------------------------------------

    def cycle(self) -> int:
        """One negotiation cycle; returns the number of jobs started."""
        with self._lock:
            t0 = time.monotonic()
            matches, considered, rejections, n_idle, n_slots = self.match()
            started = self.schedd.start_matches(matches) if matches else 0
            st = self.stats
            st["Matches"] = started
            st["Rejections"] = rejections
            st["TotalMatches"] += started
            st["Duration"] = time.monotonic() - t0
            st["NumIdleJobs"] = n_idle
            st["NumJobsConsidered"] = considered
            st["CandidateSlots"] = n_slots
            st["LastCycleEnd"] = int(time.time())
            st["Cycles"] += 1
        self.sink.changed("negotiator", self.config.name)
        return started

    def match(self) -> tuple[list[tuple[Job, str | None]], int, int, int, int]:
        """Pair idle jobs with free slots without starting them.

        Returns (matches, jobs considered, rejections, idle jobs, free slots);
        :meth:`cycle` hands the matches to the schedd.
        """
        schedd = self.schedd
        if getattr(self.backend, "schedules_itself", False):   # Slurm places its jobs itself
            return [], 0, 0, len(schedd.idle) + len(schedd.idle_local), 0
        free = [s for s in self.backend.slots() if s.free]
        with schedd.lock:
            idle = list(schedd.idle) if free else []
            local = list(schedd.idle_local)
            active = list(schedd.active.values())
            n_idle = len(schedd.idle) + len(local)
        in_use: dict[str, int] = {}
        limit_use: dict[str, float] = {}
        for job in active:
            in_use[job.owner] = in_use.get(job.owner, 0) + 1
            for name, amount in _limits_of(job):
                limit_use[name] = limit_use.get(name, 0.0) + amount
        self.accountant.update(in_use)
        matches: list[tuple[Job, str | None]] = []
        rejections = 0
        for job in local:
            if self._within_limits(job, limit_use):
                matches.append((job, None))
            else:
                rejections += 1
        vanilla = idle
        if not vanilla or not free:
            return matches, len(local), rejections, n_idle, len(free)
        groups = self.autoclusters(vanilla, free)
        by_owner: dict[str, list[list[Job]]] = {}
        for jobs in groups:
            by_owner.setdefault(jobs[0].owner, []).append(jobs)
        owners = sorted(by_owner, key=lambda o: (self.accountant.effective(o), o))
        taken: set[str] = set()
        candidates: dict[int, list[SlotView]] = {}
        considered = 0
        quota = self._pie(owners, len(free))
        for phase in (0, 1):
            for owner in owners:
                budget = quota[owner] if phase == 0 else len(free)
                got = 0
                for jobs in by_owner[owner]:
                    if got >= budget or len(taken) >= len(free):
                        break
                    key = id(jobs)
                    if key not in candidates:
                        candidates[key] = self._candidates(jobs[0], free)
                        if not candidates[key]:
                            rejections += len(jobs)
                    slots = candidates[key]
                    while jobs and got < budget and slots:
                        slot = slots[0]
                        if slot.name in taken:
                            slots.pop(0)
                            continue
                        job = jobs[0]
                        considered += 1
                        if not self._within_limits(job, limit_use):
                            jobs.pop(0)
                            rejections += 1
                            continue
                        jobs.pop(0)
                        slots.pop(0)
                        taken.add(slot.name)
                        matches.append((job, slot.name))
                        got += 1
                self.accountant.owner(owner).matched += got
        return matches, considered, rejections, n_idle, len(free)

    def _pie(self, owners: list[str], n_slots: int) -> dict[str, int]:
        weights = {o: 1.0 / max(self.accountant.effective(o), 1e-9) for o in owners}
        total = sum(weights.values()) or 1.0
        return {o: max(1, int(n_slots * w / total)) for o, w in weights.items()}

    def _within_limits(self, job: Job, use: dict[str, float]) -> bool:
        wanted = _limits_of(job)
        for name, amount in wanted:
            limit = self.limits.get(name)
            if limit is not None and use.get(name, 0.0) + amount > limit:
                return False
        for name, amount in wanted:
            use[name] = use.get(name, 0.0) + amount
        return True

    def _candidates(self, job: Job, free: list[SlotView]) -> list[SlotView]:
        """Free slots matching *job* both ways, best first (job Rank, then slot Rank)."""
        ad = job.ad()
        found = []
        for slot in free:
            try:
                if not ad.symmetric_match(slot.ad):
                    continue
                found.append((classad.rank(ad, slot.ad), classad.rank(slot.ad, ad), slot))
            except Exception:  # noqa: BLE001 - a bad expression must not stop the cycle
                log.exception("matching job %s against %s failed", job.id, slot.name)
        found.sort(key=lambda t: (-t[0], -t[1]))
        return [slot for _, _, slot in found]

    def autoclusters(self, jobs: Iterable[Job], slots: list[SlotView]) -> list[list[Job]]:
        """Group *jobs* by significant attributes; each group sorted by JobPrio, id."""
        referenced = self._slot_references(slots)
        cluster_sigs: dict[int, tuple[Any, frozenset[str]]] = {}
        groups: dict[Any, list[Job]] = {}
        for job in jobs:
            cluster = job.cluster
            entry = cluster_sigs.get(cluster.id)
            if entry is None:
                words = set(referenced)
                for name in ("Requirements", "Rank"):
                    value = job.get(name)
                    if type(value) is Expr:
                        words.update(w.lower() for w in _IDENT.findall(value.text))
                skip = frozenset(n for n in _BOOKKEEPING if n.lower() not in words)
                sig = tuple(sorted(
                    ((k, v) for k, v in cluster.attrs.items() if k not in skip), key=_name))
                entry = (sig, skip)
                cluster_sigs[cluster.id] = entry
            cluster_sig, skip = entry
            key: Any = cluster_sig
            own = job.own
            if own:
                own_sig = tuple(sorted(((k, v) for k, v in own.items() if k not in skip), key=_name))
                if own_sig:
                    key = (cluster_sig, own_sig)
            groups.setdefault(key, []).append(job)
        out = []
        for members in groups.values():
            members.sort(key=lambda j: (-_prio(j), j.cluster.id, j.proc))
            out.append(members)
        out.sort(key=lambda m: (-_prio(m[0]), m[0].cluster.id, m[0].proc))
        return out

    @staticmethod
    def _slot_references(slots: list[SlotView]) -> set[str]:
        words: set[str] = set()
        seen: set[str] = set()
        for slot in slots:
            for name in ("Start", "Requirements", "Rank"):
                text = str(slot.ad.lookup(name)) if name in slot.ad else ""
                if text in seen:
                    continue
                seen.add(text)
                words.update(w.lower() for w in _IDENT.findall(text))
        return words

    # --- methods of the negotiator object ----------------------------------

    def get_limits(self) -> dict[str, Any]:
        use: dict[str, float] = {}
        with self.schedd.lock:
            for job in self.schedd.active.values():
                for name, amount in _limits_of(job):
                    use[name] = use.get(name, 0.0) + amount
        return {name: {"Max": limit, "Current": use.get(name, 0.0)}
                for name, limit in sorted(self.limits.items())}

    def set_limit(self, name: str, maximum: float) -> None:
        name = _checked_name(name, "limit")
        if maximum < 0:
            raise ParameterInvalid(f"Max must be >= 0, got {maximum}")
        self.limits[name.lower()] = float(maximum)
        self.poke()

    def submitter_stats(self, name: str) -> dict[str, Any]:
        name = _checked_name(name, "submitter")
        if name not in self.accountant.owners:
            raise ParameterInvalid(f"no submitter named {name!r} is known to the negotiator")
        rec = self.accountant.owner(name)
        return {"Name": name, "Priority": rec.priority * rec.factor, "RealPriority": rec.priority,
                "PriorityFactor": rec.factor, "AccumulatedUsage": rec.usage,
                "ResourcesUsed": rec.in_use, "TotalMatches": rec.matched}

    def set_priority(self, name: str, value: float) -> None:
        if value < Accountant.MIN_PRIORITY:
            raise ParameterInvalid(f"Priority must be >= {Accountant.MIN_PRIORITY}, got {value}")
        self.accountant.owner(_checked_name(name, "submitter")).priority = float(value)

    def set_priority_factor(self, name: str, value: float) -> None:
        if value < 1.0:
            raise ParameterInvalid(f"Factor must be >= 1.0, got {value}")
        self.accountant.owner(_checked_name(name, "submitter")).factor = float(value)

    def set_usage(self, name: str, value: float) -> None:
        if value < 0:
            raise ParameterInvalid(f"Usage must be >= 0, got {value}")
        self.accountant.owner(_checked_name(name, "submitter")).usage = float(value)


def _checked_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ParameterInvalid(f"Name must name a {what}, got {name!r}")
    return name.strip()


def _prio(job: Job) -> int:
    value = job.get("JobPrio", 0)
    return value if type(value) is int else 0


def _name(item: tuple[str, Any]) -> str:
    return item[0]
