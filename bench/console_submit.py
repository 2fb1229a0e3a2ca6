#!/usr/bin/env python3
"""Console throughput: submit (alike and per-job values: one request each), query, against an echo anchor.

Prints figures and their ratio to a plain method round trip (scheduler
``echo``) measured in the same run, so the numbers compare across machines:

    python3 bench/console_submit.py                 # starts its own agent
    python3 bench/console_submit.py --url URL       # or measures an agent you run
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import console as htcondor  # noqa: E402
from console import Session, Submit, classad  # noqa: E402


def start_agent(state: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    Path(state, "qmf-grid.conf").write_text("NUM_SLOTS = 1\nSTART = false\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "qmf_agent", "--listen", f"127.0.0.1:{port}",
                             "--state-dir", state, "--log-level", "WARNING"], cwd=state, env=env)
    url = f"amqp://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with Session(url, timeout=2) as s:
                if s.getAgents(wait=0.3):
                    return proc, url
        except ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the agent did not start")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # connect retries while the agent starts are expected
    proc = None
    workdir = tempfile.mkdtemp(prefix="qmf-bench-")
    url = args.url
    if url is None:
        proc, url = start_agent(workdir)
    os.chdir(workdir)
    try:
        with Session(url) as session:
            (scheduler,) = session.getObjects(_class="scheduler")
            scheduler.echo(0, "warm-up")
            echo = timed(lambda: [scheduler.echo(i, "x" * 64) for i in range(args.calls)]) / args.calls
        schedd = htcondor.Schedd(url)
        schedd.query("false")  # connect and find the scheduler before anything is timed
        n = args.jobs
        plain = timed(lambda: schedd.submit(classad.ClassAd({"Cmd": "/bin/true"}), count=n))
        per_job = Submit(f"executable = /bin/true\noutput = out.$(Process)\nqueue {n}")
        varied = timed(lambda: schedd.submit(per_job))
        query = timed(lambda: schedd.query("true", ["ClusterId", "ProcId", "JobStatus"]))
        full = timed(lambda: schedd.query())
        total = len(schedd.query("true", ["ProcId"]))
        schedd.act(htcondor.JobAction.Remove, "true")
        rows = [
            ("method round trip (echo), anchor", echo * 1e3, "ms/call", 1.0),
            (f"submit {n} identical jobs (1 call)", plain, "s", plain / echo),
            (f"submit {n} jobs with $(Process) values", varied, "s", varied / echo),
            (f"query {total} jobs, 3 attributes", query, "s", query / echo),
            (f"query {total} jobs, whole ads", full, "s", full / echo),
        ]
        print(f"agent {url}, {n} jobs per submit, {args.calls} echo calls")
        for name, value, unit, ratio in rows:
            print(f"  {name:<44} {value:9.3f} {unit:<8} = {ratio:8.1f} x echo")
        print(f"  submit rate (identical):   {n / plain:9.0f} jobs/s")
        print(f"  submit rate ($(Process)):  {n / varied:9.0f} jobs/s")
        print(f"  query rate (projection):   {total / query:9.0f} ads/s")
    finally:
        htcondor.SecMan().invalidateAllSessions()
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
