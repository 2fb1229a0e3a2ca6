"""Addressing profiles and subject naming."""

from __future__ import annotations

from qmf_agent import protocol as p
from qmf_agent.message import Message


def test_subjects_replace_dots_in_names() -> None:
    assert (
        p.heartbeat_subject("redhat.com", "qmf-grid") == "agent.ind.heartbeat.redhat_com.qmf-grid"
    )
    assert p.data_subject("mrg.grid", "job") == "agent.ind.data.mrg_grid.job"
    assert p.event_subject("mrg.grid", "JobHeld", 4) == "agent.ind.event.mrg_grid.JobHeld.warn"
    assert p.event_subject("mrg.grid", "JobHeld", 42).endswith(".42")
    assert p.LOCATE_SUBJECT == "console.request.agent_locate"


def test_agent_name_parts() -> None:
    assert p.split_agent_name("redhat.com:qmf-grid:host:1") == ("redhat.com", "qmf-grid", "host:1")
    assert p.split_agent_name("solo") == ("solo", "", "")


def test_standard_profile() -> None:
    prof = p.StandardAddressing()
    assert prof.to_agent("v:p:i") == p.Route("qmf.default.direct", "v:p:i")
    assert prof.to_topic("agent.ind.data.x") == p.Route("qmf.default.topic", "agent.ind.data.x")
    assert prof.to_reply("dyn-7") == p.Route("dyn-7")
    assert prof.agent_source("v:p:i") == p.Route("qmf.default.direct", "v:p:i")
    assert prof.topic_source("agent.ind.#") == p.Route("qmf.default.topic", "agent.ind.#")
    assert prof.reply_source() is None


def test_rabbit_profile() -> None:
    prof = p.RabbitAddressing()
    assert prof.to_agent("v:p:i").address == "/queue/qmf.default.direct.v:p:i"
    assert prof.to_topic("agent.ind.heartbeat.a.b").address == (
        "/exchange/amq.topic/qmf.default.agent.ind.heartbeat.a.b"
    )
    assert prof.agent_source("v:p:i") == p.Route("/queue/qmf.default.direct.v:p:i")
    assert prof.topic_source("agent.ind.#").address == "/exchange/amq.topic/qmf.default.agent.ind.#"
    first, second = prof.reply_source(), prof.reply_source()
    assert first is not None and second is not None
    assert first.address.startswith("/exchange/amq.direct/") and first != second


def test_route_apply_sets_address_and_subject() -> None:
    message = Message(subject="old")
    assert p.Route("a", "s").apply(message) is message
    assert (message.address, message.subject) == ("a", "s")
    p.Route("reply").apply(message)
    assert (message.address, message.subject) == ("reply", "s")
