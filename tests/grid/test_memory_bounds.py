"""What the scheduler keeps in memory stays bounded when jobs come and go
(issue #8: the agent's RSS grew ~4 MiB/min in the soak, which submits,
queries, holds, releases and removes jobs round after round).

These tests count structures after N submit/query/remove cycles; they never
time anything (the soak's curve is bench/soak_bench.py's business).
"""

from __future__ import annotations

import gc

import pytest
from jobpath_helpers import ROOT, JobPath, job_ad

from qmf_agent.grid import jobs
from qmf_agent.grid.jobs import Cluster, JobStatus


@pytest.fixture
def jp(tmp_path):
    path = JobPath(str(tmp_path / "state"))
    yield path
    path.stop()


def _cycle(jp: JobPath, iwd: str, n: int) -> list[str]:
    """The soak's round: *n* held jobs submitted, each queried by a
    constraint (which builds its cluster ad), released and held again;
    then every job removed."""
    submitted = []
    for _ in range(n):
        ids, _ = jp.schedd.submit(dict(job_ad(iwd), JobStatus=JobStatus.HELD, Requirements=False), 1, ROOT)
        cid = ids[0].split(".")[0]
        found = jp.schedd.query(f"ClusterId == {cid}", ["JobStatus"])
        assert len(found) == 1
        assert jp.schedd.act("release", ROOT, ids=ids)["TotalSuccess"] == 1
        assert jp.schedd.act("hold", ROOT, ids=ids)["TotalSuccess"] == 1
        submitted += ids
    assert jp.schedd.act("remove", ROOT, constraint="true", reason="cycle done")["TotalSuccess"] == n
    with jp.sink.lock:      # the test's sink records everything; the agent's publishes and forgets
        jp.sink.events.clear()
        jp.sink.changes.clear()
        jp.sink.deletions.clear()
    return submitted


def _live_clusters() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Cluster))


def test_removed_clusters_leave_the_ad_cache_and_memory(jp, tmp_path):
    before = _live_clusters()
    for _ in range(6):
        _cycle(jp, str(tmp_path), 50)
    assert jp.schedd.clusters == {}
    # 300 clusters had a parsed ad; none of them is kept alive by the cache
    assert jobs.cached_ads() == 0
    assert len(jobs._recent) <= 50     # dead entries are purged at the next build
    assert _live_clusters() <= before


def test_ad_cache_keeps_at_most_its_size_of_queued_clusters(jp, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "AD_CACHE_SIZE", 8)
    for _ in range(20):
        ids, _ = jp.schedd.submit(dict(job_ad(str(tmp_path)), JobStatus=JobStatus.HELD), 1, ROOT)
        assert len(jp.schedd.query(f"ClusterId == {ids[0].split('.')[0]}")) == 1
    assert len(jp.schedd.clusters) == 20
    assert jobs.cached_ads() == 8
    with_ad = [c for c in jp.schedd.clusters.values() if c._ad is not None]
    assert sorted(c.id for c in with_ad) == list(range(13, 21))   # the most recent ones
    # an evicted cluster builds its ad again, correctly, when asked
    assert jp.schedd.query("ClusterId == 1", ["ClusterId"])[0]["ClusterId"] == 1
    assert jobs.cached_ads() == 8


def test_a_dead_clusters_entry_does_not_evict_a_live_one_with_its_id(tmp_path):
    """``id()`` values are reused: the purge must not drop a new cluster's
    entry because an old one with the same id died."""
    old = Cluster(1, {"Cmd": "/bin/true"})
    old.ad()
    key = id(old)
    del old
    gc.collect()
    new = Cluster(2, {"Cmd": "/bin/false"})
    new.ad()
    jobs._dead.append(key)             # as if the old one's death were purged only now
    assert jobs.cached_ads() >= 1
    assert jobs._recent[id(new)]() is new
