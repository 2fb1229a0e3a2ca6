"""Deliberate, named deviations of our ClassAd library from HTCondor 25.14.1.

Each deviation names the cases (by id, see diff_cases.py) where we choose to
differ, and for each the result fields concerned with what we expect there:
either our own exact value, or :data:`DIFFERS` (HTCondor's text depends on
its hash order, so only "not HTCondor's" can be said).  Every other field of
such a case is still compared with classad2.  docs/classad.md, section
"Deviations from HTCondor 25", explains each one; keep the two in step.

The folded-relTime deviation is not listed here: those cases are compared
with classad2 evaluating an equivalent text (diff_cases.FOLDED_RELTIME),
which is stronger than an exclusion.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import diff_cases

__all__ = ["DEVIATIONS", "DIFFERS", "Deviation", "deviating_fields"]

#: Expected-value marker: this field must differ from classad2's.
DIFFERS = "<differs from classad2>"

_INT64_MIN = -(1 << 63)


@dataclass(frozen=True)
class Deviation:
    """One named group of cases where we differ on purpose."""

    name: str
    htcondor: str
    ours: str
    why: str
    #: case id -> {field: our expected value, or DIFFERS}
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)


def _both_modes(label_group: str, labels: list[str], fields: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{label_group}:{mode}:{label}": fields for mode in diff_cases.MODES for label in labels}


# ---------------------------------------------------------------- shifts

_INT_TEXT = re.compile(r"^(-?\d+|\(-9223372036854775807 - 1\))$")
_SHIFT = re.compile(r"^(\S+|\(-9223372036854775807 - 1\)) (<<|>>>|>>) (\S+|\(-9223372036854775807 - 1\))$")


def _int(text: str) -> int:
    return _INT64_MIN if text.startswith("(") else int(text)


def _wrap(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


def _our_shift(a: int, op: str, n: int) -> Any:
    """Shifts as we define them where C leaves them undefined: a negative
    count is an error, a count of 64 or more shifts every bit out."""
    if n < 0:
        return "error"
    if op == "<<":
        return ["int", 0 if n >= 64 else _wrap(a << n)]
    if op == ">>":
        return ["int", (-1 if a < 0 else 0) if n >= 64 else a >> n]
    return ["int", 0 if n >= 64 else (a & ((1 << 64) - 1)) >> n if n else a]


def _shift_cases() -> dict[str, dict[str, Any]]:
    out = {}
    for case in diff_cases.cases_for("ops"):
        m = _SHIFT.match(case["expr"])
        if not m or not (_INT_TEXT.match(m.group(1)) and _INT_TEXT.match(m.group(3))):
            continue
        a, op, n = _int(m.group(1)), m.group(2), _int(m.group(3))
        if n < 0 or n >= 64 or (op == ">>>" and n == 0 and a < 0):
            out[case["id"]] = {"value": _our_shift(a, op, n)}
    return out


#: Where classad2's externalRefs/internalRefs include an empty name "".
_EMPTY_NAME_REFS: dict[str, tuple[str, ...]] = {
    'api:compat:refs a': ('external_empty_name',),
    'api:compat:refs at': ('external_empty_name',),
    'api:compat:refs c.e * a': ('external_empty_name',),
    'api:compat:refs error': ('external_empty_name', 'internal_empty_name'),
    'api:compat:refs l[0] + a': ('external_empty_name',),
    'api:compat:refs parent.a': ('internal_empty_name',),
    'api:compat:refs r * 2': ('external_empty_name',),
    'api:compat:refs rt': ('external_empty_name',),
    'api:compat:refs s == "STR"': ('external_empty_name',),
    'api:compat:refs self.a': ('external_empty_name',),
    'api:compat:refs size(l)': ('external_empty_name',),
    'api:compat:refs undefined + a': ('external_empty_name',),
    'api:compat:refs x': ('internal_empty_name',),
    'api:strict:refs MY.a + TARGET.a': ('internal_empty_name',),
    'api:strict:refs a': ('external_empty_name',),
    'api:strict:refs at': ('external_empty_name',),
    'api:strict:refs c.e * a': ('external_empty_name',),
    'api:strict:refs error': ('external_empty_name', 'internal_empty_name'),
    'api:strict:refs l[0] + a': ('external_empty_name',),
    'api:strict:refs parent.a': ('internal_empty_name',),
    'api:strict:refs r * 2': ('external_empty_name',),
    'api:strict:refs rt': ('external_empty_name',),
    'api:strict:refs s == "STR"': ('external_empty_name',),
    'api:strict:refs self.a': ('external_empty_name',),
    'api:strict:refs size(l)': ('external_empty_name',),
    'api:strict:refs undefined + a': ('external_empty_name',),
    'api:strict:refs x': ('internal_empty_name',),
}


@functools.lru_cache(maxsize=1)
def _deviations() -> list[Deviation]:
    return [
        Deviation(
            "shift-counts",
            "counts < 0 or >= 64 are C undefined behaviour and come out as x86 masking "
            "(1 << 64 = 1, 1 << -1 = INT64_MIN); -7 >>> 0 = 0",
            "a negative count is error; a count >= 64 shifts all bits out (0, or -1 for >> "
            "of a negative); >>> 0 leaves the value alone",
            "the masked results are accidents of one CPU, not semantics anyone can rely on",
            {
                **_shift_cases(),
                # generated expressions whose value hangs on a negative count
                # (-3 >> -3, -3 >>> stricmp(1, {}) = -3 >>> -1): error under our rule
                "prec:compat:(([a = 3] is false == -3 ?: (2 + undefined) >> -3) * l[undefined])":
                    {"value": "error"},
                "rand:compat:eval(-3 >>> stricmp(1, {}))": {"value": "error"},
            },
        ),
        Deviation(
            "pow-rounding",
            "pow(-2, 3) = -7: integer pow is (long long)(pow(double) + 0.5), off by one for "
            "negative odd results",
            "pow(-2, 3) = -8 (exact integer power, wrapped to int64)",
            "a plain arithmetic bug",
            _both_modes("fn", ["pow(-2, 3)"], {"value": ["int", -8]}),
        ),
        Deviation(
            "no-exception-from-eval",
            "evaluating `.a` (root scope) with no ad at all, random(0), random(-5), random(0.0) "
            "and userHome() make Evaluate() fail, so the bindings raise ClassAdException",
            "`.a` is undefined (a missing attribute is UNDEFINED wherever it is looked up); the "
            "function calls are error, as any other bad argument",
            "UNDEFINED and ERROR are values, never exceptions (design decision)",
            {
                **_both_modes("fn", ["random(0)", "random(-5)", "random(0.0)", "userHome()"],
                              {"value": "error"}),
                **_both_modes("scope", [".a @none"], {"value": "undefined"}),
                **_both_modes("parse", ["expr '.a'", "expr '..a'"], {"value": "undefined"}),
                "parse:compat:mut 'TARGET*.Memory >= RequestMemory && "
                '(TARGET.Arch == "X86_64" || Arch =?= undefined)\'': {"value": "undefined"},
            },
        ),
        Deviation(
            "json-unicode-escape",
            'the JSON reader turns "\\u00e9" into the bytes \\003\\001 (garbage)',
            'it reads "\\u00e9" as é (UTF-8 \\303\\251), as JSON means',
            "a plain decoding bug",
            {
                **_both_modes("parse", ["json '{\"u\": \"\\\\u00e9\"}'"], {"ad": [["u", '"\\303\\251"']]}),
                # a mutation turned \u0041 into \u00a1 (U+00A1 is \302\241 in UTF-8)
                "mutate:compat:json '{\"a\": 1, \"b\": \"\\\\/Expr(1 + x)\\\\/\", \"c\": [1, {\"d\": null}], "
                "\"e\": 2.5, \"f\": true, \"g\": \"s\\\\n\\\\t\\\\u00a1\"}'": {"ad": [
                    ["a", "1"], ["b", "1 + x"], ["c", "{ 1,[ d = undefined ] }"], ["e", "2.500000000000000E+00"],
                    ["f", "true"], ["g", '"s\\n\\t\\302\\241"']]},
            },
        ),
        Deviation(
            "record-order-in-unparse",
            "unparse() of a record prints its attributes in hash order",
            "source order",
            "hash order cannot be reproduced and means nothing; elsewhere the suite "
            "compares records as maps",
            _both_modes("scope", ["unparse(c) @scope", "unparse(c) @scope+target"], {"value": DIFFERS}),
        ),
        Deviation(
            "folded-reltime-in-json",
            'printJson of a folded relTime("1+01:00:00") writes the number 90000.0 (the folding bug)',
            'it writes "\\/Expr(relTime(\\"1+01:00:00\\"))\\/", so the value reads back as a RelTime',
            "consequence of folding relTime literals to true RelTime values",
            {c["id"]: {"json": DIFFERS, "from_json": DIFFERS}
             for c in diff_cases.cases_for("rt") if 'relTime("' in c["text"]},
        ),
        Deviation(
            "builtins-see-values",
            "string({1, 1 + 1}) is \"{ 1,1 + 1 }\": list elements reach functions unevaluated",
            '"{ 1,2 }": the evaluator hands built-in functions evaluated lists',
            "a seam choice (internals.md section 2): built-ins see values, not trees",
            _both_modes("fn", ["string({1, 1 + 1})"], {"value": ["str", "{ 1,2 }"]}),
        ),
        Deviation(
            "refs-empty-name",
            'externalRefs()/internalRefs() include an empty name "" for some expressions '
            "(a literal or an unresolvable scope among the operands)",
            "names only",
            'an empty string is not an attribute name; callers would have to filter it',
            {cid: {f: False for f in fields} for cid, fields in _EMPTY_NAME_REFS.items()},
        ),
        Deviation(
            "reltime-requirements",
            "the Python bindings' matches() gets a RelTime Requirements value as a float (60.0) "
            "and counts it as true; HTCondor's C++ MatchClassAd, which the negotiator uses, does "
            "not (Value::IsBooleanValueEquiv accepts only boolean, integer and real)",
            "no match, as the negotiator decides",
            "this library is the negotiator's: it follows MatchClassAd::EvalMatchExpr",
            {"match:compat:random034": {"value": [False, False, False]},
             "match:compat:random158": {"value": [False, False, False]}},
        ),
        Deviation(
            "each-context-arguments",
            "evalInEachContext/countMatches evaluate their list argument unlike any other "
            "function: an undefined element gives undefined, and with a target ad present an "
            "attribute-valued argument comes out undefined (countMatches then gives 0)",
            "the argument is evaluated like any other; each element that is not an ad gives "
            "error, whether or not there is a target",
            "HTCondor's results hang on whether a target happens to be present, an artefact of "
            "how its compat layer evaluates arguments; ours are uniform",
            {
    'scope:compat:evalInEachContext(zz, b) @scope+target': {"value": 'error'},
    'scope:compat:evalInEachContext(zz, lst) @scope': {"value": ['list', ['error', 'error', 'error']]},
    'scope:compat:evalInEachContext(zz, lst) @scope+target': {"value": ['list', ['error', 'error', 'error']]},
    'scope:compat:evalInEachContext(1, lst) @scope': {"value": ['list', ['error', 'error', 'error']]},
    'scope:compat:countMatches(zz, b) @scope+target': {"value": 'error'},
    'scope:strict:evalInEachContext(zz, b) @scope+target': {"value": 'error'},
    'scope:strict:evalInEachContext(zz, lst) @scope': {"value": ['list', ['error', 'error', 'error']]},
    'scope:strict:evalInEachContext(zz, lst) @scope+target': {"value": ['list', ['error', 'error', 'error']]},
    'scope:strict:evalInEachContext(1, lst) @scope': {"value": ['list', ['error', 'error', 'error']]},
    'scope:strict:evalInEachContext(1, lst) @scope+target': {"value": ['list', ['error', 'error', 'error']]},
    'scope:strict:countMatches(zz, b) @scope+target': {"value": 'error'},
    'rand:strict:evalInEachContext(nope, versioncmp(r.a, TARGET.k + y))': {"value": 'error'},
            },
        ),
        Deviation(
            "json-lossless-reals",
            "printJson writes reals with %.16G, so 0.30000000000000004 becomes 0.3",
            "%.17G for the reals that need it (0.30000000000000004); every other real as HTCondor",
            "a wire format must not change values",
            _both_modes("rt", ["v 0.30000000000000004"], {"json": {"v": 0.30000000000000004}}),
        ),
    ]


DEVIATIONS = _deviations()


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, tuple[str, dict[str, Any]]]:
    return {cid: (d.name, fields) for d in DEVIATIONS for cid, fields in d.cases.items()}


def deviating_fields(case_id: str) -> tuple[str, dict[str, Any]] | None:
    """(deviation name, {field: expected}) if *case_id* is a listed deviation."""
    return _index().get(case_id)
