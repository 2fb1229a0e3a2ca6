"""The durable store on its own, the argument/environment syntaxes, job ids,
state rules, and the raw attribute representation."""

from __future__ import annotations

import sqlite3

import pytest

from qmf_agent.errors import ParameterInvalid, StoreError
from qmf_agent.grid.arguments import (
    ArgumentError,
    parse_new_env,
    parse_old_env,
    split_new,
    split_old_args,
)
from qmf_agent.grid.jobs import (
    Expr,
    JobStatus,
    action_verdict,
    parse_job_id,
    raw_from_json,
    raw_from_text,
    raw_to_json,
    raw_to_text,
)
from qmf_agent.grid.store import Store


def test_store_round_trip_and_epoch(tmp_path):
    store = Store.open(str(tmp_path))
    assert store.next_epoch() == 1
    with store.transaction() as txn:
        txn.put_cluster(1, {"Cmd": "/bin/true", "Requirements": {"e": "TARGET.X > 1"}})
        txn.put_procs([(1, 0, None), (1, 1, {"JobStatus": 5})])
        txn.set_meta("next_cluster", 2)
    store.close()
    store = Store.open(str(tmp_path))
    assert store.next_epoch() == 2
    loaded = store.load()
    assert loaded.clusters == {1: {"Cmd": "/bin/true", "Requirements": {"e": "TARGET.X > 1"}}}
    assert loaded.procs == [(1, 0, None), (1, 1, {"JobStatus": 5})]
    assert store.meta("next_cluster") == 2
    store.close()


def test_failed_transaction_rolls_back(tmp_path):
    store = Store.open(str(tmp_path))
    with pytest.raises(RuntimeError):
        with store.transaction() as txn:
            txn.put_cluster(1, {"a": 1})
            raise RuntimeError("boom")
    assert store.load().clusters == {}
    store._conn.execute("PRAGMA query_only = ON")
    with pytest.raises(StoreError, match="nothing was changed"):
        with store.transaction() as txn:
            txn.put_cluster(2, {"a": 1})
    store._conn.execute("PRAGMA query_only = OFF")
    assert store.load().clusters == {}
    with store.transaction() as txn:
        txn.put_cluster(3, {"a": 1})
    assert list(store.load().clusters) == [3]
    store.close()


def test_full_disk_is_a_store_error(tmp_path):
    store = Store.open(str(tmp_path))
    # a page limit stands in for a full disk: SQLite says "database or disk is full"
    store._conn.execute("PRAGMA max_page_count = " +
                        str(store._conn.execute("PRAGMA page_count").fetchone()[0] + 1))
    with pytest.raises(StoreError, match="full"):
        with store.transaction() as txn:
            txn.put_cluster(1, {"Blob": "x" * 1_000_000})
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    assert store.load().clusters == {}
    assert sqlite3.connect(store.path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store.close()


def test_non_durable_transaction_is_still_committed(tmp_path):
    store = Store.open(str(tmp_path))
    with store.transaction(durable=False) as txn:
        txn.put_cluster(1, {"a": 1})
    assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)   # FULL again
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT id FROM clusters").fetchall() == [(1,)]
    store.close()


def test_requests_are_remembered_and_forgotten(tmp_path):
    store = Store.open(str(tmp_path))
    with store.transaction() as txn:
        txn.remember_request("r1", {"ids": ["1.0"]}, 100)
        txn.remember_request("r2", {"ids": ["2.0"]}, 200)
    assert store.request("r1") == {"ids": ["1.0"]}
    store.forget_requests(150)
    assert store.request("r1") is None and store.request("r2") == {"ids": ["2.0"]}
    store.close()


@pytest.mark.parametrize("text,argv", [
    ("a b  c", ["a", "b", "c"]),
    ("'one arg' two", ["one arg", "two"]),
    ("'it''s' x", ["it's", "x"]),
    ("''", [""]),
    ('say "hi"', ['say', '"hi"']),
    ("a'b c'd", ["ab cd"]),
    ("", []),
])
def test_new_syntax_arguments(text, argv):
    assert split_new(text) == argv


def test_new_syntax_errors():
    with pytest.raises(ArgumentError, match="unterminated"):
        split_new("'open")


def test_old_syntax_args():
    assert split_old_args('a  b \\"c\\"') == ["a", "b", '"c"']
    with pytest.raises(ArgumentError, match="escaped"):
        split_old_args('a "b"')


def test_environments():
    assert parse_old_env("A=1;B=two words; C=") == {"A": "1", "B": "two words", "C": ""}
    assert parse_new_env("A=1 'B=two words' C=x=y") == {"A": "1", "B": "two words", "C": "x=y"}
    with pytest.raises(ArgumentError, match="NAME=value"):
        parse_old_env("novalue")
    with pytest.raises(ArgumentError, match="NAME=value"):
        parse_new_env("=x")


def test_job_ids():
    assert parse_job_id("12.3") == (12, 3)
    assert parse_job_id(" 1.0 ") == (1, 0)
    for bad in ("12", "a.b", "1.-1", "0.0", 12, None):
        with pytest.raises(ParameterInvalid):
            parse_job_id(bad)


@pytest.mark.parametrize("action,status,verdict", [
    ("hold", JobStatus.IDLE, "ok"), ("hold", JobStatus.RUNNING, "ok"),
    ("hold", JobStatus.HELD, "already"), ("hold", JobStatus.COMPLETED, "bad"),
    ("release", JobStatus.HELD, "ok"), ("release", JobStatus.IDLE, "bad"),
    ("remove", JobStatus.HELD, "ok"), ("remove", JobStatus.REMOVED, "already"),
    ("remove", JobStatus.COMPLETED, "bad"),
    ("suspend", JobStatus.RUNNING, "ok"), ("suspend", JobStatus.SUSPENDED, "already"),
    ("suspend", JobStatus.IDLE, "bad"),
    ("continue", JobStatus.SUSPENDED, "ok"), ("continue", JobStatus.RUNNING, "already"),
])
def test_state_rules(action, status, verdict):
    assert action_verdict(action, status) == verdict


def test_raw_values():
    assert raw_from_text("1 + 2") == Expr("1 + 2")
    assert raw_from_text('"x"') == "x" and raw_from_text("7") == 7
    assert raw_from_text("true") is True and raw_from_text("2.5") == 2.5
    with pytest.raises(ParameterInvalid):
        raw_from_text("")
    raw = {"A": 1, "B": Expr("x + 1"), "C": "s", "D": False}
    assert raw_from_json(raw_to_json(raw)) == raw
    assert raw_to_text("a\"b") == '"a\\"b"' and raw_to_text(True) == "true"


def test_history_is_pruned_to_the_newest(tmp_path):
    store = Store.open(str(tmp_path))
    with store.transaction() as txn:
        for p in range(5):
            txn.add_history(1, p, "alice", "s", 4, 100 + p, {"ProcId": p})
    assert store.prune_history(2) == [(1, 0), (1, 1), (1, 2)]
    assert [ad["ProcId"] for ad in store.history()] == [4, 3]
    assert store.prune_history(2) == []
    assert store.history_ad(1, 4) == {"ProcId": 4} and store.history_ad(1, 0) is None
    store.close()


def test_a_closed_store_answers_store_error(tmp_path):
    store = Store.open(str(tmp_path))
    store.close()
    with pytest.raises(StoreError, match="not open"):
        with store.transaction():
            pass
    with pytest.raises(StoreError, match="cannot read"):
        store.load()
