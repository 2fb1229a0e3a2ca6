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

    python3 bench/soak_bench.py [--minutes 10] [--consoles 10] [--every 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_bench import AgentProcess, drive  # noqa: E402  (also puts the checkout on sys.path)

from console import Session  # noqa: E402


def soak(minutes: float, consoles: int, every: float, verbose: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qmf-soak-") as tmp:
        agent = AgentProcess("local", None, Path(tmp) / "state").start()
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
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--consoles", type=int, default=10)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.minutes <= 0 or args.consoles < 1 or args.every <= 0:
        ap.error("--minutes, --consoles and --every must be positive")
    out = soak(args.minutes, args.consoles, args.every, verbose=not args.json)
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
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
