"""Property: any ad survives HTCondor's JSON form with every attribute
evaluating to the same value (generated ads from props_strategies.py)."""

from __future__ import annotations

from builtins_table import same
from hypothesis import HealthCheck, assume, given, settings
from props_strategies import ads

import classad
from classad._json import dump_ad, dump_ads, load_ads


def _values(ad: classad.ClassAd) -> dict[str, object]:
    return {k.lower(): _internal(ad, k) for k in ad.keys()}


def _internal(ad: classad.ClassAd, name: str) -> object:
    return ad.lookup(name).eval(ad)


def _agree(a: dict[str, object], b: dict[str, object]) -> bool:
    return a.keys() == b.keys() and all(
        same(_norm(b[k]), _norm(a[k])) for k in a)


def _norm(v: object, depth: int = 0) -> object:
    """Lists come back holding unevaluated ExprTrees: evaluate them too.
    Records compare attribute by attribute, and both only a few levels
    deep (a value may contain itself: ``a = {a}``, ``a = [b = a]``)."""
    if depth > 3 and isinstance(v, (classad.ExprTree, list, classad.ClassAd)):
        return "<deep>"
    if isinstance(v, classad.ExprTree):
        v = v.eval()
    if isinstance(v, list):
        return tuple(_norm(x, depth + 1) for x in v)
    if isinstance(v, classad.ClassAd):
        return {k.lower(): _norm(v.eval(k), depth + 1) for k in v.keys()}
    return v


def parsed_ad(attrs: dict[str, str]) -> classad.ClassAd:
    """The generated ad (texts the parser rejects are not this test's concern)."""
    try:
        return classad.ClassAd("[" + "; ".join(f"{k} = {v}" for k, v in attrs.items()) + "]")
    except classad.ClassAdSyntaxError:
        assume(False)
        raise


def evaluated(ad: classad.ClassAd) -> dict[str, object]:
    """The generated ad's values (ads whose evaluation itself fails, such as
    a list that contains itself, are not this test's concern)."""
    try:
        return _values(ad)
    except RecursionError:
        assume(False)
        raise


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attrs=ads())
def test_json_round_trip_keeps_values(attrs):
    ad = parsed_ad(attrs)
    want = evaluated(ad)
    (back,) = list(load_ads(dump_ad(ad)))
    assert _agree(want, _values(back))
    two = list(load_ads(dump_ads([ad, back])))
    assert len(two) == 2 and _agree(_values(two[0]), _values(two[1]))
