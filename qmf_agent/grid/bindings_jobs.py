"""The schema classes of the job path, bound to the schedd, startd and negotiator.

One :class:`~qmf_agent.binding.ClassBinding` per class -- ``scheduler``,
``job``, ``submission``, ``submitter``, ``slot``, ``negotiator`` -- each a
thin adapter: it turns validated method arguments into calls on the roles
and the roles' state into :class:`~qmf_agent.binding.ObjectState` values.
The agent validated and coerced the arguments against the schema already;
what is checked here is what the schema cannot know (job ids, expressions).

Job ads go out in the encoding a request used, typed maps by default
(protocol note, "Job ads on the wire").
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping
from typing import Any

import classad

from ..binding import Caller, ClassBinding, ObjectState
from ..errors import Forbidden, ParameterInvalid, UnknownMethod, UnknownObject
from .analyze import analyze
from .daemon import AgentAddress, DaemonBinding, DaemonInfo
from .jobs import JobStatus, build_ad
from .negotiator import Negotiator
from .objects import job_object, object_ref
from .schedd import Schedd
from .startd import Startd

__all__ = ["job_bindings", "encode_ad", "JobBinding", "SubmissionBinding", "SubmitterBinding",
           "SlotBinding"]

_NS = 1_000_000_000
Handler = Callable[[Mapping[str, Any], Caller], dict[str, Any]]


def encode_ad(flat: Mapping[str, Any], encoding: str = "typed") -> dict[str, Any]:
    """A job ad (raw attributes) as a wire map in *encoding*."""
    return classad.encode_job_ad(build_ad(flat), encoding=encoding)


def _reason(args: Mapping[str, Any]) -> str:
    return str(args.get("Reason") or "")


def _jobs_arg(args: Mapping[str, Any]) -> tuple[list[Any] | None, str | None]:
    jobs = args.get("Jobs")
    constraint = args.get("Constraint")
    if jobs is not None and not isinstance(jobs, list):
        raise ParameterInvalid("Jobs must be a list of job ids")
    return jobs, constraint


class JobBinding:
    """``job`` objects: every proc in the queue, keyed ``"Cluster.Proc"``."""

    def __init__(self, schedd: Schedd) -> None:
        self.schedd = schedd

    def keys(self) -> list[str]:
        return [job.id for job in self.schedd.jobs()]

    def state(self, key: str) -> ObjectState | None:
        with self.schedd.lock:
            job = self.schedd.job(key)
            return job_object(job, self.schedd.config.name) if job is not None else None

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        schedd = self.schedd
        if schedd.job(key) is None:
            raise UnknownObject(f"no job {key!r} in the queue")
        verb = method.lower()
        if verb in ("hold", "release", "remove", "suspend", "continue"):
            schedd.act_one(verb, key, _reason(args), caller)
            return {}
        if verb == "setattribute":
            schedd.set_attribute(key, args["Name"], args["Value"], caller)
            return {}
        if verb == "getad":
            return {"JobAd": encode_ad(schedd.get_ad(key))}
        if verb == "fetch":
            data = schedd.fetch(key, args["File"], int(args.get("Start", 0)),
                                int(args.get("End", -1)), caller)
            return {"Data": data.decode("utf-8", errors="replace")}
        raise UnknownMethod(f"job has no method {method!r}")


def _scheduler_methods(schedd: Schedd, negotiator: Negotiator | None,
                       backend: Startd | Any) -> dict[str, Handler]:
    def submit(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        proc_ads = args.get("ProcAds")
        if proc_ads is not None and not isinstance(proc_ads, list):
            raise ParameterInvalid("ProcAds must be a list of maps, one per proc")
        count = args.get("Count")
        if count is None:
            count = 1 if proc_ads is None else len(proc_ads)
        ids, _ = schedd.submit(args["Ad"], int(count), caller, proc_ads=proc_ads)
        return {"Id": ids[0], "Ids": ids}

    def submit_job(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        ids, _ = schedd.submit(args["Ad"], 1, caller)
        return {"Id": ids[0]}

    def one(verb: str) -> Handler:
        def handler(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
            schedd.act_one(verb, args["Id"], _reason(args), caller)
            return {}
        return handler

    def set_job_attribute(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        schedd.set_attribute(args["Id"], args["Name"], args["Value"], caller)
        return {}

    def get_job_ad(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        return {"JobAd": encode_ad(schedd.get_ad(args["Id"]))}

    def act(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        jobs, constraint = _jobs_arg(args)
        totals = schedd.act(args["Action"], caller, ids=jobs, constraint=constraint,
                            reason=_reason(args))
        return {"Result": dict(totals)}

    def edit(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        jobs, constraint = _jobs_arg(args)
        count = schedd.edit(caller, args["Name"], args["Value"], ids=jobs, constraint=constraint)
        return {"Count": count}

    def query(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        found = schedd.query(args.get("Constraint") or "", args.get("Projection") or None,
                             int(args.get("Limit", -1)))
        return {"Jobs": [encode_ad(flat) for flat in found]}

    def history(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        found = schedd.history(args.get("Constraint") or "", args.get("Projection") or None,
                               int(args.get("Limit", -1)))
        return {"Jobs": [encode_ad(flat) for flat in found]}

    def reschedule(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        schedd.on_work()
        return {}

    def spool_file(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        size = schedd.spool_file(args["Id"], args["Name"], int(args.get("Offset", 0)),
                                 args["Data"], bool(args.get("Final", True)), caller)
        return {"Size": size}

    def retrieve_file(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        data, final = schedd.retrieve_file(args["Id"], args["Name"], int(args.get("Offset", 0)),
                                           int(args.get("Length", 262144)), caller)
        return {"Data": data, "Final": final}

    def analyze_job(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        with schedd.lock:
            job = schedd.job(str(args["Id"]))
            if job is None:
                raise UnknownObject(f"no job {args['Id']!r} in the queue")
            ad, status, job_id = job.ad(), job.status, job.id
        return {"Result": analyze(job_id, ad, status, backend.slots())}

    return {
        "Submit": submit, "SubmitJob": submit_job,
        "HoldJob": one("hold"), "ReleaseJob": one("release"), "RemoveJob": one("remove"),
        "SuspendJob": one("suspend"), "ContinueJob": one("continue"),
        "SetJobAttribute": set_job_attribute, "GetJobAd": get_job_ad,
        "Act": act, "Edit": edit, "Query": query, "History": history,
        "Reschedule": reschedule, "Analyze": analyze_job,
        "SpoolFile": spool_file, "RetrieveFile": retrieve_file,
    }


class SubmissionBinding:
    """``submission`` objects: one per (Owner, Submission name) with jobs known."""

    def __init__(self, schedd: Schedd) -> None:
        self.schedd = schedd

    def keys(self) -> list[str]:
        counts = self.schedd.counts
        with self.schedd.lock:
            found = {k for k, v in counts.by_submission.items() if any(v.values())}
        found.update(self.schedd.store.history_submissions())
        return sorted(f"{owner}#{name}" for owner, name in found)

    def _split(self, key: str) -> tuple[str, str]:
        owner, sep, name = key.partition("#")
        if not sep:
            raise UnknownObject(f"no submission {key!r} (keys are 'Owner#Name')")
        return owner, name

    def state(self, key: str) -> ObjectState | None:
        owner, name = key.partition("#")[0], key.partition("#")[2]
        counts = self.schedd.counts
        with self.schedd.lock:
            queued = dict(counts.by_submission.get((owner, name), {}))
            qdate = counts.submission_qdate.get((owner, name), 0)
        done, first_qdate = self.schedd.store.finished_of(owner, name)
        qdate = qdate or first_qdate
        if not any(queued.values()) and not any(done.values()):
            return None

        def n(status: int) -> int:
            return max(0, queued.get(status, 0)) + max(0, done.get(status, 0))

        values = {
            "Name": name, "Owner": owner, "QDate": qdate,
            "jobserverRef": object_ref("scheduler", self.schedd.config.name),
            "Idle": n(JobStatus.IDLE), "Running": n(JobStatus.RUNNING),
            "Removed": n(JobStatus.REMOVED), "Completed": n(JobStatus.COMPLETED),
            "Held": n(JobStatus.HELD), "TransferringOutput": n(JobStatus.TRANSFERRING_OUTPUT),
            "Suspended": n(JobStatus.SUSPENDED),
        }
        return ObjectState(key=key, values=values, create_ts=qdate * _NS, update_ts=time.time_ns())

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        owner, name = self._split(key)
        if method.lower() != "getjobsummaries":
            raise UnknownMethod(f"submission has no method {method!r}")
        summaries = []
        for job in self.schedd.jobs():
            if job.owner == owner and self.schedd.submission_name(job) == name:
                summaries.append(_summary(job.flat()))
        for stored in self.schedd.store.history_of(owner, name):
            summaries.append(_summary(stored))
        return {"Jobs": summaries}


def _summary(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": f"{flat.get('ClusterId')}.{flat.get('ProcId')}"}
    for name in ("JobStatus", "Cmd", "Args", "Arguments", "QDate", "EnteredCurrentStatus",
                 "JobStartDate", "CompletionDate", "HoldReason", "ReleaseReason", "RemoveReason",
                 "ExitCode"):
        value = flat.get(name)
        if type(value) in (int, float, str, bool):
            out[name] = value
    return out


class SubmitterBinding:
    """``submitter`` objects: one per owner with jobs in the queue."""

    def __init__(self, schedd: Schedd) -> None:
        self.schedd = schedd

    def keys(self) -> list[str]:
        with self.schedd.lock:
            return sorted(o for o, c in self.schedd.counts.by_owner.items() if any(c.values()))

    def state(self, key: str) -> ObjectState | None:
        with self.schedd.lock:
            c = dict(self.schedd.counts.by_owner.get(key, {}))
        if not any(c.values()):
            return None
        name = self.schedd.config.name
        values = {"Name": f"{key}@{name}", "Owner": key, "Machine": platform.node(),
                  "ScheddName": name, "schedulerRef": object_ref("scheduler", name),
                  "IdleJobs": c.get(JobStatus.IDLE, 0), "RunningJobs": c.get(JobStatus.RUNNING, 0),
                  "HeldJobs": c.get(JobStatus.HELD, 0)}
        return ObjectState(key=key, values=values, create_ts=self.schedd.start_time * _NS,
                           update_ts=time.time_ns())

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        raise UnknownMethod(f"submitter has no method {method!r}")


class SlotBinding:
    """``slot`` objects: the local startd's slots."""

    def __init__(self, startd: Startd) -> None:
        self.startd = startd
        self._created = time.time_ns()

    def keys(self) -> list[str]:
        return self.startd.slot_names()

    def state(self, key: str) -> ObjectState | None:
        values = self.startd.slot_values(key)
        if values is None:
            return None
        updated = max(int(values.get("EnteredCurrentState", 0)),
                      int(values.get("EnteredCurrentActivity", 0))) * _NS
        return ObjectState(key=key, values=values, create_ts=self._created,
                           update_ts=max(updated, self._created))

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        raise UnknownMethod(f"slot has no method {method!r}")


def _negotiator_methods(negotiator: Negotiator) -> dict[str, Handler]:
    def get_limits(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        return {"Limits": negotiator.get_limits()}

    def admin(fn: Callable[[str, float], None], arg: str) -> Handler:
        def handler(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
            if not caller.admin:
                raise Forbidden(f"only an administrator may change the negotiator ({arg})")
            fn(args["Name"], float(args[arg]))
            return {}
        return handler

    def get_stats(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        return {"Ad": negotiator.submitter_stats(args["Name"])}

    def reconfig(args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        negotiator.poke()
        return {}

    return {
        "GetLimits": get_limits, "SetLimit": admin(negotiator.set_limit, "Max"),
        "GetStats": get_stats, "SetPriority": admin(negotiator.set_priority, "Priority"),
        "SetPriorityFactor": admin(negotiator.set_priority_factor, "Factor"),
        "SetUsage": admin(negotiator.set_usage, "Usage"), "Reconfig": reconfig,
    }


def job_bindings(schedd: Schedd, startd: Startd, negotiator: Negotiator, *,
                 address: AgentAddress | None = None, pool: str = "",
                 schedd_info: DaemonInfo | None = None,
                 negotiator_info: DaemonInfo | None = None) -> dict[str, ClassBinding]:
    """The bindings of the job path's six classes, by schema class name."""
    schedd_info = schedd_info or DaemonInfo()
    negotiator_info = negotiator_info or DaemonInfo()
    my_address = address.my_address() if address is not None else ""
    system = platform.system()

    def scheduler_values() -> dict[str, Any]:
        values = {"Pool": pool, "System": system, "Name": schedd.config.name,
                  "Machine": platform.node(), "MyAddress": my_address,
                  "JobQueueBirthdate": schedd.birthdate,
                  "MaxJobsRunning": schedd.config.max_jobs_running}
        values.update(schedd_info.properties())
        values.update(schedd_info.statistics())
        values.update(schedd.statistics())
        status = getattr(startd, "backend_status", None)   # e.g. whether Slurm answers
        if status is not None:
            values.update(status())
        return values

    def negotiator_values() -> dict[str, Any]:
        values: dict[str, Any] = {"Pool": pool, "Name": negotiator.config.name,
                                  "Machine": platform.node(), "MyAddress": my_address}
        values.update(negotiator_info.properties())
        values.update(negotiator_info.statistics())
        values.update({k: v for k, v in negotiator.stats.items() if k != "Cycles"})
        return values

    return {
        "scheduler": DaemonBinding("scheduler", lambda: schedd.config.name, scheduler_values,
                                   _scheduler_methods(schedd, negotiator, startd)),
        "job": JobBinding(schedd),
        "submission": SubmissionBinding(schedd),
        "submitter": SubmitterBinding(schedd),
        "slot": SlotBinding(startd),
        "negotiator": DaemonBinding("negotiator", lambda: negotiator.config.name,
                                    negotiator_values, _negotiator_methods(negotiator)),
    }
