#!/usr/bin/env python3
"""Backend benchmark (issue #7): submit rate and short-job throughput through
the agent with each backend, next to Slurm's own command-line tools measured
in the same run.

Figures (N = 500 jobs of /bin/true unless --jobs says otherwise):
  anchors, Slurm's own tools:
    A1. sequential ``sbatch --parsable --wrap=/bin/true``: submissions/s, and
        jobs/s from the first submit until all N have finished;
    A2. one ``sbatch --array=0-(N-1)``: jobs/s, submit to all finished;
  through the agent (a real ``qmf-agent`` process on its direct listener,
  called over AMQP the way a console calls it: QMF round trip included):
    S1. Slurm backend, N single-job Submits: Submits/s (target >= 0.8 x A1's
        rate; measured interleaved with A1's sbatch calls, one each in turn,
        so that both see the same load on a shared machine), and jobs/s
        submit to all recorded finished (target within 10% of A1's);
    S2. Slurm backend, one Submit with Count = N (one array): jobs/s (vs A2);
  The agent submits through slurmrestd when its socket (--restd) answers, as
  a site running slurmrestd would configure it (SLURM_RESTD_SOCKET); the
  submit rate is then also measured without it (a spare sbatch per Submit),
  for comparison.
    L1. local backend, one Submit with Count = N on this machine's slots:
        jobs/s submit to all finished (target >= 100).

Slurm starts about one batch job per free CPU per scheduler pass, so its
throughput depends on how many CPUs the node advertises: the output says.

Usage: python bench/backend_bench.py [--jobs N] [--skip-slurm] [--restd SOCKET]
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

from _agent_process import RESTD, AgentProcess, restd_answers, restd_config
from _common import report_target

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


def anchor_sequential(n: int, workdir: str) -> tuple[float, float, float]:
    """A1: (submissions/s, jobs/s submit to all finished, seconds from the
    last submission to all finished).  Finished means gone from squeue's
    active states, which it polls every 50 ms (one squeue call each)."""
    t0 = time.perf_counter()
    ids = {run("sbatch", "--parsable", f"--chdir={workdir}", "--output=/dev/null",
               "--wrap=/bin/true").strip() for _ in range(n)}
    submitted = time.perf_counter() - t0
    wait_slurm(ids)
    elapsed = time.perf_counter() - t0
    return n / submitted, n / elapsed, elapsed - submitted


def anchor_array(n: int, workdir: str) -> float:
    """A2: jobs/s for one array of n tasks, submit to all finished."""
    t0 = time.perf_counter()
    job = run("sbatch", "--parsable", f"--chdir={workdir}", "--output=/dev/null",
              f"--array=0-{n - 1}", "--wrap=/bin/true").strip()
    wait_slurm({job})
    return n / (time.perf_counter() - t0)


#: The agent's configuration: Slurm polled every second, matching twice a
#: second (local), so neither interval dominates a short job's turnaround.
AGENT_CONFIG = "QMF_ADMINS = root, qmf\nSLURM_POLL_INTERVAL = 1\nNEGOTIATOR_INTERVAL = 0.5\nQMF_UPDATE_INTERVAL = 5\n"


class Agent:
    """A real ``qmf-agent`` process with *backend* on its direct listener,
    and a client calling its scheduler the way a console does."""

    def __init__(self, root: Path, backend: str, extra: str = "") -> None:
        self.process = AgentProcess(backend, None, root, config=AGENT_CONFIG + extra,
                                    name=NAME).start()
        self.client = self.process.client()

    def submit(self, ad: dict[str, Any], count: int) -> None:
        self.process.call(self.client, "Submit", {"Ad": ad, "Count": count})

    def wait_queue_empty(self, timeout: float = 3600.0) -> None:
        deadline = time.monotonic() + timeout
        while self.process.call(self.client, "Query", {"Projection": ["ClusterId"], "Limit": 1})["Jobs"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the jobs never finished")
            time.sleep(0.02)

    def check_finished(self, n: int) -> None:
        """Every one of the *n* jobs completed with exit code 0, or say which did not."""
        done = self.process.call(self.client, "History",
                                 {"Projection": ["ExitCode", "JobStatus", "RemoveReason"]})["Jobs"]
        bad = [d for d in done if _value(d.get("JobStatus")) != 4 or _value(d.get("ExitCode")) != 0]
        if len(done) != n or bad:
            # e.g. someone cancelling this agent's Slurm jobs mid-run
            raise RuntimeError(f"{len(done)} finished, {len(bad)} not completed with 0; "
                               f"the first: {bad[0] if bad else None}")

    def close(self) -> None:
        self.client.close()
        self.process.stop()


def _value(typed: Any) -> Any:
    """The int of a typed-encoding ``{TYPE, VALUE}`` value (None if absent)."""
    return int(typed["VALUE"]) if isinstance(typed, dict) and "VALUE" in typed else None


def true_ad(iwd: str) -> dict[str, Any]:
    return {"Cmd": "/bin/true", "Arguments": "", "Iwd": iwd, "Requirements": True,
            "JobUniverse": 5, "Owner": "root"}


def submit_rates(root: Path, n: int, extra: str) -> tuple[float, float]:
    """(sbatch submissions/s, Slurm-backend Submits/s), one of each in turn."""
    agent = Agent(root / "agent", "slurm", extra)
    try:
        ad = true_ad(str(root))
        ours = theirs = 0.0
        ids: set[str] = set()
        for _ in range(n):
            t0 = time.perf_counter()
            ids.add(run("sbatch", "--parsable", f"--chdir={root}", "--output=/dev/null",
                        "--wrap=/bin/true").strip())
            t1 = time.perf_counter()
            agent.submit(ad, 1)
            t2 = time.perf_counter()
            theirs += t1 - t0
            ours += t2 - t1
        wait_slurm(ids)
        agent.wait_queue_empty()
        return n / theirs, n / ours
    finally:
        agent.close()


def through_agent(root: Path, backend: str, n: int, single: bool,
                  extra: str = "") -> tuple[float, float, float]:
    """(Submits/s, jobs/s submit to all finished, seconds from the last
    Submit's answer to all finished) through a real agent.  Finished means
    the agent's queue is empty (a Query every 20 ms); every job is then
    checked to have completed with exit code 0."""
    agent = Agent(root / "agent", backend, extra)
    try:
        ad = true_ad(str(root))
        t0 = time.perf_counter()
        if single:
            for _ in range(n):
                agent.submit(ad, 1)
        else:
            agent.submit(ad, n)
        submitted = time.perf_counter() - t0
        agent.wait_queue_empty()
        elapsed = time.perf_counter() - t0
        agent.check_finished(n)
        return (n if single else 1) / submitted, n / elapsed, elapsed - submitted
    finally:
        agent.close()


def ratio(ours: float, anchor: float) -> str:
    return f"{ours / anchor:.2f}x" if anchor else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--skip-slurm", action="store_true", help="local backend only")
    parser.add_argument("--restd", default=RESTD,
                        help=f"slurmrestd's socket for the agent ('' for sbatch only; default "
                             f"{RESTD}, used if it answers)")
    args = parser.parse_args()
    n = args.jobs
    root = Path(tempfile.mkdtemp(prefix="backend-bench-"))
    try:
        print(f"backend bench: {n} x /bin/true, {os.cpu_count()} CPUs on this machine")
        rate, local, _ = through_agent(root / "local", "local", n, single=False)
        print(f"L1 local backend, Count={n}: {local:8.1f} jobs/s submit to all finished "
              f"(target >= 100: {'met' if local >= 100 else 'MISSED'})")
        report_target(7, f"local backend, {n} x /bin/true submit to all finished", ">= 100 jobs/s",
                      f"{local:.1f} jobs/s", "Slurm's own: below (A1)", local >= 100)
        if args.skip_slurm or shutil.which("sbatch") is None:
            print("Slurm: skipped")
            return 0
        cpus = run("sinfo", "-h", "-o", "%c").split()[0]
        print(f"Slurm node(s) advertise {cpus} CPUs (sinfo %c); Slurm starts about one job "
              "per free CPU per scheduler pass")
        restd = args.restd if args.restd and restd_answers(args.restd) else ""
        extra = restd_config(restd)
        how = f"through slurmrestd at {restd}" if restd else "through sbatch (no slurmrestd)"
        a1_rate, s1_rate = submit_rates(root / "rates", n, extra)
        print(f"submit rate, interleaved: A1 sbatch {a1_rate:8.1f} submissions/s, S1 agent "
              f"(Slurm backend, {how}) {s1_rate:8.1f} Submits/s = {ratio(s1_rate, a1_rate)} "
              f"of A1 (target >= 0.80x: {'met' if s1_rate >= 0.8 * a1_rate else 'MISSED'})")
        report_target(7, "Slurm backend submit rate through the agent", ">= 0.80x sequential sbatch",
                      f"{s1_rate:.1f} Submits/s ({'slurmrestd' if restd else 'sbatch'})",
                      f"sbatch {a1_rate:.1f}/s interleaved, {ratio(s1_rate, a1_rate)}",
                      s1_rate >= 0.8 * a1_rate)
        if restd:
            b1_rate, s1b_rate = submit_rates(root / "rates-sbatch", n, "")
            print(f"submit rate, interleaved, the agent without slurmrestd (a spare sbatch "
                  f"per Submit): A1 {b1_rate:8.1f}/s, agent {s1b_rate:8.1f}/s = "
                  f"{ratio(s1b_rate, b1_rate)} of A1 (for comparison)")
        a1_seq, a1_tput, a1_tail = anchor_sequential(n, str(root))
        print(f"A1 sbatch --wrap, sequential: {a1_seq:8.1f} submissions/s, "
              f"{a1_tput:6.1f} jobs/s submit to all finished ({n / a1_seq:.1f} s submitting, "
              f"all finished {a1_tail:.1f} s after the last)")
        a2_tput = anchor_array(n, str(root))
        print(f"A2 sbatch --array=0-{n - 1}:   {a2_tput:6.1f} jobs/s submit to all finished")
        s1_seq, s1_tput, s1_tail = through_agent(root / "slurm1", "slurm", n, single=True,
                                                 extra=extra)
        print(f"S1 agent, Slurm backend, {n} single Submits: {s1_seq:8.1f} Submits/s, "
              f"{s1_tput:6.1f} jobs/s submit to all finished = {ratio(s1_tput, a1_tput)} of "
              f"A1 (target within 10%: {'met' if s1_tput >= 0.9 * a1_tput else 'MISSED'}; "
              f"{n / s1_seq:.1f} s submitting, all finished {s1_tail:.1f} s after the last)")
        report_target(7, f"Slurm backend short-job throughput, {n} single Submits", "within 10% of sbatch's",
                      f"{s1_tput:.1f} jobs/s", f"sequential sbatch {a1_tput:.1f} jobs/s, {ratio(s1_tput, a1_tput)}",
                      s1_tput >= 0.9 * a1_tput)
        _, s2_tput, _ = through_agent(root / "slurm2", "slurm", n, single=False, extra=extra)
        print(f"S2 agent, Slurm backend, one Submit Count={n} (one array): {s2_tput:6.1f} "
              f"jobs/s ({ratio(s2_tput, a2_tput)} of A2, {ratio(s2_tput, a1_tput)} of A1)")
        print(f"local backend vs Slurm's own sequential throughput: {ratio(local, a1_tput)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
