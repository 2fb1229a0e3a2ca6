"""Queries through the in-memory transport: objects, ids, schemas, filters."""

from __future__ import annotations

from typing import Any

import pytest
from agent_toys import AGENT_NAME, ToyJobs, make_agent

from qmf_agent import protocol as p
from qmf_agent.agent import Agent
from qmf_agent.errors import ParameterInvalid
from qmf_agent.memory import MemoryBroker, MemoryClient
from qmf_agent.schema import Schema


def ask(client: MemoryClient, message: Any) -> Any:
    return p.decode_response(client.request(message, AGENT_NAME, timeout=5))


def names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(i["_object_id"]["_object_name"] for i in items)


def test_object_query_by_class(client: MemoryClient, agent: Agent) -> None:
    items = ask(client, p.query_request("OBJECT", class_name="job"))
    assert names(items) == [f"mrg.grid:job:1.{i}" for i in range(5)]
    first = next(i for i in items if i["_object_id"]["_object_name"] == "mrg.grid:job:1.0")
    assert first["_values"]["Owner"] == "alice"
    assert first["_object_id"] == {
        "_agent_name": AGENT_NAME,
        "_object_name": "mrg.grid:job:1.0",
        "_agent_epoch": 3,
    }
    job_class = agent.schema.get_class("job")
    assert job_class is not None
    assert first["_schema_id"] == job_class.schema_id
    assert (first["_create_ts"], first["_update_ts"], first["_delete_ts"]) == (1000, 2000, 0)


@pytest.mark.parametrize("spelling", ["JOB", "Job", "job"])
def test_class_names_match_any_case(client: MemoryClient, spelling: str) -> None:
    assert len(ask(client, p.query_request("object", class_name=spelling))) == 5


def test_package_filters(client: MemoryClient) -> None:
    assert len(ask(client, p.query_request("object", class_name="job", package="mrg.grid"))) == 5
    assert ask(client, p.query_request("object", class_name="job", package="com.other")) == []


def test_no_class_means_every_bound_class(client: MemoryClient) -> None:
    items = ask(client, p.query_request("object"))
    assert "mrg.grid:scheduler:test.host" in names(items) and len(items) == 6


def test_unbound_class_has_no_objects(client: MemoryClient) -> None:
    assert ask(client, p.query_request("object", class_name="slot")) == []


def test_unknown_class_is_a_parameter_error(client: MemoryClient) -> None:
    with pytest.raises(ParameterInvalid, match="unknown class 'jobs'"):
        ask(client, p.query_request("object", class_name="jobs"))


def test_projection_uses_schema_spelling(client: MemoryClient) -> None:
    items = ask(
        client,
        p.query_request("object", class_name="job", projection=["owner", "JOBSTATUS", "Nope"]),
    )
    assert all(set(i["_values"]) == {"Owner", "JobStatus"} for i in items)


def test_where_predicate_and_limit(client: MemoryClient) -> None:
    alice = ask(
        client,
        p.query_request("object", class_name="job", where=["eq", "Owner", ["quote", "alice"]]),
    )
    assert names(alice) == ["mrg.grid:job:1.0", "mrg.grid:job:1.2", "mrg.grid:job:1.4"]
    assert len(ask(client, p.query_request("object", class_name="job", limit=2))) == 2
    assert ask(client, p.query_request("object", class_name="job", limit=0)) == []
    big = ask(client, p.query_request("object", where=["gt", "ImageSize", 150], limit=10))
    assert names(big) == ["mrg.grid:job:1.2", "mrg.grid:job:1.3", "mrg.grid:job:1.4"]


def test_bad_where_is_refused(client: MemoryClient) -> None:
    with pytest.raises(ParameterInvalid, match="unknown operator"):
        ask(client, p.query_request("object", class_name="job", where=["like", "a", "b"]))


def test_query_by_object_id(client: MemoryClient) -> None:
    (item,) = ask(client, p.query_request("object", object_id="mrg.grid:job:1.3"))
    assert item["_values"]["Owner"] == "bob"
    assert ask(client, p.query_request("object", object_id="mrg.grid:job:9.9")) == []
    assert ask(client, p.query_request("object", object_id="mrg.grid:nosuch:1")) == []
    assert ask(client, p.query_request("object", object_id="garbage")) == []


def test_object_id_query(client: MemoryClient) -> None:
    answer = client.request(p.query_request("OBJECT_ID", class_name="job"), AGENT_NAME)
    assert answer[-1].properties[p.CONTENT_KEY] == "_object_id"
    ids = p.decode_response(answer)
    assert sorted(i["_object_name"] for i in ids) == [f"mrg.grid:job:1.{i}" for i in range(5)]
    assert all(i["_agent_name"] == AGENT_NAME for i in ids)


def test_schema_queries(client: MemoryClient, schema: Schema) -> None:
    answer = client.request(p.query_request("SCHEMA"), AGENT_NAME)
    assert answer[-1].properties[p.CONTENT_KEY] == "_schema"
    schemas = p.decode_response(answer)
    assert len(schemas) == len(schema.classes) + len(schema.events)
    (job,) = ask(client, p.query_request("SCHEMA", class_name="Job"))
    assert {m["_name"] for m in job["_methods"]} >= {"Hold", "echo"}
    ids = ask(client, p.query_request("SCHEMA_ID"))
    assert all(set(i) == {"_package_name", "_class_name", "_type", "_hash"} for i in ids)
    events = ask(client, p.encode(p.QueryRequest("SCHEMA_ID", p.SchemaId(type="_event"))))
    assert len(events) == 10 and all(e["_type"] == "_event" for e in events)
    by_hash = ask(
        client, p.encode(p.QueryRequest("SCHEMA_ID", p.SchemaId(hash=job["_schema_id"]["_hash"])))
    )
    assert by_hash == [job["_schema_id"]]
    assert len(ask(client, p.query_request("SCHEMA", limit=3))) == 3
    assert ask(client, p.query_request("SCHEMA_ID", class_name="JobHeld"))[0]["_type"] == "_event"


def test_large_answers_come_in_batches(broker: MemoryBroker, schema: Schema) -> None:
    agent, jobs, _ = make_agent(broker, schema, batch_size=4)
    for i in range(10):
        jobs.add(f"7.{i}")
    client = broker.client("alice")
    answer = client.request(p.query_request("object", class_name="job"), AGENT_NAME)
    assert [len(m.body) for m in answer] == [4, 4, 2]
    assert [p.PARTIAL_KEY in m.properties for m in answer] == [True, True, False]
    assert all(m.correlation_id == answer[0].correlation_id for m in answer)
    assert len(p.decode_response(answer)) == 10
    agent.close()


def test_query_answers_carry_agent_and_address(broker: MemoryBroker, schema: Schema) -> None:
    sent: list[Any] = []
    agent = Agent(AGENT_NAME, schema, sent.append, workers=0)
    agent.bind("job", ToyJobs())
    request = p.query_request("object", class_name="job")
    request.reply_to, request.correlation_id = "reply-here", 42
    agent.handle(request)
    (answer,) = sent
    assert (answer.address, answer.correlation_id) == ("reply-here", 42)
    assert answer.properties[p.AGENT_KEY] == AGENT_NAME
    assert answer.opcode == p.QUERY_RESPONSE and answer.body == []


def test_bind_refuses_unknown_class(agent: Agent) -> None:
    with pytest.raises(ValueError, match="no class 'jobz'"):
        agent.bind("jobz", ToyJobs())
    assert agent.object_name("JOB", "1.0") == "mrg.grid:job:1.0"
