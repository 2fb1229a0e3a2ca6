"""qmf_agent.security.AccessPolicy on its own: identities, admins, limits, audit lines."""

from __future__ import annotations

import logging

import pytest

from qmf_agent.binding import Caller
from qmf_agent.errors import Forbidden, QueueFull
from qmf_agent.message import Message
from qmf_agent.security import AUDIT_LOGGER, AccessPolicy, identity_of


@pytest.mark.parametrize(
    ("user", "identity"),
    [
        (None, None), ("", None), ("anonymous", None), ("ANONYMOUS", None),
        ("alice", "alice"), ("alice@qmf-grid", "alice@qmf-grid"),
        ("O=qmf-grid,CN=carol", "carol"), ("/O=x/CN=dave", "dave"), ("CN=", "CN="),
    ],
)
def test_identity_of(user: str | None, identity: str | None) -> None:
    assert identity_of(user) == identity


def test_callers_admin_is_decided_by_the_policy_not_the_message() -> None:
    policy = AccessPolicy(admins={"boss"})
    assert policy.caller(Message(user_id="boss"), "r1") == Caller("boss", True, "r1")
    assert policy.caller(Message(user_id="alice")) == Caller("alice", False, None)
    assert policy.caller(Message(properties={"admin": True})) == Caller(None, False, None)
    policy.admins = frozenset({"alice"})  # a reconfig
    assert policy.caller(Message(user_id="alice")).admin


def test_a_required_identity_refuses_anonymous_requests() -> None:
    policy = AccessPolicy(require_identity=True)
    with pytest.raises(Forbidden, match="QMF_REQUIRE_IDENTITY"):
        policy.caller(Message(user_id=None))
    assert policy.caller(Message(user_id="alice")).identity == "alice"


def test_in_flight_is_counted_per_reply_address() -> None:
    policy = AccessPolicy(max_in_flight=2)
    a, b = Message(reply_to="reply-a"), Message(reply_to="reply-b")
    keys = [policy.enter(a), policy.enter(a)]
    with pytest.raises(QueueFull, match="QMF_MAX_IN_FLIGHT = 2"):
        policy.enter(a)
    policy.enter(b)
    assert policy.in_flight(a) == 2 and policy.in_flight(b) == 1
    policy.leave(keys[0])
    policy.enter(a)
    assert policy.in_flight(a) == 2


def test_submit_rate_is_a_token_bucket_per_user() -> None:
    now = [100.0]
    policy = AccessPolicy(max_submits_per_second=2, clock=lambda: now[0])
    alice, bob = Caller("alice"), Caller("bob")
    policy.check_rate(alice, "scheduler", "Submit")
    policy.check_rate(alice, "Scheduler", "SUBMITJOB")
    with pytest.raises(QueueFull, match=r"alice submits faster .* = 2; retry in 0\.50 s"):
        policy.check_rate(alice, "scheduler", "Submit")
    policy.check_rate(bob, "scheduler", "Submit")  # bob has his own budget
    policy.check_rate(alice, "scheduler", "HoldJob")  # not a submit
    now[0] += 0.5
    policy.check_rate(alice, "scheduler", "Submit")
    with pytest.raises(QueueFull):
        policy.check_rate(alice, "scheduler", "Submit")


@pytest.mark.parametrize("kwargs", [{"max_in_flight": -1}, {"max_submits_per_second": -0.5}])
def test_negative_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="0 \\(no limit\\) or positive"):
        AccessPolicy(**kwargs)  # type: ignore[arg-type]


def test_the_audit_line_is_one_line_with_who_what_which_and_the_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    AccessPolicy.audit(Caller("alice", False, "r-7"), "job.Hold", "mrg.grid:job:1.0",
                       Forbidden("alice may not\nhold job 1.0"))
    AccessPolicy.audit(Caller(None, True), "query OBJECT", None)
    AccessPolicy.audit(None, "method Hold", "x", RuntimeError("boom"))
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER]
    assert lines == [
        "user=alice admin=no action=job.Hold object=mrg.grid:job:1.0 request_id=r-7 "
        "result=Forbidden(6): alice may not hold job 1.0",
        "user=anonymous admin=yes action=query OBJECT object=- request_id=- result=ok",
        "user=? admin=no action=method Hold object=x request_id=- result=RuntimeError: boom",
    ]


def test_the_agent_audits_refused_and_served_requests(caplog: pytest.LogCaptureFixture) -> None:
    from qmf_agent.agent import Agent
    from qmf_agent.protocol import decode_response, query_request
    from qmf_agent.schema import Schema

    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    sent: list[Message] = []
    agent = Agent("redhat.com:qmf-grid:audit", Schema.load(), sent.append, workers=0,
                  policy=AccessPolicy(require_identity=True))
    query = query_request("OBJECT", class_name="job")
    query.reply_to = "reply-1"
    agent.handle(query)  # no user id: refused
    with pytest.raises(Forbidden, match="QMF_REQUIRE_IDENTITY"):
        decode_response([sent[-1]])
    query.user_id = "alice"
    agent.handle(query)
    assert decode_response([sent[-1]]) == []
    agent.handle(Message(body=[1, 2], reply_to="reply-1", user_id="bob",
                         properties={"qmf.opcode": "_method_request"}))
    agent.handle(Message(body={}, reply_to="reply-1", properties=["not", "a", "map"]))  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER]
    assert lines[0].startswith("user=anonymous admin=no action=query OBJECT object=job ")
    assert lines[0].endswith("result=Forbidden(6): this agent requires an authenticated identity "
                             "(QMF_REQUIRE_IDENTITY); the request carried no user id")
    assert lines[1].startswith("user=alice admin=no action=query OBJECT object=job ")
    assert lines[1].endswith("result=ok")
    assert lines[2].startswith("user=bob admin=no action=refused _method_request object=- ")
    assert "result=ParameterInvalid(4)" in lines[2]
    assert lines[3].startswith("user=anonymous admin=no action=refused message object=- ")
    assert len(lines) == 4
