"""Test credentials made on the spot: a CA, certificates, a Cyrus sasldb.

Everything lives under a test's temporary directory; nothing is read from
the machine's own configuration.  ``openssl`` and ``saslpasswd2`` are what
an operator uses too (docs/security.md).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import proton

HAVE_CYRUS = proton.SASL.extended() and shutil.which("saslpasswd2") is not None
SASL_REALM = "qmf-grid"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Pki:
    """A self-signed CA and certificates it issued (PEM files)."""

    folder: Path
    ca: Path

    def issue(self, name: str, *, dns: str | None = None) -> tuple[Path, Path]:
        """A certificate with CN=*name* (and a DNS name) and its key."""
        key, csr, cert = (self.folder / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}/O=qmf-grid",
                 "-keyout", str(key), "-out", str(csr))
        ext = self.folder / f"{name}.ext"
        ext.write_text(f"subjectAltName=DNS:{dns}\n" if dns else "basicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey",
                 str(self.folder / "ca.key"), "-CAcreateserial", "-days", "1",
                 "-extfile", str(ext), "-out", str(cert))
        return cert, key


def make_pki(folder: Path) -> Pki:
    """A fresh CA in *folder*."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=qmf-grid test CA", "-keyout", str(ca_key), "-out", str(ca))
    return Pki(folder, ca)


def make_sasl_config(folder: Path, users: dict[str, str],
                     mechs: str = "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN EXTERNAL ANONYMOUS") -> Path:
    """A folder for ``PN_SASL_CONFIG_PATH``: ``proton-server.conf`` naming a
    sasldb with *users* (user -> password, realm :data:`SASL_REALM`)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "qmf.sasldb"
    for user, password in users.items():
        subprocess.run(["saslpasswd2", "-c", "-p", "-f", str(db), "-u", SASL_REALM, user],
                       input=password.encode(), check=True, timeout=30)
    (folder / "proton-server.conf").write_text(f"sasldb_path: {db}\nmech_list: {mechs}\n")
    return folder
