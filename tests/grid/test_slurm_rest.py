"""Submitting through slurmrestd (``SLURM_RESTD_SOCKET``) against the real
daemon ``.ci/slurm.sh`` starts, and what happens when it cannot be used:
a job for another user, a daemon that is down, one that loses its answer,
and Slurm refusing the job.  What Slurm did is checked with its own tools.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qmf_testing import need_slurmrestd
from test_slurm_backend import Sink, finished, make_grid, slurm, submit, wait_for

from qmf_agent.errors import SchedulerError
from qmf_agent.grid import Grid
from qmf_agent.grid.jobs import JobStatus
from qmf_agent.grid.slurm._rest import RestWrongUser, Slurmrestd, _messages
from qmf_agent.grid.slurm._script import BatchRequest

pytestmark = pytest.mark.slurm


class Sbatches:
    """Counts the submissions a backend hands to sbatch instead of slurmrestd."""

    def __init__(self, g: Grid, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        cli = g.startd.cli
        real = cli.start_sbatch

        def counted(script: str, options: Any) -> Any:
            self.count += 1
            return real(script, options)

        monkeypatch.setattr(cli, "start_sbatch", counted)


@pytest.fixture
def rest_grid(tmp_path: Path) -> Iterator[tuple[Grid, Sink, Path]]:
    yield from _grid(tmp_path, f"SLURM_RESTD_SOCKET = {need_slurmrestd()}\n")


def _grid(tmp_path: Path, extra: str) -> Iterator[tuple[Grid, Sink, Path]]:
    g, sink = make_grid(tmp_path, extra)
    g.start()
    try:
        yield g, sink, tmp_path
    finally:
        for job in g.schedd.jobs():          # leave nothing behind in Slurm
            if job.get("SlurmJobId"):
                subprocess.run(["scancel", job.get("SlurmJobId")], check=False, timeout=30)
        g.stop("fast")
        g.close()


def job_fields(slurm_id: str) -> dict[str, str]:
    """A Slurm job's user, name, CPUs, memory, state and reason, from squeue."""
    out = slurm("squeue", "-h", "-t", "all", "-j", slurm_id, "-o", "%u|%j|%C|%m|%T|%r").strip()
    return dict(zip(("user", "name", "cpus", "memory", "state", "reason"), out.split("|")))


def test_jobs_go_through_slurmrestd_and_run(rest_grid: tuple[Grid, Sink, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    g, sink, tmp = rest_grid
    sbatches = Sbatches(g, monkeypatch)
    [job_id] = submit(g, tmp, "-c 'echo $GREETING from $CONDOR_ID; exit 2'", Out="out.txt",
                      Environment="GREETING=hello")
    slurm_id = g.schedd.get_ad(job_id)["SlurmJobId"]
    assert sbatches.count == 0
    assert job_fields(slurm_id)["user"] == "root"
    assert job_fields(slurm_id)["name"] == g.schedd.get_ad(job_id)["SlurmJobName"]
    done = wait_for(lambda: finished(g, job_id))
    assert done["JobStatus"] == JobStatus.COMPLETED and done["ExitCode"] == 2
    assert (tmp / "out.txt").read_text() == f"hello from {job_id}\n"
    assert [(e["From"], e["To"]) for e in sink.named("JobStatusChanged", job_id)] == [
        (1, 2), (2, 4)]


def test_resources_hold_and_arrays_reach_slurm(rest_grid: tuple[Grid, Sink, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    g, _, tmp = rest_grid
    sbatches = Sbatches(g, monkeypatch)
    ids = submit(g, tmp, "-c true", count=3, RequestCpus=2, RequestMemory=64, JobStatus=5)
    slurm_ids = [g.schedd.get_ad(i)["SlurmJobId"] for i in ids]
    base = slurm_ids[0].split("_")[0]
    assert slurm_ids == [f"{base}_{n}" for n in range(3)]
    fields = job_fields(slurm_ids[0])
    assert (fields["cpus"], fields["memory"], fields["state"], fields["reason"]) == (
        "2", "64M", "PENDING", "JobHeldUser")
    assert sbatches.count == 0


def test_a_job_of_another_user_goes_through_sbatch(rest_grid: tuple[Grid, Sink, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """slurmrestd submits as root (the user it runs as): nobody's job must
    not run as root, so it goes through sbatch --uid."""
    g, _, tmp = rest_grid
    os.chmod(tmp, 0o777)
    sbatches = Sbatches(g, monkeypatch)
    [job_id] = submit(g, tmp, "-c true", Owner="nobody", JobStatus=5)
    assert sbatches.count == 1
    assert job_fields(g.schedd.get_ad(job_id)["SlurmJobId"])["user"] == "nobody"


def test_slurm_refusing_the_job_fails_the_submit_with_its_reason(tmp_path: Path) -> None:
    for g, _, tmp in _grid(tmp_path, f"SLURM_RESTD_SOCKET = {need_slurmrestd()}\n"
                                     "SLURM_PARTITION = nosuchpartition\n"):
        with pytest.raises(SchedulerError, match="Invalid partition name specified"):
            submit(g, tmp, "-c true")
        assert g.schedd.jobs() == []
        assert g.schedd.store.meta("next_cluster") in (None, 1)


def test_a_daemon_that_is_down_means_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    need_slurmrestd()
    for g, _, tmp in _grid(tmp_path, f"SLURM_RESTD_SOCKET = {tmp_path / 'none.sock'}\n"):
        sbatches = Sbatches(g, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="qmf_agent.grid.slurm._backend"):
            ids = [submit(g, tmp, "-c true", JobStatus=5)[0] for _ in range(3)]
        assert sbatches.count == 3
        assert all(g.schedd.get_ad(i)["SlurmJobId"].isdigit() for i in ids)
        warned = [r.getMessage() for r in caplog.records if "none.sock" in r.getMessage()]
        assert len(warned) == 1 and "submitting with sbatch until it does" in warned[0]


class SilentDaemon:
    """A Unix socket that takes a request and closes without an answer
    (slurmrestd dying mid-request), after passing it on to the real one
    when *forward* -- so the job may exist, as it may after a real crash."""

    def __init__(self, path: Path, forward: str | None) -> None:
        self.path = str(path)
        self.forward = forward
        self.requests: list[bytes] = []
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(self.path)
        self._server.listen(4)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(body)
                if self.forward:
                    with socket.socket(socket.AF_UNIX) as real:
                        real.connect(self.forward)
                        real.sendall(head + b"\r\n\r\n" + body)
                        real.recv(65536)

    def close(self) -> None:
        self._server.close()


def test_a_lost_answer_cancels_by_name_then_uses_sbatch(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The request reached Slurm (the job exists) but its answer did not
    come back: the job is cancelled by its name before sbatch submits it
    again, so exactly one live job has the name."""
    daemon = SilentDaemon(tmp_path / "silent.sock", forward=need_slurmrestd())
    try:
        for g, _, tmp in _grid(tmp_path, f"SLURM_RESTD_SOCKET = {daemon.path}\n"):
            sbatches = Sbatches(g, monkeypatch)
            [job_id] = submit(g, tmp, "-c true", JobStatus=5)
            ad = g.schedd.get_ad(job_id)
            assert len(daemon.requests) == 1 and sbatches.count == 1
            assert json.loads(daemon.requests[0])["job"]["name"] == ad["SlurmJobName"]
            rows = slurm("squeue", "-h", "-t", "all", "-n", ad["SlurmJobName"], "-o", "%i %T")
            states = dict(line.split() for line in rows.splitlines())
            assert states.pop(ad["SlurmJobId"]) == "PENDING"
            assert set(states.values()) <= {"CANCELLED"}, states
    finally:
        daemon.close()


def test_the_daemons_user_comes_from_the_socket(tmp_path: Path) -> None:
    """A daemon running as nobody is not used for root's jobs (the socket
    carries the credentials its server had when it called listen)."""
    path = tmp_path / "nobody.sock"
    server = subprocess.Popen(
        [sys.executable, "-c",
         "import os, socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); "
         "os.setgid(65534); os.setuid(65534); s.listen(1); "
         "print('ready', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        daemon = Slurmrestd(str(path), 5.0, {"PATH": "/usr/bin:/bin"})
        with pytest.raises(RestWrongUser, match="runs as uid 65534, the job as uid 0"):
            daemon.start(BatchRequest(name="x", script="#!/bin/sh\n"), (0, 0))
        daemon.close()
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("request_", [
    BatchRequest(name="a", script="#!/bin/sh\n"),
    BatchRequest(name="b", script="#!/bin/sh\n", cpus=4, memory_mib=512, nice=-3, held=True,
                 count=7, partition="debug", ident=(0, 0)),
])
def test_sbatch_options_and_the_rest_job_say_the_same(request_: BatchRequest) -> None:
    options = dict(o[2:].partition("=")[::2] for o in request_.options())
    job = request_.rest_job({"PATH": "/bin"})
    assert options["job-name"] == job["name"] and options["chdir"] == job["current_working_directory"]
    assert options["output"] == job["standard_output"] and options["error"] == job["standard_error"]
    assert int(options["cpus-per-task"]) == job["cpus_per_task"]
    assert int(options["ntasks"]) == job["tasks"]
    assert options.get("mem") == (str(job["memory_per_node"]) if "memory_per_node" in job else None)
    assert options.get("nice") == (str(job["nice"]) if "nice" in job else None)
    assert ("hold" in options) == job.get("hold", False)
    assert options.get("array") == job.get("array")
    assert options.get("partition") == job.get("partition")
    assert job["environment"] == {"PATH": "/bin"}


def test_an_agent_without_environment_still_submits_through_slurmrestd() -> None:
    """sbatch takes an empty environment; slurmrestd refuses one."""
    daemon = Slurmrestd(need_slurmrestd(), 10.0, {})
    try:
        slurm_id = daemon.start(BatchRequest(name="qmf-test-noenv", script="#!/bin/sh\ntrue\n",
                                             held=True), (os.getuid(), os.getgid())).job_id()
        slurm("scancel", slurm_id)
    finally:
        daemon.close()


def test_slurms_messages_are_kept_and_the_held_notice_dropped() -> None:
    assert _messages([{"error_code": 2042, "error": "Job is in held state"},
                      {"error_code": 2015, "error": "Invalid partition name specified"},
                      {"description": 'Unknown key "x"', "error": "Unknown key"},
                      "garbage"]) == [
        "Invalid partition name specified", 'Unknown key: Unknown key "x"']
    assert _messages(None) == []


class CannedDaemon:
    """A Unix socket that answers every request with *reply* (bytes) and
    counts the connections it accepted."""

    def __init__(self, path: Path, reply: bytes) -> None:
        self.path = str(path)
        self.reply = reply
        self.connections = 0
        self._open: list[socket.socket] = []
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(self.path)
        self._server.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                while conn.recv(65536):
                    conn.sendall(self.reply)
            except OSError:
                pass                 # closed by close()

    def close(self) -> None:
        """Stop as a dying daemon does: the socket and every connection."""
        self._server.close()
        for conn in self._open:
            with contextlib.suppress(OSError):   # already closed by its client
                conn.shutdown(socket.SHUT_RDWR)
        os.unlink(self.path)


def _http(status: str, body: bytes, *headers: str, length: bool = True) -> bytes:
    headers += (f"Content-Length: {len(body)}",) if length else ()
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{h}\r\n" for h in headers)
            + "\r\n").encode() + body


@pytest.mark.parametrize("reply, error, match", [
    (b"hello\r\n\r\n", "RestAnswerLost", "not an HTTP answer"),
    (_http("200 OK", b'{"job_id": 1}', length=False), "RestAnswerLost",
     "without a usable Content-Length"),
    (_http("500 Oops", b"oops"), "RestAnswerLost", "HTTP 500 with b'oops'"),
    (_http("200 OK", b"[1]"), "RestAnswerLost", "not a submission's result"),
    (_http("400 Bad", b'{"errors": [{"error": "Invalid account"}]}'), "SlurmError",
     "Invalid account"),
    (_http("400 Bad", b'{"errors": []}'), "SlurmError", "HTTP 400"),
])
def test_answers_that_are_not_a_job_id_are_errors_that_say_so(
        tmp_path: Path, reply: bytes, error: str, match: str) -> None:
    daemon = CannedDaemon(tmp_path / "canned.sock", reply)
    rest = Slurmrestd(daemon.path, 5.0, {"PATH": "/bin"})
    try:
        with pytest.raises(Exception, match=match) as raised:
            rest.start(BatchRequest(name="x", script="#!/bin/sh\n"), (os.getuid(), os.getgid())
                       ).job_id()
        assert type(raised.value).__name__ == error
    finally:
        rest.close()
        daemon.close()


def test_a_connection_is_kept_unless_the_daemon_closes_it(tmp_path: Path) -> None:
    body = b'{"job_id": 7}'
    for closing, connections in ((False, 1), (True, 3)):
        headers = ["Connection: close"] if closing else []
        daemon = CannedDaemon(tmp_path / f"c{closing}.sock", _http("200 OK", body, *headers))
        rest = Slurmrestd(daemon.path, 5.0, {"PATH": "/bin"})
        ids = [rest.start(BatchRequest(name="x", script="#!/bin/sh\n"),
                          (os.getuid(), os.getgid())).job_id() for _ in range(3)]
        assert ids == ["7", "7", "7"] and daemon.connections == connections
        rest.close()
        daemon.close()


def test_a_restarted_daemon_gets_a_fresh_connection_not_a_fallback(tmp_path: Path) -> None:
    """The kept connection died with the daemon: the next submission opens a
    new one to the daemon now listening, instead of going to sbatch."""
    reply = _http("200 OK", b'{"job_id": 7}')
    first = CannedDaemon(tmp_path / "r.sock", reply)
    rest = Slurmrestd(first.path, 5.0, {"PATH": "/bin"})
    me = (os.getuid(), os.getgid())
    try:
        assert rest.start(BatchRequest(name="x", script="#!/bin/sh\n"), me).job_id() == "7"
        first.close()
        second = CannedDaemon(tmp_path / "r.sock", _http("200 OK", b'{"job_id": 8}'))
        assert rest.start(BatchRequest(name="x", script="#!/bin/sh\n"), me).job_id() == "8"
        assert second.connections == 1
        second.close()
    finally:
        rest.close()
