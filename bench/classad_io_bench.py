#!/usr/bin/env python3
"""Built-in functions, JSON and job-ad wire encodings: our figures next to
anchors measured in the same run.

Figures:
  1. built-in function calls, pre-parsed, through ``ExprTree.eval`` --
     against the same expressions in HTCondor's classad2 (when installed)
     and against evaluating the literal ``1`` (our floor: evaluator
     overhead with no function at all);
  2. JSON: ``print_json`` and reading back a 60-attribute job ad -- against
     the stdlib ``json.dumps``/``json.loads`` of a dict of the same data
     (the floor for any JSON text) and classad2's ``printJson``/``parseOne``;
  3. the wire: ``encode_job_ad``/``decode_job_ad`` of that ad in each
     encoding -- against copying the plain dict (``dict(...)``).

Usage: python bench/classad_io_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import classad  # noqa: E402
from classad._json import dump_ad, load_ads  # noqa: E402
from classad._wire import decode_job_ad, encode_job_ad  # noqa: E402

CALLS = [
    'strcat("/home/", "alice", "/job.", 42)',
    'substr("slot1@node17.example.org", 6)',
    'regexp("^node[0-9]+", "node17.example.org")',
    'stringListMember("vanilla", "vanilla, docker, local")',
    'versionGE("10.9.3", "10.10")',
    'split("a, b, c, d")',
    "splitTime(1700000000).Hours",
    'formatTime(1700000000, "%Y-%m-%d")',
    "sum({1, 2, 3, 4.5})",
    'member("x", {"a", "b", "x"})',
]


def _job_ad() -> classad.ClassAd:
    attrs = {
        "Cmd": '"/bin/sleep"', "Args": '"120"', "Iwd": '"/home/alice"', "Owner": '"alice"',
        "JobUniverse": "5", "ClusterId": "42", "ProcId": "7", "JobStatus": "1", "QDate": "1700000000",
        "Requirements": 'TARGET.Arch == "X86_64" && TARGET.OpSys == "LINUX" && TARGET.Memory >= RequestMemory',
        "Rank": "TARGET.Mips", "RequestMemory": "ifThenElse(MemoryUsage =!= undefined, MemoryUsage, 128)",
        "RequestCpus": "1", "RequestDisk": "DiskUsage", "DiskUsage": "1024", "ImageSize": "1000",
        "Environment": '"PATH=/bin:/usr/bin HOME=/home/alice"', "WantRemoteIO": "true",
        "PeriodicRemove": "JobStatus == 5 && time() - EnteredCurrentStatus > 86400",
        "EnteredCurrentStatus": "1700000100", "RemoteUserCpu": "0.0", "Rate": "0.25",
        "Tags": '{"a", "b", "c"}', "Sub": '[x = 1; y = "z"]', "GlobalJobId": '"sched#42.7#1700000000"',
    }
    for i in range(60 - len(attrs)):
        attrs[f"Extra{i}"] = f'"value number {i}"' if i % 2 else str(i * 1000)
    return classad.ClassAd("[" + "; ".join(f"{k} = {v}" for k, v in attrs.items()) + "]")


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of *fn*, timed in batches for at least *seconds*."""
    n, batch, start = 0, 1, time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed
        batch = min(batch * 2, 10000)


def _classad2() -> Any:
    """classad2 with HTCondor's configuration loaded (for the compat
    functions), or None when htcondor is not installed."""
    cfg = os.path.join(tempfile.mkdtemp(), "condor_config")
    with open(cfg, "w") as fh:
        fh.write("STRICT_CLASSAD_EVALUATION = false\n")
    os.environ["CONDOR_CONFIG"] = cfg
    try:
        import classad2
        import htcondor2  # noqa: F401 -- loads the compat functions
    except ImportError:
        return None
    return classad2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short timings")
    args = ap.parse_args()
    secs = 0.2 if args.quick else 1.0
    ref = _classad2()

    print("1. built-in calls, pre-parsed, evaluations per second")
    floor = classad.ExprTree("1")
    floor_rate = _rate(floor.eval, secs)
    print(f"   {'floor: 1':48} {floor_rate:12,.0f}")
    for text in CALLS:
        ours = classad.ExprTree(text)
        rate = _rate(ours.eval, secs)
        line = f"   {text:48} {rate:12,.0f}  {floor_rate / rate:5.1f}x floor"
        if ref is not None:
            theirs = ref.ExprTree(text)
            line += f"  {rate / _rate(theirs.eval, secs):5.2f}x classad2"
        print(line)

    ad = _job_ad()
    text = dump_ad(ad)
    plain = encode_job_ad(ad, "plain")
    plain_json = json.dumps(plain)
    print("\n2. JSON of a 60-attribute job ad, per second")
    dump_rate = _rate(lambda: dump_ad(ad), secs)
    load_rate = _rate(lambda: next(load_ads(text)), secs)
    dumps_rate = _rate(lambda: json.dumps(plain), secs)
    loads_rate = _rate(lambda: json.loads(plain_json), secs)
    print(f"   print_json {dump_rate:10,.0f}   stdlib json.dumps {dumps_rate:10,.0f}"
          f"   ratio {dump_rate / dumps_rate:5.2f}")
    print(f"   read       {load_rate:10,.0f}   stdlib json.loads {loads_rate:10,.0f}"
          f"   ratio {load_rate / loads_rate:5.2f}")
    if ref is not None:
        ref_ad = ref.ClassAd(repr(ad))
        ref_text = ref_ad.printJson()
        ref_dump = _rate(ref_ad.printJson, secs)
        ref_load = _rate(lambda: ref.parseOne(ref_text, ref.ParserType.JSON), secs)
        print(f"   classad2 printJson {ref_dump:10,.0f} (ours {dump_rate / ref_dump:5.2f}x),"
              f" parseOne JSON {ref_load:10,.0f} (ours {load_rate / ref_load:5.2f}x)")

    print("\n3. wire encodings of that ad, per second (anchor: dict(plain map))")
    copy_rate = _rate(lambda: dict(plain), secs)
    print(f"   anchor dict copy {copy_rate:12,.0f}")
    for enc in ("typed", "descriptor", "plain"):
        wire = encode_job_ad(ad, enc)
        enc_rate = _rate(lambda enc=enc: encode_job_ad(ad, enc), secs)
        dec_rate = _rate(lambda wire=wire: decode_job_ad(wire), secs)
        print(f"   {enc:10} encode {enc_rate:9,.0f} ({copy_rate / enc_rate:6.1f}x slower than the anchor)"
              f"   decode {dec_rate:9,.0f} ({copy_rate / dec_rate:6.1f}x)")


if __name__ == "__main__":
    main()
