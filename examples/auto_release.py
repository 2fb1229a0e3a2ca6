#!/usr/bin/env python3
"""Release held jobs whose HoldReasonCode is in a set, at most N times each.

The kind of automation an operator writes: jobs held for transient reasons
(a missing input file that will appear, a policy hold) are released, but a
job that keeps coming back on hold is left alone after N releases.  The
count is kept in the job itself (attribute ``AutoReleaseCount``), so
restarting the script does not reset it.  Reacts to JobHeld events, after
one sweep of the jobs already held.

    python3 examples/auto_release.py --codes 13,26 --max 3 --url amqp://127.0.0.1:5672
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import time

from console import Session
from console.session import Event, Handler, QmfObject

COUNT_ATTR = "AutoReleaseCount"


class HeldJobs(Handler):
    def __init__(self) -> None:
        self.held: queue.Queue[str] = queue.Queue()

    def event(self, event: Event) -> None:
        if event.name == "JobHeld":
            self.held.put(str(event.arguments.get("Id")))


def consider(session: Session, job: QmfObject, codes: set[int], limit: int) -> str:
    """Release *job* if its hold code is in *codes* and it was released
    fewer than *limit* times; returns what was done, for the log."""
    if job.JobStatus != 5:
        return f"{job.key}: not held"
    code = job.HoldReasonCode
    if code not in codes:
        return f"{job.key}: hold code {code} not in {sorted(codes)}; left held"
    ad = job.GetAd()
    if ad.status:
        return f"{job.key}: cannot read its ad: {ad.text}"
    count = _count(ad.JobAd.get(COUNT_ATTR))
    if count >= limit:
        return f"{job.key}: released {count} times already; left held"
    set_result = job.SetAttribute(COUNT_ATTR, str(count + 1))
    if set_result.status:
        return f"{job.key}: cannot record the release: {set_result.text}"
    result = job.Release(f"auto_release: hold code {code} ({count + 1}/{limit})")
    if result.status:
        return f"{job.key}: release failed: {result.text}"
    return f"{job.key}: released ({count + 1}/{limit}), hold code {code}"


def _count(value: object) -> int:
    if isinstance(value, dict):  # typed-map encoding
        value = value.get("VALUE")
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("QMF_URL", "amqp://127.0.0.1:5672"))
    parser.add_argument("--codes", required=True, help="comma-separated HoldReasonCodes to release")
    parser.add_argument("--max", dest="limit", type=int, default=3, help="releases per job at most")
    parser.add_argument("--once", action="store_true", help="one sweep of held jobs, then exit")
    parser.add_argument("--for", dest="seconds", type=float, default=0, help="stop after this many seconds")
    args = parser.parse_args(argv)
    try:
        codes = {int(c) for c in args.codes.split(",") if c.strip()}
    except ValueError:
        parser.error(f"--codes must be integers, got {args.codes!r}")
    watcher = HeldJobs()
    with Session(args.url, handler=None if args.once else watcher) as session:
        for job in session.getObjects(_class="job", _package="mrg.grid", _where="JobStatus == 5"):
            print(consider(session, job, codes, args.limit), flush=True)
        if args.once:
            return 0
        deadline = time.monotonic() + args.seconds if args.seconds else None
        while deadline is None or time.monotonic() < deadline:
            try:
                job_id = watcher.held.get(timeout=1.0)
            except queue.Empty:
                continue
            found = session.getObjects(_objectId=f"mrg.grid:job:{job_id}")
            if found:
                print(consider(session, found[0], codes, args.limit), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
