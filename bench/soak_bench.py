#!/usr/bin/env python3
"""Soak benchmark (issue #8): the agent's memory over a long run under load.

One ``qmf-agent`` process (direct listener, local backend) serves rounds of
the load bench's mixed calls (C consoles, default 10, 40 calls each: Submit,
Query, Release, Hold); after each round the round's jobs are removed, so
the queue does not grow and a rising RSS would be a leak, not data.  The
agent's resident set size (VmRSS) is sampled every ``--every`` seconds.

Reported: RSS idle after start (the anchor), at the first sample under load,
at the end, the maximum, the growth per minute over the second half of the
run (where warm-up is over), calls made and errors (target: zero).
``--json`` prints one JSON object (for bench/run_all.py).

``--trace DIR`` (a debugging aid; its figures are not comparable, tracing
slows the agent several times): the agent runs under ``tracemalloc`` (25
frames), a snapshot is dumped into DIR at every RSS sample, and the report
ends with the allocation sites whose live memory grew most between the
first sample under load and the last (what issue #8's hunt used).

    python3 bench/soak_bench.py [--minutes 10] [--consoles 10] [--every 10] [--json]
                                [--trace DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import stat
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_bench  # noqa: E402
from load_bench import AgentProcess, drive  # noqa: E402  (also puts the checkout on sys.path)

from console import Session  # noqa: E402

#: the agent's interpreter under --trace: tracemalloc from the start, and a
#: snapshot into $QMF_SOAK_TRACE_DIR on each SIGUSR1; then ``-m qmf_agent``.
_TRACER = """#!{python}
import gc, os, runpy, signal, sys, tracemalloc
tracemalloc.start(25)
_n = [0]
def _dump(signum, frame):
    gc.collect()
    tracemalloc.take_snapshot().dump(os.path.join(os.environ["QMF_SOAK_TRACE_DIR"], f"snap{{_n[0]:04d}}.pkl"))
    _n[0] += 1
signal.signal(signal.SIGUSR1, _dump)
assert sys.argv[1:3] == ["-m", "qmf_agent"], sys.argv
sys.argv = [sys.argv[0], *sys.argv[3:]]
runpy.run_module("qmf_agent", run_name="__main__", alter_sys=True)
"""


@contextlib.contextmanager
def _traced_interpreter(trace_dir: Path) -> Iterator[None]:
    """While starting the agent, ``sys.executable`` is a tracing wrapper
    (AgentProcess runs ``sys.executable -m qmf_agent``); debugging only."""
    trace_dir.mkdir(parents=True, exist_ok=True)
    wrapper = trace_dir / "traced-python"
    wrapper.write_text(_TRACER.format(python=sys.executable))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    real = sys.executable
    os.environ["QMF_SOAK_TRACE_DIR"] = str(trace_dir)
    sys.executable = str(wrapper)
    try:
        yield
    finally:
        sys.executable = real


def _snapshot(agent: AgentProcess, trace_dir: Path, n: int) -> None:
    """Ask the traced agent for snapshot *n* and wait until it is written."""
    assert agent.proc is not None
    path = trace_dir / f"snap{n:04d}.pkl"
    agent.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 120
    size = -1
    while time.monotonic() < deadline:       # written when its size stops changing
        now = path.stat().st_size if path.exists() else -1
        if now > 0 and now == size:
            return
        size = now
        time.sleep(0.5)
    raise RuntimeError(f"the traced agent wrote no {path.name} within 120 s")


def growth_sites(first: Path, last: Path, top: int = 15) -> list[str]:
    """The allocation sites (innermost frame in this checkout) whose live
    memory grew most from snapshot *first* to *last*."""
    repo = str(load_bench.REPO)

    def by_site(path: Path) -> dict[str, tuple[int, int]]:
        sites: dict[str, tuple[int, int]] = {}
        for trace in tracemalloc.Snapshot.load(str(path)).traces:
            frame = next((f for f in reversed(trace.traceback) if f.filename.startswith(repo)),
                         trace.traceback[-1])
            where = f"{os.path.relpath(frame.filename, repo)}:{frame.lineno}"
            size, count = sites.get(where, (0, 0))
            sites[where] = (size + trace.size, count + 1)
        return sites

    before, after = by_site(first), by_site(last)
    grown = sorted(((after[k][0] - before.get(k, (0, 0))[0], after[k][1] - before.get(k, (0, 0))[1], k)
                    for k in after), reverse=True)[:top]
    return [f"{size / 1024:9.1f} KiB {count:+8d} blocks  {where}" for size, count, where in grown]


def soak(minutes: float, consoles: int, every: float, verbose: bool,
         trace_dir: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qmf-soak-") as tmp:
        agent = AgentProcess("local", None, Path(tmp) / "state")
        if trace_dir is None:
            agent.start()
        else:
            with _traced_interpreter(trace_dir):
                agent.start(timeout=180)
        snapshots = 0
        try:
            time.sleep(1.0)
            idle = agent.rss_kib()
            samples: list[tuple[float, int]] = []
            calls = errors = rounds = 0
            first_errors: list[str] = []
            began = time.monotonic()
            next_sample = began
            with Session(agent.url, timeout=120) as admin:
                while time.monotonic() - began < minutes * 60:
                    result = drive(agent, consoles, 40)
                    calls += result.calls
                    errors += len(result.errors)
                    first_errors.extend(result.errors[: 5 - len(first_errors)])
                    rounds += 1
                    admin.call(agent.scheduler, "Act", {"Action": "Remove", "Constraint": "true",
                                                         "Reason": "soak round done"}, agent=agent.agent)
                    now = time.monotonic()
                    if now >= next_sample:
                        samples.append((now - began, agent.rss_kib()))
                        if trace_dir is not None:
                            _snapshot(agent, trace_dir, snapshots)
                            snapshots += 1
                        next_sample = now + every
                        if verbose:
                            t, rss = samples[-1]
                            print(f"  {t:7.0f} s  RSS {rss / 1024:7.1f} MiB  calls {calls:8d}  errors {errors}",
                                  flush=True)
            samples.append((time.monotonic() - began, agent.rss_kib()))
        finally:
            agent.stop()
    half = [s for s in samples if s[0] >= samples[-1][0] / 2] or samples
    growth = 0.0
    if len(half) >= 2 and half[-1][0] > half[0][0]:
        growth = (half[-1][1] - half[0][1]) / 1024 / ((half[-1][0] - half[0][0]) / 60)
    return {
        "minutes": minutes, "consoles": consoles, "rounds": rounds, "calls": calls, "errors": errors,
        "first_errors": first_errors,
        "rss_idle_mib": round(idle / 1024, 1),
        "rss_first_mib": round(samples[0][1] / 1024, 1),
        "rss_end_mib": round(samples[-1][1] / 1024, 1),
        "rss_max_mib": round(max(r for _, r in samples) / 1024, 1),
        "growth_mib_per_min_second_half": round(growth, 2),
        "samples": [(round(t, 1), round(r / 1024, 1)) for t, r in samples],
        "growth_sites": (growth_sites(trace_dir / "snap0000.pkl", trace_dir / f"snap{snapshots - 1:04d}.pkl")
                         if trace_dir is not None and snapshots >= 2 else []),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--consoles", type=int, default=10)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--trace", type=Path, metavar="DIR",
                    help="run the agent under tracemalloc, snapshots into DIR (debugging; slow)")
    args = ap.parse_args()
    if args.minutes <= 0 or args.consoles < 1 or args.every <= 0:
        ap.error("--minutes, --consoles and --every must be positive")
    out = soak(args.minutes, args.consoles, args.every, verbose=not args.json, trace_dir=args.trace)
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        print()
    else:
        print(f"soak {out['minutes']} min, {out['consoles']} consoles: {out['calls']} calls, {out['errors']} errors;"
              f" agent RSS idle {out['rss_idle_mib']} MiB, first {out['rss_first_mib']}, end {out['rss_end_mib']},"
              f" max {out['rss_max_mib']} MiB; growth over the second half"
              f" {out['growth_mib_per_min_second_half']} MiB/min")
        for err in out["first_errors"]:
            print("  error:", err)
        if out["growth_sites"]:
            print("live Python memory grown most, first sample under load -> last (tracemalloc):")
            for line in out["growth_sites"]:
                print("  " + line)
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
