"""``qmf`` pool commands: status, agents, objects, call, daemon, top."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

import classad

from .cli import CliError, Context, register, usage_error
from .cli_format import duration, emit_json, table
from .session import PACKAGE

__all__ = ["parse_call_args", "slot_rows"]

SLOT_STATES = ("Owner", "Claimed", "Unclaimed", "Matched", "Preempting")


@register
def _add(sub: Any) -> None:
    p = sub.add_parser("status", help="slots, like condor_status")
    p.add_argument("-constraint", "--constraint", help="ClassAd expression over slot values")
    p.add_argument("-af", "--af", nargs="+", metavar="ATTR")
    p.add_argument("-long", "--long", "-l", action="store_true")
    p.add_argument("-total", "--total", action="store_true", help="only the totals")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("agents", help="agents that answer")
    p.add_argument("--wait", type=float, default=1.0, help="seconds to collect answers")
    p.set_defaults(func=cmd_agents)

    p = sub.add_parser("objects", help="managed objects of a class")
    p.add_argument("qmf_class", metavar="CLASS", help="scheduler, job, slot, collector, master, ...")
    p.add_argument("--where", help="ClassAd expression over the object's values")
    p.add_argument("--agent", help="only this agent")
    p.add_argument("--limit", type=int)
    p.set_defaults(func=cmd_objects)

    p = sub.add_parser("call", help="call a method: qmf call OBJECT METHOD name=value ...")
    p.add_argument("object", help="object name (mrg.grid:job:7.0), CLASS:KEY (job:7.0) or a class with one object")
    p.add_argument("method")
    p.add_argument("arguments", nargs="*", metavar="NAME=VALUE", help="values are JSON when they parse, else text")
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("daemon", help="control the agent's daemons")
    p.add_argument("verb", choices=("restart", "reconfig", "off", "on"))
    p.add_argument("--mode", choices=("graceful", "fast", "peaceful"), default="graceful")
    p.add_argument("--subsystem", help="one daemon (SCHEDD, STARTD, NEGOTIATOR, COLLECTOR) for on/off")
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("top", help="live view: slots, jobs by state, rates")
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    p.add_argument("--frames", type=int, default=0, help="stop after this many frames")
    p.set_defaults(func=cmd_top)


def _where(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        classad.ExprTree(text)
    except ValueError as e:
        raise CliError(f"bad expression {text!r}: {e}") from None
    return text


def slot_rows(slots: list[dict[str, Any]]) -> list[list[Any]]:
    return [[s.get("Name"), s.get("OpSys"), s.get("Arch"), s.get("State"), s.get("Activity"),
             s.get("LoadAvg"), s.get("Memory"), duration(s.get("TotalJobRunTime") or 0)] for s in slots]


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    objects = ctx.session.getObjects(_class="slot", _package=PACKAGE, _where=_where(args.constraint))
    slots = sorted((o.values() for o in objects), key=lambda s: str(s.get("Name")))
    if ctx.json:
        emit_json(slots)
        return 0
    if args.long:
        for s in slots:
            for k, v in s.items():
                ctx.out.write(f"{k} = {json.dumps(v) if isinstance(v, str) else v}\n")
            ctx.out.write("\n")
        return 0
    if args.af:
        for s in slots:
            ctx.out.write(" ".join("undefined" if s.get(a) is None else str(s.get(a)) for a in args.af) + "\n")
        return 0
    if not args.total:
        table(slot_rows(slots), ["Name", "OpSys", "Arch", "State", "Activity", "LoadAv", "Mem", "ActvtyTime"],
              ctx.out, right=(5, 6))
        ctx.out.write("\n")
    by_platform: dict[str, Counter[str]] = {}
    for s in slots:
        by_platform.setdefault(f"{s.get('Arch')}/{s.get('OpSys')}", Counter())[str(s.get("State"))] += 1
    total: Counter[str] = Counter()
    rows = []
    for platform, counts in sorted(by_platform.items()):
        total.update(counts)
        rows.append([platform, sum(counts.values()), *(counts.get(st, 0) for st in SLOT_STATES)])
    rows.append(["Total", sum(total.values()), *(total.get(st, 0) for st in SLOT_STATES)])
    table(rows, ["", "Total", *SLOT_STATES], ctx.out, right=range(0, 7))
    return 0


def cmd_agents(ctx: Context, args: argparse.Namespace) -> int:
    agents = ctx.session.getAgents(wait=args.wait)
    if not agents:
        raise CliError(f"no agent answered at {ctx.url} within {args.wait:g}s; is the agent running?")
    if ctx.json:
        emit_json([a.attributes for a in agents])
        return 0
    table([[a.name, a.epoch, f"{a.heartbeat_interval:g}s"] for a in agents], ["AGENT", "EPOCH", "HEARTBEAT"], ctx.out)
    return 0


def cmd_objects(ctx: Context, args: argparse.Namespace) -> int:
    package, _, cls = args.qmf_class.rpartition(":")
    objects = ctx.session.getObjects(_class=cls, _package=package or PACKAGE, _where=_where(args.where),
                                     _agent=args.agent, _limit=args.limit)
    if ctx.json:
        emit_json([{"object": o.getObjectId(), "agent": o.getAgent(), "values": o.values()} for o in objects])
        return 0
    for o in objects:
        ctx.out.write(f"== {o.getObjectId()}  (agent {o.getAgent()})\n")
        pairs = o.getProperties() + o.getStatistics() or list(o.values().items())
        width = max((len(n) for n, _ in pairs), default=0)
        for name, value in pairs:
            ctx.out.write(f"   {name.ljust(width)} = {value!r}\n" if isinstance(value, str)
                          else f"   {name.ljust(width)} = {value}\n")
    if not objects:
        ctx.err.write(f"no {args.qmf_class} objects\n")
    return 0


def parse_call_args(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; a value is JSON when it parses, else text."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.isidentifier():
            raise usage_error(f"call: expected NAME=VALUE, got {item!r}")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


def _resolve_object(ctx: Context, spec: str) -> Any:
    parts = spec.split(":")
    if len(parts) >= 3:
        found = ctx.session.getObjects(_objectId=spec)
    elif len(parts) == 2:
        found = ctx.session.getObjects(_objectId=f"{PACKAGE}:{parts[0]}:{parts[1]}")
    else:
        found = ctx.session.getObjects(_class=spec, _package=PACKAGE)
        if len(found) > 1:
            raise CliError(f"{len(found)} {spec} objects: name one as {spec}:KEY "
                           f"({', '.join(o.key for o in found[:5])}{', ...' if len(found) > 5 else ''})")
    if not found:
        raise CliError(f"no object {spec}")
    return found[0]


def cmd_call(ctx: Context, args: argparse.Namespace) -> int:
    arguments = parse_call_args(args.arguments)
    target = _resolve_object(ctx, args.object)
    result = target.invokeMethod(args.method, arguments)
    if result.status:
        raise CliError(f"{args.method} failed: {result.text}")
    if ctx.json:
        emit_json(result.outArgs)
    else:
        for name, value in result.outArgs.items():
            ctx.out.write(f"{name} = {json.dumps(value, default=str) if not isinstance(value, (int, float)) else value}\n")
        if not result.outArgs:
            ctx.out.write("OK\n")
    return 0


def cmd_daemon(ctx: Context, args: argparse.Namespace) -> int:
    from ._master import Master
    from .enums import DaemonCommands

    master = Master(ctx.url)
    if args.verb == "restart":
        master.command(DaemonCommands.Restart)
    elif args.verb == "reconfig":
        master.command(DaemonCommands.Reconfig)
    elif args.verb == "off":
        if args.subsystem:
            master.command(DaemonCommands.DaemonOffFast if args.mode == "fast" else DaemonCommands.DaemonOff,
                           args.subsystem)
        else:
            master.command({"graceful": DaemonCommands.DaemonsOff, "fast": DaemonCommands.DaemonsOffFast,
                            "peaceful": DaemonCommands.DaemonsOffPeaceful}[args.mode])
    else:
        if not args.subsystem:
            raise usage_error("daemon on needs --subsystem")
        master.command(DaemonCommands.DaemonOn, args.subsystem)
    if ctx.json:
        emit_json({"command": args.verb, "subsystem": args.subsystem, "ok": True})
    else:
        target = f" {args.subsystem.upper()}" if args.subsystem else ""
        ctx.out.write(f"Sent {args.verb}{target} to {ctx.url}\n")
    return 0


def cmd_top(ctx: Context, args: argparse.Namespace) -> int:
    from .top import run_top

    return run_top(ctx, interval=args.interval, frames=1 if args.once else args.frames)
