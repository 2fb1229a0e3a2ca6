"""Request ids on every state-changing call, and a Submit whose answer is
lost queued exactly once (retried with the same id), against a real agent
behind a proxy that really drops the answer -- and an agent really
SIGKILLed and restarted while the console waits."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from console_agent_process import AgentProcess
from lossy_proxy import LossyProxy

import console as htcondor
from console import Session, classad
from console._connection import forget_sessions
from console._schedd import complete_job_ad
from console.session import SUBMIT_ATTEMPTS
from qmf_agent.errors import RequestTimeout


@pytest.fixture
def proxy(agent):
    p = LossyProxy(agent.port)
    yield p
    forget_sessions()   # the shared session to the proxy's URL goes with it
    p.close()


def held_ad(marker: str) -> classad.ClassAd:
    """A job that stays in the queue (held), findable by *marker*; released,
    it still stays (a /bin/true finished at once on Slurm and left the queue
    before the next call on it, which then failed: seen once)."""
    return classad.ClassAd({"Cmd": "/bin/sleep", "Arguments": "600", "JobStatus": 5, "Iwd": "/tmp",
                            "Marker": marker})


def jobs_marked(url: str, marker: str) -> Counter[tuple[int, int]]:
    """How many times each (cluster, proc) with *marker* is in the queue (direct, not via the proxy)."""
    ads = htcondor.Schedd(url).query(f'Marker == "{marker}"', ["ClusterId", "ProcId"])
    return Counter((int(a["ClusterId"]), int(a["ProcId"])) for a in ads)


def test_every_state_changing_call_carries_a_fresh_request_id(agent, proxy):
    schedd = htcondor.Schedd(proxy.url)
    marker = str(uuid.uuid4())
    sent: list[list[str]] = []

    def new_ids(action):
        before = len(proxy.request_ids())
        action()
        sent.append(proxy.request_ids()[before:])

    box: list[int] = []
    new_ids(lambda: box.append(schedd.submit(held_ad(marker), count=2)))
    cluster = box[0]
    new_ids(lambda: schedd.act(htcondor.JobAction.Release, [f"{cluster}.0"]))
    new_ids(lambda: schedd.act(htcondor.JobAction.Hold, f"ClusterId == {cluster}"))
    new_ids(lambda: schedd.edit(f"{cluster}.1", "Foo", "1"))
    scheduler = schedd._target()
    new_ids(lambda: scheduler.SetJobAttribute(f"{cluster}.0", "Foo", "2"))
    new_ids(lambda: scheduler.ReleaseJob(f"{cluster}.1"))
    new_ids(lambda: schedd.act(htcondor.JobAction.Remove, cluster))
    assert all(len(ids) == 1 for ids in sent), sent   # one id per call, none re-sent
    flat = [ids[0] for ids in sent]
    assert len(set(flat)) == len(flat), f"a request id was reused: {flat}"
    assert not jobs_marked(agent.url, marker)


def test_a_submit_whose_answer_is_lost_is_sent_again_and_queued_once(agent, proxy):
    schedd = htcondor.Schedd(proxy.url)
    marker = str(uuid.uuid4())
    before = len(proxy.request_ids())
    proxy.lose_answers(1)
    cluster = schedd.submit(held_ad(marker), count=5)
    assert proxy.lost == 1
    first, again = proxy.request_ids()[before:]
    assert first == again   # the retry is the same request, so the agent recognised it
    assert jobs_marked(agent.url, marker) == Counter({(cluster, p): 1 for p in range(5)})
    schedd.act(htcondor.JobAction.Remove, cluster)


def test_a_submit_that_never_gets_an_answer_gives_up_and_still_queued_once(agent, proxy):
    schedd = htcondor.Schedd(proxy.url)
    marker = str(uuid.uuid4())
    before = len(proxy.request_ids())
    proxy.lose_answers(SUBMIT_ATTEMPTS + 5)
    with pytest.raises(RequestTimeout, match=f"sent {SUBMIT_ATTEMPTS} times as request console-"):
        schedd.submit(held_ad(marker), count=3)
    ids = proxy.request_ids()[before:]
    assert len(ids) == SUBMIT_ATTEMPTS and len(set(ids)) == 1
    queued = jobs_marked(agent.url, marker)
    assert sorted(queued.values()) == [1, 1, 1]
    assert len({c for c, _ in queued}) == 1
    htcondor.Schedd(agent.url).act(htcondor.JobAction.Remove, f'Marker == "{marker}"')


def test_an_act_whose_answer_is_lost_is_not_sent_again(agent, proxy):
    schedd = htcondor.Schedd(proxy.url)
    marker = str(uuid.uuid4())
    idle = held_ad(marker)
    idle.update({"JobStatus": 1, "Requirements": classad.ExprTree("false")})   # idle, never runs
    cluster = schedd.submit(idle)
    before = len(proxy.request_ids())
    proxy.lose_answers(1)
    with pytest.raises(RequestTimeout):
        schedd.act(htcondor.JobAction.Hold, [f"{cluster}.0"])
    assert len(proxy.request_ids()[before:]) == 1
    # the agent did it once; asking again says so instead of doing it twice
    again = schedd.act(htcondor.JobAction.Hold, [f"{cluster}.0"])
    assert again["TotalAlreadyDone"] == 1 and again["TotalSuccess"] == 0
    schedd.act(htcondor.JobAction.Remove, cluster)


def test_agent_sigkilled_and_restarted_after_committing_a_submit(tmp_path):
    victim = AgentProcess(tmp_path / "agent").start()
    proxy = LossyProxy(victim.port)
    marker = str(uuid.uuid4())

    def kill_and_restart() -> None:
        assert victim.proc is not None
        victim.proc.kill()
        victim.proc.wait(timeout=30)
        victim.start(timeout=60)

    try:
        with Session(proxy.url, timeout=60) as session:
            (scheduler,) = session.getObjects(_class="scheduler")
            before = len(proxy.request_ids())
            proxy.lose_answers(1, then=kill_and_restart)
            result = scheduler.Submit(complete_job_ad(held_ad(marker)), 4)
            assert result.status == 0, result.text
            assert victim.proc is not None and proxy.lost == 1
            cluster = int(result.Id.split(".")[0])
            assert result.Ids == [f"{cluster}.{p}" for p in range(4)]
            first, again = proxy.request_ids()[before:]
            assert first == again
        queued = jobs_marked(victim.url, marker)
        assert queued == Counter({(cluster, p): 1 for p in range(4)}), queued
    finally:
        forget_sessions()
        proxy.close()
        victim.stop()
