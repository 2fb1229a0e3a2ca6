"""``Schedd``: HTCondor's job-queue handle, driving the agent's scheduler.

The verbs are those of HTCondor's bindings (``query``, ``submit``,
``act``, ``edit``, ``history``, ``spool``, ``retrieve``, ``reschedule``)
and each is one method of the ``mrg.grid`` scheduler object.  Job
selectors are as flexible as HTCondor's: a job id ``"7.0"``, a cluster
(``7`` or ``"7"``), a list of ids, or a ClassAd constraint.
"""

from __future__ import annotations

import base64
import getpass
import logging
import os
import queue
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import classad
from qmf_agent.errors import ParameterInvalid, RequestTimeout

from ._connection import ads_from_wire
from ._daemon_object import DaemonObject
from .enums import JobAction
from .session import Event, Handler, Session
from .submit import Submit

__all__ = ["Schedd", "job_selector", "TERMINAL_EVENTS"]

log = logging.getLogger(__name__)

SPOOL_CHUNK = 256 * 1024
BULK_SECONDS_PER_JOB = 0.005
"""An Act/Edit's time allowance per job (on top of the session's timeout).
Removing 20,000 held jobs took the agent 0.8 ms a job at load 7 and 1.5 ms
at load 18 on a 2-core machine (bench/bulk_act.py); a timeout only has to
tell a dead agent from a busy one, so the allowance is generous."""
TERMINAL_EVENTS = {"JobCompleted", "JobRemoved"}
_ID = re.compile(r"\s*(\d+)\.(\d+)\s*")
_CLUSTER = re.compile(r"\s*(\d+)\s*")


def job_selector(job_spec: Any) -> dict[str, Any]:
    """``{"Jobs": [ids]}`` or ``{"Constraint": text}`` for a job spec."""
    if job_spec is None:
        return {"Constraint": "true"}
    if isinstance(job_spec, bool):
        raise ValueError("a job spec cannot be a boolean")
    if isinstance(job_spec, int):
        return {"Constraint": f"ClusterId == {job_spec}"}
    if isinstance(job_spec, classad.ExprTree):
        return {"Constraint": str(job_spec)}
    if isinstance(job_spec, str):
        if _ID.fullmatch(job_spec):
            return {"Jobs": [job_spec.strip()]}
        if _CLUSTER.fullmatch(job_spec):
            return {"Constraint": f"ClusterId == {int(job_spec)}"}
        try:
            classad.ExprTree(job_spec)
        except ValueError as e:
            raise ValueError(f"bad job constraint {job_spec!r}: {e}") from None
        return {"Constraint": job_spec}
    if isinstance(job_spec, Sequence):
        ids: list[str] = []
        clusters: list[int] = []
        for item in job_spec:
            text = str(item)
            if _ID.fullmatch(text):
                ids.append(text.strip())
            elif _CLUSTER.fullmatch(text) and not isinstance(item, bool):
                clusters.append(int(text))
            else:
                raise ValueError(f"bad job id {item!r}: expected 'cluster.proc' or a cluster number")
        if not clusters:
            return {"Jobs": ids}
        terms = [f"ClusterId == {c}" for c in clusters]
        terms += [f"(ClusterId == {m.group(1)} && ProcId == {m.group(2)})"
                  for m in (_ID.fullmatch(i) for i in ids) if m]
        return {"Constraint": " || ".join(terms)}
    raise ValueError(f"cannot select jobs with a {type(job_spec).__name__}")


def _ids_constraint(ids: Sequence[str]) -> str:
    """A constraint selecting the jobs with these ``cluster.proc`` ids."""
    terms = [f"(ClusterId == {m.group(1)} && ProcId == {m.group(2)})"
             for m in (_ID.fullmatch(i) for i in ids) if m]
    return " || ".join(terms) or "false"


def _spec_constraint(job_spec: Any) -> str:
    sel = job_selector(job_spec)
    return str(sel["Constraint"]) if "Constraint" in sel else _ids_constraint(sel["Jobs"])


def _eval(ad: classad.ClassAd, name: str) -> Any:
    """*name* evaluated in *ad*; None when it is missing or undefined."""
    try:
        value = ad.eval(name)
    except KeyError:
        return None
    return None if isinstance(value, classad.Value) else value


def _constraint_text(constraint: Any) -> str:
    if constraint is None or constraint is True:
        return "true"
    text = str(constraint)
    try:
        classad.ExprTree(text)
    except ValueError as e:
        raise ValueError(f"bad constraint {text!r}: {e}") from None
    return text


def _value_text(value: Any) -> str:
    """An edit's value as ClassAd expression text (strings ARE expressions,
    as in HTCondor: ``'"bar"'`` is a string, ``'42'`` an integer)."""
    if isinstance(value, classad.ExprTree):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    try:
        classad.ExprTree(text)
    except ValueError as e:
        raise ValueError(f"bad value {text!r}: {e}") from None
    return text


def complete_job_ad(ad: classad.ClassAd, owner: str | None = None) -> classad.ClassAd:
    """Fill what HTCondor's bindings fill on the client side; the Owner is
    the connection's user, else the local user."""
    if "Iwd" not in ad:
        ad["Iwd"] = os.getcwd()
    if "JobUniverse" not in ad:
        ad["JobUniverse"] = 5
    if "Requirements" not in ad:
        ad["Requirements"] = classad.ExprTree("true")
    if "Owner" not in ad:
        ad["Owner"] = owner or local_user()
    return ad


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "nobody"


class Schedd(DaemonObject):
    """The job queue at a location (None: ``$QMF_URL`` or the default)."""

    _qmf_class = "scheduler"

    def query(
        self,
        constraint: Any = "true",
        projection: Sequence[str] | None = None,
        limit: int = -1,
        *,
        attr_list: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> list[classad.ClassAd]:
        """Job ads matching *constraint* (at most *limit*; -1: all), with
        only the *projection* attributes (plus a few) when given."""
        names = list(projection if projection is not None else attr_list or [])
        out = self._invoke(
            "Query",
            timeout,
            Constraint=_constraint_text(constraint),
            Projection=names,
            Limit=limit if limit is not None and limit >= 0 else None,
        )
        return ads_from_wire(out.get("Jobs"))

    def history(
        self,
        constraint: Any = "true",
        projection: Sequence[str] | None = None,
        limit: int = -1,
        *,
        match: int | None = None,
    ) -> list[classad.ClassAd]:
        """Ads of jobs that have left the queue (completed or removed),
        newest first, at most *limit* (``match`` is HTCondor's old name)."""
        most = match if match is not None else limit
        out = self._invoke(
            "History",
            Constraint=_constraint_text(constraint),
            Projection=list(projection or []),
            Limit=most if most is not None and most >= 0 else None,
        )
        return ads_from_wire(out.get("Jobs"))

    def submit(
        self,
        description: classad.ClassAd | Submit | Mapping[str, Any],
        count: int | None = None,
        spool: bool = False,
        ad_results: list[classad.ClassAd] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Queue jobs and return their cluster id.

        *description* is a job ClassAd (queued *count* times, default 1) or
        a :class:`Submit` (its queue statements decide; *count* replaces
        the N of a plain ``queue N``).  With ``spool=True`` the jobs wait
        on hold until :meth:`spool` sends their input files.  *ad_results*,
        if a list, is filled with the queued jobs' ads as submitted (with
        their ids), from the Submit's own answer: a job that finishes at
        once is still there.

        The whole description is ONE Submit request, one durable
        transaction at the agent: the cluster ad plus, when the jobs differ
        (``$(Process)``, ``$(Cluster)``, queue items), each job's own
        values (``ProcAds``).  *progress*, if given, is told how many job
        ads of a :class:`Submit` are made so far, while they are made.
        """
        proc_ads: list[classad.ClassAd] | None = None
        fixed: dict[str, Any] = {}   # what this call sets in every job's ad
        if isinstance(description, Submit):
            ad, proc_ads = description.submit_ads(count, progress)
            if self.session.user:
                fixed["Owner"] = self.session.user
            total = len(proc_ads)
            if not any(len(p) for p in proc_ads):
                proc_ads = None   # identical jobs: the ad and a count say it all
        elif isinstance(description, Mapping):
            ad = classad.ClassAd()
            ad.update(description)
            ad, total = complete_job_ad(ad, self.session.user), 1 if count is None else count
        else:
            raise TypeError(f"submit() takes a ClassAd or a Submit, not {type(description).__name__}")
        if isinstance(total, bool) or not isinstance(total, int) or total < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        if spool:
            fixed.update(JobStatus=5, HoldReasonCode=16, HoldReason="Spooling input data files")
        ad.update(fixed)
        out = self._invoke("Submit", Ad=ad, Count=total, ProcAds=proc_ads)
        first = str(out.get("Id", ""))
        m = re.match(r"(\d+)", first)
        if not m:
            raise ParameterInvalid(f"the scheduler answered Submit with no job id ({out!r})")
        cluster = int(m.group(1))
        if ad_results is not None:
            # made here, not queried: a job may finish before a query could see it
            made = description.jobs(cluster, count) if isinstance(description, Submit) else [
                classad.ClassAd({**dict(ad.items()), "ClusterId": cluster, "ProcId": p})
                for p in range(total)]
            for job in made:
                job.update(fixed)
            ad_results.extend(made)
        return cluster

    def act(self, action: JobAction | str, job_spec: Any, reason: str | None = None) -> classad.ClassAd:
        """Hold, release, remove, ... the selected jobs; returns the totals."""
        name = action.name if isinstance(action, JobAction) else str(action)
        if name not in JobAction.__members__:
            raise ValueError(f"unknown job action {action!r} (one of {', '.join(JobAction.__members__)})")
        selector = job_selector(job_spec)
        out = self._invoke("Act", self._bulk_timeout(selector), Action=name, Reason=reason, **selector)
        result = out.get("Result") or {}
        return classad.ClassAd({k: v for k, v in result.items()}) if isinstance(result, Mapping) else classad.ClassAd()

    def edit(self, job_spec: Any, attr: str, value: Any) -> int:
        """Set *attr* to *value* (ClassAd expression text) in the selected
        jobs; returns how many jobs changed."""
        if not isinstance(attr, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", attr):
            raise ValueError(f"bad attribute name {attr!r}")
        selector = job_selector(job_spec)
        out = self._invoke("Edit", self._bulk_timeout(selector), Name=attr, Value=_value_text(value), **selector)
        return int(out.get("Count") or 0)

    def _bulk_timeout(self, selector: Mapping[str, Any]) -> float:
        """How long an Act or Edit may take: the session's timeout plus
        :data:`BULK_SECONDS_PER_JOB` for each job it may touch.

        The agent answers an action once, after committing it on every
        selected job (the totals must be true), so 20,000 removals cannot
        fit a fixed 10 s.  Ids say how many jobs; for a constraint the
        bound is the queue's size, read from the scheduler object (one
        small query) -- HTCondor's bindings likewise just wait for the
        schedd's one answer.
        """
        base = self.session.timeout
        if "Jobs" in selector:
            return base + BULK_SECONDS_PER_JOB * len(selector["Jobs"])
        target = self._target()
        target.update()
        jobs = target.values().get("TotalJobAds")
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
            log.debug("scheduler reports no TotalJobAds (%r); a bulk action gets %gs", jobs, base)
            return base
        return base + BULK_SECONDS_PER_JOB * jobs

    def analyze(self, job_id: str) -> dict[str, Any]:
        """Why job *job_id* does (not) run: slots considered, matching,
        available, the Requirements clauses that fail, slots that refuse."""
        result = self._invoke("Analyze", Id=str(job_id)).get("Result")
        return dict(result) if isinstance(result, Mapping) else {}

    def reschedule(self) -> None:
        """Ask for a negotiation cycle now."""
        self._invoke("Reschedule")

    # file transfer ------------------------------------------------------
    def spool(self, ads: Sequence[classad.ClassAd]) -> None:
        """Send the input files of jobs submitted with ``spool=True`` (their
        executable, ``In`` and ``TransferInput``, read relative to ``Iwd``)
        in chunks, then release them."""
        for ad in ads:
            job_id = f"{_eval(ad, 'ClusterId')}.{_eval(ad, 'ProcId')}"
            for local, name in _input_files(ad):
                self._send_file(job_id, local, name)
            self._invoke("Act", Action="Release", Jobs=[job_id], Reason="input files spooled")

    def _send_file(self, job_id: str, local: str, name: str) -> None:
        try:
            with open(local, "rb") as f:
                offset = 0
                while True:
                    chunk = f.read(SPOOL_CHUNK)
                    final = len(chunk) < SPOOL_CHUNK
                    self._invoke(
                        "SpoolFile", Id=job_id, Name=name, Offset=offset,
                        Data=base64.b64encode(chunk).decode("ascii"), Final=final,
                    )
                    offset += len(chunk)
                    if final:
                        return
        except OSError as e:
            raise ValueError(f"job {job_id}: cannot read input file {local}: {e.strerror}") from None

    def retrieve(self, job_spec: Any) -> list[str]:
        """Fetch the output files (``Out``, ``Err``, ``TransferOutput``) of
        the selected spooled jobs into their ``Iwd``; returns their paths."""
        constraint = _spec_constraint(job_spec)
        written: list[str] = []
        for ad in self.query(constraint) + self.history(constraint):
            job_id = f"{_eval(ad, 'ClusterId')}.{_eval(ad, 'ProcId')}"
            for local, name in _output_files(ad):
                self._fetch_file(job_id, name, local)
                written.append(local)
        return written

    def _fetch_file(self, job_id: str, name: str, local: str) -> None:
        offset = 0
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        with open(local, "wb") as f:
            while True:
                out = self._invoke("RetrieveFile", Id=job_id, Name=name, Offset=offset, Length=SPOOL_CHUNK)
                data = base64.b64decode(str(out.get("Data") or ""))
                f.write(data)
                offset += len(data)
                if out.get("Final", True) or not data:
                    return

    # events -------------------------------------------------------------
    def watch(self, job_spec: Any = None, timeout: float | None = None) -> Iterator[Event]:
        """Yield the job events (``JobSubmitted``, ``JobHeld``, ...) of the
        selected jobs as the agent raises them.  Ends after *timeout*
        seconds without an event, or once every job named by id has
        completed or been removed."""
        ids = set(job_selector(job_spec).get("Jobs", [])) if job_spec is not None else set()
        cluster = job_spec if isinstance(job_spec, int) else (
            int(job_spec) if isinstance(job_spec, str) and _CLUSTER.fullmatch(job_spec) else None)
        pending = set(ids)
        inbox: queue.Queue[Event] = queue.Queue()

        class _Collect(Handler):
            def event(self, event: Event) -> None:
                inbox.put(event)

        with Session(self.url, handler=_Collect()) as session:
            session.getAgents()
            # jobs that finished before the subscription was in place: their
            # last event is replayed from the history (Replayed = true)
            for job in sorted(pending):
                for ad in self.history(_ids_constraint([job]), ["JobStatus", "Owner", "ExitCode"], 1):
                    status = _eval(ad, "JobStatus")
                    if status in (3, 4):
                        values = {k: _eval(ad, k) for k in ("Owner", "ExitCode")}
                        inbox.put(Event(self._target().getAgent(), {
                            "_schema_id": {"_class_name": "JobCompleted" if status == 4 else "JobRemoved"},
                            "_values": {"Id": job, "Replayed": True, **values}}))
            while True:
                try:
                    event = inbox.get(timeout=timeout)
                except queue.Empty:
                    return
                job = str(event.arguments.get("Id") or event.arguments.get("JobId") or "")
                if not job:
                    continue
                if ids and job not in ids:
                    continue
                if cluster is not None and job.split(".")[0] != str(cluster):
                    continue
                yield event
                if event.name in TERMINAL_EVENTS and job in pending:
                    pending.discard(job)
                    if not pending:
                        return

    def wait(self, job_spec: Any, timeout: float = 60.0, poll: float = 0.5) -> list[classad.ClassAd]:
        """Poll until every selected job has left the Idle/Running states;
        returns their ads (a convenience for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            constraint = _spec_constraint(job_spec)
            ads = self.query(constraint) + self.history(constraint)
            if ads and all(_eval(a, "JobStatus") in (3, 4, 5) for a in ads):
                return ads
            if time.monotonic() > deadline:
                raise RequestTimeout(f"jobs {job_spec} did not finish within {timeout:g}s")
            time.sleep(poll)


def _iwd_path(ad: classad.ClassAd, path: str) -> str:
    iwd = _eval(ad, "Iwd")
    return path if os.path.isabs(path) else os.path.join(iwd if isinstance(iwd, str) else ".", path)


def _file_list(value: Any) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else []


def _input_files(ad: classad.ClassAd) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    if _eval(ad, "TransferExecutable") is not False:
        cmd = _eval(ad, "Cmd")
        if isinstance(cmd, str) and os.path.isfile(_iwd_path(ad, cmd)):
            files.append((_iwd_path(ad, cmd), os.path.basename(cmd)))
    stdin = _eval(ad, "In")
    if isinstance(stdin, str) and stdin != "/dev/null":
        files.append((_iwd_path(ad, stdin), os.path.basename(stdin)))
    for p in _file_list(_eval(ad, "TransferInput")):
        files.append((_iwd_path(ad, p), os.path.basename(p)))
    return files


def _output_files(ad: classad.ClassAd) -> list[tuple[str, str]]:
    files: list[tuple[str, str]] = []
    for attr in ("Out", "Err"):
        value = _eval(ad, attr)
        if isinstance(value, str) and value != "/dev/null":
            files.append((_iwd_path(ad, value), os.path.basename(value)))
    for p in _file_list(_eval(ad, "TransferOutput")):
        files.append((_iwd_path(ad, p), os.path.basename(p)))
    return files
