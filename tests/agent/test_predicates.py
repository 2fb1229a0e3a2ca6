"""QMFv2 predicates and ClassAd constraints as query filters."""

from __future__ import annotations

from typing import Any

import pytest

from qmf_agent.errors import FeatureNotImplemented, ParameterInvalid
from qmf_agent.protocol import compile_predicate, compile_where

JOB = {"Owner": "alice", "JobStatus": 2, "ImageSize": 1024, "Cmd": "/bin/sleep", "Held": False}


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        (None, True),
        ([], True),
        (["true"], True),
        (["false"], False),
        (["eq", "Owner", ["quote", "alice"]], True),
        (["EQ", "Owner", ["QUOTE", "alice"]], True),
        (["eq", "Owner", ["quote", "bob"]], False),
        (["ne", "Owner", ["quote", "bob"]], True),
        (["lt", "JobStatus", 3], True),
        (["le", "JobStatus", 2], True),
        (["gt", "ImageSize", 1024], False),
        (["ge", "ImageSize", 1024], True),
        (["gt", ["quote", 5], "JobStatus"], True),
        (["eq", "JobStatus", "JobStatus"], True),
        (["eq", 1, 1], True),
        (["eq", 1, 2], False),
        (["re_match", "Cmd", ["quote", "^/bin/"]], True),
        (["re_match", "Cmd", ["quote", "sleep$"]], True),
        (["re_match", "Cmd", ["quote", "^sleep"]], False),
        (["re_match", "JobStatus", ["quote", "2"]], False),
        (["re_match", ["quote", "abc"], ["quote", "b"]], True),
        (["exists", "Owner"], True),
        (["exists", "HoldReason"], False),
        (["and", ["exists", "Owner"], ["eq", "JobStatus", 2]], True),
        (["and", ["exists", "Owner"], ["eq", "JobStatus", 1]], False),
        (["and"], True),
        (["or", ["false"], ["eq", "Held", False]], True),
        (["or"], False),
        (["not", ["eq", "Owner", ["quote", "bob"]]], True),
        (["not", ["true"]], False),
        # a missing operand makes the comparison false, whichever comparison
        (["eq", "Missing", 1], False),
        (["ne", "Missing", 1], False),
        (["lt", 1, "Missing"], False),
        (["not", ["eq", "Missing", 1]], True),
        # incomparable types do not match rather than fail
        (["lt", "Owner", 3], False),
        (["eq", "Owner", 3], False),
    ],
)
def test_predicate_semantics(predicate: Any, expected: bool) -> None:
    assert compile_predicate(predicate)(JOB) is expected


@pytest.mark.parametrize(
    ("predicate", "words"),
    [
        ("eq", "expected a non-empty list"),
        ([5, "a", "b"], "operator must be a string"),
        (["like", "a", "b"], "unknown operator 'like'"),
        (["eq", "a"], "two operands"),
        (["eq", "a", "b", "c"], "two operands"),
        (["true", 1], "no operands"),
        (["exists"], "one attribute name"),
        (["exists", 5], "one attribute name"),
        (["eq", "a", ["nope", 1]], "['quote', value]"),
        (["eq", "a", {"x": 1}], "cannot be a map"),
        (["re_match", "Cmd", "Owner"], "quoted pattern"),
        (["re_match", "Cmd", ["quote", 5]], "must be a string"),
        (["re_match", "Cmd", ["quote", "("]], "bad regular expression"),
        (["and", ["eq", "a"]], "two operands"),
        (["not", "x"], "expected a non-empty list"),
    ],
)
def test_bad_predicates_are_refused_up_front(predicate: Any, words: str) -> None:
    with pytest.raises(ParameterInvalid) as info:
        compile_predicate(predicate)
    assert words in info.value.text


def test_where_accepts_predicates_and_none() -> None:
    assert compile_where(None)(JOB)
    assert compile_where(["eq", "JobStatus", 2])(JOB)
    with pytest.raises(ParameterInvalid, match="_where"):
        compile_where(["bogus"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Owner == "alice"', True),
        ('owner == "ALICE"', True),  # ClassAd == on strings is case-insensitive
        ("JobStatus == 2 && ImageSize > 1000", True),
        ("JobStatus =?= 1", False),
        ("Missing > 3", False),  # UNDEFINED does not match
        ("JobStatus", False),  # a non-boolean does not match
        ("true", True),
        ('MY.Owner == "alice"', True),  # scoped references see every attribute
        ('eval("Own" + "er") == "alice"', False),  # + on strings is an error in ClassAds
        ('eval(strcat("Own", "er")) == "alice"', True),
        ("Nope =?= undefined", True),
        ('strcat(Owner, "x") == "alicex"', True),
        ('Held == false && Cmd != ""', True),
    ],
)
def test_classad_constraints(text: str, expected: bool) -> None:
    assert compile_where(text)(JOB) is expected


def test_bad_classad_constraint_is_refused() -> None:
    with pytest.raises(ParameterInvalid, match="not a valid ClassAd expression"):
        compile_where("JobStatus == ")


def test_classad_constraint_without_evaluator_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import classad

    monkeypatch.delattr(classad, "ExprTree")
    with pytest.raises(FeatureNotImplemented, match="classad"):
        compile_where("true")
