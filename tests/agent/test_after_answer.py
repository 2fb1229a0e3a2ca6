"""Work a method leaves for after its answer (qmf_agent.binding.after_answer):
it runs once the answer is sent, also when the call fails, and the audit
line of a served call comes after the answer too."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from qmf_agent import protocol as p
from qmf_agent.agent import Agent
from qmf_agent.binding import Caller, ObjectState, after_answer
from qmf_agent.errors import JobNotFound
from qmf_agent.message import Message
from qmf_agent.schema import Schema
from qmf_agent.security import AUDIT_LOGGER

AGENT = "redhat.com:qmf-grid:after"


class LateJobs:
    """``job`` objects whose Hold leaves work for after the answer and
    records how many messages had been sent when that work ran."""

    def __init__(self, sent: list[Message], fail: bool = False) -> None:
        self.sent = sent
        self.fail = fail
        self.ran_after: list[int] = []
        self.taken: list[bool] = []

    def keys(self) -> list[str]:
        return ["1.0"]

    def state(self, key: str) -> ObjectState | None:
        return ObjectState({"ClusterId": 1, "ProcId": 0}) if key == "1.0" else None

    def call(self, key: str, method: str, args: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
        work: Callable[[], None] = lambda: self.ran_after.append(len(self.sent))  # noqa: E731
        self.taken.append(after_answer(work))
        if self.fail:
            raise JobNotFound("no job 1.0 after all")
        return {}


def serve(jobs_for: Callable[[list[Message]], LateJobs]) -> tuple[Agent, list[Message], LateJobs]:
    sent: list[Message] = []
    agent = Agent(AGENT, Schema.load(), sent.append, workers=0)
    jobs = jobs_for(sent)
    agent.bind("job", jobs)
    return agent, sent, jobs


def hold() -> Message:
    message = p.method_request("mrg.grid:job:1.0", "Hold", {"Reason": "r"})
    message.reply_to = "reply-1"
    message.user_id = "alice"
    return message


def test_work_runs_after_the_answer_is_sent() -> None:
    agent, sent, jobs = serve(LateJobs)
    agent.handle(hold())
    assert jobs.taken == [True]
    assert jobs.ran_after == [1]          # the answer was out when it ran
    assert p.decode_response([sent[0]]) == {}


def test_work_runs_when_the_call_fails_and_the_error_is_answered() -> None:
    agent, sent, jobs = serve(lambda sent: LateJobs(sent, fail=True))
    agent.handle(hold())
    assert jobs.ran_after == [0]          # before the error answer, but it ran
    with pytest.raises(JobNotFound, match="no job 1.0 after all"):
        p.decode_response([sent[-1]])


def test_failing_work_does_not_lose_the_answer_or_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    agent, sent, jobs = serve(LateJobs)

    class Boom(LateJobs):
        def call(self, key: str, method: str, args: Mapping[str, Any],
                 caller: Caller) -> dict[str, Any]:
            after_answer(lambda: 1 / 0)   # type: ignore[func-returns-value]
            return super().call(key, method, args, caller)

    boom = Boom(sent)
    agent.bind("job", boom)
    agent.handle(hold())
    assert p.decode_response([sent[0]]) == {}
    assert boom.ran_after == [1]
    assert "work after an answer failed" in caplog.text


def test_outside_a_method_call_the_work_is_not_taken() -> None:
    ran: list[int] = []
    assert after_answer(lambda: ran.append(1)) is False
    assert ran == []


def test_the_audit_line_of_a_served_call_follows_its_answer(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    seen: list[int] = []
    agent, sent, _ = serve(LateJobs)

    class Counting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(len(sent))

    handler = Counting()
    logging.getLogger(AUDIT_LOGGER).addHandler(handler)
    try:
        agent.handle(hold())
    finally:
        logging.getLogger(AUDIT_LOGGER).removeHandler(handler)
    assert seen == [1]
    line = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER][-1]
    assert "user=alice" in line and "action=job.Hold" in line and line.endswith("result=ok")
