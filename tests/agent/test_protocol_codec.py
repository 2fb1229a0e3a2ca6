"""The QMFv2 codec: every opcode round-trips, bad bodies name the bad field."""

from __future__ import annotations

from typing import Any

import pytest

from qmf_agent import protocol as p
from qmf_agent.errors import (
    JobStateError,
    NotImplementedByAgent,
    ParameterInvalid,
    QmfError,
    UnknownObject,
)
from qmf_agent.message import Message

OID = p.ObjectId("mrg.grid:job:1.0", "v:p:i", 4)
QUERY = p.QueryRequest(
    what="OBJECT",
    schema_id=p.SchemaId(class_name="job", package="mrg.grid"),
    where=["eq", "Owner", ["quote", "alice"]],
    projection=("Owner", "JobStatus"),
    limit=10,
)

ALL_MESSAGES: list[Any] = [
    p.AgentLocateRequest(None),
    p.AgentLocateRequest(["eq", "_product", ["quote", "qmf-grid"]]),
    QUERY,
    p.QueryRequest(what="OBJECT_ID", object_id=OID),
    p.QueryRequest(what="SCHEMA", schema_id=p.SchemaId(class_name="job", type="_data", hash="h")),
    p.QueryRequest(what="SCHEMA_ID"),
    p.MethodRequest(OID, "Hold", {"Reason": "maintenance"}),
    p.MethodRequest(OID, "echo", {}, {"sequence": "uint32"}),
    p.SubscribeRequest(QUERY, 500, 30.0),
    p.SubscribeRequest(QUERY),
    p.SubscribeRefresh("sub-1", 60.0),
    p.SubscribeRefresh("sub-1"),
    p.SubscribeCancel("sub-1"),
    p.AgentLocateResponse({"_name": "v:p:i", "_epoch": 2}),
    p.HeartbeatIndication({"_name": "v:p:i", "_timestamp": 5}),
    p.QueryResponse("_data", [{"_values": {"a": 1}}], partial=True),
    p.QueryResponse("_schema_id", []),
    p.QueryResponse("_object_id", [OID.to_map()]),
    p.MethodResponse({"Id": "1.0"}),
    p.ExceptionResponse(4, "argument Count of Submit must be an integer"),
    p.DataIndication("_event", [{"_values": {"Id": "1.0"}}]),
    p.SubscribeResponse("sub-1", 500, 30.0),
]


@pytest.mark.parametrize("obj", ALL_MESSAGES, ids=lambda o: type(o).__name__)
def test_every_opcode_round_trips(obj: Any) -> None:
    message = p.encode(obj, agent_name="v:p:i", correlation_id="c-1")
    assert message.properties[p.OPCODE_KEY] == obj.opcode
    assert message.properties[p.APP_ID_KEY] == "qmf2"
    assert message.properties[p.METHOD_KEY] in ("request", "response", "indication")
    assert message.properties[p.AGENT_KEY] == "v:p:i"
    assert message.correlation_id == "c-1"
    expected_type = "amqp/list" if isinstance(message.body, list) else "amqp/map"
    assert message.content_type == expected_type
    assert p.decode(message) == obj


def test_all_opcodes_are_covered() -> None:
    assert {type(o).opcode for o in ALL_MESSAGES} == set(p.OPCODES)


def test_partial_property_only_when_partial() -> None:
    assert p.PARTIAL_KEY in p.encode(p.QueryResponse("_data", [], True)).properties
    assert p.PARTIAL_KEY not in p.encode(p.QueryResponse("_data", [], False)).properties


def _msg(opcode: str | None, body: Any, **props: Any) -> Message:
    properties = dict(props)
    if opcode is not None:
        properties[p.OPCODE_KEY] = opcode
    return Message(body=body, properties=properties)


@pytest.mark.parametrize(
    ("opcode", "body", "error", "words"),
    [
        (None, {}, NotImplementedByAgent, "no qmf.opcode"),
        ("_frobnicate", {}, NotImplementedByAgent, "_frobnicate"),
        (7, {}, NotImplementedByAgent, "7"),
        (p.QUERY_REQUEST, [], ParameterInvalid, "must be a map"),
        (p.QUERY_REQUEST, {}, ParameterInvalid, "lacks _what"),
        (p.QUERY_REQUEST, {"_what": "OBJECTS"}, ParameterInvalid, "_what must be one of"),
        (p.QUERY_REQUEST, {"_what": 3}, ParameterInvalid, "_what must be a string"),
        (p.QUERY_REQUEST, {"_what": "OBJECT", "_where": 5}, ParameterInvalid, "_where"),
        (
            p.QUERY_REQUEST,
            {"_what": "OBJECT", "_projection": "Owner"},
            ParameterInvalid,
            "_projection",
        ),
        (p.QUERY_REQUEST, {"_what": "OBJECT", "_limit": "ten"}, ParameterInvalid, "_limit"),
        (p.QUERY_REQUEST, {"_what": "OBJECT", "_limit": True}, ParameterInvalid, "_limit"),
        (p.QUERY_REQUEST, {"_what": "OBJECT", "_schema_id": "job"}, ParameterInvalid, "_schema_id"),
        (
            p.QUERY_REQUEST,
            {"_what": "OBJECT", "_schema_id": {"_type": "x"}},
            ParameterInvalid,
            "_type",
        ),
        (p.QUERY_REQUEST, {"_what": "OBJECT", "_object_id": {}}, ParameterInvalid, "_object_name"),
        (p.QUERY_REQUEST, {1: "x"}, ParameterInvalid, "not a string"),
        (p.METHOD_REQUEST, {"_method_name": "Hold"}, ParameterInvalid, "_object_id"),
        (p.METHOD_REQUEST, {"_object_id": {"_object_name": "x"}}, ParameterInvalid, "_method_name"),
        (
            p.METHOD_REQUEST,
            {"_object_id": {"_object_name": "x"}, "_method_name": ""},
            ParameterInvalid,
            "empty",
        ),
        (
            p.METHOD_REQUEST,
            {"_object_id": {"_object_name": "x"}, "_method_name": "m", "_arguments": [1]},
            ParameterInvalid,
            "_arguments must be a map",
        ),
        (
            p.METHOD_REQUEST,
            {"_object_id": {"_object_name": "x", "_agent_epoch": "e"}, "_method_name": "m"},
            ParameterInvalid,
            "_agent_epoch",
        ),
        (p.AGENT_LOCATE_REQUEST, "everyone", ParameterInvalid, "predicate list"),
        (p.SUBSCRIBE_REQUEST, {}, ParameterInvalid, "_query"),
        (
            p.SUBSCRIBE_REQUEST,
            {"_query": {"_what": "OBJECT"}, "_interval": -1},
            ParameterInvalid,
            "negative",
        ),
        (
            p.SUBSCRIBE_REQUEST,
            {"_query": {"_what": "OBJECT"}, "_duration": "1h"},
            ParameterInvalid,
            "_duration",
        ),
        (p.SUBSCRIBE_REFRESH_INDICATION, {}, ParameterInvalid, "_subscription_id"),
        (
            p.SUBSCRIBE_CANCEL_INDICATION,
            {"_subscription_id": 5},
            ParameterInvalid,
            "_subscription_id",
        ),
        (p.QUERY_RESPONSE, [], ParameterInvalid, "qmf.content"),
        (p.METHOD_RESPONSE, {"_arguments": 3}, ParameterInvalid, "_arguments"),
        (p.AGENT_LOCATE_RESPONSE, {"_values": []}, ParameterInvalid, "_values"),
    ],
)
def test_bad_messages_raise_naming_the_field(
    opcode: Any, body: Any, error: type, words: str
) -> None:
    with pytest.raises(error) as info:
        p.decode(_msg(opcode, body))
    assert words in info.value.text


def test_negative_limit_means_no_limit() -> None:
    assert p.decode(_msg(p.QUERY_REQUEST, {"_what": "OBJECT", "_limit": -1})).limit is None


def test_locate_accepts_qpid_where_map_and_empty_bodies() -> None:
    pred = ["eq", "_vendor", ["quote", "redhat.com"]]
    assert p.decode(_msg(p.AGENT_LOCATE_REQUEST, {"_where": pred})).predicate == pred
    assert p.decode(_msg(p.AGENT_LOCATE_REQUEST, None)).predicate is None
    assert p.decode(_msg(p.AGENT_LOCATE_REQUEST, {})).predicate is None


def test_builders_make_requests_the_codec_reads() -> None:
    q = p.decode(
        p.query_request(
            "object", class_name="job", where='Owner == "a"', projection=["Owner"], limit=5
        )
    )
    assert q == p.QueryRequest(
        what="OBJECT",
        schema_id=p.SchemaId(class_name="job"),
        where='Owner == "a"',
        projection=("Owner",),
        limit=5,
    )
    by_id = p.decode(p.query_request("OBJECT", object_id="mrg.grid:job:1.0"))
    assert by_id.object_id == p.ObjectId("mrg.grid:job:1.0")
    m = p.decode(p.method_request({"_object_name": "mrg.grid:job:2.0"}, "Release", {"Reason": "r"}))
    assert m == p.MethodRequest(p.ObjectId("mrg.grid:job:2.0"), "Release", {"Reason": "r"})
    sub = p.decode(p.subscribe_request(p.query_request("object", class_name="job"), 250, 9))
    assert sub == p.SubscribeRequest(
        p.QueryRequest(schema_id=p.SchemaId(class_name="job")), 250, 9.0
    )
    assert p.decode(p.subscribe_refresh("s", 5)) == p.SubscribeRefresh("s", 5.0)
    assert p.decode(p.subscribe_cancel("s")) == p.SubscribeCancel("s")
    assert p.decode(p.agent_locate_request(["true"])).predicate == ["true"]


def test_builders_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="what must be one of"):
        p.query_request("objects")
    with pytest.raises(ValueError, match="projection"):
        p.query_request("object", projection="Owner")


def test_decode_response_joins_batches_in_order() -> None:
    items = [{"n": i} for i in range(1234)]
    messages = list(p.encode_batches("_data", items, agent_name="a:b:c", batch_size=500))
    assert len(messages) == 3
    assert [p.PARTIAL_KEY in m.properties for m in messages] == [True, True, False]
    assert [len(m.body) for m in messages] == [500, 500, 234]
    assert p.decode_response(messages) == items


def test_empty_answer_is_one_final_message() -> None:
    messages = list(p.encode_batches("_data", [], agent_name="a:b:c"))
    assert len(messages) == 1 and p.PARTIAL_KEY not in messages[0].properties
    assert p.decode_response(messages) == []


def test_batches_can_be_indications() -> None:
    (message,) = p.encode_batches("_event", [1], agent_name="a:b:c", indication=True)
    assert message.opcode == p.DATA_INDICATION and message.properties[p.METHOD_KEY] == "indication"


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(p.encode_batches("_data", [1], agent_name="a:b:c", batch_size=0))


def test_decode_response_values() -> None:
    assert p.decode_response([p.encode(p.MethodResponse({"Id": "3.0"}))]) == {"Id": "3.0"}
    assert p.decode_response([p.encode(p.AgentLocateResponse({"_name": "x"}))]) == {"_name": "x"}
    assert p.decode_response([p.encode(p.SubscribeResponse("s", 1, 2.0))]) == {
        "_subscription_id": "s",
        "_interval": 1,
        "_duration": 2.0,
    }


@pytest.mark.parametrize(
    ("code", "cls"), [(1, UnknownObject), (0x10002, JobStateError), (4, ParameterInvalid)]
)
def test_decode_response_raises_the_agents_error(code: int, cls: type) -> None:
    with pytest.raises(cls) as info:
        p.decode_response([p.encode(p.ExceptionResponse(code, "what went wrong"))])
    assert info.value.text == "what went wrong" and info.value.code == code


def test_decode_response_unknown_code_keeps_the_code() -> None:
    with pytest.raises(QmfError) as info:
        p.decode_response([p.encode(p.ExceptionResponse(0x20000, "vendor error"))])
    assert info.value.code == 0x20000


def test_decode_response_refuses_non_answers() -> None:
    with pytest.raises(QmfError, match="no response"):
        p.decode_response([])
    with pytest.raises(QmfError, match="expected a response"):
        p.decode_response([p.encode(p.SubscribeCancel("s"))])
    with pytest.raises(QmfError, match="malformed response"):
        p.decode_response([Message(body={}, properties={})])


def test_exception_response_from_error_keeps_class() -> None:
    err = p.ExceptionResponse.from_error(JobStateError("job 1.0 is not held")).error()
    assert isinstance(err, JobStateError) and err.text == "job 1.0 is not held"


def test_schema_and_object_ids_map_round_trip() -> None:
    sid = p.SchemaId("job", "mrg.grid", "_data", "abc")
    assert p.SchemaId.from_map(sid.to_map()) == sid
    assert p.ObjectId.from_map(OID.to_map()) == OID
    assert p.SchemaId().to_map() == {}
