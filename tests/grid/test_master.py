"""The master: daemon control, events, authorization, configuration on the wire."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from jobpath_helpers import Recorder

from qmf_agent.binding import Caller
from qmf_agent.errors import (
    Forbidden,
    ParameterInvalid,
    SchedulerError,
    UnknownMethod,
    UnknownObject,
)
from qmf_agent.grid.config import Config
from qmf_agent.grid.daemon import AgentAddress, Role
from qmf_agent.grid.master import Master

ADMIN = Caller(identity="root", admin=True)
USER = Caller(identity="alice")
ADDRESS = AgentAddress("amqp://127.0.0.1:5999", "redhat.com:qmf-grid:test")


class CountingRole:
    """A role that counts what the master asks of it."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self._running = False
        self._log = log
        self.configs: list[Config] = []

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        self._running = True
        self._log.append(f"start {self.name}")

    def stop(self, mode: str = "graceful") -> None:
        self._running = False
        self._log.append(f"stop {self.name} {mode}")

    def reconfig(self, config: Config) -> None:
        self.configs.append(config)
        self._log.append(f"reconfig {self.name}")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Master, dict[str, CountingRole], Recorder, list[str], Config]:
    path = tmp_path / "qmf-grid.conf"
    path.write_text("MASTER_NAME = m1\nDAEMON_LIST = MASTER, COLLECTOR, SCHEDD, STARTD\n")
    config = Config(path)
    log: list[str] = []
    roles = {name: CountingRole(name, log) for name in ("COLLECTOR", "NEGOTIATOR", "SCHEDD", "STARTD")}
    sink = Recorder()
    seen: list[Config] = []
    master = Master(config, sink, ADDRESS, list(roles.values()), listeners=[seen.append])
    return master, roles, sink, log, config


def call(master: Master, method: str, caller: Caller = ADMIN, **args: Any) -> dict[str, Any]:
    return master.binding.call("m1", method, args, caller)


def test_roles_satisfy_the_role_protocol() -> None:
    assert isinstance(CountingRole("X", []), Role)


def test_start_all_follows_daemon_list_and_raises_events(setup: Any) -> None:
    master, roles, sink, log, _ = setup
    master.start_all()
    assert log == ["start COLLECTOR", "start SCHEDD", "start STARTD"]
    assert not roles["NEGOTIATOR"].running
    assert [(name, v["Subsystem"]) for name, v in sink.events] == [
        ("DaemonStarted", "MASTER"),
        ("DaemonStarted", "COLLECTOR"),
        ("DaemonStarted", "SCHEDD"),
        ("DaemonStarted", "STARTD"),
    ]
    assert sink.events[0][1]["Name"] == "m1"
    assert sink.events[0][1]["Owner"]


def test_start_and_stop_one_daemon(setup: Any) -> None:
    master, roles, sink, log, _ = setup
    master.start_all()
    log.clear()
    sink.events.clear()
    assert call(master, "Stop", Subsystem="schedd") == {}
    assert not roles["SCHEDD"].running
    assert sink.events == [
        ("DaemonStopping", {"Name": sink.events[0][1]["Name"], "Subsystem": "SCHEDD",
                            "Owner": sink.events[0][1]["Owner"], "Mode": "graceful"})
    ]
    call(master, "Stop", Subsystem="SCHEDD")  # already stopped: nothing happens
    call(master, "Start", Subsystem="Negotiator")
    assert roles["NEGOTIATOR"].running
    assert log == ["stop SCHEDD graceful", "start NEGOTIATOR"]


def test_unknown_subsystems_and_the_master_itself_are_refused(setup: Any) -> None:
    master, *_ = setup
    with pytest.raises(ParameterInvalid, match="no daemon 'KBDD' here .*COLLECTOR, NEGOTIATOR, SCHEDD, STARTD"):
        call(master, "Start", Subsystem="KBDD")
    with pytest.raises(ParameterInvalid, match="master runs as long as the agent"):
        call(master, "Stop", Subsystem="master")
    with pytest.raises(ParameterInvalid, match="Subsystem"):
        call(master, "Start", Subsystem="")


def test_restart_stops_then_starts_the_listed_roles(setup: Any) -> None:
    master, roles, sink, log, _ = setup
    master.start_all()
    call(master, "Start", Subsystem="NEGOTIATOR")
    log.clear()
    call(master, "Restart")
    assert log == [
        "stop STARTD graceful", "stop SCHEDD graceful", "stop NEGOTIATOR graceful",
        "stop COLLECTOR graceful",
        "start COLLECTOR", "start SCHEDD", "start STARTD",
    ]
    assert all(roles[name].running for name in ("COLLECTOR", "SCHEDD", "STARTD"))


def test_daemons_off_modes(setup: Any) -> None:
    master, roles, _sink, log, _ = setup
    master.start_all()
    log.clear()
    call(master, "DaemonsOff", Mode="FAST")
    assert log == ["stop STARTD fast", "stop SCHEDD fast", "stop COLLECTOR fast"]
    assert not any(role.running for role in roles.values())
    # the master still answers and can start them again
    call(master, "Start", Subsystem="SCHEDD")
    assert roles["SCHEDD"].running
    with pytest.raises(ParameterInvalid, match="Mode: expected graceful, fast or peaceful, got 'never'"):
        call(master, "DaemonsOff", Mode="never")


def test_control_needs_an_admin(setup: Any) -> None:
    master, roles, _sink, log, _ = setup
    master.start_all()
    log.clear()
    for method, args in (
        ("Start", {"Subsystem": "NEGOTIATOR"}),
        ("Stop", {"Subsystem": "SCHEDD"}),
        ("Restart", {}),
        ("Reconfig", {}),
        ("DaemonsOff", {"Mode": "fast"}),
        ("SetRawConfig", {"Name": "A", "Value": "1"}),
    ):
        with pytest.raises(Forbidden, match="alice may not"):
            call(master, method, USER, **args)
    with pytest.raises(Forbidden, match="anonymous caller may not"):
        call(master, "Restart", Caller())
    assert log == []


def test_reconfig_rereads_the_file_and_follows_daemon_list(setup: Any, tmp_path: Path) -> None:
    master, roles, _sink, log, config = setup
    master.start_all()
    log.clear()
    assert config.path is not None
    config.path.write_text("MASTER_NAME = m1\nDAEMON_LIST = MASTER, COLLECTOR, NEGOTIATOR\nNUM_SLOTS = 7\n")
    call(master, "Reconfig")
    assert config.get_int("NUM_SLOTS") == 7
    assert "reconfig SCHEDD" in log and "reconfig NEGOTIATOR" not in log
    assert roles["NEGOTIATOR"].running
    assert not roles["SCHEDD"].running and not roles["STARTD"].running
    assert roles["COLLECTOR"].running


def test_reconfig_with_a_bad_file_changes_nothing(setup: Any) -> None:
    master, roles, _sink, log, config = setup
    master.start_all()
    log.clear()
    config.path.write_text("MASTER_NAME = m1\nNUM_SLOTS = x\n")
    with pytest.raises(SchedulerError, match=r"configuration not reloaded: .*qmf-grid.conf:2: NUM_SLOTS"):
        call(master, "Reconfig")
    assert log == []
    assert config.get_list("DAEMON_LIST") == ["MASTER", "COLLECTOR", "SCHEDD", "STARTD"]


def test_configuration_read_and_write(setup: Any) -> None:
    master, _roles, _sink, _log, config = setup
    assert call(master, "GetRawConfig", USER, Name="master_name") == {"Value": "m1"}
    assert call(master, "GetRawConfig", USER, Name="COLLECTOR_HOST") == {"Value": "$(CONDOR_HOST)"}
    with pytest.raises(ParameterInvalid, match="no configuration variable 'NOPE'"):
        call(master, "GetRawConfig", USER, Name="NOPE")
    everything = call(master, "GetConfig", USER, Names=[])["Config"]
    assert everything["MASTER_NAME"] == "m1"
    assert everything["COLLECTOR_HOST"] == config.get("FULL_HOSTNAME")
    assert call(master, "GetConfig", USER, Names=["master_name", "NOPE"]) == {
        "Config": {"master_name": "m1"}
    }
    with pytest.raises(ParameterInvalid, match="Names"):
        call(master, "GetConfig", USER, Names=[1, 2])
    call(master, "SetRawConfig", Name="NUM_SLOTS", Value="3")
    assert "NUM_SLOTS = 3" in config.path.read_text()
    assert call(master, "GetRawConfig", USER, Name="NUM_SLOTS") == {"Value": "3"}
    with pytest.raises(ParameterInvalid, match="NUM_SLOTS: expected an integer"):
        call(master, "SetRawConfig", Name="NUM_SLOTS", Value="three")
    with pytest.raises(ParameterInvalid, match="bad variable name"):
        call(master, "SetRawConfig", Name="no spaces", Value="1")


def test_master_object(setup: Any) -> None:
    master, *_ = setup
    assert master.binding.keys() == ["m1"]
    state = master.binding.state("m1")
    assert state is not None
    values = state.values
    assert values["Name"] == "m1"
    assert values["RealUid"] == os.getuid()
    assert values["MyAddress"] == "<127.0.0.1:5999?agent=redhat.com:qmf-grid:test>"
    assert values["CondorVersion"].startswith("$CondorVersion: ")
    assert values["DaemonStartTime"] > 0
    assert values["MonitorSelfResidentSetSize"] > 0
    assert master.binding.state("other") is None
    with pytest.raises(UnknownObject, match="no master named 'other'"):
        master.binding.call("other", "Restart", {}, ADMIN)
    with pytest.raises(UnknownMethod, match="no method 'Explode'"):
        call(master, "Explode")


def test_master_ad(setup: Any) -> None:
    master, *_ = setup
    ad = master.ad()
    assert ad.eval("MyType") == "DaemonMaster"
    assert ad.eval("Name") == "m1"
    assert ad.eval("DaemonList") == "MASTER, COLLECTOR, SCHEDD, STARTD"
    start = ad.eval("DaemonStartTime")
    assert isinstance(start, int) and 0 < start <= time.time()


def test_reconfig_listeners_see_the_new_configuration(setup: Any) -> None:
    master, _roles, _sink, _log, config = setup
    seen: list[int] = []
    master.add_listener(lambda c: seen.append(c.get_int("NUM_SLOTS")))
    config.path.write_text("MASTER_NAME = m1\nNUM_SLOTS = 9\n")
    master.reconfig()
    assert seen == [9]


def test_peaceful_stop_waits_for_running_jobs(tmp_path: Path) -> None:
    log: list[str] = []
    roles = [CountingRole(name, log) for name in ("COLLECTOR", "STARTD", "SCHEDD", "NEGOTIATOR")]
    jobs_running = [True]
    config = Config.from_text("MASTER_NAME = m1\n")
    master = Master(config, Recorder(), ADDRESS, roles, busy=lambda: jobs_running[0])
    master._PEACEFUL_POLL = 0.01
    master.start_all()
    log.clear()
    call(master, "DaemonsOff", Mode="peaceful")
    assert log == ["stop NEGOTIATOR peaceful"]  # no new jobs start; the rest wait
    jobs_running[0] = False
    deadline = time.monotonic() + 10
    while len(log) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log == ["stop NEGOTIATOR peaceful", "stop SCHEDD peaceful", "stop STARTD peaceful",
                   "stop COLLECTOR peaceful"]


def test_a_control_call_cancels_a_pending_peaceful_stop() -> None:
    log: list[str] = []
    roles = [CountingRole(name, log) for name in ("SCHEDD", "NEGOTIATOR")]
    jobs_running = [True]
    master = Master(Config.from_text("MASTER_NAME = m1\n"), Recorder(), ADDRESS, roles,
                    busy=lambda: jobs_running[0])
    master._PEACEFUL_POLL = 0.01
    master.start_all()
    master.stop_all("peaceful")
    master.start_role("NEGOTIATOR")
    log.clear()
    jobs_running[0] = False
    time.sleep(0.2)  # several polls: a cancelled wait must not stop anything
    assert log == []
    assert all(role.running for role in roles)
