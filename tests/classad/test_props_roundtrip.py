"""Property: printing then parsing gives an equal expression.

"Equal" as HTCondor can promise it: the reparsed expression has the same
value in the same scope, and printing is stable from the first print on
(``- 5`` prints as `` -5``, which reparses as the literal ``-5``: the value
is kept, the tree is not, in HTCondor too).  Ads must survive the new,
old and JSON syntaxes as maps of attribute -> printed expression.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from props_strategies import ads, expressions, scope_text

import classad

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _same(a, b) -> bool:
    """Value equality: types distinct, NaN equal to NaN, -0.0 distinct,
    lists elementwise; an unevaluated list element or record attribute by
    its value (``{- 0}`` holds the expression `` -0``, which reprints as
    the literal ``0``)."""
    if isinstance(a, classad.ExprTree):
        a = _value(a, None)
    if isinstance(b, classad.ExprTree):
        b = _value(b, None)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, classad.ClassAd):
        return sorted(k.lower() for k in a) == sorted(k.lower() for k in b) and all(
            _same(_attr(a, k), _attr(b, k)) for k in a)
    return a == b


def _attr(ad, name):
    try:
        return ad.eval(name)
    except Exception as e:  # noqa: BLE001 - compared like a value
        return f"raised {type(e).__name__}"


def _value(expr, scope):
    try:
        return expr.eval(scope=scope)
    except Exception as e:  # noqa: BLE001 - compared like a value
        return f"raised {type(e).__name__}"


@_SETTINGS
@given(expressions)
def test_print_then_parse_keeps_value_and_text(text):
    scope = classad.ClassAd(scope_text)
    first = classad.ExprTree(text)
    printed = repr(first)
    second = classad.ExprTree(printed)
    assert repr(second) == repr(classad.ExprTree(repr(second))), "printing is not stable"
    assert _same(_value(first, scope), _value(second, scope)), f"{text!r} -> {printed!r}"


@_SETTINGS
@given(expressions)
def test_multiline_str_parses_to_the_same_expression(text):
    expr = classad.ExprTree(text)
    assert repr(classad.ExprTree(str(expr))) == repr(classad.ExprTree(repr(expr)))


def _as_map(ad) -> dict[str, str]:
    """Attribute -> printed expression, printed twice: the first print of
    ``- 0`` is `` -0``, which parses as the literal ``0`` (HTCondor too), so
    texts are compared from the second print on."""
    return {k.lower(): repr(classad.ExprTree(repr(ad.lookup(k)))) for k in ad.keys()}


@_SETTINGS
@given(ads())
def test_ad_survives_new_and_json_syntax(attrs):
    text = "[" + "; ".join(f"{k} = {v}" for k, v in attrs.items()) + "]"
    ad = classad.ClassAd(text)
    want = _as_map(ad)
    assert _as_map(classad.parse_one(repr(ad), parser=classad.ParserType.New)) == want
    assert _as_map(classad.parse_one(str(ad), parser=classad.ParserType.New)) == want
    assert _as_map(classad.parse_one(ad.print_json(), parser=classad.ParserType.JSON)) == want


# Old syntax writes strings raw with only '"' escaped, so a backslash, a
# newline, a tab or a CR inside a string cannot survive it (HTCondor too).
_old_safe = expressions.filter(lambda t: not any(c in t for c in "\\\n\t\r"))


@_SETTINGS
@given(ads(_old_safe))
def test_ad_survives_old_syntax(attrs):
    ad = classad.ClassAd("[" + "; ".join(f"{k} = {v}" for k, v in attrs.items()) + "]")
    back = classad.parse_one(ad.print_old(), parser=classad.ParserType.Old)
    assert _as_map(back) == _as_map(ad)


@settings(max_examples=80, deadline=None)
@given(st.lists(ads(), min_size=1, max_size=4))
def test_parse_ads_reads_back_every_printed_ad(ad_list):
    texts = ["[" + "; ".join(f"{k} = {v}" for k, v in a.items()) + "]" for a in ad_list]
    printed = "\n".join(str(classad.ClassAd(t)) for t in texts)
    back = list(classad.parse_ads(printed, parser=classad.ParserType.New))
    assert [_as_map(a) for a in back] == [_as_map(classad.ClassAd(t)) for t in texts]
