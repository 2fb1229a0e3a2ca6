"""The schedd: the job queue, its state machine, policy and statistics.

Every change goes the same way: compute the jobs' new attributes, write
them in **one** store transaction, and only after the commit apply them in
memory, tell the backend (kill, suspend, ...) and the agent's sink (object
changed, events).  A method therefore answers only once its change is
durable, and a failed commit (:class:`StoreError`) leaves memory and disk
as they were.  The scheduler's own transitions (a job started, a run ended)
are committed non-durably (see :meth:`Store.transaction`): they survive the
agent being killed, and a power loss at worst runs a job again.

One re-entrant lock guards the queue.  The backend reports run endings
from its own thread through :meth:`Schedd.on_exits`; the negotiator hands
matches to :meth:`Schedd.start_matches`; periodic policy runs on the
schedd's own housekeeping thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import classad

from ..binding import AgentSink, Caller, after_answer
from ..errors import (
    Forbidden,
    JobNotFound,
    JobStateError,
    ParameterInvalid,
    QmfError,
)
from .arguments import ArgumentError, parse_new_env, parse_old_env, split_new, split_old_args
from .backend import Backend, ExitResult, JobSpec, SelfScheduling
from .config import Config
from .jobs import (
    UNMATCHED_UNIVERSES,
    Cluster,
    Expr,
    Job,
    JobStatus,
    Universe,
    action_verdict,
    build_ad,
    canonical_name,
    now,
    parse_job_id,
    raw_from_classad,
    raw_from_json,
    raw_from_text,
    raw_to_json,
    raw_to_text,
)
from .objects import job_object
from .policy import has_periodic, is_true, on_exit_action, periodic_action
from .spooled import SPOOLED, SpooledJobs
from .store import Store
from .userlog import EventCode, UserLog

__all__ = ["Schedd", "ScheddConfig", "ActTotals"]

log = logging.getLogger(__name__)

#: Attributes nobody may change with SetAttribute/Edit (the queue's identity).
_PROTECTED = frozenset({"ClusterId", "ProcId", "GlobalJobId", "JobStatus", "MyType", "QDate"})
_ADMIN_ONLY = frozenset({"Owner"})
#: Attributes a Submit's ProcAds may not give one proc: they are the
#: cluster's (ids, submission time, owner, the status the submit queues in).
_CLUSTER_ONLY = frozenset({"clusterid", "procid", "globaljobid", "qdate", "owner", "jobstatus",
                           "mytype"})
_MAX_COUNT = 1_000_000


class SubmitInFlight(Protocol):
    """A Submit a self-scheduling backend has begun (its ``begin_submit(jobs)``).

    ``names``: each proc's attributes to commit now, before the backend's
    answer, so that a restart can find what the backend made of them.  Then
    the schedd calls exactly one of ``result()`` (each proc's attributes;
    raises, leaving nothing behind, if the backend refused) or ``cancel()``
    (the commit failed: withdraw the jobs).
    """

    names: list[dict[str, Any]]

    def result(self) -> list[dict[str, Any]]: ...

    def cancel(self) -> None: ...
_FETCH_MAX = 1 << 20
_STATUS_NAMES = {s.value: s.name.title().replace("_", "") for s in JobStatus}
_PAST = {"hold": "held", "release": "released", "remove": "removed",
         "suspend": "suspended", "continue": "continued"}
_TOTAL_KEYS = ("TotalSuccess", "TotalNotFound", "TotalPermissionDenied", "TotalAlreadyDone",
               "TotalBadStatus", "TotalError", "TotalJobAds", "TotalChangedAds")


@dataclass
class ScheddConfig:
    """The schedd's knobs (the Grid maps configuration names onto these)."""

    name: str = field(default_factory=socket.getfqdn)
    anonymous_owner: str = "nobody"
    max_jobs_running: int = 10_000
    periodic_interval: float = 60.0
    request_ttl: float = 7 * 86400.0
    #: where spooled jobs' files live; empty: ``spool`` beside the queue file
    spool_dir: str = ""
    #: finished jobs kept in the history (older ones, and their spool files, go)
    history_limit: int = 100_000

    @classmethod
    def from_config(cls, config: Config) -> ScheddConfig:
        local_dir = config.get("LOCAL_DIR")
        return cls(name=config.get("SCHEDD_NAME") or socket.getfqdn(),
                   spool_dir=os.path.join(local_dir, "spool") if local_dir else "",
                   anonymous_owner=config.get("ANONYMOUS_OWNER") or "nobody",
                   max_jobs_running=config.get_int("MAX_JOBS_RUNNING"),
                   periodic_interval=config.get_float("PERIODIC_EXPR_INTERVAL"))


@dataclass
class _StartPlan:
    """Jobs about to start: what to commit, then what to launch."""

    starting: list[tuple[Job, str | None, JobSpec]] = field(default_factory=list)
    bad: list[tuple[Job, str]] = field(default_factory=list)
    changes: dict[Job, dict[str, Any]] = field(default_factory=dict)
    first_waits: list[int] = field(default_factory=list)


class ActTotals(dict[str, int]):
    """Act's result map: HTCondor's totals, all present, zero by default."""

    def __init__(self) -> None:
        super().__init__({k: 0 for k in _TOTAL_KEYS})


class _Rate:
    """Events per second over a sliding minute (for *Rate statistics)."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self.marks: deque[tuple[float, int]] = deque()

    def add(self, n: int = 1) -> None:
        self.marks.append((time.monotonic(), n))

    def value(self) -> float:
        cutoff = time.monotonic() - self.window
        while self.marks and self.marks[0][0] < cutoff:
            self.marks.popleft()
        return sum(n for _, n in self.marks) / self.window


class _Counts:
    """Queued jobs by status, overall, per owner and per submission, kept
    as the queue moves.

    A submission's entries last only while it has queued jobs: every Submit
    makes a submission, so an agent that queues and removes jobs all day
    (issue #8's soak) must not keep one entry per submission it ever saw.
    Finished jobs are counted from the store's history when asked
    (:meth:`Store.finished_of`), not kept here.
    """

    def __init__(self) -> None:
        self.total: dict[int, int] = {}
        self.by_owner: dict[str, dict[int, int]] = {}
        self.by_submission: dict[tuple[str, str], dict[int, int]] = {}
        self.submission_qdate: dict[tuple[str, str], int] = {}

    def move(self, owner: str, submission: str, old: int | None, new: int | None,
             n: int = 1) -> None:
        key = (owner, submission)
        queued = self.by_submission.setdefault(key, {})
        for table in (self.total, self.by_owner.setdefault(owner, {}), queued):
            if old is not None:
                table[old] = table.get(old, 0) - n
            if new is not None:
                table[new] = table.get(new, 0) + n
        if not any(queued.values()):
            del self.by_submission[key]
            self.submission_qdate.pop(key, None)


class _EventOrder:
    """The schedd's sink: its events go out in the order the queue raised
    them (under the schedd's lock), but some may be queued to go out
    later -- a Submit's once its answer is sent.

    Why: publishing an event (encode it, hand it to the transport, ~0.9 ms
    under load) delayed every Submit's answer, which does not wait for
    it.  One queue for all events keeps their order: whoever publishes
    next (the Submit after its answer, or another thread's event under
    the lock) sends the held ones first, so a console never sees a job's
    JobStatusChanged before its JobSubmitted.  Object changes pass straight
    through: they are only marked, and published on the agent's tick.
    """

    def __init__(self, target: AgentSink) -> None:
        self.target = target
        self._queue: deque[tuple[str, Mapping[str, Any], int]] = deque()
        self._sending = threading.Lock()

    def changed(self, class_name: str, key: str) -> None:
        self.target.changed(class_name, key)

    def deleted(self, class_name: str, key: str, state: Any) -> None:
        self.target.deleted(class_name, key, state)

    def event(self, name: str, values: Mapping[str, Any], severity: int = 6) -> None:
        self.queue(name, values, severity)
        self.flush()

    def queue(self, name: str, values: Mapping[str, Any], severity: int = 6) -> None:
        """Queue an event for the next :meth:`flush` (call under the
        schedd's lock: that is what orders the queue)."""
        self._queue.append((name, values, severity))

    def flush(self) -> None:
        """Publish every queued event, oldest first."""
        with self._sending:
            while self._queue:
                name, values, severity = self._queue.popleft()
                self.target.event(name, values, severity)


class Schedd:
    """The job queue and everything that changes it."""

    name = "schedd"

    def __init__(self, store: Store, sink: AgentSink, backend: Backend,
                 config: ScheddConfig | None = None) -> None:
        self.config = config or ScheddConfig()
        self.store = store
        self.sink = _EventOrder(sink)
        self.backend = backend
        self.lock = threading.RLock()
        self.clusters: dict[int, Cluster] = {}
        #: idle jobs to match, in submission order (the negotiator's input)
        self.idle: dict[Job, None] = {}
        #: idle local/scheduler-universe jobs: they start without a slot
        self.idle_local: dict[Job, None] = {}
        self.active: dict[str, Job] = {}   # running or suspended, by id
        self.counts = _Counts()
        self.on_work: Callable[[], None] = lambda: None
        self.userlog = UserLog(self.config.name)
        self.spooled = SpooledJobs(self.config.spool_dir or
                                   os.path.join(os.path.dirname(store.path), "spool"))
        self.epoch = store.next_epoch()
        self.birthdate = int(store.meta("birthdate", 0)) or now()
        self.start_time = now()
        self._next_cluster = int(store.meta("next_cluster", 1))
        self.jobs_submitted = self.jobs_started = self.jobs_completed = self.jobs_exited = 0
        self._rates = {"submit": _Rate(), "start": _Rate(), "complete": _Rate()}
        self._time_to_start = [0.0, 0]
        self._running_time = [0.0, 0]
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: False once stopped: runs ending during a shutdown start no others
        self.starting_jobs = True
        #: False while the matchmaker is off (set by the negotiator): no job
        #: starts then, not even on a freed claim -- a peaceful shutdown
        #: stops the negotiator and waits for running jobs to end
        self.matchmaking = True
        backend.set_exit_callback(self.on_exits)
        self._recover()

    # --- recovery ----------------------------------------------------------

    def _recover(self) -> None:
        t0 = time.monotonic()
        data = self.store.load()
        for cid, attrs in data.clusters.items():
            self.clusters[cid] = Cluster(cid, raw_from_json(attrs), self.config.name)
        requeue: list[Job] = []
        removed: list[Job] = []
        tally: dict[tuple[str, str, int], int] = {}
        for cid, pid, own in data.procs:
            cluster = self.clusters.get(cid)
            if cluster is None:
                log.warning("job %d.%d has no cluster ad; dropped", cid, pid)
                continue
            job = Job(cluster, pid, raw_from_json(own) if own else None)
            cluster.procs[pid] = job
            status = job.status
            if status in (JobStatus.RUNNING, JobStatus.SUSPENDED, JobStatus.TRANSFERRING_OUTPUT):
                requeue.append(job)
            elif status == JobStatus.REMOVED:
                removed.append(job)
            elif status == JobStatus.IDLE:
                self._mark_idle(job)
            key = (job.owner, self.submission_name(job), status)
            tally[key] = tally.get(key, 0) + 1
        for (owner, sub, status), n in tally.items():
            self.counts.move(owner, sub, None, status, n)
        ts = now()
        changes = {job: {"JobStatus": int(JobStatus.IDLE), "LastJobStatus": job.status,
                         "EnteredCurrentStatus": ts} for job in requeue}
        with self.store.transaction() as txn:
            if self.birthdate and not self.store.meta("birthdate"):
                txn.set_meta("birthdate", self.birthdate)
            self._write(txn, changes, [(job, {}) for job in removed])
        self._apply(changes, "the agent restarted while the job ran")
        for job in removed:
            self._forget(job)
        log.info("recovered %d jobs in %d clusters (%d requeued) in %.2fs, epoch %d",
                 len(data.procs), len(data.clusters), len(requeue), time.monotonic() - t0,
                 self.epoch)

    # --- bookkeeping -------------------------------------------------------

    def _mark_idle(self, job: Job) -> None:
        if job.get("JobUniverse") in UNMATCHED_UNIVERSES:
            self.idle_local[job] = None
        else:
            self.idle[job] = None

    def _unmark_idle(self, job: Job) -> None:
        self.idle.pop(job, None)
        self.idle_local.pop(job, None)

    def _count(self, job: Job, old: int | None, new: int | None) -> None:
        sub = job.get("Submission", "")
        self.counts.move(job.owner, sub if type(sub) is str else "", old, new)

    def _write(self, txn: Any, changes: Mapping[Job, Mapping[str, Any]],
               finished: Iterable[tuple[Job, Mapping[str, Any]]]) -> None:
        """Write changed procs and finished (history-bound) jobs in *txn*.

        A cluster whose every proc leaves in this batch is deleted with
        them; counting the leavers per cluster keeps a 20,000-proc removal
        linear (the procs stay in memory until the commit is applied)."""
        txn.put_procs((job.cluster.id, job.proc, raw_to_json(job.with_changes(ch)))
                      for job, ch in changes.items())
        leaving: dict[int, int] = {}
        for job, ch in finished:
            self._write_finished(txn, job, ch)
            leaving[job.cluster.id] = leaving.get(job.cluster.id, 0) + 1
        for cid, n in leaving.items():
            cluster = self.clusters.get(cid)
            if cluster is None or n >= len(cluster.procs):
                txn.delete_cluster(cid)

    def _write_finished(self, txn: Any, job: Job, changes: Mapping[str, Any]) -> None:
        flat = job.flat()
        flat.update(changes)
        sub = flat.get("Submission", "")
        txn.add_history(job.cluster.id, job.proc, job.owner, sub if type(sub) is str else "",
                        int(flat.get("JobStatus", 0)), int(flat.get("CompletionDate", 0) or now()),
                        raw_to_json(flat))
        txn.delete_proc(job.cluster.id, job.proc)

    def _apply(self, changes: Mapping[Job, Mapping[str, Any]], reason: str) -> None:
        """Apply committed *changes* in memory; raise status events."""
        for job, ch in changes.items():
            old = job.status
            job.own = job.with_changes(ch)
            new = job.status
            if old != new:
                self._status_moved(job, old, new, reason)
            self.sink.changed("job", job.id)

    def _status_moved(self, job: Job, old: int, new: int, reason: str) -> None:
        self._count(job, old, new)
        if old == JobStatus.IDLE:
            self._unmark_idle(job)
        if new == JobStatus.IDLE:
            self._mark_idle(job)
        if new in (JobStatus.RUNNING, JobStatus.SUSPENDED):
            self.active[job.id] = job
        elif old in (JobStatus.RUNNING, JobStatus.SUSPENDED):
            self.active.pop(job.id, None)
        owner = job.owner
        self._log_status(job, old, new, reason)
        self.sink.event("JobStatusChanged", {"Id": job.id, "Owner": owner, "From": old,
                                             "To": new, "Reason": reason})
        if new == JobStatus.HELD:
            self.sink.event("JobHeld", {"Id": job.id, "Owner": owner, "Reason": reason,
                                        "Code": int(job.get("HoldReasonCode", 0) or 0)})
        elif old == JobStatus.HELD and new == JobStatus.IDLE:
            self.sink.event("JobReleased", {"Id": job.id, "Owner": owner, "Reason": reason})
        self.sink.changed("submitter", owner)
        self.sink.changed("submission", self.submission_key(job))
        self.sink.changed("scheduler", self.config.name)

    def _log_event(self, job: Job, code: int, text: str, details: tuple[str, ...] = ()) -> None:
        """Append an event to the job's UserLog, if it has one."""
        path = job.get("UserLog")
        if type(path) is not str or not path:
            return
        iwd = job.get("Iwd", "/")
        self.userlog.write(os.path.join(iwd if type(iwd) is str else "/", path), job.owner,
                           job.cluster.id, job.proc, code, text, details)

    def _log_status(self, job: Job, old: int, new: int, reason: str) -> None:
        if new == JobStatus.RUNNING:
            if old == JobStatus.SUSPENDED:
                self._log_event(job, EventCode.UNSUSPENDED, "Job was unsuspended.")
            else:
                self._log_event(job, EventCode.EXECUTE,
                                f"Job executing on host: {job.get('RemoteHost', '')}")
        elif new == JobStatus.SUSPENDED:
            self._log_event(job, EventCode.SUSPENDED, "Job was suspended.",
                            ("Number of processes actually suspended: 1",))
        elif new == JobStatus.HELD:
            self._log_event(job, EventCode.HELD, "Job was held.", (
                reason, f"Code {int(job.get('HoldReasonCode', 0) or 0)} Subcode 0"))
        elif new == JobStatus.IDLE and old == JobStatus.HELD:
            self._log_event(job, EventCode.RELEASED, "Job was released.", (reason,))
        elif new == JobStatus.IDLE:
            self._log_event(job, EventCode.EVICTED, "Job was evicted.",
                            ("(0) Job was not checkpointed.",))
        elif new == JobStatus.COMPLETED:
            if job.get("ExitBySignal"):
                how = f"(0) Abnormal termination (signal {job.get('ExitSignal', 0)})"
            else:
                how = f"(1) Normal termination (return value {job.get('ExitCode', 0)})"
            self._log_event(job, EventCode.TERMINATED, "Job terminated.", (how,))
        elif new == JobStatus.REMOVED:
            self._log_event(job, EventCode.ABORTED, "Job was aborted.", (reason,))

    def _finish(self, job: Job, changes: Mapping[str, Any], reason: str) -> None:
        """Apply a committed move of *job* to history."""
        old = job.status
        job.own = job.with_changes(changes)
        new = job.status
        self._status_moved(job, old, new, reason)
        owner = job.owner
        if new == JobStatus.COMPLETED:
            self.sink.event("JobCompleted", {
                "Id": job.id, "Owner": owner,
                "ExitCode": int(job.get("ExitCode", 0) or 0),
                "ExitBySignal": bool(job.get("ExitBySignal", False)),
                "RemoteWallClockTime": float(job.get("RemoteWallClockTime", 0.0) or 0.0)})
        elif new == JobStatus.REMOVED:
            self.sink.event("JobRemoved", {"Id": job.id, "Owner": owner, "Reason": reason})
        self._forget(job)

    def _forget(self, job: Job) -> None:
        """Take a job that went to history out of memory (its counts go to
        the history's, which the store keeps)."""
        state = job_object(job, self.config.name)
        self._unmark_idle(job)
        self.active.pop(job.id, None)
        job.cluster.procs.pop(job.proc, None)
        if not job.cluster.procs:
            self.clusters.pop(job.cluster.id, None)
        owner, sub = job.owner, self.submission_name(job)
        self.counts.move(owner, sub, job.status, None)
        state.delete_ts = time.time_ns()
        self.sink.deleted("job", job.id, state)

    # --- lookups -----------------------------------------------------------

    def job(self, job_id: str) -> Job | None:
        try:
            cid, pid = parse_job_id(job_id)
        except ParameterInvalid:
            return None
        cluster = self.clusters.get(cid)
        return cluster.procs.get(pid) if cluster is not None else None

    def _job_or_raise(self, job_id: Any) -> Job:
        cid, pid = parse_job_id(job_id)
        with self.lock:
            cluster = self.clusters.get(cid)
            job = cluster.procs.get(pid) if cluster is not None else None
        if job is None:
            raise JobNotFound(f"job {job_id} is not in the queue")
        return job

    def jobs(self) -> Iterable[Job]:
        with self.lock:
            return [job for c in list(self.clusters.values()) for job in list(c.procs.values())]

    def may_act(self, job: Job, caller: Caller) -> bool:
        """A non-admin acts only on their own jobs; anonymous on the anonymous owner's."""
        if caller.admin:
            return True
        owner = job.owner
        if caller.identity is None:
            return owner == self.config.anonymous_owner
        return owner == caller.identity

    @staticmethod
    def submission_name(job: Job) -> str:
        sub = job.get("Submission", "")
        return sub if type(sub) is str else ""

    def submission_key(self, job: Job) -> str:
        return f"{job.owner}#{self.submission_name(job)}"

    # --- submit ------------------------------------------------------------

    def submit(self, ad_map: Mapping[str, Any], count: int, caller: Caller,
               proc_ads: Sequence[Any] | None = None) -> tuple[list[str], str]:
        """Queue *count* procs of one new cluster; returns (ids, wire encoding).

        *proc_ads*, when given, has one wire map per proc whose attributes
        override the cluster ad *ad_map* for that proc (what a submit
        description's ``$(Process)`` or queue items make differ): the whole
        cluster is still one transaction, acknowledged once it is durable.
        With ``caller.request_id`` a retry of the same Submit is answered with
        the ids of the first one instead of queueing again.
        """
        if not isinstance(ad_map, Mapping):
            raise ParameterInvalid("Ad must be a map of attribute names to values")
        if type(count) is not int or not 1 <= count <= _MAX_COUNT:
            raise ParameterInvalid(f"Count must be an integer from 1 to {_MAX_COUNT}, got {count!r}")
        if proc_ads is not None and len(proc_ads) != count:
            raise ParameterInvalid(f"ProcAds has {len(proc_ads)} ads but Count is {count}: "
                                   "give one ad per proc")
        earlier = self._answered(caller)
        if earlier is not None:
            return earlier
        try:
            ad, encoding = classad.decode_job_ad(dict(ad_map))
        except ValueError as exc:
            raise ParameterInvalid(f"Ad: {exc}") from None
        attrs = raw_from_classad(ad)
        self._owner_for(attrs, caller)
        self._check_required(attrs)
        given: list[dict[str, Any] | None] = (
            _proc_overrides(proc_ads) if proc_ads is not None else [None] * count)
        if self.spooled.wants_spool(attrs):
            attrs[SPOOLED] = True
        with self.lock:
            # again under the lock: a retry that came while the first was
            # still committing (its answer late, not lost) waited here for it
            earlier = self._answered(caller)
            if earlier is not None:
                return earlier
            cid = self._next_cluster
            self._fill_defaults(attrs, cid)
            cluster = Cluster(cid, attrs, self.config.name)
            ids = [f"{cid}.{p}" for p in range(count)]
            own, pending = self._submit_to_backend(cluster, given)
            try:
                with self.store.transaction() as txn:
                    txn.put_cluster(cid, raw_to_json(attrs))
                    txn.put_procs((cid, p, raw_to_json(mine) if mine else None)
                                  for p, mine in enumerate(own))
                    txn.set_meta("next_cluster", cid + 1)
                    if caller.request_id:
                        txn.remember_request(caller.request_id,
                                             {"ids": ids, "encoding": encoding}, now())
            except BaseException:
                if pending is not None:
                    pending.cancel()
                elif getattr(self.backend, "schedules_itself", False):
                    for p in range(count):
                        self.backend.kill(f"{cid}.{p}")   # not queued here: not run there
                raise
            if pending is not None:
                own = self._finish_backend_submit(cid, own, pending, caller)
            self._next_cluster = cid + 1
            self.clusters[cid] = cluster
            status = int(attrs["JobStatus"])
            for p in range(count):
                job = Job(cluster, p, own[p])
                cluster.procs[p] = job
                if status == JobStatus.IDLE:
                    self._mark_idle(job)
            owner = attrs["Owner"]
            sub = attrs["Submission"] if type(attrs["Submission"]) is str else ""
            self.counts.move(owner, sub, None, status, count)
            self.counts.submission_qdate.setdefault((owner, sub), int(attrs["QDate"]))
            self.jobs_submitted += count
            self._rates["submit"].add(count)
            try:
                for job in cluster.procs.values():
                    self._log_event(job, EventCode.SUBMIT,
                                    f"Job submitted from host: {self.config.name}")
                    self.sink.changed("job", job.id)
                    cmd = job.get("Cmd")
                    self.sink.queue("JobSubmitted", {
                        "Id": job.id, "Owner": owner,
                        "Cmd": cmd if type(cmd) is str else raw_to_text(cmd)})
                self.sink.changed("submitter", owner)
                self.sink.changed("submission", f"{owner}#{sub}")
                self.sink.changed("scheduler", self.config.name)
            except BaseException:
                self.sink.flush()
                raise
        if not after_answer(self.sink.flush):
            self.sink.flush()
        log.info("submitted cluster %d (%d procs) for %s", cid, count, owner)
        self.on_work()
        return ids, encoding

    def _answered(self, caller: Caller) -> tuple[list[str], str] | None:
        """The ids and encoding of the Submit *caller*'s request id already
        queued (a console's retry after a lost answer), or None."""
        if not caller.request_id:
            return None
        earlier = self.store.request(caller.request_id)
        if earlier is None:
            return None
        log.info("Submit %s retried: answering with its ids", caller.request_id)
        return list(earlier["ids"]), str(earlier["encoding"])

    def _submit_to_backend(self, cluster: Cluster, given: list[dict[str, Any] | None],
                           ) -> tuple[list[dict[str, Any] | None], SubmitInFlight | None]:
        """Each proc's own attributes: those the submit *given*, plus, from a
        backend that schedules itself, what it adds; and the backend's
        submission still under way, if it has one.

        Such a backend (Slurm) takes the jobs at Submit, before our commit,
        so that its refusal fails the Submit with nothing queued here and
        every queued job carries the backend's id for it.  One that offers
        ``begin_submit`` (:class:`SubmitInFlight`) works while we commit;
        :meth:`_finish_backend_submit` collects its answer.
        """
        if not getattr(self.backend, "schedules_itself", False):
            return given, None
        backend = cast(SelfScheduling, self.backend)
        jobs = []
        for p, mine in enumerate(given):
            job = Job(cluster, p, mine)
            try:
                jobs.append((self.spec(job), job.ad()))
            except ArgumentError as exc:
                raise ParameterInvalid(f"job {job.id}: {exc}") from None
        begin = getattr(backend, "begin_submit", None)
        pending: SubmitInFlight | None = None
        if begin is not None:
            pending = cast(SubmitInFlight, begin(jobs))
            added = pending.names
        else:
            added = list(backend.submit(jobs))
        return _merge_own(given, added), pending

    def _finish_backend_submit(self, cid: int, own: list[dict[str, Any] | None],
                               pending: SubmitInFlight,
                               caller: Caller) -> list[dict[str, Any] | None]:
        """Wait for the backend's answer to a Submit whose procs are committed.

        Its attributes (the Slurm job ids) are committed without an fsync:
        that survives the agent being killed, which is what an answered
        Submit must; after a power loss the backend finds its job again by
        the attributes committed durably (the Slurm job name).  A refusal
        takes the procs back out of the store (durably) and fails the Submit.
        """
        try:
            added = pending.result()
        except BaseException:
            with self.store.transaction() as txn:
                txn.set_meta("next_cluster", cid)     # a refused Submit uses no cluster id
                txn.delete_cluster(cid)
                for p in range(len(own)):
                    txn.delete_proc(cid, p)
                if caller.request_id:
                    txn.execute("DELETE FROM requests WHERE id = ?", (caller.request_id,))
            raise
        own = _merge_own(own, added)
        try:
            with self.store.transaction(durable=False) as txn:
                txn.put_procs((cid, p, raw_to_json(mine) if mine else None)
                              for p, mine in enumerate(own))
        except BaseException:
            for p in range(len(own)):
                self.backend.kill(f"{cid}.{p}")
            raise
        return own

    def _owner_for(self, attrs: dict[str, Any], caller: Caller) -> None:
        given = attrs.get("Owner")
        if caller.identity is not None and not caller.admin:
            if given is not None and given != caller.identity:
                log.info("Submit by %s named Owner %r: using the authenticated identity",
                         caller.identity, given)
            attrs["Owner"] = caller.identity
        elif caller.identity is None and not caller.admin:
            if given is not None and given != self.config.anonymous_owner:
                raise Forbidden(
                    f"an anonymous caller may submit only as Owner "
                    f"{self.config.anonymous_owner!r}, not {given!r}")
        elif given is None and caller.identity is not None:
            attrs["Owner"] = caller.identity

    @staticmethod
    def _check_required(attrs: dict[str, Any]) -> None:
        missing = [n for n in ("Cmd", "Requirements", "JobUniverse", "Iwd", "Owner")
                   if n not in attrs]
        if missing:
            raise ParameterInvalid("job ad is missing required attribute(s): " + ", ".join(missing))
        if type(attrs["Owner"]) is not str or not attrs["Owner"]:
            raise ParameterInvalid(f"job attribute Owner must be a non-empty string, "
                                   f"got {raw_to_text(attrs['Owner'])}")
        _check_paths(attrs, "job attribute")
        universe = attrs["JobUniverse"]
        if type(universe) is not int or universe not in {u.value for u in Universe}:
            raise ParameterInvalid(
                f"job attribute JobUniverse must be one of 5 (vanilla), 7 (scheduler), "
                f"12 (local), got {raw_to_text(universe)}")
        if universe == Universe.GRID:
            raise ParameterInvalid("JobUniverse 9 (grid) is not run by this scheduler")
        req = attrs["Requirements"]
        if type(req) not in (bool, Expr):
            raise ParameterInvalid(
                f"job attribute Requirements must be an expression, got {raw_to_text(req)}")
        status = attrs.get("JobStatus", 1)
        if status not in (JobStatus.IDLE, JobStatus.HELD):
            raise ParameterInvalid(f"a job may be submitted Idle (1) or Held (5), not {status!r}")

    def _fill_defaults(self, attrs: dict[str, Any], cid: int) -> None:
        """HTCondor's schedd defaults for what the submitter did not give."""
        ts = now()
        for name in ("ClusterId", "ProcId", "GlobalJobId", "CustomId"):
            attrs.pop(name, None)
        defaults: dict[str, Any] = {
            "MyType": "Job", "TargetType": "Machine",
            "QDate": ts, "JobStatus": int(JobStatus.IDLE), "EnteredCurrentStatus": ts,
            "JobPrio": 0, "RemoteUserCpu": 0.0, "RemoteSysCpu": 0.0, "ImageSize": 0,
            "RemoteWallClockTime": 0.0, "MaxHosts": 1, "MinHosts": 1, "NumJobStarts": 0,
            "NumRestarts": 0, "CompletionDate": 0, "JobRunCount": 0,
            "In": "/dev/null", "Out": "/dev/null", "Err": "/dev/null",
            "RequestCpus": 1, "OnExitHold": False, "OnExitRemove": True,
            "PeriodicHold": False, "PeriodicRelease": False, "PeriodicRemove": False,
            "LeaveJobInQueue": False, "Rank": 0.0,
            "Submission": f"{self.config.name}#{cid}",
        }
        if "Args" not in attrs and "Arguments" not in attrs:
            defaults["Arguments"] = ""
        if attrs.get("JobStatus") == JobStatus.HELD:
            defaults["HoldReason"] = "submitted on hold"
            defaults["HoldReasonCode"] = 15
        for name, value in defaults.items():
            attrs.setdefault(name, value)

    # --- actions -----------------------------------------------------------

    def act(self, action: str, caller: Caller, *, ids: Iterable[Any] | None = None,
            constraint: str | None = None, reason: str = "") -> ActTotals:
        """Hold/Release/Remove/Suspend/Continue jobs by ids or constraint, with totals."""
        action = str(action).strip().lower()
        if action not in ("hold", "release", "remove", "suspend", "continue"):
            raise ParameterInvalid(
                f"Action must be Hold, Release, Remove, Suspend or Continue, got {action!r}")
        totals = ActTotals()
        with self.lock:
            selected, not_found = self._select(ids, constraint)
            totals["TotalNotFound"] = not_found
            totals["TotalJobAds"] = len(selected) + not_found
            ok: list[Job] = []
            for job in selected:
                if not self.may_act(job, caller):
                    totals["TotalPermissionDenied"] += 1
                    continue
                verdict = action_verdict(action, job.status)
                if verdict == "ok":
                    ok.append(job)
                elif verdict == "already":
                    totals["TotalAlreadyDone"] += 1
                else:
                    totals["TotalBadStatus"] += 1
            if ok:
                self._do(action, ok, reason or f"via QMF by {caller.identity or 'anonymous'}")
            totals["TotalSuccess"] = len(ok)
            totals["TotalChangedAds"] = len(ok)
        return totals

    def act_one(self, action: str, job_id: Any, reason: str, caller: Caller) -> None:
        """The single-job spelling: raises instead of counting."""
        with self.lock:
            job = self._job_or_raise(job_id)
            if not self.may_act(job, caller):
                raise Forbidden(f"{caller.identity or 'anonymous'} may not {action} job "
                                f"{job.id} owned by {job.owner}")
            verdict = action_verdict(action, job.status)
            if verdict != "ok":
                state = _STATUS_NAMES.get(job.status, str(job.status))
                if verdict == "already":
                    raise JobStateError(f"job {job.id} is already {state}")
                raise JobStateError(f"job {job.id} is {state}: it cannot be {_PAST[action]}")
            self._do(action, [job], reason or f"via QMF by {caller.identity or 'anonymous'}")

    def _select(self, ids: Iterable[Any] | None, constraint: str | None) -> tuple[list[Job], int]:
        if ids is not None and constraint:
            raise ParameterInvalid("give either Jobs (ids) or Constraint, not both")
        if ids is not None:
            if isinstance(ids, (str, bytes)):
                ids = [ids]
            found, missing = [], 0
            for job_id in ids:
                cid, pid = parse_job_id(job_id)
                cluster = self.clusters.get(cid)
                job = cluster.procs.get(pid) if cluster is not None else None
                if job is None:
                    missing += 1
                else:
                    found.append(job)
            return found, missing
        if not constraint:
            raise ParameterInvalid("give Jobs (a list of ids) or a Constraint")
        expr = _parse_constraint(constraint)
        return [job for job in self.jobs() if _matches(expr, job)], 0

    def _do(self, action: str, jobs: list[Job], reason: str, hold_code: int = 1) -> None:
        """Commit *action* on *jobs* (all allowed), then act on the backend."""
        ts = now()
        changes: dict[Job, dict[str, Any]] = {}
        finished: list[tuple[Job, dict[str, Any]]] = []
        for job in jobs:
            status = job.status
            ch: dict[str, Any] = {"LastJobStatus": status, "EnteredCurrentStatus": ts}
            if action == "hold":
                ch.update(JobStatus=int(JobStatus.HELD), HoldReason=reason,
                          HoldReasonCode=hold_code, HoldReasonSubCode=0)
            elif action == "release":
                ch.update(JobStatus=int(JobStatus.IDLE), ReleaseReason=reason,
                          LastHoldReason=job.get("HoldReason", ""))
            elif action == "suspend":
                ch.update(JobStatus=int(JobStatus.SUSPENDED))
            elif action == "continue":
                ch.update(JobStatus=int(JobStatus.RUNNING))
            elif action == "remove":
                ch.update(JobStatus=int(JobStatus.REMOVED), RemoveReason=reason)
                if status not in (JobStatus.RUNNING, JobStatus.SUSPENDED,
                                  JobStatus.TRANSFERRING_OUTPUT):
                    ch["CompletionDate"] = ts
                    finished.append((job, ch))
                    continue
            changes[job] = ch
        control = getattr(self.backend, "control", None)
        if control is not None:
            # a backend that schedules itself acts first: a refusal leaves the queue
            # unchanged; what it answers (a new id for a job it replaced) is committed too
            more = control(action, [(job.id, job.status) for job in jobs]) or {}
            for job, ch in [*changes.items(), *finished]:
                ch.update(more.get(job.id, {}))
        with self.store.transaction() as txn:
            self._write(txn, changes, finished)
        running = [job for job in changes if control is None
                   and job.status in (JobStatus.RUNNING, JobStatus.SUSPENDED)]
        self._apply(changes, reason)
        for job, ch in finished:
            self._finish(job, ch, reason)
        for job in running:
            if action in ("hold", "remove"):
                self.backend.kill(job.id)
            elif action == "suspend":
                self.backend.suspend(job.id)
            elif action == "continue":
                self.backend.resume(job.id)
        if action == "release":
            self.on_work()

    # --- attributes --------------------------------------------------------

    def set_attribute(self, job_id: Any, name: str, value: str, caller: Caller) -> None:
        with self.lock:
            job = self._job_or_raise(job_id)
            if not self.may_act(job, caller):
                raise Forbidden(f"{caller.identity or 'anonymous'} may not change job {job.id}")
            self._edit([job], name, value, caller)

    def edit(self, caller: Caller, name: str, value: str, *, ids: Iterable[Any] | None = None,
             constraint: str | None = None) -> int:
        """SetAttribute on many jobs; returns how many were changed.

        Jobs the caller may not change are skipped (not counted), as
        HTCondor's edit does with a constraint.
        """
        with self.lock:
            selected, _ = self._select(ids, constraint)
            allowed = [job for job in selected if self.may_act(job, caller)]
            if selected and not allowed:
                raise Forbidden(f"{caller.identity or 'anonymous'} may not change those jobs")
            return self._edit(allowed, name, value, caller)

    def _edit(self, jobs: list[Job], name: str, value: str, caller: Caller) -> int:
        if not isinstance(name, str) or not name.strip() or not name.replace("_", "a").isalnum():
            raise ParameterInvalid(f"Name {name!r} is not a ClassAd attribute name")
        canonical = canonical_name(name.strip())
        if canonical in _PROTECTED or (canonical in _ADMIN_ONLY and not caller.admin):
            raise ParameterInvalid(f"attribute {canonical} cannot be changed")
        if not isinstance(value, str):
            raise ParameterInvalid("Value must be ClassAd expression text (a string)")
        raw = raw_from_text(value)
        if not jobs:
            return 0
        changes = {job: {job.find_name(canonical): raw} for job in jobs}
        backend_edit = getattr(self.backend, "edit", None)
        if backend_edit is not None:
            more = backend_edit([(job.id, job.status) for job in jobs], canonical, raw) or {}
            for job, ch in changes.items():
                ch.update(more.get(job.id, {}))
        with self.store.transaction() as txn:
            self._write(txn, changes, [])
        self._apply(changes, f"{canonical} changed")
        for job in jobs:
            self.sink.event("JobAttributeChanged", {"Id": job.id, "Owner": job.owner,
                                                    "Name": canonical, "Value": value})
        self.on_work()
        return len(jobs)

    # --- reading -----------------------------------------------------------

    def get_ad(self, job_id: Any) -> dict[str, Any]:
        """The job's attributes (raw form, flattened)."""
        with self.lock:
            return self._job_or_raise(job_id).flat()

    def query(self, constraint: str = "", projection: Iterable[str] | None = None,
              limit: int = -1) -> list[dict[str, Any]]:
        expr = _parse_constraint(constraint) if constraint and constraint.strip() else None
        out: list[dict[str, Any]] = []
        for job in self.jobs():
            if limit is not None and 0 <= limit <= len(out):
                break
            if expr is not None and not _matches(expr, job):
                continue
            out.append(_project(job.flat(), projection))
        return out

    def history(self, constraint: str = "", projection: Iterable[str] | None = None,
                limit: int = -1) -> list[dict[str, Any]]:
        expr = _parse_constraint(constraint) if constraint and constraint.strip() else None
        out: list[dict[str, Any]] = []
        for stored in self.store.history(None if expr is not None or limit < 0 else limit):
            if 0 <= limit <= len(out):
                break
            flat = raw_from_json(stored)
            if expr is not None and not is_true(expr.eval(scope=build_ad(flat))):
                continue
            out.append(_project(flat, projection))
        return out

    def fetch(self, job_id: Any, which: str, start: int, end: int, caller: Caller) -> bytes:
        """Bytes ``[start:end)`` of the job's Out, Err or Log file.

        A negative Start counts from the end; End -1 means the end of the
        file (other negative Ends count from it).  At most 1 MiB is returned.  The file must
        belong to the user the job runs as, so that Fetch cannot read files
        the job's owner could not.
        """
        names = {"out": "Out", "err": "Err", "log": "UserLog"}
        attr = names.get(str(which).strip().lower())
        if attr is None:
            raise ParameterInvalid(f"File must be Out, Err or Log, got {which!r}")
        with self.lock:
            job = self._job_or_raise(job_id)
            if not self.may_act(job, caller):
                raise Forbidden(f"{caller.identity or 'anonymous'} may not read job {job.id}'s files")
            text = _RunStrings(job)
            try:
                path, iwd = text.get(attr), text.get("Iwd")
            except ArgumentError as exc:
                raise ParameterInvalid(f"job {job_id}: {exc}") from None
            owner = job.owner
        if not path or path == os.devnull:
            raise ParameterInvalid(f"job {job_id} has no {attr} file")
        path = os.path.join(iwd or "/", path)
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if os.geteuid() == 0 and st.st_uid != self.backend.run_uid(owner):
                    raise Forbidden(f"{path} does not belong to the job's user")
                size = st.st_size
                lo, hi, _ = slice(start, size + end + 1 if end < 0 else end).indices(size)
                hi = min(hi, lo + _FETCH_MAX)
                if hi <= lo:
                    return b""
                fh.seek(lo)
                return fh.read(hi - lo)
        except FileNotFoundError:
            raise ParameterInvalid(f"job {job_id}'s {attr} file {path} does not exist") from None
        except OSError as exc:
            raise ParameterInvalid(f"cannot read {path}: {exc.strerror}") from None

    # --- spooling ----------------------------------------------------------

    def spool_file(self, job_id: Any, name: str, offset: int, data: str, final: bool,
                   caller: Caller) -> int:
        """Store a chunk of a spooled job's input file (SpoolFile)."""
        with self.lock:
            job = self._job_or_raise(job_id)
            if not self.may_act(job, caller):
                raise Forbidden(f"{caller.identity or 'anonymous'} may not spool files of "
                                f"job {job.id}")
            return self.spooled.receive(job, name, offset, data, final)

    def retrieve_file(self, job_id: Any, name: str, offset: int, length: int,
                      caller: Caller) -> tuple[str, bool]:
        """A chunk of a spooled job's file, in the queue or finished (RetrieveFile)."""
        cid, pid = parse_job_id(job_id)
        with self.lock:
            job = self.job(f"{cid}.{pid}")
            owner = job.owner if job is not None else None
        if owner is None:
            finished = self.store.history_ad(cid, pid)
            if finished is None:
                raise JobNotFound(f"job {job_id} is neither queued nor in the history")
            owner = str(finished.get("Owner", ""))
        if not caller.admin and owner != (caller.identity or self.config.anonymous_owner):
            raise Forbidden(f"{caller.identity or 'anonymous'} may not read files of job "
                            f"{job_id} owned by {owner}")
        return self.spooled.send(f"{cid}.{pid}", name, offset, length)

    # --- running -----------------------------------------------------------

    def spec(self, job: Job) -> JobSpec:
        """Resolve *job* into what the backend runs; ArgumentError if malformed.

        The attributes that make the run (Cmd, Arguments/Args,
        Environment/Env, In, Out, Err, Iwd) may be ClassAd expressions,
        evaluated here against the job's own ad: HTCondor's tutorial writes
        ``Err = strcat("test.err", ProcId)`` for a per-proc error file.
        """
        text = _RunStrings(job)
        iwd, cmd = text.get("Iwd"), text.get("Cmd")
        if not iwd or not cmd:
            raise ArgumentError(f"{'Cmd' if iwd else 'Iwd'} is undefined or empty")
        files: dict[str, str] | None = None
        if self.spooled.is_spooled(job):
            iwd, cmd, files = self.spooled.paths(
                job, cmd, {attr: text.get(attr) for attr in ("In", "Out", "Err")})
            try:
                self.spooled.prepare(job)
            except OSError as exc:
                raise ArgumentError(f"cannot prepare the spool directory: {exc}") from None
        args = text.get("Arguments")
        argv = split_new(args) if args is not None else split_old_args(text.get("Args") or "")
        env: dict[str, str] = {}
        env_text = text.get("Environment")
        if env_text is not None:
            env = parse_new_env(env_text)
        else:
            old_env = text.get("Env")
            if old_env is not None:
                env = parse_old_env(old_env)
        owner = job.owner
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": iwd, "USER": owner,
                "_CONDOR_JOB_IWD": iwd, "CONDOR_ID": job.id}
        base.update(env)

        def path(attr: str) -> str:
            if files is not None:
                return files[attr]
            return os.path.join(iwd, text.get(attr) or os.devnull)

        return JobSpec(job.id, owner, int(job.get("JobUniverse", 5)),
                       [os.path.join(iwd, cmd)] + argv, base, iwd,
                       path("In"), path("Out"), path("Err"))

    def start_matches(self, matches: list[tuple[Job, str | None]]) -> int:
        """Mark matched idle jobs Running (one commit) and hand them to the backend."""
        with self.lock:
            plan = self._plan_starts(matches, 0)
            if plan.changes:
                with self.store.transaction(durable=False) as txn:
                    self._write(txn, plan.changes, [])
            self._started(plan)
            self._launch(plan)
        return len(plan.starting)

    def _plan_starts(self, matches: list[tuple[Job, str | None]], ending: int) -> _StartPlan:
        """The changes that start *matches* (caller holds the lock; nothing applied).

        *ending* counts active jobs whose ends are being committed alongside,
        which free room under MAX_JOBS_RUNNING.
        """
        ts = now()
        plan = _StartPlan()
        if not (self.starting_jobs and self.matchmaking):
            return plan
        room = self.config.max_jobs_running - len(self.active) + ending
        for job, slot in matches:
            if job.status != JobStatus.IDLE or (
                    job not in self.idle and job not in self.idle_local):
                continue
            if len(plan.starting) >= room:
                break
            try:
                plan.starting.append((job, slot, self.spec(job)))
            except ArgumentError as exc:
                plan.bad.append((job, str(exc)))
        for job, slot, _ in plan.starting:
            plan.changes[job] = {
                "JobStatus": int(JobStatus.RUNNING), "LastJobStatus": int(JobStatus.IDLE),
                "EnteredCurrentStatus": ts, "JobCurrentStartDate": ts,
                "JobStartDate": job.get("JobStartDate") or ts,
                "NumJobStarts": int(job.get("NumJobStarts", 0) or 0) + 1,
                "JobRunCount": int(job.get("JobRunCount", 0) or 0) + 1,
                "RemoteHost": slot or self.config.name}
            if not job.get("JobStartDate"):
                plan.first_waits.append(ts - int(job.get("QDate", ts)))
        return plan

    def _started(self, plan: _StartPlan) -> None:
        """Apply a committed start plan in memory; hold the unstartable."""
        if plan.changes:
            self._time_to_start[0] += sum(plan.first_waits)
            self._time_to_start[1] += len(plan.first_waits)
            self._apply(plan.changes, "matched")
            self.jobs_started += len(plan.changes)
            self._rates["start"].add(len(plan.changes))
        for job, message in plan.bad:
            self._hold_for(job, message, 6)

    def _launch(self, plan: _StartPlan) -> None:
        """Hand committed starts to the backend.

        Called with the lock held, so that a Hold or Remove (which signal the
        backend under the same lock) can never fall between the commit and
        the process's start and miss it.
        """
        for _job, slot, spec in plan.starting:
            self.backend.run(spec, slot)

    def _hold_for(self, job: Job, reason: str, code: int) -> None:
        ch = {"JobStatus": int(JobStatus.HELD), "LastJobStatus": job.status,
              "EnteredCurrentStatus": now(), "HoldReason": reason, "HoldReasonCode": code}
        with self.store.transaction() as txn:
            self._write(txn, {job: ch}, [])
        self._apply({job: ch}, reason)

    def on_exits(self, results: list[ExitResult]) -> None:
        """Record run endings and apply on-exit policy.

        The endings, and the start of the next job on each freed slot (claim
        reuse), go in one transaction: one fsync per batch of endings is
        what lets short jobs flow at the rate the disk syncs.
        """
        with self.lock:
            changes: dict[Job, dict[str, Any]] = {}
            finished: list[tuple[Job, dict[str, Any], str]] = []
            reasons: dict[Job, str] = {}
            for res in results:
                job = self.job(res.job_id)
                if job is None:
                    continue
                self._one_exit(job, res, changes, finished, reasons)
            if not changes and not finished:
                return
            freed = [(job.owner, str(ch.get("LastRemoteHost", ""))) for job, ch in changes.items()]
            freed += [(job.owner, str(ch.get("LastRemoteHost", ""))) for job, ch, _ in finished]
            plan = self._plan_starts(self._claims_to_reuse(freed, changes), len(freed))
            with self.store.transaction(durable=False) as txn:
                self._write(txn, changes, [(j, c) for j, c, _ in finished])
                if plan.changes:
                    self._write(txn, plan.changes, [])
            for job, ch in changes.items():
                self._apply({job: ch}, reasons.get(job, "run ended"))
            for job, ch, reason in finished:
                self._finish(job, ch, reason)
            self._started(plan)
            self._launch(plan)
        if len(plan.starting) < len(freed):
            self.on_work()

    def _claims_to_reuse(self, freed: list[tuple[str, str]],
                         ending: Mapping[Job, Any]) -> list[tuple[Job, str | None]]:
        """The owner's next idle job for each freed slot, when it fits.

        HTCondor's schedd keeps a claim and runs the next job of the same
        owner on it without waiting for the negotiator; so do we, when the
        oldest idle job of that owner matches the slot both ways and counts
        against no concurrency limit (those are the negotiator's to count).
        Anything else is left to the negotiator (poked by the caller).
        """
        if not freed or not self.idle:
            return []
        slots = {view.name: view for view in self.backend.slots() if view.free}
        matches: list[tuple[Job, str | None]] = []
        taken: set[Job] = set()
        for owner, slot_name in freed:
            view = slots.pop(slot_name, None)
            if view is None:
                continue
            for job in self.idle:
                if job in taken or job in ending:
                    continue
                if (job.owner == owner and job.get("ConcurrencyLimits") is None
                        and job.ad().symmetric_match(view.ad)):
                    matches.append((job, slot_name))
                    taken.add(job)
                break
        return matches

    def _one_exit(self, job: Job, res: ExitResult, changes: dict[Job, dict[str, Any]],
                  finished: list[tuple[Job, dict[str, Any], str]], reasons: dict[Job, str]) -> None:
        status = job.status
        wall = max(0.0, res.end - res.start)
        ts = int(res.end)
        ch: dict[str, Any] = {
            "RemoteWallClockTime": float(job.get("RemoteWallClockTime", 0.0) or 0.0) + wall,
            "RemoteUserCpu": float(job.get("RemoteUserCpu", 0.0) or 0.0) + res.user_cpu,
            "RemoteSysCpu": float(job.get("RemoteSysCpu", 0.0) or 0.0) + res.sys_cpu,
            "ImageSize": max(int(job.get("ImageSize", 0) or 0), res.image_size_kib),
            "LastRemoteHost": job.get("RemoteHost", ""),
        }
        if res.error is not None:
            ch.update(LastJobStatus=status, EnteredCurrentStatus=ts)
            if res.error_code:
                ch.update(JobStatus=int(JobStatus.HELD), HoldReason=res.error,
                          HoldReasonCode=res.error_code, HoldReasonSubCode=0)
            else:
                ch.update(JobStatus=int(JobStatus.IDLE),
                          NumJobStarts=max(0, int(job.get("NumJobStarts", 1) or 1) - 1))
            changes[job] = ch
            reasons[job] = res.error
            return
        if status == JobStatus.REMOVED:
            ch["CompletionDate"] = ts
            finished.append((job, ch, str(job.get("RemoveReason", "removed"))))
            return
        if status == JobStatus.HELD:
            changes[job] = ch
            reasons[job] = "run ended after hold"
            return
        self._running_time[0] += wall
        self._running_time[1] += 1
        if res.killed:
            ch.update(JobStatus=int(JobStatus.IDLE), LastJobStatus=status, EnteredCurrentStatus=ts)
            changes[job] = ch
            reasons[job] = "the run was stopped by the scheduler"
            return
        exit_attrs: dict[str, Any] = {"ExitBySignal": res.signal is not None}
        if res.signal is not None:
            exit_attrs["ExitSignal"] = res.signal
        else:
            exit_attrs["ExitCode"] = res.exit_code
            exit_attrs["ExitStatus"] = res.exit_code
        ch.update(exit_attrs)
        self.jobs_exited += 1
        decision = on_exit_action(job, exit_attrs)
        ch.update(LastJobStatus=status, EnteredCurrentStatus=ts)
        if decision.action == "hold":
            ch.update(JobStatus=int(JobStatus.HELD), HoldReason=decision.reason,
                      HoldReasonCode=decision.code, HoldReasonSubCode=0)
            changes[job] = ch
            reasons[job] = decision.reason
        elif decision.action == "requeue":
            ch.update(JobStatus=int(JobStatus.IDLE))
            changes[job] = ch
            reasons[job] = decision.reason
        else:
            ch.update(JobStatus=int(JobStatus.COMPLETED), CompletionDate=ts)
            self.jobs_completed += 1
            self._rates["complete"].add()
            finished.append((job, ch, "exited"))

    # --- periodic policy ---------------------------------------------------

    def evaluate_policy(self) -> int:
        """Evaluate periodic expressions of every queued job; returns actions taken."""
        with self.lock:
            decided = []
            for cluster in list(self.clusters.values()):
                for job in list(cluster.procs.values()):
                    decision = periodic_action(job) if has_periodic(job) else None
                    if decision is not None:
                        decided.append((job, decision))
            taken = 0
            for job, decision in decided:
                if action_verdict(decision.action, job.status) != "ok":
                    continue
                try:
                    self._do(decision.action, [job], decision.reason,
                             hold_code=decision.code or 1)
                except QmfError as exc:     # one refusal must not stop the others
                    log.error("job %s: periodic %s failed: %s", job.id, decision.action, exc.text)
                    continue
                taken += 1
        return taken

    def prune_history(self) -> int:
        """Keep the newest ``history_limit`` finished jobs; drop older ones' spool files."""
        dropped = self.store.prune_history(self.config.history_limit)
        for cid, pid in dropped:
            self.spooled.store.remove(f"{cid}.{pid}")
        if dropped:
            log.info("history: dropped %d oldest finished jobs", len(dropped))
        return len(dropped)

    def _housekeeping(self) -> None:
        while not self._stop.wait(self.config.periodic_interval):
            try:
                if self.evaluate_policy():
                    self.on_work()
                self.store.forget_requests(int(time.time() - self.config.request_ttl))
                self.prune_history()
            except QmfError as exc:
                log.error("periodic policy failed: %s", exc.text)
            except Exception:
                log.exception("periodic policy failed")

    # --- role --------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.starting_jobs = True
        self._thread = threading.Thread(target=self._housekeeping, name="schedd-policy",
                                        daemon=True)
        self._thread.start()

    def stop(self, mode: str = "graceful") -> None:
        """Stop periodic policy and starting jobs (running ones are the backend's)."""
        self.starting_jobs = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def reconfig(self, config: Config) -> None:
        """Take the knobs that may change while running (the name may not)."""
        fresh = ScheddConfig.from_config(config)
        self.config.max_jobs_running = fresh.max_jobs_running
        self.config.periodic_interval = fresh.periodic_interval
        self.config.anonymous_owner = fresh.anonymous_owner
        self.on_work()

    # --- statistics --------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        with self.lock:
            total = self.counts.total
            tts, nts = self._time_to_start
            rt, nrt = self._running_time
            return {
                "TotalJobAds": sum(len(c.procs) for c in self.clusters.values()),
                "TotalIdleJobs": total.get(JobStatus.IDLE, 0),
                "TotalRunningJobs": total.get(JobStatus.RUNNING, 0),
                "TotalHeldJobs": total.get(JobStatus.HELD, 0),
                "TotalRemovedJobs": total.get(JobStatus.REMOVED, 0),
                "NumUsers": sum(1 for c in self.counts.by_owner.values()
                                if any(c.get(s, 0) for s in (1, 2, 5, 6, 7))),
                "JobsSubmitted": self.jobs_submitted,
                "JobsStarted": self.jobs_started,
                "JobsCompleted": self.jobs_completed,
                "JobsExited": self.jobs_exited,
                "JobSubmissionRate": self._rates["submit"].value(),
                "JobStartRate": self._rates["start"].value(),
                "JobCompletionRate": self._rates["complete"].value(),
                "MeanTimeToStart": tts / nts if nts else 0.0,
                "MeanRunningTime": rt / nrt if nrt else 0.0,
            }


class _RunStrings:
    """A job's run attributes as strings: literals as they are, expressions
    evaluated against the job's ad (built once, on the first expression)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._ad: classad.ClassAd | None = None

    def get(self, name: str) -> str | None:
        """The string *name* gives; None when it is absent or undefined.

        Raises :class:`ArgumentError` (the job is held with it) when the
        value is, or evaluates to, anything but a string.
        """
        value = self.job.get(name)
        if value is None or type(value) is str:
            return value
        if type(value) is not Expr:
            raise ArgumentError(f"{name} must be a string, got {raw_to_text(value)}")
        if self._ad is None:
            self._ad = self.job.ad()
        result = self._ad.eval(name)
        if isinstance(result, str):
            return result
        if isinstance(result, classad.Value) and result == classad.Value.Undefined:
            return None
        shown = "error" if isinstance(result, classad.Value) else raw_to_text(result)
        raise ArgumentError(f"{name} = {value.text} evaluates to {shown}, not a string")


def _check_paths(attrs: Mapping[str, Any], where: str) -> None:
    """Cmd and Iwd, when *attrs* has them: a non-empty string (Iwd an absolute
    path), or an expression -- evaluated per proc when the job starts."""
    for name in ("Cmd", "Iwd"):
        value = attrs.get(name)
        if name not in attrs or type(value) is Expr:
            continue
        if type(value) is not str or not value:
            raise ParameterInvalid(f"{where} {name} must be a non-empty string or an "
                                   f"expression, got {raw_to_text(value)}")
        if name == "Iwd" and not os.path.isabs(value):
            raise ParameterInvalid(f"{where} Iwd must be an absolute path, got {value!r}")


def _merge_own(given: Sequence[dict[str, Any] | None],
               added: Sequence[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
    """Each proc's own attributes with what the backend *added* over them."""
    return [{**(mine or {}), **(more or {})} or None for mine, more in zip(given, added)]


def _proc_overrides(proc_ads: Sequence[Any]) -> list[dict[str, Any] | None]:
    """Submit's ProcAds as each proc's own raw attributes (None: no override)."""
    out: list[dict[str, Any] | None] = []
    for p, wire in enumerate(proc_ads):
        if not isinstance(wire, Mapping):
            raise ParameterInvalid(f"ProcAds[{p}] must be a map of attribute names to values, "
                                   f"got {type(wire).__name__}")
        if not wire:
            out.append(None)
            continue
        try:
            ad, _ = classad.decode_job_ad(dict(wire))
        except ValueError as exc:
            raise ParameterInvalid(f"ProcAds[{p}]: {exc}") from None
        own = raw_from_classad(ad)
        fixed = sorted(n for n in own if n.lower() in _CLUSTER_ONLY)
        if fixed:
            raise ParameterInvalid(f"ProcAds[{p}] may not set {', '.join(fixed)}: "
                                   "those belong to the whole cluster")
        _check_paths(own, f"ProcAds[{p}]")
        out.append(own or None)
    return out


def _parse_constraint(text: str) -> Any:
    if not isinstance(text, str):
        raise ParameterInvalid("Constraint must be ClassAd expression text")
    try:
        return classad.ExprTree(text)
    except ValueError as exc:
        raise ParameterInvalid(f"Constraint {text!r} is not a ClassAd expression: {exc}") from None


def _matches(expr: Any, job: Job) -> bool:
    return is_true(expr.eval(scope=job.ad()))


def _project(flat: dict[str, Any], projection: Iterable[str] | None) -> dict[str, Any]:
    if not projection:
        return flat
    lower = {k.lower(): k for k in flat}
    out = {}
    for name in projection:
        key = lower.get(str(name).lower())
        if key is not None:
            out[key] = flat[key]
    return out
