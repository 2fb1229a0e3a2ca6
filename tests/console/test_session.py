"""console.Session against a real agent process: agents, objects, methods,
schema, handler callbacks (heartbeats, events, lost agents), errors."""

from __future__ import annotations

import queue
import time

import pytest
from console_agent_process import AgentProcess

from console import Session
from console.session import Agent, Event, Handler, MethodResult
from qmf_agent.errors import JobStateError, ParameterInvalid, QmfError

TYPED_AD = {
    "Cmd": {"TYPE": "STRING", "VALUE": "/bin/sleep"},
    "Args": {"TYPE": "STRING", "VALUE": "30"},
    "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"},
    "JobUniverse": {"TYPE": "INTEGER", "VALUE": "5"},
    "Iwd": {"TYPE": "STRING", "VALUE": "/tmp"},
    "Owner": {"TYPE": "STRING", "VALUE": "nobody"},
}


@pytest.fixture
def session(agent):
    with Session(agent.url, timeout=10) as s:
        yield s


def test_get_agents_finds_the_agent(session, agent):
    agents = session.getAgents()
    assert [a.name for a in agents] == [f"redhat.com:qmf-grid:test{agent.port}"]
    assert agents[0].vendor == "redhat.com" and agents[0].product == "qmf-grid"
    assert agents[0].heartbeat_interval == 1


def test_add_broker_like_the_classic_console(agent):
    s = Session()
    try:
        s.addBroker(agent.url)
        assert len(s.getObjects(_class="scheduler", _package="mrg.grid")) == 1
    finally:
        s.close()


def test_objects_read_as_attributes_and_pairs(session):
    (scheduler,) = session.getObjects(_class="scheduler", _package="mrg.grid")
    assert isinstance(scheduler.Name, str) and scheduler.Name
    props = scheduler.getProperties()
    assert all(isinstance(p, tuple) and len(p) == 2 for p in props)
    assert "Name" in [name for name, _ in props]
    stats = dict(scheduler.getStatistics())
    assert "TotalJobAds" in stats and isinstance(stats["TotalJobAds"], int)
    assert scheduler.getClassKey() == ("mrg.grid", "scheduler")
    assert scheduler.getObjectId().startswith("mrg.grid:scheduler:")
    with pytest.raises(AttributeError, match="no property, statistic or method 'Nope'"):
        scheduler.Nope  # noqa: B018


def test_submit_typed_ad_then_find_the_job_by_custom_id(session):
    (scheduler,) = session.getObjects(_class="scheduler", _package="mrg.grid")
    result = scheduler.Submit(TYPED_AD)
    assert isinstance(result, MethodResult)
    assert result.status == 0, result.text
    assert result.text == "OK"
    job_id = result.Id
    assert job_id.endswith(".0")
    jobs = session.getObjects(_class="job", _package="mrg.grid")
    (job,) = [j for j in jobs if j.CustomId == job_id]
    assert job.JobStatus in (1, 2)
    props = dict(job.getProperties())
    assert props["Cmd"] == "/bin/sleep" and props["Owner"] == "nobody"
    # the same job, selected on the agent side with a ClassAd expression
    (again,) = session.getObjects(_class="job", _where=f'CustomId == "{job_id}"')
    assert again.getObjectId() == f"mrg.grid:job:{job_id}"
    # methods with keyword arguments; failures come back in the result
    assert job.Hold(Reason="test").status == 0
    job.update()
    assert job.JobStatus == 5 and job.HoldReason == "test"
    bad = job.Hold("again")
    assert bad.status == JobStateError.code
    assert "held" in bad.text.lower()
    assert job.Remove("done").status == 0


def test_method_errors_and_argument_checks(session):
    (scheduler,) = session.getObjects(_class="scheduler")
    result = scheduler.Submit({"Cmd": "/bin/true"})
    assert result.status == ParameterInvalid.code
    assert "missing" in result.text
    with pytest.raises(AttributeError, match="the call failed"):
        result.Id  # noqa: B018
    with pytest.raises(TypeError, match="takes at most"):
        scheduler.Submit(TYPED_AD, 1, "extra", "more")
    with pytest.raises(TypeError, match="given twice"):
        scheduler.Submit(TYPED_AD, Ad=TYPED_AD)
    with pytest.raises(ParameterInvalid):
        session.call(scheduler.getObjectId(), "Submit", {"Ad": {"Cmd": "/bin/true"}})


def test_unknown_object_gives_nothing(session):
    assert session.getObjects(_objectId="mrg.grid:job:99999.0") == []
    with pytest.raises(ValueError, match="needs _class"):
        session.getObjects()


def test_projection_and_limit(session):
    (scheduler,) = session.getObjects(_class="scheduler")
    assert scheduler.Submit(TYPED_AD, 2).status == 0
    jobs = session.getObjects(_class="job", _projection=["JobStatus"], _limit=1)
    assert len(jobs) == 1
    assert "JobStatus" in jobs[0].values()
    assert "Cmd" not in jobs[0].values()


def test_schema_browsing(session):
    assert "mrg.grid" in session.getPackages()
    classes = {k.class_name for k in session.getClasses("mrg.grid")}
    assert {"scheduler", "job", "slot", "master"} <= classes
    job = session.getSchema("job")
    assert job.method("hold") is not None
    assert "JobStatus" in job.statistic_names()
    assert job.in_arguments("SetAttribute") == ["Name", "Value"]
    with pytest.raises(QmfError):
        session.getSchema("nosuchclass")


class Recorder(Handler):
    def __init__(self) -> None:
        self.items: queue.Queue[tuple[str, object]] = queue.Queue()

    def newAgent(self, agent: Agent) -> None:
        self.items.put(("new", agent))

    def delAgent(self, agent: Agent) -> None:
        self.items.put(("lost", agent))

    def heartbeat(self, agent: Agent, timestamp: int) -> None:
        self.items.put(("heartbeat", agent))

    def event(self, event: Event) -> None:
        self.items.put(("event", event))

    def objectProps(self, obj) -> None:
        self.items.put(("object", obj))

    def wait_for(self, kind: str, timeout: float = 10.0, check=lambda x: True):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got_kind, value = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if got_kind == kind and check(value):
                return value
        raise AssertionError(f"no {kind} callback within {timeout}s")


def test_handler_gets_heartbeats_events_and_object_updates(agent):
    rec = Recorder()
    with Session(agent.url, handler=rec) as s:
        assert rec.wait_for("heartbeat").name.endswith(f"test{agent.port}")
        (scheduler,) = s.getObjects(_class="scheduler")
        job_id = scheduler.Submit(TYPED_AD).Id
        ev = rec.wait_for("event", check=lambda e: e.name == "JobSubmitted" and e.Id == job_id)
        assert ev.Owner == "nobody" and ev.agent.endswith(f"test{agent.port}")
        obj = rec.wait_for("object", check=lambda o: o.getClassKey().class_name == "job" and o.key == job_id)
        assert obj.JobStatus in (1, 2)
        s.call(f"mrg.grid:job:{job_id}", "Remove", {"Reason": "test over"})


def test_lost_agent_after_two_missed_heartbeats(tmp_path):
    other = AgentProcess(tmp_path / "other").start()
    rec = Recorder()
    try:
        with Session(other.url, handler=rec) as s:
            s.getAgents()
            assert rec.wait_for("new").name.endswith(f"test{other.port}")
            rec.wait_for("heartbeat")
            other.stop()
            lost = rec.wait_for("lost", timeout=15)
            assert lost.name.endswith(f"test{other.port}")
    finally:
        other.stop()


def test_closed_session_refuses_requests(agent):
    s = Session(agent.url)
    s.close()
    s.close()  # idempotent
    with pytest.raises(QmfError, match="closed"):
        s.getObjects(_class="job")


def test_nothing_listening_is_a_connection_error():
    from console_agent_process import free_port

    with pytest.raises(ConnectionError):
        Session(f"amqp://127.0.0.1:{free_port()}", timeout=2)


def test_one_session_many_threads(session):
    """The threading contract: concurrent calls get their own answers."""
    from concurrent.futures import ThreadPoolExecutor

    (scheduler,) = session.getObjects(_class="scheduler")

    def echo(i: int) -> tuple[int, str]:
        result = scheduler.echo(i, f"body-{i}")
        assert result.status == 0, result.text
        return result.sequence, result.body

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(echo, range(64)))
    assert answers == [(i, f"body-{i}") for i in range(64)]


def test_where_as_qmf_predicate_or_classad_expression(session):
    (scheduler,) = session.getObjects(_class="scheduler")
    job_id = scheduler.Submit(dict(TYPED_AD, Args={"TYPE": "STRING", "VALUE": "41"})).Id
    by_predicate = session.getObjects(_class="job", _where=["eq", "CustomId", ["quote", job_id]])
    by_expression = session.getObjects(_class="job", _where=f'CustomId == "{job_id}" && Args == "41"')
    assert [j.key for j in by_predicate] == [j.key for j in by_expression] == [job_id]
    assert session.getObjects(_class="job", _where=["eq", "CustomId", ["quote", "no.such"]]) == []
    with pytest.raises(QmfError):
        session.getObjects(_class="job", _where="CustomId ==")
    session.call(f"mrg.grid:job:{job_id}", "Remove", {"Reason": "done"})
