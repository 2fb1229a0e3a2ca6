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
from pathlib import Path

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


#: where .ci/slurm.sh starts slurmrestd (the agent's SLURM_RESTD_SOCKET)
SLURMRESTD_SOCKET = "/run/slurmrestd/rest.sock"


def slurmrestd_available() -> bool:
    """True when slurmrestd accepts a connection on :data:`SLURMRESTD_SOCKET`."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(SLURMRESTD_SOCKET)
        return True
    except OSError:
        return False


def need_slurmrestd() -> str:
    """The socket of a running slurmrestd; skip (or, under CI, fail) without one."""
    need_slurm()
    if slurmrestd_available():
        return SLURMRESTD_SOCKET
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but no slurmrestd answers on {SLURMRESTD_SOCKET}; "
                    ".ci/slurm.sh starts one")
    pytest.skip(f"no slurmrestd on {SLURMRESTD_SOCKET}; set CI to make this a failure")


def slurm_agent_config() -> str:
    """Configuration lines for an agent process with the Slurm backend, as a
    site would run it: polling fast for tests, submitting through slurmrestd
    (jobs of other users go through sbatch)."""
    return ("BACKEND = slurm\nSLURM_POLL_INTERVAL = 0.2\nSLURM_NODE_INTERVAL = 0.5\n"
            f"SLURM_RESTD_SOCKET = {need_slurmrestd()}\n")


def slurm_nodes() -> int:
    """How many nodes Slurm has: the slots an agent with the Slurm backend shows."""
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return len(set(out.split()))


def agent_slurm_tags(root: Path) -> set[str]:
    """The Slurm job-name tags of every agent queue (``queue.db``) under *root*.

    Each queue names its Slurm jobs ``qmf-<tag>-<cluster>.<proc>`` with a tag
    kept in its store, so the tags say which Slurm jobs this test session's
    agents made and which belong to someone else sharing the cluster.
    """
    import json
    import sqlite3

    tags = set()
    for db in root.rglob("queue.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'slurm_tag'").fetchone()
        except sqlite3.Error:
            continue
        if row is not None:
            tag = json.loads(row[0])
            if isinstance(tag, str) and tag:
                tags.add(tag)
    return tags


def cancel_agent_slurm_jobs(root: Path) -> int:
    """Cancel the Slurm jobs made by the agents whose queues live under *root*.

    Stopping an agent leaves its Slurm jobs in place, by design (a restarted
    agent picks them up again); tests stop agents all the time, so without
    this the test cluster fills with held and pending jobs that slow every
    later ``squeue``.  Only this session's agents' jobs go: a benchmark or
    another session sharing the cluster keeps its own.  Returns how many
    were cancelled.
    """
    prefixes = tuple(f"qmf-{tag}-" for tag in agent_slurm_tags(root))
    if not prefixes:
        return 0
    try:
        listing = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True,
                                 text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    ids = [fields[0] for fields in map(str.split, listing.splitlines())
           if len(fields) == 2 and fields[1].startswith(prefixes)]
    for start in range(0, len(ids), 500):
        subprocess.run(["scancel", *ids[start:start + 500]], capture_output=True,
                       timeout=60, check=False)
    return len(ids)
