#!/usr/bin/env python3
"""Run every benchmark in bench/ and write docs/benchmarks.md.

One command for the whole benchmark report (issue #8).  Each benchmark
measures its own anchors in the same run (classad2 and the pure-Python
``classad`` package, bare proton and bare RabbitMQ, SQLite and stdlib
floors, Slurm's own sbatch) and prints its figures next to them as ratios;
this script runs them one after the other (never two at once: they would
skew each other), keeps their output, and writes one page: the machine
described, a summary table of the issue's targets (met / not met) for the
figures it reads as JSON, and every benchmark's own table.

    python3 bench/run_all.py [--quick [--full NAME,...]] [--only NAME,...] [--out docs/benchmarks.md]

``--quick`` runs each benchmark's short form (and a one-minute soak and
fuzz run); the full run takes well over an hour (the soak alone is ten
minutes).  A benchmark that fails or times out is reported as such on the
page; the exit status is 1 when any did.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import TARGET_PREFIX

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"


@dataclass(frozen=True)
class Bench:
    name: str
    what: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    json: bool = False  # prints one JSON object (summarised in the targets table)


BENCHES = (
    Bench("classad_bench", "ClassAd evaluation, parsing, matching, memory vs classad2 and PyPI classad",
          (), ("--quick",)),
    Bench("classad_io_bench", "built-ins, JSON and wire encodings vs classad2 and stdlib json", (), ("--quick",)),
    Bench("agent_bench", "echo round trips and a 100,000-object query vs bare proton, direct and RabbitMQ",
          (), ("--quick",)),
    Bench("agent_query_bench", "the agent's query path without the wire vs a plain copy loop", (), ("10000",)),
    Bench("schedd_bench", "queue, recovery, negotiation, real jobs vs SQLite / json / spawn floors",
          (), ("--quick",)),
    Bench("backend_bench", "submit and short-job throughput, local and Slurm backends vs sbatch",
          (), ("--jobs", "100")),
    Bench("collector_bench", "advertise and query vs building and evaluating the same ads", (), ("--ads", "2000")),
    Bench("console_submit", "console submit, per-job values, query vs an echo round trip",
          (), ("--jobs", "500", "--calls", "100")),
    Bench("fleet_bench", "many agents on one broker", (), ("--quick",)),
    Bench("load_bench", "50 concurrent consoles x mixed calls, direct/RabbitMQ x local/Slurm",
          ("--json",), ("--json", "--quick"), json=True),
    Bench("soak_bench", "agent memory over a long mixed load", ("--json",),
          ("--json", "--minutes", "1", "--every", "5"), json=True),
    Bench("fuzz_long", "ClassAd, submit and wire fuzzing with fresh seeds", ("--json", "--minutes", "20"),
          ("--json", "--minutes", "1", "--cases", "500"), json=True),
)


@dataclass
class Run:
    bench: Bench
    args: tuple[str, ...]
    rc: int | None  # None: timed out
    seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def data(self) -> dict[str, Any] | None:
        if not self.bench.json:
            return None
        start = self.stdout.find("{")
        try:
            value = json.loads(self.stdout[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


def run_bench(bench: Bench, quick: bool, timeout: float) -> Run:
    args = bench.quick if quick else bench.full
    began = time.monotonic()
    try:
        done = subprocess.run([sys.executable, str(BENCH / f"{bench.name}.py"), *args], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        return Run(bench, args, done.returncode, time.monotonic() - began, done.stdout, done.stderr)
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        return Run(bench, args, None, time.monotonic() - began, out, f"timed out after {timeout:.0f} s")


# ------------------------------------------------------------------ machine


def _first(path: str, pattern: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError:
        return "?"
    m = re.search(pattern, text, re.M)
    return m.group(1).strip() if m else "?"


def _cmd(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"? ({err})"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "?"


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    mem_kib = _first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    try:
        import proton
        proton_version = ".".join(str(x) for x in proton.VERSION)
    except ImportError:
        proton_version = "not installed"
    rabbit = _cmd("dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server")
    return [
        ("CPU", _first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib.isdigit() else "?"),
        ("load average at the start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("kernel", platform.release()),
        ("OS", _first("/etc/os-release", r'^PRETTY_NAME="?([^"\n]+)')),
        ("Python", platform.python_version()),
        ("qpid-proton (Python)", proton_version),
        ("RabbitMQ (package)", rabbit),
        ("Slurm", _cmd("sinfo", "--version")),
        ("HTCondor bindings (classad2 anchor)", _dist_version("htcondor")),
        ("pure-Python classad (PyPI, anchor)", "0.4.1, installed into a temporary directory by classad_bench"),
    ]


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# ------------------------------------------------------------------ targets


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


Row = tuple[str, str, str, str, str]  # issue, what, target, figure (anchor, ratio), verdict


def load_targets(data: dict[str, Any]) -> list[Row]:
    rows = []
    for combo, r in data.get("results", {}).items():
        if "skipped" in r:
            rows.append(("#8", f"load {combo}", "zero errors", f"skipped: {r['skipped']}", "not measured"))
            continue
        anchor = r["anchor_echo"]["p50_ms"]
        figure = (f"{r['calls']} calls by {data['consoles']} consoles, {r['errors']} errors; "
                  f"{r['calls_per_s']} calls/s; p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms "
                  f"(anchor: sequential echo p50 {anchor} ms, ratio {r['p50_ms'] / max(anchor, 0.01):.1f}x)")
        rows.append(("#8", f"load {combo}", "zero errors", figure, _met(r["errors"] == 0)))
    return rows


def soak_targets(data: dict[str, Any]) -> list[Row]:
    figure = (f"{data['minutes']} min, {data['calls']} calls, {data['errors']} errors; RSS idle "
              f"{data['rss_idle_mib']} MiB (anchor), end {data['rss_end_mib']} MiB "
              f"({data['rss_end_mib'] / max(data['rss_idle_mib'], 0.1):.2f}x), max {data['rss_max_mib']} MiB, "
              f"second half {data['growth_mib_per_min_second_half']} MiB/min")
    return [("#8", "soak", "zero errors; memory reported over time", figure, _met(data["errors"] == 0))]


def fuzz_targets(data: dict[str, Any]) -> list[Row]:
    figure = f"{data['rounds']} rounds ({data['cases_per_round']} cases per submit/wire round), {data['failed']} failed"
    return [("#8", "fuzz (long)", "zero untyped exceptions", figure, _met(data["failed"] == 0))]


def printed_targets(run: Run) -> list[Row]:
    """The target records a benchmark printed (``_common.report_target``)."""
    rows = []
    for line in run.stdout.splitlines():
        if not line.startswith(TARGET_PREFIX):
            continue
        try:
            r = json.loads(line[len(TARGET_PREFIX):])
            rows.append((f"#{r['issue']}", f"{run.bench.name}: {r['what']}", r["target"],
                         f"{r['figure']} (anchor: {r['anchor']})", _met(bool(r["met"]))))
        except (json.JSONDecodeError, KeyError, TypeError):
            rows.append(("?", run.bench.name, "?", f"unreadable target line: {line[:200]}", "**not met**"))
    return rows


SUMMARISERS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "load_bench": load_targets, "soak_bench": soak_targets, "fuzz_long": fuzz_targets,
}


# ------------------------------------------------------------------ page


def page(runs: list[Run], command: str, began: dt.datetime, seconds: float) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Written by `python3 bench/run_all.py{command}` on "
        f"{began:%Y-%m-%d %H:%M} UTC ({seconds / 60:.0f} min). Do not edit by hand: run it again.",
        "",
        "Every figure sits next to an anchor measured in the same run on the same machine, as a ratio, so "
        "the page compares across machines and survives load from other work. Absolute figures from a "
        "shared machine are noisy; the ratios are what to read.",
        "",
        "## The machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine()),
        "",
        "## Targets",
        "",
        "| issue | what | target | figure (anchor, ratio) | |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        summarise = SUMMARISERS.get(run.bench.name)
        data = run.data()
        if summarise and data:
            rows = summarise(data)
        elif summarise or not run.ok:
            rows = [("", run.bench.name, "", f"no figures ({_state(run)})", "**not met**")]
        else:
            rows = printed_targets(run)
        out += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    out += ["", "## Every benchmark", ""]
    for run in runs:
        out += [f"### {run.bench.name}: {run.bench.what}", "",
                f"`python3 bench/{run.bench.name}.py {' '.join(run.args)}`".replace(" `", "`") +
                f" -- {_state(run)}, {run.seconds:.0f} s", ""]
        text = "\n".join(line for line in run.stdout.strip().splitlines() if not line.startswith(TARGET_PREFIX))
        if run.bench.json and run.data():
            text = _json_digest(run.data() or {})
        if text:
            out += ["```", text, "```", ""]
        if not run.ok and run.stderr.strip():
            out += ["stderr (end):", "", "```", run.stderr.strip()[-1500:], "```", ""]
    return "\n".join(out) + "\n"


def _state(run: Run) -> str:
    if run.rc is None:
        return "**timed out**"
    return "ok" if run.ok else f"**failed (exit {run.rc})**"


def _json_digest(data: dict[str, Any]) -> str:
    """The JSON figures without their longest lists (the soak's samples are shown as a series)."""
    data = dict(data)
    samples = data.pop("samples", None)
    results = data.get("results")
    if isinstance(results, list):  # fuzz rounds: one line each
        data["results"] = [f"{r['target']}: seed {r['seed']} {'ok' if r['ok'] else 'FAILED'} ({r['summary']})"
                           for r in results]
    text = json.dumps(data, indent=1)
    if samples:
        text += "\nRSS over time (s, MiB): " + ", ".join(f"{t:.0f}:{m}" for t, m in samples)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short forms (minutes, not hours)")
    ap.add_argument("--only", help="comma-separated benchmark names (default: all that exist)")
    ap.add_argument("--full", default="", help="with --quick: these benchmarks (comma-separated) at full size")
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    ap.add_argument("--timeout", type=float, help="seconds per benchmark (default 900 quick, 7200 full)")
    args = ap.parse_args()
    known = {b.name: b for b in BENCHES}
    names = args.only.split(",") if args.only else [b.name for b in BENCHES]
    full = [n for n in args.full.split(",") if n]
    unknown = [n for n in names + full if n not in known]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; known: {', '.join(known)}")
    timeout = args.timeout or (900.0 if args.quick else 7200.0)
    began, t0 = dt.datetime.now(dt.timezone.utc), time.monotonic()
    runs = []
    for name in names:
        if not (BENCH / f"{name}.py").exists():
            print(f"-- {name}: not in bench/ (skipped)", flush=True)
            continue
        print(f"-- {name} ...", flush=True)
        run = run_bench(known[name], args.quick and name not in full, timeout)
        print(f"   {_state(run)} in {run.seconds:.0f} s", flush=True)
        runs.append(run)
    command = (" --quick" if args.quick else "") + (f" --full {args.full}" if args.full else "")
    Path(args.out).write_text(page(runs, command, began, time.monotonic() - t0))
    print(f"wrote {args.out}")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
