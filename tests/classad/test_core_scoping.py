"""Attribute resolution: MY/TARGET/parent/root/self, compat fallback to the
target, chained ads, circular references - every row through both
evaluators, in the mode the row names."""

from __future__ import annotations

import pytest
from core_helpers import ad, check

import classad
from classad._values import ERROR, UNDEFINED

JOB = ("[RequestMemory = 1024; Memory = 5; Requirements = TARGET.Memory >= RequestMemory;"
       " x = Disk; y = MY.RequestMemory; z = TARGET.Disk; w = other.Disk;"
       " nested = [a = RequestMemory; b = parent.Memory; c = .Memory; d = self.a];"
       " cyc1 = cyc2; cyc2 = cyc1; self_cyc = self_cyc + 1; viaTarget = TARGET.d]")
MACHINE = ("[Memory = 2048; Disk = 100; Requirements = MY.Memory > TARGET.RequestMemory;"
           " d = RequestMemory; e = Memory; back = TARGET.Memory]")

# (expression, compat value, strict value), evaluated with MY = job, TARGET = machine
SCOPED = [
    ("Requirements", True, True),
    ("RequestMemory", 1024, 1024),
    ("requestmemory", 1024, 1024),
    ("Memory", 5, 5),
    ("x", 100, UNDEFINED),            # compat: Disk falls back to the target
    ("Disk", 100, UNDEFINED),
    ("y", 1024, 1024),
    ("z", 100, 100),
    ("w", 100, 100),
    ("TARGET.Memory", 2048, 2048),
    ("MY.Memory", 5, 5),
    ("TARGET.d", 1024, UNDEFINED),   # compat: in the machine, the job is the target
    ("TARGET.e", 2048, 2048),        # ... and unscoped names stay in the machine
    ("TARGET.back", 5, 5),
    ("viaTarget", 1024, UNDEFINED),
    ("TARGET.Requirements", True, True),
    ("nested.a", 1024, 1024),
    ("nested.b", 5, 5),
    ("nested.c", UNDEFINED, UNDEFINED),  # with a target, root is the match wrapper
    ("nested.d", 1024, 1024),
    ("nested.nope", UNDEFINED, UNDEFINED),
    ("cyc1", UNDEFINED, UNDEFINED),
    ("self_cyc", UNDEFINED, UNDEFINED),
    ("nothere", UNDEFINED, UNDEFINED),
    ("TARGET.nothere", UNDEFINED, UNDEFINED),
    ("Memory + TARGET.Memory", 2053, 2053),
    ("CurrentTime > 0", True, UNDEFINED),
]


@pytest.fixture(autouse=True)
def compat_mode():
    classad.set_strict(False)
    yield
    classad.set_strict(False)


@pytest.mark.parametrize(("text", "compat", "strict"), SCOPED, ids=[r[0] for r in SCOPED])
def test_scoping_with_target(text, compat, strict):
    job, machine = ad(JOB), ad(MACHINE)
    check(text, compat, job, machine)
    classad.set_strict(True)
    check(text, strict, job, machine)


@pytest.mark.parametrize(("text", "compat", "strict"), [
    ("MY.RequestMemory", 1024, UNDEFINED),   # compat: MY works without a target
    ("TARGET.Memory", UNDEFINED, UNDEFINED),
    ("Disk", UNDEFINED, UNDEFINED),
    ("nested.b", 5, 5),
])
def test_scoping_without_target(text, compat, strict):
    job = ad(JOB)
    check(text, compat, job)
    classad.set_strict(True)
    check(text, strict, job)


@pytest.mark.parametrize(("text", "expected"), [
    ("[a = 1; b = [c = a]].b.c", 1),
    ("[a = 1; b = [c = parent.a]].b.c", 1),
    ("[a = 1; b = [a = 2; c = a]].b.c", 2),
    ("[a = 1; b = [a = 2; c = parent.a]].b.c", 1),
    ("[a = 1; b = [c = [d = .a]]].b.c.d", 1),
    ("[a = 1; b = self.a].b", 1),
    ("[a = b; b = a].a", UNDEFINED),
    ("[a = b + 1; b = a + 1].a", UNDEFINED),
    ("[a = 1; b = eval(\"a + 1\")].b", 2),
    ("[a = eval(\"a\")].a", UNDEFINED),
    ("[x = 1 + 2; y = unparse(x)].y", "1 + 2"),
    ("[x = 1; y = unparse(self.x)].y", ""),
    ("[x = a + b; a = 1; y = unresolved(x)].y", "b"),
    ("evalInEachContext(a * 2, {[a = 1], [a = 2]})", (2, 4)),
    ("countMatches(a > 1, {[a = 1], [a = 2], [a = 3]})", 2),
    ("countMatches(a > 1, undefined)", 0),
    ("ifThenElse(1, 2, error)", 2),
    ("ifThenElse(undefined, 1, 2)", UNDEFINED),
    ("ifThenElse(\"a\", 1, 2)", ERROR),
    ("ifThenElse(1, 2)", ERROR),
    ("debug(1 + 1)", 2),
    ("nosuchfunction(1)", ERROR),
    ("size(1, 2)", ERROR),
    ("eval(undefined)", ERROR),
    ("eval(5)", 5),
    ("eval(\"1 +\")", ERROR),
    # HTCondor quirk: a record taken out by subscript answers UNDEFINED to .attr
    ("[a = [b = [c = 5]]].a[\"b\"].c", UNDEFINED),
    ("[x = [b = [c = 5]]; s = x[\"b\"]; y = s.c].y", UNDEFINED),
    ("{[b = [c = 5]][\"b\"]}[0].c", UNDEFINED),
    ("[b = [c = 5]][\"b\"][\"c\"]", 5),
    ("[a = [b = [c = 5]]].a.b.c", 5),
    ("{[c = 5]}[0].c", 5),
])
def test_records_and_context_functions(text, expected):
    check(text, expected)


def test_chained_ads_fall_through_and_store_only_their_own():
    cluster = classad.ClassAd({"Owner": "alice", "RequestMemory": 512, "Cmd": "/bin/true"})
    proc = classad.ClassAd({"ProcId": 3, "RequestMemory": 1024}, parent=cluster)
    assert proc["Owner"] == "alice"
    assert proc.eval("RequestMemory") == 1024
    assert cluster.eval("RequestMemory") == 512
    assert dict(proc.own_items()) == {"ProcId": 3, "RequestMemory": 1024}
    assert set(proc) == {"Owner", "RequestMemory", "Cmd", "ProcId"}
    assert len(proc) == 4 and "cmd" in proc
    check("Owner", "alice", proc)
    proc["x"] = classad.ExprTree("Owner + 1")
    check("x", ERROR, proc)
    cluster["Owner"] = "bob"
    assert proc["Owner"] == "bob"
    with pytest.raises(ValueError):
        cluster.parent = proc          # would be a cycle
    with pytest.raises(TypeError):
        proc.parent = {"a": 1}
    proc.parent = None
    assert "Owner" not in proc


def test_chained_attributes_evaluate_in_the_child():
    cluster = classad.ClassAd("[Total = RequestMemory * 2]")
    proc = classad.ClassAd({"RequestMemory": 10}, parent=cluster)
    assert proc.eval("Total") == 20


@pytest.mark.parametrize(("text", "expected"), [
    ("RIGHT.k", 5),
    ("RIGHT.back", 1),     # inside the target, TARGET is our ad again
    ("LEFT.a", 1),
    ("LEFT.k", UNDEFINED),
    ("root.a", UNDEFINED),  # with a target, the root is HTCondor's match wrapper
])
def test_left_and_right_in_a_match(text, expected):
    check(text, expected, ad("[a = 1]"), ad("[k = 5; back = TARGET.a]"))


def test_old_syntax_semicolon_ends_a_value_only_outside_brackets():
    parsed = classad.parse_one('v = [p = 1; q = "r"]; w = 2\nx = 1\n', classad.ParserType.Old)
    assert list(parsed) == ["v", "x"] and parsed.eval("v")["q"] == "r"
