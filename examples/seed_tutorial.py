#!/usr/bin/env python3
"""Every interaction of the 2013 HTCondor Python tutorial, against qmf-grid.

The tutorial's code with only its imports changed (``import console as
htcondor``, ``from console import classad``); the steps print what the
tutorial's terminal showed.  Run it next to an agent::

    python3 examples/seed_tutorial.py --url amqp://127.0.0.1:5672

It submits a few short jobs (``/bin/sh -c 'echo Hello world'``) into the
current directory, holds, edits, spools and removes them, and sends the
agent a Reconfig.  Exit status 0 when every step behaved as the tutorial
shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import console as htcondor
from console import classad


def step(title: str) -> None:
    print(f"\n== {title}")


def wait_for(schedd: htcondor.Schedd, cluster: int, states: set[int], timeout: float = 60.0) -> int:
    """Poll until the job's JobStatus is one of *states* (in queue or history)."""
    deadline = time.monotonic() + timeout
    while True:
        ads = schedd.query(f"ClusterId == {cluster}", ["JobStatus"]) or schedd.history(
            f"ClusterId == {cluster}", ["JobStatus"], 1)
        status = ads[0].eval("JobStatus") if ads else None
        if status in states:
            return int(status)
        if time.monotonic() > deadline:
            raise SystemExit(f"job {cluster}.0 stayed in status {status} for {timeout:g}s")
        time.sleep(0.2)


def classads() -> None:
    step("ClassAds")
    a = classad.ClassAd({"Hello": "World"})
    print(repr(a))
    a["foo"] = "bar"
    a["bar"] = [1, 2, 3]
    a["baz"] = classad.ExprTree("bar")
    print(repr(a))
    print(a["baz"])
    print(a.eval("baz"))
    b = classad.ClassAd()
    b["foo"] = classad.ExprTree("bar")
    print(b["foo"])
    print(repr(b.eval("foo")))
    try:
        b.eval("bar")
    except KeyError as e:
        print("KeyError:", e)
    print(repr(classad.ClassAd({"foo": {"bar": True}})))
    print(classad.version(), htcondor.version())


def collector(url: str) -> classad.ClassAd:
    step("Collector")
    coll = htcondor.Collector(url)
    schedd_ad = coll.locate(htcondor.DaemonTypes.Schedd)
    print("MyAddress:", schedd_ad["MyAddress"])
    for ad in coll.locateAll(htcondor.DaemonTypes.Schedd):
        print("schedd:", ad["Name"])
    ad = classad.ClassAd({"MyType": "Demo", "foo": 1})
    coll.advertise([ad])
    print("demo ads without a Name:", len(coll.query(htcondor.AdTypes.Any, 'MyType =?= "Demo"')))
    ad = classad.ClassAd({"MyType": "Demo", "foo": 1, "Name": "DemoAd"})
    coll.advertise([ad])
    found = coll.query(htcondor.AdTypes.Any, 'MyType =?= "Demo"')
    print("demo ads:", len(found), "foo =", found[0]["foo"])
    slots = coll.query(htcondor.AdTypes.Startd, "true", ["MyAddress", "Name", "Cpus", "Memory"])
    print("startd ads:", len(slots), "first has Cpus:", "Cpus" in slots[0])
    return schedd_ad


def schedd_basics(schedd: htcondor.Schedd) -> int:
    step("Schedd basics")
    jobs = schedd.query()
    print("jobs in queue before:", len(jobs))
    cluster = schedd.submit(classad.ClassAd({
        "Cmd": "/bin/sh", "Arguments": "-c 'echo Hello world && sleep 1'",
        "Out": "test.out", "Err": "test.err"}))
    print("cluster:", cluster)
    ads = schedd.query(f"ClusterID =?= {cluster}")
    print("queried cluster:", ads[0]["ClusterId"], "Cmd:", ads[0]["Cmd"])
    wait_for(schedd, cluster, {4})
    with open("test.out") as f:
        print("test.out:", repr(f.read()))
    return cluster


def schedd_advanced(schedd: htcondor.Schedd) -> None:
    step("Schedd advanced")
    cluster = schedd.submit(classad.ClassAd({
        "Cmd": "/bin/sleep", "Args": "60"}))
    print("edit:", schedd.edit(f"ClusterId =?= {cluster}", "foo", '"bar"'))
    print("foo =", schedd.query(f"ClusterId == {cluster}", ["ClusterId", "foo"])[0]["foo"])
    schedd.edit(f"ClusterId =?= {cluster}", "foo", "42")
    print("foo =", schedd.query(f"ClusterId == {cluster}", ["ClusterId", "foo"])[0]["foo"])
    totals = schedd.act(htcondor.JobAction.Hold, [f"{cluster}.0"])
    print("hold:", "TotalSuccess =", totals["TotalSuccess"], "TotalJobAds =", totals["TotalJobAds"])
    totals = schedd.act(htcondor.JobAction.Hold, [f"{cluster}.0"])
    print("hold again:", "TotalAlreadyDone =", totals["TotalAlreadyDone"])
    totals = schedd.act(htcondor.JobAction.Remove, [f"{cluster}.0"])
    print("remove:", "TotalSuccess =", totals["TotalSuccess"])
    schedd.reschedule()
    print("reschedule: ok")


def file_transfer(schedd: htcondor.Schedd) -> None:
    step("Schedd file transfer (spool)")
    ad_results: list[classad.ClassAd] = []
    cluster = schedd.submit(classad.ClassAd({
        "Cmd": "/bin/sh", "Arguments": "-c 'echo Hello spool'", "Out": "spool.out"}),
        1, True, ad_results)
    print("cluster:", cluster, "ad_results:", len(ad_results), "JobStatus:", ad_results[0]["JobStatus"])
    schedd.spool(ad_results)
    wait_for(schedd, cluster, {4})
    if os.path.exists("spool.out"):
        os.remove("spool.out")  # what retrieve() brings back must come over the bus
    schedd.retrieve(f"ClusterId =?= {cluster}")
    with open("spool.out") as f:
        print("retrieved spool.out:", repr(f.read()))
    totals = schedd.act(htcondor.JobAction.Remove, [f"{cluster}.0"])
    print("remove:", "TotalJobAds =", totals["TotalJobAds"])


def daemon_commands(url: str, schedd_ad: classad.ClassAd) -> None:
    step("Daemon commands, param, SecMan")
    htcondor.send_command(schedd_ad, htcondor.DaemonCommands.Reconfig)
    print("reconfig sent")
    os.environ["QMF_URL"] = url
    htcondor.reload_config()
    names = list(htcondor.param)
    print("param entries:", len(names) > 0)
    first = names[0]
    print("param lookup works:", htcondor.param[first] is not None)
    htcondor.SecMan().invalidateAllSessions()
    print("sessions invalidated; queue still answers:", isinstance(htcondor.Schedd(url).query(), list))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="agent URL (default: $QMF_URL or amqp://127.0.0.1:5672)")
    parser.add_argument("--workdir", default=None, help="where jobs write their output (default: a temp dir)")
    parser.add_argument("--skip-spool", action="store_true", help="leave out the file-transfer steps")
    args = parser.parse_args(argv)
    url = args.url or os.environ.get("QMF_URL") or "amqp://127.0.0.1:5672"
    workdir = args.workdir or tempfile.mkdtemp(prefix="qmf-tutorial-")
    os.chdir(workdir)  # jobs get Iwd = the current directory, as in the tutorial
    classads()
    schedd_ad = collector(url)
    schedd = htcondor.Schedd(url)
    schedd_basics(schedd)
    schedd_advanced(schedd)
    if not args.skip_spool:
        file_transfer(schedd)
    daemon_commands(url, schedd_ad)
    print("\ntutorial complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
