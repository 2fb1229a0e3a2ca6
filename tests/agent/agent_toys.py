"""A toy system bound to the real schema, for the agent tests.

The toy bindings are small but real: they keep objects in dicts, change
them on method calls, refuse what a scheduler would refuse, and report
changes through the agent's sink, so the agent is exercised exactly as the
grid exercises it (docs/internals.md section 3), with no network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from qmf_agent.agent import Agent
from qmf_agent.binding import AgentSink, Caller, ObjectState
from qmf_agent.errors import Forbidden, JobNotFound, JobStateError
from qmf_agent.memory import MemoryBroker
from qmf_agent.schema import Schema

AGENT_NAME = "redhat.com:qmf-grid:test.host"


class ToyJobs:
    """Jobs keyed "cluster.proc": Hold / Release / Remove / SetAttribute / GetAd."""

    def __init__(self, sink: AgentSink | None = None) -> None:
        self.sink = sink
        self.lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any], Caller]] = []

    def add(self, key: str, **values: Any) -> None:
        cluster, proc = key.split(".")
        base = {
            "ClusterId": int(cluster),
            "ProcId": int(proc),
            "Owner": "alice",
            "JobStatus": 1,
            "Cmd": "/bin/true",
        }
        base.update(values)
        with self.lock:
            self.jobs[key] = base
        if self.sink is not None:
            self.sink.changed("job", key)

    def keys(self) -> Iterator[str]:
        with self.lock:
            return iter(list(self.jobs))

    def state(self, key: str) -> ObjectState | None:
        with self.lock:
            values = self.jobs.get(key)
            if values is None:
                return None
            return ObjectState(key, dict(values), 1_000, 2_000)

    def call(
        self, key: str, method: str, args: Mapping[str, Any], caller: Caller
    ) -> dict[str, Any]:
        self.calls.append((key, method, dict(args), caller))
        with self.lock:
            job = self.jobs.get(key)
            if job is None:
                raise JobNotFound(f"no job {key}")
            if caller.identity not in (job["Owner"], None) and not caller.admin:
                raise Forbidden(f"{caller.identity} may not change {job['Owner']}'s job {key}")
            if method == "Hold":
                if job["JobStatus"] == 5:
                    raise JobStateError(f"job {key} is already held")
                job["JobStatus"] = 5
                job["HoldReason"] = args["Reason"]
            elif method == "Release":
                if job["JobStatus"] != 5:
                    raise JobStateError(f"job {key} is not held")
                job["JobStatus"] = 1
            elif method == "Remove":
                gone = self.jobs.pop(key)
            elif method == "SetAttribute":
                job[args["Name"]] = args["Value"]
            elif method == "GetAd":
                return {"JobAd": dict(job)}
            elif method == "Fetch":
                return {"Data": f"{args['File']}:{args['Start']}:{args['End']}"}
            else:
                raise RuntimeError(f"toy binding has no {method}")  # an internal error
        if self.sink is not None:
            if method == "Remove":
                self.sink.deleted("job", key, ObjectState(key, gone, 1_000, 3_000, 4_000))
            else:
                self.sink.changed("job", key)
        return {}


class ToyScheduler:
    """One scheduler; Submit queues into a ToyJobs; Reschedule can be made slow."""

    def __init__(self, jobs: ToyJobs) -> None:
        self.jobs = jobs
        self.gate = threading.Event()
        self.gate.set()
        self.next_cluster = 1

    def keys(self) -> list[str]:
        return ["test.host"]

    def state(self, key: str) -> ObjectState | None:
        if key != "test.host":
            return None
        return ObjectState(key, {"Name": key, "TotalJobAds": len(self.jobs.jobs)}, 1, 2)

    def call(
        self, key: str, method: str, args: Mapping[str, Any], caller: Caller
    ) -> dict[str, Any]:
        if method == "Submit":
            cluster = self.next_cluster
            self.next_cluster += 1
            ids = [f"{cluster}.{p}" for p in range(args.get("Count") or 1)]
            for job_id in ids:
                self.jobs.add(
                    job_id,
                    Owner=caller.identity or "nobody",
                    **{k: v for k, v in args["Ad"].items() if isinstance(v, (str, int, float))},
                )
            return {"Id": ids[0], "Ids": ids}
        if method == "Reschedule":
            self.gate.wait(10)
            return {}
        if method == "Query":
            return {"Jobs": "not a list"}  # out values are the binding's business
        return "not a map"  # type: ignore[return-value]  # a binding bug: internal error


def make_agent(
    broker: MemoryBroker, schema: Schema, **kwargs: Any
) -> tuple[Agent, ToyJobs, ToyScheduler]:
    kwargs.setdefault("workers", 0)
    kwargs.setdefault("admins", {"root"})
    agent = Agent(AGENT_NAME, schema, broker.send, epoch=3, **kwargs)
    jobs = ToyJobs(agent)
    scheduler = ToyScheduler(jobs)
    agent.bind("job", jobs)
    agent.bind("Scheduler", scheduler)
    broker.attach(agent)
    return agent, jobs, scheduler


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll *predicate* until true (for answers from worker threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())
