"""Restart the broker under load: nothing acknowledged is lost, nothing doubled.

A RabbitMQ node of the test's own (the shared one on 5672 is never
touched), an agent process on it, and a console submitting all the time,
each Submit with its own ``qmf.request_id`` and retried with the same id
after a timeout.  The broker is stopped and started again mid-stream.
Afterwards every acknowledged job exists exactly once, a Submit sent again
with a known request id is answered with the first answer's ids, the
agent and the console reconnected, and the console's heartbeat
subscription came back by itself.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fleet import (
    PrivateRabbit,
    agent_name,
    call,
    job_ad,
    objects,
    start_agent,
    stop_agent,
    the,
    wait_for,
)

from qmf_agent.errors import RequestTimeout
from qmf_agent.protocol import REQUEST_ID_KEY, query_request, subscribe_request
from qmf_agent.transport import Client, TransportError

NAME = f"restart-{uuid.uuid4().hex[:6]}"
AGENT = agent_name(NAME)
CALL_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbit]:
    if not PrivateRabbit.available():
        if os.environ.get("CI"):
            pytest.fail("CI is set but rabbitmq-server is not installed (.ci/rabbitmq.sh installs it)")
        pytest.skip("no rabbitmq-server installed (set CI to make this a failure)")
    node = PrivateRabbit(tmp_path_factory.mktemp("rabbit"))
    node.start()
    yield node
    node.stop()


class Submitter(threading.Thread):
    """Submits one job after another; retries a Submit with its request id
    until it is answered; records what was acknowledged and what failed."""

    def __init__(self, client: Client, scheduler: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.client, self.scheduler = client, scheduler
        self.acked: dict[str, str] = {}          # request id -> job id
        self.ack_times: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            request_id = str(uuid.uuid4())
            while not self.stop.is_set():
                try:
                    answer = call(self.client, self.scheduler, "SubmitJob", AGENT,
                                  properties={REQUEST_ID_KEY: request_id}, timeout=CALL_TIMEOUT,
                                  Ad=job_ad())
                except (RequestTimeout, TransportError) as exc:
                    self.errors.append(str(exc))
                    continue  # the same request id again
                self.acked[request_id] = str(answer["Id"])
                self.ack_times.append(time.monotonic())
                break


def test_restart_under_load_loses_and_doubles_nothing(rabbit: PrivateRabbit, tmp_path: Path) -> None:
    agent = start_agent(tmp_path / "agent", NAME,
                        "NUM_SLOTS = 1\nHEARTBEAT_INTERVAL = 1\nQMF_ADMINS = guest\n",
                        broker=rabbit.url)
    try:
        with Client(rabbit.url, timeout=10.0) as console, Client(rabbit.url, timeout=10.0) as monitor:
            beats: list[float] = []
            monitor.subscribe("agent.ind.heartbeat.#", lambda m: beats.append(time.monotonic()))
            streamed: list[float] = []  # a QMFv2 subscription to the job class
            monitor.request(subscribe_request(query_request("OBJECT", class_name="job"),
                                              interval_ms=200), agent=AGENT,
                            stream=lambda m: streamed.append(time.monotonic()))
            wait_for(lambda: beats, 10, "a heartbeat before the restart")
            submitter = Submitter(console, the(console, "scheduler", AGENT))
            submitter.start()
            wait_for(lambda: len(submitter.acked) >= 5, 15, "submits before the restart")
            rabbit.stop()
            rabbit.start()
            up = time.monotonic()
            wait_for(lambda: [t for t in submitter.ack_times if t > up], 30,
                     "a submit acknowledged after the restart")
            wait_for(lambda: len([t for t in submitter.ack_times if t > up]) >= 5, 10,
                     "submits going on after the restart")
            submitter.stop.set()
            submitter.join(CALL_TIMEOUT * 2)
            assert not submitter.is_alive()

            # calls in flight during the outage failed with a clear error
            # (RequestTimeout / TransportError) naming the agent or the broker
            assert submitter.errors
            where = f"127.0.0.1:{rabbit.port}"
            assert all(AGENT in e or where in e for e in submitter.errors), submitter.errors[:3]
            # every acknowledged job exists exactly once, and nothing else does
            jobs = [j["_object_id"]["_object_name"].rsplit(":", 1)[1]
                    for j in objects(console, "job", AGENT)]
            assert len(jobs) == len(set(jobs))
            assert sorted(jobs) == sorted(submitter.acked.values())
            # a Submit sent again with a known request id is not queued twice
            request_id, job = next(iter(submitter.acked.items()))
            again = call(console, the(console, "scheduler", AGENT), "SubmitJob", AGENT,
                         properties={REQUEST_ID_KEY: request_id}, Ad=job_ad())
            assert str(again["Id"]) == job
            assert len(objects(console, "job", AGENT)) == len(jobs)
            # the monitor's subscriptions came back by themselves: its topic
            # subscription, and the agent's deliveries of the QMF subscription
            wait_for(lambda: [t for t in beats if t > up], 15, "heartbeats after the restart")
            # The monitor is attached again (a heartbeat came): a change now
            # must be delivered.  (Changes made while it was still
            # reconnecting went to a reply queue not yet there -- under a
            # loaded machine that can be all of them.)
            back = time.monotonic()
            call(console, the(console, "scheduler", AGENT), "SubmitJob", AGENT, Ad=job_ad())
            wait_for(lambda: [t for t in streamed if t > back], 15,
                     "subscription deliveries after the restart")
        log = agent.stderr()
        assert log.count("connected to amqp://127.0.0.1") >= 2, log[-3000:]
    finally:
        assert stop_agent(agent) == 0, agent.stderr()


def test_a_retried_submit_is_answered_from_the_store(rabbit: PrivateRabbit, tmp_path: Path) -> None:
    """The same request id twice in a row (a console that lost the first
    answer): one job, the same ids -- also after the agent restarts."""
    name = f"retry-{uuid.uuid4().hex[:6]}"
    target = agent_name(name)
    agent = start_agent(tmp_path / "agent", name, "NUM_SLOTS = 1\n", broker=rabbit.url)
    try:
        with Client(rabbit.url, timeout=10.0) as console:
            scheduler = the(console, "scheduler", target)
            request = {REQUEST_ID_KEY: "retry-1"}
            first = call(console, scheduler, "Submit", target, properties=request,
                         Ad=job_ad(), Count=3)
            second = call(console, scheduler, "Submit", target, properties=request,
                          Ad=job_ad(), Count=3)
            assert first == second and len(first["Ids"]) == 3
            assert len(objects(console, "job", target)) == 3
        assert stop_agent(agent) == 0
        agent = start_agent(tmp_path / "agent", name, "NUM_SLOTS = 1\n", broker=rabbit.url)
        with Client(rabbit.url, timeout=10.0) as console:
            scheduler = the(console, "scheduler", target)
            third = call(console, scheduler, "Submit", target, properties=request,
                         Ad=job_ad(), Count=3)
            assert third == first
            assert len(objects(console, "job", target)) == 3
    finally:
        stop_agent(agent)
