"""Collector figures, each against an anchor measured in the same run.

* advertise N slot ads in one call, vs building the same ads (the anchor:
  what the caller must do anyway);
* a constraint query over the N ads, vs evaluating the same compiled
  constraint over the same ads in a bare loop (the anchor: the ClassAd
  library's own speed; the ratio is the collector's overhead);
* a projected query (3 attributes) of the N ads.

Run: ``python3 bench/collector_bench.py [--ads N]``.  Prints a table; no
assertions (figures are not tests).
"""

from __future__ import annotations

import argparse

from _common import NullSink, timed

import classad
from qmf_agent.binding import Caller
from qmf_agent.grid.collector import Collector
from qmf_agent.grid.config import Config
from qmf_agent.grid.daemon import AgentAddress

CONSTRAINT = 'Memory >= 2048 && State == "Unclaimed" && Arch == "X86_64"'


def _slot_ads(count: int) -> list[classad.ClassAd]:
    ads = []
    for i in range(count):
        ad = classad.ClassAd({
            "MyType": "Machine", "Name": f"slot1@node{i:05d}", "Machine": f"node{i:05d}",
            "Arch": "X86_64", "OpSys": "LINUX", "Cpus": 1, "Memory": 1024 * (1 + i % 4),
            "Disk": 10_000_000, "State": "Unclaimed" if i % 3 else "Claimed", "Activity": "Idle",
        })
        ad["Requirements"] = classad.ExprTree("START")
        ad["Start"] = classad.ExprTree("TRUE")
        ads.append(ad)
    return ads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=10_000)
    count = parser.parse_args().ads

    collector = Collector(Config.from_text("CLASSAD_LIFETIME = 3600\n"), NullSink(),
                          AgentAddress("amqp://127.0.0.1:5672", "redhat.com:qmf-grid:bench"))
    collector.start()
    t_build, ads = timed(lambda: _slot_ads(count))
    t_adv, stored = timed(lambda: collector.advertise(ads, "UPDATE_STARTD_AD", Caller("bench")))
    assert stored == count

    expr = classad.ExprTree(CONSTRAINT)
    t_bare, bare = timed(lambda: [ad for ad in ads if expr.eval(scope=ad) is True])
    t_query, found = timed(lambda: collector.query("Startd", CONSTRAINT))
    assert len(found) == len(bare)
    t_proj, projected = timed(lambda: collector.query("Startd", "true", ["Name", "Memory", "State"]))
    assert len(projected) == count
    collector.stop()

    rows = [
        ("build N slot ads (anchor)", t_build, count / t_build, 1.0),
        ("advertise N ads, one call", t_adv, count / t_adv, t_adv / t_build),
        ("bare constraint loop (anchor)", t_bare, count / t_bare, 1.0),
        ("query with constraint", t_query, count / t_query, t_query / t_bare),
        ("query, 3-attribute projection", t_proj, count / t_proj, t_proj / t_bare),
    ]
    print(f"collector, N = {count} slot ads ({len(bare)} match {CONSTRAINT!r})")
    print(f"{'operation':34} {'seconds':>9} {'ads/s':>10} {'x anchor':>9}")
    for name, seconds, rate, ratio in rows:
        print(f"{name:34} {seconds:9.3f} {rate:10.0f} {ratio:9.2f}")


if __name__ == "__main__":
    main()
