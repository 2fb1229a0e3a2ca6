"""Object maps encoded from a template: the same maps as the generic path,
standard AMQP that proton reads alike, streamed batch by batch."""

from __future__ import annotations

from typing import Any

import proton
import pytest
from agent_toys import AGENT_NAME, ToyJobs
from hypothesis import given, settings
from hypothesis import strategies as st

from qmf_agent import protocol as p
from qmf_agent.agent import Agent
from qmf_agent.binding import ObjectState
from qmf_agent.errors import ParameterInvalid
from qmf_agent.message import Message
from qmf_agent.protocol import ObjectTemplate, WireObject, encode_batches
from qmf_agent.schema import Schema
from qmf_agent.transport._amqp import decode_value, encode_value
from qmf_agent.transport._convert import decode, encode

SCHEMA_ID = {"_package_name": "mrg.grid", "_class_name": "job", "_type": "_data", "_hash": "ab" * 16}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.binary(max_size=20),
)
attr_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
stamps = st.integers(min_value=-(2**63), max_value=2**64 - 1)


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(
    values=st.dictionaries(st.sampled_from(["ClusterId", "Owner", "Cmd", "Args", "X"]), attr_values),
    names=st.one_of(st.none(), st.lists(st.sampled_from(["Owner", "ClusterId", "Nope"]), unique=True).map(tuple)),
    key=st.text(min_size=1, max_size=300),
    create=stamps, update=stamps, delete=stamps,
    subtypes=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    epoch=st.integers(min_value=0, max_value=2**40),
)
def test_template_bytes_are_the_generic_map(
    values: dict[str, Any], names: tuple[str, ...] | None, key: str,
    create: int, update: int, delete: int, subtypes: dict[str, str], epoch: int,
) -> None:
    template = ObjectTemplate(AGENT_NAME, epoch, "mrg.grid:job:", SCHEMA_ID, names)
    state = ObjectState(key, values, create, update, delete, subtypes)
    wire = template.encode(key, state)
    expected = template.map_of(key, state)
    if names is not None:
        assert list(expected["_values"]) == [n for n in names if n in values]
    assert decode_value(bytes(wire.wire)) == expected  # our decoder
    data = proton.Data()
    data.decode(bytes(wire.wire))
    assert _plain(data.get_object()) == expected  # proton's: standard AMQP
    assert wire.value() == expected
    assert decode_value(encode_value([wire, wire])) == [expected, expected]


def test_wire_objects_keep_their_snapshot_and_give_fresh_maps() -> None:
    template = ObjectTemplate(AGENT_NAME, 3, "mrg.grid:job:", SCHEMA_ID, None)
    values = {"Owner": "alice", "JobStatus": 1}
    wire = template.encode("1.0", ObjectState("1.0", values, 10, 20))
    values["JobStatus"] = 4  # the binding's live dict changes later
    first = wire.value()
    assert first["_values"] == {"Owner": "alice", "JobStatus": 1}
    first["_values"]["Owner"] = "mallory"
    first["_schema_id"]["_class_name"] = "other"
    again = wire.value()
    assert again["_values"]["Owner"] == "alice" and again["_schema_id"] == SCHEMA_ID
    assert decode_value(bytes(wire.wire))["_values"] == {"Owner": "alice", "JobStatus": 1}
    assert "Owner" in repr(wire)


def test_template_refuses_what_amqp_cannot_carry_by_name() -> None:
    template = ObjectTemplate(AGENT_NAME, 3, "mrg.grid:job:", SCHEMA_ID, ("Big",))
    with pytest.raises(OverflowError, match="does not fit"):
        template.encode("1.0", ObjectState("1.0", {"Big": 2**64}, 1, 1))
    with pytest.raises(TypeError, match="cannot encode a object"):
        template.encode("1.0", ObjectState("1.0", {"Big": object()}, 1, 1))


def test_a_query_answer_on_the_wire_is_what_query_returns(schema: Schema) -> None:
    sent: list[Message] = []
    agent = Agent(AGENT_NAME, schema, sent.append, workers=0, batch_size=3, epoch=5)
    jobs = ToyJobs()
    agent.bind("job", jobs)
    for i in range(7):
        jobs.add(f"4.{i}", Owner=f"u{i}", ImageSize=i * 1000)
    request = p.query_request("OBJECT", class_name="job", projection=["owner", "ImageSize"])
    request.reply_to, request.correlation_id = "r", "c"
    agent.handle(request)
    assert [len(m.body) for m in sent] == [3, 3, 1]
    assert all(type(item) is WireObject for m in sent for item in m.body)
    over_wire = p.decode_response([decode(encode(m)) for m in sent])
    _, direct = agent.query(p.decode(request))
    assert over_wire == direct == p.decode_response(sent)
    assert [o["_values"] for o in direct][:2] == [
        {"Owner": "u0", "ImageSize": 0}, {"Owner": "u1", "ImageSize": 1000}]
    assert direct[0]["_object_id"] == {
        "_agent_name": AGENT_NAME, "_object_name": "mrg.grid:job:4.0", "_agent_epoch": 5}
    agent.close()


def test_a_failing_binding_mid_answer_still_ends_in_an_exception(schema: Schema) -> None:
    sent: list[Message] = []
    agent = Agent(AGENT_NAME, schema, sent.append, workers=0, batch_size=2)
    jobs = ToyJobs()
    agent.bind("job", jobs)
    for i in range(6):
        jobs.add(f"5.{i}")
    real_state = jobs.state

    def state(key: str) -> Any:
        if key == "5.4":
            raise ParameterInvalid("job 5.4 is unreadable")
        return real_state(key)

    jobs.state = state  # type: ignore[method-assign]
    request = p.query_request("OBJECT", class_name="job")
    request.reply_to, request.correlation_id = "r", "c"
    agent.handle(request)
    assert sent[-1].opcode == p.EXCEPTION
    assert p.PARTIAL_KEY in sent[0].properties
    with pytest.raises(ParameterInvalid, match="5.4 is unreadable"):
        p.decode_response(sent)
    agent.close()


def test_batches_of_an_iterator_leave_before_it_is_exhausted() -> None:
    read: list[int] = []

    def items() -> Any:
        for i in range(7):
            read.append(i)
            yield i

    batches = encode_batches(p.CONTENT_DATA, items(), agent_name=AGENT_NAME, batch_size=3)
    first = next(batches)
    assert first.body == [0, 1, 2] and p.PARTIAL_KEY in first.properties
    assert read == list(range(6))  # one batch of lookahead, no more
    rest = list(batches)
    assert [m.body for m in rest] == [[3, 4, 5], [6]]
    assert p.PARTIAL_KEY not in rest[-1].properties
    (only,) = encode_batches(p.CONTENT_DATA, iter(()), agent_name=AGENT_NAME)
    assert only.body == [] and p.PARTIAL_KEY not in only.properties


def test_pre_encoded_answers_are_batched_by_bytes_as_well_as_by_count(schema: Schema) -> None:
    template = ObjectTemplate(AGENT_NAME, 0, "mrg.grid:job:", SCHEMA_ID, ("Owner",))
    small = [template.encode(f"1.{i}", ObjectState(f"1.{i}", {"Owner": "u"}, 1, 1)) for i in range(10)]
    big = [template.encode(f"2.{i}", ObjectState(f"2.{i}", {"Owner": "x" * 900}, 1, 1)) for i in range(5)]
    size = len(small[0].wire)
    # bytes reached after 3 small objects; the count cap (4) is never the limit
    sent = list(encode_batches(p.CONTENT_DATA, small, agent_name=AGENT_NAME, batch_size=4,
                               batch_bytes=3 * size))
    assert [len(m.body) for m in sent] == [3, 3, 3, 1]
    # the count still caps a batch of objects under the byte budget
    sent = list(encode_batches(p.CONTENT_DATA, small, agent_name=AGENT_NAME, batch_size=4,
                               batch_bytes=10**6))
    assert [len(m.body) for m in sent] == [4, 4, 2]
    # an object bigger than the budget travels alone; maps (not pre-encoded) count by number only
    sent = list(encode_batches(p.CONTENT_DATA, big + [{"n": 1}] * 3, agent_name=AGENT_NAME,
                               batch_size=100, batch_bytes=500))
    assert [len(m.body) for m in sent] == [1, 1, 1, 1, 1, 3]
    assert [p.PARTIAL_KEY in m.properties for m in sent] == [True] * 5 + [False]
    assert p.decode_response([decode(encode(m)) for m in sent])[:5] == [o.value() for o in big]
    with pytest.raises(ValueError, match="batch_bytes"):
        list(encode_batches(p.CONTENT_DATA, small, agent_name=AGENT_NAME, batch_bytes=0))
    with pytest.raises(ValueError, match="answer_bytes"):
        Agent(AGENT_NAME, schema, lambda m: None, answer_bytes=0)
    agent = Agent(AGENT_NAME, schema, sent.append, workers=0, batch_size=50, answer_bytes=2 * size)
    agent.bind("job", jobs := ToyJobs())
    for i in range(5):
        jobs.add(f"3.{i}", Owner="u")
    sent.clear()
    request = p.query_request("OBJECT", class_name="job", projection=["Owner"])
    request.reply_to, request.correlation_id = "r", "c"
    agent.handle(request)
    assert [len(m.body) for m in sent] == [2, 2, 1]
    agent.close()
