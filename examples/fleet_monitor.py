#!/usr/bin/env python3
"""Watch a fleet of agents: arrivals, heartbeats, losses, and job events.

One console sees every agent on a broker (or the one agent it connects to
directly).  An agent that misses two heartbeats is reported lost.

    python3 examples/fleet_monitor.py --url amqp://qmf:qmf@127.0.0.1:5672 --for 60
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from console import Session
from console.session import Agent, Event, Handler


class FleetPrinter(Handler):
    """Prints one line per thing that happens (flushes: output is a log)."""

    def __init__(self, quiet_heartbeats: bool) -> None:
        self.quiet = quiet_heartbeats
        self.lock = threading.Lock()
        self.counts = {"agents": 0, "heartbeats": 0, "events": 0, "lost": 0}

    def say(self, text: str) -> None:
        with self.lock:
            print(time.strftime("%H:%M:%S"), text, flush=True)

    def newAgent(self, agent: Agent) -> None:
        self.counts["agents"] += 1
        self.say(f"agent up    {agent.name} (epoch {agent.epoch}, heartbeat {agent.heartbeat_interval:g}s)")

    def delAgent(self, agent: Agent) -> None:
        self.counts["lost"] += 1
        self.say(f"agent LOST  {agent.name} (two heartbeats missed)")

    def heartbeat(self, agent: Agent, timestamp: int) -> None:
        self.counts["heartbeats"] += 1
        if not self.quiet:
            self.say(f"heartbeat   {agent.name}")

    def event(self, event: Event) -> None:
        self.counts["events"] += 1
        detail = " ".join(f"{k}={v}" for k, v in event.arguments.items())
        self.say(f"event       {event.name:<18} {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("QMF_URL", "amqp://127.0.0.1:5672"))
    parser.add_argument("--for", dest="seconds", type=float, default=0, help="stop after this many seconds (0: ^C)")
    parser.add_argument("--quiet-heartbeats", action="store_true", help="do not print each heartbeat")
    args = parser.parse_args(argv)
    printer = FleetPrinter(args.quiet_heartbeats)
    with Session(args.url, handler=printer) as session:
        agents = session.getAgents()
        printer.say(f"watching {len(agents)} agent(s) at {args.url}")
        try:
            if args.seconds:
                time.sleep(args.seconds)
            else:
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
    c = printer.counts
    print(f"summary: {c['agents']} agent(s), {c['heartbeats']} heartbeat(s), "
          f"{c['events']} event(s), {c['lost']} lost", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
