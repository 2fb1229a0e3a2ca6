#!/usr/bin/env python3
"""The 2009 "Submitting to Condor from QMF" program, against qmf-grid.

The blog post's program with only its import changed (``from console
import Session``) and the type names it took from the QMF library spelled
out: it submits ``/bin/sleep`` as a typed-map job ad, finds the job again
by its ``CustomId``, and prints its status and properties.

    python3 examples/qmf_submit.py --url amqp://127.0.0.1:5672
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import reduce

from console import Session

# The typed-map encoding's type names (the QMF library's constants).
STRING_TYPE, INTEGER_TYPE, EXPR_TYPE = "STRING", "INTEGER", "EXPR"

UNIVERSE = {"VANILLA": 5, "SCHEDULER": 7, "GRID": 9, "JAVA": 10, "PARALLEL": 11, "LOCAL": 12, "VM": 13}
JOB_STATUS = ("", "Idle", "Running", "Removed", "Completed", "Held", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("QMF_URL", "amqp://localhost:5672"))
    parser.add_argument("--seconds", default="120", help="how long the job sleeps")
    args = parser.parse_args(argv)

    ad = {"Cmd":          {"TYPE": STRING_TYPE,  "VALUE": "/bin/sleep"},
          "Args":         {"TYPE": STRING_TYPE,  "VALUE": args.seconds},
          "Requirements": {"TYPE": EXPR_TYPE,    "VALUE": "TRUE"},
          "JobUniverse":  {"TYPE": INTEGER_TYPE, "VALUE": "%s" % (UNIVERSE["VANILLA"],)},  # noqa: UP031 (the seed's line)
          "Iwd":          {"TYPE": STRING_TYPE,  "VALUE": "/tmp"},
          "Owner":        {"TYPE": STRING_TYPE,  "VALUE": "nobody"}}

    session = Session()
    session.addBroker(args.url)
    try:
        schedulers = session.getObjects(_class="scheduler", _package="mrg.grid")
        result = schedulers[0].Submit(ad)

        if result.status:
            print("Error submitting job:", result.text)
            return 1

        print("Submitted job:", result.Id)

        jobs = session.getObjects(_class="job", _package="mrg.grid")
        job = reduce(lambda x, y: x or (y.CustomId == result.Id and y), jobs, False)
        if not job:
            print("Did not find job")
            return 1

        print("Job status:", JOB_STATUS[job.JobStatus])
        print("Job properties:")
        for prop in job.getProperties():
            print(" ", prop[0], "=", prop[1])
        return 0
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
