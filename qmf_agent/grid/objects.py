"""Managed-object views of jobs: the schema's properties and statistics.

Kept apart from the bindings because the schedd itself needs a job's last
state when the job leaves the queue (``AgentSink.deleted``).
"""

from __future__ import annotations

from typing import Any

from ..binding import ObjectState
from .jobs import Expr, Job

__all__ = ["job_object", "wire_value", "JOB_PROPERTIES", "JOB_STATISTICS", "object_ref"]

JOB_PROPERTIES = ("ClusterId", "ProcId", "GlobalJobId", "Owner", "Cmd", "Args", "Iwd", "QDate",
                  "CustomId", "Submission")
JOB_STATISTICS = ("JobStatus", "EnteredCurrentStatus", "HoldReason", "HoldReasonCode",
                  "ReleaseReason", "RemoveReason", "ExitCode", "ExitBySignal", "NumJobStarts",
                  "RemoteWallClockTime", "RemoteUserCpu", "ImageSize")

_NS = 1_000_000_000


def wire_value(value: Any) -> Any:
    """A raw attribute value as an AMQP-encodable value (expressions as text)."""
    return value.text if type(value) is Expr else value


def object_ref(class_name: str, key: str) -> dict[str, str]:
    """An objId value naming another object of the ``mrg.grid`` package.

    The agent adds its own name and epoch when it encodes the reference.
    """
    return {"_object_name": f"mrg.grid:{class_name}:{key}"}


def job_object(job: Job, scheduler_name: str) -> ObjectState:
    """The ``job`` object's state now."""
    values: dict[str, Any] = {}
    for name in JOB_PROPERTIES + JOB_STATISTICS:
        value = job.get(name)
        if value is None and name == "Args":
            value = job.get("Arguments")
        if value is not None:
            values[name] = wire_value(value)
    values["schedulerRef"] = object_ref("scheduler", scheduler_name)
    created = int(job.get("QDate", 0) or 0) * _NS
    updated = max(created, int(job.get("EnteredCurrentStatus", 0) or 0) * _NS)
    return ObjectState(key=job.id, values=values, create_ts=created, update_ts=updated)
