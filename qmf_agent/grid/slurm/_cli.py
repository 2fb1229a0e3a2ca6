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
import re
import subprocess
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

__all__ = ["SlurmCli", "SlurmError", "Launched", "Sbatch", "SpareSbatch", "completed_names", "JobRow", "NodeRow", "Completion", "JobCompLog",
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


def _feed(fd: int, data: bytes) -> None:
    """Write all of *data* to a tool's stdin and close it.  A tool that exits
    before reading it all (a usage error) closes the pipe: its own message
    says why, so a broken pipe is not an error of its own."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


class Launched:
    """A tool that is running; :meth:`output` waits for it (up to the timeout)."""

    def __init__(self, tool: str, proc: subprocess.Popen[bytes], deadline: float,
                 timeout: float) -> None:
        self.tool = tool
        self._proc = proc
        self._deadline = deadline
        self._timeout = timeout

    def output(self) -> str:
        """Its standard output; SlurmError with its message when it failed."""
        tool, proc = self.tool, self._proc
        try:
            out, err = proc.communicate(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise SlurmError(f"{tool} did not answer within {self._timeout:g}s", tool) from None
        if proc.returncode != 0:
            text = err.decode("utf-8", "replace")
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            raise SlurmError(" ".join(lines) or f"{tool} exited with status {proc.returncode}",
                             tool, lines)
        return out.decode("utf-8", "replace")


class Sbatch:
    """An ``sbatch --parsable`` under way."""

    def __init__(self, launched: Launched) -> None:
        self._launched = launched

    def job_id(self) -> str:
        """Wait for the new job's id; SlurmError with Slurm's message if refused."""
        out = self._launched.output().strip()
        job_id = out.split(";", 1)[0]   # "<id>;<cluster>" on multi-cluster setups
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed {out!r} instead of a job id", "sbatch")
        return job_id


class SpareSbatch:
    """An ``sbatch --parsable`` started ahead of its submission, blocked
    reading its script from stdin.

    sbatch loads libslurm and reads ``slurm.conf`` and ``plugstack.conf``
    *before* it reads the script (strace): about 2 of its 6-7 ms here.  The
    rest (select plugins, the munge credential, the RPC to slurmctld) comes
    after, so a spare handed a script finishes in about 4 ms.  A spare given
    nothing -- the agent stopped or was killed, closing its stdin -- exits
    with "Batch script is empty!" and submits nothing: a spare never makes a
    job nobody asked for.
    """

    def __init__(self, proc: subprocess.Popen[bytes], write_end: int) -> None:
        self._proc = proc
        self._write_end = write_end
        self.started = time.monotonic()

    def usable(self, max_age: float) -> bool:
        """Still waiting, and started less than *max_age* seconds ago (a
        spare read ``slurm.conf`` when it started)."""
        return self._proc.poll() is None and time.monotonic() - self.started < max_age

    def feed(self, script: str, timeout: float) -> Launched:
        """Hand it *script* (its options as ``#SBATCH`` directives): now it submits."""
        _feed(self._write_end, script.encode())
        return Launched("sbatch", self._proc, time.monotonic() + timeout, timeout)

    def discard(self) -> None:
        """Stop it unused (killed while it waits for stdin, it has sent nothing)."""
        os.close(self._write_end)
        self._proc.kill()
        self._proc.communicate()


class _Spares:
    """At most one :class:`SpareSbatch` for a :class:`SlurmCli`, replaced as
    soon as it is used (never one per Submit: the one in use is no longer
    ours to keep) and when it is older than :attr:`MAX_AGE`.

    The replacement starts on a thread of its own: starting a process from
    the agent took 2.5 ms here, which would otherwise sit between handing
    the script over and the schedd's commit, on every Submit's path.
    Spares are kept only between :meth:`SlurmCli.keep_spare` (the backend's
    poller runs) and :meth:`close` (it stopped): a backend that is never
    started submits with fresh processes and leaves none behind.
    """

    #: seconds a spare may wait before it is replaced by a fresh one
    MAX_AGE = 60.0

    def __init__(self, cli: SlurmCli) -> None:
        self._cli = cli
        self._lock = threading.Lock()
        self._spare: SpareSbatch | None = None
        self._spawning = False
        self._closed = True          # until keep_spare: the backend is running
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self) -> SpareSbatch | None:
        """The waiting spare, if it is still usable (it is no longer ours)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and not spare.usable(self.MAX_AGE):
            spare.discard()
            spare = None
        return spare

    def request(self) -> None:
        """Have :meth:`replenish` run soon, on the spare thread."""
        with self._lock:
            if self._closed:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="slurm-spare",
                                                daemon=True)
                self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closed:
                return
            self.replenish()

    def replenish(self, reopen: bool = False) -> None:
        """Start a spare unless one waits (a fresh one for one too old); after
        :meth:`close` only with *reopen* (the backend started again)."""
        with self._lock:
            if self._closed and not reopen:
                return
            self._closed = False
            old = None
            if self._spare is not None:
                if self._spare.usable(self.MAX_AGE):
                    return
                old, self._spare = self._spare, None
            if self._spawning:
                return
            self._spawning = True
        try:
            if old is not None:
                old.discard()
            try:
                proc, write_end = self._cli._spawn("sbatch", ["--parsable"],
                                                   self._cli.submit_env, pipe=True)
            except SlurmError as exc:
                log.debug("no spare sbatch: %s", exc.text)
                return
            spare: SpareSbatch | None = SpareSbatch(proc, write_end)
            with self._lock:
                if not self._closed:
                    self._spare, spare = spare, None
            if spare is not None:          # closed meanwhile
                spare.discard()
        finally:
            with self._lock:
                self._spawning = False

    def close(self) -> None:
        """Stop the spare thread and the spare (it has submitted nothing)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
            thread, self._thread = self._thread, None
        self._wanted.set()
        if thread is not None:
            thread.join(timeout=10)
        if spare is not None:
            spare.discard()


#: What an option may hold to be written as an ``#SBATCH`` directive, which
#: sbatch splits on white space and quotes.
_DIRECTIVE = re.compile(r"--[A-Za-z][A-Za-z0-9-]*(=[A-Za-z0-9_.,:/@%+=-]*)?\Z")


def _with_directives(script: str, options: Sequence[str]) -> str | None:
    """*script* with *options* as ``#SBATCH`` lines after its ``#!`` line
    (sbatch reads directives up to the first command), or None if an option
    cannot be written as one (then they go on the command line)."""
    if not script.startswith("#!") or not all(_DIRECTIVE.match(o) for o in options):
        return None
    shebang, _, rest = script.partition("\n")
    return "\n".join([shebang, *(f"#SBATCH {o}" for o in options), rest])


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


@lru_cache(maxsize=4096)
def parse_time(text: str) -> float | None:
    """Slurm's ``YYYY-MM-DDTHH:MM:SS`` (local time) as epoch seconds; None for N/A.

    Cached: a listing repeats the same seconds many times, and strptime is
    slow (about 10 us)."""
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
    :param spare_sbatch: keep one ``sbatch`` started ahead of the next
        submission (:class:`SpareSbatch`); :meth:`close` stops it.
    """

    def __init__(self, bin_dir: str = "", timeout: float = 30.0,
                 spare_sbatch: bool = False) -> None:
        self.bin_dir = bin_dir
        self.timeout = timeout
        #: the whole environment of sbatch, and so of its jobs (``--export=ALL``)
        self.submit_env = {k: v for k, v in os.environ.items() if k in _SUBMIT_ENV}
        self._spares = _Spares(self) if spare_sbatch else None

    def run(self, tool: str, args: Sequence[str], stdin: str | None = None,
            env: Mapping[str, str] | None = None) -> str:
        """*tool*'s standard output; raises SlurmError with its message on failure."""
        return self.launch(tool, args, stdin, env).output()

    def launch(self, tool: str, args: Sequence[str], stdin: str | None = None,
               env: Mapping[str, str] | None = None) -> Launched:
        """Start *tool* with *stdin* already fed to it, without waiting for it.

        The caller does other work (the schedd's durable commit) while the
        tool runs, then collects its answer with :meth:`Launched.output`.
        """
        if stdin is None:
            proc, _ = self._spawn(tool, args, env, pipe=False)
        else:
            proc, write_end = self._spawn(tool, args, env, pipe=True)
            _feed(write_end, stdin.encode())
        return Launched(tool, proc, time.monotonic() + self.timeout, self.timeout)

    def _spawn(self, tool: str, args: Sequence[str], env: Mapping[str, str] | None,
               pipe: bool) -> tuple[subprocess.Popen[bytes], int]:
        """Start *tool*; with *pipe*, its stdin is a pipe whose write end is returned
        (else -1 and stdin is /dev/null)."""
        argv = [os.path.join(self.bin_dir, tool) if self.bin_dir else tool, *args]
        read_end: int = subprocess.DEVNULL
        write_end = -1
        if pipe:
            read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(argv, stdin=read_end, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            if pipe:
                os.close(write_end)
            if isinstance(exc, FileNotFoundError):
                raise SlurmError(f"{tool} is not installed (looked in "
                                 f"{self.bin_dir or 'PATH'})", tool) from None
            raise SlurmError(f"cannot run {tool}: {exc.strerror}", tool) from None
        finally:
            if pipe:
                os.close(read_end)
        return proc, write_end

    # --- submitting ------------------------------------------------------

    def sbatch(self, script: str, options: Sequence[str]) -> str:
        """Submit *script* (on stdin) with *options*; the new job's id."""
        return self.start_sbatch(script, options).job_id()

    def start_sbatch(self, script: str, options: Sequence[str]) -> Sbatch:
        """Start submitting *script* with *options*; :meth:`Sbatch.job_id` waits.

        sbatch runs with a bare environment: the agent's own variables must
        not reach jobs (``--export=ALL`` copies sbatch's), and ``SBATCH_*``
        variables must not change what is submitted.

        With a spare (``spare_sbatch``), the options go into the script as
        ``#SBATCH`` directives and the script to the spare ``sbatch``, which
        has done its start-up already (see :class:`SpareSbatch`); the next
        spare starts at once, while this one talks to slurmctld.
        """
        spare, directed = None, None
        if self._spares is not None:
            directed = _with_directives(script, options)
            if directed is not None:
                spare = self._spares.take()
        if spare is not None and directed is not None:
            launched = spare.feed(directed, self.timeout)
        else:
            launched = self.launch("sbatch", ["--parsable", *options], stdin=script,
                                   env=self.submit_env)
        if self._spares is not None:
            self._spares.request()
        return Sbatch(launched)

    def keep_spare(self) -> None:
        """Have a fresh spare ``sbatch`` waiting (the backend's poller calls this,
        so that the first Submit, and one after a quiet minute, find one)."""
        if self._spares is not None:
            self._spares.replenish(reopen=True)

    def close(self) -> None:
        """Stop the spare ``sbatch``, if one waits (it has submitted nothing)."""
        if self._spares is not None:
            self._spares.close()

    # --- listing ---------------------------------------------------------

    def jobs(self, wanted: Collection[str] | None = None) -> list[JobRow]:
        """Every job the controller knows (finished ones until MinJobAge), one
        call; only those whose id is in *wanted*, when given.

        The listing holds every job on the cluster (thousands on a shared
        one: 4,300 here), and parsing all of it once a second held the
        interpreter ~100 ms per poll, stalling Submits: a line is parsed
        only when its id is wanted.
        """
        out = self.run("squeue", ["-h", "-r", "-t", "all", "-o", _JOB_FORMAT])
        rows = []
        for line in out.splitlines():
            if wanted is not None and line[:line.find(SEP)].strip() not in wanted:
                continue
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

    def ids_by_name(self, names: Collection[str]) -> dict[str, list[str]]:
        """The (base) job ids Slurm knows under each of *names*, one ``squeue`` call
        (arrays once, whatever their tasks' states)."""
        if not names:
            return {}
        out = self.run("squeue", ["-h", "-t", "all", f"--name={','.join(sorted(names))}",
                                  "-o", SEP.join(("%F", "%j"))])
        found: dict[str, list[str]] = {}
        for line in out.splitlines():
            base, sep, name = line.partition(SEP)
            base, name = base.strip(), name.strip()
            if sep and name in names and base.isdigit():
                ids = found.setdefault(name, [])
                if base not in ids:
                    ids.append(base)
        return found

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

    def cancel_named(self, name: str) -> None:
        """``scancel`` every job named *name* (none is not an error)."""
        self.run("scancel", [f"--name={name}"])

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
    costs one pass, not memory.  The first read starts where records end
    after *since* (the oldest job the caller waits for was queued then, so
    nothing older can be its record), found by bisecting the file: a
    cluster's log grows without bound, and parsing all of it on the agent's
    first poll held the interpreter for seconds (1.3 s for an 18 MB log,
    stalling every Submit meanwhile).  A log that shrank (rotated) is read
    again from its start.
    """

    #: Records are appended as jobs end, so EndTime only roughly increases:
    #: the bisection starts this much earlier than asked.
    SLACK = 120.0
    #: The bisection stops when this few bytes are left to parse.
    SPAN = 1 << 16

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""
        self.positioned = False

    def grew(self) -> bool:
        """Has the log more than what was read (one stat: cheap enough to ask
        ten times a second)?  False until the first :meth:`read` placed us."""
        if not self.positioned:
            return False
        try:
            return os.stat(self.path).st_size != self._offset
        except OSError:
            return False

    def read(self, wanted: Collection[str], since: float | None = None) -> dict[str, Completion]:
        """New records whose Slurm id is in *wanted*; on the first read, only
        records of jobs that ended after *since* (epoch seconds; None: all)."""
        found: dict[str, Completion] = {}
        try:
            with open(self.path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                if size < self._offset:
                    log.info("%s shrank (rotated?): reading it from the start", self.path)
                    self._offset, self._partial = 0, ""
                if not self.positioned:
                    self.positioned = True
                    if since is not None:
                        self._offset = _offset_after(fh, size, since - self.SLACK, self.SPAN)
                fh.seek(self._offset)
                data = fh.read().decode("utf-8", errors="replace")
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
            # Most records are of other jobs: a plain job's id is its first
            # field, so only array tasks and wanted ids are parsed whole.
            if (line.startswith("JobId=") and "ArrayTaskId=" not in line
                    and line[6:line.find(" ")] not in wanted):
                continue
            record = _parse_completion(line)
            if record is not None and record.slurm_id in wanted:
                found[record.slurm_id] = record
        return found



def _end_time(line: bytes) -> float | None:
    """The EndTime of one completion record, None if it has none."""
    at = line.find(b" EndTime=")
    if at < 0:
        return None
    return parse_time(line[at + 9:].split(b" ", 1)[0].decode("ascii", errors="replace"))


def _offset_after(fh: BinaryIO, size: int, since: float, span: int) -> int:
    """The offset of a line at or before the first record that ended after
    *since*, within *span* bytes of it (bisection over the file's lines)."""
    lo, hi = 0, size
    while hi - lo > span:
        mid = (lo + hi) // 2
        fh.seek(mid)
        fh.readline()                      # the rest of the line *mid* fell in
        end = None
        while end is None and fh.tell() < hi:
            line = fh.readline()
            end = _end_time(line)
        if end is None or end >= since:
            hi = mid
        else:
            lo = mid
    if lo:
        fh.seek(lo)
        fh.readline()
        return fh.tell()
    return 0


def completed_names(path: str, names: Collection[str]) -> dict[str, list[str]]:
    """The (base) job ids the completion log at *path* records under each of
    *names*: one pass over the whole log, for the rare lookup of a job that
    finished and left ``squeue`` while the agent was down."""
    found: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                pairs = dict(item.partition("=")[::2] for item in line.split())
                name = pairs.get("Name", "")
                if name in names:
                    array = pairs.get("ArrayTaskId", "").isdigit()
                    base = pairs.get("ArrayJobId", "") if array else pairs.get("JobId", "")
                    ids = found.setdefault(name, [])
                    if base.isdigit() and base not in ids:
                        ids.append(base)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot read the Slurm completion log %s: %s", path, exc.strerror)
    return found
