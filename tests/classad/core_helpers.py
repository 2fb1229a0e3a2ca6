"""Helpers for the test_core_* tables: run one expression through both
evaluators (the closure compiler and the tree-walking reference) and compare
values in the internal representation, NaN and types included."""

from __future__ import annotations

import math
from typing import Any

import classad
from classad._eval import compile_node, evaluate_reference
from classad._parser import parse_expression
from classad._values import AbsTime, Record, RelTime

NAN = object()  # expected-value marker for NaN


def both(text: str, scope: Any = None, target: Any = None) -> tuple[Any, Any]:
    """(compiled value, reference value) of *text*."""
    node = parse_expression(text)
    compiled = compile_node(node)(scope, target, set())
    reference = evaluate_reference(node, scope, target, set())
    return compiled, reference


def same(actual: Any, expected: Any) -> bool:
    """Equality that tells 1, 1.0 and true apart and treats NaN as NAN."""
    if expected is NAN:
        return type(actual) is float and math.isnan(actual)
    if isinstance(expected, tuple):
        return (type(actual) is tuple and len(actual) == len(expected)
                and all(same(a, e) for a, e in zip(actual, expected)))
    if isinstance(expected, Record):
        return isinstance(actual, Record) and repr(actual) == repr(expected)
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, float) and expected == 0.0:
        return math.copysign(1.0, actual) == math.copysign(1.0, expected)
    if isinstance(expected, (AbsTime, RelTime)):
        return actual == expected
    return bool(actual == expected)


def check(text: str, expected: Any, scope: Any = None, target: Any = None) -> None:
    compiled, reference = both(text, scope, target)
    assert same(compiled, expected), f"compiled {text!r} = {compiled!r}, expected {expected!r}"
    assert same(reference, expected), f"reference {text!r} = {reference!r}, expected {expected!r}"


def ad(text: str) -> classad.ClassAd:
    return classad.ClassAd(text)
