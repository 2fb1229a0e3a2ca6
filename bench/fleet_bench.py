"""The fleet's figures: a real ``qmf-agent`` direct and through RabbitMQ,
against bare proton request/response through the same broker, and 50
simulated agents' heartbeats on one broker.  One run, bounded; prints
figures and ratios against anchors measured in the same run.

* **method calls**: sequential ``echo`` calls on the scheduler object of a
  real ``python3 -m qmf_agent`` process (the whole request path: transport,
  agent, policy, binding) -- target through RabbitMQ >= 0.6x the bare
  proton echo through the same broker (``bench/agent_bench.py``'s, so both
  benches share one anchor);
* **Submit round trip**: sequential ``SubmitJob`` calls, each committed to
  the queue before it is answered (p50 and calls/s);
* **event latency**: ``JobSubmitted`` events from those submits, from the
  agent's timestamp to the subscriber's callback -- target p50 < 20 ms;
* **50 agents**: 50 agents (the real Agent and broker link, no grid) with a
  1 s heartbeat on the broker; a monitor counts what it receives in 5 s.

Figures are the best of a few alternating rounds (bare, then ours), so load
from other work on a shared machine skews both sides of a ratio alike.

    python3 bench/fleet_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import agent_bench  # the bare proton echo: one anchor for both benches
from _agent_process import AgentProcess
from _common import broker_up, report_target

BROKER_URL = agent_bench.BROKER_URL


# ------------------------------------------------------------ a real agent


#: Submitted jobs never match (NUM_SLOTS = 0): the bench measures the calls.
FLEET_CONFIG = "NUM_SLOTS = 0\nHEARTBEAT_INTERVAL = 5\nQMF_ADMINS = qmf\nQMF_AUDIT_LOG = audit.log\n"


def echo_rate(client: Any, agent: AgentProcess, calls: int) -> float:
    from qmf_agent.protocol import decode_response, method_request

    start = time.perf_counter()
    for i in range(calls):
        decode_response(client.request(
            method_request(agent.scheduler, "echo", {"sequence": i, "body": "x"}),
            agent=agent.agent))
    return calls / (time.perf_counter() - start)


def submits(client: Any, agent: AgentProcess, calls: int) -> tuple[float, float, list[float]]:
    """(calls/s, p50 ms, event latencies in ms) of sequential SubmitJob calls."""
    from qmf_agent.protocol import decode_response, method_request

    latencies: list[float] = []
    wanted = threading.Event()

    def on_event(message: Any) -> None:
        received = time.time_ns()
        for item in message.body if isinstance(message.body, list) else []:
            if item.get("_schema_id", {}).get("_class_name") == "JobSubmitted":
                latencies.append((received - int(item["_timestamp"])) / 1e6)
        if len(latencies) >= calls:
            wanted.set()

    sub = client.subscribe("agent.ind.event.mrg_grid.#", on_event)
    time.sleep(0.5)  # the subscription is attached
    ad = {"Cmd": "/bin/true", "Iwd": "/tmp", "JobUniverse": 5, "Owner": "qmf",
          "Requirements": {"TYPE": "EXPR", "VALUE": "FALSE"}}
    trips: list[float] = []
    start = time.perf_counter()
    for _ in range(calls):
        began = time.perf_counter()
        decode_response(client.request(method_request(agent.scheduler, "SubmitJob", {"Ad": ad}),
                                       agent=agent.agent))
        trips.append((time.perf_counter() - began) * 1000)
    rate = calls / (time.perf_counter() - start)
    wanted.wait(10)
    sub.cancel()
    return rate, statistics.median(trips), latencies


# ------------------------------------------------------------ bare anchor


def start_bare() -> tuple[Any, Any]:
    """The bare echo server (a child process on the broker) and its client."""
    queue = f"/queue/fleetbench-echo-{uuid.uuid4().hex[:8]}"
    ready = mp.Event()
    server = mp.Process(target=agent_bench._bare_server, args=(BROKER_URL, queue, 0, ready),
                        daemon=True)
    server.start()
    if not ready.wait(30):
        raise SystemExit("the bare echo did not attach to the broker")
    client = agent_bench._BareClient(BROKER_URL, queue, f"/exchange/amq.direct/{uuid.uuid4()}")
    client.rate(20)  # warm up
    return server, client


# ------------------------------------------------------------ 50 agents


def heartbeats(count: int, window: float) -> dict[str, Any]:
    from qmf_agent.agent import Agent
    from qmf_agent.schema import Schema
    from qmf_agent.transport import AgentServer, Client

    schema = Schema.load()
    tag = uuid.uuid4().hex[:6]
    seen: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()

    def on_beat(message: Any) -> None:
        name = str(message.properties.get("qmf.agent", ""))
        if tag in name:
            with lock:
                seen[name].append(time.monotonic())

    monitor = Client(BROKER_URL, timeout=10.0)
    monitor.subscribe("agent.ind.heartbeat.#", on_beat)
    time.sleep(0.5)
    started = time.monotonic()
    served: list[tuple[AgentServer, Agent]] = []
    try:
        for i in range(count):
            server = AgentServer(listen=None, broker=BROKER_URL)
            agent = Agent(f"bench:sim-{tag}:{i}", schema, server.send, heartbeat_interval=1.0,
                          data_interval=0, workers=0)
            server.serve(agent)
            served.append((server, agent))
        connected = time.monotonic() - started
        time.sleep(1.5)  # every agent has sent its first beat
        with lock:
            for beats in seen.values():
                beats.clear()
        time.sleep(window)
        with lock:
            got = {name: list(beats) for name, beats in seen.items()}
    finally:
        for server, agent in served:
            server.stop()
            agent.close()
        monitor.close()
    gaps = [b - a for beats in got.values() for a, b in zip(beats, beats[1:])]
    return {
        "agents": count, "connect_s": connected, "heard": len(got),
        "beats": sum(len(b) for b in got.values()), "expected": count * window,
        "max_gap": max(gaps) if gaps else float("nan"),
    }


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    args = parser.parse_args()
    if not broker_up():
        print("no RabbitMQ on 127.0.0.1:5672: nothing to measure")
        return 1
    calls, rounds, submit_calls = (100, 2, 50) if args.quick else (400, 3, 200)
    print(f"fleet_bench: {calls} calls x {rounds} rounds, {submit_calls} submits, pid {os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="fleetbench-") as tmp:
        state = Path(tmp)
        agents = {kind: AgentProcess("local", url, state / kind, config=FLEET_CONFIG)
                  for kind, url in (("direct", None), ("rabbitmq", BROKER_URL))}
        server, bare = start_bare()
        try:
            clients = {kind: a.start().client() for kind, a in agents.items()}
            for kind, a in agents.items():
                echo_rate(clients[kind], a, 20)  # warm up
            best: dict[str, float] = defaultdict(float)
            for _ in range(rounds):
                best["bare"] = max(best["bare"], bare.rate(calls))
                for kind, a in agents.items():
                    best[kind] = max(best[kind], echo_rate(clients[kind], a, calls))
            results = {kind: submits(clients[kind], a, submit_calls) for kind, a in agents.items()}
            for client in clients.values():
                client.close()
        finally:
            bare.close()
            server.terminate()
            for a in agents.values():
                a.stop()
    print("\n-- method calls (sequential echo on the scheduler of a real qmf-agent)")
    print(f"   bare proton request/response via RabbitMQ  {best['bare']:8.0f} calls/s   (anchor)")
    for kind in ("direct", "rabbitmq"):
        print(f"   qmf-agent {kind:<9}                        {best[kind]:8.0f} calls/s   "
              f"{best[kind] / best['bare']:.2f}x bare")
    ratio = best["rabbitmq"] / best["bare"]
    print(f"   target via RabbitMQ >= 0.60x bare: {'met' if ratio >= 0.6 else 'MISSED'} ({ratio:.2f}x)")
    report_target(6, "method calls through RabbitMQ", ">= 0.60x bare proton request/response",
                  f"{best['rabbitmq']:.0f} calls/s", f"bare proton via RabbitMQ {best['bare']:.0f} calls/s, "
                  f"{ratio:.2f}x", ratio >= 0.6)
    print("\n-- Submit round trip (SubmitJob, committed before the answer) and JobSubmitted latency")
    for kind, (rate, p50, lat) in results.items():
        ev = f"p50 {statistics.median(lat):6.2f} ms, p95 {sorted(lat)[int(len(lat) * 0.95) - 1]:6.2f} ms" \
            if lat else "no events"
        print(f"   {kind:<9} {rate:7.0f} submits/s, p50 {p50:6.2f} ms, "
              f"{rate / best['bare']:.2f}x bare | events ({len(lat)}): {ev}")
    lat = results["rabbitmq"][2]
    if lat:
        p50 = statistics.median(lat)
        print(f"   target event p50 < 20 ms via RabbitMQ: {'met' if p50 < 20 else 'MISSED'} ({p50:.2f} ms)")
        report_target(6, "event latency p50 through RabbitMQ", "< 20 ms", f"{p50:.2f} ms",
                      f"direct {statistics.median(results['direct'][2]):.2f} ms"
                      if results["direct"][2] else "direct: no events", p50 < 20)
    hb = heartbeats(50, 5.0)
    print("\n-- 50 simulated agents (Agent + broker link each, 1 s heartbeats) on one broker")
    print(f"   connected in {hb['connect_s']:.1f} s; monitor heard {hb['heard']}/{hb['agents']} agents, "
          f"{hb['beats']} heartbeats in 5 s (expected ~{hb['expected']:.0f}), "
          f"largest gap {hb['max_gap']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
