#!/usr/bin/env python3
"""The long fuzzing run (issue #8): the CI fuzz tests, many more cases.

Runs, round after round until ``--minutes`` are used up, each with a fresh
hypothesis seed:

* the ClassAd parser's fuzz tests (tests/classad/test_props_fuzz.py: the
  new, old and JSON syntaxes and Auto);
* the submit-description parser's (tests/console/test_fuzz_submit.py);
* the protocol decoder through the real transport
  (tests/reliability/test_fuzz_wire.py: raw proton messages to an agent);

with ``QMF_FUZZ_CASES`` (cases per round of the last two; default 5,000).
Target: zero untyped exceptions -- any failing round is reported with the
seed that replays it (``pytest --hypothesis-seed=SEED ...``).
``--json`` prints one JSON object (for bench/run_all.py).

    python3 bench/fuzz_long.py [--minutes 30] [--cases 5000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGETS = {
    "classad parser": ["tests/classad/test_props_fuzz.py"],
    "submit description": ["tests/console/test_fuzz_submit.py"],
    "protocol decoder (wire)": ["-m", "reliability", "tests/reliability/test_fuzz_wire.py"],
}


def one_round(name: str, args: list[str], seed: int, cases: int) -> dict[str, Any]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}", *args],
        cwd=REPO, capture_output=True, text=True, check=False,
        env={**os.environ, "QMF_FUZZ_CASES": str(cases), "PYTHONPATH": str(REPO)})
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    passed = re.search(r"(\d+) passed", tail)
    return {"target": name, "seed": seed, "ok": done.returncode == 0, "summary": tail,
            "tests_passed": int(passed.group(1)) if passed else 0,
            "seconds": round(time.monotonic() - began, 1),
            "output": "" if done.returncode == 0 else done.stdout[-3000:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--cases", type=int, default=5000, help="cases per round (submit and wire fuzz)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.minutes <= 0 or args.cases < 1:
        ap.error("--minutes and --cases must be positive")
    rounds: list[dict[str, Any]] = []
    deadline = time.monotonic() + args.minutes * 60
    rng = random.Random()
    while time.monotonic() < deadline or not rounds:
        for name, targs in TARGETS.items():
            result = one_round(name, targs, rng.randrange(1 << 31), args.cases)
            rounds.append(result)
            if not args.json:
                state = "ok  " if result["ok"] else "FAIL"
                print(f"{state} {name:26s} seed {result['seed']:10d} {result['seconds']:7.1f} s  {result['summary']}",
                      flush=True)
                if not result["ok"]:
                    print(result["output"])
            if time.monotonic() >= deadline:
                break
    failed = [r for r in rounds if not r["ok"]]
    if args.json:
        json.dump({"minutes": args.minutes, "cases_per_round": args.cases, "rounds": len(rounds),
                   "failed": len(failed), "results": rounds}, sys.stdout, indent=1)
        print()
    else:
        print(f"{len(rounds)} rounds, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
