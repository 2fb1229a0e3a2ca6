"""Helpers every test package may import: ``from qmf_testing import free_port``.

They live in a uniquely named module, not in a conftest.py: with several
conftest.py files on sys.path, ``from conftest import ...`` picks whichever
directory came first and breaks collection.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 5672
BROKER_URL = f"amqp://qmf:qmf@{BROKER_HOST}:{BROKER_PORT}"


def broker_available(timeout: float = 0.5) -> bool:
    """True when a TCP connection to the broker's port succeeds."""
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A currently free ephemeral TCP port on 127.0.0.1 (never 5672)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_broker() -> None:
    """Skip (or, under CI, fail) the current test when no broker answers."""
    if broker_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no RabbitMQ answers on {BROKER_HOST}:{BROKER_PORT}")
    pytest.skip(f"no RabbitMQ on {BROKER_HOST}:{BROKER_PORT} (set CI to make this a failure)")


def slurm_available(timeout: float = 10.0) -> bool:
    """True when ``sinfo`` exists and the controller answers with a node that runs jobs."""
    if shutil.which("sinfo") is None:
        return False
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    usable = ("idle", "mixed", "allocated", "completing", "planned", "reserved")
    return done.returncode == 0 and any(s.rstrip("*~#!%$@^-+") in usable
                                        for s in done.stdout.split())


def need_slurm() -> None:
    """Skip (or, under CI, fail) the current test when no Slurm cluster answers."""
    if slurm_available():
        return
    if os.environ.get("CI"):
        pytest.fail("CI is set but no Slurm cluster answers (sinfo); .ci/slurm.sh starts one")
    pytest.skip("no Slurm cluster answers (sinfo); set CI to make this a failure")


def cancel_agent_slurm_jobs() -> int:
    """Cancel every Slurm job an agent made (job names ``qmf-*``).

    Stopping an agent leaves its Slurm jobs in place, by design (a restarted
    agent picks them up again); tests stop agents all the time, so without
    this the test cluster fills with held and pending jobs that slow every
    later ``squeue``.  Returns how many were cancelled.
    """
    import subprocess

    try:
        listing = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True,
                                 text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    ids = [line.split()[0] for line in listing.splitlines()
           if len(line.split()) == 2 and line.split()[1].startswith("qmf-")]
    for start in range(0, len(ids), 500):
        subprocess.run(["scancel", *ids[start:start + 500]], capture_output=True,
                       timeout=60, check=False)
    return len(ids)
