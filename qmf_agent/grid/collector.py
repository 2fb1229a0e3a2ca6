"""The collector: the registry of ClassAds that lets consoles find things.

As in HTCondor, anyone may advertise an ad (a slot, a daemon, or an ad of
their own type such as the tutorial's ``MyType = "Demo"``), and anyone may
query by ad type and ClassAd constraint.  An ad is keyed by ``MyType`` and
``Name`` (case-insensitive, as ClassAd strings compare); an update replaces
the ad with the same key.  Like HTCondor's collector, an ad without a
``Name`` cannot be keyed and is dropped with a warning in the log (the
tutorial's first two ``advertise`` calls show exactly that).  Each stored
ad gets ``LastHeardFrom`` (seconds) and ``AuthenticatedIdentity`` (the
caller, or ``unauthenticated@unmapped``) and lives for its
``ClassAdLifetime`` (default ``CLASSAD_LIFETIME``, 900 s) unless updated.

The agent's own daemons (master, schedd, negotiator, collector, the
startd's slots) are not copied in: they are *local providers* whose ads are
built fresh at query time, so they are never stale and never expire while
the agent runs.  Their ads carry ``MyAddress``/``QmfUrl``/``QmfAgent``
(see :class:`~qmf_agent.grid.daemon.AgentAddress`), so a console can go
from ``Collector().locate(DaemonTypes.Schedd)`` to the scheduler object.
No caller may overwrite or invalidate them.

Authorization: a caller who is not an admin may replace or invalidate only
ads advertised under their own identity; an attempt on someone else's ad is
refused as a whole (nothing is changed) with ``Forbidden``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import classad
from qmf_agent.binding import AgentSink, Caller
from qmf_agent.errors import (
    Forbidden,
    ParameterInvalid,
    SchedulerError,
    UnknownObject,
)

from .config import Config
from .daemon import AgentAddress, DaemonBinding, DaemonInfo, Ticker

__all__ = ["Collector", "UNAUTHENTICATED", "ad_types_for", "daemon_types_for"]

log = logging.getLogger(__name__)

UNAUTHENTICATED = "unauthenticated@unmapped"
"""``AuthenticatedIdentity`` of an ad advertised without authentication."""

_MACHINE, _SCHEDD, _MASTER = "machine", "scheduler", "daemonmaster"
_SUBMITTER, _COLLECTOR, _NEGOTIATOR = "submitter", "collector", "negotiator"
_DAEMON_TYPES = frozenset({_MACHINE, _SCHEDD, _MASTER, _SUBMITTER, _COLLECTOR, _NEGOTIATOR})
_GENERIC = "generic"

# AdType spellings (HTCondor's names, MyType names, htcondor2.AdType values)
# -> the lower-case MyTypes they select; None selects every ad, _GENERIC
# selects ads of a type that is none of the daemon types.
_AD_TYPES: dict[str, frozenset[str] | None | str] = {}
for _names, _selects in (
    (("any", "10"), None),
    (("startd", "machine", "slot", "0", "24"), frozenset({_MACHINE})),
    (("schedd", "scheduler", "1"), frozenset({_SCHEDD})),
    (("master", "daemonmaster", "2"), frozenset({_MASTER})),
    (("submitter", "submittor", "6"), frozenset({_SUBMITTER})),
    (("collector", "7"), frozenset({_COLLECTOR})),
    (("negotiator", "13"), frozenset({_NEGOTIATOR})),
    (("generic", "15"), _GENERIC),
):
    for _name in _names:
        _AD_TYPES[_name] = _selects

# DaemonType spellings (names, htcondor2.DaemonType values).
_DAEMON_TYPE_NAMES: dict[str, frozenset[str] | None | str] = {}
for _names, _selects in (
    (("any", "1"), None),
    (("master", "2"), frozenset({_MASTER})),
    (("schedd", "scheduler", "3"), frozenset({_SCHEDD})),
    (("startd", "machine", "4"), frozenset({_MACHINE})),
    (("collector", "5"), frozenset({_COLLECTOR})),
    (("negotiator", "6"), frozenset({_NEGOTIATOR})),
    (("generic", "18"), _GENERIC),
):
    for _name in _names:
        _DAEMON_TYPE_NAMES[_name] = _selects

# The MyType an UPDATE_<X>_AD command implies for an ad that has none.
_COMMAND_TYPES = {
    "STARTD": "Machine",
    "SCHEDD": "Scheduler",
    "MASTER": "DaemonMaster",
    "SUBMITTOR": "Submitter",
    "SUBMITTER": "Submitter",
    "COLLECTOR": "Collector",
    "NEGOTIATOR": "Negotiator",
}

Selector = Callable[[str], bool]


def _selector(selects: frozenset[str] | None | str) -> Selector:
    if selects is None:
        return lambda my_type: True
    if selects == _GENERIC:
        return lambda my_type: my_type not in _DAEMON_TYPES
    assert isinstance(selects, frozenset)
    return lambda my_type: my_type in selects


def ad_types_for(ad_type: Any) -> Selector:
    """A test on lower-case ``MyType`` for an ``AdType`` argument.

    Accepts HTCondor's names (``Any``, ``Startd``, ``Schedd``, ...), the
    MyType spellings (``Machine``, ``Scheduler``, ``DaemonMaster``) and
    ``htcondor2.AdType`` numbers, case-insensitively.
    """
    key = str(ad_type).strip().lower()
    if key not in _AD_TYPES:
        raise ParameterInvalid(
            f"AdType: unknown ad type {ad_type!r}; use one of Any, Startd (Machine), "
            "Schedd (Scheduler), Master, Collector, Negotiator, Submitter, Generic"
        )
    return _selector(_AD_TYPES[key])


def daemon_types_for(daemon_type: Any) -> Selector:
    """A test on lower-case ``MyType`` for a ``DaemonType`` argument."""
    key = str(daemon_type).strip().lower()
    if key not in _DAEMON_TYPE_NAMES:
        raise ParameterInvalid(
            f"DaemonType: unknown daemon type {daemon_type!r}; use one of Any, Master, "
            "Schedd, Startd, Collector, Negotiator, Generic"
        )
    return _selector(_DAEMON_TYPE_NAMES[key])


@dataclass(slots=True)
class _Entry:
    ad: classad.ClassAd
    identity: str
    expires: float


def _string(ad: classad.ClassAd, name: str) -> str | None:
    value = ad.eval(name) if name in ad else None
    return value if isinstance(value, str) else None


def _my_type(ad: classad.ClassAd) -> str:
    return (_string(ad, "MyType") or "").lower()


def _key(ad: classad.ClassAd) -> tuple[str, str] | None:
    my_type, name = _string(ad, "MyType"), _string(ad, "Name")
    if my_type is None or name is None:
        return None
    return my_type.lower(), name.lower()


def _is_true(value: Any) -> bool:
    """HTCondor's EvalBool: true, or a non-zero number."""
    if value is True:
        return True
    return type(value) in (int, float) and value != 0


def _compile_constraint(constraint: Any, argument: str = "Constraint") -> classad.ExprTree | None:
    if constraint is None:
        return None
    if not isinstance(constraint, str):
        raise ParameterInvalid(f"{argument}: expected ClassAd expression text, got {type(constraint).__name__}")
    if not constraint.strip():
        return None
    try:
        return classad.ExprTree(constraint)
    except ValueError as exc:
        raise ParameterInvalid(f"{argument}: not a valid ClassAd expression: {exc}") from None


def _matches(expr: classad.ExprTree | None, ad: classad.ClassAd) -> bool:
    if expr is None:
        return True
    try:
        return _is_true(expr.eval(scope=ad))
    except Exception:  # an evaluation bug must not fail the whole query
        log.exception("collector: constraint %s failed on an ad", expr)
        return False


def _project(ad: classad.ClassAd, projection: Sequence[str] | None) -> classad.ClassAd:
    if not projection:
        return ad
    out = classad.ClassAd()
    for name in ("MyType", "TargetType", *projection):
        try:
            out[name] = ad.lookup(name)
        except KeyError:
            continue
    return out


def _copy_ad(ad: classad.ClassAd) -> classad.ClassAd:
    out = classad.ClassAd()
    for name in ad:
        out[name] = ad.lookup(name)
    return out


def _decode_ad(index: int, item: Any) -> classad.ClassAd:
    """One element of Advertise's ``Ads``: a wire map, ClassAd text, or a
    ClassAd (Python callers); always a fresh ad the collector may change."""
    try:
        if isinstance(item, classad.ClassAd):
            return _copy_ad(item)
        if isinstance(item, Mapping):
            return classad.decode_job_ad(dict(item))[0]
        if isinstance(item, str):
            return classad.parse_one(item)
    except ValueError as exc:
        raise ParameterInvalid(f"Ads[{index}]: {exc}") from None
    raise ParameterInvalid(
        f"Ads[{index}]: expected a map of attributes or ClassAd text, got {type(item).__name__}"
    )


class Collector:
    """The collector role and its ``collector`` object.

    *clock* gives wall-clock seconds (tests move it); *identity* is the
    ``AuthenticatedIdentity`` of the agent's own ads.
    """

    name = "COLLECTOR"

    def __init__(
        self,
        config: Config,
        sink: AgentSink,
        address: AgentAddress,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._sink = sink
        self._address = address
        self._clock = clock
        self._lock = threading.Lock()
        self._ads: dict[tuple[str, str], _Entry] = {}
        self._local: list[Callable[[], Iterable[classad.ClassAd]]] = []
        self._info = DaemonInfo()
        self._running = False
        # the object's key: fixed while the process runs, as HTCondor's daemon names are
        self._name = config.get("COLLECTOR_NAME") or address.agent
        self._read_config()
        self._ticker = Ticker("collector-expiry", self._sweep_interval, self.expire)
        self.binding = DaemonBinding(
            "collector",
            lambda: self._name,
            self.values,
            {
                "Advertise": self._call_advertise,
                "Query": self._call_query,
                "Locate": self._call_locate,
                "LocateAll": self._call_locate_all,
                "Invalidate": self._call_invalidate,
            },
        )

    def _read_config(self) -> None:
        self._lifetime = self._config.get_int("CLASSAD_LIFETIME")
        self._sweep_interval = self._config.get_float("COLLECTOR_EXPIRY_INTERVAL")
        self._own_identity = self._config.get("USER") or "condor"

    # -- Role ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running:
            return
        self._info.restarted()
        self._ticker.start()
        self._running = True
        log.info("collector %s started", self._name)

    def stop(self, mode: str = "graceful") -> None:
        if not self._running:
            return
        self._running = False
        self._ticker.stop()
        log.info("collector %s stopped (%s)", self._name, mode)

    def reconfig(self, config: Config) -> None:
        self._config = config
        self._read_config()
        self._ticker.interval = self._sweep_interval

    # -- local daemons -----------------------------------------------------------

    def add_local(self, provider: Callable[[], Iterable[classad.ClassAd]]) -> None:
        """Register a source of this agent's own ads (built at query time)."""
        self._local.append(provider)

    def _provided(self) -> list[classad.ClassAd]:
        """The other local daemons' ads (a failing provider is logged, skipped)."""
        ads: list[classad.ClassAd] = []
        for provider in self._local:
            try:
                ads.extend(provider())
            except Exception:
                log.exception("collector: a local ad provider failed")
        return ads

    def _local_ads(self, selector: Selector | None = None) -> dict[tuple[str, str], classad.ClassAd]:
        """This agent's own ads (of the types *selector* takes), stamped now.

        The collector's own ad counts every stored ad, so it is built only
        when asked for.
        """
        now = int(self._clock())
        provided = self._provided()
        wanted = [ad for ad in provided if selector is None or selector(_my_type(ad))]
        fresh = [_copy_ad(ad) for ad in wanted]
        if selector is None or selector(_COLLECTOR):
            fresh.insert(0, self.ad(provided))
        ads: dict[tuple[str, str], classad.ClassAd] = {}
        for ad in fresh:
            ad["LastHeardFrom"] = now
            ad["AuthenticatedIdentity"] = self._own_identity
            for name, value in self._address.ad_attributes().items():
                if name not in ad:
                    ad[name] = value
            key = _key(ad)
            if key is not None:
                ads[key] = ad
        return ads

    def _local_keys(self) -> set[tuple[str, str]]:
        keys = {key for ad in self._provided() if (key := _key(ad)) is not None}
        keys.add((_COLLECTOR, self._name.lower()))
        return keys

    def ad(self, provided: list[classad.ClassAd] | None = None) -> classad.ClassAd:
        """The collector's own daemon ad (*provided*: the local ads, if at hand)."""
        ad = classad.ClassAd()
        ad["MyType"] = "Collector"
        ad["Name"] = self._name
        ad["Machine"] = self._config.get("FULL_HOSTNAME") or ""
        for name, value in self._info.ad_attributes().items():
            ad[name] = value
        for name, value in self._statistics(provided).items():
            ad[name] = value
        return ad

    # -- the registry ------------------------------------------------------------

    def _require_running(self) -> None:
        if not self._running:
            raise SchedulerError(
                "the collector is off; start it with the master's Start('COLLECTOR')"
            )

    def advertise(self, ads: Sequence[Any], command: str = "UPDATE", caller: Caller | None = None) -> int:
        """Store (UPDATE) or drop (INVALIDATE) *ads*; the number affected."""
        self._require_running()
        caller = caller or Caller()
        if not isinstance(ads, (list, tuple)):
            raise ParameterInvalid(f"Ads: expected a list of ads, got {type(ads).__name__}")
        verb, implied_type = self._parse_command(command)
        decoded = [_decode_ad(i, item) for i, item in enumerate(ads)]
        if verb == "INVALIDATE":
            return sum(self._invalidate_by_ad(i, ad, implied_type, caller) for i, ad in enumerate(decoded))
        return self._update(decoded, implied_type, caller)

    @staticmethod
    def _parse_command(command: Any) -> tuple[str, str | None]:
        text = str(command or "UPDATE").strip().upper()
        for verb in ("UPDATE", "INVALIDATE"):
            if text == verb or text.startswith(verb + "_"):
                rest = text[len(verb) :].strip("_")
                for word, my_type in _COMMAND_TYPES.items():
                    if word in rest:
                        return verb, my_type
                return verb, None
        raise ParameterInvalid(
            f"Command: unknown command {command!r}; use UPDATE or INVALIDATE "
            "(or an HTCondor spelling such as UPDATE_AD_GENERIC)"
        )

    def _update(self, ads: list[classad.ClassAd], implied_type: str | None, caller: Caller) -> int:
        identity = caller.identity or UNAUTHENTICATED
        now = self._clock()
        local = self._local_keys()
        staged: list[tuple[tuple[str, str], _Entry]] = []
        for index, ad in enumerate(ads):
            if "MyType" not in ad:
                ad["MyType"] = implied_type or "Generic"
            key = _key(ad)
            if key is None:
                log.warning(
                    "collector: dropped Ads[%d] from %s: no Name (or MyType) string to key it by",
                    index, identity,
                )
                continue
            if key in local:
                raise Forbidden(f"Ads[{index}]: {key[0]} ad {key[1]!r} belongs to this agent's own daemon")
            ad["LastHeardFrom"] = int(now)
            ad["AuthenticatedIdentity"] = identity
            lifetime = ad.eval("ClassAdLifetime") if "ClassAdLifetime" in ad else None
            if not (isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0):
                lifetime = self._lifetime
            staged.append((key, _Entry(ad, identity, now + lifetime)))
        with self._lock:
            for index, (key, _entry) in enumerate(staged):
                current = self._ads.get(key)
                if current is not None and not self._may_change(current, caller):
                    raise Forbidden(
                        f"Ads[{index}]: {key[0]} ad {key[1]!r} was advertised by {current.identity}"
                    )
            self._ads.update(staged)
        if staged:
            self._sink.changed("collector", self._name)
        return len(staged)

    def _may_change(self, entry: _Entry, caller: Caller) -> bool:
        return caller.admin or entry.identity == (caller.identity or UNAUTHENTICATED)

    def _invalidate_by_ad(
        self, index: int, ad: classad.ClassAd, implied_type: str | None, caller: Caller
    ) -> int:
        my_type = _string(ad, "MyType")
        if my_type is None or my_type.lower() == "query":
            my_type = _string(ad, "TargetType") or implied_type
        name = _string(ad, "Name")
        if name is not None:
            if my_type is None:
                raise ParameterInvalid(f"Ads[{index}]: an invalidation needs MyType or TargetType")
            return self._remove_key((my_type.lower(), name.lower()), caller)
        if "Requirements" in ad:
            selector = _selector(frozenset({my_type.lower()}) if my_type else None)
            return self._remove(selector, ad.lookup("Requirements"), caller)
        raise ParameterInvalid(f"Ads[{index}]: an invalidation ad needs a Name or a Requirements constraint")

    def _remove_key(self, key: tuple[str, str], caller: Caller) -> int:
        with self._lock:
            entry = self._ads.get(key)
            if entry is None:
                return 0
            if not self._may_change(entry, caller):
                raise Forbidden(
                    f"{key[0]} ad {key[1]!r} was advertised by {entry.identity}; "
                    "only they or an admin may invalidate it"
                )
            del self._ads[key]
        self._sink.changed("collector", self._name)
        return 1

    def invalidate(self, ad_type: Any, constraint: Any, caller: Caller | None = None) -> int:
        """Drop stored ads of *ad_type* matching *constraint*; how many."""
        self._require_running()
        return self._remove(ad_types_for(ad_type), _compile_constraint(constraint), caller or Caller())

    def _remove(self, selector: Selector, expr: classad.ExprTree | None, caller: Caller) -> int:
        with self._lock:
            doomed = [
                (key, entry)
                for key, entry in self._ads.items()
                if selector(key[0]) and _matches(expr, entry.ad)
            ]
            for key, entry in doomed:
                if not self._may_change(entry, caller):
                    raise Forbidden(
                        f"{key[0]} ad {key[1]!r} was advertised by {entry.identity}; "
                        "only they or an admin may invalidate it"
                    )
            for key, _entry in doomed:
                del self._ads[key]
        if doomed:
            self._sink.changed("collector", self._name)
        return len(doomed)

    def expire(self) -> int:
        """Drop ads whose lifetime ran out; how many (called on a timer)."""
        now = self._clock()
        with self._lock:
            expired = [key for key, entry in self._ads.items() if entry.expires <= now]
            for key in expired:
                del self._ads[key]
        if expired:
            log.info("collector: %d ads expired", len(expired))
            self._sink.changed("collector", self._name)
        return len(expired)

    def _all_ads(self, selector: Selector) -> list[classad.ClassAd]:
        """The local and stored ads whose (lower-case) MyType *selector* takes."""
        local = self._local_ads(selector)
        with self._lock:
            stored = [
                entry.ad for key, entry in self._ads.items() if key not in local and selector(key[0])
            ]
        return [*(ad for key, ad in local.items() if selector(key[0])), *stored]

    def query(
        self, ad_type: Any = "Any", constraint: Any = None, projection: Sequence[str] | None = None
    ) -> list[classad.ClassAd]:
        """Ads of *ad_type* for which *constraint* is true, projected."""
        self._require_running()
        selector = ad_types_for(ad_type)
        expr = _compile_constraint(constraint)
        if projection is not None and (
            not isinstance(projection, (list, tuple)) or not all(isinstance(p, str) for p in projection)
        ):
            raise ParameterInvalid("Projection: expected a list of attribute names")
        return [_project(ad, projection) for ad in self._all_ads(selector) if _matches(expr, ad)]

    def locate_all(self, daemon_type: Any) -> list[classad.ClassAd]:
        """Every daemon ad of *daemon_type*."""
        self._require_running()
        selector = daemon_types_for(daemon_type)
        return self._all_ads(selector)

    def locate(self, daemon_type: Any, name: str | None = None) -> classad.ClassAd:
        """The ad of the daemon *name* (this agent's own when *name* is empty)."""
        ads = self.locate_all(daemon_type)
        if not name:
            local = self._local_keys()
            mine = [ad for ad in ads if _key(ad) in local]
            if mine or ads:
                return (mine or ads)[0]
            raise UnknownObject(f"no {daemon_type} daemon is known to the collector")
        wanted = name.lower()
        for ad in ads:
            for attribute in ("Name", "Machine"):
                value = _string(ad, attribute)
                if value is not None and value.lower() == wanted:
                    return ad
        raise UnknownObject(f"no {daemon_type} daemon named {name!r} is known to the collector")

    # -- the collector object ------------------------------------------------------

    def _statistics(self, provided: list[classad.ClassAd] | None = None) -> dict[str, int]:
        hosts = {"Claimed": 0, "Unclaimed": 0, "Owner": 0}
        total = running = idle = 0
        submitters: list[classad.ClassAd] = []
        schedds: list[classad.ClassAd] = []
        with self._lock:
            stored = [(key[0], entry.ad) for key, entry in self._ads.items()]
        if provided is None:
            provided = self._provided()
        for my_type, ad in stored + [(_my_type(ad), ad) for ad in provided]:
            if my_type == _MACHINE:
                total += 1
                state = _string(ad, "State")
                if state in hosts:
                    hosts[state] += 1
            elif my_type == _SUBMITTER:
                submitters.append(ad)
            elif my_type == _SCHEDD:
                schedds.append(ad)
        if submitters:
            running = sum(_int(ad, "RunningJobs") for ad in submitters)
            idle = sum(_int(ad, "IdleJobs") for ad in submitters)
        else:
            running = sum(_int(ad, "TotalRunningJobs") for ad in schedds)
            idle = sum(_int(ad, "TotalIdleJobs") for ad in schedds)
        return {
            "HostsTotal": total,
            "HostsClaimed": hosts["Claimed"],
            "HostsUnclaimed": hosts["Unclaimed"],
            "HostsOwner": hosts["Owner"],
            "RunningJobs": running,
            "IdleJobs": idle,
        }

    def values(self) -> dict[str, Any]:
        """The collector object's properties and statistics."""
        return {
            "Pool": self._config.get("COLLECTOR_HOST") or "",
            "System": self._config.get("FULL_HOSTNAME") or "",
            "Name": self._name,
            "MyAddress": self._address.my_address(),
            **self._info.properties(),
            **self._info.statistics(),
            **self._statistics(),
        }

    # -- methods ---------------------------------------------------------------------

    def _call_advertise(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self.advertise(args.get("Ads") or [], args.get("Command") or "UPDATE", caller)
        return {}

    def _call_query(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        ads = self.query(args.get("AdType") or "Any", args.get("Constraint"), args.get("Projection"))
        return {"Ads": [classad.encode_job_ad(ad) for ad in ads]}

    def _call_locate(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        ad = self.locate(args.get("DaemonType") or "Any", args.get("Name"))
        return {"Ad": classad.encode_job_ad(ad)}

    def _call_locate_all(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        ads = self.locate_all(args.get("DaemonType") or "Any")
        return {"Ads": [classad.encode_job_ad(ad) for ad in ads]}

    def _call_invalidate(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self.invalidate(args.get("AdType") or "Any", args.get("Constraint"), caller)
        return {}


def _int(ad: classad.ClassAd, name: str) -> int:
    value = ad.eval(name) if name in ad else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
