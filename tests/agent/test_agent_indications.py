"""Heartbeats, data indications, events, agent locate and subscriptions."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from agent_toys import AGENT_NAME, ToyJobs, make_agent

from qmf_agent import protocol as p
from qmf_agent.agent import Agent
from qmf_agent.binding import ObjectState
from qmf_agent.errors import ParameterInvalid, QueueFull, UnknownObject
from qmf_agent.memory import MemoryBroker, MemoryClient
from qmf_agent.message import Message
from qmf_agent.schema import Schema


class Topic:
    """Collects what is published under a topic pattern."""

    def __init__(self, broker: MemoryBroker, pattern: str) -> None:
        self.messages: list[Message] = []
        broker.subscribe(pattern, self.messages.append)

    @property
    def subjects(self) -> list[str | None]:
        return [m.subject for m in self.messages]

    def take(self) -> list[Message]:
        out, self.messages[:] = list(self.messages), []
        return out


# ------------------------------------------------------------------ heartbeats


def test_first_tick_sends_a_heartbeat_then_on_interval(broker: MemoryBroker, agent: Agent) -> None:
    beats = Topic(broker, "agent.ind.heartbeat.#")
    delay = agent.tick(100.0)
    (beat,) = beats.take()
    assert beat.subject == "agent.ind.heartbeat.redhat_com.qmf-grid"
    assert beat.opcode == p.AGENT_HEARTBEAT_INDICATION
    attrs = p.decode_response([beat])
    assert attrs["_name"] == AGENT_NAME and attrs["_epoch"] == 3
    assert attrs["_heartbeat_interval"] == 10 and attrs["_timestamp"] > 0
    assert 0 < delay <= 10.0
    agent.tick(105.0)
    assert beats.take() == []
    assert agent.tick(110.0) <= 10.0
    assert len(beats.take()) == 1


def test_tick_returns_time_to_next_work(broker: MemoryBroker, schema: Schema) -> None:
    agent, _, _ = make_agent(broker, schema, heartbeat_interval=30.0, data_interval=2.0)
    assert agent.tick(0.0) == pytest.approx(2.0)
    assert agent.tick(1.5) == pytest.approx(0.5)


def test_interval_must_be_positive(broker: MemoryBroker, schema: Schema) -> None:
    with pytest.raises(ValueError):
        Agent(AGENT_NAME, schema, broker.send, heartbeat_interval=0)


# ------------------------------------------------------------ data indications


def test_changes_are_published_on_the_data_interval(
    broker: MemoryBroker, agent: Agent, jobs: ToyJobs
) -> None:
    data = Topic(broker, "agent.ind.data.#")
    agent.tick(0.0)  # the fixture's five jobs were announced as changed
    (first,) = data.take()
    assert first.subject == "agent.ind.data.mrg_grid.job" and first.opcode == p.DATA_INDICATION
    assert len(p.decode_response([first])) == 5
    jobs.add("2.0", Owner="carol")
    jobs.add("2.0", Owner="carol", JobStatus=2)  # two changes, one publication
    agent.tick(1.0)
    assert data.take() == []  # not due yet
    agent.tick(5.0)
    (update,) = data.take()
    (obj,) = p.decode_response([update])
    assert (
        obj["_values"]["JobStatus"] == 2 and obj["_object_id"]["_object_name"] == "mrg.grid:job:2.0"
    )
    agent.tick(10.0)
    assert data.take() == []  # nothing changed


def test_deletions_are_published_once(broker: MemoryBroker, agent: Agent, jobs: ToyJobs) -> None:
    data = Topic(broker, "agent.ind.data.mrg_grid.*")
    agent.tick(0.0)
    data.take()
    jobs.add("3.0")
    jobs.sink = agent
    jobs.call("3.0", "Remove", {"Reason": ""}, _caller("alice"))
    agent.tick(5.0)
    (gone,) = p.decode_response(data.take())
    assert gone["_object_id"]["_object_name"] == "mrg.grid:job:3.0" and gone["_delete_ts"] == 4000
    agent.tick(10.0)
    assert data.take() == []


def _caller(identity: str) -> Any:
    from qmf_agent.binding import Caller

    return Caller(identity=identity)


def test_no_data_indications_when_disabled(broker: MemoryBroker, schema: Schema) -> None:
    agent, jobs, _ = make_agent(broker, schema, data_interval=0)
    data = Topic(broker, "agent.ind.data.#")
    jobs.add("1.0")
    agent.tick(0.0)
    agent.tick(100.0)
    assert data.messages == []


def test_sink_ignores_unbound_classes(agent: Agent, caplog: pytest.LogCaptureFixture) -> None:
    agent.changed("slot", "slot1@h")
    agent.deleted("nosuch", "x", ObjectState("x", {}, 0, 0, 1))
    assert "unbound class 'slot'" in caplog.text and "unbound class 'nosuch'" in caplog.text


# ---------------------------------------------------------------------- events


def test_events_go_to_their_topic_subject(
    broker: MemoryBroker, agent: Agent, schema: Schema
) -> None:
    events = Topic(broker, "agent.ind.event.mrg_grid.#")
    agent.event("jobheld", {"Id": "1.0", "Owner": "alice", "Reason": "disk", "Code": 3}, severity=4)
    (message,) = events.take()
    assert message.subject == "agent.ind.event.mrg_grid.JobHeld.warn"
    assert message.properties[p.CONTENT_KEY] == "_event"
    assert message.properties[p.AGENT_KEY] == AGENT_NAME
    (event,) = p.decode_response([message])
    held = schema.get_event("JobHeld")
    assert held is not None
    assert event["_schema_id"] == held.schema_id and event["_severity"] == 4
    assert event["_values"] == {"Id": "1.0", "Owner": "alice", "Reason": "disk", "Code": 3}
    assert event["_timestamp"] > 0


def test_unknown_event_is_logged_not_sent(
    broker: MemoryBroker, agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    events = Topic(broker, "agent.ind.event.#")
    agent.event("JobExploded", {"Id": "1.0"})
    assert events.messages == [] and "JobExploded" in caplog.text


def test_bad_severity_becomes_info(broker: MemoryBroker, agent: Agent) -> None:
    events = Topic(broker, "agent.ind.event.#")
    agent.event("JobSubmitted", {"Id": "1.0", "Owner": "a"}, severity=99)
    assert events.subjects == ["agent.ind.event.mrg_grid.JobSubmitted.info"]


def test_a_failing_transport_does_not_break_the_agent(
    schema: Schema, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(message: Message) -> None:
        raise OSError("connection lost")

    agent = Agent(AGENT_NAME, schema, broken, workers=0)
    agent.event("JobSubmitted", {"Id": "1.0", "Owner": "a"})
    assert agent.tick(0.0) > 0
    assert "failed to take" in caplog.text


# ---------------------------------------------------------------------- locate


def test_locate_answers_matching_agents_only(broker: MemoryBroker, schema: Schema) -> None:
    make_agent(broker, schema)
    other = Agent("acme.org:other:box", schema, broker.send, workers=0)
    broker.attach(other)
    client = broker.client("alice")
    everyone = [p.decode_response([m])["_name"] for m in client.broadcast(p.agent_locate_request())]
    assert sorted(everyone) == ["acme.org:other:box", AGENT_NAME]
    only = client.broadcast(p.agent_locate_request(["eq", "_vendor", ["quote", "acme.org"]]))
    assert [p.decode_response([m])["_name"] for m in only] == ["acme.org:other:box"]


def test_locate_with_a_bad_predicate_says_why(client: MemoryClient) -> None:
    (answer,) = client.broadcast(p.agent_locate_request(["nope"]))
    with pytest.raises(ParameterInvalid, match="agent locate predicate"):
        p.decode_response([answer])


def test_extra_attributes(broker: MemoryBroker, schema: Schema) -> None:
    agent = Agent(AGENT_NAME, schema, broker.send, workers=0, attributes={"pool": "main"})
    assert agent.attributes["pool"] == "main" and agent.attributes["_product"] == "qmf-grid"


# --------------------------------------------------------------- subscriptions


def subscribe(
    client: MemoryClient, query: Any, interval: int | None = 1000, duration: float | None = 60
) -> tuple[str, list[Message], Any]:
    cid = client.send(p.subscribe_request(query, interval, duration), AGENT_NAME)
    answer = client.collect(cid, timeout=5)
    response = p.decode_response(answer[:1])
    assert isinstance(response, dict)
    return response["_subscription_id"], answer[1:], response


def pending(client: MemoryClient, message: Message) -> list[Message]:
    """Deliveries since the last look, for the subscription *message* answered."""
    return client.collect(message.correlation_id, timeout=0.05)


def test_subscription_initial_state_then_changes(
    broker: MemoryBroker, agent: Agent, client: MemoryClient, jobs: ToyJobs
) -> None:
    query = p.make_query(
        "object",
        class_name="job",
        where=["eq", "Owner", ["quote", "alice"]],
        projection=["JobStatus"],
    )
    sub_id, initial, response = subscribe(client, query, 1000, 60)
    assert response == {"_subscription_id": sub_id, "_interval": 1000, "_duration": 60.0}
    assert initial[0].opcode == p.DATA_INDICATION and initial[0].address == client.reply_to
    first = p.decode_response(initial)
    assert sorted(o["_object_id"]["_object_name"] for o in first) == [
        "mrg.grid:job:1.0",
        "mrg.grid:job:1.2",
        "mrg.grid:job:1.4",
    ]
    assert all(set(o["_values"]) == {"JobStatus"} for o in first)
    agent.tick(0.0)
    jobs.add("1.0", Owner="alice", JobStatus=2)
    jobs.add("1.1", Owner="bob", JobStatus=2)  # not matching the subscription
    agent.tick(0.5)
    assert pending(client, initial[0]) == []
    agent.tick(1.0)
    (update,) = pending(client, initial[0])
    assert update.address == client.reply_to
    (changed,) = p.decode_response([update])
    assert changed["_object_id"]["_object_name"] == "mrg.grid:job:1.0"
    assert changed["_values"] == {"JobStatus": 2}
    agent.tick(2.0)
    assert pending(client, initial[0]) == []  # nothing new: nothing sent
    jobs.call("1.2", "Remove", {"Reason": ""}, _caller("alice"))
    agent.tick(3.0)
    (gone,) = p.decode_response(pending(client, initial[0]))
    assert gone["_delete_ts"] == 4000 and gone["_values"] == {"JobStatus": 1}


def test_subscription_by_object_id(agent: Agent, client: MemoryClient, jobs: ToyJobs) -> None:
    query = p.make_query("object_id", object_id="mrg.grid:job:1.3")
    _, initial, _ = subscribe(client, query)
    assert [i["_object_name"] for i in p.decode_response(initial)] == ["mrg.grid:job:1.3"]
    agent.tick(0.0)
    jobs.add("1.2", Owner="alice")
    jobs.add("1.3", Owner="bob", JobStatus=5)
    agent.tick(1.0)
    assert [i["_object_name"] for i in p.decode_response(pending(client, initial[0]))] == [
        "mrg.grid:job:1.3"
    ]
    assert pending(client, initial[0]) == []


def test_subscription_expires_unless_refreshed(agent: Agent, client: MemoryClient) -> None:
    sub_id, _, _ = subscribe(client, p.make_query("object", class_name="job"), 1000, 10)
    agent.tick(0.0)
    assert agent.subscription_count == 1
    agent.tick(9.0)
    refreshed = p.decode_response(client.request(p.subscribe_refresh(sub_id, 20), AGENT_NAME))
    assert refreshed == {"_subscription_id": sub_id, "_interval": 1000, "_duration": 20.0}
    agent.tick(9.5)  # the refresh applies from now: expiry 29.5
    agent.tick(25.0)
    assert agent.subscription_count == 1
    agent.tick(30.0)
    assert agent.subscription_count == 0
    with pytest.raises(UnknownObject, match="expired or cancelled"):
        p.decode_response(client.request(p.subscribe_refresh(sub_id), AGENT_NAME))


def test_refresh_without_reply_to_is_applied_silently(agent: Agent, client: MemoryClient) -> None:
    sub_id, _, _ = subscribe(client, p.make_query("object", class_name="job"), 1000, 10)
    agent.tick(0.0)
    agent.handle(p.subscribe_refresh(sub_id, 100))
    agent.tick(50.0)
    assert agent.subscription_count == 1


def test_cancel_stops_delivery(agent: Agent, client: MemoryClient, jobs: ToyJobs) -> None:
    sub_id, initial, _ = subscribe(client, p.make_query("object", class_name="job"))
    agent.tick(0.0)
    cancelled = p.decode_response(client.request(p.subscribe_cancel(sub_id), AGENT_NAME))
    assert cancelled["_duration"] == 0.0 and agent.subscription_count == 0
    jobs.add("1.0")
    agent.tick(5.0)
    assert pending(client, initial[0]) == []


def test_subscription_limits_and_defaults(broker: MemoryBroker, schema: Schema) -> None:
    agent, _, _ = make_agent(broker, schema, max_subscriptions=1, data_interval=0)
    client = broker.client("alice")
    _, _, response = subscribe(client, p.make_query("object", class_name="job"), None, None)
    assert response["_interval"] == 5000 and response["_duration"] == 300.0
    with pytest.raises(QueueFull, match="too many subscriptions"):
        subscribe(client, p.make_query("object", class_name="job"))
    assert agent.subscription_count == 1


def test_subscription_interval_has_a_floor(client: MemoryClient) -> None:
    _, _, response = subscribe(client, p.make_query("object", class_name="job"), 1, 5)
    assert response["_interval"] == 100


@pytest.mark.parametrize(
    ("query", "error", "words"),
    [
        (p.make_query("schema"), ParameterInvalid, "OBJECT or OBJECT_ID"),
        (p.make_query("object", class_name="nope"), ParameterInvalid, "unknown class"),
        (p.make_query("object", where=["bad"]), ParameterInvalid, "unknown operator"),
    ],
)
def test_bad_subscriptions_are_refused(
    agent: Agent, client: MemoryClient, query: Any, error: type, words: str
) -> None:
    with pytest.raises(error, match=words):
        subscribe(client, query)
    assert agent.subscription_count == 0


def test_subscription_survives_a_failing_binding(
    broker: MemoryBroker, schema: Schema, caplog: pytest.LogCaptureFixture
) -> None:
    agent, jobs, _ = make_agent(broker, schema)
    client = broker.client("alice")
    subscribe(client, p.make_query("object", class_name="job"))
    agent.tick(0.0)
    jobs.add("1.0")

    def boom(key: str) -> None:
        raise RuntimeError("store offline")

    jobs.state = boom  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        agent.tick(5.0)
    assert "store offline" in caplog.text and agent.subscription_count == 1


def test_event_values_must_be_a_mapping(
    broker: MemoryBroker, agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    events = Topic(broker, "agent.ind.event.#")
    agent.event("JobSubmitted", 5)  # type: ignore[arg-type]
    assert events.messages == [] and "must be a mapping" in caplog.text
