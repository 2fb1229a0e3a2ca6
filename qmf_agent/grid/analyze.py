"""Why does an idle job not run?  (The scheduler's ``Analyze`` method.)

Like ``condor_q -better-analyze``: the job's Requirements is split into its
top-level ``&&`` clauses and each clause is evaluated against every slot,
so the answer names the clause that no slot meets; then each slot's own
Requirements/Start is evaluated against the job, since matching is
two-way.
"""

from __future__ import annotations

from typing import Any

import classad

from .backend import SlotView
from .policy import is_true

__all__ = ["analyze", "split_conjunction"]


def split_conjunction(text: str) -> list[str]:
    """Top-level ``&&`` clauses of ClassAd expression *text*.

    Strings, quoted names and parentheses/brackets/braces are respected, so
    ``(a && b) && c`` gives ``["(a && b)", "c"]``.  Outer parentheses around
    the whole expression are looked through.
    """
    text = text.strip()
    while text.startswith("(") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    clauses: list[str] = []
    depth, start, i, n = 0, 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            i = _skip_quoted(text, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "&" and depth == 0 and text.startswith("&&", i):
            clauses.append(text[start:i].strip())
            start = i + 2
            i += 2
            continue
        i += 1
    clauses.append(text[start:].strip())
    return [c for c in clauses if c]


def _skip_quoted(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return i


def _closing(text: str, i: int) -> int:
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            i = _skip_quoted(text, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def analyze(job_id: str, job_ad: classad.ClassAd, status: int,
            slots: list[SlotView]) -> dict[str, Any]:
    """A report of how *job_ad* fares against *slots*.

    Returns a map: ``Id``, ``Slots`` (how many exist), ``Matching`` (slots
    matching both ways), ``Available`` (of those, free now), ``Clauses``
    (each Requirements clause with how many slots satisfy it),
    ``RejectedBySlot`` (slots whose Requirements/Start refuse the job) and
    ``Summary``, one line a user can act on.
    """
    req_text = str(job_ad.lookup("Requirements")) if "Requirements" in job_ad else "true"
    clauses: list[dict[str, Any]] = []
    for clause in split_conjunction(req_text):
        expr = classad.ExprTree(clause)
        ok = sum(1 for s in slots if is_true(expr.eval(scope=job_ad, target=s.ad)))
        clauses.append({"Clause": clause, "MatchingSlots": ok})
    job_ok = [s for s in slots if is_true(
        classad.ExprTree(req_text).eval(scope=job_ad, target=s.ad))]
    refused = []
    both = []
    for s in job_ok:
        slot_req = str(s.ad.lookup("Requirements")) if "Requirements" in s.ad else "true"
        if is_true(classad.ExprTree(slot_req).eval(scope=s.ad, target=job_ad)):
            both.append(s)
        else:
            start = str(s.ad.lookup("Start")) if "Start" in s.ad else slot_req
            refused.append({"Slot": s.name, "Start": start})
    available = sum(1 for s in both if s.free)
    if status != 1:
        summary = f"job {job_id} is not idle (JobStatus {status}): nothing to match"
    elif not slots:
        summary = "there are no slots"
    elif not job_ok:
        failing = [str(c["Clause"]) for c in clauses if c["MatchingSlots"] == 0]
        summary = (f"no slot satisfies the job's Requirements; clause(s) no slot meets: "
                   f"{'; '.join(failing)}" if failing else
                   "each clause matches some slot, but no slot meets them all")
    elif not both:
        summary = f"{len(job_ok)} slot(s) meet the job's Requirements, but their Start refuses it"
    elif not available:
        summary = f"{len(both)} slot(s) match, all busy: the job waits for one to free"
    else:
        summary = f"{available} matching slot(s) are free: the job should start at the next cycle"
    return {"Id": job_id, "Slots": len(slots), "Matching": len(both), "Available": available,
            "Clauses": clauses, "RejectedBySlot": refused, "Summary": summary}
