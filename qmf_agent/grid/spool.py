"""The spool: files of jobs submitted with ``spool=True`` travel over the bus.

HTCondor's ``Schedd.spool()`` sends a job's input files to the schedd, which
keeps them in its spool directory and runs the job there;
``Schedd.retrieve()`` fetches the outputs back.  Here the files move in
chunks through two scheduler methods (``SpoolFile`` and ``RetrieveFile``,
base64 in an ``lstr``, since QMF has no binary argument type) and live
under ``<state dir>/spool/<cluster>/<proc>/``.

Writes are idempotent per chunk: a chunk carries its offset, and writing
at an offset at or below the current size first truncates there, so a
console that retries a chunk after a lost answer does not duplicate data.
File names are plain base names; anything that could escape the job's
directory is refused with :class:`ParameterInvalid` naming the argument.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import shutil

from qmf_agent.errors import JobNotFound, ParameterInvalid

__all__ = ["SpoolStore", "MAX_CHUNK", "MAX_FILE"]

log = logging.getLogger(__name__)

MAX_CHUNK = 1 << 20          # decoded bytes per SpoolFile / RetrieveFile call
MAX_FILE = 1 << 30           # a spooled file may not grow past this
_JOB_ID = re.compile(r"(\d+)\.(\d+)")


class SpoolStore:
    """Per-job spool directories under *root* (created on demand)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def job_dir(self, job_id: str) -> str:
        """The job's spool directory (where a spooled job runs)."""
        m = _JOB_ID.fullmatch(str(job_id).strip())
        if not m:
            raise ParameterInvalid(f"Id must be a job id 'cluster.proc', got {job_id!r}")
        return os.path.join(self.root, m.group(1), m.group(2))

    def _path(self, job_id: str, name: str) -> str:
        if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
                or "\\" in name or "\x00" in name or len(name) > 255):
            raise ParameterInvalid(f"Name must be a plain file name (no directories), got {name!r}")
        return os.path.join(self.job_dir(job_id), name)

    def write(self, job_id: str, name: str, offset: int, data: str, final: bool) -> int:
        """Store one base64 chunk at *offset*; returns the file's size after it."""
        path = self._path(job_id, name)
        try:
            chunk = base64.b64decode(data.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, AttributeError):
            raise ParameterInvalid("Data must be base64 text") from None
        if len(chunk) > MAX_CHUNK:
            raise ParameterInvalid(f"Data holds {len(chunk)} bytes; at most {MAX_CHUNK} per call")
        if type(offset) is not int or offset < 0:
            raise ParameterInvalid(f"Offset must be a non-negative integer, got {offset!r}")
        if offset + len(chunk) > MAX_FILE:
            raise ParameterInvalid(f"file {name} would exceed {MAX_FILE} bytes")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if offset > size:
            raise ParameterInvalid(
                f"Offset {offset} is past the end of {name} ({size} bytes so far): a chunk is missing")
        with open(path, "r+b" if size else "wb") as f:
            f.truncate(offset)
            f.seek(offset)
            f.write(chunk)
            if final:
                f.flush()
                os.fsync(f.fileno())
            size = f.tell()
        if final:
            log.info("spooled %s for job %s (%d bytes)", name, job_id, size)
        return size

    def read(self, job_id: str, name: str, offset: int, length: int) -> tuple[str, bool]:
        """One base64 chunk of a job's file and whether it is the last."""
        path = self._path(job_id, name)
        if type(offset) is not int or offset < 0:
            raise ParameterInvalid(f"Offset must be a non-negative integer, got {offset!r}")
        if type(length) is not int or not 0 < length <= MAX_CHUNK:
            raise ParameterInvalid(f"Length must be from 1 to {MAX_CHUNK}, got {length!r}")
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(length)
                final = f.tell() >= os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            raise JobNotFound(f"job {job_id} has no spooled file {name}") from None
        return base64.b64encode(chunk).decode("ascii"), final

    def files(self, job_id: str) -> list[str]:
        """Names of the files in the job's spool directory."""
        d = self.job_dir(job_id)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def remove(self, job_id: str) -> None:
        """Forget a job's files (when it leaves the queue)."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
