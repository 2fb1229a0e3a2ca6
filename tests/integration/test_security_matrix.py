"""The security matrix on the direct listener, against real agent processes.

Three agents, each a ``python3 -m qmf_agent`` with ``PN_SASL_CONFIG_PATH``
pointing at a sasldb made here (Cyrus reads it at process start):

* ``tlspw``: ``amqps`` with a server certificate, SCRAM/PLAIN users from the
  sasldb, anonymous allowed from loopback (the default) but not an admin;
* ``mtls``: ``amqps`` that requires a client certificate (SASL EXTERNAL;
  the certificate's CN is the identity);
* ``closed``: plain ``amqp`` with ``QMF_ALLOW_ANONYMOUS = false``.

Rows: wrong password, no certificate, anonymous from loopback, anonymous
refused, the identity as Owner, another owner's job, the administrator --
and every request's audit line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _fleet import RunningAgent, call, job_ad, start_agent, stop_agent, the, wait_for
from _pki import HAVE_CYRUS, SASL_REALM, Pki, make_pki, make_sasl_config
from qmf_testing import free_port

import classad
from qmf_agent.errors import Forbidden
from qmf_agent.transport import Client, Security, TransportError

pytestmark = pytest.mark.skipif(
    not HAVE_CYRUS, reason="proton without Cyrus SASL, or no saslpasswd2 (CI installs both)"
)

ALICE = f"alice@{SASL_REALM}"
BOB = f"bob@{SASL_REALM}"
BOSS = f"boss@{SASL_REALM}"
USERS = {"alice": "alicepw", "bob": "bobpw", "boss": "bosspw"}
BASE = "NUM_SLOTS = 1\nHEARTBEAT_INTERVAL = 1\nQMF_ANONYMOUS_ADMIN = false\n"


class Site:
    """The module's agents and credentials."""

    def __init__(self, tmp: Path) -> None:
        self.pki: Pki = make_pki(tmp / "pki")
        self.server_cert, self.server_key = self.pki.issue("localhost", dns="localhost")
        self.carol = self.pki.issue("carol")  # an admin, by certificate
        self.dave = self.pki.issue("dave")    # a user, by certificate
        self.env = {"PN_SASL_CONFIG_PATH": str(make_sasl_config(tmp / "sasl", USERS))}
        tls = f"QMF_SSL_CERTFILE = {self.server_cert}\nQMF_SSL_KEYFILE = {self.server_key}\n"
        self.tls_port, self.mtls_port = free_port(), free_port()
        self.agents = {
            "tlspw": start_agent(
                tmp / "tlspw", "tlspw", BASE + tls + f"QMF_ADMINS = {BOSS}\n",
                listen=f"amqps://127.0.0.1:{self.tls_port}", env=self.env, wait=False),
            "mtls": start_agent(
                tmp / "mtls", "mtls",
                BASE + tls + f"QMF_SSL_CAFILE = {self.pki.ca}\nQMF_ADMINS = carol\n",
                listen=f"amqps://127.0.0.1:{self.mtls_port}", env=self.env, wait=False),
            "closed": start_agent(
                tmp / "closed", "closed",
                BASE + "QMF_ALLOW_ANONYMOUS = false\nQMF_SASL_MECHANISMS = SCRAM-SHA-256 PLAIN\n",
                env=self.env, wait=False),
        }
        for running in self.agents.values():
            wait_for(lambda r=running: "serving on" in r.stderr() or r.proc.poll() is not None,
                     60, f"agent {running.name} to start")
            assert running.proc.poll() is None, running.stderr()

    def tls(self, user: str | None = None, password: str | None = None,
            mechs: str | None = None) -> Client:
        """A client of ``tlspw`` (verifying the server by its DNS name)."""
        security = Security(ca_file=str(self.pki.ca), allowed_mechs=mechs)
        return Client(f"amqps://localhost:{self.tls_port}", timeout=15.0, user=user,
                      password=password, security=security)

    def mtls(self, cert: tuple[Path, Path] | None) -> Client:
        security = Security(ca_file=str(self.pki.ca), cert_file=str(cert[0]) if cert else None,
                            key_file=str(cert[1]) if cert else None)
        return Client(f"amqps://localhost:{self.mtls_port}", timeout=5.0, security=security)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    built = Site(tmp_path_factory.mktemp("security"))
    yield built
    for running in built.agents.values():
        assert stop_agent(running) == 0, running.stderr()


def submit(client: Client, agent: RunningAgent, **ad: object) -> str:
    answer = call(client, the(client, "scheduler", agent.agent), "SubmitJob", agent.agent,
                  Ad=job_ad(**ad))  # type: ignore[arg-type]
    return str(answer["Id"])


def owner_of(client: Client, agent: RunningAgent, job: str) -> str:
    ad = call(client, the(client, "scheduler", agent.agent), "GetJobAd", agent.agent, Id=job)
    return str(classad.decode_job_ad(ad["JobAd"])[0].eval("Owner"))


def test_wrong_password_is_refused_and_never_downgraded_to_anonymous(site: Site) -> None:
    with pytest.raises(TransportError, match="unauthorized"):
        site.tls(user=ALICE, password="not-her-password")
    # PLAIN explicitly, too: still refused, not accepted as anonymous
    with pytest.raises(TransportError, match="unauthorized"):
        site.tls(user=ALICE, password="x", mechs="PLAIN")


def test_the_authenticated_identity_becomes_the_owner(site: Site) -> None:
    agent = site.agents["tlspw"]
    with site.tls(user=ALICE, password="alicepw") as alice:
        job = submit(alice, agent, Owner="bob")  # a claimed Owner does not count
        assert owner_of(alice, agent, job) == ALICE
    with site.tls(user=ALICE, password="alicepw", mechs="PLAIN") as plain:
        assert owner_of(plain, agent, submit(plain, agent)) == ALICE


def test_a_user_acts_only_on_their_own_jobs(site: Site) -> None:
    agent = site.agents["tlspw"]
    with site.tls(user=ALICE, password="alicepw") as alice, \
            site.tls(user=BOB, password="bobpw") as bob:
        job = submit(alice, agent)
        scheduler = the(bob, "scheduler", agent.agent)
        with pytest.raises(Forbidden) as denied:
            call(bob, scheduler, "HoldJob", agent.agent, Id=job, Reason="not mine")
        assert denied.value.code == 6
        assert BOB in denied.value.text and job in denied.value.text
        call(alice, scheduler, "HoldJob", agent.agent, Id=job, Reason="mine")


def test_an_administrator_acts_on_every_job_and_on_the_daemons(site: Site) -> None:
    agent = site.agents["tlspw"]
    with site.tls(user=ALICE, password="alicepw") as alice, \
            site.tls(user=BOSS, password="bosspw") as boss:
        job = submit(alice, agent)
        call(boss, the(boss, "scheduler", agent.agent), "HoldJob", agent.agent, Id=job,
             Reason="by the admin")
        negotiator = the(boss, "negotiator", agent.agent)
        call(boss, negotiator, "SetPriority", agent.agent, Name=ALICE, Priority=10.0)
        call(boss, the(boss, "master", agent.agent), "Reconfig", agent.agent)
        call(boss, the(boss, "collector", agent.agent), "Invalidate", agent.agent,
             AdType="Generic", Constraint="false")
        for obj, method, args in (
            (negotiator, "SetPriority", {"Name": ALICE, "Priority": 1.0}),
            (the(alice, "master", agent.agent), "Reconfig", {}),
        ):
            with pytest.raises(Forbidden):
                call(alice, obj, method, agent.agent, **args)


def test_anonymous_from_loopback_may_connect_but_is_no_admin(site: Site) -> None:
    agent = site.agents["tlspw"]
    with site.tls() as anonymous:
        assert the(anonymous, "master", agent.agent)["_values"]["Name"] == "tlspw"
        with pytest.raises(Forbidden, match="only QMF_ADMINS"):
            call(anonymous, the(anonymous, "master", agent.agent), "Reconfig", agent.agent)


def test_anonymous_is_refused_where_not_allowed(site: Site) -> None:
    agent = site.agents["closed"]
    with pytest.raises(TransportError, match="unauthorized-access"):
        Client(agent.url, timeout=10.0)
    with Client(agent.url, timeout=15.0, user=ALICE, password="alicepw") as alice:
        assert owner_of(alice, agent, submit(alice, agent)) == ALICE


def test_a_client_certificate_is_the_identity(site: Site) -> None:
    agent = site.agents["mtls"]
    with site.mtls(site.carol) as carol, site.mtls(site.dave) as dave:
        job = submit(dave, agent)
        assert owner_of(dave, agent, job) == "dave"  # the certificate's CN
        call(carol, the(carol, "master", agent.agent), "Reconfig", agent.agent)  # carol: admin
        call(carol, the(carol, "scheduler", agent.agent), "HoldJob", agent.agent, Id=job,
             Reason="admin")
        with pytest.raises(Forbidden):
            call(dave, the(dave, "master", agent.agent), "Reconfig", agent.agent)


def test_no_client_certificate_no_connection(site: Site) -> None:
    with pytest.raises(TransportError, match="certificate"):
        site.mtls(None)


def test_every_request_leaves_an_audit_line(site: Site) -> None:
    agent = site.agents["tlspw"]
    with site.tls(user=BOB, password="bobpw") as bob:
        master = the(bob, "master", agent.agent)
        with pytest.raises(Forbidden):
            call(bob, master, "Reconfig", agent.agent)
    lines = wait_for(lambda: [line for line in agent.audit() if f"user={BOB}" in line], 10,
                     "bob's audit lines")
    assert any("action=query OBJECT object=master " in line and line.endswith("result=ok")
               for line in lines)
    denied = [line for line in lines if "action=master.Reconfig" in line]
    assert denied and "admin=no" in denied[-1]
    assert f"object=mrg.grid:master:{master['_object_id']['_object_name'].rsplit(':', 1)[1]}" in denied[-1]
    assert f"result=Forbidden(6): {BOB} may not reconfigure daemons" in denied[-1]
    wait_for(lambda: any(f"user={BOSS}" in line and "admin=yes action=negotiator.SetPriority" in line
                         and "result=ok" in line for line in agent.audit()),
             10, "the admin's SetPriority audited")
