"""The job event log (a job's ``UserLog``), in HTCondor's text format.

Tools and people read these logs (``condor_wait``, ``htcondor.JobEventLog``,
a tail in a terminal), and the job object's ``Fetch(File="Log")`` returns
byte ranges of it, so it is written in HTCondor's layout::

    000 (012.000.000) 2026-11-22 01:02:03 Job submitted from host: <host>
    ...

Each event is a header line (event number, cluster.proc.subproc, local
time, text), optional tab-indented detail lines, and a ``...`` line.  The
file is opened per event in append mode on the owner's behalf
(:mod:`qmf_agent.grid.userfiles`), so a log a user cannot write is never
written, and a failure to write is logged, never fatal to the scheduler.
"""

from __future__ import annotations

import logging
import os
import time

from . import userfiles

__all__ = ["UserLog", "EventCode"]

log = logging.getLogger(__name__)


class EventCode:
    """HTCondor's ULogEventNumber values for the events written here."""

    SUBMIT = 0
    EXECUTE = 1
    EVICTED = 4
    TERMINATED = 5
    ABORTED = 9
    SUSPENDED = 10
    UNSUSPENDED = 11
    HELD = 12
    RELEASED = 13


class UserLog:
    """Appends events to job event logs."""

    def __init__(self, host: str) -> None:
        self.host = host

    def write(self, path: str, owner: str, cluster: int, proc: int, code: int,
              text: str, details: tuple[str, ...] = ()) -> bool:
        """Append one event; returns False (and logs why) when it cannot."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        lines = [f"{code:03d} ({cluster:03d}.{proc:03d}.000) {stamp} {text}"]
        lines += [f"\t{d}" for d in details]
        lines.append("...")
        data = ("\n".join(lines) + "\n").encode("utf-8", errors="replace")
        try:
            fd = userfiles.open_for(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                    userfiles.identity(owner))
        except userfiles.UserFileError as exc:
            log.warning("job %d.%d: not writing its UserLog: %s", cluster, proc, exc)
            return False
        try:
            os.write(fd, data)
        except OSError as exc:
            log.warning("job %d.%d: cannot write UserLog %s: %s", cluster, proc, path,
                        exc.strerror)
            return False
        finally:
            os.close(fd)
        return True
