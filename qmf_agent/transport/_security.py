"""TLS and SASL settings for both ends of a connection.

The traps this encodes (design note "brokers"): a client given a user and
password but no ``allowed_mechs`` silently falls back to ANONYMOUS against a
server that offers it, so a client with credentials restricts itself to
password mechanisms; a server must decide on ``transport.user`` itself, so
the direct listener refuses anonymous peers that are not on loopback unless
told otherwise.  Cyrus SASL reads its configuration from
``PN_SASL_CONFIG_PATH`` (set before the process starts) or from
``sasl_config_path``/``sasl_config_name`` here.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from proton import SSLDomain, Transport

__all__ = ["Security", "is_loopback"]

_PASSWORD_MECHS = "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 CRAM-MD5 PLAIN"


@dataclass(frozen=True)
class Security:
    """How a connection authenticates and encrypts.

    Server side (direct listener): ``cert_file``/``key_file`` (and
    ``key_password``) enable ``amqps://``; ``ca_file`` with
    ``verify_peer=True`` asks clients for certificates (SASL EXTERNAL);
    ``allowed_mechs`` limits the SASL mechanisms offered; ``allow_anonymous``
    is ``None`` for "only from loopback", or True/False everywhere.

    Client side: ``ca_file`` verifies the server (``verify_peer`` checks its
    DNS name: connect to ``amqps://localhost``, not ``127.0.0.1``, with a
    self-signed certificate); ``cert_file``/``key_file`` present a client
    certificate; ``allowed_mechs`` overrides the mechanism choice.
    """

    cert_file: str | None = None
    key_file: str | None = None
    key_password: str | None = None
    ca_file: str | None = None
    verify_peer: bool = True
    allowed_mechs: str | None = None
    allow_insecure_mechs: bool = True
    sasl_config_path: str | None = None
    sasl_config_name: str | None = None
    allow_anonymous: bool | None = None

    def __post_init__(self) -> None:
        for name in ("cert_file", "key_file", "ca_file"):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"{name}: no such file: {path}")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file must be given together")
        if self.sasl_config_path is not None and not os.path.isdir(self.sasl_config_path):
            raise ValueError(f"sasl_config_path: no such directory: {self.sasl_config_path}")

    def server_ssl_domain(self) -> SSLDomain | None:
        """The TLS settings for a listener, or None when it is plain AMQP."""
        if not self.cert_file:
            return None
        domain = SSLDomain(SSLDomain.MODE_SERVER)
        domain.set_credentials(self.cert_file, self.key_file or "", self.key_password)
        if self.ca_file:
            domain.set_trusted_ca_db(self.ca_file)
            if self.verify_peer:
                domain.set_peer_authentication(SSLDomain.VERIFY_PEER, self.ca_file)
            else:
                domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
        else:
            domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
        return domain

    def client_ssl_domain(self) -> SSLDomain:
        """The TLS settings for an ``amqps://`` connection."""
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        if self.ca_file:
            domain.set_trusted_ca_db(self.ca_file)
        if self.cert_file:
            domain.set_credentials(self.cert_file, self.key_file or "", self.key_password)
        if self.verify_peer and self.ca_file:
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, self.ca_file)
        else:
            domain.set_peer_authentication(SSLDomain.ANONYMOUS_PEER)
        return domain

    def client_mechs(self, user: str | None) -> str | None:
        """The SASL mechanisms a client may use: with credentials never
        ANONYMOUS (which would silently drop them)."""
        if self.allowed_mechs:
            return self.allowed_mechs
        if user:
            return _PASSWORD_MECHS + (" EXTERNAL" if self.cert_file else "")
        return None

    def configure_server_transport(self, transport: Transport) -> None:
        """Set SASL on an accepted connection's transport, before any I/O."""
        sasl = transport.sasl()
        sasl.allow_insecure_mechs = self.allow_insecure_mechs
        if self.sasl_config_path:
            sasl.config_path(self.sasl_config_path)
        if self.sasl_config_name:
            sasl.config_name(self.sasl_config_name)
        if self.allowed_mechs:
            sasl.allowed_mechs(self.allowed_mechs)

    def anonymous_allowed(self, host: str | None) -> bool:
        """May an unauthenticated peer at *host* use the listener?"""
        if self.allow_anonymous is not None:
            return self.allow_anonymous
        return is_loopback(host)


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and unix sockets (no host)."""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"
