"""The Slurm backend: the agent in front of an existing Slurm cluster.

The queue, its durable store and the managed objects stay the schedd's;
Slurm runs the jobs and decides where.  So this backend *schedules itself*
(``schedules_itself = True``): our negotiator matches nothing, and a Submit
hands the jobs to Slurm **before** the schedd commits them, so that a
submission Slurm rejects fails with Slurm's reason and leaves nothing in
our store, and every committed job carries its ``SlurmJobId``.  A
submission goes through slurmrestd when one is configured and runs as the
job's user (:mod:`._rest`), else through ``sbatch``.  Controls
(Hold, Release, Remove, Suspend, Continue, and SetAttribute of the
attributes Slurm knows) likewise go to Slurm first; a refusal fails the
call with the queue unchanged.

What happens in Slurm comes back by polling: **one** ``squeue`` listing per
interval for all jobs, compared with the queue.  Every difference becomes
the schedd's own transition -- a start (:meth:`Schedd.start_matches`), a run
ending (:meth:`Schedd.on_exits`) or an action (:meth:`Schedd.act`, as an
administrator, with a reason naming Slurm) -- so the same events fire as
with the local backend.  Actions the poller takes are marked on its thread
so that they are recorded without being sent back to Slurm.  Jobs that left
``squeue`` (``MinJobAge``) are looked up in the completion log, which is also
where exit codes come from.  A listing that fails (slurmctld down or
restarting) changes nothing: the poller reports it in the scheduler's
status, logs it once and retries.

Slurm's nodes are the slots (:mod:`._nodes`), refreshed with one ``sinfo``
call every few seconds.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import classad

from ...binding import AgentSink, Caller
from ...errors import FeatureNotImplemented, ParameterInvalid, SchedulerError
from .. import userfiles
from ..backend import ExitCallback, ExitResult, JobSpec, SlotView
from ..config import Config
from ..jobs import Job, JobStatus
from ._cli import Completion, JobCompLog, JobRow, SlurmCli, SlurmError, completed_names
from ._nodes import SlurmNodes
from ._rest import RestAnswerLost, RestSubmit, RestUnavailable, RestWrongUser, Slurmrestd
from ._script import BatchRequest, ScriptError, batch_script

__all__ = ["SlurmBackend", "SlurmConfig", "SlurmSubmission", "job_kind"]

log = logging.getLogger(__name__)

#: Slurm states by what they mean for the queue.
_IDLE = frozenset({"PENDING", "REQUEUED", "REQUEUE_FED", "CONFIGURING"})
_HELD = frozenset({"REQUEUE_HOLD", "RESV_DEL_HOLD"})
_RUNNING = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING"})
_SUSPENDED = frozenset({"SUSPENDED", "STOPPED"})
_DONE = frozenset({"COMPLETED", "FAILED"})
_CANCELLED = frozenset({"CANCELLED"})
_ACTIVE = (JobStatus.RUNNING, JobStatus.SUSPENDED)
#: polls a vanished job is looked for before it is recorded as removed
_MISSING_POLLS = 3
#: polls a finished job waits for its completion record (its exit code)
_RECORD_POLLS = 5
_ENDS = frozenset({"done", "cancelled", "ended", "vanished"})
#: what a completion record may say that ends a job for good
_FINAL_KINDS = frozenset({"done", "cancelled", "ended"})
#: seconds between looks at the completion log while waiting for a listing
_ENDED_CHECK = 0.1
#: What Slurm shows once it has carried out a control (it lags: a requeue-hold
#: shows RUNNING, then COMPLETING, before PENDING); until then, or for at
#: most _EXPECT_SECONDS, the poller leaves the job alone.
_EXPECT = {"hold": frozenset({"held"}) | _ENDS,
           "release": frozenset({"idle", "running", "suspended"}) | _ENDS,
           "remove": _ENDS,
           "suspend": frozenset({"suspended"}) | _ENDS,
           "continue": frozenset({"running"}) | _ENDS}
_EXPECT_SECONDS = 30.0
#: SetAttribute of these changes the pending Slurm job too
_SLURM_FIELDS = {"RequestCpus": ("NumCPUs", "CPUsPerTask"), "RequestMemory": ("MinMemoryNode",),
                 "JobPrio": ("Nice",)}


def job_kind(state: str, reason: str) -> str:
    """What a Slurm state means here: idle, held, running, suspended, done,
    cancelled or ended (any other end: TIMEOUT, NODE_FAIL, OUT_OF_MEMORY...)."""
    if state in _HELD or (state in _IDLE and (reason.startswith("JobHeld")
                                              or "held" in reason.lower()
                                              or reason == "JobHoldMaxRequeue")):
        return "held"
    for kind, states in (("idle", _IDLE), ("running", _RUNNING), ("suspended", _SUSPENDED),
                         ("done", _DONE), ("cancelled", _CANCELLED)):
        if state in states:
            return kind
    return "ended"


@dataclass
class SlurmConfig:
    """The backend's knobs (``SLURM_*`` in the agent's configuration)."""

    poll_interval: float = 1.0
    retry_interval: float = 5.0
    node_interval: float = 5.0
    partition: str = ""
    jobcomp_log: str = "/var/log/slurm/jobcomp.log"
    bin_dir: str = ""
    timeout: float = 30.0
    array_limit: int = 1000
    spare_sbatch: bool = True
    restd_socket: str = ""
    arch: str = "X86_64"
    opsys: str = "LINUX"

    @classmethod
    def from_config(cls, config: Config) -> SlurmConfig:
        return cls(poll_interval=config.get_float("SLURM_POLL_INTERVAL"),
                   retry_interval=config.get_float("SLURM_RETRY_INTERVAL"),
                   node_interval=config.get_float("SLURM_NODE_INTERVAL"),
                   partition=config.get("SLURM_PARTITION") or "",
                   jobcomp_log=config.get("SLURM_JOBCOMP_LOG") or "",
                   bin_dir=config.get("SLURM_BIN_DIR") or "",
                   timeout=config.get_float("SLURM_TIMEOUT"),
                   array_limit=max(1, config.get_int("SLURM_ARRAY_LIMIT")),
                   spare_sbatch=config.get_bool("SLURM_SPARE_SBATCH", True),
                   restd_socket=config.get("SLURM_RESTD_SOCKET") or "",
                   arch=config.get("ARCH") or "X86_64", opsys=config.get("OPSYS") or "LINUX")


@dataclass
class _Tracked:
    """A queued job's Slurm job, as the poller last saw it."""

    job_id: str
    slurm_id: str
    since: float            # monotonic time it was tracked
    spec: JobSpec | None    # what the Slurm job runs (None: adopted, taken as current)
    touched: float = 0.0    # monotonic time of our last control on it
    missing: int = 0        # successive listings without it
    waited: int = 0         # polls spent waiting for its completion record
    final: bool = False     # its end has been recorded: later rows change nothing
    run_start: float | None = None   # when the run Slurm is running began
    expect: frozenset[str] = frozenset()   # kinds our last control leads to
    expect_until: float = 0.0              # ... waited for until then (monotonic)


@dataclass(frozen=True)
class _View:
    """One job's Slurm state, from squeue or the completion log."""

    kind: str
    state: str
    reason: str
    start: float | None
    end: float | None
    node: str
    record: Completion | None = None


@dataclass
class _Plan:
    """What one poll does to the queue, in the order it must happen."""

    release: list[tuple[str, str]] = field(default_factory=list)
    starts: list[tuple[str, str]] = field(default_factory=list)
    acts: list[tuple[str, str, str]] = field(default_factory=list)
    exits: list[ExitResult] = field(default_factory=list)


class SlurmSubmission:
    """One cluster's procs on their way to Slurm (:meth:`SlurmBackend.begin_submit`).

    The first ``sbatch`` is already running when this exists; :attr:`names`
    are each proc's attributes to commit before its Slurm job id is known
    (the name its Slurm job gets).  Then exactly one of :meth:`result` (the
    commit worked) or :meth:`cancel` (it did not).
    """

    def __init__(self, backend: SlurmBackend,
                 batches: list[tuple[BatchRequest, list[JobSpec]]]) -> None:
        self._backend = backend
        self._batches = batches
        self._submitted: list[str] = []
        self.names: list[dict[str, Any]] = [{"SlurmJobName": request.name}
                                            for request, specs in batches for _ in specs]
        try:
            self._first: _Pending | None = backend.start_batch(batches[0][0])
        except SlurmError as exc:
            raise SchedulerError(f"Slurm rejected the submission: {exc.text}") from None

    def result(self) -> list[dict[str, Any]]:
        """Each proc's ``SlurmJobName`` and ``SlurmJobId``, once Slurm has them all.

        If any ``sbatch`` fails, the ones already accepted are cancelled and
        this raises SchedulerError with Slurm's message.
        """
        out: list[dict[str, Any]] = []
        try:
            for request, specs in self._batches:
                running, self._first = self._first, None
                slurm_id = (running or self._backend.start_batch(request)).job_id()
                self._submitted.append(slurm_id)
                ids = [slurm_id] if len(specs) == 1 else [f"{slurm_id}_{n}"
                                                          for n in range(len(specs))]
                out.extend({"SlurmJobName": request.name, "SlurmJobId": sid} for sid in ids)
        except SlurmError as exc:
            self._backend.cancel_quietly(self._submitted)
            raise SchedulerError(f"Slurm rejected the submission: {exc.text}") from None
        except BaseException:
            self._backend.cancel_quietly(self._submitted)
            raise
        since = time.monotonic()
        specs_all = [spec for _, specs in self._batches for spec in specs]
        for spec, attrs in zip(specs_all, out):
            self._backend.track(spec.job_id, attrs["SlurmJobId"], since, spec)
        log.debug("submitted %d jobs to Slurm as %s", len(out), ", ".join(self._submitted))
        return out

    def cancel(self) -> None:
        """Withdraw the procs: the caller could not commit them."""
        running, self._first = self._first, None
        if running is not None:
            try:
                self._submitted.append(running.job_id())
            except SlurmError:
                pass           # refused: nothing to withdraw
        self._backend.cancel_quietly(self._submitted)


class _Pending(Protocol):
    """A submission under way: ``sbatch``'s or slurmrestd's."""

    def job_id(self) -> str: ...


class _RestSubmission:
    """A submission sent to slurmrestd, which goes to ``sbatch`` if its answer
    is lost -- after cancelling whatever job the request may have made (by
    its name, which no other submission has), so that none runs twice."""

    def __init__(self, backend: SlurmBackend, request: BatchRequest, sent: RestSubmit) -> None:
        self._backend = backend
        self._request = request
        self._sent = sent

    def job_id(self) -> str:
        try:
            return self._sent.job_id()
        except RestAnswerLost as exc:
            name = self._request.name
            log.warning("%s: cancelling any Slurm job named %s, then submitting with sbatch",
                        exc.text, name)
            cli = self._backend.cli
            cli.cancel_named(name)
            return cli.start_sbatch(self._request.script, self._request.options()).job_id()


def _proc_number(job_id: str) -> int:
    return int(job_id.rpartition(".")[2])


def _int_attr(ad: classad.ClassAd, name: str) -> int | None:
    """*name* evaluated in the job's ad when it is an integer (else None)."""
    if name not in ad:
        return None
    value = ad.eval(name)
    return value if type(value) is int else None


class SlurmBackend:
    """The ``slurm`` backend; the master runs it in the startd's place."""

    name = "startd"
    backend_name = "slurm"
    schedules_itself = True

    def __init__(self, sink: AgentSink, config: SlurmConfig | None = None,
                 cli: SlurmCli | None = None) -> None:
        self.config = config or SlurmConfig()
        self.cli = cli or SlurmCli(self.config.bin_dir, self.config.timeout,
                                   spare_sbatch=self.config.spare_sbatch)
        self.rest = (Slurmrestd(self.config.restd_socket, self.config.timeout,
                                self.cli.submit_env) if self.config.restd_socket else None)
        self._rest_down = False     # only for logging once: a race costs a second line
        self._own_ids = (os.getuid(), os.getgid())
        self._sink = sink
        self._lock = threading.Lock()
        self._jobs: dict[str, _Tracked] = {}
        self._by_slurm: dict[str, _Tracked] = {}
        self._records: dict[str, Completion] = {}
        self._comp = JobCompLog(self.config.jobcomp_log) if self.config.jobcomp_log else None
        self.nodes = SlurmNodes(sink, self.config.arch, self.config.opsys)
        self._nodes_at = 0.0
        self._schedd: Any = None
        self._callback: ExitCallback | None = None
        self._observing = threading.local()
        self._caller = Caller(identity="slurm", admin=True)
        self._status = "not polled yet"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._orphans = False
        self._interrupted: dict[str, list[str]] = {}
        self._tag = secrets.token_hex(4)
        self.polls = 0

    # --- wiring ----------------------------------------------------------

    def attach_queue(self, schedd: Any) -> None:
        """Follow the jobs of *schedd* (called once, after its recovery).

        Procs with a ``SlurmJobName`` but no ``SlurmJobId`` were being
        submitted when the agent stopped: their Slurm job is looked for by
        name once Slurm answers (:meth:`_reconcile`).
        """
        self._schedd = schedd
        self._tag = self._queue_tag(schedd)
        for job in schedd.jobs():
            slurm_id = job.get("SlurmJobId")
            name = job.get("SlurmJobName")
            if type(slurm_id) is str and slurm_id:
                self.track(job.id, slurm_id, 0.0, None)
            elif type(name) is str and name:
                self._interrupted.setdefault(name, []).append(job.id)
            elif job.status in (JobStatus.IDLE, JobStatus.HELD):
                self._orphans = True

    @staticmethod
    def _queue_tag(schedd: Any) -> str:
        """This queue's own tag for Slurm job names, made once and kept in its
        store: agents sharing a Slurm cluster number their clusters alike."""
        tag = schedd.store.meta("slurm_tag")
        if type(tag) is not str or not tag:
            tag = secrets.token_hex(4)
            with schedd.store.transaction() as txn:
                txn.set_meta("slurm_tag", tag)
        return tag

    def _reconcile(self) -> None:
        """Settle procs whose Submit the agent's stop interrupted.

        Their record was committed (durably) while ``sbatch`` ran, the Slurm
        job id after: a Slurm job of their name (in ``squeue`` or, finished
        and purged, in the completion log) is adopted, so no second one is
        submitted.  With none, Slurm never took them and the Submit was never
        answered: they are removed -- once an ``sbatch`` the stopped agent
        left running has surely ended (twice ``SLURM_TIMEOUT`` after QDate).
        """
        names = dict(self._interrupted)
        found = self.cli.ids_by_name(names)
        if self._comp is not None and len(found) < len(names):
            for name, ids in completed_names(self._comp.path,
                                             [n for n in names if n not in found]).items():
                found.setdefault(name, ids)
        schedd = self._schedd
        gone: list[str] = []
        self._observing.on = True
        try:
            with schedd.lock:
                for name, job_ids in names.items():
                    live = [j for j in job_ids if schedd.job(j) is not None]
                    bases = found.get(name)
                    if bases:
                        self._adopt(name, sorted(live, key=_proc_number), bases)
                    elif live and time.time() - self._qdate(live[0]) < 2 * self.config.timeout:
                        continue          # its sbatch may still be on its way
                    else:
                        gone += live
                    del self._interrupted[name]
            if gone:
                reason = ("the agent stopped while handing the job to Slurm, which never "
                          "received it (the Submit was not answered)")
                self._act_grouped("remove", [(j, reason) for j in gone])
        finally:
            self._observing.on = False

    def _adopt(self, name: str, job_ids: list[str], bases: list[str]) -> None:
        """Record the Slurm job of *bases* (named *name*) as the one of *job_ids*."""
        # a refused Submit leaves a FAILED job in Slurm and its cluster id is used
        # again: the newest job of the name is the one this queue committed
        base = max(bases, key=int)
        if len(bases) > 1:
            log.info("Slurm has %d jobs named %s (%s): the newest, %s, is ours", len(bases),
                     name, ", ".join(bases), base)
        ids = [base] if len(job_ids) == 1 else [f"{base}_{n}" for n in range(len(job_ids))]
        for job_id, slurm_id in zip(job_ids, ids):
            self._schedd.edit(self._caller, "SlurmJobId", classad.quote(slurm_id),
                              ids=[job_id])
            self.track(job_id, slurm_id, 0.0, None)
        log.info("found Slurm job %s (%s) of jobs %s, whose Submit the agent's stop "
                 "interrupted", base, name, ", ".join(job_ids))

    def _qdate(self, job_id: str) -> float:
        job = self._schedd.job(job_id)
        qdate = job.get("QDate") if job is not None else None
        return float(qdate) if type(qdate) is int else 0.0

    def _needs_slurm_job(self, job: Any) -> bool:
        """Queued under another backend (no Slurm job), or idle again after its
        Slurm job ended (an on-exit policy requeued it)."""
        with self._lock:
            tracked = self._jobs.get(job.id)
        if tracked is None:
            return (job.status in (JobStatus.IDLE, JobStatus.HELD) and not job.get("SlurmJobId")
                    and not job.get("SlurmJobName"))   # interrupted: see _reconcile
        return tracked.final and job.status == JobStatus.IDLE

    def _adopt_orphans(self) -> None:
        """Give queued jobs that need a Slurm job one (see :meth:`_needs_slurm_job`).

        Done once Slurm answers, one ``sbatch`` per cluster; each job's new
        ``SlurmJobId`` is committed as an attribute change.  A refusal is
        logged and tried again at the next poll.
        """
        schedd = self._schedd
        with schedd.lock:
            clusters: dict[int, list[Any]] = {}
            for job in schedd.jobs():
                if self._needs_slurm_job(job):
                    clusters.setdefault(job.cluster.id, []).append(job)
            for jobs in clusters.values():
                try:
                    items = [(schedd.spec(job), job.ad()) for job in jobs]
                    given = self.submit(items)
                except (ValueError, SchedulerError, ParameterInvalid) as exc:
                    log.error("cannot hand jobs %s... to Slurm: %s", jobs[0].id, exc)
                    return
                self._observing.on = True
                try:
                    for job, attrs in zip(jobs, given):
                        schedd.edit(self._caller, "SlurmJobId",
                                    classad.quote(attrs["SlurmJobId"]), ids=[job.id])
                finally:
                    self._observing.on = False
                log.info("handed %d queued jobs (%s...) to Slurm", len(jobs), jobs[0].id)
        self._orphans = False

    def set_exit_callback(self, callback: ExitCallback) -> None:
        self._callback = callback

    def track(self, job_id: str, slurm_id: str, since: float, spec: JobSpec | None) -> None:
        """Follow Slurm job *slurm_id* as our job *job_id*'s (replacing any earlier)."""
        tracked = _Tracked(job_id, slurm_id, since, spec)
        with self._lock:
            earlier = self._jobs.get(job_id)
            if earlier is not None:       # replaced by a new Slurm job
                self._by_slurm.pop(earlier.slurm_id, None)
            self._jobs[job_id] = tracked
            self._by_slurm[slurm_id] = tracked

    def _untrack(self, tracked: _Tracked) -> None:
        with self._lock:
            self._jobs.pop(tracked.job_id, None)
            self._by_slurm.pop(tracked.slurm_id, None)
            self._records.pop(tracked.slurm_id, None)

    def slurm_id(self, job_id: str) -> str | None:
        """The Slurm job id of our job *job_id*, if it has one."""
        with self._lock:
            tracked = self._jobs.get(job_id)
        return tracked.slurm_id if tracked is not None else None

    # --- submitting ------------------------------------------------------

    def submit(self, jobs: Sequence[tuple[JobSpec, classad.ClassAd]],
               held: bool | None = None) -> list[dict[str, Any]]:
        """Hand *jobs* (procs of one cluster) to Slurm; each proc's new attributes.

        Procs that ask for the same resources go as one job array (up to
        ``SLURM_ARRAY_LIMIT`` tasks per ``sbatch``).  If any ``sbatch``
        fails, the arrays already accepted are cancelled and the Submit
        fails with Slurm's message.  *held* overrides the ads' JobStatus.
        """
        return self.begin_submit(jobs, held).result()

    def begin_submit(self, jobs: Sequence[tuple[JobSpec, classad.ClassAd]],
                     held: bool | None = None) -> SlurmSubmission:
        """Start :meth:`submit`: the first ``sbatch`` runs while the caller
        commits the procs with :attr:`SlurmSubmission.names`; then
        :meth:`SlurmSubmission.result` (or :meth:`SlurmSubmission.cancel`).

        This is what makes a Submit cost about one ``sbatch`` rather than an
        ``sbatch`` plus a durable commit: the commit's fsync overlaps the
        tool.  A crash between the two leaves procs committed with their
        ``SlurmJobName`` but no ``SlurmJobId``; the next start finds their
        Slurm job by that name (see :meth:`_reconcile`).
        """
        groups: list[tuple[tuple[Any, ...], list[JobSpec]]] = []
        for spec, ad in jobs:
            key = self._resources(spec, ad, held)
            if groups and groups[-1][0] == key and len(groups[-1][1]) < self.config.array_limit:
                groups[-1][1].append(spec)
            else:
                groups.append((key, [spec]))
        batches = []
        for key, specs in groups:
            try:
                script = batch_script(specs)
            except ScriptError as exc:
                raise ParameterInvalid(str(exc)) from None
            batches.append((self._request(key, specs, script), specs))
        return SlurmSubmission(self, batches)

    def start_batch(self, request: BatchRequest) -> _Pending:
        """Start submitting *request*: through slurmrestd when one is
        configured, answers, and runs as the job's user; else ``sbatch``."""
        if self.rest is not None:
            try:
                sent = self.rest.start(request, request.ident or self._own_ids)
            except RestWrongUser as exc:
                log.debug("%s: submitting with sbatch", exc.text)
            except RestUnavailable as exc:
                if not self._rest_down:
                    log.warning("%s: submitting with sbatch until it does", exc.text)
                    self._rest_down = True
            else:
                if self._rest_down:
                    log.info("slurmrestd at %s answers again", self.rest.path)
                    self._rest_down = False
                return _RestSubmission(self, request, sent)
        return self.cli.start_sbatch(request.script, request.options())

    def job_name(self, first_job_id: str) -> str:
        """The Slurm job name of a batch of procs from *first_job_id* on: unique to
        this queue (its tag), so that a restart finds it and no other agent's."""
        return f"qmf-{self._tag}-{first_job_id}"

    def _resources(self, spec: JobSpec, ad: classad.ClassAd,
                   held: bool | None) -> tuple[Any, ...]:
        cpus = _int_attr(ad, "RequestCpus") or 1
        memory = _int_attr(ad, "RequestMemory")
        prio = _int_attr(ad, "JobPrio") or 0
        if held is None:
            held = _int_attr(ad, "JobStatus") == int(JobStatus.HELD)
        return (max(1, cpus), memory if memory and memory > 0 else None, prio, held, spec.owner)

    def _request(self, key: tuple[Any, ...], specs: Sequence[JobSpec],
                 script: str) -> BatchRequest:
        cpus, memory, prio, held, owner = key
        ident = userfiles.identity(owner)
        return BatchRequest(name=self.job_name(specs[0].job_id), script=script, cpus=cpus,
                            memory_mib=memory, nice=-prio, held=held, count=len(specs),
                            partition=self.config.partition,
                            ident=None if ident is None else (ident[0], ident[1]))

    def _resubmit(self, jobs: list[tuple[JobSpec, classad.ClassAd]],
                  held: bool) -> dict[str, dict[str, Any]]:
        """Replace the Slurm jobs of *jobs* by new ones running their current specs.

        A pending Slurm job cannot change its script, so a job whose
        command, arguments, environment or files changed (the console sets
        per-proc values on a held cluster, then releases it) is submitted
        again -- as arrays, like a Submit -- and the old one cancelled.
        """
        with self._lock:
            old = [self._jobs[spec.job_id].slurm_id for spec, _ in jobs
                   if spec.job_id in self._jobs]
        attrs = self.submit(jobs, held=held)
        self.cancel_quietly(old)
        log.info("replaced %d Slurm jobs whose jobs changed while pending", len(attrs))
        return {spec.job_id: a for (spec, _), a in zip(jobs, attrs)}

    def _changed_specs(self, jobs: Sequence[tuple[Any, _Tracked]],
                       ) -> list[tuple[JobSpec, classad.ClassAd]]:
        """Those of (job, tracked) whose current spec is not what Slurm runs, or
        whose Slurm job has ended (a release runs them again)."""
        out = []
        for job, tracked in jobs:
            try:
                spec = self._schedd.spec(job)
            except ValueError as exc:
                raise ParameterInvalid(f"job {job.id}: {exc}") from None
            if tracked.final or (tracked.spec is not None and spec != tracked.spec):
                out.append((spec, job.ad()))
        return out

    def cancel_quietly(self, slurm_ids: list[str]) -> None:
        """``scancel`` what a failed submission left in Slurm; a refusal is logged."""
        if not slurm_ids:
            return
        try:
            self.cli.cancel(slurm_ids)
        except SlurmError as exc:
            log.error("cannot cancel Slurm jobs %s of a failed submission: %s",
                      ", ".join(slurm_ids), exc.text)

    # --- controls (from the schedd, before it commits) -------------------

    def _is_observing(self) -> bool:
        return bool(getattr(self._observing, "on", False))

    def control(self, action: str, jobs: Sequence[tuple[str, int]]) -> dict[str, dict[str, Any]]:
        """Do *action* in Slurm for *jobs* (id, our status) before the schedd commits it.

        Raises a QmfError naming Slurm's reason when Slurm refuses, so the
        call fails with the queue unchanged.  Does nothing for changes the
        poller records (they happened in Slurm already).  Answers the new
        ``SlurmJobId`` of jobs released with a new Slurm job (their spec
        changed while held), for the schedd to commit with the action.
        """
        if self._is_observing():
            return {}
        verbs: dict[str, list[str]] = {}
        now = time.monotonic()
        with self._lock:
            found = [(self._jobs.get(job_id), status) for job_id, status in jobs]
        replaced: dict[str, dict[str, Any]] = {}
        if action == "release":
            live = [(self._schedd.job(t.job_id), t) for t, _ in found if t is not None]
            changed = self._changed_specs([(job, t) for job, t in live if job is not None])
            if changed:
                replaced = self._resubmit(changed, held=False)
        for tracked, _status in found:
            if tracked is not None and tracked.job_id in replaced:
                continue
            if tracked is None:
                continue
            if tracked.final:
                continue
            if action == "hold":
                # our status may lag Slurm's (a job can have started since the last
                # listing), and uhold leaves a running job running: uhold them all,
                # then requeuehold them all (refused, harmlessly, for pending ones)
                verbs.setdefault("uhold", []).append(tracked.slurm_id)
                verb = "requeuehold"
            else:
                verb = {"release": "release", "suspend": "suspend", "continue": "resume",
                        "remove": "scancel"}[action]
            verbs.setdefault(verb, []).append(tracked.slurm_id)
            tracked.touched = now
            tracked.expect, tracked.expect_until = _EXPECT[action], now + _EXPECT_SECONDS
        for verb, ids in verbs.items():
            try:
                if verb == "scancel":
                    self.cli.cancel(ids)
                else:
                    self.cli.control(verb, ids)
            except SlurmError as exc:
                if verb == "requeuehold":
                    if all("pending execution" in line for line in exc.lines):
                        continue
                    raise FeatureNotImplemented(
                        f"Slurm cannot hold running job(s) {', '.join(ids)} (it must requeue "
                        f"them and refused: {exc.text})") from None
                raise SchedulerError(
                    f"Slurm refused to {action} job(s) {', '.join(ids)}: {exc.text}") from None
        return replaced

    def edit(self, jobs: Sequence[tuple[str, int]], name: str,
             value: Any) -> dict[str, dict[str, Any]]:
        """Carry a SetAttribute to Slurm, before the schedd commits it.

        RequestCpus, RequestMemory and JobPrio of pending jobs become
        ``scontrol update``; Slurm changes resources of pending jobs only, so
        for a running one this is a clear FeatureNotImplemented rather than
        a change that never applies.  A change of what an idle job runs
        (command, arguments, environment, files) replaces its Slurm job
        (the new ids are answered, for the schedd to commit); for a held
        job that waits until its release.  Other attributes are ours only.
        """
        if self._is_observing():
            return {}
        fields = _SLURM_FIELDS.get(name)
        if fields is None:
            return self._edit_spec(jobs, name, value)
        if type(value) is not int or (name != "JobPrio" and value < 1):
            raise ParameterInvalid(f"{name} must be a positive integer for Slurm, got {value!r}")
        text = str(-value if name == "JobPrio" else value)
        with self._lock:
            found = [(self._jobs.get(job_id), status) for job_id, status in jobs]
        for tracked, status in found:
            if tracked is None or tracked.final:
                continue
            if status in _ACTIVE:
                raise FeatureNotImplemented(
                    f"Slurm cannot change {name} of running job {tracked.job_id} "
                    f"(Slurm job {tracked.slurm_id}); hold it first")
            try:
                self.cli.update(tracked.slurm_id, {f: text for f in fields})
            except SlurmError as exc:
                raise SchedulerError(f"Slurm refused {name}={value} for job {tracked.job_id} "
                                     f"(Slurm job {tracked.slurm_id}): {exc.text}") from None
        return {}

    def _edit_spec(self, jobs: Sequence[tuple[str, int]], name: str,
                   value: Any) -> dict[str, dict[str, Any]]:
        idle = []
        with self._lock:
            found = [(self._jobs.get(job_id), status) for job_id, status in jobs]
        for tracked, status in found:
            if tracked is None or tracked.final or status != JobStatus.IDLE:
                continue
            job = self._schedd.job(tracked.job_id)
            if job is not None:
                idle.append((Job(job.cluster, job.proc,
                                 job.with_changes({job.find_name(name): value})), tracked))
        changed = self._changed_specs(idle)
        return self._resubmit(changed, held=False) if changed else {}

    # --- the Backend protocol -------------------------------------------

    def run(self, spec: JobSpec, slot: str | None) -> None:
        """Slurm started the job already (the poller records starts this way)."""
        if self.slurm_id(spec.job_id) is None:
            log.warning("job %s has no Slurm job: it cannot run under the Slurm backend",
                        spec.job_id)

    def kill(self, job_id: str) -> bool:
        """``scancel`` the job's Slurm job; False if it has none or Slurm refused."""
        slurm_id = self.slurm_id(job_id)
        if slurm_id is None:
            return False
        try:
            self.cli.cancel([slurm_id])
        except SlurmError as exc:
            log.warning("scancel %s (job %s) failed: %s", slurm_id, job_id, exc.text)
            return False
        return True

    def _scontrol_one(self, verb: str, job_id: str) -> bool:
        slurm_id = self.slurm_id(job_id)
        if slurm_id is None:
            return False
        try:
            self.cli.control(verb, [slurm_id])
        except SlurmError as exc:
            log.warning("scontrol %s %s (job %s) failed: %s", verb, slurm_id, job_id, exc.text)
            return False
        return True

    def suspend(self, job_id: str) -> bool:
        return self._scontrol_one("suspend", job_id)

    def resume(self, job_id: str) -> bool:
        return self._scontrol_one("resume", job_id)

    def run_uid(self, owner: str) -> int:
        return userfiles.run_uid(owner)

    def active_jobs(self) -> list[str]:
        with self._lock:
            return [t.job_id for t in self._jobs.values() if not t.final]

    # --- role ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll_loop, name="slurm-poll", daemon=True)
        self._thread.start()

    def stop(self, mode: str = "graceful") -> None:
        """Stop polling and the spare ``sbatch``.  Jobs keep running: they are Slurm's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout + 5)
        self._thread = None
        self.cli.close()
        if self.rest is not None:
            self.rest.close()

    def reconfig(self, config: Config) -> None:
        fresh = SlurmConfig.from_config(config)
        self.config.poll_interval = fresh.poll_interval
        self.config.retry_interval = fresh.retry_interval
        self.config.node_interval = fresh.node_interval
        self.config.partition = fresh.partition

    def backend_status(self) -> dict[str, Any]:
        """For the scheduler object: which backend, and whether Slurm answers."""
        return {"Backend": self.backend_name, "BackendStatus": self._status}

    def _set_status(self, status: str) -> None:
        if status == self._status:
            return
        if status == "up":
            log.info("Slurm answers%s", " again" if self._status != "not polled yet" else "")
        else:
            log.warning("Slurm backend: %s; retrying every %gs", status,
                        self.config.retry_interval)
        self._status = status
        if self._schedd is not None:
            self._sink.changed("scheduler", self._schedd.config.name)

    # --- polling ---------------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            delay = self.config.poll_interval
            try:
                self.poll()
            except SlurmError:
                delay = self.config.retry_interval
            except Exception:
                log.exception("Slurm poll failed")
            self._pause(delay)

    def _pause(self, delay: float) -> None:
        """Wait *delay* seconds for the next listing, recording meanwhile the
        ends the completion log shows (every :data:`_ENDED_CHECK` s).

        Without this a job's end waited for the next listing: up to a poll
        interval (1 s) added to every job's turnaround, and to the last
        job's of a batch.  A stat of the log costs nothing; a listing of a
        shared cluster costs slurmctld and squeue tens of ms of CPU, so the
        listings stay once per interval.
        """
        deadline = time.monotonic() + delay
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.wait(min(_ENDED_CHECK, left)):
                return
            if self._comp is not None and self._schedd is not None and self._comp.grew():
                try:
                    self._apply_ended()
                except Exception:
                    log.exception("recording ended Slurm jobs failed")

    def _apply_ended(self) -> None:
        """Record the jobs the completion log says ended (finished, failed,
        cancelled...), between listings: their records are final, so no
        listing is needed to act on them."""
        assert self._comp is not None
        with self._lock:
            wanted = set(self._by_slurm)
        self._records.update(self._comp.read(wanted))
        now = time.monotonic()
        with self._lock:
            ended = [t for t in self._jobs.values()
                     if not t.final and not t.expect and t.slurm_id in self._records
                     and now - t.touched > self.config.poll_interval
                     and job_kind(self._records[t.slurm_id].state, "") in _FINAL_KINDS]
        if not ended:
            return
        schedd = self._schedd
        with schedd.lock:
            statuses = {t.job_id: job.status for t in ended
                        if (job := schedd.job(t.job_id)) is not None}
        plan = _Plan()
        for t in ended:
            status = statuses.get(t.job_id)
            view = self._view(t, None)
            if status is not None and view is not None:
                self._plan_one(t, status, view, plan)
        self._execute(plan)

    def poll(self) -> None:
        """One ``squeue`` listing of every job, applied to the queue; nodes when due.

        Raises SlurmError (after reporting it) when Slurm does not answer.
        """
        started = time.monotonic()
        with self._lock:
            wanted = set(self._by_slurm)
        try:
            rows = self.cli.jobs(wanted)
            if started - self._nodes_at >= self.config.node_interval or not self.nodes.names():
                self.nodes.refresh(self.cli.nodes())
                self._nodes_at = started
        except SlurmError as exc:
            self._set_status(f"Slurm does not answer: {exc.text}")
            raise
        self._set_status("up")
        self.polls += 1
        self.cli.keep_spare()
        if self._schedd is not None:
            if self._interrupted:
                self._reconcile()
            if self._orphans:
                self._adopt_orphans()
            self._apply(rows, started)

    def _apply(self, rows: list[JobRow], listed_at: float) -> None:
        with self._lock:
            tracked = list(self._jobs.values())
        if not tracked:
            if self._comp is not None and not self._comp.positioned:
                # no job to wait for: what the log holds now is nobody's, and
                # once placed at its end it can be watched (see _pause)
                self._comp.read((), time.time())
            return
        schedd = self._schedd
        statuses: dict[str, int] = {}
        with schedd.lock:
            for t in tracked:
                job = schedd.job(t.job_id)
                if job is None:
                    self._untrack(t)
                else:
                    statuses[t.job_id] = job.status
        by_id = {row.slurm_id: row for row in rows}
        self._read_records(tracked, by_id)
        plan = _Plan()
        for t in tracked:
            status = statuses.get(t.job_id)
            if t.final and status == JobStatus.IDLE:
                self._orphans = True       # requeued by policy after its Slurm job ended
            if status is None or t.final or t.since >= listed_at or t.touched >= listed_at:
                continue
            view = self._view(t, by_id.get(t.slurm_id))
            if view is None or self._awaiting(t, view):
                continue
            self._plan_one(t, status, view, plan)
        self._execute(plan)

    def _read_records(self, tracked: list[_Tracked], by_id: Mapping[str, JobRow]) -> None:
        """Read the completion log when a job needs its record (ended, or gone)."""
        if self._comp is None:
            return
        needed = [t for t in tracked if not t.final and t.slurm_id not in self._records and (
            t.slurm_id not in by_id or job_kind(by_id[t.slurm_id].state, "") in ("done", "ended"))]
        if needed:
            since = None
            if not self._comp.positioned:   # the oldest job we wait for was queued then
                with self._schedd.lock:
                    since = min(self._qdate(t.job_id) for t in tracked)
            with self._lock:
                wanted = set(self._by_slurm)
            self._records.update(self._comp.read(wanted, since))

    def _view(self, t: _Tracked, row: JobRow | None) -> _View | None:
        record = self._records.get(t.slurm_id)
        if row is None:
            if record is None:
                t.missing += 1
                if t.missing < _MISSING_POLLS:
                    return None
                return _View("vanished", "", "", None, None, "")
            return _View(job_kind(record.state, ""), record.state, "", record.start,
                         record.end, record.nodes, record)
        t.missing = 0
        return _View(job_kind(row.state, row.reason), row.state, row.reason, row.start,
                     row.end, row.nodes, record)

    @staticmethod
    def _awaiting(t: _Tracked, view: _View) -> bool:
        """True while Slurm has not yet carried out our last control on *t*."""
        if not t.expect:
            return False
        if view.kind in t.expect:
            t.expect = frozenset()
            return False
        if time.monotonic() < t.expect_until:
            return True
        log.warning("Slurm job %s (job %s) is still %s after our control: taking that as is",
                    t.slurm_id, t.job_id, view.state)
        t.expect = frozenset()
        return False

    def _plan_one(self, t: _Tracked, status: int, view: _View, plan: _Plan) -> None:
        """The steps that bring our job from *status* to what Slurm says."""
        kind, job_id = view.kind, t.job_id
        node = view.node or next(iter(self.nodes.names()), "")
        if kind in ("running", "suspended"):
            t.run_start = t.run_start or view.start or time.time()
        elif kind in ("idle", "held") and t.run_start is not None:
            # the run ended without the job ending: requeued, or held by requeuehold
            # (the hold is recorded first, so the schedd takes this as a run ended
            # after a hold)
            if status in _ACTIVE and kind == "idle":
                plan.exits.append(ExitResult(job_id, t.run_start, time.time(),
                                             error=f"requeued by Slurm ({view.reason})"))
            elif status in _ACTIVE or status == JobStatus.HELD:
                plan.exits.append(ExitResult(job_id, t.run_start, time.time(), killed=True))
            t.run_start = None
        if status == JobStatus.REMOVED:
            if kind not in ("idle", "held", "running", "suspended"):
                plan.exits.append(self._killed(t, view))
                t.final = True
            return
        if kind in ("running", "suspended", "done"):
            if kind == "done" and view.record is None and view.state != "COMPLETED":
                t.waited += 1
                if t.waited < _RECORD_POLLS:
                    return          # its exit code is not in the completion log yet
            if status == JobStatus.HELD:
                plan.release.append((job_id, f"released in Slurm ({view.state})"))
            if status in (JobStatus.IDLE, JobStatus.HELD):
                plan.starts.append((job_id, node))
            if kind == "suspended" and status != JobStatus.SUSPENDED:
                plan.acts.append(("suspend", job_id, "suspended in Slurm"))
            elif kind == "running" and status == JobStatus.SUSPENDED:
                plan.acts.append(("continue", job_id, "resumed in Slurm"))
            elif kind == "done":
                plan.exits.append(self._exited(t, view))
                t.final = True
            return
        if kind == "idle":
            if status == JobStatus.HELD:
                plan.release.append((job_id, "released in Slurm"))
            return
        if kind == "held":
            if status != JobStatus.HELD:
                plan.acts.append(("hold", job_id, f"held in Slurm ({view.reason or view.state})"))
            return
        # cancelled, ended abnormally, or vanished: the job is removed, with the reason
        if kind == "cancelled":
            reason = f"Slurm job {t.slurm_id} was cancelled outside the agent (scancel)"
        elif kind == "vanished":
            reason = (f"Slurm has no record of Slurm job {t.slurm_id} (purged, or the "
                      "controller lost its state)")
        else:
            reason = f"Slurm ended Slurm job {t.slurm_id}: {view.state}"
        plan.acts.append(("remove", job_id, reason))
        if status in _ACTIVE:
            plan.exits.append(self._killed(t, view))
        t.final = True

    @staticmethod
    def _killed(t: _Tracked, view: _View) -> ExitResult:
        end = view.end or time.time()
        return ExitResult(t.job_id, view.start or end, end, killed=True)

    @staticmethod
    def _exited(t: _Tracked, view: _View) -> ExitResult:
        end = view.end or time.time()
        start = view.start or end
        record = view.record
        if record is not None and record.signal:
            return ExitResult(t.job_id, start, end, signal=record.signal)
        if record is not None:
            code = record.exit_code
        elif view.state == "COMPLETED":
            code = 0
        else:
            log.warning("Slurm job %s (job %s) %s with no completion record: exit code 1 "
                        "assumed", t.slurm_id, t.job_id, view.state)
            code = 1
        return ExitResult(t.job_id, start, end, exit_code=code)

    def _execute(self, plan: _Plan) -> None:
        """Apply a poll's plan through the schedd, marked as observed."""
        schedd = self._schedd
        self._observing.on = True
        try:
            self._act_grouped("release", plan.release)
            if plan.starts:
                with schedd.lock:
                    matches = [(schedd.job(job_id), node) for job_id, node in plan.starts]
                    schedd.start_matches([(job, node) for job, node in matches
                                          if job is not None])
            by_action: dict[str, list[tuple[str, str]]] = {}
            for action, job_id, reason in plan.acts:
                by_action.setdefault(action, []).append((job_id, reason))
            for action, items in by_action.items():
                self._act_grouped(action, items)
            if plan.exits:
                callback = self._callback or schedd.on_exits
                callback(plan.exits)
        finally:
            self._observing.on = False

    def _act_grouped(self, action: str, items: list[tuple[str, str]]) -> None:
        """One schedd Act per distinct reason."""
        by_reason: dict[str, list[str]] = {}
        for job_id, reason in items:
            by_reason.setdefault(reason, []).append(job_id)
        for reason, ids in by_reason.items():
            totals = self._schedd.act(action, self._caller, ids=ids, reason=reason)
            log.info("Slurm: %s %d job(s) (%s): %s", action, totals["TotalSuccess"],
                     ", ".join(ids[:5]) + ("..." if len(ids) > 5 else ""), reason)

    # --- slots: Slurm's nodes --------------------------------------------

    def slots(self) -> list[SlotView]:
        """Slurm's nodes; never free to our negotiator (Slurm places jobs)."""
        return self.nodes.slots()

    def slot_names(self) -> list[str]:
        return self.nodes.names()

    def slot_values(self, name: str) -> dict[str, Any] | None:
        return self.nodes.values(name)
