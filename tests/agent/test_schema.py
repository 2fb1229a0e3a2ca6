"""The mrg.grid schema as data, and argument validation against it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from qmf_agent.errors import ParameterInvalid
from qmf_agent.schema import TYPES, Schema, SchemaError, _read_packaged, coerce

MODEL_METHODS = {
    "scheduler": {
        "Submit",
        "SubmitJob",
        "HoldJob",
        "ReleaseJob",
        "RemoveJob",
        "SuspendJob",
        "ContinueJob",
        "SetJobAttribute",
        "GetJobAd",
        "Act",
        "Edit",
        "Query",
        "History",
        "Reschedule",
    },
    "job": {"Hold", "Release", "Remove", "Suspend", "Continue", "SetAttribute", "GetAd", "Fetch"},
    "submission": {"GetJobSummaries"},
    "submitter": set(),
    "collector": {"Advertise", "Query", "Locate", "LocateAll", "Invalidate"},
    "negotiator": {
        "GetLimits",
        "SetLimit",
        "GetStats",
        "SetPriority",
        "SetPriorityFactor",
        "SetUsage",
        "Reconfig",
    },
    "slot": set(),
    "master": {
        "Start",
        "Stop",
        "Restart",
        "Reconfig",
        "DaemonsOff",
        "GetRawConfig",
        "SetRawConfig",
    },
}
EVENTS = {
    "JobSubmitted",
    "JobStatusChanged",
    "JobCompleted",
    "JobHeld",
    "JobReleased",
    "JobRemoved",
    "JobAttributeChanged",
    "SlotStateChanged",
    "DaemonStarted",
    "DaemonStopping",
}


def test_every_model_class_and_method_is_there(schema: Schema) -> None:
    assert schema.package == "mrg.grid"
    assert {c.name for c in schema.classes} == set(MODEL_METHODS)
    for cls in schema.classes:
        # the model's methods at least (the grid may add more, e.g. Analyze)
        assert MODEL_METHODS[cls.name] | {"echo"} <= {m.name for m in cls.methods}, cls.name
        echo = cls.method("echo")
        assert echo is not None
        assert [(a.name, a.type, a.dir) for a in echo.arguments] == [
            ("sequence", "uint32", "IO"),
            ("body", "lstr", "IO"),
        ]


def test_daemon_groups_are_expanded(schema: Schema) -> None:
    for name in ("scheduler", "collector", "negotiator", "master"):
        cls = schema.get_class(name)
        assert cls is not None
        props = {p.name for p in cls.properties}
        stats = {s.name for s in cls.statistics}
        assert {"CondorPlatform", "CondorVersion", "DaemonStartTime"} <= props
        assert {"MonitorSelfAge", "MonitorSelfResidentSetSize"} <= stats
    job = schema.get_class("job")
    assert job is not None and "CondorVersion" not in {p.name for p in job.properties}


def test_events_carry_subject_and_owner(schema: Schema) -> None:
    assert {e.name for e in schema.events} == EVENTS
    for event in schema.events:
        names = {p.name for p in event.properties}
        assert "Owner" in names and ({"Id", "Name"} & names), event.name
        assert event.is_event and 0 <= event.severity <= 7
    changed = schema.get_event("jobstatuschanged")
    assert changed is not None and {"From", "To", "Reason"} <= {p.name for p in changed.properties}


def test_types_are_from_the_protocol_list(schema: Schema) -> None:
    for cls in schema:
        for prop in (*cls.properties, *cls.statistics):
            assert prop.type in TYPES
        for method in cls.methods:
            for arg in method.arguments:
                assert arg.type in TYPES and arg.dir in ("I", "O", "IO")


def test_lookups_are_case_insensitive(schema: Schema) -> None:
    sched = schema.get_class("SCHEDULER")
    assert sched is not None and sched.name == "scheduler"
    assert schema.get_class("Scheduler") is sched
    assert sched.method("submitjob") is sched.method("SubmitJob")
    assert sched.attribute_name("totaljobads") == "TotalJobAds"
    assert sched.attribute_name("NotInSchema") == "NotInSchema"
    assert schema.get_class("nosuch") is None and schema.get_event("nosuch") is None


def test_select_by_partial_schema_id(schema: Schema) -> None:
    assert [c.name for c in schema.select(class_name="JOB")] == ["job"]
    assert len(schema.select()) == 18
    assert len(schema.select(kind="_event")) == 10
    assert schema.select(package="com.redhat.grid") == []
    job = schema.get_class("job")
    assert job is not None
    assert schema.select(hash=job.hash) == [job]


def test_hashes_are_stable_uuid_shaped_and_distinct(schema: Schema) -> None:
    hashes = [c.hash for c in schema]
    assert len(set(hashes)) == len(hashes)
    assert all(len(h) == 36 and h.count("-") == 4 for h in hashes)
    again = Schema.from_json(json.loads(_read_packaged("mrg.grid.json")))
    assert [c.hash for c in again] == hashes


def test_hash_changes_when_the_class_changes() -> None:
    doc = json.loads(_read_packaged("mrg.grid.json"))
    before = Schema.from_json(doc).get_class("job")
    changed = copy.deepcopy(doc)
    changed["classes"]["job"]["properties"][0]["desc"] = "different"
    after = Schema.from_json(changed).get_class("job")
    assert before is not None and after is not None and before.hash != after.hash


def test_schema_maps_for_the_wire(schema: Schema) -> None:
    sched = schema.get_class("scheduler")
    assert sched is not None
    wire = sched.to_wire()
    assert wire["_schema_id"] == sched.schema_id
    assert {"_name": "Name", "_type": "sstr", "_access": "RO", "_index": True}.items() <= next(
        p for p in wire["_properties"] if p["_name"] == "Name"
    ).items()
    submit = next(m for m in wire["_methods"] if m["_name"] == "Submit")
    count = next(a for a in submit["_arguments"] if a["_name"] == "Count")
    # optional, no default: 1 without ProcAds, else the length of ProcAds
    assert count == {**count, "_type": "uint32", "_dir": "I"} and "_default" not in count
    procs = next(a for a in submit["_arguments"] if a["_name"] == "ProcAds")
    assert procs == {**procs, "_type": "list", "_dir": "I"}
    held = schema.get_event("JobHeld")
    assert held is not None and held.to_wire()["_severity"] == 4
    assert held.schema_id["_type"] == "_event"


def _method(schema: Schema, cls: str, name: str) -> Any:
    found = schema.get_class(cls)
    assert found is not None
    method = found.method(name)
    assert method is not None
    return method


def test_validate_fills_defaults_and_coerces(schema: Schema) -> None:
    submit = _method(schema, "scheduler", "Submit")
    assert submit.validate({"ad": {"Cmd": "/bin/true"}}) == {"Ad": {"Cmd": "/bin/true"}}  # Count optional
    assert submit.validate({"Ad": {}, "Count": "3"})["Count"] == 3
    assert submit.validate({"Ad": {}, "Count": 2.0})["Count"] == 2
    query = _method(schema, "scheduler", "Query")
    args = query.validate({})
    assert args == {"Constraint": "true", "Projection": [], "Limit": -1}
    args["Projection"].append("x")  # defaults are fresh copies
    assert query.validate({})["Projection"] == []
    act = _method(schema, "scheduler", "Act")
    assert act.validate({"Action": "Hold", "Jobs": ("1.0",)}) == {
        "Action": "Hold",
        "Jobs": ["1.0"],
        "Reason": "",
    }


def test_validate_ignores_out_only_arguments(schema: Schema) -> None:
    submit = _method(schema, "scheduler", "Submit")
    assert submit.validate({"Ad": {}, "Id": "ignored", "Ids": []}) == {"Ad": {}}


@pytest.mark.parametrize(
    ("cls", "method", "args", "words"),
    [
        ("scheduler", "Submit", {}, "missing argument Ad"),
        ("scheduler", "Submit", {"Ad": "Cmd=1"}, "argument Ad of Submit must be a map"),
        ("scheduler", "Submit", {"Ad": {}, "Count": -1}, "between 0 and 4294967295"),
        ("scheduler", "Submit", {"Ad": {}, "Count": "many"}, "Count of Submit must be an integer"),
        ("scheduler", "Submit", {"Ad": {}, "Count": True}, "must be an integer"),
        ("scheduler", "Submit", {"Ad": {}, "Count": 1.5}, "must be an integer"),
        ("scheduler", "Submit", {"Ad": {}, "Colour": 1}, "unknown argument 'Colour'"),
        ("scheduler", "Submit", {"Ad": {}, "ad": {}}, "given twice"),
        ("scheduler", "Submit", {"Ad": {1: 2}}, "string keys"),
        ("scheduler", "Act", {"Action": "Hold", "Jobs": "1.0"}, "Jobs of Act must be a list"),
        ("job", "Hold", {"Reason": {"a": 1}}, "Reason of Hold must be a string"),
        ("job", "Fetch", {"File": "Out", "Start": 2**40}, "between"),
        ("negotiator", "SetPriority", {"Name": "a", "Priority": "high"}, "must be a number"),
        ("master", "Start", {"Subsystem": "x" * 300}, "too long"),
        ("job", "GetAd", {"Foo": 1}, "it takes no arguments"),
    ],
)
def test_validate_refuses_naming_the_argument(
    schema: Schema, cls: str, method: str, args: dict[str, Any], words: str
) -> None:
    with pytest.raises(ParameterInvalid) as info:
        _method(schema, cls, method).validate(args)
    assert words in info.value.text


def test_validate_refuses_a_non_map(schema: Schema) -> None:
    with pytest.raises(ParameterInvalid, match="must be a map"):
        _method(schema, "job", "Hold").validate(["x"])


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("bool", "yes", True),
        ("bool", "FALSE", False),
        ("bool", 1, True),
        ("sstr", 5, "5"),
        ("lstr", True, "true"),
        ("double", 3, 3.0),
        ("float", " 2.5 ", 2.5),
        ("int64", "0x10", 16),
        ("absTime", 10**18, 10**18),
        ("uuid", "12345678123456781234567812345678", "12345678-1234-5678-1234-567812345678"),
        ("uuid", b"\x00" * 16, "00000000-0000-0000-0000-000000000000"),
        ("objId", "mrg.grid:job:1.0", {"_object_name": "mrg.grid:job:1.0"}),
        ("list", (1, 2), [1, 2]),
    ],
)
def test_coerce_sensibly(type_name: str, value: Any, expected: Any) -> None:
    assert coerce(type_name, value, "x") == expected


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("bool", 2),
        ("bool", "maybe"),
        ("sstr", [1]),
        ("double", True),
        ("double", None),
        ("uint8", 256),
        ("int8", float("nan")),
        ("uuid", "not-a-uuid"),
        ("objId", 5),
        ("list", "a,b"),
        ("map", None),
    ],
)
def test_coerce_refuses(type_name: str, value: Any) -> None:
    with pytest.raises(ParameterInvalid, match="^value "):
        coerce(type_name, value, "value")


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"classes": {}},
        {"package": "p", "classes": {"c": {"properties": [{"name": "a", "type": "int"}]}}},
        {
            "package": "p",
            "classes": {"c": {"properties": [{"name": "a", "type": "sstr", "access": "X"}]}},
        },
        {"package": "p", "classes": {"c": {"groups": ["nope"]}}},
        {"package": "p", "classes": {"c": {"methods": [{"name": "m"}]}}},
        {
            "package": "p",
            "classes": {
                "c": {
                    "methods": [
                        {"name": "m", "arguments": [{"name": "a", "type": "sstr", "dir": "X"}]}
                    ]
                }
            },
        },
        {
            "package": "p",
            "classes": {
                "c": {"properties": [{"name": "a", "type": "sstr"}, {"name": "A", "type": "sstr"}]}
            },
        },
        {"package": "p", "classes": {}, "events": {"E": {"severity": 9}}},
        {"package": "p", "classes": {"c": {"methods": [
            {"name": "m", "idempotent": "yes", "arguments": []}]}}},
    ],
)
def test_malformed_schema_documents_are_refused(doc: Any) -> None:
    with pytest.raises(SchemaError):
        Schema.from_json(doc)


def test_load_is_cached(schema: Schema) -> None:
    assert Schema.load() is schema


def test_only_reads_and_deduplicated_methods_are_idempotent(schema: Schema) -> None:
    """What a console may send again after a lost answer: never a method
    that changes state and that the agent would do twice."""
    for name in ("Submit", "SubmitJob", "Query", "GetJobAd", "History", "SpoolFile", "echo"):
        assert schema.is_idempotent(name, "scheduler"), name
    for name in ("HoldJob", "ReleaseJob", "RemoveJob", "SetJobAttribute", "Act", "Edit", "Reschedule"):
        assert not schema.is_idempotent(name, "scheduler"), name
    assert schema.is_idempotent("getad", "job") and not schema.is_idempotent("Hold", "job")
    assert schema.is_idempotent("Query") and schema.is_idempotent("ECHO")  # every class agrees
    assert not schema.is_idempotent("Reconfig")  # negotiator and master: changes state
    assert not schema.is_idempotent("NoSuchMethod") and not schema.is_idempotent("Query", "slot")
    assert schema.is_idempotent("Query", "no-such-class")  # unknown class: by name
