"""Submitting through slurmrestd, Slurm's REST daemon, on a Unix socket.

Why: an ``sbatch`` -- even a spare one, started ahead and waiting for its
script (``_cli.SpareSbatch``) -- still loads its plugins, asks munged for a
credential and talks to slurmctld after it has the script: 4-5 ms here,
most of a Submit.  slurmrestd has all of that loaded once; it answers a
submission in about 2.5 ms over a kept-open connection.  Only submissions
go this way: listings stay on ``squeue`` format strings (22.05's JSON job
listing ignores filters, like ``squeue --json``) and controls on
``scontrol``/``scancel``.

Identity: with ``rest_auth/local`` slurmrestd submits as the user it runs
as (openapi v0.0.38 refuses a ``user_id``), so whoever can open its socket
submits as that user: the socket must be reachable by the agent's user only
(``.ci/slurm.sh`` keeps it in a mode-0700 directory).  The daemon's uid and
gid come from the socket itself (``SO_PEERCRED``); a job that must run as
anybody else goes through ``sbatch --uid`` instead.

Failures: a socket that refuses the connection or the request
(:class:`RestUnavailable`) has submitted nothing, and the caller uses
``sbatch``.  An answer lost after the request went out
(:class:`RestAnswerLost`) may or may not have made a job; the caller
cancels by the job's name, unique to the submission, before submitting
again, so that no job runs twice.  A refusal by Slurm is a
:class:`~._cli.SlurmError` with Slurm's own message, as sbatch's would be.

Threading: any number of threads may submit at once; each request has a
connection of its own, taken from and returned to an idle pool under a lock.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Mapping
from typing import Any

from ._cli import SlurmError
from ._script import BatchRequest

__all__ = ["Slurmrestd", "RestSubmit", "RestUnavailable", "RestWrongUser", "RestAnswerLost"]

_SUBMIT_PATH = "/slurm/v0.0.38/job/submit"
#: what Slurm reports about a job it accepted held: not an error
_HELD_NOTICE = 2042
#: connections kept open between submissions
_IDLE_MAX = 4
#: the most an answer's head and body may hold (a submission's is ~500 bytes)
_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024


class RestUnavailable(SlurmError):
    """slurmrestd could not be given the request: nothing was submitted."""


class RestWrongUser(RestUnavailable):
    """slurmrestd runs as someone other than the user the job must run as."""


class RestAnswerLost(SlurmError):
    """The request went out but no answer came back: a job may exist."""


class _Connection:
    """One kept-open HTTP/1.1 connection to slurmrestd's Unix socket, knowing
    who the daemon runs as.

    A dozen lines of HTTP rather than :mod:`http.client`, whose header
    parsing (the email package) cost 0.4 ms of a 2.4 ms submission here;
    slurmrestd always answers with a ``Content-Length``.
    """

    def __init__(self, path: str, timeout: float) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
        except BaseException:
            sock.close()
            raise
        _, uid, gid = struct.unpack("3i", creds)
        self.peer = (uid, gid)
        self.sock = sock

    def send(self, request: bytes) -> None:
        self.sock.sendall(request)

    def answer(self) -> tuple[int, bytes, bool]:
        """(HTTP status, body, whether the daemon closes the connection)."""
        buf = bytearray()
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > _MAX_HEAD:
                raise ValueError(f"an HTTP head over {_MAX_HEAD} bytes")
            buf += self._recv()
        status_line, *lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = buf[end + 4:]
        length = headers.get("content-length", "")
        if not length.isdigit() or int(length) > _MAX_BODY:
            raise ValueError(f"an answer without a usable Content-Length ({length!r})")
        while len(body) < int(length):
            body += self._recv()
        closes = headers.get("connection", "").lower() == "close"
        return int(parts[1]), bytes(body[:int(length)]), closes

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("slurmrestd closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


class Slurmrestd:
    """slurmrestd listening on the Unix socket *path*.

    :param environment: the environment its jobs get (what ``--export=ALL``
        gives an ``sbatch`` run with the same bare environment).
    """

    def __init__(self, path: str, timeout: float, environment: Mapping[str, str]) -> None:
        self.path = path
        self.timeout = timeout
        self._environment = dict(environment)
        self._lock = threading.Lock()
        self._idle: list[_Connection] = []

    def start(self, request: BatchRequest, run_as: tuple[int, int]) -> RestSubmit:
        """Send *request*; :meth:`RestSubmit.job_id` waits for the answer.

        Raises :class:`RestUnavailable` when the daemon cannot take it --
        it does not answer, or (:class:`RestWrongUser`) it runs as someone
        other than *run_as* (uid, gid), the user the job must run as.
        """
        body = json.dumps({"script": request.script,
                           "job": request.rest_job(self._environment)}).encode()
        message = (f"POST {_SUBMIT_PATH} HTTP/1.1\r\nHost: localhost\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                   ).encode() + body
        for reused in (True, False):
            conn = self._take() if reused else None
            if reused and conn is None:
                continue
            if conn is None:
                try:
                    conn = _Connection(self.path, self.timeout)
                except OSError as exc:
                    raise RestUnavailable(
                        f"slurmrestd at {self.path} does not answer ({exc})",
                        "slurmrestd") from None
            if conn.peer != run_as:
                self._give_back(conn)
                raise RestWrongUser(
                    f"slurmrestd at {self.path} runs as uid {conn.peer[0]}, "
                    f"the job as uid {run_as[0]}", "slurmrestd")
            try:
                conn.send(message)
            except OSError as exc:
                conn.close()
                if reused:
                    continue        # the daemon closed it while idle: a fresh one
                raise RestUnavailable(f"slurmrestd at {self.path} refused the request "
                                      f"({exc})", "slurmrestd") from None
            return RestSubmit(self, conn)
        raise AssertionError("unreachable")

    def _take(self) -> _Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_MAX:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections (submissions under way keep theirs)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class RestSubmit:
    """A submission sent to slurmrestd, its answer not read yet."""

    def __init__(self, daemon: Slurmrestd, conn: _Connection) -> None:
        self._daemon = daemon
        self._conn = conn

    def job_id(self) -> str:
        """The new job's id; SlurmError with Slurm's message if it refused,
        :class:`RestAnswerLost` if no answer came."""
        conn = self._conn
        try:
            status, data, closes = conn.answer()
        except (OSError, ValueError) as exc:
            conn.close()
            raise RestAnswerLost(f"slurmrestd at {self._daemon.path} did not answer "
                                 f"a submission ({exc or type(exc).__name__})",
                                 "slurmrestd") from None
        if closes:
            conn.close()
        else:
            self._daemon._give_back(conn)
        try:
            answer: Any = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RestAnswerLost(f"slurmrestd answered HTTP {status} with "
                                 f"{data[:200]!r}, not a submission's result", "slurmrestd")
        job_id = answer.get("job_id")
        if status == 200 and type(job_id) is int:
            return str(job_id)
        lines = _messages(answer.get("errors"))
        raise SlurmError(" ".join(lines) or f"slurmrestd answered HTTP {status}",
                         "slurmrestd", lines)


def _messages(errors: Any) -> list[str]:
    """The texts of slurmrestd's ``errors`` list, Slurm's own words first."""
    lines = []
    for err in errors if isinstance(errors, list) else []:
        if not isinstance(err, dict) or err.get("error_code") == _HELD_NOTICE:
            continue
        text = ": ".join(str(err[k]) for k in ("error", "description") if err.get(k))
        if text:
            lines.append(text)
    return lines
