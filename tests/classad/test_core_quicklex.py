"""The cold-parse fast path (classad._quicklex words into the descent
parser) against the full path (classad._lexer.tokenize, then the fast and
reference parsers).

The fast path may decline any text; whatever it accepts must be the very
AST the full path builds, in both integer modes.  Held on the differential
corpus, on generated expressions, and on character-level mutations of the
corpus (deleted, doubled and inserted characters: mostly odd or invalid
texts, where the two word splitters and the sign rule could part ways).
"""

from __future__ import annotations

import gc
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from props_strategies import expressions
from test_core_parser_fast import _corpus_texts
from test_core_parser_fast import _disagreement as tokens_disagreement

from classad import ClassAdSyntaxError, _quicklex
from classad._ast import AttrRef, Literal
from classad._fastparse import descend
from classad._lexer import tokenize
from classad._parser import _BUILD, MAX_DEPTH, PRECEDENCE, parse_expression, parse_tokens
from classad._quicklex import quick_tokens


def _quick(text: str) -> Any:
    toks = quick_tokens(text)
    return None if toks is None else descend(toks, PRECEDENCE, _BUILD.call, _BUILD.record)


def _full(text: str, strict: bool) -> Any:
    try:
        return parse_tokens(tokenize(text, strict), text)
    except ClassAdSyntaxError:
        return None


def _disagreement(text: str) -> str | None:
    quick = _quick(text)
    if quick is None:
        return None
    for strict in (False, True):
        full = _full(text, strict)
        if full is None or quick != full or repr(quick) != repr(full):
            return f"strict={strict}: quick {quick!r}, full {full!r}"
    return None


CORPUS = _corpus_texts()


def test_the_fast_path_takes_most_of_the_corpus() -> None:
    valid = [t for t in CORPUS[::7] if _full(t, False) is not None]
    taken = sum(_quick(t) is not None for t in valid)
    assert len(valid) > 1000
    assert taken > 0.75 * len(valid)


@pytest.mark.parametrize("part", range(4))
def test_equal_asts_on_the_diff_corpus(part: int) -> None:
    problems = [f"{t!r}: {why}" for t in CORPUS[part::4] if (why := _disagreement(t))]
    assert not problems, "\n".join(problems[:20])


def _mutations(text: str, rng: random.Random) -> list[str]:
    out = []
    alphabet = " -.()\"'/*:?0159eExX_aZ\\\t\n٣"
    for _ in range(4):
        k = rng.randrange(len(text) + 1)
        out.append(text[:k] + text[k + 1:])
        out.append(text[:k] + text[k:k + 1] * 2 + text[k + 1:])
        out.append(text[:k] + rng.choice(alphabet) + text[k:])
    return out


def test_equal_asts_on_mutated_texts() -> None:
    rng = random.Random(7)
    problems = []
    accepted = 0
    for text in rng.sample([t for t in CORPUS if t], 3000):
        for variant in _mutations(text, rng):
            accepted += _quick(variant) is not None
            why = _disagreement(variant)
            if why:
                problems.append(f"{variant!r}: {why}")
    assert accepted > 3000  # the fast path really ran on the variants
    assert not problems, "\n".join(problems[:20])


@settings(max_examples=400, deadline=None)
@given(expressions)
def test_equal_asts_on_generated_expressions(text: str) -> None:
    assert _disagreement(text) is None


@settings(max_examples=400, deadline=None)
@given(st.text("ab1.-+ ()e\"\\x0?:[]{};=,", max_size=14))
def test_equal_asts_on_generated_character_soup(text: str) -> None:
    assert _disagreement(text) is None


_LEFT_TO_THE_FULL_PATH = {'"a" "b"', "x /* c */ + 1", "'quoted name' + 1"}


@pytest.mark.parametrize(("text", "shape"), [
    # the glued '-': a sign unless an operand precedes it
    ("x-5", "<BinaryOp x - 5>"),
    ("x -5", "<BinaryOp x - 5>"),
    ("5-3", "<BinaryOp 5 - 3>"),
    ("a.b-3", "<BinaryOp a.b - 3>"),
    ("(1)-2", "<BinaryOp (1) - 2>"),
    ("l[0]-2", "<BinaryOp l[0] - 2>"),
    ("{1}-2", "<BinaryOp { 1 } - 2>"),
    ('"s"-2', '<BinaryOp "s" - 2>'),
    ("x - -5", "<BinaryOp x - -5>"),
    ("--5", "<UnaryOp  --5>"),
    ("- 5", "<UnaryOp  -5>"),
    ("-.5", "<Literal -5.000000000000000E-01>"),
    ("-9223372036854775808", "<Literal -9223372036854775808>"),
    ("x-9223372036854775808", "<BinaryOp x - 0>"),
    ("f(-1,-2)", "<FunctionCall f(-1,-2)>"),
    ("x ?: -5", "<Elvis x ?: -5>"),
    # selects as one word, and where they are not
    ("TARGET.Memory >= 1", "<BinaryOp TARGET.Memory >= 1>"),
    ("a.b.c", "<AttrRef a.b.c>"),
    ("a . b", "<AttrRef a.b>"),
    ("a..b", "<AttrRef a.b>"),
    ("x.true", None),
    ("e5.x", "<AttrRef e5.x>"),
    ("a.b(1)", None),
    # strings, numbers and operators the fast path declines or takes
    ('"a\\tb"', '<Literal "a\\tb">'),
    ('"a" "b"', '<Literal "ab">'),
    ("a ? : b", "<Elvis a ?: b>"),
    ("2.5 - 1e3", "<BinaryOp 2.500000000000000E+00 - 1.000000000000000E+03>"),
    ("x /* c */ + 1", "<BinaryOp x + 1>"),
    ("'quoted name' + 1", "<BinaryOp 'quoted name' + 1>"),
    ("[a = 1; b = a.b]", "<RecordExpr [ a = 1; b = a.b ]>"),
    ('absTime("2020-01-01T00:00:00Z")', '<Literal absTime("2020-01-01T00:00:00-00:00")>'),
])
def test_shapes_match_the_full_path(text: str, shape: str | None) -> None:
    """*shape* None: a syntax error."""
    assert _disagreement(text) is None
    if shape is None:
        assert _quick(text) is None
        with pytest.raises(ClassAdSyntaxError):
            parse_expression(text)
    else:
        assert repr(parse_expression(text)) == shape
        assert (_quick(text) is None) == (text in _LEFT_TO_THE_FULL_PATH)


@pytest.mark.parametrize("text", [
    "x /* c */ + 1", "'q' + 1", "010", "0x1F", "1.", "1e", "x ٣", '"\\0"', '"a" "b"', "true.x",
    '"unterminated', "a # b", "",
])
def test_words_outside_the_subset_are_declined(text: str) -> None:
    assert quick_tokens(text) is None or _quick(text) is None


@pytest.mark.parametrize(("text", "message", "column"), [
    ("010", "leading zero", 0),
    ("x + 1.", "malformed number", 4),
    ("a b.c", "unexpected b", 2),
    ("a.b(1)", "unexpected (", 3),
    ('x + "abc', "unterminated quoted text", 4),
    ("x - #", "unexpected character '#'", 4),
])
def test_errors_keep_the_full_paths_wording_and_position(text: str, message: str, column: int) -> None:
    with pytest.raises(ClassAdSyntaxError) as info:
        parse_expression(text)
    assert message in info.value.reason
    assert (info.value.line, info.value.column) == (1, column + 1)
    assert info.value.excerpt.endswith("\n" + " " * column + "^")


def test_leading_zeros_follow_the_mode() -> None:
    assert _quick("010") is None
    assert _full("010", True) == Literal(10) and _full("010", False) is None


def test_shared_leaves_come_from_the_fast_path() -> None:
    a = parse_expression("TARGET.Memory >= 1 && RequestMemory > 2")
    b = parse_expression("RequestMemory + TARGET.Memory")
    assert a.left.left is b.right and a.right.left is b.left
    assert type(a.left.left.base) is AttrRef


def test_too_deep_for_the_evaluator_still_refused() -> None:
    deep = "a" + ".b" * (MAX_DEPTH + 5)
    with pytest.raises(ClassAdSyntaxError, match="nested more than"):
        parse_expression(deep)
    deep_selects = " + ".join(["a.b"] * 10)
    assert _quick(deep_selects) == _full(deep_selects, False)


def test_word_table_stays_bounded() -> None:
    limit = _quicklex._WORDS_LIMIT + len(_quicklex._STATIC)
    for i in range(_quicklex._WORDS_LIMIT + 50):
        text = f'n_{i} + TARGET.t_{i} + "s{i}"'
        assert repr(_quick(text)) == f'<BinaryOp n_{i} + TARGET.t_{i} + "s{i}">'
    assert len(_quicklex._WORDS) <= limit
    assert repr(_quick("a is b")) == "<BinaryOp a is b>"  # the static part survives a reset


@pytest.mark.parametrize("text", [
    # the (a op b) shortcut of the descent parser, and its near misses
    '(TARGET.Arch == "X86_64") && (TARGET.Disk >= RequestDisk)',
    "(a == 1).x", "(a == 1)[0]", "(a == 1) ?: b", "(a + b) * c", "-(a - 1)", "!(x && y)",
    "(a.b == \"x\") && (c >= d) || (e < 1)", "(f(1) == 2)", "(a == b == c)", "(a == -1)",
    "(a - 1 * 2)", "((a == 1))", "(a == 1 ? b : c)", "x[(a + 1)]", "{(a == 1), (b)}",
    "(a ==", "(a == 1", "(a == 1]", "(a == )", "(== 1)",
])
def test_parenthesised_shortcut_matches_the_reference(text: str) -> None:
    assert _disagreement(text) is None
    assert tokens_disagreement(tokenize(text)) is None


def test_declined_words_leave_no_garbage_for_the_collector() -> None:
    """A word outside the subset ends the fast path by an exception; like
    the rest of a parse, that must free everything by reference counting."""
    texts = [f'x /* c */ + {i} + "a" "b{i}"' for i in range(50)] + [f"y{i} - -{i}.5 + 'q'" for i in range(50)]
    gc.collect()
    gc.disable()
    try:
        for text in texts:
            parse_expression(text)
        for text in (f"0{i} + z" for i in range(1, 50)):
            with pytest.raises(ClassAdSyntaxError):
                parse_expression(text)
        assert gc.collect() == 0
    finally:
        gc.enable()
