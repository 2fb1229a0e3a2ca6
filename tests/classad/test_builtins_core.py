"""Built-ins: type tests, lists, conversions and arithmetic, against values
checked with HTCondor's classad2."""

from __future__ import annotations

import math

import pytest
from builtins_table import Ad, call, same

from classad._values import ERROR, INT64_MAX, INT64_MIN, UNDEFINED, AbsTime, RelTime

U, E = UNDEFINED, ERROR
INF = math.inf

CASES = [
    # type tests
    ("isUndefined", (U,), True),
    ("isUndefined", (0,), False),
    ("isError", (E,), True),
    ("isString", ("a",), True),
    ("isString", (1,), False),
    ("isInteger", (1,), True),
    ("isInteger", (True,), False),
    ("isInteger", (1.0,), False),
    ("isReal", (1.0,), True),
    ("isBoolean", (False,), True),
    ("isBoolean", (0,), False),
    ("isList", ((1,),), True),
    ("isClassAd", (Ad(a=1),), True),
    ("isClassAd", ((1,),), False),
    ("isAbsTime", (AbsTime(0, 0),), True),
    ("isRelTime", (RelTime(5),), True),
    ("isRelTime", (5.0,), False),
    ("ISINTEGER", (3,), True),
    # member / identicalMember
    ("member", (1, (1.0,)), True),
    ("member", ("A", ("a",)), True),
    ("member", (2, (1, 3)), False),
    ("member", (U, (1,)), U),
    ("member", (1, U), U),
    ("member", (1, (U, 1)), True),
    ("member", (1, (E, 1)), True),
    ("member", (E, (1,)), E),
    ("member", ((1,), (1,)), E),
    ("member", (1, 2), E),
    ("identicalMember", ("A", ("a", "A")), True),
    ("identicalMember", ("A", ("a",)), False),
    ("identicalMember", (1, (1.0,)), False),
    ("identicalMember", (U, (U,)), True),
    ("identicalMember", (E, (E,)), True),
    ("identicalMember", (1, U), U),
    # anyCompare / allCompare
    ("anyCompare", ("<", (1, 2), 2), True),
    ("anyCompare", (">", (1, 2), 2), False),
    ("anyCompare", ("<", (U, 1), 2), False),
    ("allCompare", ("<", (1, U), 2), False),
    ("allCompare", ("<", (1, 0), 2), True),
    ("allCompare", ("<", (), 2), True),
    ("anyCompare", ("<", (), 2), False),
    ("anyCompare", ("==", ("a",), 1), E),
    ("anyCompare", ("is", ("a", "A"), "A"), True),
    ("allCompare", ("isnt", (1, 2), 3), True),
    ("anyCompare", ("=?=", (1,), 1), E),
    ("anyCompare", (U, (1,), 1), U),
    ("anyCompare", ("<", U, 1), U),
    ("anyCompare", ("<", 5, 1), E),
    # size
    ("size", ("abc",), 3),
    ("size", ("\u00e9",), 2),
    ("size", ((),), 0),
    ("size", ((1, 2),), 2),
    ("size", (Ad(a=1, b=2),), 2),
    ("size", (U,), U),
    ("size", (1,), E),
    # sum / avg / min / max
    ("sum", ((),), 0),
    ("sum", ((U,),), 0),
    ("sum", ((1, 2.5),), 3.5),
    ("sum", ((True,),), True),
    ("sum", ((True, 1),), 2),
    ("sum", ((INT64_MAX, 1),), INT64_MIN),
    ("sum", ((1e308, 1e308),), E),
    ("sum", ((1, "a"),), E),
    ("sum", (U,), U),
    ("sum", (1,), E),
    ("avg", ((1, 2),), 1.5),
    ("avg", ((),), 0),
    ("avg", ((U,),), 0),
    ("avg", ((True, False),), 0.5),
    ("avg", ((U, 4),), 4.0),
    ("min", ((1, 2.5, 0.5),), 0.5),
    ("min", ((),), U),
    ("min", ((AbsTime(1, 0),),), E),
    ("max", ((True, 2),), 2),
    ("max", ((1, "a"),), E),
    ("max", ((3, U, 7),), 7),
    ("min", ((1, 2.5),), 1.0),
    ("min", ((2.5, -1),), -1.0),
    ("max", ((3, 2.5),), 3.0),
    ("min", ((True, 2),), 1),
    ("max", ((True, False),), 1),
    ("min", ((True,),), True),
    ("max", ((1, 2, 3),), 3),
    # int / real / string / bool
    ("int", (3.9,), 3),
    ("int", (-3.9,), -3),
    ("int", (True,), 1),
    ("int", ("12abc",), 12),
    ("int", ("0x10",), 16),
    ("int", ("  12",), 12),
    ("int", ("1e3",), 1000),
    ("int", ("inf",), INT64_MIN),
    ("int", ("nan",), INT64_MIN),
    ("int", ("",), E),
    ("int", ("-",), E),
    ("int", ("abc",), E),
    ("int", (AbsTime(5, 0),), 5),
    ("int", (RelTime(5.5),), 5),
    ("int", (1e30,), INT64_MIN),
    ("int", (U,), U),
    ("int", ((1,),), E),
    ("real", ("1.5x",), 1.5),
    ("real", ("abc",), E),
    ("real", (RelTime(2.5),), 2.0),
    ("real", (U,), U),
    ("real", ("0x1p3",), 8.0),
    ("real", ("  -inf",), -INF),
    ("real", (3,), 3.0),
    ("real", (False,), 0.0),
    ("string", ("x",), "x"),
    ("string", (True,), "true"),
    ("string", (U,), U),
    ("string", (E,), E),
    ("string", (1.5,), "1.500000000000000E+00"),
    ("string", (AbsTime(0, 0),), "1970-01-01T00:00:00-00:00"),
    ("string", (RelTime(90),), "01:30"),
    ("string", (RelTime(90.5),), "01:30"),
    ("string", (RelTime(-90061),), "-1+01:01:01"),
    ("string", (-INF,), 'real("-INF")'),
    ("string", (math.nan,), 'real("NaN")'),
    ("string", (-0.0,), "-0.0"),
    ("string", (("a\n", 1.0),), '{ "a\\n",1.000000000000000E+00 }'),
    ("string", (Ad(a=1, b="x"),), '[ a = 1; b = "x" ]'),
    ("bool", ("TRUE",), True),
    ("bool", ("false",), False),
    ("bool", ("yes",), U),
    ("bool", (RelTime(0),), False),
    ("bool", (AbsTime(0, 0),), E),
    ("bool", (2.5,), True),
    ("bool", (0,), False),
    ("bool", (U,), U),
    # rounding
    ("floor", ("2.5",), 2),
    ("floor", (True,), 1),
    ("floor", (U,), E),
    ("floor", (1e20,), INT64_MIN),
    ("floor", (-2.5,), -3),
    ("floor", (7,), 7),
    ("ceiling", (AbsTime(5, 0),), 5),
    ("ceiling", (2.1,), 3),
    ("ceil", (-2.1,), -2),
    ("round", (2.5,), 2),
    ("round", (3.5,), 4),
    ("round", (-2.5,), -2),
    ("round", (RelTime(2.5),), 2),
    ("round", (math.nan,), INT64_MIN),
    ("round", ("x",), E),
    # pow
    ("pow", (2, 10), 1024),
    ("pow", ("2", 3), 8.0),
    ("pow", (2, 3.0), 8.0),
    ("pow", (True, 2), 1.0),
    ("pow", (2, -1), 0.5),
    ("pow", (0, -1), INF),
    ("pow", (U, 1), E),
    ("pow", (2, 0), 1),
    ("pow", (-8.0, 0.5), math.nan),
    # quantize
    ("quantize", (5, 3), 6),
    ("quantize", (5.5, 3), 6.0),
    ("quantize", (5, 2.5), 5.0),
    ("quantize", (5, (2, 4, 8)), 8),
    ("quantize", (9, (2, 4)), 12),
    ("quantize", (9, ()), 9),
    ("quantize", ("7", 3), 9.0),
    ("quantize", (-5, 3), -3),
    ("quantize", (5, 0), 5),
    ("quantize", (5, "x"), E),
    ("quantize", (U, 3), E),
    ("quantize", (5, (2, "x")), E),
    ("quantize", ("10", -90061), 0.0),
    ("quantize", (-0.5, 1.0), -0.0),
    # arity and unknown names
    ("int", (), E),
    ("int", (1, 2), E),
    ("noSuchFunction", (1,), E),
]

# Where we deliberately differ from HTCondor 25 (see
# docs/classad-deviations-builtins.md): exact integer powers.
DEVIATIONS = [
    ("pow", (-2, 3), -8),  # HTCondor: -7
    ("pow", (3, 39), 4052555153018976267),  # HTCondor: rounded through a double
    ("pow", (2, 64), 0),  # wraps like repeated *, HTCondor: INT64_MIN
    ("pow", (-1, 10**18 + 1), -1),  # exact and fast even for huge exponents
]


@pytest.mark.parametrize("name,args,want", CASES + DEVIATIONS, ids=lambda x: repr(x)[:60])
def test_function(name, args, want):
    assert same(call(name, *args), want)


def test_random_ranges():
    for _ in range(200):
        r = call("random")
        assert type(r) is float and 0.0 <= r < 1.0
        i = call("random", 10)
        assert type(i) is int and 0 <= i < 10
        x = call("random", 2.5)
        assert type(x) is float and 0.0 <= x < 2.5


@pytest.mark.parametrize("bad", [0, -5, 0.0, -1.5, "3", True, U, (1,)])
def test_random_rejects_bad_bounds(bad):
    assert call("random", bad) is E
