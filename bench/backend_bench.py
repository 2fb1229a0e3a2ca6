#!/usr/bin/env python3
"""Backend benchmark (issue #7): submit rate and short-job throughput through
the agent with each backend, next to Slurm's own command-line tools measured
in the same run.

Figures (N = 500 jobs of /bin/true unless --jobs says otherwise):
  anchors, Slurm's own tools:
    A1. sequential ``sbatch --parsable --wrap=/bin/true``: submissions/s, and
        jobs/s from the first submit until all N have finished;
    A2. one ``sbatch --array=0-(N-1)``: jobs/s, submit to all finished;
  through the agent (the scheduler binding's Submit, as the agent dispatches a
  console's call; the same Grid the agent process builds):
    S1. Slurm backend, N single-job Submits: Submits/s (target >= 0.8 x A1's
        rate; measured interleaved with A1's sbatch calls, one each in turn,
        so that both see the same load on a shared machine), and jobs/s
        submit to all recorded finished (target within 10% of A1's);
    S2. Slurm backend, one Submit with Count = N (one array): jobs/s (vs A2);
    L1. local backend, one Submit with Count = N on this machine's slots:
        jobs/s submit to all finished (target >= 100).

Slurm starts about one batch job per free CPU per scheduler pass, so its
throughput depends on how many CPUs the node advertises: the output says.

Usage: python bench/backend_bench.py [--jobs N] [--skip-slurm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import NullSink

from qmf_agent.binding import Caller
from qmf_agent.grid import Config, Grid

ROOT = Caller("root", admin=True)
NAME = "bench"


def run(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True,
                          timeout=120).stdout


def slurm_active(ids: set[str]) -> int:
    """How many of *ids* (base job ids) are not finished yet: one squeue call."""
    out = run("squeue", "-h", "-t", "all", "-r", "-o", "%A|%F|%T")
    left = 0
    for line in out.split():
        job, array, state = line.split("|")
        if (job in ids or array in ids) and state in (
                "PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED"):
            left += 1
    return left


def wait_slurm(ids: set[str], timeout: float = 3600.0) -> None:
    deadline = time.monotonic() + timeout
    while slurm_active(ids):
        if time.monotonic() > deadline:
            raise RuntimeError("Slurm did not finish the jobs")
        time.sleep(0.05)


def anchor_sequential(n: int, workdir: str) -> tuple[float, float]:
    """A1: (submissions/s, jobs/s submit to all finished)."""
    t0 = time.perf_counter()
    ids = {run("sbatch", "--parsable", f"--chdir={workdir}", "--output=/dev/null",
               "--wrap=/bin/true").strip() for _ in range(n)}
    submitted = time.perf_counter() - t0
    wait_slurm(ids)
    return n / submitted, n / (time.perf_counter() - t0)


def anchor_array(n: int, workdir: str) -> float:
    """A2: jobs/s for one array of n tasks, submit to all finished."""
    t0 = time.perf_counter()
    job = run("sbatch", "--parsable", f"--chdir={workdir}", "--output=/dev/null",
              f"--array=0-{n - 1}", "--wrap=/bin/true").strip()
    wait_slurm({job})
    return n / (time.perf_counter() - t0)


def make_grid(root: Path, backend: str) -> Grid:
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "agent.conf"
    conf.write_text(f"SCHEDD_NAME = {NAME}\nSLURM_POLL_INTERVAL = 1\n"
                    "NEGOTIATOR_INTERVAL = 0.5\nQMF_UPDATE_INTERVAL = 5\n")
    grid = Grid(Config(conf), root / "state", NullSink(), backend)
    grid.start()
    return grid


def true_ad(iwd: str) -> dict[str, Any]:
    return {"Cmd": "/bin/true", "Arguments": "", "Iwd": iwd, "Requirements": True,
            "JobUniverse": 5, "Owner": "root"}


def wait_queue_empty(grid: Grid, timeout: float = 3600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with grid.schedd.lock:
            left = sum(len(c.procs) for c in grid.schedd.clusters.values())
        if not left:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{left} jobs never finished")
        time.sleep(0.02)


def submit_rates(root: Path, n: int) -> tuple[float, float]:
    """(sbatch submissions/s, Slurm-backend Submits/s), one of each in turn."""
    grid = make_grid(root, "slurm")
    try:
        scheduler = grid.bindings()["scheduler"]
        ad = true_ad(str(root))
        ours = theirs = 0.0
        ids: set[str] = set()
        for _ in range(n):
            t0 = time.perf_counter()
            ids.add(run("sbatch", "--parsable", f"--chdir={root}", "--output=/dev/null",
                        "--wrap=/bin/true").strip())
            t1 = time.perf_counter()
            scheduler.call(NAME, "Submit", {"Ad": ad, "Count": 1}, ROOT)
            t2 = time.perf_counter()
            theirs += t1 - t0
            ours += t2 - t1
        wait_slurm(ids)
        wait_queue_empty(grid)
        return n / theirs, n / ours
    finally:
        grid.stop("fast")
        grid.close()


def through_agent(root: Path, backend: str, n: int, single: bool) -> tuple[float, float]:
    """(Submits/s, jobs/s submit to all finished) through the scheduler binding."""
    grid = make_grid(root, backend)
    try:
        scheduler = grid.bindings()["scheduler"]
        ad = true_ad(str(root))
        t0 = time.perf_counter()
        if single:
            for _ in range(n):
                scheduler.call(NAME, "Submit", {"Ad": ad, "Count": 1}, ROOT)
        else:
            scheduler.call(NAME, "Submit", {"Ad": ad, "Count": n}, ROOT)
        submitted = time.perf_counter() - t0
        wait_queue_empty(grid)
        elapsed = time.perf_counter() - t0
        done = grid.schedd.history(projection=["ExitCode", "JobStatus", "RemoveReason"])
        bad = [d for d in done if d.get("JobStatus") != 4 or d.get("ExitCode") != 0]
        if len(done) != n or bad:
            # e.g. another test session's clean-up cancelling every qmf-* Slurm job
            raise RuntimeError(f"{len(done)} finished, {len(bad)} not completed with 0; "
                               f"the first: {bad[0] if bad else None}")
        return (n if single else 1) / submitted, n / elapsed
    finally:
        grid.stop("fast")
        grid.close()


def ratio(ours: float, anchor: float) -> str:
    return f"{ours / anchor:.2f}x" if anchor else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--skip-slurm", action="store_true", help="local backend only")
    args = parser.parse_args()
    n = args.jobs
    root = Path(tempfile.mkdtemp(prefix="backend-bench-"))
    try:
        print(f"backend bench: {n} x /bin/true, {os.cpu_count()} CPUs on this machine")
        rate, local = through_agent(root / "local", "local", n, single=False)
        print(f"L1 local backend, Count={n}: {local:8.1f} jobs/s submit to all finished "
              f"(target >= 100: {'met' if local >= 100 else 'MISSED'})")
        if args.skip_slurm or shutil.which("sbatch") is None:
            print("Slurm: skipped")
            return 0
        cpus = run("sinfo", "-h", "-o", "%c").split()[0]
        print(f"Slurm node(s) advertise {cpus} CPUs (sinfo %c); Slurm starts about one job "
              "per free CPU per scheduler pass")
        a1_rate, s1_rate = submit_rates(root / "rates", n)
        print(f"submit rate, interleaved: A1 sbatch {a1_rate:8.1f} submissions/s, S1 agent "
              f"(Slurm backend) {s1_rate:8.1f} Submits/s = {ratio(s1_rate, a1_rate)} of A1 "
              f"(target >= 0.80x: {'met' if s1_rate >= 0.8 * a1_rate else 'MISSED'})")
        a1_seq, a1_tput = anchor_sequential(n, str(root))
        print(f"A1 sbatch --wrap, sequential: {a1_seq:8.1f} submissions/s, "
              f"{a1_tput:6.1f} jobs/s submit to all finished")
        a2_tput = anchor_array(n, str(root))
        print(f"A2 sbatch --array=0-{n - 1}:   {a2_tput:6.1f} jobs/s submit to all finished")
        s1_seq, s1_tput = through_agent(root / "slurm1", "slurm", n, single=True)
        print(f"S1 agent, Slurm backend, {n} single Submits: {s1_seq:8.1f} Submits/s, "
              f"{s1_tput:6.1f} jobs/s submit to all finished = {ratio(s1_tput, a1_tput)} of "
              f"A1 (target within 10%: {'met' if s1_tput >= 0.9 * a1_tput else 'MISSED'})")
        _, s2_tput = through_agent(root / "slurm2", "slurm", n, single=False)
        print(f"S2 agent, Slurm backend, one Submit Count={n} (one array): {s2_tput:6.1f} "
              f"jobs/s ({ratio(s2_tput, a2_tput)} of A2, {ratio(s2_tput, a1_tput)} of A1)")
        print(f"local backend vs Slurm's own sequential throughput: {ratio(local, a1_tput)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
