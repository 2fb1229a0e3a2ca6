"""Limits: message size, requests in flight per connection, submits per user
per second.  Exceeding one is a clear QMF error; the agent goes on serving.

The in-flight limit is shown with an agent served in this process over the
direct listener (a binding that blocks holds requests under way); the size
and rate limits with the real ``qmf-agent`` process configured by
``QMF_MAX_MESSAGE_SIZE`` and ``QMF_MAX_SUBMITS_PER_SECOND``, once on its
own listener and once through RabbitMQ.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fleet import RunningAgent, call, job_ad, start_agent, stop_agent, the, wait_for
from _wire import ToyJobs
from qmf_testing import BROKER_URL, free_port

from qmf_agent.agent import Agent
from qmf_agent.errors import ParameterInvalid, QmfError, QueueFull
from qmf_agent.protocol import decode_response, method_request
from qmf_agent.schema import Schema
from qmf_agent.security import AccessPolicy
from qmf_agent.transport import AgentServer, Client

NAME = "redhat.com:qmf-grid:limits"


@pytest.fixture
def blocking_agent() -> Iterator[tuple[AgentServer, ToyJobs]]:
    jobs = ToyJobs(3)
    server = AgentServer(listen=f"127.0.0.1:{free_port()}")
    agent = Agent(NAME, Schema.load(), server.send, policy=AccessPolicy(max_in_flight=2))
    agent.bind("job", jobs)
    server.serve(agent)
    yield server, jobs
    jobs.block.set()
    server.stop()
    agent.close()


def hold(client: Client, key: str, out: list[Any]) -> None:
    message = method_request(f"mrg.grid:job:{key}", "Hold", {"Reason": "limits"})
    try:
        out.append(decode_response(client.request(message, agent=NAME, timeout=20.0)))
    except QmfError as exc:
        out.append(exc)


def test_in_flight_requests_per_connection_are_limited(
    blocking_agent: tuple[AgentServer, ToyJobs],
) -> None:
    server, jobs = blocking_agent
    jobs.block.clear()  # calls that reach the binding wait
    with Client(server.url, timeout=20.0) as busy, Client(server.url, timeout=20.0) as other:
        results: list[Any] = []
        threads = [threading.Thread(target=hold, args=(busy, key, results)) for key in ("1.0", "2.0")]
        for thread in threads:
            thread.start()
        for _ in range(200):  # both are under way in the binding
            if len(jobs.calls) == 2:
                break
            threading.Event().wait(0.05)
        assert len(jobs.calls) == 2
        third: list[Any] = []
        hold(busy, "3.0", third)
        assert isinstance(third[0], QueueFull)
        assert "QMF_MAX_IN_FLIGHT = 2" in third[0].text
        # another connection is not affected by this one's backlog
        echo = decode_response(other.request(
            method_request("mrg.grid:job:1.0", "echo", {"sequence": 7, "body": "x"}), agent=NAME))
        assert echo == {"sequence": 7, "body": "x"}
        jobs.block.set()
        for thread in threads:
            thread.join(30)
        assert results == [{}, {}]
        # answered requests free their places
        again: list[Any] = []
        hold(busy, "3.0", again)
        assert again == [{}]


@pytest.fixture(scope="module",
                params=["direct", pytest.param("rabbitmq", marks=pytest.mark.broker)])
def limited(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    """The real agent with small limits, on its listener or on RabbitMQ."""
    name = f"limits-{uuid.uuid4().hex[:6]}"
    running = start_agent(
        tmp_path_factory.mktemp("limits"), name,
        "NUM_SLOTS = 1\nQMF_MAX_MESSAGE_SIZE = 65536\nQMF_MAX_SUBMITS_PER_SECOND = 0.5\n"
        "QMF_ADMINS = nobody-here\n",
        broker=BROKER_URL if request.param == "rabbitmq" else None,
    )
    yield running
    assert stop_agent(running) == 0, running.stderr()


def test_a_request_over_the_size_limit_is_refused_clearly(limited: RunningAgent) -> None:
    with Client(limited.url, timeout=20.0) as client:
        scheduler = the(client, "scheduler", limited.agent)
        with pytest.raises(ParameterInvalid, match="request body is too large"):
            call(client, scheduler, "SubmitJob", limited.agent, Ad=job_ad(Args="x" * 100_000))
        # the agent goes on serving
        assert the(client, "master", limited.agent)["_values"]["Name"] == limited.name


def test_submits_per_user_per_second_are_limited(limited: RunningAgent) -> None:
    with Client(limited.url, timeout=20.0) as client:
        scheduler = the(client, "scheduler", limited.agent)
        outcomes: list[Any] = []
        for _ in range(4):
            try:
                outcomes.append(call(client, scheduler, "SubmitJob", limited.agent,
                                    Ad=job_ad(owner="someone"))["Id"])
            except QueueFull as exc:
                outcomes.append(exc)
        refused = [o for o in outcomes if isinstance(o, QueueFull)]
        assert refused, outcomes
        assert "QMF_MAX_SUBMITS_PER_SECOND = 0.5" in refused[0].text and "retry in" in refused[0].text
        assert isinstance(outcomes[0], str)  # the first of a burst passes
        # other methods are not counted
        call(client, scheduler, "GetJobAd", limited.agent, Id=outcomes[0])
    # refusals are audited before their error is sent, successes just after the answer
    def submits_once_one_passed() -> list[str]:
        lines = [line for line in limited.audit() if "action=scheduler.SubmitJob" in line]
        return lines if any(line.endswith("result=ok") for line in lines) else []

    lines = wait_for(submits_once_one_passed, 10, "the Submits audited")
    assert any("result=QueueFull(65539)" in line for line in lines)
    assert any(line.endswith("result=ok") for line in lines)


def test_the_limits_are_checked_at_start(tmp_path: Path) -> None:
    running = start_agent(tmp_path, "bad", "QMF_MAX_IN_FLIGHT = -1\n", wait=False)
    assert running.proc.wait(timeout=60) == 1
    assert "qmf-agent: error: access settings" in running.stderr()
    assert "max_in_flight must be 0 (no limit) or positive" in running.stderr()
    assert "Traceback" not in running.stderr()


def test_limits_follow_a_reconfig_and_a_bad_one_keeps_them(tmp_path: Path) -> None:
    running = start_agent(tmp_path, "relimit", "NUM_SLOTS = 1\nQMF_ADMINS = nobody-here\n")
    conf = tmp_path / "agent.conf"
    try:
        with Client(running.url, timeout=20.0) as client:
            scheduler = the(client, "scheduler", running.agent)

            def submit() -> Any:
                try:
                    return call(client, scheduler, "SubmitJob", running.agent,
                                Ad=job_ad(owner="someone"))["Id"]
                except QueueFull as exc:
                    return exc

            assert all(isinstance(submit(), str) for _ in range(3))  # no limit yet
            conf.write_text(conf.read_text() + "QMF_MAX_SUBMITS_PER_SECOND = 0.05\n")
            running.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: isinstance(submit(), QueueFull), 20, "the new limit to apply")
            conf.write_text(conf.read_text() + "QMF_MAX_IN_FLIGHT = -5\n")
            running.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "the previous access settings and limits stay" in running.stderr(),
                     20, "the bad value to be reported")
            assert "max_in_flight must be 0 (no limit) or positive" in running.stderr()
            assert isinstance(submit(), QueueFull)  # the rate limit is still in force
            assert running.proc.poll() is None
    finally:
        assert stop_agent(running) == 0, running.stderr()
