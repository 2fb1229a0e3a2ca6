"""Method calls: validation, dispatch with the caller's identity, errors."""

from __future__ import annotations

from typing import Any

import pytest
from agent_toys import AGENT_NAME, ToyJobs, make_agent, wait_for

from qmf_agent import protocol as p
from qmf_agent.agent import Agent
from qmf_agent.errors import (
    Forbidden,
    InternalError,
    JobNotFound,
    JobStateError,
    ParameterInvalid,
    UnknownMethod,
    UnknownObject,
)
from qmf_agent.memory import MemoryBroker, MemoryClient
from qmf_agent.schema import Schema


def call(client: MemoryClient, obj: str, method: str, args: dict[str, Any] | None = None) -> Any:
    return p.decode_response(
        client.request(p.method_request(obj, method, args), AGENT_NAME, timeout=5)
    )


def test_method_changes_the_object(client: MemoryClient, jobs: ToyJobs) -> None:
    assert call(client, "mrg.grid:job:1.0", "hold", {"reason": "disk"}) == {}
    assert jobs.jobs["1.0"]["JobStatus"] == 5 and jobs.jobs["1.0"]["HoldReason"] == "disk"
    key, method, args, caller = jobs.calls[-1]
    assert (key, method, args) == ("1.0", "Hold", {"Reason": "disk"})
    assert caller.identity == "alice" and not caller.admin and caller.request_id is None


def test_defaults_are_filled(client: MemoryClient, jobs: ToyJobs) -> None:
    assert call(client, "mrg.grid:job:1.0", "Fetch", {"File": "Out"}) == {"Data": "Out:0:-1"}


def test_request_id_and_admin_reach_the_binding(broker: MemoryBroker, jobs: ToyJobs) -> None:
    root = broker.client("root")
    message = p.method_request("mrg.grid:job:1.1", "Hold", {"Reason": "r"})
    message.properties[p.REQUEST_ID_KEY] = "req-77"
    p.decode_response(root.request(message, AGENT_NAME))
    caller = jobs.calls[-1][3]
    assert (caller.identity, caller.admin, caller.request_id) == ("root", True, "req-77")


def test_identity_comes_from_the_transport_not_the_sender(
    broker: MemoryBroker, jobs: ToyJobs
) -> None:
    anonymous = broker.client(None)
    message = p.method_request("mrg.grid:job:1.0", "Hold", {})
    message.user_id = "root"  # a sender's claim; the broker overwrites it
    p.decode_response(anonymous.request(message, AGENT_NAME))
    assert jobs.calls[-1][3].identity is None and not jobs.calls[-1][3].admin


def test_binding_errors_keep_their_codes(broker: MemoryBroker, client: MemoryClient) -> None:
    with pytest.raises(Forbidden, match="alice may not change bob's job 1.1"):
        call(client, "mrg.grid:job:1.1", "Hold")
    call(client, "mrg.grid:job:1.0", "Hold")
    with pytest.raises(JobStateError, match="already held") as info:
        call(client, "mrg.grid:job:1.0", "Hold")
    assert info.value.code == 0x10002


def test_job_not_found_from_the_binding(client: MemoryClient) -> None:
    with pytest.raises(JobNotFound):
        call(client, "mrg.grid:job:9.9", "Hold")


@pytest.mark.parametrize(
    "obj",
    ["mrg.grid:nosuch:1", "mrg.grid:job:", "other.pkg:job:1.0", "job:1.0", "mrg.grid:slot:slot1@h"],
)
def test_unknown_objects(client: MemoryClient, obj: str) -> None:
    with pytest.raises(UnknownObject, match="no object"):
        call(client, obj, "echo")


def test_object_of_another_agent(client: MemoryClient) -> None:
    message = p.method_request({"_object_name": "mrg.grid:job:1.0", "_agent_name": "x:y:z"}, "echo")
    with pytest.raises(UnknownObject, match="belongs to agent x:y:z"):
        p.decode_response(client.request(message, AGENT_NAME))


def test_unknown_method_lists_the_methods(client: MemoryClient) -> None:
    with pytest.raises(UnknownMethod, match="class job has no method 'Frob' .*Hold"):
        call(client, "mrg.grid:job:1.0", "Frob")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"Reason": ["x"]}, "argument Reason of Hold must be a string"),
        ({"Colour": 1}, "unknown argument 'Colour'"),
    ],
)
def test_bad_arguments_never_reach_the_binding(
    client: MemoryClient, jobs: ToyJobs, args: dict[str, Any], words: str
) -> None:
    with pytest.raises(ParameterInvalid) as info:
        call(client, "mrg.grid:job:1.0", "Hold", args)
    assert words in info.value.text and jobs.calls == []


def test_echo_on_every_class_is_served_by_the_agent(client: MemoryClient, jobs: ToyJobs) -> None:
    assert call(client, "mrg.grid:job:1.2", "echo", {"sequence": 9, "body": "ping"}) == {
        "sequence": 9,
        "body": "ping",
    }
    assert call(client, "mrg.grid:scheduler:test.host", "ECHO", {"sequence": "4"}) == {
        "sequence": 4,
        "body": "",
    }
    assert jobs.calls == []
    with pytest.raises(UnknownObject):
        call(client, "mrg.grid:job:9.9", "echo")
    with pytest.raises(ParameterInvalid, match="sequence of echo"):
        call(client, "mrg.grid:job:1.2", "echo", {"sequence": -1})


def test_submit_through_the_scheduler(client: MemoryClient, jobs: ToyJobs) -> None:
    out = call(
        client, "mrg.grid:scheduler:test.host", "Submit", {"Ad": {"Cmd": "/bin/echo"}, "Count": 2}
    )
    assert out == {"Id": "1.0", "Ids": ["1.0", "1.1"]}
    assert jobs.jobs["1.1"]["Cmd"] == "/bin/echo" and jobs.jobs["1.1"]["Owner"] == "alice"


def test_binding_bugs_become_internal_errors(
    client: MemoryClient, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(InternalError, match="see the agent's log") as info:
        call(client, "mrg.grid:job:1.0", "Suspend")
    assert "toy binding" not in info.value.text  # no internals leak to the caller
    assert "toy binding has no Suspend" in caplog.text
    with pytest.raises(InternalError, match="no result map"):
        call(
            client,
            "mrg.grid:scheduler:test.host",
            "HoldJob",
            {"Id": "1.0"},
        )


def test_method_request_without_reply_to_is_dropped(agent: Agent, jobs: ToyJobs) -> None:
    message = p.method_request("mrg.grid:job:1.0", "Hold", {})
    agent.handle(message)
    assert jobs.calls == [] and jobs.jobs["1.0"]["JobStatus"] == 1


def test_slow_method_does_not_stall_queries(broker: MemoryBroker, schema: Schema) -> None:
    agent, jobs, scheduler = make_agent(broker, schema, workers=2)
    jobs.add("1.0")
    client = broker.client("alice")
    scheduler.gate.clear()
    pending = client.send(
        p.method_request("mrg.grid:scheduler:test.host", "Reschedule"), AGENT_NAME
    )
    items = p.decode_response(
        client.request(p.query_request("object", class_name="job"), AGENT_NAME, 5)
    )
    assert len(items) == 1
    assert client.collect(pending, timeout=0.05) == []  # still running
    scheduler.gate.set()
    answer: list[Any] = []
    assert wait_for(lambda: answer.extend(client.collect(pending, 0.1)) or answer)
    assert p.decode_response(answer) == {}
    agent.close()


def test_closed_agent_answers_that_it_is_shutting_down(
    broker: MemoryBroker, schema: Schema
) -> None:
    agent, _, _ = make_agent(broker, schema, workers=1)
    agent.close()
    client = broker.client("alice")
    with pytest.raises(InternalError, match="shutting down"):
        p.decode_response(client.request(p.query_request("object"), AGENT_NAME, 5))
