"""Fixtures for the agent tests (the toy system lives in agent_toys.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_toys import ToyJobs, ToyScheduler, make_agent

from qmf_agent.agent import Agent
from qmf_agent.memory import MemoryBroker, MemoryClient
from qmf_agent.schema import Schema


@pytest.fixture(scope="session")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def system(broker: MemoryBroker, schema: Schema) -> Iterator[tuple[Agent, ToyJobs, ToyScheduler]]:
    agent, jobs, scheduler = make_agent(broker, schema)
    for i in range(5):
        jobs.add(f"1.{i}", Owner="alice" if i % 2 == 0 else "bob", ImageSize=100 * i)
    yield agent, jobs, scheduler
    agent.close()


@pytest.fixture
def agent(system: tuple[Agent, ToyJobs, ToyScheduler]) -> Agent:
    return system[0]


@pytest.fixture
def jobs(system: tuple[Agent, ToyJobs, ToyScheduler]) -> ToyJobs:
    return system[1]


@pytest.fixture
def client(
    broker: MemoryBroker, system: tuple[Agent, ToyJobs, ToyScheduler]
) -> Iterator[MemoryClient]:
    """A client logged in as alice, talking to the toy system's agent."""
    c = broker.client(user="alice")
    yield c
    c.close()
