"""The transport's edges: bad addresses, refusals, TLS, routing, slow readers.

These drive the direct listener with our Client or with bare proton as the
peer (no Agent needed: a tiny responder is attached where one is wanted).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import proton
import pytest
from _wire import wait_for
from proton.handlers import MessagingHandler
from proton.reactor import Container
from proton.utils import BlockingConnection, LinkDetached, SendException
from qmf_testing import BROKER_HOST, BROKER_PORT, free_port

from qmf_agent.errors import RequestTimeout
from qmf_agent.message import Message
from qmf_agent.transport import (
    Client,
    DirectListener,
    ListenError,
    Security,
    TransportError,
    Unreachable,
)
from qmf_agent.transport._links import subject_matches
from qmf_agent.transport.listener import parse_listen

NAME = "test:wire:responder"


def _responder(listener: DirectListener, fail_first: bool = False) -> list[Message]:
    """Attach an agent that echoes each request's body (the first raises)."""
    seen: list[Message] = []

    def handle(msg: Message) -> None:
        seen.append(msg)
        if fail_first and len(seen) == 1:
            raise RuntimeError("boom")
        listener.send(Message(body={"echo": msg.body, "user": msg.user_id}, address=msg.reply_to,
                              correlation_id=msg.correlation_id))

    listener.attach_agent(NAME, handle)
    return seen


@pytest.fixture
def listener() -> Iterator[DirectListener]:
    lst = DirectListener(f"127.0.0.1:{free_port()}")
    lst.start()
    yield lst
    lst.stop()


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("agent.ind.#", "agent.ind.heartbeat.a.b", True),
        ("agent.ind.#", "agent.ind", True),
        ("agent.*.data", "agent.ind.data", True),
        ("agent.*.data", "agent.ind.x.data", False),
        ("#.severe", "agent.ind.event.severe", True),
        ("#", "anything.at.all", True),
        ("a.b", "a.b.c", False),
        ("*", "", True),
    ],
)
def test_topic_patterns(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


@pytest.mark.parametrize("bad", ["", "host", "host:", ":5672", "h:0", "h:70000", "http://h:1"])
def test_bad_listen_addresses_are_named(bad: str) -> None:
    with pytest.raises(ValueError, match="listen address"):
        parse_listen(bad)
    assert parse_listen("amqps://[::1]:5671") == ("::1", 5671, True)


def test_configuration_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ca_file: no such file"):
        Security(ca_file=str(tmp_path / "missing.pem"))
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(ValueError, match="together"):
        Security(cert_file=str(tmp_path / "c.pem"))
    with pytest.raises(ValueError, match="amqps needs cert_file"):
        DirectListener(f"amqps://127.0.0.1:{free_port()}")
    with pytest.raises(ValueError, match="scheme must be amqp"):
        Client("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="profile 'kafka'"):
        Client("amqp://127.0.0.1:1", profile="kafka")
    with pytest.raises(ValueError, match="timeout must be positive"):
        Client("amqp://127.0.0.1:1", timeout=0)


def test_port_in_use_is_a_listen_error(listener: DirectListener) -> None:
    second = DirectListener(f"127.0.0.1:{listener.port}")
    with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{listener.port}"):
        second.start()


def test_nothing_listening_is_a_transport_error() -> None:
    port = free_port()
    start = time.monotonic()
    with pytest.raises(TransportError, match=f"cannot connect to amqp://127.0.0.1:{port}"):
        Client(f"amqp://127.0.0.1:{port}", timeout=1.0)
    assert time.monotonic() - start < 5


@pytest.mark.broker
def test_wrong_password_is_refused_at_once() -> None:
    with pytest.raises(TransportError, match="unauthorized|auth"):
        Client(f"amqp://qmf:wrong@{BROKER_HOST}:{BROKER_PORT}", timeout=20.0)


def test_anonymous_can_be_refused(unused_port: int) -> None:
    strict = DirectListener(f"127.0.0.1:{unused_port}", security=Security(allow_anonymous=False))
    strict.start()
    try:
        with pytest.raises(TransportError):
            Client(f"amqp://127.0.0.1:{unused_port}", timeout=2.0)
    finally:
        strict.stop()
    assert Security().anonymous_allowed("127.0.0.1") and not Security().anonymous_allowed("10.1.2.3")
    assert Security().anonymous_allowed("::1") and Security(allow_anonymous=True).anonymous_allowed("10.1.2.3")


def test_sender_user_id_is_replaced_by_the_connection_identity(listener: DirectListener) -> None:
    seen = _responder(listener)
    with Client(listener.url) as client:
        forged = Message(body=1, user_id="root")
        client.request(forged, agent=NAME)
    assert seen[-1].user_id is None  # anonymous loopback peer, whatever it claimed


def test_an_agent_that_raises_does_not_stop_the_listener(listener: DirectListener) -> None:
    _responder(listener, fail_first=True)
    with Client(listener.url) as client:
        with pytest.raises(RequestTimeout):
            client.request(Message(body=1), agent=NAME, timeout=0.5)
        assert client.request(Message(body=2), agent=NAME)[0].body["echo"] == 2


def test_unroutable_messages_are_rejected(listener: DirectListener) -> None:
    conn = BlockingConnection(listener.url)
    try:
        sender = conn.create_sender("qmf.default.direct")
        with pytest.raises(SendException):
            sender.send(proton.Message(body=1, subject="nobody:at:all"))
        relay = conn.create_sender(None)
        with pytest.raises(SendException):
            relay.send(proton.Message(body=1, address="no-such-node"))
    finally:
        conn.close()


def test_remote_agents_and_consoles_meet_on_the_listener(listener: DirectListener) -> None:
    """A second 'agent' attached as a peer (direct-binding filter) is routed to."""
    from qmf_agent.protocol import Route
    from qmf_agent.transport._peer import Peer, ReceiverSpec

    got: list[Message] = []
    peer = Peer(listener.url, name="remote-agent")
    peer.add_receiver(ReceiverSpec(lambda profile: profile.agent_source("remote:agent:1"), got.append))
    peer.start(5.0)
    try:
        with Client(listener.url) as client:
            with pytest.raises(RequestTimeout):  # routed, but nobody answers
                client.request(Message(body="hi"), agent="remote:agent:1", timeout=0.5)
        assert got and got[0].body == "hi" and got[0].subject == "remote:agent:1"
        assert peer.wire_route("qmf.default.topic", "x.y") == Route("qmf.default.topic", "x.y")
    finally:
        peer.stop()


class _NoCredit(MessagingHandler):  # type: ignore[misc]
    """A subscriber that attaches to the topic and never grants credit."""

    def __init__(self, url: str) -> None:
        super().__init__(prefetch=0)
        self.url = url
        self.opened = threading.Event()
        self.conn = None

    def on_start(self, event: proton.Event) -> None:
        self.conn = event.container.connect(self.url)
        event.container.create_receiver(self.conn, "qmf.default.topic", name="stuck")

    def on_link_opened(self, event: proton.Event) -> None:
        self.opened.set()


def test_a_subscriber_that_does_not_read_cannot_grow_memory(unused_port: int) -> None:
    lst = DirectListener(f"127.0.0.1:{unused_port}", max_queued=5)
    lst.start()
    handler = _NoCredit(lst.url)
    container = Container(handler)
    thread = threading.Thread(target=container.run, daemon=True)
    thread.start()
    try:
        assert handler.opened.wait(5)
        for i in range(20):
            lst.send(Message(body=i, address="qmf.default.topic", subject="agent.ind.x"))
        box = wait_for(lambda: lst._topics and lst._topics[0][1])
        wait_for(lambda: box.dropped == 15)
        assert len(box) == 5
    finally:
        lst.stop()
        container.stop()


def _make_cert(directory: Path) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


def test_tls_listener_and_verifying_client(tmp_path: Path, unused_port: int) -> None:
    cert, key = _make_cert(tmp_path)
    lst = DirectListener(f"amqps://127.0.0.1:{unused_port}",
                         security=Security(cert_file=cert, key_file=key))
    lst.start()
    _responder(lst)
    try:
        assert lst.url.startswith("amqps://")
        with Client(f"amqps://localhost:{unused_port}", security=Security(ca_file=cert)) as client:
            assert client.request(Message(body="secret"), agent=NAME)[0].body["echo"] == "secret"
        with pytest.raises(TransportError):  # plain AMQP to a TLS port
            Client(f"amqp://127.0.0.1:{unused_port}", timeout=1.5)
        (tmp_path / "other").mkdir()
        other_cert, _ = _make_cert(tmp_path / "other")
        with pytest.raises(TransportError):  # a CA that did not sign the server's certificate
            Client(f"amqps://localhost:{unused_port}", timeout=1.5,
                   security=Security(ca_file=other_cert))
    finally:
        lst.stop()


def test_a_closed_client_says_so(listener: DirectListener) -> None:
    _responder(listener)
    client = Client(listener.url)
    client.close()
    with pytest.raises(TransportError, match="closed"):
        client.request(Message(body=1), agent=NAME)
    listener.send(Message(body=1, address="qmf.default.topic", subject="x"))  # still fine
    listener.stop()
    listener.send(Message(body=1, address="qmf.default.topic", subject="x"))  # dropped, no raise


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 9))  # no packet is sent for a UDP connect
            address = str(sock.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_anonymous_from_off_the_machine_is_refused_by_default(unused_port: int) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    lst = DirectListener(f"0.0.0.0:{unused_port}")
    lst.start()
    _responder(lst)
    try:
        with pytest.raises(TransportError, match="unauthorized|anonymous"):
            Client(f"amqp://{address}:{unused_port}", timeout=2.0)
        with Client(f"amqp://127.0.0.1:{unused_port}", timeout=5.0) as client:
            assert client.request(Message(body=3), agent=NAME)[0].body["echo"] == 3
    finally:
        lst.stop()


def test_an_oversized_message_closes_its_link_not_the_listener(unused_port: int) -> None:
    lst = DirectListener(f"127.0.0.1:{unused_port}", max_message_bytes=100_000)
    lst.start()
    seen = _responder(lst)
    conn = BlockingConnection(lst.url)
    try:
        sender = conn.create_sender("qmf.default.direct")
        with pytest.raises(LinkDetached, match="message-size-exceeded"):
            sender.send(proton.Message(body="x" * 300_000, subject=NAME))
        with Client(lst.url) as client:
            assert client.request(Message(body="small"), agent=NAME)[0].body["echo"] == "small"
        assert all(m.body == "small" for m in seen)
    finally:
        conn.close()
        lst.stop()


def test_per_address_senders_are_capped(listener: DirectListener, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without anonymous relay (RabbitMQ's case) one sender per reply address
    is cached; past the cap the least recently used one is closed."""
    from qmf_agent.protocol import Route
    from qmf_agent.transport import _peer
    from qmf_agent.transport._convert import encode

    monkeypatch.setattr(_peer, "_SENDER_LIMIT", 2)
    consoles = [Client(listener.url) for _ in range(3)]
    got: list[list[Message]] = [[] for _ in consoles]
    for client, inbox in zip(consoles, got):
        client._peer.loop.call(client._peer._specs.__getitem__, 1).callback = inbox.append
    sender = _peer.Peer(listener.url, name="capped", profile="rabbitmq")
    sender.start(5.0)
    try:
        for rounds in (1, 2):
            for n, client in enumerate(consoles):
                address = client._reply_to
                sender.send(Route(address), encode(Message(body=n, address=address)))
                wait_for(lambda n=n, r=rounds: len(got[n]) == r)  # idle before the next one
                assert sender.loop.call(len, sender._senders) <= 2
        assert [[m.body for m in inbox] for inbox in got] == [[0, 0], [1, 1], [2, 2]]
    finally:
        sender.stop()
        for client in consoles:
            client.close()


def test_subscribing_from_a_callback_does_not_block_the_client(listener: DirectListener) -> None:
    got: list[str] = []
    with Client(listener.url, timeout=5.0) as client:

        def first(msg: Message) -> None:
            got.append(msg.subject or "")
            if len(got) == 1:
                client.subscribe("b.#", lambda m: got.append(m.subject or ""))

        client.subscribe("a.#", first)
        start = time.monotonic()
        listener.send(Message(body=1, address="qmf.default.topic", subject="a.x"))
        wait_for(lambda: "a.x" in got)
        wait_for(lambda: listener.loop_call(lambda: len(listener._topics)) == 2)
        listener.send(Message(body=2, address="qmf.default.topic", subject="b.y"))
        wait_for(lambda: "b.y" in got)
        assert time.monotonic() - start < 4.0  # not the 5 s subscribe timeout


def test_messages_sent_before_the_link_is_up_are_delivered(listener: DirectListener) -> None:
    from qmf_agent.protocol import Route
    from qmf_agent.transport import BrokerLink

    got: list[Message] = []
    with Client(listener.url) as client:
        client.subscribe("early.#", got.append)
        link = BrokerLink(listener.url)
        try:
            for n in range(3):  # queued: the link is not even started
                link.send(Message(body=n, address="qmf.default.topic", subject="early.bird"))
            link.start(5.0)
            wait_for(lambda: len(got) == 3)
            assert [m.body for m in got] == [0, 1, 2] and link.profile == "standard"
            assert Route("qmf.default.topic", "early.bird") == Route(got[0].address, got[0].subject)
        finally:
            link.stop()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_client_certificates_identify_their_common_name(tmp_path: Path, unused_port: int) -> None:
    """Mutual TLS (SASL EXTERNAL): the caller is the certificate's CN; a
    console without a certificate is refused at once."""
    d = str(tmp_path) + "/"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
             "-keyout", d + "ca.key", "-out", d + "ca.pem")
    for name, subject in (("srv", "/CN=localhost"), ("carol", "/CN=carol/O=Example")):
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                 "-addext", "subjectAltName=DNS:localhost",
                 "-keyout", d + f"{name}.key", "-out", d + f"{name}.csr")
        _openssl("x509", "-req", "-in", d + f"{name}.csr", "-CA", d + "ca.pem", "-CAkey",
                 d + "ca.key", "-CAcreateserial", "-days", "1", "-copy_extensions", "copy",
                 "-out", d + f"{name}.pem")
    lst = DirectListener(f"amqps://127.0.0.1:{unused_port}", security=Security(
        cert_file=d + "srv.pem", key_file=d + "srv.key", ca_file=d + "ca.pem"))
    lst.start()
    seen = _responder(lst)
    try:
        carol = Security(ca_file=d + "ca.pem", cert_file=d + "carol.pem", key_file=d + "carol.key")
        with Client(f"amqps://localhost:{unused_port}", security=carol) as client:
            client.request(Message(body=1, user_id="root"), agent=NAME)
        assert seen[-1].user_id == "carol"
        start = time.monotonic()
        with pytest.raises(TransportError, match="certificate required"):
            Client(f"amqps://localhost:{unused_port}", timeout=5.0,
                   security=Security(ca_file=d + "ca.pem"))
        assert time.monotonic() - start < 4.0  # refused at once, not after the timeout
    finally:
        lst.stop()


def test_a_client_rides_out_an_agent_restart(unused_port: int) -> None:
    first = DirectListener(f"127.0.0.1:{unused_port}")
    first.start()
    _responder(first)
    with Client(first.url) as client:
        assert client.request(Message(body=1), agent=NAME)[0].body["echo"] == 1
        first.stop()
        second = DirectListener(f"127.0.0.1:{unused_port}")  # the agent, restarted
        second.start()
        _responder(second)
        try:
            assert client.request(Message(body=2), agent=NAME, timeout=15)[0].body["echo"] == 2
        finally:
            second.stop()


def test_a_request_fails_at_once_when_its_connection_drops(unused_port: int) -> None:
    """On the direct listener the reply address dies with the connection,
    so waiting out the timeout would be pointless."""
    lst = DirectListener(f"127.0.0.1:{unused_port}")
    lst.start()
    lst.attach_agent(NAME, lambda msg: None)  # takes requests, never answers
    with Client(lst.url) as client:
        threading.Timer(0.3, lst.stop).start()
        start = time.monotonic()
        with pytest.raises(Unreachable, match="was lost"):
            client.request(Message(body=1), agent=NAME, timeout=10.0)
        assert time.monotonic() - start < 5.0
