"""The closure compiler and the reference tree walker agree on thousands of
generated expressions, in both modes, with and without scope and target.

The tables in the other test_core_* files pin the right answers; this file
makes sure the compiler's specialisations (constant folding, flat &&/||
chains, native int comparisons, pre-folded string equality) never change
one."""

from __future__ import annotations

import random

import pytest
from core_helpers import both

import classad

ATOMS = ["0", "1", "-3", "2.5", "-0.0", '"a"', '"B"', "true", "false", "undefined", "error",
         "x", "y", "z", "l", "r", "s", "TARGET.m", "TARGET.x", "other.m", "MY.x", ".x",
         "parent.x", "{1,2}", "[a=1]", "r.a", "r.b", "l[1]", "relTime(5)", "absTime(0)",
         "(0.0/0)"]
BINARY = ["+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "=?=", "=!=", "is", "isnt",
          "&&", "||", "&", "|", "^", "<<", ">>", ">>>"]
FUNCTIONS = ["size", "isUndefined", "ifThenElse", "strcat", "int", "member"]


def _generate(rng: random.Random, depth: int = 0) -> str:
    k = rng.random()
    if depth > 3 or k < 0.3:
        return rng.choice(ATOMS)
    if k < 0.75:
        return f"({_generate(rng, depth + 1)} {rng.choice(BINARY)} {_generate(rng, depth + 1)})"
    if k < 0.83:
        return f"({rng.choice('-!~+')}({_generate(rng, depth + 1)}))"
    if k < 0.9:
        return (f"({_generate(rng, depth + 1)} ? {_generate(rng, depth + 1)}"
                f" : {_generate(rng, depth + 1)})")
    if k < 0.95:
        return f"({_generate(rng, depth + 1)} ?: {_generate(rng, depth + 1)})"
    return f"{rng.choice(FUNCTIONS)}({_generate(rng, depth + 1)}, {_generate(rng, depth + 1)})"


@pytest.mark.parametrize("strict", [False, True])
def test_compiled_and_reference_evaluators_agree(strict):
    rng = random.Random(20261122)
    scope = classad.ClassAd('[x = 5; y = x * 2; l = {1, x, "s"}; r = [a = x; b = parent.y]; '
                            's = "Str"]')
    target = classad.ClassAd("[m = 7; x = 9]")
    classad.set_strict(strict)
    try:
        disagreements = []
        for _ in range(1500):
            text = _generate(rng)
            for sc, tg in ((scope, target), (scope, None), (None, None)):
                compiled, reference = both(text, sc, tg)
                if repr(compiled) != repr(reference):
                    disagreements.append((text, compiled, reference))
    finally:
        classad.set_strict(False)
    assert not disagreements, disagreements[:5]
