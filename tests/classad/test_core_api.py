"""The Python API in the shape of HTCondor's v2 bindings: ClassAd as a
mapping, ExprTree, value conversions, matching and rank, printing."""

from __future__ import annotations

import datetime

import pytest

import classad
from classad import ClassAd, ExprTree, Value

REQ = ('(TARGET.Arch == "X86_64") && (TARGET.OpSys == "LINUX") && (TARGET.Disk >= RequestDisk)'
       ' && (TARGET.Memory >= RequestMemory) && (TARGET.Cpus >= RequestCpus)'
       ' && TARGET.HasFileTransfer')


def job(memory=1024):
    return ClassAd({"RequestMemory": memory, "RequestDisk": 100, "RequestCpus": 1,
                    "Requirements": ExprTree(REQ), "Rank": ExprTree("TARGET.Memory / 1024")})


def machine(memory=2048, arch="x86_64"):
    return ClassAd({"Arch": arch, "OpSys": "LINUX", "Disk": 1000, "Memory": memory, "Cpus": 4,
                    "HasFileTransfer": True,
                    "Requirements": ExprTree("MY.Memory >= TARGET.RequestMemory")})


def test_mapping_is_case_insensitive_and_keeps_first_spelling():
    ad = ClassAd()
    ad["Memory"] = 1
    ad["MEMORY"] = 2
    assert list(ad) == ["Memory"] and ad["memory"] == 2
    assert "mEmOrY" in ad and 5 not in ad
    del ad["memory"]
    assert len(ad) == 0
    with pytest.raises(KeyError):
        del ad["memory"]
    with pytest.raises(KeyError):
        ad["missing"]
    with pytest.raises(TypeError):
        ad[3] = 1
    with pytest.raises(ValueError):
        ad[""] = 1
    assert ad.get("missing", "dflt") == "dflt"


def test_values_convert_both_ways():
    when = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    ad = ClassAd({"i": 1, "f": 1.5, "s": "x", "b": True, "n": None, "l": [1, "a", None],
                  "d": {"k": 1}, "t": when, "e": ExprTree("i + 1"), "u": Value.Error})
    assert repr(ad) == ('[ i = 1; f = 1.500000000000000E+00; s = "x"; b = true; n = undefined; '
                        'l = { 1,"a",undefined }; d = [ k = 1 ]; '
                        't = absTime("2020-01-01T00:00:00-00:00"); e = i + 1; u = error ]')
    assert ad["i"] == 1 and type(ad["b"]) is bool and ad["n"] is Value.Undefined
    assert ad["l"] == [1, "a", Value.Undefined]
    assert isinstance(ad["d"], ClassAd) and ad["d"]["k"] == 1
    assert ad["t"] == when
    assert isinstance(ad["e"], ExprTree) and ad.eval("e") == 2
    assert ad.eval("u") is Value.Error
    with pytest.raises(ValueError):
        ad["big"] = 1 << 70
    with pytest.raises(TypeError):
        ad["obj"] = object()


def test_eval_results_as_the_bindings_give_them():
    ad = ClassAd('[a = 1; b = a + 1; c = {1, a}; d = [x = 1]; r = relTime(90); '
                 't = absTime("2020-01-01T00:00:00+01:00"); z = 1.0 / 0]')
    assert ad.eval("b") == 2
    c = ad.eval("c")
    assert c[0] == 1 and isinstance(c[1], ExprTree) and repr(c[1]) == "a"
    assert isinstance(ad.eval("d"), ClassAd)
    assert ad.eval("r") == 90.0
    assert ad.eval("t") == datetime.datetime(2019, 12, 31, 23, 0, tzinfo=datetime.timezone.utc)
    assert ad.eval("z") is Value.Error
    with pytest.raises(KeyError):
        ad.eval("nope")
    assert repr(ad.lookup("b")) == "a + 1"
    assert ad.lookup("b").eval() == 2          # remembers the ad it came from


def test_exprtree_api():
    e = ExprTree("1 + 2")
    assert e.eval() == 3 and repr(e) == "1 + 2" and str(e) == "1 + 2"
    assert e == ExprTree("1+2") and e != ExprTree("2 + 1")
    assert repr(ExprTree("x + 1 + 2").simplify(ClassAd({"x": 1}))) == "4"
    assert int(ExprTree("2.5")) == 2 and float(ExprTree("2")) == 2.0 and bool(ExprTree("1"))
    with pytest.raises(classad.ClassAdEvaluationError):
        bool(ExprTree('"a"'))
    with pytest.raises(classad.ClassAdSyntaxError):
        ExprTree("1 +")
    with pytest.raises(TypeError):
        ExprTree(5)
    with pytest.raises(TypeError):
        e.eval(scope={"a": 1})
    assert ExprTree("TARGET.x").eval(target=ClassAd({"x": 7})) == 7


def test_matching_and_rank():
    j, m = job(), machine()
    assert m.matches(j) and j.matches(m) and j.symmetric_match(m) and j.symmetricMatch(m)
    assert classad.symmetric_match(j, m) and classad.matches(j, m)
    assert classad.rank(j, m) == 2.0
    assert not job(4096).symmetric_match(m)           # the machine refuses
    assert not machine(arch="ARM").matches(job())       # the job refuses
    no_req = ClassAd({"x": 1})
    assert not no_req.matches(j) and j.matches(no_req) is False
    assert classad.rank(no_req, m) == 0.0
    str_rank = ClassAd({"Rank": "high"})
    assert classad.rank(str_rank, m) == 0.0
    with pytest.raises(TypeError):
        classad.rank(j, {"Memory": 1})


def test_requirements_as_numbers_and_errors():
    target = ClassAd({"x": 1})
    for text, expected in [("1", True), ("0.0", False), ("undefined", False),
                           ("error", False), ('"yes"', False), ("TARGET.x", True)]:
        assert target.matches(ClassAd({"Requirements": ExprTree(text)})) is expected, text


def test_thousand_by_thousand_matching_is_precompiled():
    jobs = [job(512 * (i % 8 + 1)) for i in range(30)]
    machines = [machine(256 * (i % 16 + 1)) for i in range(30)]
    count = sum(1 for a in jobs for b in machines if a.symmetric_match(b))
    expected = sum(1 for a in jobs for b in machines
                   if b["Memory"] >= a["RequestMemory"])
    assert count == expected > 0
    # The Requirements node carries its compiled closure after the first match.
    assert hasattr(jobs[0].lookup("Requirements").node, "_fn")


def test_flatten_and_refs():
    ad = ClassAd("[a = 1; b = a + 1]")
    assert repr(ad.flatten(ExprTree("a + b + zz"))) == "3 + zz"
    assert repr(ad.flatten("TARGET.x > b")) == "TARGET.x > 2"
    assert ad.flatten("a + b") == 3                   # fully evaluated: a value
    assert ad.external_refs("a + b + zz + TARGET.q") == ["TARGET.q", "zz"]
    assert ad.internalRefs(ExprTree("a + b + zz")) == ["a", "b"]


@pytest.mark.parametrize(("expr", "flat", "external", "internal"), [
    # HTCondor's Flatten: an undefined reference stays as written (b is not
    # expanded), constants move first in + and *, true && e is e.
    ("a + b + x + TARGET.y + c.d", "1 + b + x + TARGET.y + c.d", ["TARGET.y", "x"], ["a", "b", "c"]),
    ("b * 2", "2 * b", ["x"], ["a", "b"]),
    ("a ? b : x", "b", ["x"], ["a", "b"]),
    ("strcat(s, x)", 'strcat("str",x)', ["x"], ["s"]),
    ("l[0] + a", "1 + l[0]", [], ["a", "l"]),
    ("(a + x) * 2", "2 * (1 + x)", ["x"], ["a"]),
    ("isUndefined(x) && a == 1", "isUndefined(x)", ["x"], ["a"]),
    ("{a, x}", "{ 1,x }", ["x"], ["a"]),
    ("c", "c", ["x"], ["a", "b", "c"]),
    ("c.e * a", 2, [], ["a", "c"]),
    ("parent.a", "'parent'.a", ["'parent'.a"], []),
    ("undefined + a", Value.Undefined, [], ["a"]),
])
def test_flatten_like_htcondor(expr, flat, external, internal):
    ad = ClassAd('[a = 1; b = a + x; c = [d = b; e = 2]; s = "str"; l = {1, a}]')
    result = ad.flatten(expr)
    assert (repr(result) if isinstance(result, ExprTree) else result) == flat
    assert ad.external_refs(expr) == external
    assert ad.internal_refs(expr) == internal


def test_printing():
    ad = ClassAd('[a = 1; b = "x\\ty"; c = a =?= 0.1]')
    assert ad.print_old() == 'a = 1\nb = "x\ty"\nc = a =?= 0.1\n'
    assert ad.printOld() == ad.print_old()
    assert repr(ad) == '[ a = 1; b = "x\\ty"; c = a is 1.000000000000000E-01 ]'
    assert str(ad).startswith("\n    [\n        a = 1; ")


def test_print_json_delegates_to_the_json_module():
    text = ClassAd("[a = 1; b = a + 1]").print_json()
    assert '"a": 1' in text and "Expr(a + 1)" in text


def test_constructor_and_parse_helpers():
    assert repr(ClassAd("[a = 1] trailing ignored")) == "[ a = 1 ]"
    with pytest.raises(classad.ClassAdSyntaxError):
        ClassAd("[a = ]")
    with pytest.raises(TypeError):
        ClassAd(5)
    assert dict(classad.parseOne("a = 1\nb = 2\n").items()) == {"a": 1, "b": 2}
    assert classad.version() == "25.14.1"
    assert classad.ParserType.New == 3


def test_strict_mode_switch():
    classad.set_strict(True)
    try:
        assert classad.is_strict()
        assert ExprTree("MY.x").eval(ClassAd({"x": 1})) is Value.Undefined
    finally:
        classad.set_strict(False)
    assert ExprTree("MY.x").eval(ClassAd({"x": 1})) == 1
    with pytest.raises(TypeError):
        classad.set_strict("yes")


def test_equality_of_ads():
    assert ClassAd("[a = 1; B = b]") == ClassAd("[A = 1; b = b]")
    assert ClassAd("[a = 1]") != ClassAd("[a = 2]")


def test_too_deep_input_gives_clear_errors_not_crashes():
    with pytest.raises(classad.ClassAdSyntaxError, match="levels deep"):
        ExprTree("+".join(["1"] * 5000))
    assert ExprTree("+".join(["1"] * 200)).eval() == 200
    assert len(ExprTree("{" + ",".join(["1"] * 5000) + "}").eval()) == 5000
    ad = ClassAd({"a0": 1})
    for i in range(1, 2000):
        ad[f"a{i}"] = ExprTree(f"a{i - 1} + 1")
    assert ad.eval("a50") == 51
    assert ad.eval("a1999") is Value.Error   # too long a chain of references
