"""The in-memory transport: routing, topic patterns, isolation, timeouts."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from agent_toys import AGENT_NAME, make_agent

from qmf_agent import protocol as p
from qmf_agent.errors import RequestTimeout
from qmf_agent.memory import MemoryBroker, topic_matches
from qmf_agent.message import Message
from qmf_agent.schema import Schema


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("agent.ind.#", "agent.ind.data.mrg_grid.job", True),
        ("agent.ind.#", "agent.ind", True),
        ("#", "anything.at.all", True),
        ("agent.*.heartbeat", "agent.ind.heartbeat", True),
        ("agent.*", "agent.ind.heartbeat", False),
        ("agent.ind.event.*.*.warn", "agent.ind.event.mrg_grid.JobHeld.warn", True),
        ("agent.ind.event.#.warn", "agent.ind.event.mrg_grid.JobHeld.warn", True),
        ("agent.ind.event.#.warn", "agent.ind.event.mrg_grid.JobHeld.info", False),
        ("a.b", "a.b.c", False),
        ("a.b.c", "a.b", False),
    ],
)
def test_topic_patterns(pattern: str, subject: str, expected: bool) -> None:
    assert topic_matches(pattern, subject) is expected


def test_messages_are_copied_like_on_a_wire(broker: MemoryBroker) -> None:
    got: list[Message] = []
    broker.subscribe("x.#", got.append)
    body = {"list": [1, 2]}
    broker.send(Message(body=body, address=p.TOPIC_NODE, subject="x.y"))
    body["list"].append(3)
    assert got[0].body == {"list": [1, 2]}


def test_user_id_is_set_by_the_broker(broker: MemoryBroker) -> None:
    got: list[Message] = []
    broker.subscribe("t", got.append)
    broker.send(Message(address=p.TOPIC_NODE, subject="t", user_id="root"), user="mallory")
    assert got[0].user_id == "mallory"


def test_unroutable_messages_are_counted(broker: MemoryBroker) -> None:
    broker.send(Message(address="nowhere"))
    broker.send(Message(address=p.DIRECT_NODE, subject="no:such:agent"))
    assert broker.dropped == 2


def test_request_times_out_without_an_agent(broker: MemoryBroker) -> None:
    client = broker.client("alice")
    with pytest.raises(RequestTimeout, match="no answer from x:y:z within 0.05 s"):
        client.request(p.query_request("object"), "x:y:z", timeout=0.05)


def test_closed_client_receives_nothing(broker: MemoryBroker, schema: Schema) -> None:
    make_agent(broker, schema)
    client = broker.client("alice")
    client.close()
    with pytest.raises(RequestTimeout):
        client.request(p.query_request("object"), AGENT_NAME, timeout=0.05)


def test_agent_over_the_rabbitmq_profile(schema: Schema) -> None:
    broker = MemoryBroker(p.RabbitAddressing())
    agent, jobs, _ = make_agent(broker, schema, addressing=p.RabbitAddressing())
    jobs.add("4.0")
    client = broker.client("alice")
    beats: list[Message] = []
    broker.subscribe("agent.ind.heartbeat.#", beats.append)
    agent.tick(0.0)
    assert (
        beats[0].address
        == "/exchange/amq.topic/qmf.default.agent.ind.heartbeat.redhat_com.qmf-grid"
    )
    (item,) = p.decode_response(
        client.request(p.query_request("object", class_name="job"), AGENT_NAME)
    )
    assert item["_object_id"]["_object_name"] == "mrg.grid:job:4.0"
    (located,) = client.broadcast(p.agent_locate_request())
    assert p.decode_response([located])["_name"] == AGENT_NAME


def test_concurrent_requests_changes_and_ticks(broker: MemoryBroker, schema: Schema) -> None:
    """Many threads at once: every request is answered, the agent stays sane."""
    agent, jobs, _ = make_agent(broker, schema, workers=4)
    for i in range(20):
        jobs.add(f"5.{i}")
    subscriber = broker.client("alice")
    cid = subscriber.send(
        p.subscribe_request(p.make_query("object", class_name="job"), 100, 60), AGENT_NAME
    )
    assert subscriber.collect(cid, timeout=5)
    failures: list[Any] = []
    stop = threading.Event()

    def console(n: int) -> None:
        client = broker.client("alice")
        try:
            for i in range(40):
                if i % 2:
                    out = p.decode_response(
                        client.request(
                            p.query_request("object", class_name="job", limit=5), AGENT_NAME, 10
                        )
                    )
                    assert len(out) == 5
                else:
                    out = p.decode_response(
                        client.request(
                            p.method_request(f"mrg.grid:job:5.{n}", "echo", {"sequence": i}),
                            AGENT_NAME,
                            10,
                        )
                    )
                    assert out["sequence"] == i
        except Exception as exc:  # collected: assertions in threads do not fail tests
            failures.append(exc)

    def churn() -> None:
        i = 0
        while not stop.is_set():
            jobs.add(f"5.{i % 20}", JobStatus=1 + i % 5)
            i += 1

    def ticker() -> None:
        now = 0.0
        while not stop.is_set():
            agent.tick(now)
            now += 0.05

    background = [threading.Thread(target=churn), threading.Thread(target=ticker)]
    consoles = [threading.Thread(target=console, args=(n,)) for n in range(8)]
    for t in background + consoles:
        t.start()
    for t in consoles:
        t.join(60)
    stop.set()
    for t in background:
        t.join(10)
    agent.close()
    assert failures == []
    assert len(subscriber.collect(cid, timeout=0.1)) > 0  # the subscriber got updates


def test_request_with_stream_gets_subscription_deliveries(
    broker: MemoryBroker, schema: Schema
) -> None:
    agent, jobs, _ = make_agent(broker, schema)
    jobs.add("6.0")
    delivered: list[Message] = []
    with broker.client("alice") as client:
        answer = client.request(
            p.subscribe_request(p.make_query("object", class_name="job"), 100, 60),
            AGENT_NAME,
            stream=delivered.append,
        )
        assert answer[0].opcode == p.SUBSCRIBE_RESPONSE
        assert [m.opcode for m in delivered] == [p.DATA_INDICATION]  # the initial state
        agent.tick(0.0)
        jobs.add("6.0", JobStatus=2)
        agent.tick(1.0)
        assert (
            len(delivered) == 2
            and p.decode_response(delivered[-1:])[0]["_values"]["JobStatus"] == 2
        )
        client.end_stream(answer[0].correlation_id)
        jobs.add("6.0", JobStatus=3)
        agent.tick(2.0)
        assert len(delivered) == 2
        with pytest.raises(ValueError, match="agent's name"):
            client.request(p.query_request("object"))
