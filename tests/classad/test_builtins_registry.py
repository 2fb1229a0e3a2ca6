"""The registry: every function HTCondor 25 documents is there, names are
case-insensitive, and no function raises whatever values it is given."""

from __future__ import annotations

import math

import pytest
from builtins_table import Ad, call
from hypothesis import given, settings
from hypothesis import strategies as st

from classad._builtins import BUILTINS, Builtin, builtin
from classad._values import ERROR, INT64_MAX, INT64_MIN, UNDEFINED, AbsTime, Record, RelTime

#: classad.md section 6, minus the functions the evaluator owns.
DOCUMENTED = """
isUndefined isError isString isInteger isReal isList isClassAd isBoolean isAbstime isReltime
member identicalMember anyCompare allCompare size sum avg min max
int real string bool absTime relTime floor ceiling ceil round pow quantize random
time formatTime interval splitTime currentTime timeZoneOffset dayTime getYear getMonth
getDayOfYear getDayOfMonth getDayOfWeek getDays getHours getMinutes getSeconds
strcat join substr strcmp stricmp versioncmp versionGT versionGE versionLT versionLE versionEQ
version_in_range toUpper toLower split regexp regexpMember regexps replace replaceall
envV1ToV2 mergeEnvironment listToArgs argsToList
stringListSize stringListSum stringListAvg stringListMin stringListMax stringListMember
stringListIMember stringListsIntersect stringListSubsetMatch stringListISubsetMatch
stringList_regexpMember userHome userMap splitUserName splitSlotName
""".split()

EVALUATOR_OWNED = ["eval", "unparse", "unresolved", "ifThenElse", "evalInEachContext", "countMatches", "debug"]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_function_is_registered(name):
    entry = BUILTINS[name.lower()]
    assert isinstance(entry, Builtin)
    assert callable(entry.fn)


def test_registry_keys_are_lower_case_and_evaluator_functions_absent():
    assert all(k == k.lower() for k in BUILTINS)
    for name in EVALUATOR_OWNED:
        assert name.lower() not in BUILTINS


def test_names_are_case_insensitive():
    assert call("STRCAT", "a", "b") == call("StrCat", "a", "b") == "ab"


def test_builtin_decorator_registers_every_alias():
    @builtin("qmfTestOne", "qmfTestAlias", min_args=1, max_args=2)
    def _probe(x, y=None):
        return x

    try:
        assert BUILTINS["qmftestone"] is BUILTINS["qmftestalias"]
        assert BUILTINS["qmftestone"].min_args == 1 and BUILTINS["qmftestone"].max_args == 2
        assert call("qmfTestAlias", 5) == 5
        assert call("qmfTestAlias") is ERROR
        assert call("qmfTestAlias", 1, 2, 3) is ERROR
    finally:
        del BUILTINS["qmftestone"], BUILTINS["qmftestalias"]


# Values of every kind, including the awkward ones.
scalars = st.one_of(
    st.just(UNDEFINED),
    st.just(ERROR),
    st.booleans(),
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
    st.sampled_from([0, 1, -1, 2, 3, 86400, 2**31, -(2**31) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "a, b", "1,2,3", "(", "*", "A=1;B=2", "'x", "%c", "%Y", "i", "fg", "\\1"]),
    st.builds(AbsTime, st.integers(min_value=-(2**40), max_value=2**40), st.integers(-50000, 50000)),
    st.builds(RelTime, st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=True))),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.sampled_from(["a", "Year", "Month", "Day", "Seconds"]), inner, max_size=3).map(
            lambda d: Ad(**d)
        ),
    ),
    max_leaves=6,
)


def _is_value(v):
    if v is UNDEFINED or v is ERROR:
        return True
    if type(v) in (bool, int, float, str, AbsTime, RelTime):
        return type(v) is not int or INT64_MIN <= v <= INT64_MAX
    if type(v) is tuple:
        return all(_is_value(x) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _is_value(x) for k, x in v.items())
    return isinstance(v, Record)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(BUILTINS)), args=st.lists(values, max_size=4))
def test_no_function_raises(name, args):
    result = call(name, *args)
    assert _is_value(result), (name, args, result)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_extreme_arguments_do_not_raise(name):
    entry = BUILTINS[name]
    extremes = [math.inf, -math.inf, math.nan, INT64_MIN, INT64_MAX, "", (), Ad(), RelTime(math.inf)]
    top = entry.max_args if entry.max_args is not None else 3
    for n in range(entry.min_args, top + 1):
        for x in extremes:
            assert _is_value(entry.fn(*([x] * n))), (name, n, x)
