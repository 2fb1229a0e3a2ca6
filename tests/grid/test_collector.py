"""The collector: advertise, query, locate, invalidate, expiry, local daemons."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import classad
from qmf_agent.binding import Caller, ObjectState
from qmf_agent.errors import Forbidden, ParameterInvalid, QmfError, SchedulerError, UnknownObject
from qmf_agent.grid.collector import UNAUTHENTICATED, Collector
from qmf_agent.grid.config import Config
from qmf_agent.grid.daemon import AgentAddress

ADDRESS = AgentAddress("amqp://qmf:secret@127.0.0.1:5999", "redhat.com:qmf-grid:c1")
ANON = Caller()
ALICE = Caller(identity="alice")
BOB = Caller(identity="bob")
ADMIN = Caller(identity="root", admin=True)


class RecordingSink:
    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []

    def changed(self, class_name: str, key: str) -> None:
        self.changes.append((class_name, key))

    def deleted(self, class_name: str, key: str, state: ObjectState) -> None:
        self.changes.append((class_name, key))

    def event(self, name: str, values: Mapping[str, Any], severity: int = 6) -> None:
        raise AssertionError("the collector raises no events")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def collector(clock: Clock, sink: RecordingSink) -> Collector:
    config = Config.from_text("COLLECTOR_NAME = c1\nCLASSAD_LIFETIME = 100\nUSER = condor\n")
    coll = Collector(config, sink, ADDRESS, clock=clock)
    coll.start()
    yield coll
    coll.stop()


def ad(**attrs: Any) -> classad.ClassAd:
    return classad.ClassAd(attrs)


def names(ads: list[classad.ClassAd]) -> list[str]:
    return sorted(a.eval("Name") for a in ads)


def test_the_tutorials_demo_ad(collector: Collector, clock: Clock) -> None:
    demo = ad(MyType="Demo", foo=1)
    collector.advertise([demo], "UPDATE_AD_GENERIC", ANON)  # no Name: dropped, as HTCondor does
    assert collector.query("Any", 'MyType =?= "Demo"') == []
    collector.advertise([ad(MyType="Demo", foo=1, Name="DemoAd")], "UPDATE_AD_GENERIC", ANON)
    found = collector.query("Any", 'MyType =?= "Demo"')
    assert len(found) == 1
    assert found[0].eval("foo") == 1
    assert found[0].eval("LastHeardFrom") == int(clock.now)
    assert found[0].eval("AuthenticatedIdentity") == UNAUTHENTICATED
    # advertising again replaces the ad with the same MyType and Name
    clock.now += 5
    collector.advertise([ad(MyType="Demo", foo=2, Name="demoad")], "UPDATE_AD_GENERIC", ANON)
    found = collector.query("Any", 'MyType =?= "Demo"')
    assert [a.eval("foo") for a in found] == [2]
    assert found[0].eval("LastHeardFrom") == int(clock.now)


def test_authenticated_identity_comes_from_the_caller(collector: Collector) -> None:
    collector.advertise([ad(MyType="Demo", Name="x")], "UPDATE", ALICE)
    (found,) = collector.query("Generic", 'Name == "x"')
    assert found.eval("AuthenticatedIdentity") == "alice"


def test_ad_types_select_by_my_type(collector: Collector) -> None:
    collector.advertise(
        [
            ad(MyType="Machine", Name="slot1@h", State="Unclaimed"),
            ad(MyType="Scheduler", Name="s@h"),
            ad(MyType="Submitter", Name="alice@h", RunningJobs=2, IdleJobs=3),
            ad(MyType="Demo", Name="d"),
        ],
        "UPDATE",
        ANON,
    )
    for spelling in ("Startd", "machine", "Slot", "0", "24"):
        assert names(collector.query(spelling)) == ["slot1@h"]
    assert names(collector.query("Schedd")) == ["s@h"]
    assert names(collector.query("Scheduler")) == ["s@h"]
    assert names(collector.query("Submitter")) == ["alice@h"]
    generic = names(collector.query("Generic"))
    assert generic == ["d"]
    everything = names(collector.query("Any"))
    assert {"slot1@h", "s@h", "alice@h", "d", "c1"} <= set(everything)
    with pytest.raises(ParameterInvalid, match="AdType: unknown ad type 'Toaster'"):
        collector.query("Toaster")


def test_update_commands_imply_a_type_and_bad_commands_are_refused(collector: Collector) -> None:
    collector.advertise([ad(Name="slot9@h")], "UPDATE_STARTD_AD", ANON)
    assert names(collector.query("Startd")) == ["slot9@h"]
    collector.advertise([ad(Name="g")], "UPDATE", ANON)
    assert "g" in names(collector.query("Generic"))
    with pytest.raises(ParameterInvalid, match="Command: unknown command 'DESTROY'"):
        collector.advertise([ad(Name="z")], "DESTROY", ANON)
    with pytest.raises(ParameterInvalid, match="Ads: expected a list"):
        collector.advertise("not a list", "UPDATE", ANON)  # type: ignore[arg-type]


def test_constraints_and_projection(collector: Collector) -> None:
    collector.advertise(
        [ad(MyType="Machine", Name=f"slot{i}@h", Memory=i * 100, Cpus=1, Extra="e") for i in range(1, 5)],
        "UPDATE",
        ANON,
    )
    assert names(collector.query("Startd", "Memory >= 300")) == ["slot3@h", "slot4@h"]
    assert collector.query("Startd", "Memory") != []  # a non-zero number counts as true
    assert collector.query("Startd", '"yes"') == []  # a string does not
    assert collector.query("Startd", "NoSuchAttribute > 1") == []  # undefined does not
    assert len(collector.query("Startd", "")) == 4
    (projected,) = collector.query("Startd", 'Name == "slot1@h"', ["Name", "Memory", "Absent"])
    assert dict(projected) == {"MyType": "Machine", "Name": "slot1@h", "Memory": 100}
    with pytest.raises(ParameterInvalid, match="Constraint: not a valid ClassAd expression"):
        collector.query("Any", "Memory >>>> (")
    with pytest.raises(ParameterInvalid, match="Projection"):
        collector.query("Any", "true", [1, 2])  # type: ignore[list-item]


def test_ads_expire_after_their_lifetime(collector: Collector, clock: Clock, sink: RecordingSink) -> None:
    collector.advertise(
        [ad(MyType="Demo", Name="short", ClassAdLifetime=10), ad(MyType="Demo", Name="default")],
        "UPDATE",
        ANON,
    )
    sink.changes.clear()
    clock.now += 10
    assert collector.expire() == 1
    assert names(collector.query("Generic")) == ["default"]
    assert sink.changes == [("collector", "c1")]
    clock.now += 89
    assert collector.expire() == 0
    clock.now += 1
    assert collector.expire() == 1
    assert collector.query("Generic") == []


def test_the_expiry_sweep_runs_on_its_own(sink: RecordingSink, clock: Clock) -> None:
    config = Config.from_text("COLLECTOR_EXPIRY_INTERVAL = 0.02\nCLASSAD_LIFETIME = 1\n")
    coll = Collector(config, sink, ADDRESS, clock=clock)
    coll.start()
    try:
        coll.advertise([ad(MyType="Demo", Name="soon")], "UPDATE", ANON)
        clock.now += 2
        deadline = time.monotonic() + 10
        while coll.query("Generic") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert coll.query("Generic") == []
    finally:
        coll.stop()


def test_invalidation(collector: Collector) -> None:
    collector.advertise(
        [ad(MyType="Demo", Name=n, Size=i) for i, n in enumerate(["a", "b", "c", "d"])],
        "UPDATE",
        ANON,
    )
    # by name, through Advertise's INVALIDATE command
    assert collector.advertise([ad(MyType="Demo", Name="A")], "INVALIDATE", ANON) == 1
    # by constraint, HTCondor's query-ad form
    query_ad = ad(MyType="Query", TargetType="Demo")
    query_ad["Requirements"] = classad.ExprTree("Size == 1")
    assert collector.advertise([query_ad], "INVALIDATE_ADS_GENERIC", ANON) == 1
    assert names(collector.query("Generic")) == ["c", "d"]
    assert collector.invalidate("Generic", "Size > 2", ANON) == 1
    assert names(collector.query("Generic")) == ["c"]
    with pytest.raises(ParameterInvalid, match="needs a Name or a Requirements"):
        collector.advertise([ad(MyType="Demo")], "INVALIDATE", ANON)
    with pytest.raises(ParameterInvalid, match="Constraint"):
        collector.invalidate("Any", "((", ANON)


def test_only_the_advertiser_or_an_admin_changes_an_ad(collector: Collector) -> None:
    collector.advertise([ad(MyType="Demo", Name="mine", v=1)], "UPDATE", ALICE)
    with pytest.raises(Forbidden, match="was advertised by alice"):
        collector.advertise([ad(MyType="Demo", Name="other", v=0), ad(MyType="Demo", Name="mine", v=2)],
                            "UPDATE", BOB)
    # refused as a whole: bob's first ad was not stored either
    assert names(collector.query("Generic")) == ["mine"]
    with pytest.raises(Forbidden, match="only they or an admin may invalidate"):
        collector.invalidate("Any", "true", BOB)
    with pytest.raises(Forbidden):
        collector.invalidate("Any", "true", ANON)
    collector.advertise([ad(MyType="Demo", Name="mine", v=3)], "UPDATE", ALICE)
    collector.advertise([ad(MyType="Demo", Name="mine", v=4)], "UPDATE", ADMIN)
    (found,) = collector.query("Generic")
    assert found.eval("v") == 4
    assert collector.invalidate("Generic", "true", ADMIN) == 1


def test_local_daemons_are_listed_fresh_and_protected(collector: Collector, clock: Clock) -> None:
    state = {"State": "Unclaimed"}
    collector.add_local(
        lambda: [
            ad(MyType="Scheduler", Name="s1", TotalRunningJobs=1, TotalIdleJobs=4),
            ad(MyType="Machine", Name="slot1@h1", Machine="h1", State=state["State"]),
        ]
    )
    (schedd,) = collector.query("Schedd")
    assert schedd.eval("MyAddress") == "<127.0.0.1:5999?agent=redhat.com:qmf-grid:c1>"
    assert schedd.eval("QmfUrl") == "amqp://127.0.0.1:5999"  # no credentials in ads
    assert schedd.eval("QmfAgent") == "redhat.com:qmf-grid:c1"
    assert schedd.eval("LastHeardFrom") == int(clock.now)
    assert schedd.eval("AuthenticatedIdentity") == "condor"
    state["State"] = "Claimed"
    (slot,) = collector.query("Startd")
    assert slot.eval("State") == "Claimed"
    with pytest.raises(Forbidden, match="belongs to this agent's own daemon"):
        collector.advertise([ad(MyType="Scheduler", Name="S1")], "UPDATE", ADMIN)
    # local ads never expire and are not invalidated
    clock.now += 10_000
    collector.expire()
    assert collector.invalidate("Any", "true", ADMIN) == 0
    assert names(collector.query("Schedd")) == ["s1"]


def test_locate(collector: Collector) -> None:
    collector.add_local(lambda: [ad(MyType="Scheduler", Name="local-schedd", Machine="here")])
    collector.advertise([ad(MyType="Scheduler", Name="remote-schedd", Machine="there")], "UPDATE", ANON)
    assert collector.locate("Schedd").eval("Name") == "local-schedd"
    assert collector.locate("Schedd", "").eval("Name") == "local-schedd"
    assert collector.locate("3", "REMOTE-SCHEDD").eval("Name") == "remote-schedd"
    assert collector.locate("Schedd", "there").eval("Name") == "remote-schedd"
    assert collector.locate("Collector").eval("Name") == "c1"
    assert names(collector.locate_all("Schedd")) == ["local-schedd", "remote-schedd"]
    with pytest.raises(UnknownObject, match="no Schedd daemon named 'nowhere'"):
        collector.locate("Schedd", "nowhere")
    with pytest.raises(UnknownObject, match="no Negotiator daemon"):
        collector.locate("Negotiator")
    with pytest.raises(ParameterInvalid, match="DaemonType: unknown daemon type 'Kbdd'"):
        collector.locate_all("Kbdd")


def test_statistics(collector: Collector) -> None:
    collector.add_local(lambda: [ad(MyType="Machine", Name="slot1@h", State="Claimed")])
    collector.advertise(
        [
            ad(MyType="Machine", Name="slot2@h", State="Unclaimed"),
            ad(MyType="Machine", Name="slot3@h", State="Owner"),
            ad(MyType="Machine", Name="slot4@h", State="Unclaimed"),
            ad(MyType="Submitter", Name="a@h", RunningJobs=2, IdleJobs=5),
            ad(MyType="Submitter", Name="b@h", RunningJobs=1, IdleJobs=0),
        ],
        "UPDATE",
        ANON,
    )
    values = collector.binding.state("c1").values  # type: ignore[union-attr]
    assert (values["HostsTotal"], values["HostsClaimed"], values["HostsUnclaimed"],
            values["HostsOwner"]) == (4, 1, 2, 1)
    assert (values["RunningJobs"], values["IdleJobs"]) == (3, 5)
    assert values["Name"] == "c1"
    assert values["MyAddress"].startswith("<127.0.0.1:5999")
    assert values["CondorVersion"].startswith("$CondorVersion:")
    (own,) = collector.query("Collector")
    assert own.eval("HostsTotal") == 4
    assert own.eval("DaemonStartTime") <= int(time.time())


def test_a_stopped_collector_says_so(collector: Collector) -> None:
    collector.stop()
    collector.stop()
    assert not collector.running
    with pytest.raises(SchedulerError, match="the collector is off"):
        collector.query("Any")
    with pytest.raises(SchedulerError, match="the collector is off"):
        collector.advertise([], "UPDATE", ANON)
    collector.start()
    assert collector.running
    assert collector.query("Collector") != []


def test_the_collector_object_on_the_wire(collector: Collector) -> None:
    binding = collector.binding
    assert binding.keys() == ["c1"]
    wire = [classad.encode_job_ad(ad(MyType="Demo", Name="w", Expr=classad.ExprTree("1 + 2")), "typed")]
    assert binding.call("c1", "Advertise", {"Ads": wire, "Command": "UPDATE"}, ANON) == {}
    out = binding.call("c1", "Query", {"AdType": "Any", "Constraint": 'Name == "w"', "Projection": []}, ANON)
    (decoded,) = [classad.decode_job_ad(item)[0] for item in out["Ads"]]
    assert decoded.eval("Expr") == 3
    assert decoded.eval("AuthenticatedIdentity") == UNAUTHENTICATED
    located = binding.call("c1", "Locate", {"DaemonType": "Collector", "Name": ""}, ANON)["Ad"]
    assert classad.decode_job_ad(located)[0].eval("Name") == "c1"
    assert len(binding.call("c1", "LocateAll", {"DaemonType": "Any"}, ANON)["Ads"]) == 2
    assert binding.call("c1", "Invalidate", {"AdType": "Generic", "Constraint": "true"}, ANON) == {}
    assert collector.query("Generic") == []
    with pytest.raises(ParameterInvalid, match=r"Ads\[1\]: expected a map of attributes or ClassAd text"):
        binding.call("c1", "Advertise", {"Ads": [{"Name": "ok", "MyType": "Demo"}, 42]}, ANON)
    with pytest.raises(ParameterInvalid, match=r"Ads\[0\]"):
        binding.call("c1", "Advertise", {"Ads": ["[ unbalanced = "]}, ANON)
    binding.call("c1", "Advertise", {"Ads": ['[ MyType = "Demo"; Name = "text" ]']}, ANON)
    assert names(collector.query("Generic")) == ["text"]


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ads=st.lists(_values | st.dictionaries(st.sampled_from(["Name", "MyType", "TYPE", "VALUE", "x"]),
                                               _values, max_size=4), max_size=3),
       command=st.text(max_size=12) | st.sampled_from(["UPDATE", "INVALIDATE"]),
       constraint=st.text(alphabet=st.sampled_from(list('ab()"=!<>&|?:.1 ')), max_size=20))
def test_any_arguments_give_a_result_or_a_qmf_error(
    collector: Collector, ads: list[Any], command: str, constraint: str
) -> None:
    for method, args in (("Advertise", {"Ads": ads, "Command": command}),
                         ("Query", {"AdType": "Any", "Constraint": constraint, "Projection": []}),
                         ("Invalidate", {"AdType": "Generic", "Constraint": constraint})):
        try:
            collector.binding.call("c1", method, args, ADMIN)
        except QmfError:
            pass
    collector.query("Any")  # still answers
