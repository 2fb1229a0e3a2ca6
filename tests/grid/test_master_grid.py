"""The Grid facade: the master over the real roles, bindings, daemon ads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jobpath_helpers import Recorder

import classad
from qmf_agent.binding import Caller
from qmf_agent.errors import Forbidden
from qmf_agent.grid import AgentAddress, Grid, SinkRelay, agent_name
from qmf_agent.grid.config import Config, ConfigError
from qmf_agent.schema import Schema

LOOPBACK = AgentAddress("amqp://127.0.0.1:5999", "redhat.com:qmf-grid:g1")
REMOTE = AgentAddress("amqp://192.0.2.7:5672", "redhat.com:qmf-grid:g1")
ANON = Caller()


def make_grid(tmp_path: Path, text: str = "", address: AgentAddress = LOOPBACK,
              sink: Recorder | None = None) -> Grid:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "qmf-grid.conf"
    path.write_text("SCHEDD_NAME = g1\nNUM_SLOTS = 2\nNEGOTIATOR_INTERVAL = 0.2\n" + text)
    return Grid(Config(path), tmp_path / "state", sink, address=address)


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[Grid]:
    g = make_grid(tmp_path, sink=Recorder())
    g.start()
    yield g
    g.stop("fast")
    g.close()


def test_agent_name_follows_schedd_name() -> None:
    assert agent_name(Config.from_text("SCHEDD_NAME = alpha\n")) == "redhat.com:qmf-grid:alpha"


def test_one_binding_per_schema_class(grid: Grid) -> None:
    schema_classes = {cls.name.lower() for cls in Schema.load().classes}
    assert set(grid.bindings()) == schema_classes
    for name, binding in grid.bindings().items():
        for key in binding.keys():
            assert binding.state(key) is not None, (name, key)


def test_the_collector_lists_the_running_daemons(grid: Grid) -> None:
    by_type: dict[str, list[str]] = {}
    for ad in grid.collector.query("Any"):
        by_type.setdefault(ad.eval("MyType"), []).append(ad.eval("Name"))
        assert ad.eval("QmfAgent") == "redhat.com:qmf-grid:g1"
        assert ad.eval("MyAddress") == "<127.0.0.1:5999?agent=redhat.com:qmf-grid:g1>"
    assert by_type["DaemonMaster"] == ["g1"]
    assert by_type["Collector"] == ["g1"]
    assert by_type["Scheduler"] == ["g1"]
    assert by_type["Negotiator"] == ["g1"]
    assert len(by_type["Machine"]) == 2
    schedd = grid.collector.locate("Schedd")
    assert isinstance(schedd.eval("TotalIdleJobs"), int)
    slot = grid.collector.query("Startd", "SlotID == 1")[0]
    assert slot.eval("State") == "Unclaimed"
    assert slot.eval("TargetType") == "Job"
    assert isinstance(slot.lookup("Requirements"), classad.ExprTree)
    (projected,) = grid.collector.query("Startd", "SlotID == 2", ["Name", "Cpus", "Memory"])
    assert sorted(projected) == ["Cpus", "Memory", "MyType", "Name", "TargetType"]
    values = grid.collector.values()
    assert (values["HostsTotal"], values["HostsUnclaimed"]) == (2, 2)


def test_daemons_off_removes_their_ads_and_start_brings_them_back(grid: Grid) -> None:
    master = grid.bindings()["master"]
    master.call("g1", "DaemonsOff", {"Mode": "fast"}, ANON)
    assert not any(role.running for role in grid.master.roles.values())
    master.call("g1", "Start", {"Subsystem": "COLLECTOR"}, ANON)
    assert sorted(ad.eval("MyType") for ad in grid.collector.query("Any")) == ["Collector", "DaemonMaster"]
    master.call("g1", "Restart", {}, ANON)
    types = {ad.eval("MyType") for ad in grid.collector.query("Any")}
    assert {"Scheduler", "Negotiator", "Machine"} <= types


def test_anonymous_callers_are_admins_only_on_loopback_or_when_told(tmp_path: Path) -> None:
    cases = [
        ("", REMOTE, False),
        ("QMF_ANONYMOUS_ADMIN = true\n", REMOTE, True),
        ("QMF_ANONYMOUS_ADMIN = false\n", LOOPBACK, False),
        ("", LOOPBACK, True),
    ]
    for index, (text, address, allowed) in enumerate(cases):
        g = make_grid(tmp_path / str(index), text, address)
        try:
            master = g.bindings()["master"]
            if allowed:
                master.call("g1", "Reconfig", {}, ANON)
            else:
                with pytest.raises(Forbidden):
                    master.call("g1", "Reconfig", {}, ANON)
            # an authenticated non-admin is never upgraded
            with pytest.raises(Forbidden):
                master.call("g1", "Reconfig", {}, Caller(identity="mallory"))
        finally:
            g.stop("fast")  # the Reconfig started the roles: their threads go first
            g.close()
    bad = make_grid(tmp_path / "bad", "QMF_ANONYMOUS_ADMIN = sometimes\n")
    try:
        with pytest.raises(ConfigError, match="QMF_ANONYMOUS_ADMIN: expected true or false"):
            bad.bindings()
    finally:
        bad.close()


def test_reports_before_the_agent_exists_are_delivered_on_attach(tmp_path: Path) -> None:
    g = make_grid(tmp_path)
    try:
        g.start()
        sink = Recorder()
        g.attach(sink)
        started = [values["Subsystem"] for name, values in sink.events if name == "DaemonStarted"]
        assert started == ["MASTER", "COLLECTOR", "STARTD", "SCHEDD", "NEGOTIATOR"]
        g.stop("fast")
        assert [v["Subsystem"] for n, v in sink.events if n == "DaemonStopping"] == [
            "NEGOTIATOR", "SCHEDD", "STARTD", "COLLECTOR"]
    finally:
        g.close()


def test_sink_relay_passes_through_once_attached() -> None:
    relay = SinkRelay()
    relay.changed("job", "1.0")
    relay.event("JobSubmitted", {"Id": "1.0"})
    sink = Recorder()
    relay.attach(sink)
    relay.changed("job", "2.0")
    assert sink.changes == [("job", "1.0"), ("job", "2.0")]
    assert sink.events == [("JobSubmitted", {"Id": "1.0"})]


def test_the_epoch_goes_up_at_every_start(tmp_path: Path) -> None:
    first = make_grid(tmp_path)
    epoch = first.epoch
    first.close()
    second = make_grid(tmp_path)
    try:
        assert second.epoch == epoch + 1
    finally:
        second.close()


def test_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend 'pbs'; available: local, slurm"):
        Grid(Config(tmp_path / "c.conf"), tmp_path / "state", None, "pbs")


def test_a_restarted_daemon_reports_its_new_start_time(grid: Grid) -> None:
    scheduler = grid.bindings()["scheduler"]
    (key,) = scheduler.keys()
    before = scheduler.state(key).values["DaemonStartTime"]  # type: ignore[union-attr]
    grid.master.stop_role("SCHEDD")
    grid.master.start_role("SCHEDD")
    after = scheduler.state(key).values["DaemonStartTime"]  # type: ignore[union-attr]
    assert after > before
