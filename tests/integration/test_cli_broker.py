"""Consoles and agents meeting at RabbitMQ (AMQP 1.0): a fleet seen by one console."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "console"))
from console_agent_process import AgentProcess  # noqa: E402

import console as htcondor  # noqa: E402
from console import Session, classad  # noqa: E402
from console.cli import main  # noqa: E402
from qmf_agent import errors as htcondor_errors  # noqa: E402

pytestmark = pytest.mark.broker

BROKER_URL = "amqp://qmf:qmf@127.0.0.1:5672"  # the CI broker's user qmf (tests/conftest.py)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    agents = [AgentProcess(tmp_path_factory.mktemp(f"fleet{i}"), broker=BROKER_URL) for i in range(2)]
    try:
        for a in agents:
            a.start()
        yield agents
    finally:
        from console._connection import forget_sessions

        forget_sessions()
        for a in agents:
            a.stop()


def test_one_console_sees_the_fleet(fleet, capsys):
    with Session(BROKER_URL) as s:
        names = {a.name for a in s.getAgents()}
        assert {a.name for a in fleet} <= names
        for a in fleet:
            (scheduler,) = s.getObjects(_class="scheduler", _agent=a.name)
            assert scheduler.getAgent() == a.name
    assert main(["--url", BROKER_URL, "--json", "agents"]) == 0
    listed = {a["_name"] for a in json.loads(capsys.readouterr().out)}
    assert {a.name for a in fleet} <= listed


def test_htcondor_api_through_the_broker(fleet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = fleet[1]
    short = target.name.rsplit(":", 1)[1]
    # several agents share the broker: a location ad's Name picks one
    where = classad.ClassAd({"QmfUrl": BROKER_URL, "Name": short})
    schedd_ad = htcondor.Collector(where).locate(htcondor.DaemonTypes.Schedd, short)
    assert schedd_ad["Name"] == short
    schedd = htcondor.Schedd(where)
    sub = htcondor.Submit("executable = /bin/echo\narguments = via broker $(Process)\noutput = b.$(Process)\nqueue 2")
    cluster = schedd.submit(sub)
    deadline = time.monotonic() + 30
    while schedd.query(f"ClusterId == {cluster}", ["JobStatus"]) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert (tmp_path / "b.0").read_text() == "via broker 0\n"
    assert (tmp_path / "b.1").read_text() == "via broker 1\n"
    (ad,) = schedd.history(f"ClusterId == {cluster} && ProcId == 0", ["Owner"], 1)
    assert ad["Owner"] == "qmf"  # the authenticated broker user, not the local one
    assert isinstance(ad, classad.ClassAd)


def test_a_silent_agent_does_not_hide_the_others(fleet, tmp_path):
    gone = AgentProcess(tmp_path / "gone", broker=BROKER_URL).start()
    try:
        with Session(BROKER_URL, timeout=3) as s:
            assert gone.name in {a.name for a in s.getAgents()}
            gone.stop()
            found = {o.getAgent() for o in s.getObjects(_class="scheduler")}
            assert {a.name for a in fleet} <= found
            assert gone.name not in found
            with pytest.raises(htcondor_errors.RequestTimeout):
                s.getObjects(_class="scheduler", _agent=gone.name)
    finally:
        gone.stop()
