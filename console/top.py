"""``qmf top``: a live terminal view of an agent (slots, jobs, rates).

Plain ANSI refresh (clear screen, home cursor) rather than curses, so it
works in any terminal, over ssh and in CI logs; with ``--once`` or when
stdout is not a terminal it prints frames without escape codes.  Rates
are computed from two consecutive samples of the scheduler's counters,
so they are true rates over the refresh interval, not lifetime averages.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .session import PACKAGE

__all__ = ["run_top", "Sample", "render"]

CLEAR = "\x1b[H\x1b[2J"
JOB_STATES = ("Idle", "Running", "Removed", "Completed", "Held", "Transferring", "Suspended")


class Sample:
    """One look at the agent: scheduler statistics and slot states."""

    def __init__(self, ctx: Any) -> None:
        self.time = time.monotonic()
        schedulers = ctx.session.getObjects(_class="scheduler", _package=PACKAGE)
        self.scheduler: dict[str, Any] = schedulers[0].values() if schedulers else {}
        self.slots = [o.values() for o in ctx.session.getObjects(_class="slot", _package=PACKAGE)]

    def counter(self, name: str) -> float:
        try:
            return float(self.scheduler.get(name) or 0)
        except (TypeError, ValueError):
            return 0.0


def render(now: Sample, before: Sample | None, url: str) -> str:
    lines = [f"qmf top -- {url} -- {time.strftime('%H:%M:%S')}", ""]
    states = Counter(str(slot.get("State")) for slot in now.slots)
    lines.append(f"Slots: {len(now.slots)} total  " + "  ".join(
        f"{st} {states.get(st, 0)}" for st in ("Unclaimed", "Claimed", "Matched", "Owner", "Preempting")))
    cpus = sum(int(slot.get("Cpus") or 0) for slot in now.slots)
    busy = sum(int(slot.get("Cpus") or 0) for slot in now.slots if slot.get("State") == "Claimed")
    if cpus:
        width = 40
        filled = int(width * busy / cpus)
        lines.append(f"Cpus:  [{'#' * filled}{'.' * (width - filled)}] {busy}/{cpus} busy")
    lines.append("")
    lines.append(
        "Jobs:  "
        f"total {int(now.counter('TotalJobAds'))}  idle {int(now.counter('TotalIdleJobs'))}  "
        f"running {int(now.counter('TotalRunningJobs'))}  held {int(now.counter('TotalHeldJobs'))}  "
        f"removed {int(now.counter('TotalRemovedJobs'))}"
    )
    if before is not None and now.time > before.time:
        dt = now.time - before.time
        rates = {name: (now.counter(name) - before.counter(name)) / dt
                 for name in ("JobsSubmitted", "JobsStarted", "JobsCompleted")}
        lines.append("Rates: " + "  ".join(f"{k[4:].lower()} {max(0.0, v):.1f}/s" for k, v in rates.items()))
    else:
        lines.append(
            "Rates: "
            f"submitted {now.counter('JobSubmissionRate'):.1f}/s  started {now.counter('JobStartRate'):.1f}/s  "
            f"completed {now.counter('JobCompletionRate'):.1f}/s (agent's averages)"
        )
    lines.append(f"       mean time to start {now.counter('MeanTimeToStart'):.1f}s  "
                 f"mean running time {now.counter('MeanRunningTime'):.1f}s")
    lines.append("")
    lines.append(f"{'SLOT':<28} {'STATE':<10} {'ACTIVITY':<9} {'JOB':<10} OWNER")
    for slot in sorted(now.slots, key=lambda x: str(x.get("Name")))[:20]:
        lines.append(f"{str(slot.get('Name')):<28} {str(slot.get('State')):<10} {str(slot.get('Activity')):<9} "
                     f"{str(slot.get('JobId') or '-'):<10} {slot.get('RemoteOwner') or '-'}")
    if len(now.slots) > 20:
        lines.append(f"... and {len(now.slots) - 20} more slots")
    return "\n".join(lines) + "\n"


def run_top(ctx: Any, interval: float = 2.0, frames: int = 0) -> int:
    """Refresh every *interval* seconds; stop after *frames* (0: until ^C)."""
    ansi = ctx.out.isatty() and frames != 1
    before: Sample | None = None
    shown = 0
    while True:
        now = Sample(ctx)
        frame = render(now, before, ctx.url)
        ctx.out.write((CLEAR if ansi else "") + frame)
        ctx.out.flush()
        shown += 1
        if frames and shown >= frames:
            return 0
        before = now
        time.sleep(interval)
