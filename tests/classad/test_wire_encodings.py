"""Job ads on the wire: the plain, typed and descriptor map encodings."""

from __future__ import annotations

import math

import pytest

import classad
from classad._values import ERROR, UNDEFINED
from classad._wire import (
    DESCRIPTORS_KEY,
    EXPRESSION_DESCRIPTOR,
    WireFormatError,
    decode_job_ad,
    encode_job_ad,
)

EXPR = EXPRESSION_DESCRIPTOR

BLOG_AD = {  # the 2009 prototype's submission, as the QMF blog post shows it
    "Cmd": {"TYPE": "STRING", "VALUE": "/bin/sleep"},
    "Args": {"TYPE": "STRING", "VALUE": "120"},
    "Requirements": {"TYPE": "EXPR", "VALUE": "TRUE"},
    "JobUniverse": {"TYPE": "INTEGER", "VALUE": "5"},
    "Iwd": {"TYPE": "STRING", "VALUE": "/tmp"},
    "Owner": {"TYPE": "STRING", "VALUE": "nobody"},
}


def test_typed_prototype_submission():
    ad, encoding = decode_job_ad(BLOG_AD)
    assert encoding == "typed"
    assert ad.eval("Cmd") == "/bin/sleep"
    assert ad.eval("Args") == "120"
    assert ad.eval("JobUniverse") == 5
    assert ad.eval("Requirements") is True
    assert isinstance(ad.lookup("Requirements"), classad.ExprTree)


def test_typed_every_type_in_any_case():
    ad, encoding = decode_job_ad({
        "s": {"type": "string", "value": "x"},
        "i": {"Type": "Integer", "Value": " -42 "},
        "f": {"TYPE": "float", "VALUE": "2.5e3"},
        "b": {"TYPE": "BOOLEAN", "VALUE": "FALSE"},
        "b1": {"TYPE": "BOOLEAN", "VALUE": "1"},
        "e": {"TYPE": "EXPRESSION", "VALUE": "i * 2"},
        "u": {"TYPE": "UNDEFINED"},
        "r": {"TYPE": "ERROR", "VALUE": ""},
        "n": {"TYPE": "INTEGER", "VALUE": 7},
        "inf": {"TYPE": "FLOAT", "VALUE": "inf"},
    })
    assert encoding == "typed"
    assert ad.eval("s") == "x"
    assert ad.eval("i") == -42
    assert ad.eval("f") == 2500.0 and type(ad.eval("f")) is float
    assert ad.eval("b") is False and ad.eval("b1") is True
    assert ad.eval("e") == -84
    assert ad.eval("u") is UNDEFINED
    assert ad.eval("r") is ERROR
    assert ad.eval("n") == 7
    assert ad.eval("inf") == math.inf


def test_plain_native_values():
    ad, encoding = decode_job_ad({
        "Cmd": "/bin/true", "JobUniverse": 5, "Rank": 1.5, "Flag": True, "Gone": None,
        "List": [1, "a", None, [2]], "Nested": {"x": 1, "y": {"z": "deep"}},
    })
    assert encoding == "plain"
    assert ad.eval("Cmd") == "/bin/true"
    assert ad.eval("Flag") is True
    assert ad.eval("Gone") is UNDEFINED
    assert ad["List"] == [1, "a", UNDEFINED, [2]]
    assert classad.ExprTree("Nested.y.z").eval(ad) == "deep"


def test_plain_strings_are_never_code():
    ad, _ = decode_job_ad({"Requirements": "TARGET.Memory > 10"})
    assert ad.eval("Requirements") == "TARGET.Memory > 10"


def test_descriptor_encoding_marks_expressions():
    ad, encoding = decode_job_ad({
        "Cmd": "/bin/true",
        "Requirements": "TARGET.Memory > 10",
        "Rank": "Memory",
        "Note": "Memory",
        DESCRIPTORS_KEY: {"Requirements": EXPR, "rank": EXPR},
    })
    assert encoding == "descriptor"
    assert ad.eval("Note") == "Memory"
    assert classad.unparse(ad.lookup("Requirements").node) == "TARGET.Memory > 10"
    machine = classad.ClassAd({"Memory": 64})
    assert ad.lookup("Requirements").eval(ad, machine) is True
    assert ad.lookup("Rank").eval(ad, machine) == 64


def test_binary_keys_and_values_are_utf8():
    ad, encoding = decode_job_ad({b"Cmd": b"/bin/caf\xc3\xa9", b"N": {b"TYPE": b"INTEGER", b"VALUE": b"3"}})
    assert encoding == "typed"
    assert ad.eval("Cmd") == "/bin/caf\u00e9" and ad.eval("N") == 3
    ad, encoding = decode_job_ad({b"Req": b"1 + 1", b"!!descriptors": {b"Req": b"com.redhat.grid.Expression"}})
    assert encoding == "descriptor" and ad.eval("Req") == 2


BAD = [
    ({"JobUniverse": {"TYPE": "INTEGER", "VALUE": "five"}}, "JobUniverse",
     "attribute 'JobUniverse': INTEGER value 'five' is not an integer"),
    ({"N": {"TYPE": "INTEGER", "VALUE": "99999999999999999999"}}, "N", "does not fit in 64 bits"),
    ({"N": {"TYPE": "INTEGER", "VALUE": "1.5"}}, "N", "is not an integer"),
    ({"F": {"TYPE": "FLOAT", "VALUE": "1_000"}}, "F", "FLOAT value '1_000' is not a number"),
    ({"B": {"TYPE": "BOOLEAN", "VALUE": "yes"}}, "B", "BOOLEAN value 'yes' is not true or false"),
    ({"E": {"TYPE": "EXPR", "VALUE": "1 +"}}, "E", "EXPR value '1 +' is not a valid expression"),
    ({"S": {"TYPE": "STRING", "VALUE": 5}, "T": {"TYPE": "STRING", "VALUE": "x"}}, "S",
     "STRING value must be text, not int"),
    ({"S": {"TYPE": "STRING"}}, "S", "STRING value is missing"),
    ({"X": {"TYPE": "STRING", "VALUE": "a"}, "Y": {"TYPE": "LIST", "VALUE": "a"}}, "Y",
     "unknown TYPE 'LIST'"),
    ({"Big": 2**64}, "Big", "integer 18446744073709551616 does not fit in 64 bits"),
    ({"Cmd": b"\xff\xfe"}, "Cmd", "binary that is not UTF-8"),
    ({"Deep": {"list": [1, object()]}}, "Deep.list[1]", "a object value cannot be a ClassAd value"),
    ({"": 1}, None, "an attribute name is empty"),
    ({5: 1}, None, "attribute names must be text, not int 5"),
    ({"R": 5, DESCRIPTORS_KEY: {"R": EXPR}}, "R", "must be text, not int"),
    ({"R": "1 +", DESCRIPTORS_KEY: {"R": EXPR}}, "R", "expression '1 +' is not a valid expression"),
    ({"R": "1", DESCRIPTORS_KEY: {"R": "com.example.Other"}}, "R", "unknown descriptor"),
    ({"R": "1", DESCRIPTORS_KEY: {"Q": EXPR}}, "Q", "named in !!descriptors but not in the ad"),
    ({"R": "1", DESCRIPTORS_KEY: ["R"]}, DESCRIPTORS_KEY, "must be a map"),
]


@pytest.mark.parametrize("mapping,attribute,message", BAD, ids=lambda x: str(x)[:40])
def test_bad_attributes_name_themselves(mapping, attribute, message):
    with pytest.raises(WireFormatError) as info:
        decode_job_ad(mapping)
    assert info.value.attribute == attribute
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [None, [("a", 1)], "Cmd = 1", 5])
def test_not_a_map(bad):
    with pytest.raises(WireFormatError, match="expected a map"):
        decode_job_ad(bad)


def test_unknown_encoding_name_is_api_misuse():
    with pytest.raises(ValueError, match="unknown job ad encoding 'xml'"):
        encode_job_ad(classad.ClassAd(), "xml")


SAMPLE = classad.ClassAd(
    '[ Cmd = "/bin/sh"; Args = "-c \'echo hi\'"; JobUniverse = 5; Rank = 1.5; Big = -9223372036854775808;'
    ' WantIt = true; Gone = undefined; Broken = error; Requirements = TARGET.Memory > RequestMemory;'
    ' RequestMemory = 10 * 2; Tiny = 1e-300; Huge = 1e300; When = absTime("2020-01-01T00:00:00Z");'
    ' Span = relTime("1+01:00:00"); L = { 1, "a", undefined }; LE = { 1, x + 1 };'
    ' Sub = [ x = 1; y = "z" ]; SubE = [ x = 1; y = x ]; Quote = "say \\"hi\\"\\n"; Neg = -0.0;'
    ' Inf = real("INF") ]'
)


def test_typed_output_shape():
    out = encode_job_ad(SAMPLE)
    assert out["Cmd"] == {"TYPE": "STRING", "VALUE": "/bin/sh"}
    assert out["JobUniverse"] == {"TYPE": "INTEGER", "VALUE": "5"}
    assert out["Rank"] == {"TYPE": "FLOAT", "VALUE": "1.5"}
    assert out["WantIt"] == {"TYPE": "BOOLEAN", "VALUE": "true"}
    assert out["Requirements"] == {"TYPE": "EXPR", "VALUE": "TARGET.Memory > RequestMemory"}
    assert out["Gone"] == {"TYPE": "EXPR", "VALUE": "undefined"}
    assert out["Sub"] == {"TYPE": "EXPR", "VALUE": '[ x = 1; y = "z" ]'}
    assert all(type(v["VALUE"]) is str for v in out.values())


def test_plain_and_descriptor_output_shape():
    plain = encode_job_ad(SAMPLE, "plain")
    assert plain["JobUniverse"] == 5 and plain["Gone"] is None and plain["Rank"] == 1.5
    assert plain["L"] == [1, "a", None]
    assert plain["Sub"] == {"x": 1, "y": "z"}
    assert plain["Requirements"] == "TARGET.Memory > RequestMemory"
    assert DESCRIPTORS_KEY not in plain
    desc = encode_job_ad(SAMPLE, "descriptor")
    marked = desc[DESCRIPTORS_KEY]
    assert set(marked) == {"Broken", "Requirements", "RequestMemory", "When", "Span", "LE", "SubE", "Inf"}
    assert set(marked.values()) == {EXPR}


@pytest.mark.parametrize("encoding", ["typed", "descriptor"])
def test_lossless_round_trip(encoding):
    wire = encode_job_ad(SAMPLE, encoding)
    back, seen = decode_job_ad(wire)
    assert seen == encoding
    assert back == SAMPLE
    for name in SAMPLE:
        assert classad.unparse(back.lookup(name).node) == classad.unparse(SAMPLE.lookup(name).node)


def test_plain_round_trip_of_literal_ads():
    ad = classad.ClassAd({"Cmd": "/bin/true", "N": 3, "R": 0.25, "B": False, "U": None,
                          "L": [1, [2, "x"]], "Sub": {"a": 1, "b": {"c": None}}})
    back, seen = decode_job_ad(encode_job_ad(ad, "plain"))
    assert seen == "plain" and back == ad


def test_plain_turns_expressions_into_text():
    back, _ = decode_job_ad(encode_job_ad(classad.ClassAd("[ r = 1 + 1 ]"), "plain"))
    assert back.eval("r") == "1 + 1"


def test_empty_ad_in_each_encoding():
    for encoding in ("typed", "plain", "descriptor"):
        back, seen = decode_job_ad(encode_job_ad(classad.ClassAd(), encoding))
        assert len(back) == 0
        assert seen == ("descriptor" if encoding == "descriptor" else "plain")


def test_chained_ads_encode_their_merged_view():
    cluster = classad.ClassAd({"Cmd": "/bin/true", "ClusterId": 7})
    proc = classad.ClassAd({"ProcId": 0}, parent=cluster)
    out = encode_job_ad(proc)
    assert set(out) == {"Cmd", "ClusterId", "ProcId"}
