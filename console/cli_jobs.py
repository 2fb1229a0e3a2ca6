"""``qmf`` job commands: submit, q, hold, release, rm, edit, history, watch.

Output follows condor_q and condor_submit where they have a shape people
know (the batch summary, ``-nobatch`` rows, ``-af``, ``-long``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, TextIO

import classad

from .cli import CliError, Context, register, usage_error
from .cli_format import ad_to_json, duration, emit_json, short_time, table
from .enums import JobAction, JobStatus

__all__ = ["STATUS_LETTER", "job_id"]

STATUS_LETTER = {1: "I", 2: "R", 3: "X", 4: "C", 5: "H", 6: ">", 7: "S"}
# what the table views show: asked for by name, so a big queue is cheap to list
TABLE_ATTRS = ("ClusterId", "ProcId", "Owner", "JobStatus", "QDate", "JobBatchName", "RemoteWallClockTime",
               "JobCurrentStartDate", "ImageSize", "Cmd", "Arguments", "Args", "JobPrio", "HoldReason",
               "EnteredCurrentStatus", "CompletionDate")


def job_id(ad: classad.ClassAd) -> str:
    return f"{ad.eval('ClusterId')}.{ad.eval('ProcId')}"


def _value(ad: classad.ClassAd, name: str) -> Any:
    try:
        v = ad.eval(name)
    except (KeyError, ValueError):
        return None
    return None if isinstance(v, classad.Value) else v


@register
def _add(sub: Any) -> None:
    p = sub.add_parser("submit", help="queue the jobs of a submit description file")
    p.add_argument("file", help="submit description (condor_submit syntax); '-' reads stdin")
    p.add_argument("-dump", "--dump", action="store_true", help="print the job ads instead of submitting")
    p.add_argument("-spool", "--spool", action="store_true", help="send input files over the bus")
    p.add_argument("-append", "--append", action="append", default=[], metavar="CMD",
                   help="add a submit command (before the queue statement)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("q", help="the job queue, like condor_q")
    p.add_argument("jobs", nargs="*", help="job ids, clusters or owners")
    p.add_argument("-nobatch", "--nobatch", action="store_true", help="one line per job")
    p.add_argument("-constraint", "--constraint", help="ClassAd expression jobs must match")
    p.add_argument("-af", "--af", "-autoformat", nargs="+", metavar="ATTR", help="print only these attributes")
    p.add_argument("-long", "--long", "-l", action="store_true", help="whole job ads")
    p.add_argument("-analyze", "--analyze", metavar="ID", help="why a job does (not) run")
    p.add_argument("-allusers", "--allusers", action="store_true", help="(accepted; every user's jobs are shown)")
    p.add_argument("-hold", "--hold", action="store_true", help="only held jobs, with their reasons")
    p.set_defaults(func=cmd_q)

    for verb, action, past in (("hold", JobAction.Hold, "held"), ("release", JobAction.Release, "released"),
                               ("rm", JobAction.Remove, "removed")):
        p = sub.add_parser(verb, help=f"{verb} jobs (ids, clusters, or -constraint)")
        p.add_argument("jobs", nargs="*", help="job ids (7.0) or clusters (7)")
        p.add_argument("-constraint", "--constraint", help="ClassAd expression selecting jobs")
        p.add_argument("-reason", "--reason", help="why (recorded in the job)")
        p.set_defaults(func=cmd_act, action=action, past=past)

    p = sub.add_parser("edit", help="set an attribute of jobs, like condor_qedit")
    p.add_argument("job", help="job id, cluster, or a constraint expression")
    p.add_argument("attr")
    p.add_argument("value", help="ClassAd expression text: '\"text\"' for a string, 42 for a number")
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("retrieve", help="fetch the output files of spooled jobs into their Iwd")
    p.add_argument("job", help="job id, cluster, or a constraint expression")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("history", help="jobs that left the queue, like condor_history")
    p.add_argument("jobs", nargs="*", help="job ids or clusters")
    p.add_argument("-constraint", "--constraint")
    p.add_argument("-limit", "--limit", "-match", type=int, default=-1)
    p.add_argument("-af", "--af", nargs="+", metavar="ATTR")
    p.add_argument("-long", "--long", "-l", action="store_true")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("watch", help="live job and slot events")
    p.add_argument("--owner", help="only this owner's events")
    p.add_argument("--class", dest="classes", action="append", default=[],
                   help="only these events (JobHeld, JobCompleted, ...); repeatable")
    p.add_argument("--constraint", help="ClassAd expression over the event's values (Event is its name)")
    p.add_argument("--count", type=int, default=0, help="stop after this many events")
    p.add_argument("--for", dest="seconds", type=float, default=0, help="stop after this many seconds")
    p.set_defaults(func=cmd_watch)


# ---------------------------------------------------------------- submit
def cmd_submit(ctx: Context, args: argparse.Namespace) -> int:
    from .submit import Submit

    if args.file == "-":
        text = sys.stdin.read()
        description = Submit(_with_appends(text, args.append))
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise CliError(f"cannot read submit file {args.file}: {e.strerror}") from None
        description = Submit(_with_appends(text, args.append),
                             base_dir=os.path.dirname(os.path.abspath(args.file)))
    if args.dump:
        ads = description.jobs(cluster=0)
        if ctx.json:
            emit_json([ad_to_json(a) for a in ads])
        else:
            for ad in ads:
                ctx.out.write(ad.print_old() if hasattr(ad, "print_old") else str(ad))
                ctx.out.write("\n")
        return 0
    schedd = ctx.schedd()
    results: list[classad.ClassAd] = []
    count = description.job_count()
    with SubmitProgress(ctx.err, count) as progress:
        cluster = schedd.submit(description, spool=args.spool,
                                ad_results=results if args.spool else None,
                                progress=progress.made)
    if args.spool:
        schedd.spool(results)
    if ctx.json:
        emit_json({"cluster": cluster, "count": count, "jobs": [f"{cluster}.{i}" for i in range(count)]})
    else:
        ctx.out.write(f"{count} job(s) submitted to cluster {cluster}.\n")
    return 0


class SubmitProgress:
    """One line on stderr that moves while a big description is queued.

    First the job ads made so far (a bar), then, while the one Submit
    request is in flight (the agent commits the whole cluster durably
    before it answers), the seconds spent waiting.  Shown only on a
    terminal and for :data:`BIG` jobs or more, so scripts' stderr stays
    clean.  The waiting line is redrawn by a timer thread that touches
    nothing but the stream.
    """

    BIG = 1000

    def __init__(self, stream: TextIO, total: int) -> None:
        self._stream = stream
        self._total = total
        self._on = total >= self.BIG and stream.isatty()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def __enter__(self) -> SubmitProgress:
        return self

    def made(self, n: int) -> None:
        """*n* of the job ads are made; once all are, the request goes out."""
        if not self._on:
            return
        if n < self._total:
            width = 30
            filled = width * n // self._total
            self._draw(f"making job ads [{'#' * filled}{'.' * (width - filled)}] {n}/{self._total}")
        else:
            self._waiting()

    def _waiting(self) -> None:
        """The request is in flight: show the time spent waiting for the agent."""
        if self._timer is not None:
            return
        started = time.monotonic()

        def tick() -> None:
            while not self._stop.wait(0.2):
                self._draw(f"queueing {self._total} jobs at the agent... "
                           f"{time.monotonic() - started:.1f} s")

        self._timer = threading.Thread(target=tick, name="qmf-submit-progress", daemon=True)
        self._timer.start()

    def _draw(self, line: str) -> None:
        self._stream.write("\r" + line + "\x1b[K")
        self._stream.flush()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        if self._on:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


def _with_appends(text: str, appends: list[str]) -> str:
    if not appends:
        return text
    lines = text.splitlines()
    at = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].strip().lower().startswith("queue")), len(lines))
    return "\n".join(lines[:at] + appends + lines[at:])


# ---------------------------------------------------------------- q
def _spec_constraint(jobs: list[str], constraint: str | None) -> str:
    terms: list[str] = []
    for j in jobs:
        if j.replace(".", "", 1).isdigit():
            c, _, p = j.partition(".")
            terms.append(f"(ClusterId == {c} && ProcId == {p})" if p else f"ClusterId == {c}")
        elif j.isidentifier():
            terms.append(f"Owner == {classad.quote(j)}")
        else:
            raise usage_error(f"bad job selector {j!r}: use a job id (7.0), a cluster (7) or an owner")
    text = " || ".join(terms) if terms else "true"
    if constraint:
        text = f"({text}) && ({constraint})"
    return text


def cmd_q(ctx: Context, args: argparse.Namespace) -> int:
    schedd = ctx.schedd()
    if args.analyze:
        return _analyze(ctx, schedd, args.analyze)
    constraint = _spec_constraint(args.jobs, args.constraint)
    if args.hold:
        constraint = f"({constraint}) && JobStatus == 5"
    if args.af:
        projection = list(args.af) + ["ClusterId", "ProcId"]
    elif args.long or ctx.json:
        projection = []
    else:
        projection = list(TABLE_ATTRS)  # whole ads of a big queue cost several times more
    ads = schedd.query(constraint, projection=projection)
    ads.sort(key=lambda a: (_value(a, "ClusterId") or 0, _value(a, "ProcId") or 0))
    if ctx.json:
        emit_json([ad_to_json(a) for a in ads])
        return 0
    if args.long:
        for ad in ads:
            ctx.out.write((ad.print_old() if hasattr(ad, "print_old") else str(ad)).rstrip("\n") + "\n\n")
        return 0
    if args.af:
        for ad in ads:
            ctx.out.write(" ".join(_af(_value(ad, a)) for a in args.af) + "\n")
        return 0
    ctx.out.write(f"\n-- Schedd: {ctx.url}\n")
    if args.hold:
        table([[job_id(a), _value(a, "Owner"), short_time(_value(a, "EnteredCurrentStatus")),
                _value(a, "HoldReason") or ""] for a in ads],
              ["ID", "OWNER", "HELD_SINCE", "HOLD_REASON"], ctx.out)
    elif args.nobatch:
        table([_job_row(a) for a in ads],
              ["ID", "OWNER", "SUBMITTED", "RUN_TIME", "ST", "PRI", "SIZE", "CMD"], ctx.out, right=(3, 5, 6))
    else:
        table(_batch_rows(ads), ["OWNER", "BATCH_NAME", "SUBMITTED", "DONE", "RUN", "IDLE", "HOLD", "TOTAL", "JOB_IDS"],
              ctx.out, right=(3, 4, 5, 6, 7))
    counts = {s: 0 for s in JobStatus}
    for a in ads:
        st = _value(a, "JobStatus")
        if st in counts:
            counts[JobStatus(st)] += 1
    ctx.out.write(
        f"\nTotal for query: {len(ads)} jobs; {counts[JobStatus.COMPLETED]} completed, "
        f"{counts[JobStatus.REMOVED]} removed, {counts[JobStatus.IDLE]} idle, "
        f"{counts[JobStatus.RUNNING]} running, {counts[JobStatus.HELD]} held, "
        f"{counts[JobStatus.SUSPENDED]} suspended\n"
    )
    return 0


def _af(value: Any) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _job_row(ad: classad.ClassAd) -> list[Any]:
    status = _value(ad, "JobStatus")
    run = _value(ad, "RemoteWallClockTime") or 0
    if status == 2 and _value(ad, "JobCurrentStartDate"):
        run = float(run) + max(0.0, time.time() - float(_value(ad, "JobCurrentStartDate") or 0))
    size = _value(ad, "ImageSize") or 0
    cmd = str(_value(ad, "Cmd") or "")
    args = _value(ad, "Arguments") or _value(ad, "Args") or ""
    return [
        job_id(ad), _value(ad, "Owner"), short_time(_value(ad, "QDate")), duration(run),
        STATUS_LETTER.get(status, "?"), _value(ad, "JobPrio") or 0,
        f"{float(size) / 1024:.1f}", (cmd.rsplit("/", 1)[-1] + (" " + str(args) if args else ""))[:40],
    ]


def _batch_rows(ads: list[classad.ClassAd]) -> list[list[Any]]:
    batches: OrderedDict[tuple[Any, Any], list[classad.ClassAd]] = OrderedDict()
    for ad in ads:
        name = _value(ad, "JobBatchName") or f"ID: {_value(ad, 'ClusterId')}"
        batches.setdefault((_value(ad, "Owner"), name), []).append(ad)
    rows = []
    for (owner, name), group in batches.items():
        st = [_value(a, "JobStatus") for a in group]

        def n(code: int, st: list[Any] = st) -> Any:
            c = st.count(code)
            return c if c else "_"

        ids = sorted(job_id(a) for a in group)
        rows.append([owner, name, short_time(min(_value(a, "QDate") or 0 for a in group)),
                     n(4), n(2), n(1), n(5), len(group),
                     ids[0] if len(ids) == 1 else f"{ids[0]}-{ids[-1].split('.')[-1]}"])
    return rows


def _analyze(ctx: Context, schedd: Any, spec: str) -> int:
    """condor_q -analyze: the scheduler's own Analyze method does the
    matchmaking (it knows the slots and the negotiator's view)."""
    if not (spec.replace(".", "", 1).isdigit() and "." in spec):
        raise usage_error(f"-analyze needs one job id like 7.0, got {spec!r}")
    result = schedd.analyze(spec)
    if ctx.json:
        emit_json(result)
        return 0
    out = ctx.out
    out.write(f"-- Job {result.get('Id', spec)}\n")
    out.write(f"   {result.get('Slots', 0)} slots considered, {result.get('Matching', 0)} match the job, "
              f"{result.get('Available', 0)} available now\n")
    clauses = result.get("Clauses") or []
    if clauses:
        out.write("\n   Requirements clause                          slots matching\n")
        for c in clauses:
            if isinstance(c, dict):
                out.write(f"   {str(c.get('Clause')):<44} {c.get('MatchingSlots')}\n")
    rejected = result.get("RejectedBySlot") or []
    if rejected:
        out.write("\n   Slots whose Requirements/Start refuse the job:\n")
        for r in rejected:
            if isinstance(r, dict):
                out.write(f"   {r.get('Slot')}: {r.get('Start')}\n")
    if result.get("Summary"):
        out.write(f"\n   {result['Summary']}\n")
    return 0


# ---------------------------------------------------------------- act / edit
def cmd_act(ctx: Context, args: argparse.Namespace) -> int:
    if not args.jobs and not args.constraint:
        raise usage_error(f"{args.command}: give job ids, clusters, or -constraint")
    spec: Any
    if args.constraint:
        spec = _spec_constraint(args.jobs, args.constraint) if args.jobs else args.constraint
    elif all("." in j for j in args.jobs):
        spec = list(args.jobs)
    else:
        spec = _spec_constraint(args.jobs, None)
    result = ctx.schedd().act(args.action, spec, args.reason)
    totals = {k: _value(result, k) or 0 for k in result}
    if ctx.json:
        emit_json(totals)
    success = int(totals.get("TotalSuccess", 0))
    if not ctx.json:
        ctx.out.write(f"{success} job(s) {args.past}.\n")
    if success == 0:
        problems = {name: int(totals.get(key, 0)) for key, name in _PROBLEMS.items() if totals.get(key)}
        if set(problems) == {"not found"}:
            raise CliError(f"no matching job in the queue ({' '.join(args.jobs) or args.constraint})")
        raise CliError(f"no job {args.past}: "
                       + (", ".join(f"{n} {name}" for name, n in problems.items()) or "nothing matched"))
    return 0


_PROBLEMS = {"TotalNotFound": "not found", "TotalAlreadyDone": "already done",
             "TotalBadStatus": "in the wrong state", "TotalPermissionDenied": "not permitted",
             "TotalError": "failed"}


def cmd_edit(ctx: Context, args: argparse.Namespace) -> int:
    count = ctx.schedd().edit(args.job, args.attr, args.value)
    if ctx.json:
        emit_json({"count": count})
    else:
        ctx.out.write(f"Set attribute {args.attr} in {count} job(s).\n")
    if count == 0:
        raise CliError(f"no job matched {args.job}")
    return 0


def cmd_retrieve(ctx: Context, args: argparse.Namespace) -> int:
    files = ctx.schedd().retrieve(args.job)
    if ctx.json:
        emit_json({"files": files})
    else:
        for path in files:
            ctx.out.write(f"{path}\n")
    if not files:
        raise CliError(f"no output files to retrieve for {args.job}")
    return 0


def cmd_history(ctx: Context, args: argparse.Namespace) -> int:
    projection = [] if args.long or ctx.json else list(args.af or TABLE_ATTRS)
    ads = ctx.schedd().history(_spec_constraint(args.jobs, args.constraint), projection, args.limit)
    if ctx.json:
        emit_json([ad_to_json(a) for a in ads])
    elif args.long:
        for ad in ads:
            ctx.out.write((ad.print_old() if hasattr(ad, "print_old") else str(ad)).rstrip("\n") + "\n\n")
    elif args.af:
        for ad in ads:
            ctx.out.write(" ".join(_af(_value(ad, a)) for a in args.af) + "\n")
    else:
        table([[job_id(a), _value(a, "Owner"), short_time(_value(a, "QDate")),
                duration(_value(a, "RemoteWallClockTime") or 0), STATUS_LETTER.get(_value(a, "JobStatus"), "?"),
                short_time(_value(a, "CompletionDate") or _value(a, "EnteredCurrentStatus")),
                str(_value(a, "Cmd") or "").rsplit("/", 1)[-1]] for a in ads],
              ["ID", "OWNER", "SUBMITTED", "RUN_TIME", "ST", "COMPLETED", "CMD"], ctx.out)
    return 0


# ---------------------------------------------------------------- watch
def cmd_watch(ctx: Context, args: argparse.Namespace) -> int:
    import json
    import queue

    from .session import Event, Handler, Session

    check = None
    if args.constraint:
        try:
            check = classad.ExprTree(args.constraint)
        except ValueError as e:
            raise CliError(f"bad constraint {args.constraint!r}: {e}") from None
    classes = {c.lower() for arg in args.classes for c in arg.split(",") if c}
    inbox: queue.Queue[Event] = queue.Queue()

    class Collect(Handler):
        def event(self, event: Event) -> None:
            inbox.put(event)

    seen = 0
    deadline = time.monotonic() + args.seconds if args.seconds else None
    with Session(ctx.url, handler=Collect(), timeout=ctx.timeout) as session:
        if not session.getAgents():
            raise CliError(f"no agent answered at {ctx.url}")
        while True:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                return 0
            try:
                ev = inbox.get(timeout=wait)
            except queue.Empty:
                return 0
            if classes and ev.name.lower() not in classes:
                continue
            if args.owner and str(ev.arguments.get("Owner")) != args.owner:
                continue
            if check is not None:
                scope = classad.ClassAd({k: v for k, v in ev.arguments.items() if v is not None})
                scope["Event"] = ev.name
                if check.eval(scope=scope) is not True:
                    continue
            seen += 1
            if ctx.json:
                ctx.out.write(json.dumps({"event": ev.name, "agent": ev.agent, "timestamp": ev.timestamp,
                                          "severity": ev.severity, "values": ev.arguments}, default=str) + "\n")
            else:
                stamp = time.strftime("%H:%M:%S", time.localtime(ev.timestamp / 1e9 if ev.timestamp else time.time()))
                rest = " ".join(f"{k}={v}" for k, v in ev.arguments.items() if k not in ("Id", "Owner"))
                ctx.out.write(f"{stamp} {ev.name:<18} {ev.arguments.get('Id', ev.arguments.get('Name', '-'))} "
                              f"{ev.arguments.get('Owner', '-')} {rest}".rstrip() + "\n")
            ctx.out.flush()
            if args.count and seen >= args.count:
                return 0
