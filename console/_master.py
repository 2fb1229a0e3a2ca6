"""Daemon control and configuration through the agent's ``master`` object:
``send_command``, ``param`` and ``reload_config``.

HTCondor's ``send_command`` sends a numbered command to a daemon; here each
command maps to one master method, so the numbers (the
:class:`~console.enums.DaemonCommands` values) stay HTCondor's while the
wire carries names a QMF console understands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from qmf_agent.errors import FeatureNotImplemented

from ._daemon_object import DaemonObject
from .enums import DaemonCommands

__all__ = ["Master", "send_command", "param", "reload_config", "Param", "COMMAND_METHODS"]

log = logging.getLogger(__name__)

# command -> (method, fixed arguments, whether ``target`` is the Subsystem)
COMMAND_METHODS: dict[DaemonCommands, tuple[str, dict[str, Any], bool]] = {
    DaemonCommands.Restart: ("Restart", {}, False),
    DaemonCommands.RestartPeaceful: ("Restart", {}, False),
    DaemonCommands.Reconfig: ("Reconfig", {}, False),
    DaemonCommands.DaemonsOff: ("DaemonsOff", {"Mode": "graceful"}, False),
    DaemonCommands.OffGraceful: ("DaemonsOff", {"Mode": "graceful"}, False),
    DaemonCommands.DaemonsOffFast: ("DaemonsOff", {"Mode": "fast"}, False),
    DaemonCommands.OffFast: ("DaemonsOff", {"Mode": "fast"}, False),
    DaemonCommands.OffForce: ("DaemonsOff", {"Mode": "fast"}, False),
    DaemonCommands.DaemonsOffPeaceful: ("DaemonsOff", {"Mode": "peaceful"}, False),
    DaemonCommands.OffPeaceful: ("DaemonsOff", {"Mode": "peaceful"}, False),
    DaemonCommands.DaemonOff: ("Stop", {}, True),
    DaemonCommands.DaemonOffFast: ("Stop", {}, True),
    DaemonCommands.DaemonOn: ("Start", {}, True),
}


class Master(DaemonObject):
    """The agent's master: starts, stops, reconfigures the daemons."""

    _qmf_class = "master"

    def command(self, command: DaemonCommands | int | str, target: str | None = None) -> dict[str, Any]:
        cmd = _command(command)
        entry = COMMAND_METHODS.get(cmd)
        if entry is None:
            raise FeatureNotImplemented(f"daemon command {cmd.name} is not supported by the agent's master")
        method, fixed, wants_target = entry
        args = dict(fixed)
        if wants_target:
            if not target:
                raise ValueError(f"{cmd.name} needs a target daemon (e.g. 'SCHEDD', 'STARTD')")
            args["Subsystem"] = target.upper()
        return self._invoke(method, **args)

    def config(self, names: list[str] | None = None) -> dict[str, Any]:
        """Configuration values with macros expanded (what HTCondor's
        ``param`` answers); every name with a value when *names* is empty."""
        out = self._invoke("GetConfig", Names=list(names or []))
        config = out.get("Config")
        return dict(config) if isinstance(config, Mapping) else {}

    def set(self, name: str, value: str) -> None:
        self._invoke("SetRawConfig", Name=name, Value=value)



def _command(command: DaemonCommands | int | str) -> DaemonCommands:
    try:
        if isinstance(command, str):
            return DaemonCommands[command]
        return DaemonCommands(command)
    except (KeyError, ValueError):
        raise ValueError(
            f"unknown daemon command {command!r} (one of {', '.join(DaemonCommands.__members__)})"
        ) from None


def send_command(ad: Mapping[str, Any] | str | None, dc: DaemonCommands | int | str, target: str | None = None) -> None:
    """Send daemon command *dc* to the daemon whose location ad is *ad*;
    *target* names the subsystem for DaemonOn/DaemonOff."""
    Master(ad).command(dc, target)


class Param(MutableMapping[str, str]):
    """The agent's configuration, read like a dictionary (``param["X"]``).

    Values are fetched through the master's ``GetConfig`` on first use
    and cached until :func:`reload_config`; writes go to ``SetRawConfig``.
    The location is ``$QMF_URL`` (or the default), as for ``Schedd()``.
    """

    def __init__(self, location: str | None = None) -> None:
        self._location = location
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def _master(self) -> Master:
        return Master(self._location)

    def __getitem__(self, name: str) -> str:
        with self._lock:
            if name not in self._cache:
                value = self._master().config([name]).get(name)
                self._cache[name] = None if value is None else str(value)
            value = self._cache[name]
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self._master().set(name, str(value))
        with self._lock:
            self._cache[name] = str(value)

    def __delitem__(self, name: str) -> None:
        raise TypeError("configuration entries cannot be deleted remotely; set them instead")

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._master().config()))

    def __len__(self) -> int:
        return len(self._master().config())

    def reload(self) -> None:
        with self._lock:
            self._cache.clear()

    def __repr__(self) -> str:
        return "<console.param: the agent's configuration>"


param = Param()


def reload_config() -> None:
    """Forget cached configuration values; the next read asks the agent."""
    param.reload()
