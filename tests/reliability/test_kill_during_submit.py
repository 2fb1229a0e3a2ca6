"""SIGKILL of the agent at random moments during a 5,000-job submission.

The console side submits 250 clusters of 20 held jobs, each Submit with its
own request id.  A timer SIGKILLs the agent at a random moment, 20 times;
after each kill the agent is restarted on the same state directory and the
console retries the request that was in flight with the SAME request id.
After every restart the queue must hold every acknowledged job exactly once,
at most one unacknowledged cluster (the one in flight, committed just before
the kill), and the retry must be answered with that cluster's ids -- never
a second copy.  The seed is printed so a failure can be replayed
(``QMF_REL_SEED``).
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from pathlib import Path

import pytest
from reliability_agent import KillableAgent, call, held_job, job_ids, new_request_id

from qmf_agent.errors import RequestTimeout
from qmf_agent.transport import TransportError

pytestmark = pytest.mark.reliability

JOBS = 5000
PER_SUBMIT = 20
KILLS = 20
SUBMIT_TIMEOUT = 1.5
LIVE_RETRIES = 20


def queue_jobs(agent: KillableAgent) -> list[tuple[int, int]]:
    with agent.client(timeout=60.0) as client:
        return job_ids(call(client, "Query", Constraint="true", Projection=["ClusterId", "ProcId"]))


def check_queue(agent: KillableAgent, acked: dict[str, list[str]]) -> set[int]:
    """Assert the exactly-once invariant; return the unacknowledged clusters."""
    jobs = queue_jobs(agent)
    dupes = [job for job, n in Counter(jobs).items() if n > 1]
    assert not dupes, f"jobs queued twice: {dupes[:10]}"
    present = {f"{c}.{p}" for c, p in jobs}
    missing = [i for ids in acked.values() for i in ids if i not in present]
    assert not missing, f"{len(missing)} acknowledged jobs lost after a SIGKILL, e.g. {missing[:5]}"
    acked_clusters = {int(ids[0].split(".")[0]) for ids in acked.values()}
    extra = Counter(c for c, _ in jobs if c not in acked_clusters)
    assert len(extra) <= 1, f"more than the one in-flight cluster is unacknowledged: {dict(extra)}"
    assert all(n == PER_SUBMIT for n in extra.values()), f"a half-committed cluster: {dict(extra)}"
    return set(extra)


def test_sigkill_during_a_5000_job_submission_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("QMF_REL_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (QMF_REL_SEED replays it)")
    rng = random.Random(seed)
    agent = KillableAgent(tmp_path / "state", tmp_path, config="NUM_SLOTS = 1\n")
    requests = [new_request_id() for _ in range(JOBS // PER_SUBMIT)]
    acked: dict[str, list[str]] = {}
    nxt = 0
    kills = 0
    try:
        while True:
            agent.start()
            unacked = check_queue(agent, acked)
            killer = None
            if kills < KILLS:
                killer = threading.Timer(rng.uniform(0.0, 0.6), agent.kill)
            # the client does not fail a request when the connection drops (it
            # reconnects and waits for its timeout), so a short timeout bounds
            # each kill's cost; a live agent that is merely slow gets the same
            # request again, as a console retries
            with agent.client(timeout=SUBMIT_TIMEOUT) as client:
                if killer is not None:
                    killer.start()
                slow = 0
                while nxt < len(requests):
                    try:
                        out = call(client, "Submit", request_id=requests[nxt], Ad=held_job(), Count=PER_SUBMIT)
                    except (RequestTimeout, TransportError) as err:
                        assert agent.proc is not None
                        if agent.proc.poll() is not None:
                            break  # the agent died under us: retry after the restart
                        # a slow answer from a live agent: retry, same request id
                        slow += 1
                        assert slow <= LIVE_RETRIES, f"Submit failed {slow} times in a row: {err!r}\n{agent.log()}"
                        continue
                    slow = 0
                    ids = out["Ids"]
                    assert len(ids) == PER_SUBMIT
                    if unacked:
                        # the first answer after a restart may be a retry of a
                        # request committed before the kill: same cluster, not a new one
                        cluster = int(ids[0].split(".")[0])
                        assert {cluster} == unacked, f"the retry queued cluster {cluster} again ({unacked} was committed)"
                        unacked = set()
                    acked[requests[nxt]] = ids
                    nxt += 1
            if killer is None:
                break
            killer.join()
            agent.kill()  # the timer may fire after the last request: kill anyway
            kills += 1
        final = check_queue(agent, acked)
        assert not final
        assert len(queue_jobs(agent)) == JOBS
        assert agent.starts == KILLS + 1
    finally:
        agent.kill()
