#!/usr/bin/env python3
"""One Act on many jobs: removing N held jobs of one cluster, against queueing them.

The anchor is the Submit that queued the same N jobs in the same run (one
request, one transaction, the same rows written), so the ratio says what
removal costs beyond the storage work both do; the per-job figure is what
``console._schedd.BULK_SECONDS_PER_JOB`` must stay above:

    python3 bench/bulk_act.py [--jobs 20000] [--url URL]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import report_target, timed  # noqa: E402
from console_submit import start_agent  # noqa: E402

import console as htcondor  # noqa: E402
from console import classad  # noqa: E402
from console._schedd import BULK_SECONDS_PER_JOB  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--jobs", type=int, default=20000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    proc = None
    workdir = tempfile.mkdtemp(prefix="qmf-bench-")
    url = args.url
    if url is None:
        proc, url = start_agent(workdir)
    os.chdir(workdir)
    try:
        schedd = htcondor.Schedd(url)
        schedd.query("false")  # connect and find the scheduler before anything is timed
        n = args.jobs
        held = classad.ClassAd({"Cmd": "/bin/true", "JobStatus": 5})
        submit_s, cluster = timed(lambda: schedd.submit(held, count=n))
        act_s, totals = timed(lambda: schedd.act(htcondor.JobAction.Remove, cluster))
        if totals["TotalSuccess"] != n or schedd.query(f"ClusterId == {cluster}", ["ProcId"]):
            raise SystemExit(f"the removal did not remove all {n} jobs: {totals}")
        per_job = act_s / n
        print(f"{'what':<34}{'seconds':>10}{'ms/job':>10}")
        print(f"{f'Submit {n} held jobs (anchor)':<34}{submit_s:>10.2f}{submit_s / n * 1000:>10.3f}")
        print(f"{f'Act Remove {n} jobs':<34}{act_s:>10.2f}{per_job * 1000:>10.3f}")
        print(f"ratio act/submit {act_s / submit_s:.2f}; the console allows "
              f"{BULK_SECONDS_PER_JOB * 1000:.1f} ms/job ({BULK_SECONDS_PER_JOB / per_job:.1f}x the figure)")
        report_target(8, f"remove {n} jobs in one Act", "answered within the console's scaled timeout",
                      f"{act_s:.2f} s ({per_job * 1000:.2f} ms/job)",
                      f"Submit of the same jobs {submit_s:.2f} s (x{act_s / submit_s:.2f})",
                      per_job < BULK_SECONDS_PER_JOB)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
