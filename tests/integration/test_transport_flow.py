"""What each method call costs on the wire, and the loop's wake-ups.

A call through RabbitMQ must cost one transfer each way and nothing else:
no confirmation the broker sends and no disposition we send back (it never
refuses what we send, and requests are retried by request id), and credit
granted in batches, not one flow frame per message.  The standard profile
keeps its confirmations: the direct listener refuses a request for an agent
it does not serve, and the client says so at once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from _wire import ToyJobs
from proton import Connection, Link, Transport
from qmf_testing import BROKER_URL, free_port

from qmf_agent.agent import Agent
from qmf_agent.protocol import decode_response, method_request
from qmf_agent.schema import Schema
from qmf_agent.transport import AgentServer, Client, Unreachable
from qmf_agent.transport._links import CreditWindow
from qmf_agent.transport._loop import Loop

# -------------------------------------------------------------- credit


class _Pair:
    """Two proton engines joined in memory: a sender end and a receiver end."""

    def __init__(self) -> None:
        self.ends = [Connection(), Connection()]
        self.transports = [Transport(), Transport(Transport.SERVER)]
        for conn, transport in zip(self.ends, self.transports):
            transport.bind(conn)
            conn.open()
        self.sender = self.ends[0].session().sender("out")
        self.sender.session.open()
        self.sender.open()
        self.pump()
        session = self.ends[1].session_head(0)
        session.open()
        self.receiver = self.ends[1].link_head(0)
        assert self.receiver is not None and self.receiver.is_receiver
        self.receiver.open()
        self.pump()

    def pump(self) -> None:
        """Move bytes both ways until neither end has anything to say."""
        while True:
            moved = False
            for a, b in ((0, 1), (1, 0)):
                out = self.transports[a].peek(self.transports[a].pending())
                if out:
                    self.transports[b].push(out)
                    self.transports[a].pop(len(out))
                    moved = True
            if not moved:
                return

    def send(self, count: int) -> None:
        for i in range(count):
            self.sender.delivery(str(i))
            self.sender.send(b"x")
            self.sender.advance()
        self.pump()

    def consume(self, window: CreditWindow) -> int:
        """Read every delivery, letting *window* see each; returns how many."""
        got = 0
        while (delivery := self.receiver.current) is not None and delivery.readable:
            self.receiver.recv(delivery.pending)
            self.receiver.advance()
            delivery.settle()
            window._top_up(self.receiver)
            got += 1
        self.pump()
        return got


def test_credit_is_granted_in_batches_not_per_message() -> None:
    pair = _Pair()
    window = CreditWindow(10)
    window._top_up(pair.receiver)
    pair.pump()
    assert pair.receiver.credit == 10 and pair.sender.credit == 10
    pair.send(4)  # more than half the window left: no top-up yet
    assert pair.consume(window) == 4
    assert pair.receiver.credit == 6 and pair.sender.credit == 6
    pair.send(1)  # down to half: back to the whole window, in one grant
    assert pair.consume(window) == 1
    assert pair.receiver.credit == 10 and pair.sender.credit == 10


def test_credit_never_runs_dry_for_a_long_stream() -> None:
    pair = _Pair()
    window = CreditWindow(4)
    window._top_up(pair.receiver)
    pair.pump()
    for _ in range(50):
        pair.send(pair.sender.credit)  # all the sender may send
        assert pair.consume(window) >= 2
        assert pair.sender.credit >= 2
    assert pair.receiver.credit <= 4


def test_a_window_too_small_to_halve_is_refused() -> None:
    with pytest.raises(ValueError, match="credit window must be at least 2"):
        CreditWindow(1)


def test_a_closed_receiver_gets_no_credit() -> None:
    pair = _Pair()
    pair.receiver.close()
    CreditWindow(10)._top_up(pair.receiver)
    assert pair.receiver.credit == 0


# ---------------------------------------------------------- loop wake-ups


def test_calls_queued_from_many_threads_all_run_in_order_per_thread() -> None:
    """Only the call that finds the queue empty wakes the container; every
    call queued while a drain is under way must still run."""
    from proton import Handler

    loop = Loop(Handler(), "flow-test-loop")
    loop.start()
    seen: dict[int, list[int]] = {t: [] for t in range(4)}

    def worker(tid: int) -> None:
        for i in range(2000):
            loop.call_soon(seen[tid].append, i)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert loop.call(lambda: sum(len(v) for v in seen.values()), timeout=10) == 8000
        assert all(v == list(range(2000)) for v in seen.values())
    finally:
        loop.stop()


def test_a_paced_producer_waits_while_the_container_thread_is_behind() -> None:
    """call_paced: the producer waits (so the container thread gets the GIL
    and sends what it has) instead of queueing a whole answer ahead of it;
    every call still runs, in order."""
    from proton import Handler

    loop = Loop(Handler(), "pace-test-loop")
    loop.start()
    gate = threading.Event()
    seen: list[int] = []
    try:
        loop.call_soon(gate.wait, 10)  # the container thread is busy
        producer = threading.Thread(target=lambda: [loop.call_paced(seen.append, i) for i in range(50)])
        producer.start()
        producer.join(0.3)
        assert producer.is_alive()  # held back while the loop is behind
        gate.set()
        producer.join(10)
        assert not producer.is_alive()
        assert loop.call(lambda: list(seen)) == list(range(50))
        assert loop.call(lambda: loop._backlog) == 1  # the books balance: only this call
    finally:
        gate.set()
        loop.stop()


def test_a_paced_producer_is_not_stalled_for_long_by_a_stuck_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from proton import Handler

    from qmf_agent.transport import _loop

    monkeypatch.setattr(_loop, "PACE_TIMEOUT", 0.05)
    loop = Loop(Handler(), "pace-stuck-loop")
    loop.start()
    gate = threading.Event()
    seen: list[int] = []
    try:
        loop.call_soon(gate.wait, 30)
        producer = threading.Thread(target=lambda: [loop.call_paced(seen.append, i) for i in range(3)])
        producer.start()
        producer.join(10)  # each wait gives up after PACE_TIMEOUT: all three queued
        assert not producer.is_alive() and seen == []
        gate.set()
        assert loop.call(lambda: list(seen)) == [0, 1, 2]
    finally:
        gate.set()
        loop.stop()


def test_paced_calls_on_the_loop_run_inline_and_a_stopped_loop_refuses() -> None:
    from proton import Handler

    from qmf_agent.transport._loop import LoopClosed

    loop = Loop(Handler(), "pace-inline-loop")
    loop.start()
    seen: list[str] = []
    loop.call(lambda: (loop.call_paced(seen.append, "inline"), seen.append("after")))
    assert seen == ["inline", "after"]
    loop.stop()
    with pytest.raises(LoopClosed):
        loop.call_paced(seen.append, "late")


@pytest.mark.parametrize("agent_on", ["direct"], indirect=True)
def test_both_ends_take_frames_of_a_whole_answer_batch(agent_on: tuple[AgentServer, str]) -> None:
    """A batch of a big answer (~180 KB) crosses as one transfer frame, not
    six of proton's default 32 KiB: each frame is events on both sides."""
    from qmf_agent.transport._links import MAX_FRAME_SIZE

    server, _ = agent_on
    with Client(server.url) as client:
        ours, theirs = client._peer.loop.call(
            lambda: (client._peer._conn.transport.max_frame_size,
                     client._peer._conn.transport.remote_max_frame_size)
        )
    assert ours == theirs == MAX_FRAME_SIZE >= 256 * 1024


# ------------------------------------------------------ settlement modes


@pytest.fixture
def agent_on(request: pytest.FixtureRequest) -> Iterator[tuple[AgentServer, str]]:
    """A real Agent served on RabbitMQ (``broker``) or a direct listener."""
    name = f"flow.vendor:qmf-grid:{uuid.uuid4().hex[:8]}"
    if request.param == "broker":
        server = AgentServer(listen=None, broker=BROKER_URL)
    else:
        server = AgentServer(listen=f"127.0.0.1:{free_port()}")
    agent = Agent(name, Schema.load(), server.send, heartbeat_interval=60.0, data_interval=0)
    agent.bind("job", ToyJobs(3))
    server.serve(agent)
    try:
        yield server, name
    finally:
        server.stop()
        agent.close()


def _echo(i: int) -> dict[str, object]:
    return {"sequence": i, "body": f"call {i}"}


def _links(peer_holder: object) -> list[Link]:
    peer = peer_holder._peer  # type: ignore[attr-defined]

    def active() -> list[Link]:
        found, link = [], peer._conn.link_head(Link.LOCAL_ACTIVE)
        while link is not None:
            found.append(link)
            link = link.next(Link.LOCAL_ACTIVE)
        return found

    return peer.loop.call(active)


@pytest.mark.broker
@pytest.mark.parametrize("agent_on", ["broker"], indirect=True)
def test_through_rabbitmq_every_link_is_presettled(agent_on: tuple[AgentServer, str]) -> None:
    server, name = agent_on
    with Client(BROKER_URL) as client:
        for i in range(3):  # the answer still comes, and every time
            echoed = decode_response(
                client.request(method_request("mrg.grid:job:1.0", "echo", _echo(i)), agent=name)
            )
            assert echoed == _echo(i)
        assert client._peer.presettled
        links = _links(client)
        link = server.broker_link
        assert link is not None
        links += _links(link)
    senders = [x for x in links if x.is_sender]
    receivers = [x for x in links if x.is_receiver]
    assert len(senders) >= 2 and len(receivers) >= 3  # a request and a reply sender; three sources
    assert all(x.snd_settle_mode == Link.SND_SETTLED for x in senders)
    # a receiver asks its source to send settled: the broker agreed
    assert all(x.remote_snd_settle_mode == Link.SND_SETTLED for x in receivers)


@pytest.mark.parametrize("agent_on", ["direct"], indirect=True)
def test_the_direct_listener_keeps_confirmations(agent_on: tuple[AgentServer, str]) -> None:
    server, name = agent_on
    with Client(server.url) as client:
        assert not client._peer.presettled
        with pytest.raises(Unreachable, match="refused by"):
            client.request(method_request("mrg.grid:job:1.0", "echo", _echo(0)), agent="no.such:agent:x")
        echoed = decode_response(
            client.request(method_request("mrg.grid:job:1.0", "echo", _echo(1)), agent=name)
        )
        assert echoed == _echo(1)
        senders = [x for x in _links(client) if x.is_sender]
        assert senders and all(x.snd_settle_mode != Link.SND_SETTLED for x in senders)

