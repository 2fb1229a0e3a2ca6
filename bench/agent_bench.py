"""Agent round trips over the wire, against bare proton measured in the same run.

Prints, for the direct listener and (when it answers) RabbitMQ:

* sequential ``echo`` method calls per second through our Client and a real
  Agent, next to a bare proton request/response echo (no QMF) -- target:
  at least 0.6x bare;
* one query of 100,000 objects with a 3-attribute projection, end to end
  (request, agent, batches on the wire, ``decode_response``) -- target
  under 2 s direct.

The serving sides (bare echo and agent) run in child processes, as they
would in production; the clients run here, alternating in short rounds and
keeping their best, so load from other work on a shared machine skews
both figures of a ratio alike.  ``--quick`` makes a short run.

    python3 bench/agent_bench.py [--quick] [--no-broker]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from _common import broker_up, free_port, report_target

BROKER_URL = "amqp://qmf:qmf@127.0.0.1:5672"
AGENT_NAME = "bench.vendor:qmf-grid:bench"
IDLE_BARE = 1760.0  # bare proton direct calls/s on an idle machine (design note "brokers")






# --------------------------------------------------------------- bare proton


def _bare_server(url: str | None, queue: str, port: int, ready: Any) -> None:
    """A proton echo: answers every message to its reply_to, nothing else."""
    from proton import Message
    from proton.handlers import MessagingHandler
    from proton.reactor import AtMostOnce, Container

    class Echo(MessagingHandler):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.senders: dict[str, Any] = {}
            self.relay: Any = None
            self.conn: Any = None
            self.count = 0

        def on_start(self, event: Any) -> None:
            if url is None:
                event.container.listen(f"127.0.0.1:{port}")
                ready.set()
            else:
                self.conn = event.container.connect(url, allowed_mechs="PLAIN")
                event.container.create_receiver(self.conn, queue, name="bench-echo-rcv")

        def on_link_opened(self, event: Any) -> None:
            if url is not None and event.receiver:
                ready.set()

        def on_link_opening(self, event: Any) -> None:  # direct: dynamic replies
            if event.link.is_sender and event.link.remote_source.dynamic:
                address = f"reply-{uuid.uuid4()}"
                event.link.source.address = address
                self.senders[address] = event.link
            elif event.link.is_sender:
                event.link.source.address = event.link.remote_source.address
            else:
                event.link.target.address = event.link.remote_target.address

        def on_message(self, event: Any) -> None:
            msg = event.message
            reply = Message(body=msg.body, correlation_id=msg.correlation_id)
            sender = self.senders.get(msg.reply_to)
            if sender is None:  # broker: one cached sender per reply address
                self.count += 1
                sender = event.container.create_sender(
                    self.conn, msg.reply_to, name=f"bench-echo-snd-{self.count}",
                    options=AtMostOnce(),
                )
                self.senders[msg.reply_to] = sender
            sender.send(reply)

    Container(Echo()).run()


class _BareClient:
    """Sequential request/response over BlockingConnection (no QMF)."""

    def __init__(self, url: str, target: str, reply_source: str | None) -> None:
        from proton.reactor import AtMostOnce
        from proton.utils import BlockingConnection

        kwargs = {"allowed_mechs": "PLAIN"} if "@" in url else {}
        self.conn = BlockingConnection(url, **kwargs)
        if reply_source is None:
            self.receiver = self.conn.create_receiver(None, dynamic=True, credit=10)
            self.reply_to = self.receiver.link.remote_source.address
        else:
            self.receiver = self.conn.create_receiver(reply_source, credit=10,
                                                      name=f"rcv-{uuid.uuid4()}")
            self.reply_to = reply_source
        self.sender = self.conn.create_sender(target, options=AtMostOnce(),
                                              name=f"snd-{uuid.uuid4()}")

    def rate(self, calls: int) -> float:
        from proton import Message

        start = time.perf_counter()
        for i in range(calls):
            self.sender.send(Message(body={"sequence": i, "body": "x"}, reply_to=self.reply_to,
                                     correlation_id=str(i)))
            self.receiver.receive(10)
            self.receiver.accept()
        return calls / (time.perf_counter() - start)

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------- the agent


class _Jobs:
    """A ``job`` binding over *count* synthetic jobs (values built on demand)."""

    def __init__(self, count: int) -> None:
        from qmf_agent.binding import ObjectState

        self._state = ObjectState
        self._count = count
        self._ts = time.time_ns()

    def keys(self) -> Iterable[str]:
        return (f"{i}.0" for i in range(1, self._count + 1))

    def state(self, key: str) -> Any:
        cluster = int(key.split(".", 1)[0])
        values = {"ClusterId": cluster, "ProcId": 0, "Owner": f"user{cluster % 50}",
                  "Cmd": "/bin/sleep", "Args": "60", "Iwd": "/tmp", "JobStatus": 1,
                  "QDate": 1700000000 + cluster}
        return self._state(key, values, self._ts, self._ts)

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Any) -> dict[str, Any]:
        return {}


def _agent_server(listen: str | None, broker: str | None, objects: int, ready: Any) -> None:
    from qmf_agent.agent import Agent
    from qmf_agent.schema import Schema
    from qmf_agent.transport import AgentServer

    server = AgentServer(listen=listen, broker=broker)
    agent = Agent(AGENT_NAME, Schema.load(), server.send, heartbeat_interval=60.0,
                  data_interval=0)
    agent.bind("job", _Jobs(objects))
    server.serve(agent)
    ready.set()
    while True:
        time.sleep(3600)


class _QmfClient:
    """The same calls as ``echo`` methods through our Client and the Agent."""

    def __init__(self, url: str) -> None:
        from qmf_agent.transport import Client

        self.client = Client(url, timeout=60.0)

    def rate(self, calls: int) -> float:
        from qmf_agent.protocol import decode_response, method_request

        start = time.perf_counter()
        for i in range(calls):
            decode_response(self.client.request(
                method_request("mrg.grid:job:1.0", "echo", {"sequence": i, "body": "x"}),
                agent=AGENT_NAME,
            ))
        return calls / (time.perf_counter() - start)

    def query(self) -> tuple[float, int]:
        """(seconds, objects) for every job with a 3-attribute projection."""
        from qmf_agent.protocol import decode_response, query_request

        start = time.perf_counter()
        items = decode_response(self.client.request(
            query_request("OBJECT", class_name="job", projection=["ClusterId", "Owner", "JobStatus"]),
            agent=AGENT_NAME,
        ))
        return time.perf_counter() - start, len(items)

    def close(self) -> None:
        self.client.close()


def codec_anchor(objects: int) -> tuple[float, float]:
    """Encode+decode µs per object of a real query answer: (ours, proton's).

    Machine-independent context for the query figure: the same answer's
    batches through our codec and through proton's, in this process.
    """
    import proton

    from qmf_agent.agent import Agent
    from qmf_agent.message import Message
    from qmf_agent.protocol import decode as decode_request
    from qmf_agent.protocol import query_request
    from qmf_agent.schema import Schema
    from qmf_agent.transport._convert import decode, encode

    agent = Agent(AGENT_NAME, Schema.load(), lambda message: None, heartbeat_interval=60.0,
                  data_interval=0, workers=0)
    agent.bind("job", _Jobs(objects))
    request = query_request("OBJECT", class_name="job", projection=["ClusterId", "Owner", "JobStatus"])
    # The answer's objects as maps (Agent.query), batched as on the wire:
    # both codecs encode every map generically (the agent's own template
    # encoding is part of the end-to-end query figure, not of this one).
    _, items = agent.query(decode_request(request))
    answer = [Message(body=items[i : i + 500], properties=request.properties)
              for i in range(0, len(items), 500)]

    start = time.perf_counter()
    for raw in [encode(m) for m in answer]:
        decode(raw)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for m in answer:
        back = proton.Message()
        back.decode(proton.Message(body=m.body, properties=m.properties).encode())
        _ = back.body
    theirs = time.perf_counter() - start
    return ours / objects * 1e6, theirs / objects * 1e6


def _run_child(target: Any, *args: Any) -> Any:
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=target, args=(*args, ready), daemon=True)
    proc.start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError(f"{target.__name__} did not start")
    return proc


def measure(kind: str, calls: int, objects: int, rounds: int) -> dict[str, float]:
    """Bare anchor and agent for one *kind* (direct | rabbitmq), interleaved.

    Both servers run at once; the two clients alternate in *rounds* short
    rounds and each keeps its best, so a load swing on a shared machine
    hits both paths alike instead of skewing the ratio.
    """
    children = []
    try:
        if kind == "direct":
            bare_port, agent_port = free_port(), free_port()
            children.append(_run_child(_bare_server, None, "", bare_port))
            children.append(_run_child(_agent_server, f"127.0.0.1:{agent_port}", None, objects))
            bare = _BareClient(f"amqp://127.0.0.1:{bare_port}", "echo", None)
            qmf = _QmfClient(f"amqp://127.0.0.1:{agent_port}")
        else:
            queue = f"/queue/bench.echo.{uuid.uuid4().hex[:8]}"
            children.append(_run_child(_bare_server, BROKER_URL, queue, 0))
            children.append(_run_child(_agent_server, None, BROKER_URL, objects))
            bare = _BareClient(BROKER_URL, queue, f"/exchange/amq.direct/{uuid.uuid4()}")
            qmf = _QmfClient(BROKER_URL)
        try:
            bare.rate(20)  # warm up both paths
            qmf.rate(20)
            per_round = max(1, calls // rounds)
            out = {"bare": 0.0, "qmf": 0.0, "query_s": float("inf"), "objects": 0.0}
            for _ in range(rounds):
                out["bare"] = max(out["bare"], bare.rate(per_round))
                out["qmf"] = max(out["qmf"], qmf.rate(per_round))
            for _ in range(2):
                seconds, count = qmf.query()
                out["query_s"] = min(out["query_s"], seconds)
                out["objects"] = count
            return out
        finally:
            bare.close()
            qmf.close()
    finally:
        for child in children:
            child.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer calls, 10k objects)")
    parser.add_argument("--no-broker", action="store_true", help="skip the RabbitMQ column")
    args = parser.parse_args(argv)
    calls, objects, rounds = (300, 10_000, 3) if args.quick else (2000, 100_000, 8)
    kinds = ["direct"] + ([] if args.no_broker or not broker_up() else ["rabbitmq"])
    results = {kind: measure(kind, calls, objects, rounds) for kind in kinds}
    ours, theirs = codec_anchor(2000 if args.quick else 10_000)
    print(f"agent_bench: {calls} sequential calls in {rounds} interleaved rounds (best kept), "
          f"query of {objects:,} objects x 3 attributes (best of 2)")
    print(f"{'':34}" + "".join(f"{kind:>16}" for kind in kinds))
    rows: list[tuple[str, Callable[[dict[str, float]], str]]] = [
        ("bare proton echo (calls/s)", lambda r: f"{r['bare']:,.0f}"),
        ("qmf echo method (calls/s)", lambda r: f"{r['qmf']:,.0f}"),
        ("  ratio to bare (target >= 0.6)", lambda r: f"{r['qmf'] / r['bare']:.2f}x"),
        (f"query {objects:,} x3 (s)", lambda r: f"{r['query_s']:.2f}"),
        # The design note measured bare proton at 1,760 calls/s direct on its
        # machine: scaling by this run's bare figure estimates the query time
        # there.  An estimate for another machine, never the target's figure.
        ("  est. on the design note's machine (s)",
         lambda r: f"{r['query_s'] * min(1.0, results['direct']['bare'] / IDLE_BARE):.2f}"),
        ("  objects/s", lambda r: f"{r['objects'] / r['query_s']:,.0f}"),
    ]
    for label, cell in rows:
        print(f"{label:34}" + "".join(f"{cell(results[k]):>16}" for k in kinds))
    print(f"{'codec µs/object (enc+dec)':34}{ours:>16.1f}  ours;  proton {theirs:.1f}"
          f"  ({theirs / ours:.1f}x faster)")
    direct = results["direct"]
    report_target(3, "echo method calls, direct listener", ">= 0.6x bare proton", f"{direct['qmf']:,.0f} calls/s",
                  f"bare proton echo {direct['bare']:,.0f} calls/s, {direct['qmf'] / direct['bare']:.2f}x",
                  direct["qmf"] >= 0.6 * direct["bare"])
    if not args.quick:
        report_target(3, f"query of {objects:,} objects x 3 attributes, direct", "< 2 s",
                      f"{direct['query_s']:.2f} s ({direct['objects'] / direct['query_s']:,.0f} objects/s)",
                      f"codec {ours:.1f} µs/object vs proton's {theirs:.1f} ({theirs / ours:.1f}x)",
                      direct["query_s"] < 2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
