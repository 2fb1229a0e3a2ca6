"""Job policy expressions: PeriodicHold/Release/Remove and OnExitHold/Remove.

The semantics are HTCondor's: periodic expressions are evaluated on an
interval against the job ad (PeriodicRelease only for held jobs, the others
for jobs still in the queue); on-exit expressions when a run ends, with the
exit attributes already in the ad.  Only ``true`` (or a non-zero number)
fires; UNDEFINED and ERROR never do, so a typo cannot hold a whole queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import classad

from .jobs import Expr, Job, JobStatus, raw_to_text

__all__ = ["PolicyAction", "periodic_action", "on_exit_action", "is_true", "POLICY_HOLD_CODE"]

#: HTCondor's HoldReasonCode for "held by a job policy expression".
POLICY_HOLD_CODE = 3

_PERIODIC = ("PeriodicRemove", "PeriodicHold", "PeriodicRelease")


@dataclass(frozen=True)
class PolicyAction:
    """What a policy expression decided, with HTCondor's reason text."""

    action: str  # "hold" | "release" | "remove" | "requeue" | "complete"
    reason: str
    code: int = 0


def is_true(value: Any) -> bool:
    """ClassAd truth for policy: true, or a non-zero number."""
    if type(value) is bool:
        return value
    return type(value) in (int, float) and value != 0


def _may_fire(raw: Any) -> bool:
    """Cheap pre-check: a literal false (or absent) expression never fires."""
    if raw is None:
        return False
    if type(raw) is Expr:
        return True
    return is_true(raw)


def has_periodic(job: Job) -> bool:
    """Whether any periodic expression of *job* could fire (no ClassAd built)."""
    return any(_may_fire(job.get(name)) for name in _PERIODIC)


def periodic_action(job: Job, ad: classad.ClassAd | None = None) -> PolicyAction | None:
    """The periodic policy's decision for *job*, or None."""
    status = job.status
    if status in (JobStatus.REMOVED, JobStatus.COMPLETED):
        return None
    ad = ad if ad is not None else job.ad()
    order = ("PeriodicRemove", "PeriodicRelease") if status == JobStatus.HELD else (
        "PeriodicRemove", "PeriodicHold")
    for name in order:
        raw = job.get(name)
        if not _may_fire(raw) or not is_true(ad.eval(name)):
            continue
        text = f"The job attribute {name} expression '{raw_to_text(raw)}' evaluated to TRUE"
        if name == "PeriodicHold":
            return PolicyAction("hold", text, POLICY_HOLD_CODE)
        if name == "PeriodicRelease":
            return PolicyAction("release", text)
        return PolicyAction("remove", text)
    return None


def on_exit_action(job: Job, exit_attrs: dict[str, Any]) -> PolicyAction:
    """Hold, requeue or complete a job whose run ended with *exit_attrs*."""
    raw_hold = job.get("OnExitHold")
    raw_remove = job.get("OnExitRemove")
    if not _may_fire(raw_hold) and (raw_remove is None or type(raw_remove) is bool):
        if raw_remove is False:
            return PolicyAction("requeue", "OnExitRemove is false")
        return PolicyAction("complete", "")
    ad = job.ad()
    for name, value in exit_attrs.items():
        ad[name] = value
    if _may_fire(raw_hold) and is_true(ad.eval("OnExitHold")):
        text = f"The job attribute OnExitHold expression '{raw_to_text(raw_hold)}' evaluated to TRUE"
        return PolicyAction("hold", text, POLICY_HOLD_CODE)
    if raw_remove is not None:
        value = ad.eval("OnExitRemove")
        if type(value) in (bool, int, float) and not is_true(value):
            return PolicyAction(
                "requeue",
                f"The job attribute OnExitRemove expression '{raw_to_text(raw_remove)}'"
                " evaluated to FALSE")
    return PolicyAction("complete", "")
