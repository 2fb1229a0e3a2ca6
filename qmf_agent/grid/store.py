"""The durable job queue: SQLite in WAL mode with ``synchronous=FULL``.

Why SQLite: a Submit is acknowledged only after the job is on disk, and a
``kill -9`` at any moment must lose nothing acknowledged.  SQLite's WAL with
full sync gives exactly that per transaction, and one transaction per
scheduler change keeps the queue consistent (a cluster and its procs appear
together or not at all).

Layout: ``clusters`` (cluster ad), ``procs`` (each proc's own attributes,
usually none), ``history`` (finished jobs, flattened), ``requests``
(the ids a Submit with a request id returned, so a retried Submit is
answered with the same ids) and ``meta`` (epoch, next cluster id, queue
birthdate).  Ads are stored as JSON of the raw form of
:mod:`qmf_agent.grid.jobs`, which parses far faster than ClassAd text on
recovery.

Every SQLite failure (full disk, read-only file, corruption) surfaces as
:class:`qmf_agent.errors.StoreError` with the database path and SQLite's
reason; the failed transaction is rolled back, so the file stays valid.

Thread safety: one connection, guarded by the store's lock; callers may hold
the scheduler's lock around a transaction (the store never calls out).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError

__all__ = ["Store", "Transaction", "Recovered"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clusters (id INTEGER PRIMARY KEY, ad TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS procs (
    cluster INTEGER NOT NULL, proc INTEGER NOT NULL, ad TEXT,
    PRIMARY KEY (cluster, proc)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, cluster INTEGER NOT NULL,
    proc INTEGER NOT NULL, owner TEXT, submission TEXT, status INTEGER,
    completed INTEGER, ad TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_job ON history (cluster, proc);
CREATE INDEX IF NOT EXISTS history_submission ON history (owner, submission);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, result TEXT NOT NULL, ts INTEGER NOT NULL);
"""

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass
class Recovered:
    """What :meth:`Store.load` read back: raw cluster and proc attributes."""

    clusters: dict[int, dict[str, Any]]
    procs: list[tuple[int, int, dict[str, Any] | None]]


class Transaction:
    """The changes of one scheduler operation; committed as one unit."""

    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    def put_cluster(self, cluster_id: int, attrs: dict[str, Any]) -> None:
        self._cur.execute(
            "INSERT OR REPLACE INTO clusters (id, ad) VALUES (?, ?)",
            (cluster_id, _dumps(attrs)),
        )

    def delete_cluster(self, cluster_id: int) -> None:
        self._cur.execute("DELETE FROM clusters WHERE id = ?", (cluster_id,))

    def put_procs(self, rows: Iterable[tuple[int, int, dict[str, Any] | None]]) -> None:
        """Write procs' own attributes (``None``: nothing beyond the ids)."""
        self._cur.executemany(
            "INSERT OR REPLACE INTO procs (cluster, proc, ad) VALUES (?, ?, ?)",
            ((c, p, _dumps(a) if a else None) for c, p, a in rows),
        )

    def delete_proc(self, cluster_id: int, proc_id: int) -> None:
        self._cur.execute(
            "DELETE FROM procs WHERE cluster = ? AND proc = ?", (cluster_id, proc_id)
        )

    def add_history(
        self, cluster_id: int, proc_id: int, owner: str, submission: str, status: int,
        completed: int, ad: dict[str, Any],
    ) -> None:
        self._cur.execute(
            "INSERT INTO history (cluster, proc, owner, submission, status, completed, ad)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cluster_id, proc_id, owner, submission, status, completed, _dumps(ad)),
        )

    def remember_request(self, request_id: str, result: Any, ts: int) -> None:
        self._cur.execute(
            "INSERT OR REPLACE INTO requests (id, result, ts) VALUES (?, ?, ?)",
            (request_id, _dumps(result), ts),
        )

    def forget_requests(self, older_than: int) -> None:
        self._cur.execute("DELETE FROM requests WHERE ts < ?", (older_than,))

    def select(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._cur.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._cur.execute(sql, params)

    def set_meta(self, key: str, value: Any) -> None:
        self._cur.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, _dumps(value))
        )


class Store:
    """The scheduler's SQLite file.  Open it with :meth:`open`."""

    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, state_dir: str) -> Store:
        """Open (creating if needed) ``<state_dir>/queue.db``."""
        path = os.path.join(state_dir, "queue.db")
        try:
            os.makedirs(state_dir, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the job queue {path}: {exc}") from exc
        return cls(path, conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Transaction]:
        """One change, committed when the block ends.

        ``durable`` (the default, for everything a caller is answered about:
        Submit, Hold, Release, Remove, SetAttribute, ...) fsyncs the commit.
        ``durable=False`` is HTCondor's non-durable transaction, for the
        scheduler's own bookkeeping (a job started, a run ended): the commit
        is written to the WAL without an fsync, so it survives the agent
        being killed (the OS has the pages) and at worst a power loss undoes
        it -- the job then runs again, which recovery already allows for.
        The next durable commit syncs it along.

        Any SQLite error rolls the whole change back and raises
        :class:`StoreError`; exceptions from the block roll back too.
        """
        with self._lock:
            try:
                cur = self._conn.cursor()
            except sqlite3.Error as exc:     # closed
                raise StoreError(f"job queue {self.path} is not open ({exc})") from exc
            try:
                if not durable:
                    cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._restore_sync(durable)
                raise StoreError(
                    f"job queue {self.path} refused the change ({exc}); nothing was changed"
                ) from exc
            try:
                yield Transaction(cur)
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(
                    f"job queue {self.path} refused the change ({exc}); nothing was changed"
                ) from exc
            except BaseException:
                self._rollback()
                raise
            finally:
                self._restore_sync(durable)

    def _restore_sync(self, durable: bool) -> None:
        if not durable:
            try:
                self._conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                log.error("job queue %s: cannot restore synchronous=FULL: %s", self.path, exc)

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback after a failed transaction found none open")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"job queue {self.path}: cannot read: {exc}") from exc

    def meta(self, key: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def next_epoch(self) -> int:
        """Increment and return the persisted agent epoch (once per start)."""
        epoch = int(self.meta("epoch", 0)) + 1
        with self.transaction() as txn:
            txn.set_meta("epoch", epoch)
        return epoch

    def request(self, request_id: str) -> Any:
        rows = self._query("SELECT result FROM requests WHERE id = ?", (request_id,))
        return json.loads(rows[0][0]) if rows else None

    def forget_requests(self, older_than: int) -> None:
        with self.transaction() as txn:
            txn.forget_requests(older_than)

    def load(self) -> Recovered:
        """Every queued cluster and proc, as raw attribute dicts."""
        loads = json.loads
        clusters = {cid: loads(ad) for cid, ad in self._query("SELECT id, ad FROM clusters")}
        procs = [
            (c, p, loads(ad) if ad else None)
            for c, p, ad in self._query("SELECT cluster, proc, ad FROM procs ORDER BY cluster, proc")
        ]
        return Recovered(clusters, procs)

    def history_submissions(self) -> list[tuple[str, str]]:
        """(owner, submission) of every submission with a job in the history."""
        return [(o or "", s or "") for o, s in self._query(
            "SELECT DISTINCT owner, submission FROM history")]

    def finished_of(self, owner: str, submission: str) -> tuple[dict[int, int], int]:
        """One submission's finished jobs by status, and the QDate of its
        oldest one (0 if none): what the schedd no longer keeps in memory."""
        counts = {int(status): int(n) for status, n in self._query(
            "SELECT status, count(*) FROM history WHERE owner = ? AND submission = ?"
            " GROUP BY status", (owner, submission))}
        first = self._query("SELECT ad FROM history WHERE owner = ? AND submission = ?"
                            " ORDER BY seq LIMIT 1", (owner, submission)) if counts else []
        qdate = json.loads(first[0][0]).get("QDate", 0) if first else 0
        return counts, qdate if type(qdate) is int else 0

    def prune_history(self, keep: int) -> list[tuple[int, int]]:
        """Drop all but the newest *keep* finished jobs; returns the ids dropped."""
        with self.transaction() as txn:
            rows = txn.select(
                "SELECT cluster, proc FROM history WHERE seq <= "
                "(SELECT max(seq) FROM history) - ?", (keep,))
            if rows:
                txn.execute("DELETE FROM history WHERE seq <= (SELECT max(seq) FROM history) - ?",
                            (keep,))
        return [(int(c), int(p)) for c, p in rows]

    def history_of(self, owner: str, submission: str) -> list[dict[str, Any]]:
        """Finished jobs of one submission, oldest first."""
        rows = self._query("SELECT ad FROM history WHERE owner = ? AND submission = ? ORDER BY seq",
                           (owner, submission))
        return [json.loads(ad) for (ad,) in rows]

    def history_ad(self, cluster_id: int, proc_id: int) -> dict[str, Any] | None:
        """The stored ad of one finished job (the newest, should ids repeat)."""
        rows = self._query(
            "SELECT ad FROM history WHERE cluster = ? AND proc = ? ORDER BY seq DESC LIMIT 1",
            (cluster_id, proc_id))
        return json.loads(rows[0][0]) if rows else None

    def history(self, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Finished jobs, newest first (the ads as stored)."""
        sql = "SELECT ad FROM history ORDER BY seq DESC"
        with self._lock:
            try:
                cur = self._conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
                rows = cur.fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"job queue {self.path}: cannot read history: {exc}") from exc
        for (ad,) in rows:
            yield json.loads(ad)
