"""Jobs as the scheduler keeps them: lean records, state rules and defaults.

A queue of 100,000 jobs must fit in a few hundred megabytes and recover in
seconds, so a job is not a parsed ``classad.ClassAd`` while it sits in the
queue.  It is a :class:`Job` holding only the attributes that differ per
proc (usually none), chained to its :class:`Cluster`, which holds what the
submit gave once for all procs -- the same chaining HTCondor's schedd does
with its cluster and proc ads.  Attribute values are kept in the *raw*
representation below; a real ``ClassAd`` is built only when an expression
has to be evaluated (matchmaking, policy, constraints) and is not kept.

Raw values: ``int``, ``float``, ``bool`` and ``str`` literals as Python
values, anything else (expressions, lists, nested ads, undefined) as an
:class:`Expr` holding the ClassAd text.  The raw form is also what the store
writes (:func:`raw_to_json` / :func:`raw_from_json`).
"""

from __future__ import annotations

import enum
import socket
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import classad

from ..errors import ParameterInvalid

__all__ = [
    "JobStatus",
    "Universe",
    "Expr",
    "Cluster",
    "Job",
    "REQUIRED_ATTRIBUTES",
    "ACTIONS",
    "action_verdict",
    "raw_from_classad",
    "raw_from_text",
    "raw_to_text",
    "raw_to_json",
    "raw_from_json",
    "build_ad",
    "cached_ads",
    "canonical_name",
    "parse_job_id",
]


class JobStatus(enum.IntEnum):
    """HTCondor's JobStatus codes (the values are the wire's)."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5
    TRANSFERRING_OUTPUT = 6
    SUSPENDED = 7


class Universe(enum.IntEnum):
    """The JobUniverse values this scheduler understands."""

    VANILLA = 5
    SCHEDULER = 7
    GRID = 9
    LOCAL = 12


#: Universes that start on the scheduler's own machine without matchmaking.
UNMATCHED_UNIVERSES = frozenset({Universe.SCHEDULER, Universe.LOCAL})

REQUIRED_ATTRIBUTES = ("Cmd", "Requirements", "JobUniverse", "Iwd", "Owner")

#: Attribute spellings the scheduler itself reads; a submitted ``cmd`` is
#: stored as ``Cmd`` so that the scheduler's lookups stay plain dict hits.
_KNOWN = (
    "Args Arguments ClusterId Cmd CompletionDate ConcurrencyLimits CustomId "
    "Environment Env Err EnteredCurrentStatus ExitBySignal ExitCode ExitSignal "
    "ExitStatus GlobalJobId HoldReason HoldReasonCode HoldReasonSubCode ImageSize In "
    "Iwd JobCurrentStartDate JobPrio JobStartDate JobStatus JobUniverse "
    "LastJobStatus MaxHosts MinHosts NumJobStarts OnExitHold OnExitRemove Out Owner "
    "PeriodicHold PeriodicRelease PeriodicRemove ProcId QDate Rank ReleaseReason "
    "RemoteSysCpu RemoteUserCpu RemoteWallClockTime RemoveReason RequestCpus "
    "RequestDisk RequestMemory Requirements Submission UserLog "
    "JobRunCount LastHoldReason LastReleaseReason RemoteHost"
).split()
_CANONICAL = {name.lower(): name for name in _KNOWN}


def canonical_name(name: str) -> str:
    """The scheduler's spelling of attribute *name* (case-insensitive)."""
    return _CANONICAL.get(name.lower(), name)


class Expr:
    """An attribute value that is not a plain literal, as ClassAd text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return type(other) is Expr and other.text == self.text

    def __hash__(self) -> int:
        return hash(("Expr", self.text))

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"


_LITERAL_TYPES = (bool, int, float, str)


def raw_from_classad(ad: classad.ClassAd) -> dict[str, Any]:
    """The raw form of every attribute *ad* itself holds."""
    raw: dict[str, Any] = {}
    for name in ad.keys():
        value = ad[name]
        if type(value) in _LITERAL_TYPES:
            raw[canonical_name(name)] = value
        else:
            raw[canonical_name(name)] = Expr(str(ad.lookup(name)))
    return raw


def raw_from_text(text: str) -> Any:
    """Parse ClassAd expression *text* (SetAttribute's ``Value``) into a raw value.

    Raises :class:`ParameterInvalid` naming the problem when it does not parse.
    """
    try:
        probe = classad.ClassAd("[ v = " + text + " ]") if text.strip() else None
    except ValueError as exc:
        raise ParameterInvalid(f"Value {text!r} is not a ClassAd expression: {exc}") from None
    if probe is None or "v" not in probe:
        raise ParameterInvalid(f"Value {text!r} is not a ClassAd expression")
    return raw_from_classad(probe)["v"]


def raw_to_text(value: Any) -> str:
    """ClassAd text of a raw value (for unparsing and for events)."""
    if type(value) is Expr:
        return value.text
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is str:
        return classad.quote(value)
    if type(value) is float:
        return repr(value)
    return str(value)


def raw_to_json(own: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-able form of raw attributes: expressions become ``{"e": text}``."""
    return {k: ({"e": v.text} if type(v) is Expr else v) for k, v in own.items()}


def raw_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`raw_to_json`."""
    return {k: (Expr(v["e"]) if type(v) is dict else v) for k, v in data.items()}


def _set_raw(ad: classad.ClassAd, name: str, value: Any) -> None:
    ad[name] = classad.ExprTree(value.text) if type(value) is Expr else value


def build_ad(
    items: Mapping[str, Any], parent: classad.ClassAd | None = None
) -> classad.ClassAd:
    """A ``ClassAd`` of raw attributes *items*, chained to *parent*."""
    ad = classad.ClassAd()
    for name, value in items.items():
        _set_raw(ad, name, value)
    if parent is not None:
        ad.parent = parent
    return ad


_HOST = socket.getfqdn()

#: how many clusters keep their parsed ad (see :meth:`Cluster.ad`)
AD_CACHE_SIZE = 4096
#: the clusters holding a parsed ad, oldest first, by ``id()``.  The
#: references are weak: a cluster that leaves the queue is freed with its ad
#: at once instead of staying here until 4,096 newer ads push it out (a soak
#: that submits and removes jobs all day kept ~4 KB per removed cluster).
_recent: OrderedDict[int, weakref.KeyedRef[int, Cluster]] = OrderedDict()
_recent_lock = threading.Lock()
#: keys of cached clusters that died, purged from ``_recent`` at the next
#: build.  A weakref callback may run inside any allocation, even one made
#: under ``_recent_lock``, so it only appends here (atomic) and never locks.
_dead: list[int] = []


def _cluster_died(ref: weakref.KeyedRef[int, Cluster]) -> None:
    _dead.append(ref.key)


def _purge_dead() -> None:
    """Drop the entries of dead clusters (call with ``_recent_lock`` held)."""
    while _dead:
        ref = _recent.get(_dead.pop())
        if ref is not None and ref() is None:   # not an id() reused since
            del _recent[ref.key]


def cached_ads() -> int:
    """How many clusters hold a parsed ad now (at most :data:`AD_CACHE_SIZE`)."""
    with _recent_lock:
        _purge_dead()
        return sum(1 for ref in _recent.values() if ref() is not None)


class Cluster:
    """The attributes shared by every proc of one submit."""

    __slots__ = ("id", "attrs", "procs", "schedd", "_ad", "__weakref__")

    def __init__(self, cluster_id: int, attrs: dict[str, Any], schedd: str = "") -> None:
        self.id = cluster_id
        self.attrs = attrs
        #: the scheduler's name, the first part of GlobalJobId
        self.schedd = schedd or _HOST
        #: live procs (queue members) by proc id
        self.procs: dict[int, Job] = {}
        self._ad: classad.ClassAd | None = None

    def ad(self) -> classad.ClassAd:
        """The cluster ad, built on first use and kept while recently used.

        Kept for the most recent :data:`AD_CACHE_SIZE` clusters only: a
        constraint query over a queue of 100,000 single-job clusters must
        not leave 100,000 parsed ads (~4 KB each) behind.  The cache does
        not keep a cluster alive: one that left the queue goes with its ad.
        """
        ad = self._ad
        if ad is None:
            ad = self._ad = build_ad(self.attrs)
            key = id(self)
            with _recent_lock:
                _purge_dead()
                _recent[key] = weakref.KeyedRef(self, _cluster_died, key)
                _recent.move_to_end(key)
                while len(_recent) > AD_CACHE_SIZE:
                    oldest = _recent.popitem(last=False)[1]()
                    if oldest is not None:
                        oldest._ad = None
        return ad

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        self.attrs = attrs
        self._ad = None


class Job:
    """One proc: its own attributes over its cluster's.

    ``own`` is ``None`` when the proc differs from its cluster only in its
    ids (the common case for a bulk submit), which keeps a queued job at a
    few hundred bytes.  ClusterId, ProcId, GlobalJobId and CustomId are
    derived rather than stored, unless the submitter gave them.
    """

    __slots__ = ("cluster", "proc", "own")

    def __init__(self, cluster: Cluster, proc: int, own: dict[str, Any] | None = None) -> None:
        self.cluster = cluster
        self.proc = proc
        self.own = own or None

    @property
    def id(self) -> str:
        return f"{self.cluster.id}.{self.proc}"

    def _derived(self, name: str) -> Any:
        if name == "ClusterId":
            return self.cluster.id
        if name == "ProcId":
            return self.proc
        if name == "CustomId":
            return self.id
        if name == "GlobalJobId":
            return f"{self.cluster.schedd}#{self.id}#{self.cluster.attrs.get('QDate', 0)}"
        return None

    def get(self, name: str, default: Any = None) -> Any:
        """The raw value of attribute *name* (canonical spelling), or *default*."""
        own = self.own
        if own is not None and name in own:
            return own[name]
        value = self.cluster.attrs.get(name)
        if value is not None:
            return value
        derived = self._derived(name)
        return default if derived is None else derived

    @property
    def status(self) -> int:
        return int(self.get("JobStatus", 1))

    @property
    def owner(self) -> str:
        value = self.get("Owner", "")
        return value if type(value) is str else ""

    def find_name(self, name: str) -> str:
        """The spelling under which *name* is already stored, else canonical."""
        name = canonical_name(name)
        low = name.lower()
        for source in (self.own or {}, self.cluster.attrs):
            for existing in source:
                if existing.lower() == low:
                    return existing
        return name

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every attribute, derived ones included; own values win."""
        own = self.own or {}
        for name in ("ClusterId", "ProcId", "GlobalJobId", "CustomId"):
            if name not in own and name not in self.cluster.attrs:
                yield name, self._derived(name)
        for name, value in self.cluster.attrs.items():
            if name not in own:
                yield name, value
        yield from own.items()

    def flat(self) -> dict[str, Any]:
        """All attributes in one dict (for history and the wire)."""
        return dict(self.items())

    def ad(self) -> classad.ClassAd:
        """A ``ClassAd`` of this job, chained to the cluster ad (not kept)."""
        own = dict(self.own or {})
        for name in ("ClusterId", "ProcId", "GlobalJobId", "CustomId"):
            if name not in own and name not in self.cluster.attrs:
                own[name] = self._derived(name)
        return build_ad(own, self.cluster.ad())

    def with_changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The own attributes this job would have after *changes* (not applied)."""
        own = dict(self.own or {})
        own.update(changes)
        return own


def parse_job_id(text: Any) -> tuple[int, int]:
    """``"12.3"`` -> ``(12, 3)``; a clear :class:`ParameterInvalid` otherwise."""
    if not isinstance(text, str):
        raise ParameterInvalid(f"job id must be a string 'Cluster.Proc', got {text!r}")
    cluster, dot, proc = text.strip().partition(".")
    try:
        if not dot:
            raise ValueError
        ids = int(cluster), int(proc)
    except ValueError:
        raise ParameterInvalid(f"job id {text!r} is not of the form 'Cluster.Proc'") from None
    if ids[0] < 1 or ids[1] < 0:
        raise ParameterInvalid(f"job id {text!r} is out of range")
    return ids


# --- state rules -----------------------------------------------------------

#: Act's actions, with the statuses each acts on and the one already "done".
ACTIONS: dict[str, tuple[frozenset[int], frozenset[int]]] = {
    "hold": (
        frozenset({JobStatus.IDLE, JobStatus.RUNNING, JobStatus.SUSPENDED,
                   JobStatus.TRANSFERRING_OUTPUT}),
        frozenset({JobStatus.HELD}),
    ),
    "release": (frozenset({JobStatus.HELD}), frozenset()),
    "remove": (
        frozenset({JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD,
                   JobStatus.SUSPENDED, JobStatus.TRANSFERRING_OUTPUT}),
        frozenset({JobStatus.REMOVED}),
    ),
    "suspend": (frozenset({JobStatus.RUNNING}), frozenset({JobStatus.SUSPENDED})),
    "continue": (frozenset({JobStatus.SUSPENDED}), frozenset({JobStatus.RUNNING})),
}


def action_verdict(action: str, status: int) -> str:
    """``"ok"``, ``"already"`` or ``"bad"``: HTCondor's rule for *action* on *status*.

    Release acts on held jobs only; holding a held job is already done;
    removing a completed job is a bad status.
    """
    allowed, done = ACTIONS[action]
    if status in allowed:
        return "ok"
    if status in done:
        return "already"
    return "bad"


def now() -> int:
    """Whole seconds since the epoch, as ClassAd times are kept."""
    return int(time.time())
