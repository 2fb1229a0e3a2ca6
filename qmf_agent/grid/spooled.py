"""Jobs submitted with ``spool=True``: where their files live and who may move them.

HTCondor's ``Schedd.submit(..., spool=True)`` queues the jobs on hold with
HoldReasonCode 16 ("spooling input"); ``Schedd.spool()`` then sends the
executable and input files and releases them; the jobs run in the
schedd's spool directory, and ``Schedd.retrieve()`` fetches their output
back.  The console does the same over QMF with the scheduler's
``SpoolFile`` and ``RetrieveFile`` methods; the bytes are kept by
:class:`qmf_agent.grid.spool.SpoolStore` under ``<state dir>/spool``.

The job's ``Iwd`` stays the submitter's directory (the console puts
retrieved files there); a job is marked ``Spooled = true`` at submit, and
runs in its spool directory with Cmd, In, Out and Err taken by base name
from there (Cmd only when it was sent: ``TransferExecutable = false`` keeps
the submitter's path).  Files are given to the user the job runs as, so a
job running as its Owner can write its output.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..errors import JobStateError, ParameterInvalid
from . import userfiles
from .jobs import Job, JobStatus
from .spool import SpoolStore

__all__ = ["SpooledJobs", "SPOOLING_HOLD_CODE", "SPOOLED"]

log = logging.getLogger(__name__)

#: HTCondor's HoldReasonCode for "waiting for its input files to be spooled"
SPOOLING_HOLD_CODE = 16
#: the job attribute marking a spooled job
SPOOLED = "Spooled"


class SpooledJobs:
    """The schedd's side of spooling."""

    def __init__(self, root: str) -> None:
        self.store = SpoolStore(root)

    @staticmethod
    def wants_spool(attrs: dict[str, Any]) -> bool:
        """Whether a submitted ad asks to be spooled (held with code 16)."""
        return attrs.get("JobStatus") == JobStatus.HELD and \
            attrs.get("HoldReasonCode") == SPOOLING_HOLD_CODE

    @staticmethod
    def is_spooled(job: Job) -> bool:
        return job.get(SPOOLED) is True

    def receive(self, job: Job, name: str, offset: int, data: str, final: bool) -> int:
        """Store a chunk of one of *job*'s input files; returns the size so far."""
        if not self.is_spooled(job):
            raise ParameterInvalid(f"job {job.id} was not submitted with spool=True")
        if job.status != JobStatus.HELD:
            raise JobStateError(f"job {job.id} is no longer waiting for its input files")
        size = self.store.write(job.id, name, offset, data, final)
        if final:
            self._hand_over(job, name)
        return size

    def _hand_over(self, job: Job, name: str) -> None:
        """Make a complete file usable by the job: its user's, executable if Cmd."""
        path = os.path.join(self.store.job_dir(job.id), name)
        cmd = job.get("Cmd")
        if type(cmd) is str and os.path.basename(cmd) == name:
            os.chmod(path, 0o755)
        job_dir = self.store.job_dir(job.id)
        _give(job, (os.path.dirname(job_dir), job_dir, path))

    def send(self, job_id: str, name: str, offset: int, length: int) -> tuple[str, bool]:
        """A base64 chunk of one of the job's spool files, and whether it is the last."""
        return self.store.read(job_id, name, offset, length)

    def run_dir(self, job: Job) -> str:
        return self.store.job_dir(job.id)

    def paths(self, job: Job, cmd: str,
              std: dict[str, str | None]) -> tuple[str, str, dict[str, str]]:
        """(run directory, command path, {In/Out/Err: path}) of a spooled job
        whose Cmd and In/Out/Err (*std*) the scheduler has evaluated."""
        run_dir = self.run_dir(job)
        if job.get("TransferExecutable") is not False:
            sent = os.path.join(run_dir, os.path.basename(cmd))
            if os.path.exists(sent):
                cmd = sent
        files = {}
        for attr in ("In", "Out", "Err"):
            value = std.get(attr)
            if value and value != os.devnull:
                files[attr] = os.path.join(run_dir, os.path.basename(value))
            else:
                files[attr] = os.devnull
        return run_dir, cmd, files

    def prepare(self, job: Job) -> None:
        """Create the run directory, owned by the job's user, before a run."""
        run_dir = self.run_dir(job)
        os.makedirs(run_dir, exist_ok=True)
        _give(job, (os.path.dirname(run_dir), run_dir))


def _give(job: Job, paths: tuple[str, ...]) -> None:
    """Hand *paths* to the user *job* runs as (nothing to do when that is us)."""
    ident = userfiles.identity(job.owner)
    if ident is None:
        return
    for target in paths:
        try:
            os.chown(target, ident[0], ident[1])
        except OSError as exc:
            log.warning("job %s: cannot give %s to uid %d: %s", job.id, target, ident[0],
                        exc.strerror)
