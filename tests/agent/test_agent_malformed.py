"""The malformed-message matrix and fuzzing: every request with a reply_to
gets exactly one final answer with the right code, and nothing kills the agent."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from agent_toys import AGENT_NAME, ToyJobs, ToyScheduler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmf_agent import protocol as p
from qmf_agent.agent import Agent
from qmf_agent.errors import from_wire
from qmf_agent.message import Message
from qmf_agent.schema import Schema

FINAL = {
    p.QUERY_RESPONSE,
    p.METHOD_RESPONSE,
    p.EXCEPTION,
    p.AGENT_LOCATE_RESPONSE,
    p.SUBSCRIBE_RESPONSE,
}


class Harness:
    """An agent whose ``send`` records what it sends, run in the caller's thread."""

    def __init__(self, schema: Schema, **kwargs: Any) -> None:
        self.sent: list[Message] = []
        self.agent = Agent(AGENT_NAME, schema, self.sent.append, workers=0, **kwargs)
        self.jobs = ToyJobs(self.agent)
        self.agent.bind("job", self.jobs)
        self.agent.bind("scheduler", ToyScheduler(self.jobs))
        self.jobs.add("1.0")

    def ask(self, message: Message, reply_to: str | None = "r") -> list[Message]:
        self.sent.clear()
        message.reply_to = reply_to
        message.correlation_id = "cid"
        self.agent.handle(message)
        return list(self.sent)

    def finals(self, answers: list[Message]) -> list[Message]:
        return [
            m
            for m in answers
            if m.opcode in FINAL and p.PARTIAL_KEY not in m.properties and m.correlation_id == "cid"
        ]


@pytest.fixture
def harness(schema: Schema) -> Harness:
    return Harness(schema)


def msg(opcode: Any, body: Any, **props: Any) -> Message:
    properties: dict[str, Any] = {p.APP_ID_KEY: "qmf2", p.METHOD_KEY: "request", **props}
    if opcode is not None:
        properties[p.OPCODE_KEY] = opcode
    return Message(body=body, properties=properties)


def method(obj: Any, name: Any = "Hold", args: Any = None) -> Message:
    body: dict[str, Any] = {"_object_id": obj, "_method_name": name}
    if args is not None:
        body["_arguments"] = args
    return msg(p.METHOD_REQUEST, body)


JOB = {"_object_name": "mrg.grid:job:1.0"}


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


MATRIX: list[tuple[str, Message, int, str]] = [
    ("no opcode", msg(None, {}), 3, "no qmf.opcode"),
    ("unknown opcode", msg("_reboot_request", {}), 3, "unknown qmf.opcode"),
    ("opcode not a string", msg(12, {}), 3, "unknown qmf.opcode"),
    ("response sent to the agent", msg(p.METHOD_RESPONSE, {}), 3, "not a request an agent serves"),
    (
        "heartbeat sent to the agent",
        msg(p.AGENT_HEARTBEAT_INDICATION, {"_values": {}}),
        3,
        "not a request",
    ),
    ("query body a list", msg(p.QUERY_REQUEST, ["OBJECT"]), 4, "must be a map"),
    ("query body a string", msg(p.QUERY_REQUEST, "OBJECT"), 4, "must be a map"),
    ("query without _what", msg(p.QUERY_REQUEST, {}), 4, "lacks _what"),
    ("query bad _what", msg(p.QUERY_REQUEST, {"_what": "ALL"}), 4, "_what must be one of"),
    ("query _where a number", msg(p.QUERY_REQUEST, {"_what": "OBJECT", "_where": 1}), 4, "_where"),
    (
        "query bad predicate",
        msg(p.QUERY_REQUEST, {"_what": "OBJECT", "_where": ["eq", "a"]}),
        4,
        "two operands",
    ),
    (
        "query bad constraint",
        msg(p.QUERY_REQUEST, {"_what": "OBJECT", "_where": "Owner == == 1"}),
        4,
        "not a valid ClassAd expression",
    ),
    (
        "query unknown class",
        msg(p.QUERY_REQUEST, {"_what": "OBJECT", "_schema_id": {"_class_name": "x"}}),
        4,
        "unknown class 'x'",
    ),
    ("method body a list", msg(p.METHOD_REQUEST, [JOB]), 4, "must be a map"),
    (
        "method without object id",
        msg(p.METHOD_REQUEST, {"_method_name": "Hold"}),
        4,
        "lacks _object_id",
    ),
    ("method object id a string", method("mrg.grid:job:1.0"), 4, "_object_id must be a map"),
    ("method object id without name", method({}), 4, "lacks _object_name"),
    ("method without name", msg(p.METHOD_REQUEST, {"_object_id": JOB}), 4, "lacks _method_name"),
    ("method name a number", method(JOB, 5), 4, "_method_name must be a string"),
    ("method arguments a list", method(JOB, "Hold", ["x"]), 4, "_arguments must be a map"),
    ("unknown class", method({"_object_name": "mrg.grid:jobs:1.0"}), 1, "no object"),
    ("unknown package", method({"_object_name": "x:job:1.0"}), 1, "no object"),
    ("unknown method", method(JOB, "Explode"), 2, "no method 'Explode'"),
    ("bad argument type", method(JOB, "Hold", {"Reason": {"a": 1}}), 4, "argument Reason of Hold"),
    ("unknown argument", method(JOB, "Hold", {"Why": "x"}), 4, "unknown argument 'Why'"),
    ("missing argument", method(JOB, "SetAttribute", {"Name": "A"}), 4, "missing argument Value"),
    ("unknown job", method({"_object_name": "mrg.grid:job:9.9"}), 0x10001, "no job 9.9"),
    ("oversized", method(JOB, "Hold", {"Reason": "x" * 5_000_000}), 4, "too large"),
    ("deeply nested", method(JOB, "Hold", {"Reason": nested(100)}), 4, "nested deeper"),
    ("locate bad predicate", msg(p.AGENT_LOCATE_REQUEST, [5]), 4, "operator must be a string"),
    ("locate body a number", msg(p.AGENT_LOCATE_REQUEST, 5), 4, "predicate list"),
    ("subscribe without query", msg(p.SUBSCRIBE_REQUEST, {}), 4, "lacks _query"),
    (
        "subscribe bad interval",
        msg(p.SUBSCRIBE_REQUEST, {"_query": {"_what": "OBJECT"}, "_interval": "1s"}),
        4,
        "_interval",
    ),
    (
        "refresh unknown",
        msg(p.SUBSCRIBE_REFRESH_INDICATION, {"_subscription_id": "nope"}),
        1,
        "no subscription 'nope'",
    ),
    (
        "cancel unknown",
        msg(p.SUBSCRIBE_CANCEL_INDICATION, {"_subscription_id": "nope"}),
        1,
        "no subscription",
    ),
    ("cancel without id", msg(p.SUBSCRIBE_CANCEL_INDICATION, {}), 4, "lacks _subscription_id"),
]


@pytest.mark.parametrize(("case", "message", "code", "words"), MATRIX, ids=[m[0] for m in MATRIX])
def test_malformed_matrix(
    harness: Harness, case: str, message: Message, code: int, words: str
) -> None:
    answers = harness.ask(copy.deepcopy(message))
    assert len(answers) == 1, case
    (answer,) = answers
    assert answer.opcode == p.EXCEPTION and answer.address == "r" and answer.correlation_id == "cid"
    error = from_wire(answer.body)
    assert error.code == code, error.text
    assert words in error.text


@pytest.mark.parametrize(("case", "message", "code", "words"), MATRIX, ids=[m[0] for m in MATRIX])
def test_malformed_without_reply_to_is_dropped(
    harness: Harness, case: str, message: Message, code: int, words: str
) -> None:
    assert harness.ask(copy.deepcopy(message), reply_to=None) == []


def test_properties_not_a_map(harness: Harness) -> None:
    message = Message(body={}, properties=["qmf.opcode"])  # type: ignore[arg-type]
    (answer,) = harness.ask(message)
    assert from_wire(answer.body).code == 4


def test_not_a_message_is_dropped(harness: Harness) -> None:
    harness.agent.handle({"qmf.opcode": "_query_request"})  # type: ignore[arg-type]
    assert harness.sent == []


def test_empty_reply_to_counts_as_none(harness: Harness) -> None:
    assert harness.ask(msg(p.QUERY_REQUEST, {"_what": "OBJECT"}), reply_to="") == []


# ------------------------------------------------------------------- fuzzing

VALID: list[Message] = [
    p.query_request(
        "object",
        class_name="job",
        where=["eq", "Owner", ["quote", "alice"]],
        projection=["Owner"],
        limit=3,
    ),
    p.query_request("object_id", object_id="mrg.grid:job:1.0"),
    p.query_request("schema", class_name="scheduler"),
    p.method_request("mrg.grid:job:1.0", "SetAttribute", {"Name": "A", "Value": "1"}),
    p.method_request("mrg.grid:scheduler:test.host", "echo", {"sequence": 1, "body": "x"}),
    p.method_request(
        "mrg.grid:scheduler:test.host", "Submit", {"Ad": {"Cmd": "/bin/true"}, "Count": 2}
    ),
    p.agent_locate_request(["eq", "_vendor", ["quote", "redhat.com"]]),
    p.subscribe_request(p.make_query("object", class_name="job"), 500, 10),
    p.subscribe_refresh("nope", 5),
    p.subscribe_cancel("nope"),
]

JUNK: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    float("nan"),
    "",
    "x",
    "OBJECT",
    "mrg.grid:job:1.0",
    [],
    [None],
    ["eq"],
    ["quote"],
    {},
    {"_what": None},
    {"": ""},
    b"\x00",
    ("t",),
]


def mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """A copy of *value* with one random change somewhere inside."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        out = dict(value)
        key = rng.choice(sorted(out, key=str))
        choice = rng.random()
        if choice < 0.25:
            del out[key]
        elif choice < 0.5:
            out[key] = rng.choice(JUNK)
        elif choice < 0.6:
            out[rng.choice([None, 1, 2.5, "", "_extra"])] = rng.choice(JUNK)
        else:
            out[key] = mutate(rng, out[key], depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.8:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        choice = rng.random()
        if choice < 0.3:
            del out_list[i]
        elif choice < 0.6:
            out_list[i] = rng.choice(JUNK)
        else:
            out_list[i] = mutate(rng, out_list[i], depth + 1)
        return out_list
    return rng.choice(JUNK)


def check_one_answer(harness: Harness, message: Message) -> None:
    opcode = message.properties.get(p.OPCODE_KEY) if isinstance(message.properties, dict) else None
    answers = harness.ask(message)
    finals = harness.finals(answers)
    if opcode == p.AGENT_LOCATE_REQUEST:
        assert len(finals) <= 1  # a locate that does not match this agent is not answered
    else:
        assert len(finals) == 1, (message, answers)
    for answer in answers:
        assert answer.address == "r"
        if answer.opcode == p.EXCEPTION:
            error = from_wire(answer.body)
            assert error.text and error.code in (1, 2, 3, 4, 5, 6, 0x10001, 0x10002, 0x10003), (
                error.text
            )


def still_serves(harness: Harness) -> None:
    answers = harness.ask(p.query_request("object", class_name="job", projection=["Owner"]))
    assert answers and answers[-1].opcode == p.QUERY_RESPONSE
    assert any(
        i["_object_id"]["_object_name"] == "mrg.grid:job:1.0" for i in p.decode_response(answers)
    )
    (echo,) = harness.ask(p.method_request("mrg.grid:job:1.0", "echo", {"sequence": 5}))
    assert p.decode_response([echo]) == {"sequence": 5, "body": ""}


def test_random_mutations_of_valid_requests(schema: Schema) -> None:
    rng = random.Random(20261122)
    harness = Harness(schema, max_subscriptions=10_000)
    for i in range(4000):
        base = VALID[i % len(VALID)]
        message = copy.deepcopy(base)
        target = rng.random()
        if target < 0.7:
            message.body = mutate(rng, message.body)
        elif target < 0.9:
            message.properties = mutate(rng, message.properties)
        else:
            message.body = mutate(rng, mutate(rng, message.body))
            message.properties = dict(message.properties)
            message.properties[p.OPCODE_KEY] = rng.choice([*p.OPCODES, None, 3, "x"])
        check_one_answer(harness, message)
    still_serves(harness)
    harness.agent.tick(0.0)
    harness.agent.tick(1e6)  # subscriptions made by the fuzz expire without trouble
    assert harness.agent.subscription_count == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.one_of(
                st.text(max_size=12),
                st.sampled_from(
                    [
                        "_what",
                        "_object_id",
                        "_object_name",
                        "_method_name",
                        "_arguments",
                        "_where",
                        "_query",
                        "_subscription_id",
                    ]
                ),
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    opcode=st.one_of(
        st.sampled_from(sorted(p.OPCODES)), st.none(), st.integers(), st.text(max_size=10)
    ),
    body=json_values,
)
def test_hypothesis_bodies(harness: Harness, opcode: Any, body: Any) -> None:
    check_one_answer(harness, msg(opcode, body))
    still_serves(harness)


class Hostile(Mapping[str, Any]):
    """A body whose lookups blow up in ways no codec path expects."""

    def __iter__(self) -> Iterator[str]:
        return iter(["_what"])

    def __len__(self) -> int:
        return 1

    def __getitem__(self, key: str) -> Any:
        raise ZeroDivisionError("hostile")


def test_unforeseen_decode_failure_still_answers(harness: Harness) -> None:
    (answer,) = harness.ask(msg(p.QUERY_REQUEST, Hostile()))
    error = from_wire(answer.body)
    assert error.code == 4 and error.text == "malformed request body"
