"""SASL on the direct listener (Cyrus, sasldb): who the agent sees as the caller.

Cyrus SASL reads its configuration once per process, so the listener and
its clients run in a child process with ``PN_SASL_CONFIG_PATH`` set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import proton
import pytest

pytestmark = pytest.mark.skipif(
    not proton.SASL.extended() or shutil.which("saslpasswd2") is None,
    reason="proton without Cyrus SASL, or no saslpasswd2 (CI installs both)",
)

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from qmf_agent.message import Message
    from qmf_agent.transport import Client, DirectListener, Security, TransportError

    conf, port = sys.argv[1], int(sys.argv[2])
    listener = DirectListener(f"127.0.0.1:{port}",
                              security=Security(sasl_config_path=conf, sasl_config_name="qmf"))
    listener.start()
    seen = []
    def handle(msg):
        seen.append(msg.user_id)
        listener.send(Message(body=1, address=msg.reply_to, correlation_id=msg.correlation_id))
    listener.attach_agent("a:b:c", handle)
    out = {}
    def attempt(label, **kw):
        start = time.monotonic()
        try:
            with Client(f"amqp://127.0.0.1:{port}", timeout=5.0, **kw) as client:
                forged = Message(body=1, user_id="root")
                client.request(forged, agent="a:b:c")
                out[label] = ["ok", seen[-1]]
        except TransportError as exc:
            out[label] = ["refused", str(exc), round(time.monotonic() - start, 1)]
    attempt("scram", user="alice@qmf-grid", password="alicepw")
    attempt("plain", user="alice@qmf-grid", password="alicepw",
            security=Security(allowed_mechs="PLAIN"))
    attempt("wrong", user="alice@qmf-grid", password="nope")
    attempt("anonymous")
    listener.stop()
    print(json.dumps(out))
    """
)


def test_authenticated_identity_is_the_callers(tmp_path: Path, unused_port: int) -> None:
    db = tmp_path / "qmf.sasldb"
    subprocess.run(["saslpasswd2", "-c", "-p", "-f", str(db), "-u", "qmf-grid", "alice"],
                   input=b"alicepw", check=True)
    (tmp_path / "qmf.conf").write_text(
        f"sasldb_path: {db}\nmech_list: SCRAM-SHA-256 PLAIN ANONYMOUS\n"
    )
    env = {**os.environ, "PN_SASL_CONFIG_PATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(unused_port)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["scram"] == ["ok", "alice@qmf-grid"]  # not the forged "root"
    assert out["plain"] == ["ok", "alice@qmf-grid"]
    assert out["wrong"][0] == "refused" and "unauthorized" in out["wrong"][1]
    assert out["wrong"][2] < 4.5  # refused at once, not after the timeout
    assert out["anonymous"] == ["ok", None]  # loopback may stay anonymous
