"""Slurm's command-line tools, run and parsed: the only code that spawns them.

Slurm 22.05 (Debian bookworm) has no Python binding that works with it and
its ``--json`` outputs are slow (``squeue --json``: 25x a format string on
10,000 jobs) and ignore filters, so the backend drives ``sbatch``,
``squeue``, ``sinfo``, ``scontrol`` and ``scancel``.  Listings use format
strings whose fields are separated by ASCII unit separator (0x1f), a byte
no job state, reason, time or node list can contain.

Finished jobs leave ``squeue`` after ``MinJobAge``; without an accounting
daemon the only record left is the job-completion log
(``JobCompType=jobcomp/filetxt``), which :class:`JobCompLog` reads
incrementally.  It is also the only place 22.05 tells a finished job's
exit code (``squeue`` has no exit-code field).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["SlurmCli", "SlurmError", "JobRow", "NodeRow", "Completion", "JobCompLog",
           "parse_time", "SEP"]

log = logging.getLogger(__name__)

SEP = "\x1f"
#: squeue fields: array-aware id (123 or 123_4), state, reason, start, end, nodes
_JOB_FORMAT = SEP.join(("%i", "%T", "%r", "%S", "%e", "%N"))
#: sinfo fields, one line per node and partition: name, CPUs, alloc/idle/other/total
#: CPUs, memory MiB, free memory MiB, state, load, partition
_NODE_FORMAT = SEP.join(("%N", "%c", "%C", "%m", "%e", "%T", "%O", "%P"))


#: What sbatch needs of the agent's environment (where the tools and config are).
_SUBMIT_ENV = ("PATH", "SLURM_CONF", "LANG", "TZ")


class SlurmError(Exception):
    """A Slurm tool failed; the text is Slurm's own message (``lines``: one per line)."""

    def __init__(self, text: str, command: str = "", lines: Sequence[str] = ()) -> None:
        super().__init__(text)
        self.text = text
        self.command = command
        self.lines = list(lines) or [text]


@dataclass(frozen=True)
class JobRow:
    """One job as ``squeue`` lists it."""

    slurm_id: str
    state: str
    reason: str
    start: float | None
    end: float | None
    nodes: str


@dataclass(frozen=True)
class NodeRow:
    """One node as ``sinfo`` lists it (partitions merged)."""

    name: str
    cpus: int
    cpus_allocated: int
    memory_mib: int
    free_memory_mib: int
    state: str
    load: float
    partitions: tuple[str, ...]


@dataclass(frozen=True)
class Completion:
    """A finished job from the completion log."""

    slurm_id: str
    state: str
    exit_code: int
    signal: int
    start: float | None
    end: float | None
    nodes: str


def parse_time(text: str) -> float | None:
    """Slurm's ``YYYY-MM-DDTHH:MM:SS`` (local time) as epoch seconds; None for N/A."""
    text = text.strip()
    try:
        parsed = time.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return float(time.mktime(parsed))


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text.strip().rstrip("+"))
    except ValueError:
        return default


def _float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        return 0.0


class SlurmCli:
    """Runs the tools with a timeout; every failure becomes a :class:`SlurmError`.

    :param bin_dir: where the tools are (empty: ``PATH``).
    :param timeout: seconds a call may take; a controller that is down makes
        the tools retry for a while before they give up.
    """

    def __init__(self, bin_dir: str = "", timeout: float = 30.0) -> None:
        self.bin_dir = bin_dir
        self.timeout = timeout

    def run(self, tool: str, args: Sequence[str], stdin: str | None = None,
            env: Mapping[str, str] | None = None) -> str:
        """*tool*'s standard output; raises SlurmError with its message on failure."""
        argv = [os.path.join(self.bin_dir, tool) if self.bin_dir else tool, *args]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                  timeout=self.timeout, check=False, env=env)
        except FileNotFoundError:
            raise SlurmError(f"{tool} is not installed (looked in "
                             f"{self.bin_dir or 'PATH'})", tool) from None
        except subprocess.TimeoutExpired:
            raise SlurmError(f"{tool} did not answer within {self.timeout:g}s", tool) from None
        except OSError as exc:
            raise SlurmError(f"cannot run {tool}: {exc.strerror}", tool) from None
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            raise SlurmError(" ".join(lines) or f"{tool} exited with status {done.returncode}",
                             tool, lines)
        return done.stdout

    # --- submitting ------------------------------------------------------

    def sbatch(self, script: str, options: Sequence[str]) -> str:
        """Submit *script* (on stdin) with *options*; the new job's id.

        sbatch runs with a bare environment: the agent's own variables must
        not reach jobs (``--export=ALL`` copies sbatch's), and ``SBATCH_*``
        variables must not change what is submitted.
        """
        env = {k: v for k, v in os.environ.items() if k in _SUBMIT_ENV}
        out = self.run("sbatch", ["--parsable", *options], stdin=script, env=env).strip()
        job_id = out.split(";", 1)[0]   # "<id>;<cluster>" on multi-cluster setups
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed {out!r} instead of a job id", "sbatch")
        return job_id

    # --- listing ---------------------------------------------------------

    def jobs(self) -> list[JobRow]:
        """Every job the controller knows (finished ones until MinJobAge), one call."""
        out = self.run("squeue", ["-h", "-r", "-t", "all", "-o", _JOB_FORMAT])
        rows = []
        for line in out.splitlines():
            fields = line.split(SEP)
            if len(fields) != 6:
                log.warning("squeue line not understood: %r", line)
                continue
            rows.append(JobRow(fields[0].strip(), fields[1].strip(), fields[2].strip(),
                               parse_time(fields[3]), parse_time(fields[4]), fields[5].strip()))
        return rows

    def nodes(self) -> list[NodeRow]:
        """Every node with its CPUs, memory, state and partitions, one call."""
        out = self.run("sinfo", ["-h", "-N", "-o", _NODE_FORMAT])
        found: dict[str, NodeRow] = {}
        for line in out.splitlines():
            fields = line.split(SEP)
            if len(fields) != 8:
                log.warning("sinfo line not understood: %r", line)
                continue
            name = fields[0].strip()
            cpu_counts = fields[2].split("/")
            allocated = _int(cpu_counts[0]) if len(cpu_counts) == 4 else 0
            partition = fields[7].strip().rstrip("*")
            earlier = found.get(name)
            partitions = (earlier.partitions if earlier else ()) + (partition,)
            found[name] = NodeRow(name, _int(fields[1]), allocated, _int(fields[3]),
                                  _int(fields[4]), fields[5].strip(), _float(fields[6]),
                                  partitions)
        return list(found.values())

    # --- controls --------------------------------------------------------

    def control(self, verb: str, slurm_ids: Collection[str]) -> None:
        """``scontrol <verb> id,id,...`` (uhold, release, requeuehold, suspend, resume)."""
        if slurm_ids:
            self.run("scontrol", [verb, ",".join(slurm_ids)])

    def cancel(self, slurm_ids: Iterable[str]) -> None:
        """``scancel`` the jobs (one call)."""
        ids = list(slurm_ids)
        if ids:
            self.run("scancel", ids)

    def update(self, slurm_id: str, fields: Mapping[str, str]) -> None:
        """``scontrol update JobId=<id> Key=Value ...``."""
        self.run("scontrol", ["update", f"JobId={slurm_id}",
                              *(f"{k}={v}" for k, v in fields.items())])


def _parse_completion(line: str) -> Completion | None:
    """One ``jobcomp/filetxt`` record (``Key=Value`` pairs; values have no spaces)."""
    pairs: dict[str, str] = {}
    for item in line.split():
        key, sep, value = item.partition("=")
        if sep:
            pairs[key] = value
    job_id = pairs.get("JobId")
    if not job_id or "JobState" not in pairs:
        return None
    array_job, task = pairs.get("ArrayJobId", ""), pairs.get("ArrayTaskId", "")
    slurm_id = f"{array_job}_{task}" if array_job and task.isdigit() else job_id
    code, _, sig = pairs.get("ExitCode", "0:0").partition(":")
    return Completion(slurm_id, pairs["JobState"].split()[0], _int(code), _int(sig),
                      parse_time(pairs.get("StartTime", "")), parse_time(pairs.get("EndTime", "")),
                      pairs.get("NodeList", ""))


class JobCompLog:
    """Reads the job-completion log from where it stopped last time.

    Only records of jobs the caller asks about are kept, so a long log
    costs one pass, not memory.  A log that shrank (rotated) is read again
    from its start.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""

    def read(self, wanted: Collection[str]) -> dict[str, Completion]:
        """New records whose Slurm id is in *wanted*."""
        found: dict[str, Completion] = {}
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                if size < self._offset:
                    log.info("%s shrank (rotated?): reading it from the start", self.path)
                    self._offset, self._partial = 0, ""
                fh.seek(self._offset)
                data = fh.read()
                self._offset = fh.tell()
        except FileNotFoundError:
            return found
        except OSError as exc:
            log.warning("cannot read the Slurm completion log %s: %s", self.path, exc.strerror)
            return found
        text = self._partial + data
        lines = text.split("\n")
        self._partial = lines.pop()   # an unfinished last line waits for the rest
        for line in lines:
            record = _parse_completion(line)
            if record is not None and record.slurm_id in wanted:
                found[record.slurm_id] = record
        return found

