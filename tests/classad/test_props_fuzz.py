"""Property: bad input never crashes the parser.

Random text, and random mutations of valid texts, given to ``parse_one``,
``parse_ads`` and ``ExprTree`` in all three syntaxes raise nothing but
``ClassAdSyntaxError`` (which carries a line, a column and an excerpt), and
whatever does parse evaluates without raising.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from props_strategies import expressions, scope_text

import classad

_SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_VALID = [
    '[a = 1; b = "s\\n"; c = {1, [d = 2.5]}; e = a + b * 3; f = strcat("x", a) ?: TARGET.y]',
    'MyType = "Job"\nOwner = "alice"\nRequirements = (TARGET.Memory >= 1024) && (Arch == "X86_64")\n'
    'Args = "a \\"b\\" c"\nRank = -1.5e3\n\nA = {1, 2}\nB = [x = 1]\n',
    '{"a": 1, "b": "\\/Expr(1 + x)\\/", "c": [1, {"d": null}], "e": 2.5, "f": true}',
    '[ a = absTime("2020-01-01T00:00:00Z"); b = relTime("1+02:03:04"); c = \'q n\'; d = x[1].y ]',
]
_CHARS = "[]{}()=;,.\"'\\/*+-!?:<>&|^~ \n\t0123456789abcxyzE_$@#é\x00"
_PARSERS = [classad.ParserType.New, classad.ParserType.Old, classad.ParserType.JSON, classad.ParserType.Auto]


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    chars = list(text)
    for kind, pos, ch in edits:
        pos %= len(chars) + 1
        if kind == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif kind == 1:
            chars.insert(pos, ch)
        elif chars:
            chars[min(pos, len(chars) - 1)] = ch
    return "".join(chars)


_edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.sampled_from(_CHARS)),
                  min_size=1, max_size=4)
_texts = st.one_of(
    st.text(st.sampled_from(_CHARS), max_size=60),
    st.text(max_size=40),
    st.builds(_mutate, st.sampled_from(_VALID), _edits),
    st.builds(_mutate, expressions, _edits),
)


def _only_syntax_errors(fn, text) -> None:
    try:
        fn(text)
    except classad.ClassAdSyntaxError as e:
        assert isinstance(e, ValueError)
        assert str(e), "a syntax error must say what was wrong"


@_SETTINGS
@given(_texts, st.sampled_from(_PARSERS))
def test_parsers_raise_only_syntax_errors(text, parser):
    _only_syntax_errors(lambda t: classad.parse_one(t, parser=parser), text)
    _only_syntax_errors(lambda t: list(classad.parse_ads(t, parser=parser)), text)


@_SETTINGS
@given(_texts)
def test_expressions_raise_only_syntax_errors_and_evaluate(text):
    try:
        expr = classad.ExprTree(text)
    except classad.ClassAdSyntaxError:
        return
    value = expr.eval(scope=classad.ClassAd(scope_text))
    assert value is not None


@pytest.mark.parametrize("text", ["(" * 3000 + "1" + ")" * 3000, "-" * 3000 + "1", "{" * 3000,
                                  "[a = " * 2000, '"' + "\\" * 999, "/*" * 500, "1" * 5000])
def test_pathological_texts(text):
    """Deep nesting and long runs: parsed, or rejected with a syntax error,
    never a RecursionError."""
    _only_syntax_errors(classad.ExprTree, text)
    for parser in _PARSERS:
        _only_syntax_errors(lambda t, p=parser: classad.parse_one(t, parser=p), text)


def test_syntax_error_points_at_the_fault():
    with pytest.raises(classad.ClassAdSyntaxError) as info:
        classad.parse_one("[a = 1;\n b = (2 +\n ]", parser=classad.ParserType.New)
    err = info.value
    assert err.line == 3
    assert err.column >= 1
    assert "^" in err.excerpt
