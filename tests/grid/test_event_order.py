"""The schedd's events keep their order when a Submit's are published
after its answer (qmf_agent.grid.schedd._EventOrder)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from qmf_agent.grid.schedd import _EventOrder


class Sink:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.changes: list[tuple[str, str]] = []

    def changed(self, class_name: str, key: str) -> None:
        self.changes.append((class_name, key))

    def deleted(self, class_name: str, key: str, state: Any) -> None:
        self.changes.append(("deleted " + class_name, key))

    def event(self, name: str, values: Mapping[str, Any], severity: int = 6) -> None:
        self.events.append(f"{name} {values['Id']} {severity}")


def test_queued_events_wait_for_flush() -> None:
    sink = Sink()
    order = _EventOrder(sink)
    order.queue("JobSubmitted", {"Id": "1.0"})
    assert sink.events == []
    order.flush()
    assert sink.events == ["JobSubmitted 1.0 6"]
    order.flush()
    assert sink.events == ["JobSubmitted 1.0 6"]     # once only


def test_a_later_event_sends_the_queued_ones_first() -> None:
    sink = Sink()
    order = _EventOrder(sink)
    order.queue("JobSubmitted", {"Id": "1.0"})
    order.event("JobStatusChanged", {"Id": "1.0"}, 5)
    assert sink.events == ["JobSubmitted 1.0 6", "JobStatusChanged 1.0 5"]
    order.flush()                                    # the Submit's late flush: nothing left
    assert len(sink.events) == 2


def test_object_changes_pass_straight_through() -> None:
    sink = Sink()
    order = _EventOrder(sink)
    order.queue("JobSubmitted", {"Id": "1.0"})
    order.changed("job", "1.0")
    order.deleted("job", "1.0", None)
    assert sink.changes == [("job", "1.0"), ("deleted job", "1.0")] and sink.events == []


def test_flushes_from_many_threads_keep_the_queue_order() -> None:
    sink = Sink()
    order = _EventOrder(sink)
    lock = threading.Lock()             # the schedd's lock orders the queue

    def raise_events(t: int) -> None:
        for i in range(200):
            with lock:
                if i % 3:
                    order.queue("E", {"Id": f"{t}.{i}"})
                else:
                    order.event("E", {"Id": f"{t}.{i}"})
            if i % 5 == 0:
                order.flush()

    threads = [threading.Thread(target=raise_events, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    order.flush()
    assert len(sink.events) == 800 and len(set(sink.events)) == 800
    for t in range(4):
        mine = [int(e.split()[1].split(".")[1]) for e in sink.events if e.split()[1].startswith(f"{t}.")]
        assert mine == sorted(mine)
