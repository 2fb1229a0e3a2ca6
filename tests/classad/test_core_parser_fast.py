"""The production (descent) parser against the reference (LALR) parser.

classad._fastparse accepts a token list only when it can build the very AST
the grammar gives, and declines everything else to the LALR parser.  These
tests hold that on the suites' corpora: every text of diff_cases.py (32,000
cases: operators, precedence, random expressions, ads, mutated texts), the
property strategies' expressions, and every prefix and one-token deletion
of a sample of them (mostly invalid token lists, where both must refuse).
"""

from __future__ import annotations

import random
from typing import Any

import diff_cases
import pytest
from hypothesis import given, settings
from props_strategies import expressions

from classad import ClassAdSyntaxError
from classad._fastparse import MAX_NESTING, fast_parse
from classad._lexer import Tok, tokenize
from classad._parser import _BUILD, PRECEDENCE, _drive, parse_expression


def _fast(toks: list[Tok]) -> Any:
    return fast_parse(toks, PRECEDENCE, _BUILD.call, _BUILD.record)


def _reference(toks: list[Tok]) -> Any:
    try:
        return _drive(toks)
    except Exception:  # noqa: BLE001 - any refusal counts as "fails"
        return None


def _disagreement(toks: list[Tok]) -> str | None:
    """Why the two parsers differ on *toks*, or None when they agree."""
    fast, ref = _fast(toks), _reference(toks)
    if (fast is None) != (ref is None):
        return f"fast {fast!r} but reference {ref!r}"
    if fast is not None and (fast != ref or repr(fast) != repr(ref)):
        return f"fast {fast!r} != reference {ref!r}"
    return None


def _corpus_texts() -> list[str]:
    texts: set[str] = set()
    for case in diff_cases.all_cases():
        for key in ("expr", "oracle_expr", "text", "left", "right", "scope", "target"):
            value = case.get(key)
            if isinstance(value, str):
                texts.add(value)
    return sorted(texts)


def _token_lists(texts: list[str]) -> list[list[Tok]]:
    out = []
    for text in texts:
        try:
            toks = tokenize(text)
        except ClassAdSyntaxError:
            continue
        if toks:
            out.append(toks)
    return out


CORPUS = _token_lists(_corpus_texts())


def test_corpus_is_large_and_mostly_valid() -> None:
    accepted = sum(_reference(t) is not None for t in CORPUS)
    assert len(CORPUS) > 10_000
    assert accepted > 0.8 * len(CORPUS)


@pytest.mark.parametrize("part", range(8))
def test_equal_asts_on_the_diff_corpus(part: int) -> None:
    problems = []
    for toks in CORPUS[part::8]:
        why = _disagreement(toks)
        if why:
            problems.append(f"{toks!r}: {why}")
    assert not problems, "\n".join(problems[:20])


def test_prefixes_and_deletions_agree() -> None:
    """Truncated and holed token lists: mostly syntax errors, which the fast
    parser must decline exactly when the reference parser refuses."""
    rng = random.Random(13)
    sample = rng.sample(CORPUS, 1500)
    problems = []
    refused = 0
    for toks in sample:
        variants = [toks[:k] for k in range(1, len(toks))]
        variants += [toks[:k] + toks[k + 1:] for k in rng.sample(range(len(toks)), min(len(toks), 6))]
        for variant in variants:
            if not variant:
                continue
            refused += _reference(variant) is None
            why = _disagreement(variant)
            if why:
                problems.append(f"{variant!r}: {why}")
    assert refused > 1000  # the error paths really were exercised
    assert not problems, "\n".join(problems[:20])


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_equal_asts_on_generated_expressions(text: str) -> None:
    toks = tokenize(text)
    assert _disagreement(toks) is None
    assert _fast(toks) is not None


@pytest.mark.parametrize(("text", "shape"), [
    ("a ?: b ?: c", "<Elvis a ?: b ?: c>"),
    ("a ?: b.c[1]", "<Elvis a ?: b.c[1]>"),
    ("-x.y", "<UnaryOp  -x.y>"),
    ("1 - 2 - 3 * 4 % 2 << 1", "<BinaryOp 1 - 2 - 3 * 4 % 2 << 1>"),
    ("a ? b : c ? d : e", "<Conditional a ? b : c ? d : e>"),
    # the right operand shortcut in the binary chain, at its boundaries
    ("a + 1 * 2", "<BinaryOp a + 1 * 2>"),
    ("a * 1 + 2 == b", "<BinaryOp a * 1 + 2 == b>"),
    ("a == 1 ? b : 2", "<Conditional a == 1 ? b : 2>"),
    ("f(a + 1, b - c)", "<FunctionCall f(a + 1,b - c)>"),
    ("a + b.c", "<BinaryOp a + b.c>"),
    ("a + b[1] - c", "<BinaryOp a + b[1] - c>"),
    ("a + b ?: c", "<BinaryOp a + b ?: c>"),
    ("a - -1 - - b", "<BinaryOp a - -1 -  -b>"),
    ("a && f(b) || c", "<BinaryOp a && f(b) || c>"),
    ("{a + 1; b}", None),
    ("[x = a + 1; y = b]", "<RecordExpr [ x = a + 1; y = b ]>"),
    # a conditional straight inside parentheses
    ("(a ? b : c) + (d ? e : f ? g : h)", "<BinaryOp (a ? b : c) + (d ? e : f ? g : h)>"),
    ("(a ? b : c", None),
    ("(a ? b ; c)", None),
    # shared leaves inside selects and subscripts
    ("TARGET.x.y + x[TARGET.x]", "<BinaryOp TARGET.x.y + x[TARGET.x]>"),
    (".x + .x.y", "<BinaryOp .x + .x.y>"),
])
def test_shapes_match_the_reference(text: str, shape: str | None) -> None:
    """*shape* None: a syntax error both parsers must refuse."""
    toks = tokenize(text)
    assert _disagreement(toks) is None
    if shape is None:
        assert _fast(toks) is None
        with pytest.raises(ClassAdSyntaxError):
            parse_expression(text)
    else:
        assert _fast(toks) is not None
        assert repr(parse_expression(text)) == shape


@pytest.mark.parametrize(("text", "message", "column"), [
    ("a +", "unexpected end of expression", 3),
    ("(a", "unexpected end of expression", 2),
    ("a b", "unexpected b", 2),
    ("[a = 1 b = 2]", "missing ';' between attributes", 0),
    ('relTime("nonsense")', "invalid relTime string", 0),
    ("f(1,)", "unexpected )", 4),
    ("a ?: !b", "unexpected !", 5),  # Elvis's right operand takes no prefix
    ("a ?: -b", "unexpected -", 5),
])
def test_declined_texts_get_the_reference_errors(text: str, message: str, column: int) -> None:
    assert _fast(tokenize(text)) is None
    with pytest.raises(ClassAdSyntaxError) as info:
        parse_expression(text)
    assert message in info.value.reason
    assert (info.value.line, info.value.column) == (1, column + 1)
    assert info.value.excerpt.endswith("\n" + " " * column + "^")


def test_deep_nesting_falls_back_and_is_still_checked() -> None:
    deep = "(" * 600 + "1" + ")" * 600
    assert _fast(tokenize(deep)) is None  # deeper than the descent follows
    with pytest.raises(ClassAdSyntaxError, match="nested more than"):
        parse_expression(deep)


@pytest.mark.parametrize(("make", "levels"), [
    (lambda k: "(" * k + "x" + ")" * k, MAX_NESTING),
    (lambda k: "{" * k + "1" + "}" * k, MAX_NESTING),
    (lambda k: "[a = " * k + "1" + "]" * k, MAX_NESTING),
    (lambda k: "f(" * k + "1" + ")" * k, MAX_NESTING),
    (lambda k: "x" + "[0" * k + "]" * k, MAX_NESTING),
    (lambda k: "-" * k + "x", MAX_NESTING),
    (lambda k: "a ? b : " * k + "c", MAX_NESTING),
    (lambda k: "a" + " ?: (b" * k + ")" * k, MAX_NESTING // 2),
])
def test_nesting_up_to_the_limit_is_parsed_fast_and_beyond_by_the_reference(make: Any, levels: int) -> None:
    """The descent follows MAX_NESTING levels and declines deeper texts,
    which the LALR parser then parses (or refuses) to the same AST."""
    inside, beyond = tokenize(make(levels)), tokenize(make(MAX_NESTING + 1))
    assert _fast(inside) is not None
    assert _disagreement(inside) is None
    assert _fast(beyond) is None
    assert parse_expression(make(MAX_NESTING + 1)) == _reference(beyond) is not None
