"""The protocol decoder under random and mutated AMQP messages, through the
real transport: raw proton messages to a running agent process.

Each case is one AMQP message sent with proton's own client to the agent's
direct node: either a valid QMFv2 request (locate, query, method call)
with its body, properties and headers mutated, or a message made of random
AMQP values.  After every tenth case a valid probe must be answered (the agent
keeps answering), every answer that comes back is a QMFv2 response whose
error, if any, is a typed one (never ``InternalError``, the code a leaked
exception would get), and at the end the agent's log holds no traceback.
"""

from __future__ import annotations

import copy
import itertools
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proton import Message as ProtonMessage
from proton import symbol, ulong
from proton.utils import BlockingConnection, SendException
from reliability_agent import AGENT, SCHEDULER, KillableAgent

from qmf_agent import protocol as p
from qmf_agent.errors import InternalError

pytestmark = pytest.mark.reliability

CASES = int(os.environ.get("QMF_FUZZ_CASES", "1000"))  # bench/fuzz_long.py runs many more
PROBE_EVERY = 10  # a probe round trip per case would double the run
FINAL = {p.QUERY_RESPONSE, p.METHOD_RESPONSE, p.EXCEPTION, p.AGENT_LOCATE_RESPONSE, p.SUBSCRIBE_RESPONSE}
_ids = itertools.count()


class Wire:
    """A bare proton connection to the agent: a sender to its direct node
    and a dynamic reply queue."""

    def __init__(self, url: str) -> None:
        self.conn = BlockingConnection(url, timeout=30)
        self.sender = self.conn.create_sender(p.DIRECT_NODE)
        self.receiver = self.conn.create_receiver(None, dynamic=True, credit=500)
        self.reply_to = self.receiver.link.remote_source.address
        self.answers: list[ProtonMessage] = []
        self.sent = 0

    def send(self, message: ProtonMessage) -> None:
        try:
            self.sender.send(message)
        except SendException:  # the transport refused the delivery: a typed outcome too
            pass

    def probe(self) -> None:
        """Send a valid locate and wait for its answer, keeping every other
        answer that arrives meanwhile."""
        cid = f"probe-{next(_ids)}"
        locate = ProtonMessage(body={}, subject=AGENT, reply_to=self.reply_to, correlation_id=cid,
                               properties={p.APP_ID_KEY: p.APP_ID, p.OPCODE_KEY: p.AGENT_LOCATE_REQUEST,
                                           "method": "request"})
        self.sender.send(locate)
        while True:
            got = self.receiver.receive(timeout=30)  # the agent sends answers pre-settled
            if got.correlation_id == cid:
                return
            self.answers.append(got)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KillableAgent]:
    tmp = tmp_path_factory.mktemp("fuzzwire")
    running = KillableAgent(tmp / "state", tmp, config="NUM_SLOTS = 1\n").start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def wire(agent: KillableAgent) -> Iterator[Wire]:
    w = Wire(agent.url)
    yield w
    w.close()


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True),
    st.text(max_size=30), st.binary(max_size=30), st.uuids(),
    st.integers(0, 2**64 - 1).map(ulong), st.text(max_size=10).map(symbol),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
KEYS = st.sampled_from(["_what", "_object_id", "_method_name", "_arguments", "_schema_id", "_where",
                        "_object_name", "_agent_name", "_class_name", "_package_name", "_interval",
                        "_duration", "_subscription_id", "_query", "Ad", "Count", "Constraint"])
OPCODES = st.sampled_from(sorted(p.OPCODES) + ["_nonsense", ""])


def valid_requests() -> list[tuple[Any, dict[str, Any]]]:
    """(body, application properties) of valid requests, from our own builders."""
    out = []
    for message in (
        p.agent_locate_request(),
        p.query_request("OBJECT", class_name="scheduler"),
        p.query_request("OBJECT", class_name="job", where=["eq", "JobStatus", ["quote", 1]]),
        p.query_request("SCHEMA_ID"),
        p.method_request(SCHEDULER, "Query", {"Constraint": "true", "Projection": ["ClusterId"]}),
        p.method_request(SCHEDULER, "Submit", {"Ad": {"Cmd": "/bin/true", "JobStatus": 5,
                                                      "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"},
                                                      "Iwd": "/tmp", "Owner": "root", "JobUniverse": 5},
                                               "Count": 1}),
        p.method_request(SCHEDULER, "Act", {"Action": "Hold", "Jobs": ["1.0"], "Reason": "fuzz"}),
    ):
        out.append((message.body, dict(message.properties)))
    return out


VALID = valid_requests()


@st.composite
def mutate(draw: st.DrawFn, body: Any) -> Any:
    """Replace, drop or add values anywhere in a map/list body."""
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(1, 4))):
        node = body
        while isinstance(node, dict) and node and draw(st.booleans()):
            child = node[draw(st.sampled_from(sorted(node)))]
            if not isinstance(child, (dict, list)):
                break
            node = child
        if isinstance(node, dict):
            action = draw(st.sampled_from(["drop", "replace", "add"]))
            if action == "drop" and node:
                del node[draw(st.sampled_from(sorted(node)))]
            elif action == "replace" and node:
                node[draw(st.sampled_from(sorted(node)))] = draw(VALUES)
            else:
                node[draw(st.one_of(KEYS, st.text(max_size=8)))] = draw(VALUES)
        elif isinstance(node, list):
            node.append(draw(VALUES))
        else:
            body = draw(VALUES)
    return body


@st.composite
def messages(draw: st.DrawFn) -> tuple[Any, dict[str, Any], str | None, str | None]:
    """(body, properties, subject, content type) of one fuzz message."""
    if draw(st.booleans()):
        body, props = draw(st.sampled_from(VALID))
        body = draw(mutate(body)) if draw(st.integers(0, 9)) else body
        props = dict(props)
        if draw(st.booleans()):
            props[draw(st.sampled_from([p.OPCODE_KEY, p.APP_ID_KEY, "method", p.REQUEST_ID_KEY, "qmf.agent"]))] = (
                draw(st.one_of(OPCODES, VALUES)))
    else:
        body = draw(VALUES)
        props = draw(st.dictionaries(st.one_of(st.sampled_from([p.OPCODE_KEY, p.APP_ID_KEY, "method"]),
                                               st.text(max_size=8)),
                                     st.one_of(OPCODES, SCALARS), max_size=4))
    subject = draw(st.one_of(st.just(AGENT), st.just(AGENT), st.none(), st.text(max_size=20)))
    content_type = draw(st.one_of(st.none(), st.sampled_from(["amqp/map", "amqp/list", "text/plain"])))
    return body, props, subject, content_type


@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@given(case=messages())
def test_random_and_mutated_messages_get_typed_answers_and_the_agent_keeps_answering(
        wire: Wire, case: tuple[Any, dict[str, Any], str | None, str | None]) -> None:
    body, props, subject, content_type = case
    message = ProtonMessage(body=body, subject=subject, reply_to=wire.reply_to,
                            correlation_id=f"fuzz-{uuid.uuid4()}", properties=props)
    if content_type:
        message.content_type = content_type
    try:
        message.encode()
    except Exception:  # proton itself cannot carry it (e.g. a key type AMQP has no map for)
        return
    wire.send(message)
    wire.sent += 1
    if wire.sent % PROBE_EVERY:
        return
    wire.probe()
    for answer in wire.answers:
        check_answer(answer)
    wire.answers.clear()


def check_answer(answer: ProtonMessage) -> None:
    props = answer.properties or {}
    opcode = props.get(p.OPCODE_KEY)
    assert opcode in FINAL or props.get(p.PARTIAL_KEY) is not None, (opcode, props)
    if opcode == p.EXCEPTION:
        values = (answer.body or {}).get("_values", {})
        assert values.get("error_code") != InternalError.code, f"an untyped exception leaked: {values}"
        assert values.get("error_text"), values


def test_the_agent_logged_no_traceback(agent: KillableAgent, wire: Wire) -> None:
    wire.probe()
    for answer in wire.answers:
        check_answer(answer)
    assert wire.sent >= CASES // 2, wire.sent
    assert agent.proc is not None and agent.proc.poll() is None
    text = agent.log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback") - 2000:][:6000]
