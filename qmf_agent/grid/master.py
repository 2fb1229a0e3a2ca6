"""The master: starts, stops and reconfigures the daemons inside the agent.

HTCondor's condor_master is a process that forks the other daemons; here
the daemons are roles in one process (:class:`~qmf_agent.grid.daemon.Role`),
so ``Restart`` restarts the roles in place -- the process, its connections
and the durable queue stay -- and ``DaemonsOff`` stops every role while the
master itself stays reachable, so a console can start them again.  Which
roles run is ``DAEMON_LIST``, as in HTCondor; a ``Reconfig`` that changes it
starts and stops roles to match.

The master also owns the configuration on the wire: ``GetRawConfig`` (one
value as written), ``GetConfig`` (expanded values, what HTCondor's
``param`` answers) and ``SetRawConfig`` (persisted at once, applied by the
roles at the next ``Reconfig``, as ``condor_config_val -set`` is).

Authorization: reading configuration is open to every caller (HTCondor's
READ level); everything that changes something needs an admin
(``QMF_ADMINS``) and is otherwise refused with ``Forbidden``.  Control
operations are serialized by one lock, so a Restart and a Stop cannot
interleave.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import classad
from qmf_agent.binding import AgentSink, Caller
from qmf_agent.errors import Forbidden, ParameterInvalid, SchedulerError

from .config import Config, ConfigError
from .daemon import AgentAddress, DaemonBinding, DaemonInfo, Role

__all__ = ["Master", "MODES"]

log = logging.getLogger(__name__)

_MATCHMAKER = "NEGOTIATOR"

MODES = ("graceful", "fast", "peaceful")
"""How roles stop: let running jobs finish their grace period and go back to
the queue (graceful), kill them at once (fast), or wait for them (peaceful)."""


def _mode(value: Any) -> str:
    mode = str(value or "graceful").strip().lower()
    if mode not in MODES:
        raise ParameterInvalid(f"Mode: expected graceful, fast or peaceful, got {value!r}")
    return mode


class Master:
    """The master role's controls and its ``master`` object.

    *roles* are the daemons it controls, by their ``name`` (subsystem);
    *listeners* are told of every reloaded configuration (the facade uses
    this to re-read the agent's own settings); *busy* says whether jobs
    are running (what a peaceful shutdown waits for); *on_start* hears the
    subsystem of every role started (its DaemonStartTime begins then).
    """

    name = "MASTER"
    _PEACEFUL_POLL = 0.5

    def __init__(
        self,
        config: Config,
        sink: AgentSink,
        address: AgentAddress,
        roles: Sequence[Role],
        *,
        listeners: Sequence[Callable[[Config], None]] = (),
        busy: Callable[[], bool] = lambda: False,
        on_start: Callable[[str], None] = lambda subsystem: None,
    ) -> None:
        self._config = config
        self._sink = sink
        self._address = address
        self._roles: dict[str, Role] = {role.name.upper(): role for role in roles}
        self._listeners = list(listeners)
        self._object_name = config.get("MASTER_NAME") or address.agent
        self._lock = threading.RLock()
        self._busy = busy
        self._on_start = on_start
        self._peaceful: threading.Event | None = None
        self._info = DaemonInfo()
        self.binding = DaemonBinding(
            "master",
            lambda: self.object_name,
            self.values,
            {
                "Start": self._call_start,
                "Stop": self._call_stop,
                "Restart": self._call_restart,
                "Reconfig": self._call_reconfig,
                "DaemonsOff": self._call_daemons_off,
                "GetRawConfig": self._call_get_raw_config,
                "SetRawConfig": self._call_set_raw_config,
                "GetConfig": self._call_get_config,
            },
        )

    def add_listener(self, listener: Callable[[Config], None]) -> None:
        """Call *listener* with the configuration after every reload."""
        self._listeners.append(listener)

    @property
    def object_name(self) -> str:
        """The master's Name (its object key), fixed while the process runs."""
        return self._object_name

    @property
    def roles(self) -> dict[str, Role]:
        """The controlled roles by subsystem name."""
        return dict(self._roles)

    def _wanted(self) -> list[str]:
        """The subsystems ``DAEMON_LIST`` asks for, in its order, that we have."""
        listed = [name.upper() for name in self._config.get_list("DAEMON_LIST")]
        unknown = [name for name in listed if name != self.name and name not in self._roles]
        if unknown:
            log.warning("DAEMON_LIST names daemons this agent does not have: %s", ", ".join(unknown))
        return [name for name in listed if name in self._roles]

    def _role(self, subsystem: Any) -> Role:
        key = str(subsystem or "").strip().upper()
        if key == self.name:
            raise ParameterInvalid(
                "Subsystem: the master runs as long as the agent process does; "
                "use Restart, DaemonsOff, or stop the process"
            )
        role = self._roles.get(key)
        if role is None:
            known = ", ".join(sorted(self._roles)) or "none"
            raise ParameterInvalid(f"Subsystem: no daemon {subsystem!r} here (this agent has {known})")
        return role

    def _event(self, name: str, subsystem: str, **extra: Any) -> None:
        daemon_name = self._config.get(f"{subsystem}_NAME") or self.object_name
        values = {"Name": daemon_name, "Subsystem": subsystem, "Owner": self._config.get("USER") or ""}
        values.update(extra)
        self._sink.event(name, values)

    # -- controls (Python API; the methods below check the caller) -----------------

    def start_all(self) -> None:
        """Start the master and every role ``DAEMON_LIST`` names."""
        with self._lock:
            self._info.restarted()
            self._event("DaemonStarted", self.name)
            for subsystem in self._wanted():
                self.start_role(subsystem)

    def stop_all(self, mode: str = "graceful") -> None:
        """Stop every running role, last started first (the master stays).

        ``peaceful`` stops the matchmaker at once, so no job starts, and
        the other roles once no job runs any more (checked on a thread of
        its own; the call returns at once).  Any later control call
        cancels a pending peaceful stop.
        """
        mode = _mode(mode)
        with self._lock:
            self._cancel_peaceful()
            if mode == "peaceful" and self._busy():
                if _MATCHMAKER in self._roles:
                    self.stop_role(_MATCHMAKER, mode)
                self._peaceful = threading.Event()
                threading.Thread(
                    target=self._finish_peacefully, args=(self._peaceful,),
                    name="master-peaceful", daemon=True,
                ).start()
                log.info("master: peaceful shutdown: waiting for running jobs to finish")
                return
            for subsystem in reversed(list(self._roles)):
                self.stop_role(subsystem, mode)

    def _cancel_peaceful(self) -> None:
        if self._peaceful is not None:
            self._peaceful.set()
            self._peaceful = None
            log.info("master: pending peaceful shutdown cancelled")

    def _finish_peacefully(self, cancelled: threading.Event) -> None:
        while not cancelled.wait(self._PEACEFUL_POLL):
            if self._busy():
                continue
            with self._lock:
                if cancelled.is_set():
                    return
                self._peaceful = None
                for subsystem in reversed(list(self._roles)):
                    self.stop_role(subsystem, "peaceful")
            return

    def start_role(self, subsystem: str) -> bool:
        """Start one role; False if it was running already."""
        with self._lock:
            self._cancel_peaceful()
            role = self._role(subsystem)
            if role.running:
                return False
            role.start()
            self._on_start(role.name.upper())
            log.info("master: %s started", role.name)
            self._event("DaemonStarted", role.name.upper())
            return True

    def stop_role(self, subsystem: str, mode: str = "graceful") -> bool:
        """Stop one role; False if it was not running."""
        mode = _mode(mode)
        with self._lock:
            role = self._role(subsystem)
            if not role.running:
                return False
            self._event("DaemonStopping", role.name.upper(), Mode=mode)
            role.stop(mode)
            log.info("master: %s stopped (%s)", role.name, mode)
            return True

    def restart(self) -> None:
        """Stop every role gracefully and start the listed ones again."""
        with self._lock:
            self._cancel_peaceful()
            log.info("master: restarting the daemons")
            self.stop_all("graceful")
            for subsystem in self._wanted():
                self.start_role(subsystem)

    def reconfig(self) -> None:
        """Re-read the configuration file and apply it everywhere.

        A bad file changes nothing (the previous values stay in force) and
        the error names the file and line.
        """
        with self._lock:
            try:
                self._config.reload()
            except ConfigError as exc:
                raise SchedulerError(f"configuration not reloaded: {exc}") from None
            for role in self._roles.values():
                if role.running:
                    role.reconfig(self._config)
            for listener in self._listeners:
                listener(self._config)
            wanted = self._wanted()
            for subsystem, role in self._roles.items():
                if subsystem in wanted and not role.running:
                    self.start_role(subsystem)
                elif subsystem not in wanted and role.running:
                    self.stop_role(subsystem, "graceful")
            log.info("master: configuration reloaded from %s", self._config.path or "<text>")

    # -- the master object ------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The master object's properties and statistics."""
        return {
            "Pool": self._config.get("COLLECTOR_HOST") or "",
            "System": self._config.get("FULL_HOSTNAME") or "",
            "Name": self.object_name,
            "Machine": self._config.get("FULL_HOSTNAME") or "",
            "MyAddress": self._address.my_address(),
            "RealUid": os.getuid(),
            **self._info.properties(),
            **self._info.statistics(),
        }

    def ad(self) -> classad.ClassAd:
        """The master's daemon ad (``MyType = "DaemonMaster"``)."""
        ad = classad.ClassAd()
        ad["MyType"] = "DaemonMaster"
        ad["Name"] = self.object_name
        ad["Machine"] = self._config.get("FULL_HOSTNAME") or ""
        ad["RealUid"] = os.getuid()
        ad["DaemonList"] = ", ".join([self.name, *self._wanted()])
        for name, value in self._info.ad_attributes().items():
            ad[name] = value
        return ad

    # -- methods ----------------------------------------------------------------------

    @staticmethod
    def _admin(caller: Caller, what: str) -> None:
        if not caller.admin:
            who = caller.identity or "an anonymous caller"
            raise Forbidden(f"{who} may not {what}: only QMF_ADMINS may control daemons")

    def _call_start(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self._admin(caller, "start daemons")
        self.start_role(str(args.get("Subsystem") or ""))
        return {}

    def _call_stop(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self._admin(caller, "stop daemons")
        self.stop_role(str(args.get("Subsystem") or ""), "graceful")
        return {}

    def _call_restart(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self._admin(caller, "restart daemons")
        self.restart()
        return {}

    def _call_reconfig(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self._admin(caller, "reconfigure daemons")
        self.reconfig()
        return {}

    def _call_daemons_off(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self._admin(caller, "turn daemons off")
        self.stop_all(_mode(args.get("Mode")))
        return {}

    def _call_get_raw_config(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        name = args.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise ParameterInvalid("Name: give a configuration variable name")
        value = self._config.get_raw(name.strip())
        if value is None:
            raise ParameterInvalid(f"Name: no configuration variable {name!r} is defined")
        return {"Value": value}

    def _call_get_config(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        names = args.get("Names") or []
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ParameterInvalid("Names: expected a list of configuration variable names")
        try:
            if not names:
                return {"Config": self._config.as_dict()}
            found = {name: self._config.get(name) for name in names}
        except ConfigError as exc:
            raise SchedulerError(f"configuration cannot be expanded: {exc}") from None
        return {"Config": {name: value for name, value in found.items() if value is not None}}

    def _call_set_raw_config(self, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        self._admin(caller, "change the configuration")
        name, value = args.get("Name"), args.get("Value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise ParameterInvalid("Name and Value: both must be strings")
        try:
            self._config.set_raw(name.strip(), value)
        except ConfigError as exc:
            raise ParameterInvalid(str(exc)) from None
        return {}
