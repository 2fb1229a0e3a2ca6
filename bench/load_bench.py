#!/usr/bin/env python3
"""Load benchmark (issue #8): many concurrent consoles making mixed calls.

C consoles (default 50), each its own ``console.Session`` (its own AMQP
connection) on its own thread, each making N calls (default 200) in cycles
of four -- Submit one held job, Query it, Release it, Hold it again --
against a real ``qmf-agent`` process, for every combination of

* transport: the agent's direct listener, and RabbitMQ (``--broker``);
* backend: ``local`` (this machine's slots) and ``slurm`` (the Slurm
  cluster here; a released job is an sbatch, a hold an scancel).

Reported per combination: errors (target: zero), calls/s, and latency p50 /
p99 per call kind and overall, next to the anchor measured in the same run:
a sequential ``echo`` round trip through the same agent (the floor a call
cannot beat).  ``--json`` prints the figures as one JSON object (for
bench/run_all.py); ``--quick`` is 50 consoles x 20 calls.

    python3 bench/load_bench.py [--consoles C] [--calls N] [--quick] [--json]
                                [--only direct-local,broker-slurm,...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _agent_process import DEFAULT_CONFIG, RESTD, AgentProcess, restd_answers, restd_config
from _common import broker_up

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from console import Session  # noqa: E402

BROKER_URL = "amqp://qmf:qmf@127.0.0.1:5672"
COMBINATIONS = ("direct-local", "broker-local", "direct-slurm", "broker-slurm")


def slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False)
    return done.returncode == 0 and any(s.rstrip("*~#!%$@^-+") in ("idle", "mixed", "allocated")
                                        for s in done.stdout.split())


def held_job(backend: str) -> dict[str, Any]:
    """One job ad (typed encoding), queued on hold.  On Slurm it sleeps, so
    that a Hold after its Release always finds it queued or running."""
    return {"Cmd": "/bin/sleep", "Arguments": "300", "Iwd": "/tmp", "Owner": "root", "JobUniverse": 5,
            "Requirements": {"TYPE": "EXPR", "VALUE": "FALSE" if backend == "local" else "TRUE"},
            "JobStatus": 5}


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def summary(self) -> dict[str, Any]:
        every = sorted(x for v in self.latencies.values() for x in v)
        out: dict[str, Any] = {"calls": self.calls, "errors": len(self.errors), "seconds": round(self.seconds, 2),
                               "calls_per_s": round(self.calls / self.seconds, 1) if self.seconds else 0.0,
                               "p50_ms": pct(every, 50), "p99_ms": pct(every, 99)}
        for kind, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            out[kind] = {"p50_ms": pct(ordered, 50), "p99_ms": pct(ordered, 99)}
        if self.errors:
            out["first_errors"] = self.errors[:5]
        return out


def pct(ordered: list[float], q: int) -> float:
    if not ordered:
        return 0.0
    return round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))], 2)


def console_calls(session: Session, agent: AgentProcess, calls: int, record: Callable[[str, float], None]) -> None:
    """One console's cycle of Submit, Query, Release, Hold, *calls* calls in all."""
    cluster = 0
    for i in range(calls):
        kind = ("Submit", "Query", "Release", "Hold")[i % 4]
        if kind == "Submit":
            args: dict[str, Any] = {"Ad": held_job(agent.backend), "Count": 1}
        elif kind == "Query":
            args = {"Constraint": f"ClusterId == {cluster}", "Projection": ["JobStatus"]}
        else:
            args = {"Action": kind, "Jobs": [f"{cluster}.0"], "Reason": "load"}
        began = time.perf_counter()
        out = session.call(agent.scheduler, "Act" if kind in ("Release", "Hold") else kind, args,
                           agent=agent.agent)
        record(kind, time.perf_counter() - began)
        if kind == "Submit":
            cluster = int(str(out["Id"]).split(".")[0])
        elif kind == "Query" and len(out.get("Jobs") or []) != 1:
            raise AssertionError(f"Query of cluster {cluster} found {len(out.get('Jobs') or [])} jobs")
        elif kind in ("Release", "Hold"):
            result = out.get("Result") or {}
            if result.get("TotalSuccess") != 1:
                raise AssertionError(f"{kind} of {cluster}.0 did not succeed: {result}")


def drive(agent: AgentProcess, consoles: int, calls: int) -> LoadResult:
    """*consoles* threads, each with its own Session, *calls* calls each."""
    result = LoadResult()
    lock = threading.Lock()
    ready = threading.Barrier(consoles + 1)

    def record(kind: str, secs: float) -> None:
        with lock:
            result.latencies.setdefault(kind, []).append(secs)

    def one() -> None:
        try:
            with Session(agent.url, timeout=120) as session:
                session.call(agent.scheduler, "echo", {"sequence": 0, "body": "hello"}, agent=agent.agent)
                ready.wait()
                console_calls(session, agent, calls, record)
        except threading.BrokenBarrierError:
            pass
        except Exception as err:  # every failure is counted and reported, none hidden
            with lock:
                result.errors.append(f"{type(err).__name__}: {err}")
            ready.abort()

    threads = [threading.Thread(target=one, name=f"console-{i}") for i in range(consoles)]
    for t in threads:
        t.start()
    try:
        ready.wait(timeout=300)
    except threading.BrokenBarrierError:
        pass
    began = time.perf_counter()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - began
    return result


def echo_anchor(agent: AgentProcess, n: int) -> dict[str, float]:
    """Sequential echo round trips through the same agent: p50/p99 ms."""
    with Session(agent.url, timeout=30) as s:
        lat = []
        for i in range(n):
            began = time.perf_counter()
            s.call(agent.scheduler, "echo", {"sequence": i, "body": "x"}, agent=agent.agent)
            lat.append(time.perf_counter() - began)
    lat.sort()
    return {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


def load_agent(backend: str, transport: str, state: Path) -> AgentProcess:
    """The agent of one combination, not started; with the Slurm backend it
    submits through slurmrestd when one answers, as a site would run it."""
    config = DEFAULT_CONFIG
    if backend == "slurm" and restd_answers():
        config += restd_config(RESTD)
    return AgentProcess(backend, BROKER_URL if transport == "broker" else None, state,
                        config=config)


def run_combination(combo: str, consoles: int, calls: int, workdir: Path) -> dict[str, Any]:
    transport, backend = combo.split("-")
    agent = load_agent(backend, transport, workdir / combo).start()
    try:
        anchor = echo_anchor(agent, 200)
        load = drive(agent, consoles, calls)
        out = load.summary()
        out["anchor_echo"] = anchor
        out["agent_rss_mib"] = round(agent.rss_kib() / 1024, 1)
        return out
    finally:
        clear_queue(agent)
        agent.stop()


def clear_queue(agent: AgentProcess) -> None:
    """Remove every job the run left (not timed): a stopped agent leaves its
    Slurm jobs queued by design, and thousands of held ones slow every
    later ``squeue`` on the shared cluster."""
    try:
        with Session(agent.url, timeout=900) as s:
            s.call(agent.scheduler, "Act", {"Action": "Remove", "Constraint": "true"}, agent=agent.agent)
    except Exception as err:  # the figures stand; say what is left behind
        print(f"could not clear {agent.name}'s queue: {type(err).__name__}: {err}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--consoles", type=int, default=50)
    ap.add_argument("--calls", type=int, default=200, help="calls per console (cycles of 4)")
    ap.add_argument("--quick", action="store_true", help="20 calls per console")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--only", help="comma-separated subset of " + ", ".join(COMBINATIONS))
    args = ap.parse_args()
    calls = 20 if args.quick else args.calls
    if args.consoles < 1 or calls < 4:
        ap.error("--consoles must be >= 1 and --calls >= 4")
    wanted = args.only.split(",") if args.only else list(COMBINATIONS)
    bad = [c for c in wanted if c not in COMBINATIONS]
    if bad:
        ap.error(f"unknown combination(s) {bad}; choose from {', '.join(COMBINATIONS)}")
    figures: dict[str, Any] = {"consoles": args.consoles, "calls_per_console": calls, "results": {}}
    have_broker, have_slurm = broker_up(), slurm_up()
    with tempfile.TemporaryDirectory(prefix="qmf-load-") as tmp:
        for combo in wanted:
            if combo.startswith("broker") and not have_broker:
                figures["results"][combo] = {"skipped": "no RabbitMQ on 127.0.0.1:5672"}
                continue
            if combo.endswith("slurm") and not have_slurm:
                figures["results"][combo] = {"skipped": "no Slurm cluster answers"}
                continue
            figures["results"][combo] = run_combination(combo, args.consoles, calls, Path(tmp))
            if not args.json:
                r = figures["results"][combo]
                print(f"{combo:14s} {r['calls']:6d} calls {r['errors']:3d} errors {r['calls_per_s']:8.1f} calls/s"
                      f"  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:8.1f} ms"
                      f"  (anchor echo p50 {r['anchor_echo']['p50_ms']:.1f} ms: "
                      f"{r['p50_ms'] / max(r['anchor_echo']['p50_ms'], 0.01):.1f}x)  agent RSS {r['agent_rss_mib']} MiB",
                      flush=True)
                for err in r.get("first_errors", []):
                    print("    error:", err)
    if args.json:
        json.dump(figures, sys.stdout, indent=1)
        print()
    errors = sum(r.get("errors", 0) for r in figures["results"].values())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
