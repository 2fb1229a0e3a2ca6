"""A fleet on the shared RabbitMQ: three ``qmf-agent --broker`` processes,
one console, one monitor -- and the broker's word on who is calling.

Agent names carry a random suffix, so other tests' agents on the same
broker neither confuse these tests nor get confused by them.  The agents
require an identity (``QMF_REQUIRE_IDENTITY``): RabbitMQ validates the
``user_id`` a console sends against its login, so the identity an agent
sees is the broker's, and a message without one is refused by the agent.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import proton
import pytest
from _fleet import RunningAgent, agent_name, call, job_ad, start_agent, stop_agent, the, wait_for
from proton.handlers import MessagingHandler
from proton.reactor import Container
from qmf_testing import BROKER_HOST, BROKER_PORT

import classad
from console import Handler, Session
from qmf_agent.errors import Forbidden
from qmf_agent.message import Message
from qmf_agent.protocol import RabbitAddressing, decode_response, method_request
from qmf_agent.transport import Client, TransportError

pytestmark = pytest.mark.broker

SUFFIX = uuid.uuid4().hex[:8]
NAMES = [f"fleet{i}-{SUFFIX}" for i in range(3)]
BROKER = f"amqp://qmf:qmf@{BROKER_HOST}:{BROKER_PORT}"
ALICE_URL = f"amqp://alice:alice@{BROKER_HOST}:{BROKER_PORT}"
CONFIG = ("NUM_SLOTS = 1\nHEARTBEAT_INTERVAL = 1\nQMF_REQUIRE_IDENTITY = true\n"
          "QMF_ANONYMOUS_ADMIN = false\nQMF_ADMINS = admin\n")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningAgent]]:
    base = tmp_path_factory.mktemp("fleet")
    agents = {name: start_agent(base / name, name, CONFIG, broker=BROKER, wait=False)
              for name in NAMES}
    try:
        for running in agents.values():
            wait_for(lambda r=running: "serving on" in r.stderr() or r.proc.poll() is not None,
                     60, f"agent {running.name}")
            assert running.proc.poll() is None, running.stderr()
        yield agents
    finally:
        for running in agents.values():
            stop_agent(running)


class Monitor(Handler):
    """Counts heartbeats and events per agent; records arrivals and losses."""

    def __init__(self) -> None:
        self.heartbeats: dict[str, int] = defaultdict(int)
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.new: list[str] = []
        self.lost: dict[str, float] = {}
        self.last_heartbeat: dict[str, float] = {}
        self.lock = threading.Lock()

    def newAgent(self, agent: Any) -> None:  # noqa: N802 - the classic console's name
        with self.lock:
            self.new.append(agent.name)

    def delAgent(self, agent: Any) -> None:  # noqa: N802
        with self.lock:
            self.lost[agent.name] = time.monotonic()

    def heartbeat(self, agent: Any, timestamp: int) -> None:
        with self.lock:
            self.heartbeats[agent.name] += 1
            self.last_heartbeat[agent.name] = time.monotonic()

    def event(self, event: Any) -> None:
        with self.lock:
            self.events.append((event.agent, event.name, dict(event.arguments)))


def test_one_console_lists_queries_and_submits_across_the_fleet(
    fleet: dict[str, RunningAgent],
) -> None:
    ours = {agent_name(n) for n in NAMES}
    with Session(ALICE_URL, timeout=15.0) as session:
        found = {a.name for a in session.getAgents(wait=2.0)}
        assert ours <= found
        schedulers = {s.getAgent(): s for s in session.getObjects(_class="scheduler", _package="mrg.grid")
                      if s.getAgent() in ours}
        assert set(schedulers) == ours
        chosen = agent_name(NAMES[1])
        ad = classad.ClassAd({"Cmd": "/bin/true", "Iwd": "/tmp", "JobUniverse": 5, "Owner": "mallory",
                              "Requirements": classad.ExprTree("FALSE")})
        result = schedulers[chosen].SubmitJob(ad)
        assert result.status == 0, result.text
        jobs = {name: session.getObjects(_class="job", _agent=name) for name in ours}
        assert [j.key for j in jobs[chosen]] == [result.Id]
        assert all(not jobs[name] for name in ours - {chosen})
        # the broker-validated login is the Owner, not what the ad claimed
        assert jobs[chosen][0].Owner == "alice"
    # the audit line is written just after the answer is sent
    wait_for(lambda: any("user=alice admin=no action=scheduler.SubmitJob" in line
                         and line.endswith("result=ok") for line in fleet[NAMES[1]].audit()),
             10, "alice's Submit audited")


def test_a_monitor_receives_every_agents_heartbeats_and_events(
    fleet: dict[str, RunningAgent],
) -> None:
    monitor = Monitor()
    ours = [agent_name(n) for n in NAMES]
    with Session(ALICE_URL, handler=monitor, timeout=15.0) as session:
        wait_for(lambda: all(monitor.heartbeats[a] >= 2 for a in ours), 20,
                 "two heartbeats from every agent")
        for name in ours:
            (scheduler,) = session.getObjects(_class="scheduler", _agent=name)
            ad = classad.ClassAd({"Cmd": "/bin/true", "Iwd": "/tmp", "JobUniverse": 5,
                                  "Requirements": classad.ExprTree("FALSE")})
            assert scheduler.SubmitJob(ad).status == 0
        wait_for(lambda: {e[0] for e in monitor.events if e[1] == "JobSubmitted"} >= set(ours),
                 20, "a JobSubmitted event from every agent")


def test_a_stopped_agent_is_reported_lost_after_two_missed_heartbeats(tmp_path: Path) -> None:
    name = f"lost-{SUFFIX}"
    running = start_agent(tmp_path, name, CONFIG, broker=BROKER)
    monitor = Monitor()
    try:
        with Session(ALICE_URL, handler=monitor, timeout=15.0):
            wait_for(lambda: monitor.heartbeats[agent_name(name)] >= 2, 20, "heartbeats")
            assert agent_name(name) not in monitor.lost
            assert stop_agent(running) == 0
            stopped = time.monotonic()
            wait_for(lambda: agent_name(name) in monitor.lost, 15, "the agent to be reported lost")
            silent = monitor.lost[agent_name(name)] - monitor.last_heartbeat[agent_name(name)]
            assert 2.0 <= silent <= 8.0, silent  # two 1 s intervals missed, then noticed
            assert monitor.lost[agent_name(name)] - stopped <= 8.0
    finally:
        stop_agent(running)


class _RawSend(MessagingHandler):
    """Send one message as *user* with a chosen ``user_id`` (or none), wait
    for an answer on a reply queue or for the broker's refusal."""

    def __init__(self, user: str, message: proton.Message, target: str) -> None:
        super().__init__()
        self.user, self.message, self.target = user, message, target
        self.reply = f"/exchange/amq.direct/{uuid.uuid4()}"
        self.message.reply_to = self.reply
        self.outcome: list[Any] = []
        self.conn: Any = None
        self.sent = False

    def on_start(self, event: Any) -> None:
        self.conn = event.container.connect(f"amqp://{BROKER_HOST}:{BROKER_PORT}", user=self.user,
                                            password=self.user, allowed_mechs="PLAIN")
        event.container.create_receiver(self.conn, self.reply, name=f"r-{uuid.uuid4()}")
        event.container.schedule(10.0, self)

    def on_link_opened(self, event: Any) -> None:
        if event.receiver is not None:
            event.container.create_sender(self.conn, self.target, name=f"s-{uuid.uuid4()}")

    def on_sendable(self, event: Any) -> None:
        if not self.sent:
            self.sent = True
            event.sender.send(self.message)

    def on_message(self, event: Any) -> None:
        msg = event.message
        self.outcome.append(("answer", Message(body=msg.body, properties=dict(msg.properties or {}),
                                               correlation_id=msg.correlation_id)))
        self.conn.close()

    def on_session_error(self, event: Any) -> None:
        self.outcome.append(("session", str(event.session.remote_condition)))
        self.conn.close()

    def on_timer_task(self, event: Any) -> None:
        self.outcome.append(("timeout", None))
        if self.conn is not None:
            self.conn.close()


def _raw_call(user: str, user_id: bytes | None, agent: str) -> list[Any]:
    request = method_request(f"mrg.grid:master:{agent.rsplit(':', 1)[1]}", "Reconfig", {})
    message = proton.Message(body=request.body, properties=request.properties,
                             correlation_id=str(uuid.uuid4()), subject=agent)
    if user_id is not None:
        message.user_id = user_id
    handler = _RawSend(user, message, RabbitAddressing().to_agent(agent).address or "")
    Container(handler).run()
    return handler.outcome


def test_rabbitmq_refuses_a_forged_user_id(fleet: dict[str, RunningAgent]) -> None:
    target = fleet[NAMES[0]]
    outcome = _raw_call("alice", b"admin", target.agent)
    assert outcome[0][0] == "session", outcome
    assert "PRECONDITION_FAILED" in outcome[0][1] and "authenticated user was 'alice'" in outcome[0][1]
    time.sleep(0.5)
    assert not [line for line in target.audit() if "user=admin" in line]


def test_the_agent_refuses_a_request_without_a_user_id(fleet: dict[str, RunningAgent]) -> None:
    target = fleet[NAMES[0]]
    outcome = _raw_call("alice", None, target.agent)
    assert outcome[0][0] == "answer", outcome
    with pytest.raises(Forbidden, match="QMF_REQUIRE_IDENTITY"):
        decode_response([outcome[0][1]])
    # with its validated user id, alice is heard (and is no admin)
    outcome = _raw_call("alice", b"alice", target.agent)
    with pytest.raises(Forbidden, match="alice may not reconfigure daemons"):
        decode_response([outcome[0][1]])
    outcome = _raw_call("admin", b"admin", target.agent)
    assert decode_response([outcome[0][1]]) == {}


def test_through_the_broker_owners_and_admins_are_the_brokers_users(
    fleet: dict[str, RunningAgent],
) -> None:
    target = fleet[NAMES[2]].agent
    with pytest.raises(TransportError, match="unauthorized|refused|closed"):
        Client(f"amqp://alice:wrong@{BROKER_HOST}:{BROKER_PORT}", timeout=15.0)
    with Client(ALICE_URL, timeout=15.0) as alice, Client(BROKER) as qmf, \
            Client(f"amqp://admin:admin@{BROKER_HOST}:{BROKER_PORT}", timeout=15.0) as admin:
        job = str(call(alice, the(alice, "scheduler", target), "SubmitJob", target,
                       Ad=job_ad(owner="qmf"))["Id"])
        with pytest.raises(Forbidden, match=f"qmf may not hold job {job}"):
            call(qmf, the(qmf, "scheduler", target), "HoldJob", target, Id=job, Reason="x")
        call(admin, the(admin, "scheduler", target), "HoldJob", target, Id=job, Reason="admin")
        call(alice, the(alice, "scheduler", target), "ReleaseJob", target, Id=job, Reason="mine")
