"""The modelled system: a batch scheduler that knows jobs, not AMQP.

:class:`Grid` is the facade the agent process builds (docs/internals.md,
section 5): from a :class:`~qmf_agent.grid.config.Config` and a state
directory it opens the durable queue and wires the roles -- collector,
startd (the ``local`` backend), schedd, negotiator -- under a master that
starts, stops and reconfigures them, and hands the agent one
:class:`~qmf_agent.binding.ClassBinding` per schema class::

    grid = Grid(config, state_dir, sink=None, address=AgentAddress(url, agent_name))
    agent = Agent(name=agent_name, ..., epoch=grid.epoch)
    grid.attach(agent)                  # the agent is the AgentSink
    for name, binding in grid.bindings().items():
        agent.bind(name, binding)
    grid.start() ... grid.stop("graceful"); grid.close()

The sink may be given late because the agent needs the queue's epoch
before it exists; what the roles report until then (recovery requeues jobs
and says so) is held and delivered on :meth:`Grid.attach`.

The collector lists the agent's own daemons by building their ads from the
live roles at query time (see :mod:`qmf_agent.grid.collector`); a role that
is off has no ad, as an HTCondor daemon that is off has none.

Anonymous callers: ``QMF_ANONYMOUS_ADMIN`` (``auto``, ``true``, ``false``)
decides whether a caller with no authenticated identity acts as an admin.
``auto`` means "yes when consoles reach this agent on a loopback address":
then only local processes can connect, the position of HTCondor's personal
condor, where the local user administers the pool.  The agent marks only
identities in ``QMF_ADMINS`` as admins, so the grid applies this rule where
calls enter it, in :meth:`Grid.bindings`.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import classad
from qmf_agent.binding import AgentSink, Caller, ClassBinding, ObjectState

from .bindings_jobs import job_bindings
from .collector import Collector
from .config import Config, ConfigError
from .daemon import AgentAddress, DaemonInfo, Role
from .master import Master
from .negotiator import Negotiator, NegotiatorConfig
from .schedd import Schedd, ScheddConfig
from .slurm import SlurmBackend, SlurmConfig
from .startd import SlotConfig, Startd
from .store import Store

__all__ = ["Grid", "Config", "ConfigError", "AgentAddress", "Role", "SinkRelay", "agent_name"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
BACKENDS = ("local", "slurm")


def agent_name(config: Config) -> str:
    """``redhat.com:qmf-grid:<SCHEDD_NAME>`` (the host name by default)."""
    instance = config.get("SCHEDD_NAME") or config.get("FULL_HOSTNAME") or "localhost"
    return f"redhat.com:qmf-grid:{instance}"


class SinkRelay:
    """An :class:`~qmf_agent.binding.AgentSink` whose target arrives later.

    Until :meth:`attach`, reports are queued (bounded: a huge recovery
    keeps only the newest); afterwards they pass straight through.
    """

    _LIMIT = 100_000

    def __init__(self, target: AgentSink | None = None) -> None:
        self._lock = threading.Lock()
        self._target = target
        self._held: deque[Callable[[AgentSink], None]] = deque(maxlen=self._LIMIT)
        self._dropping = False

    def attach(self, target: AgentSink) -> None:
        with self._lock:
            self._target = target
            held, self._held = list(self._held), deque(maxlen=self._LIMIT)
        for report in held:
            report(target)

    def _report(self, report: Callable[[AgentSink], None]) -> None:
        with self._lock:
            target = self._target
            if target is None:
                if len(self._held) == self._LIMIT and not self._dropping:
                    log.warning("more than %d reports before the agent attached: "
                                "dropping the oldest", self._LIMIT)
                    self._dropping = True
                self._held.append(report)
                return
        report(target)

    def changed(self, class_name: str, key: str) -> None:
        self._report(lambda sink: sink.changed(class_name, key))

    def deleted(self, class_name: str, key: str, state: ObjectState) -> None:
        self._report(lambda sink: sink.deleted(class_name, key, state))

    def event(self, name: str, values: Mapping[str, Any], severity: int = 6) -> None:
        self._report(lambda sink: sink.event(name, values, severity))


class _AnonymousAsAdmin:
    """Pass calls on, marking an anonymous caller as an admin."""

    def __init__(self, inner: ClassBinding) -> None:
        self._inner = inner

    def keys(self) -> Any:
        return self._inner.keys()

    def state(self, key: str) -> ObjectState | None:
        return self._inner.state(key)

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        if caller.identity is None and not caller.admin:
            caller = Caller(identity=None, admin=True, request_id=caller.request_id)
        return self._inner.call(key, method, args, caller)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ad_from_values(my_type: str, values: Mapping[str, Any]) -> classad.ClassAd:
    """A daemon ad from an object's values (scalars only; times in seconds)."""
    ad = classad.ClassAd()
    ad["MyType"] = my_type
    for name, value in values.items():
        if isinstance(value, (str, int, float, bool)):
            ad[name] = value
    if isinstance(values.get("DaemonStartTime"), int):
        ad["DaemonStartTime"] = values["DaemonStartTime"] // _NS
    return ad


class Grid:
    """The scheduler's roles, wired, with their bindings.

    :param config: the configuration (read by :class:`Config`).
    :param state_dir: where the queue (``queue.db``) and job files live.
    :param sink: the agent, or ``None`` to :meth:`attach` it later.
    :param backend: what runs jobs: ``local`` (this machine's slots) or ``slurm``
        (an existing Slurm cluster); ``None``: the ``BACKEND`` setting.
    :param address: how consoles reach the agent (goes into daemon ads).
    """

    def __init__(
        self,
        config: Config,
        state_dir: str | Path,
        sink: AgentSink | None = None,
        backend: str | None = None,
        *,
        address: AgentAddress | None = None,
    ) -> None:
        backend = (backend or config.get("BACKEND") or "local").strip().lower()
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        self.config = config
        self.state_dir = Path(state_dir)
        self.address = address or AgentAddress("amqp://127.0.0.1:5672", agent_name(config))
        config.set("LOCAL_DIR", str(self.state_dir))
        self._sink = SinkRelay(sink)
        self.store = Store.open(str(self.state_dir))
        if backend == "slurm":
            self.startd: Any = SlurmBackend(self._sink, SlurmConfig.from_config(config))
        else:
            self.startd = Startd(self._sink, SlotConfig.from_config(config))
        self.schedd = Schedd(self.store, self._sink, self.startd, ScheddConfig.from_config(config))
        if backend == "slurm":
            self.startd.attach_queue(self.schedd)
        self.negotiator = Negotiator(
            self.schedd, self.startd, self._sink, NegotiatorConfig.from_config(config)
        )
        self.collector = Collector(config, self._sink, self.address)
        roles: list[Role] = [self.collector, self.startd, self.schedd, self.negotiator]
        # DaemonStartTime and MonitorSelf* of the objects bound in bindings_jobs
        self._infos = {"SCHEDD": DaemonInfo(), "NEGOTIATOR": DaemonInfo()}
        self.master = Master(config, self._sink, self.address, roles,
                             busy=lambda: bool(self.schedd.active), on_start=self._role_started)
        self._bindings: dict[str, ClassBinding] = {
            **job_bindings(
                self.schedd, self.startd, self.negotiator, address=self.address,
                pool=config.get("COLLECTOR_HOST") or "",
                schedd_info=self._infos["SCHEDD"], negotiator_info=self._infos["NEGOTIATOR"],
            ),
            "collector": self.collector.binding,
            "master": self.master.binding,
        }
        self.collector.add_local(self._local_ads)

    def _role_started(self, subsystem: str) -> None:
        info = self._infos.get(subsystem)
        if info is not None:
            info.restarted()

    @property
    def epoch(self) -> int:
        """The queue's epoch: incremented (durably) at every start."""
        return int(self.schedd.epoch)

    def attach(self, sink: AgentSink) -> None:
        """Give the grid its agent; reports held so far are delivered now."""
        self._sink.attach(sink)

    def bindings(self) -> dict[str, ClassBinding]:
        """One binding per schema class, by class name."""
        mode = (self.config.get("QMF_ANONYMOUS_ADMIN") or "auto").strip().lower()
        if mode == "auto":
            anonymous_admin = _is_loopback(self.address.public_url())
        else:
            anonymous_admin = self.config.get_bool("QMF_ANONYMOUS_ADMIN")
        if not anonymous_admin:
            return dict(self._bindings)
        log.info("anonymous callers act as admins (QMF_ANONYMOUS_ADMIN=%s, URL %s)",
                 mode, self.address.public_url())
        return {name: _AnonymousAsAdmin(binding) for name, binding in self._bindings.items()}

    def start(self) -> None:
        """Start the master and the roles ``DAEMON_LIST`` names."""
        self.master.start_all()

    def stop(self, mode: str = "graceful") -> None:
        """Stop every role (the queue stays open; see :meth:`close`)."""
        self.master.stop_all(mode)

    def close(self) -> None:
        """Close the durable queue; the grid is finished."""
        self.store.close()

    # -- the agent's own ads in the collector ----------------------------------------

    def _local_ads(self) -> list[classad.ClassAd]:
        ads = [self.master.ad()]
        for class_name, my_type, role in (
            ("scheduler", "Scheduler", self.schedd),
            ("negotiator", "Negotiator", self.negotiator),
        ):
            if role.running:
                ads.extend(self._ads_of(class_name, my_type))
        if self.schedd.running:
            ads.extend(self._ads_of("submitter", "Submitter"))
        if self.startd.running:
            # chained, so the slot's own ad is not touched; the collector copies
            ads.extend(classad.ClassAd({"TargetType": "Job"}, parent=view.ad)
                       for view in self.startd.slots())
        return ads

    def _ads_of(self, class_name: str, my_type: str) -> list[classad.ClassAd]:
        binding = self._bindings[class_name]
        ads = []
        for key in binding.keys():
            state = binding.state(key)
            if state is not None:
                ads.append(_ad_from_values(my_type, state.values))
        return ads
