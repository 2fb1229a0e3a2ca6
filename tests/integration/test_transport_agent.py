"""A real Agent served over the wire, driven by the transport's Client.

One suite, run twice: ``direct`` (the agent's own listener, no broker) and
``rabbitmq`` (agent and client both connect to RabbitMQ; needs the broker).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from _wire import CutProxy, ToyJobs, wait_for
from qmf_testing import BROKER_HOST, BROKER_PORT, free_port

from console import Session
from qmf_agent.agent import Agent
from qmf_agent.errors import RequestTimeout, UnknownMethod, UnknownObject
from qmf_agent.message import Message
from qmf_agent.protocol import (
    agent_locate_request,
    decode_response,
    make_query,
    method_request,
    query_request,
    subscribe_cancel,
    subscribe_request,
)
from qmf_agent.schema import Schema
from qmf_agent.transport import AgentServer, Client, Unreachable

SCHEMA = Schema.load()
JOBS = 1200
BATCH = 100


@dataclass
class Served:
    """One agent on the wire and how to reach it."""

    agent: Agent
    jobs: ToyJobs
    server: AgentServer
    url: str
    proxy: CutProxy
    kind: str

    def client(self, **kwargs: object) -> Client:
        return Client(self.url, timeout=10.0, **kwargs)  # type: ignore[arg-type]

    def cut_client(self) -> Client:
        """A client whose connection goes through the cuttable proxy."""
        userinfo = "qmf:qmf@" if self.kind == "rabbitmq" else ""
        return Client(self.proxy.url(userinfo=userinfo), timeout=10.0)


def _serve(kind: str) -> Iterator[Served]:
    name = f"test.vendor:qmf-grid:{kind}-{uuid.uuid4().hex[:10]}"
    if kind == "direct":
        port = free_port()
        server = AgentServer(listen=f"127.0.0.1:{port}")
        url = f"amqp://127.0.0.1:{port}"
        proxy = CutProxy(("127.0.0.1", port))
    else:
        # The agent reaches the broker through the proxy, so tests can cut it.
        proxy = CutProxy((BROKER_HOST, BROKER_PORT))
        server = AgentServer(broker=proxy.url(userinfo="qmf:qmf@"))
        url = f"amqp://qmf:qmf@{BROKER_HOST}:{BROKER_PORT}"
    agent = Agent(
        name, SCHEMA, server.send, heartbeat_interval=0.3, data_interval=0.2,
        batch_size=BATCH, workers=2,
    )
    jobs = ToyJobs(JOBS)
    agent.bind("job", jobs)
    server.serve(agent)
    try:
        yield Served(agent, jobs, server, url, proxy, kind)
    finally:
        jobs.block.set()
        server.stop()
        agent.close()
        proxy.close()


@pytest.fixture(params=["direct", pytest.param("rabbitmq", marks=pytest.mark.broker)])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    yield from _serve(request.param)


@pytest.fixture
def client(served: Served) -> Iterator[Client]:
    with served.client() as c:
        yield c


def _call(client: Client, served: Served, method: str, args: dict, key: str = "1.0", **kw: object):
    msgs = client.request(
        method_request(f"mrg.grid:job:{key}", method, args), agent=served.agent.name, **kw  # type: ignore[arg-type]
    )
    return decode_response(msgs)


def test_profile_is_detected(client: Client, served: Served) -> None:
    assert client.profile == ("rabbitmq" if served.kind == "rabbitmq" else "standard")


def test_locate_finds_the_agent(client: Client, served: Served) -> None:
    answers = client.broadcast(agent_locate_request(), wait=1.0)
    names = {decode_response([m])["_name"] for m in answers}
    assert served.agent.name in names


def test_echo_method_round_trips(client: Client, served: Served) -> None:
    for seq in (0, 1, 4294967295):
        out = _call(client, served, "echo", {"sequence": seq, "body": f"hello {seq} é"})
        assert out == {"sequence": seq, "body": f"hello {seq} é"}


def test_concurrent_requests_are_matched_by_correlation_id(client: Client, served: Served) -> None:
    results: dict[int, object] = {}

    def worker(n: int) -> None:
        for i in range(10):
            seq = n * 100 + i
            results[seq] = _call(client, served, "echo", {"sequence": seq, "body": str(seq)})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 60
    assert all(out == {"sequence": seq, "body": str(seq)} for seq, out in results.items())


def test_large_query_arrives_in_every_batch(client: Client, served: Served) -> None:
    msgs = client.request(
        query_request("OBJECT", class_name="job", projection=["ClusterId", "Owner", "Cmd"]),
        agent=served.agent.name,
    )
    assert len(msgs) == JOBS // BATCH
    assert all("partial" in m.properties for m in msgs[:-1]) and "partial" not in msgs[-1].properties
    items = decode_response(msgs)
    assert len(items) == JOBS
    assert {i["_values"]["ClusterId"] for i in items} == set(range(1, JOBS + 1))
    assert set(items[0]["_values"]) == {"ClusterId", "Owner", "Cmd"}


def test_errors_come_back_as_their_class(client: Client, served: Served) -> None:
    with pytest.raises(UnknownMethod, match="NoSuchMethod"):
        _call(client, served, "NoSuchMethod", {})
    with pytest.raises(UnknownObject):
        _call(client, served, "echo", {"sequence": 1, "body": "x"}, key="999999.0")


def test_identity_reaches_the_binding_and_is_not_spoofable(client: Client, served: Served) -> None:
    msg = method_request("mrg.grid:job:2.0", "Hold", {"Reason": "test"})
    msg.user_id = "root"  # a sender's claim: must never be what the binding sees
    decode_response(client.request(msg, agent=served.agent.name))
    caller = served.jobs.calls[-1][3]
    assert caller.identity == ("qmf" if served.kind == "rabbitmq" else None)
    assert served.jobs.jobs["2.0"]["JobStatus"] == 5


def test_request_times_out_clearly(client: Client, served: Served) -> None:
    served.jobs.block.clear()  # the method now hangs in the binding
    with pytest.raises(RequestTimeout, match=r"within 0.5 s"):
        _call(client, served, "Hold", {"Reason": "slow"}, timeout=0.5)
    served.jobs.block.set()
    # The direct listener refuses at once; a broker queues it and nobody answers.
    expected = RequestTimeout if served.kind == "rabbitmq" else Unreachable
    start = time.monotonic()
    with pytest.raises(expected, match="no:such:agent"):
        client.request(method_request("mrg.grid:job:1.0", "echo", {}), agent="no:such:agent",
                       timeout=3.0)
    assert (time.monotonic() - start < 2.5) is (served.kind == "direct")


def test_events_and_heartbeats_reach_topic_subscribers(client: Client, served: Served) -> None:
    events: list[Message] = []
    beats: list[Message] = []
    client.subscribe("agent.ind.event.mrg_grid.#", events.append)
    sub = client.subscribe("agent.ind.heartbeat.*.*", beats.append)
    wait_for(lambda: beats)
    served.agent.event("JobHeld", {"Id": "1.0", "Owner": "u", "Reason": "why", "Code": 3}, 4)
    wait_for(lambda: events)
    item = decode_response(events[:1])[0]
    assert item["_values"]["Reason"] == "why" and item["_severity"] == 4
    assert decode_response(beats[:1])["_name"] == served.agent.name
    sub.cancel()
    time.sleep(1.5)  # what was in flight when the link closed has arrived
    seen = len(beats)
    time.sleep(1.0)  # three heartbeat intervals
    assert len(beats) == seen


def test_data_indications_by_class_pattern(client: Client, served: Served) -> None:
    got: list[Message] = []
    client.subscribe("agent.ind.data.mrg_grid.job", got.append)  # attached when it returns
    served.agent.changed("job", "3.0")
    wait_for(lambda: got)
    assert decode_response(got)[0]["_object_id"]["_object_name"] == "mrg.grid:job:3.0"


def test_qmf_subscription_streams_changes(client: Client, served: Served) -> None:
    stream: list[Message] = []
    query = make_query("OBJECT", class_name="job", where=["eq", "ClusterId", ["quote", 7]])
    answer = client.request(
        subscribe_request(query, interval_ms=100, duration_s=30), agent=served.agent.name,
        stream=stream.append,
    )
    sub_id = decode_response(answer)["_subscription_id"]
    wait_for(lambda: stream)  # the initial delivery
    before = len(stream)
    served.agent.changed("job", "7.0")
    wait_for(lambda: len(stream) > before)
    assert decode_response(stream[-1:])[0]["_values"]["ClusterId"] == 7
    decode_response(client.request(subscribe_cancel(sub_id), agent=served.agent.name))
    client.end_stream(answer[0].correlation_id)


def test_a_stopped_agent_times_out(client: Client, served: Served) -> None:
    _call(client, served, "echo", {"sequence": 1, "body": "up"})
    served.server.stop()
    with pytest.raises(RequestTimeout):
        _call(client, served, "echo", {"sequence": 2, "body": "down"}, timeout=1.0)


def test_client_reconnects_after_its_connection_drops(served: Served) -> None:
    with served.cut_client() as c:
        beats: list[Message] = []
        c.subscribe("agent.ind.heartbeat.#", beats.append)
        assert _call(c, served, "echo", {"sequence": 1, "body": "before"})["body"] == "before"
        served.proxy.cut()
        wait_for(lambda: served.proxy.accepted >= 2 + (served.kind == "rabbitmq"))
        assert _call(c, served, "echo", {"sequence": 2, "body": "after"})["body"] == "after"
        seen = len(beats)
        wait_for(lambda: len(beats) > seen)  # the subscription came back too


def test_a_request_under_way_fails_at_once_when_the_connection_drops(served: Served) -> None:
    """Also through RabbitMQ, whose named reply queue comes back after the
    reconnect: an answer sent in between is dropped there, so waiting would
    only end in the timeout (CI saw RabbitMQ end a session mid-request)."""
    with served.cut_client() as c:
        assert _call(c, served, "echo", {"sequence": 1, "body": "up"})["body"] == "up"
        served.jobs.block.clear()  # the Hold hangs in the binding
        threading.Timer(0.5, served.proxy.cut).start()
        start = time.monotonic()
        with pytest.raises(Unreachable, match="was lost .* before the answer"):
            _call(c, served, "Hold", {"Reason": "slow"}, timeout=30.0)
        assert time.monotonic() - start < 10.0
        served.jobs.block.set()
        assert _call(c, served, "echo", {"sequence": 2, "body": "again"})["body"] == "again"


def test_a_session_sends_a_read_again_after_a_dropped_connection_never_a_hold(served: Served) -> None:
    """The session re-sends what the schema marks idempotent (GetAd), as the
    same request, and raises at once for what it must not do twice (Hold)."""
    userinfo = "qmf:qmf@" if served.kind == "rabbitmq" else ""
    with Session(served.proxy.url(userinfo=userinfo), timeout=30.0) as session:
        name, agent = "mrg.grid:job:3.0", served.agent.name
        assert session.call(name, "echo", {"sequence": 1, "body": "up"}, agent=agent)["body"] == "up"
        served.jobs.block.clear()
        threading.Timer(0.5, served.proxy.cut).start()
        threading.Timer(3.0, served.jobs.block.set).start()
        assert session.call(name, "GetAd", agent=agent) == {}  # the toy binding's answer
        gets = [call[3].request_id for call in served.jobs.calls if call[1] == "GetAd"]
        assert len(gets) == 2 and gets[0] == gets[1] and gets[0].startswith("console-")

        served.jobs.block.clear()
        threading.Timer(0.5, served.proxy.cut).start()
        start = time.monotonic()
        with pytest.raises(Unreachable, match="was lost"):
            session.call(name, "Hold", {"Reason": "once"}, agent=agent)
        assert time.monotonic() - start < 10.0
        served.jobs.block.set()
        wait_for(lambda: served.jobs.jobs["3.0"]["JobStatus"] == 5)  # done, once
        assert [call[1] for call in served.jobs.calls].count("Hold") == 1


@pytest.mark.broker
def test_agent_broker_link_reconnects() -> None:
    gen = _serve("rabbitmq")
    served = next(gen)
    try:
        link = served.server.broker_link
        assert link is not None and link.profile == "rabbitmq"
        with served.client() as c:
            assert _call(c, served, "echo", {"sequence": 1, "body": "a"})["body"] == "a"
            served.proxy.cut()
            wait_for(lambda: link.connects >= 2 and link.connected)
            assert _call(c, served, "echo", {"sequence": 2, "body": "b"})["body"] == "b"
            names = {decode_response([m])["_name"] for m in c.broadcast(agent_locate_request())}
            assert served.agent.name in names
    finally:
        gen.close()


@pytest.fixture(params=["direct", pytest.param("rabbitmq", marks=pytest.mark.broker)])
def fleet(request: pytest.FixtureRequest) -> Iterator[tuple[Served, Served]]:
    """Two agents one console sees at once: on RabbitMQ both are on the
    broker; direct, the second reaches the first one's listener as a broker
    (standard profile) -- the listener routes to agents that connect to it."""
    first_gen = _serve(request.param)
    first = next(first_gen)
    name = f"test.vendor:qmf-grid:second-{uuid.uuid4().hex[:10]}"
    broker = first.url if request.param == "direct" else f"amqp://qmf:qmf@{BROKER_HOST}:{BROKER_PORT}"
    server = AgentServer(broker=broker)
    agent = Agent(name, SCHEMA, server.send, heartbeat_interval=0.3, data_interval=0, workers=2)
    jobs = ToyJobs(3)
    agent.bind("job", jobs)
    server.serve(agent)
    try:
        yield first, Served(agent, jobs, server, first.url, first.proxy, request.param)
    finally:
        server.stop()
        agent.close()
        first_gen.close()


def test_a_console_sees_the_whole_fleet(fleet: tuple[Served, Served]) -> None:
    first, second = fleet
    assert second.server.broker_link is not None
    assert second.server.broker_link.profile == ("rabbitmq" if first.kind == "rabbitmq" else "standard")
    with first.client() as c:
        names = {decode_response([m])["_name"] for m in c.broadcast(agent_locate_request(), wait=1.5)}
        assert {first.agent.name, second.agent.name} <= names
        beats: list[Message] = []
        c.subscribe("agent.ind.heartbeat.#", beats.append)
        wait_for(lambda: {decode_response([m])["_name"] for m in list(beats)} >= {
            first.agent.name, second.agent.name})
        assert _call(c, second, "echo", {"sequence": 2, "body": "two"})["body"] == "two"
        items = decode_response(c.request(query_request("OBJECT", class_name="job"),
                                          agent=second.agent.name))
        assert len(items) == 3
