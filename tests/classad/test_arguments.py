"""The one V2 argument splitter and its two callers (argsToList and the
grid's job runner) agree, each with its own way of failing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import classad
from classad._builtins_compat import quote_arg
from classad.arguments import UnbalancedQuote, split_v2
from qmf_agent.grid.arguments import ArgumentError, split_new

CASES = [
    ("a b  c", ["a", "b", "c"]),
    ("'one arg' two", ["one arg", "two"]),
    ("'it''s' x", ["it's", "x"]),
    ("''", [""]),
    ("a'b c'd", ["ab cd"]),
    ("\ta\r\nb ", ["a", "b"]),
    ("", []),
]


@pytest.mark.parametrize("text,argv", CASES)
def test_split_and_both_callers_agree(text: str, argv: list[str]) -> None:
    assert split_v2(text) == argv
    assert split_new(text) == argv
    assert classad.ExprTree(f"argsToList({classad.quote(text)})").eval() == argv


@pytest.mark.parametrize("text,offset", [("'open", 0), ("a 'b''", 2), ("x y '", 4)])
def test_unbalanced_quote_names_where_it_opens(text: str, offset: int) -> None:
    with pytest.raises(UnbalancedQuote) as err:
        split_v2(text)
    assert err.value.offset == offset
    assert isinstance(err.value, ValueError)


def test_each_caller_keeps_its_own_failure() -> None:
    with pytest.raises(ArgumentError, match="unterminated single quote in \"'open\""):
        split_new("'open")
    assert classad.ExprTree("argsToList(\"'open\")").eval() is classad.Value.Error
    assert classad.ExprTree("mergeEnvironment(\"A='x\")").eval() is classad.Value.Error


@given(st.lists(st.text(alphabet="ab '\t\"x=", max_size=6), max_size=5))
def test_quoting_then_splitting_gives_the_arguments_back(args: list[str]) -> None:
    assert split_v2(" ".join(quote_arg(a) for a in args)) == args
