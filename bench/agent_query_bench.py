"""The agent's query path without the wire: 100,000 jobs, 3-attribute projection.

Prints seconds for each step and its ratio against an anchor measured in the
same run (a plain loop that copies three values out of 100,000 dicts), so the
figures compare across machines.  The transport's end-to-end figure (through
the direct listener) is bench/agent_bench.py's.

    python bench/agent_query_bench.py [N]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from qmf_agent import protocol as p
from qmf_agent.agent import Agent
from qmf_agent.binding import Caller, ObjectState
from qmf_agent.message import Message
from qmf_agent.schema import Schema


class Jobs:
    """A binding over a dict of job values, the shape the grid serves."""

    def __init__(self, n: int) -> None:
        self.values = {
            f"{i // 10}.{i % 10}": {
                "ClusterId": i // 10,
                "ProcId": i % 10,
                "Owner": f"user{i % 50}",
                "JobStatus": 1 + i % 5,
                "Cmd": "/bin/sleep",
                "Args": "60",
                "Iwd": "/tmp",
                "QDate": 1_700_000_000 + i,
                "ImageSize": 1024,
                "RemoteUserCpu": 0.0,
                "EnteredCurrentStatus": 1_700_000_000 + i,
                "NumJobStarts": 0,
            }
            for i in range(n)
        }

    def keys(self) -> list[str]:
        return list(self.values)

    def state(self, key: str) -> ObjectState | None:
        values = self.values.get(key)
        return None if values is None else ObjectState(key, values, 1, 2)

    def call(self, key: str, method: str, args: Any, caller: Caller) -> dict[str, Any]:
        return {}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(3):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 100_000
    jobs = Jobs(n)
    sent: list[Message] = []
    agent = Agent("bench:qmf-grid:local", Schema.load(), sent.append, workers=0)
    agent.bind("job", jobs)
    projection = ["Owner", "JobStatus", "QDate"]

    def anchor() -> int:
        out = [{k: v[k] for k in projection} for v in jobs.values.values()]
        return len(out)

    def query() -> int:
        return len(agent.query(p.make_query("object", class_name="job", projection=projection))[1])

    def query_where() -> int:
        q = p.make_query(
            "object", class_name="job", projection=projection, where=["eq", "JobStatus", 2]
        )
        return len(agent.query(q)[1])

    def query_classad() -> int:
        q = p.make_query("object", class_name="job", projection=projection, where="JobStatus == 2")
        return len(agent.query(q)[1])

    def handle() -> int:
        sent.clear()
        message = p.query_request("object", class_name="job", projection=projection)
        message.reply_to = "r"
        agent.handle(message)
        return sum(len(m.body) for m in sent)

    t_anchor, _ = timed(anchor)
    print(f"objects: {n}")
    print(f"anchor  (copy 3 values per dict)          {t_anchor:8.3f} s   1.0x")
    for label, fn in [
        ("agent.query, projection                  ", query),
        ("agent.query, projection + QMF predicate  ", query_where),
        ("agent.query, projection + ClassAd        ", query_classad),
        ("agent.handle -> batched messages         ", handle),
    ]:
        t, count = timed(fn)
        print(f"{label}{t:8.3f} s {t / t_anchor:5.1f}x  ({count} objects)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
