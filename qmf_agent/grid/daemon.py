"""What every daemon object of the grid shares.

HTCondor's daemons all publish the same identity (``CondorVersion``,
``CondorPlatform``, ``DaemonStartTime``) and the same self-monitoring
statistics (``MonitorSelf*``, read from the process itself); the QMF schema
has them as shared groups on scheduler, negotiator, collector and master.
They live here once, so the roles report the same numbers the same way.

Also here, because the master, the collector and the :class:`~qmf_agent.grid.Grid`
facade all need them and none of them owns the others:

* :class:`Role` -- the protocol of a daemon the master starts, stops and
  reconfigures (docs/internals.md, section 5);
* :class:`AgentAddress` -- where consoles reach this agent, written into
  every daemon ad (``MyAddress``, ``QmfUrl``, ``QmfAgent``) so a console can
  go from a located ad to the object;
* :class:`DaemonBinding` -- the :class:`~qmf_agent.binding.ClassBinding` of a
  class with exactly one object (collector, master), dispatching methods
  through an explicit table;
* :class:`Ticker` -- a named background thread running a function on an
  interval, stoppable at once (an ``Event.wait``, never a sleep loop).
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from qmf_agent.binding import Caller, ObjectState
from qmf_agent.errors import UnknownMethod, UnknownObject

from .config import Config

__all__ = [
    "Role",
    "AgentAddress",
    "DaemonInfo",
    "DaemonBinding",
    "Method",
    "Ticker",
    "now_ns",
    "condor_version",
    "condor_platform",
]

log = logging.getLogger(__name__)

_NS = 1_000_000_000


def now_ns() -> int:
    """Wall-clock time in nanoseconds since the epoch (the wire's absTime)."""
    return time.time_ns()


@runtime_checkable
class Role(Protocol):
    """A daemon inside the agent that the master controls.

    ``name`` is the subsystem (``SCHEDD``, ``STARTD``, ``NEGOTIATOR``,
    ``COLLECTOR``); ``stop(mode)`` takes ``graceful``, ``fast`` or
    ``peaceful``; ``reconfig(config)`` applies a reloaded configuration to a
    running role.  ``start`` and ``stop`` are idempotent.
    """

    name: str

    @property
    def running(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self, mode: str = "graceful") -> None: ...

    def reconfig(self, config: Config) -> None: ...


@dataclass(frozen=True, slots=True)
class AgentAddress:
    """How a console reaches this agent: a URL and the agent's QMF name.

    ``url`` is stripped of any user and password before it goes into an ad.
    """

    url: str
    agent: str

    def public_url(self) -> str:
        """The URL without credentials."""
        parts = urlsplit(self.url)
        if parts.username is None and parts.password is None:
            return self.url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def my_address(self) -> str:
        """An HTCondor-style sinful string: ``<host:port?agent=NAME>``."""
        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        return f"<{host}:{port}?agent={self.agent}>"

    def ad_attributes(self) -> dict[str, str]:
        """``MyAddress``, ``QmfUrl`` and ``QmfAgent`` for a daemon ad."""
        return {"MyAddress": self.my_address(), "QmfUrl": self.public_url(), "QmfAgent": self.agent}


@cache
def _version() -> str:
    try:
        return metadata.version("qmf-grid")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@cache
def _distro() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            fields = dict(
                line.rstrip("\n").split("=", 1) for line in f if "=" in line
            )
    except OSError:
        return platform.system().upper() or "LINUX"
    name = fields.get("NAME", "Linux").strip('"').split()[0]
    version = fields.get("VERSION_ID", "").strip('"')
    return f"{name}{version}"


def condor_version() -> str:
    """Our ``CondorVersion``: HTCondor's format, our product and version."""
    return f"$CondorVersion: {_version()} qmf-grid $"


def condor_platform() -> str:
    """Our ``CondorPlatform``: HTCondor's format (``$CondorPlatform: X86_64-Debian12 $``)."""
    machine = platform.machine().upper() or "X86_64"
    return f"$CondorPlatform: {machine}-{_distro()} $"


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_KIB = (os.sysconf("SC_PAGE_SIZE") // 1024) if hasattr(os, "sysconf") else 4


def _read_self() -> tuple[float, int, int] | None:
    """(CPU seconds, image KiB, resident KiB) of this process, from /proc."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        image_kib = int(fields[20]) // 1024
        rss_kib = int(fields[21]) * _PAGE_KIB
    except (IndexError, ValueError):
        return None
    return cpu, image_kib, rss_kib


class DaemonInfo:
    """A daemon's shared properties and ``MonitorSelf*`` statistics.

    Roles in one process share the process's figures (they are one
    process); each role keeps its own ``DaemonStartTime``, reset when the
    master restarts it.  Samples are cached for a second so a query of
    every object does not read /proc once per object.
    """

    _SAMPLE_TTL = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started_ns = now_ns()
        self._last_wall = time.monotonic()
        self._last_cpu = (_read_self() or (0.0, 0, 0))[0]
        self._sample: dict[str, Any] = {}
        self._sampled_at = -self._SAMPLE_TTL

    def restarted(self) -> None:
        """Record that the daemon (re)started now."""
        with self._lock:
            self._started_ns = now_ns()

    def properties(self) -> dict[str, Any]:
        """``CondorPlatform``, ``CondorVersion``, ``DaemonStartTime`` (ns)."""
        return {
            "CondorPlatform": condor_platform(),
            "CondorVersion": condor_version(),
            "DaemonStartTime": self._started_ns,
        }

    def statistics(self) -> dict[str, Any]:
        """``MonitorSelf{Age,CPUUsage,ImageSize,ResidentSetSize,Time}``.

        CPU usage is the percentage of one CPU used since the previous
        sample, as HTCondor reports it; sizes are KiB; the time is seconds
        since the epoch (the schema's unit).
        """
        with self._lock:
            wall = time.monotonic()
            if wall - self._sampled_at >= self._SAMPLE_TTL:
                self._sample = self._take_sample(wall)
                self._sampled_at = wall
            sample = dict(self._sample)
            sample["MonitorSelfAge"] = max(0, (now_ns() - self._started_ns) // _NS)
        return sample

    def _take_sample(self, wall: float) -> dict[str, Any]:
        reading = _read_self()
        if reading is None:
            return {"MonitorSelfCPUUsage": 0.0, "MonitorSelfImageSize": 0,
                    "MonitorSelfResidentSetSize": 0, "MonitorSelfTime": int(time.time())}
        cpu, image_kib, rss_kib = reading
        elapsed = wall - self._last_wall
        usage = 100.0 * (cpu - self._last_cpu) / elapsed if elapsed > 0 else 0.0
        self._last_wall, self._last_cpu = wall, cpu
        return {
            "MonitorSelfCPUUsage": round(max(0.0, usage), 2),
            "MonitorSelfImageSize": image_kib,
            "MonitorSelfResidentSetSize": rss_kib,
            "MonitorSelfTime": int(time.time()),
        }

    def ad_attributes(self) -> dict[str, Any]:
        """The same figures in HTCondor's ad units (times in seconds)."""
        values = {**self.properties(), **self.statistics()}
        values["DaemonStartTime"] = values["DaemonStartTime"] // _NS
        return values


Method = Callable[[Mapping[str, Any], Caller], dict[str, Any]]


class DaemonBinding:
    """The binding of a schema class that has exactly one object.

    *key* gives the object's key now (a reconfig may rename it);
    *values* its properties and statistics; *methods* the explicit table
    of schema method name -> handler.  Created once: its ``_create_ts``
    stays while the process runs.
    """

    def __init__(
        self,
        class_name: str,
        key: Callable[[], str],
        values: Callable[[], dict[str, Any]],
        methods: Mapping[str, Method],
    ) -> None:
        self.class_name = class_name
        self._key = key
        self._values = values
        self._methods = {name.lower(): fn for name, fn in methods.items()}
        self._created_ns = now_ns()

    def keys(self) -> list[str]:
        return [self._key()]

    def state(self, key: str) -> ObjectState | None:
        if key != self._key():
            return None
        now = now_ns()
        return ObjectState(key=key, values=self._values(), create_ts=self._created_ns, update_ts=now)

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        if key != self._key():
            raise UnknownObject(f"no {self.class_name} named {key!r} (this agent's is {self._key()!r})")
        handler = self._methods.get(method.lower())
        if handler is None:
            raise UnknownMethod(f"{self.class_name} has no method {method!r}")
        return handler(args, caller)


class Ticker:
    """Run *fn* every *interval* seconds on a named daemon thread.

    An exception in *fn* is logged and the ticker keeps going: a sweep that
    failed once must not stop every later sweep.  ``interval`` may change
    while it runs (reconfig); the next wait uses the new value.
    """

    def __init__(self, name: str, interval: float, fn: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self._fn = fn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(max(0.01, self.interval)):
            try:
                self._fn()
            except Exception:
                log.exception("%s: periodic task failed", self.name)
