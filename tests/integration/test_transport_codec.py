"""The transport's AMQP codec, checked value for value against proton's."""

from __future__ import annotations

import uuid

import proton
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmf_agent.message import Message
from qmf_agent.transport._amqp import decode_value, encode_value
from qmf_agent.transport._convert import decode, encode

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=300),
    st.binary(max_size=300),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.text(max_size=20), inner, max_size=6),
    ),
    max_leaves=40,
)


def _proton_encode(value: object) -> bytes:
    data = proton.Data()
    data.put_object(value)
    return bytes(data.encode())


def _proton_decode(raw: bytes) -> object:
    data = proton.Data()
    data.decode(raw)
    return _plain(data.get_object())


def _plain(value: object) -> object:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@settings(max_examples=300, deadline=None)
@given(values)
def test_values_round_trip_through_both_codecs(value: object) -> None:
    assert _proton_decode(encode_value(value)) == value  # proton reads ours
    assert decode_value(_proton_encode(value)) == value  # we read proton's
    assert decode_value(encode_value(value)) == value


# proton keeps subject (and the other string properties) as C strings: a
# NUL cuts it short on proton's side, so the comparison avoids NUL there.
subjects = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40)


@settings(max_examples=100, deadline=None)
@given(values, st.dictionaries(st.text(max_size=12), scalars, max_size=5), subjects)
def test_messages_round_trip_and_proton_agrees(body: object, props: dict, subject: str) -> None:
    msg = Message(body=body, address="qmf.default.direct", subject=subject, reply_to="r-1",
                  correlation_id="c-1", user_id="alice", content_type="amqp/map",
                  properties=props)
    raw = encode(msg)
    pm = proton.Message()
    pm.decode(raw)
    assert (_plain(pm.body), pm.address, pm.subject, pm.reply_to, pm.correlation_id) == (
        body, "qmf.default.direct", subject, "r-1", "c-1")
    assert bytes(pm.user_id) == b"alice" and _plain(pm.properties or {}) == props
    back = decode(raw, "authenticated")
    assert back == Message(body=body, address="qmf.default.direct", subject=subject,
                           reply_to="r-1", correlation_id="c-1", user_id="authenticated",
                           content_type="amqp/map", properties=props)
    assert decode(raw, None, keep_user_id=True).user_id == "alice"


def test_our_codec_keeps_nul_in_subjects() -> None:
    assert decode(encode(Message(body=1, subject="a\x00b"))).subject == "a\x00b"


def test_proton_typed_values_decode() -> None:
    value = {
        proton.symbol("sym"): proton.ulong(2**64 - 1),
        "ts": proton.timestamp(1700000000000),
        "u": uuid.UUID(int=7),
        "c": proton.char("é"),
        "small": [proton.ubyte(255), proton.short(-5), proton.uint(7), proton.float32(0.5)],
        "arr": proton.Array(proton.UNDESCRIBED, proton.Data.INT, 1, 2, 3),
        "desc": proton.Described(proton.symbol("d"), "v"),
    }
    got = decode_value(_proton_encode(value))
    assert got["sym"] == 2**64 - 1 and got["ts"] == 1700000000000 and got["u"] == uuid.UUID(int=7)
    assert got["c"] == "é" and got["small"] == [255, -5, 7, 0.5] and got["arr"] == [1, 2, 3]
    assert got["desc"] == proton.Described(proton.symbol("d"), "v")


def test_big_unsigned_ints_are_ulong_and_too_big_is_refused_by_name() -> None:
    raw = encode(Message(body={"big": 2**63 + 5}))
    pm = proton.Message()
    pm.decode(raw)
    assert isinstance(pm.body["big"], proton.ulong) and pm.body["big"] == 2**63 + 5
    with pytest.raises(ValueError, match=r"body\['jobs'\]\[1\]\['n'\].*does not fit"):
        encode(Message(body={"jobs": [{"n": 1}, {"n": 2**64}]}))
    with pytest.raises(ValueError, match=r"properties\['x'\]"):
        encode(Message(body=1, properties={"x": -(2**63) - 1}))
    with pytest.raises(ValueError, match="cannot encode a object"):
        encode(Message(body=[object()]))


def test_binary_is_copied_out_and_survives() -> None:
    raw = encode(Message(body={"b": b"\x00\xffdata", "l": [b"x" * 300]}))
    msg = decode(raw)
    del raw
    assert msg.body == {"b": b"\x00\xffdata", "l": [b"x" * 300]}
    assert type(msg.body["b"]) is bytes


def test_rabbitmq_list_bodies_travel_as_data_and_come_back() -> None:
    body = [{"a": 1}, "two", [3]]
    raw = encode(Message(body=body, content_type="amqp/list"), wrap_lists=True)
    pm = proton.Message()
    pm.decode(raw)
    assert isinstance(pm.body, (bytes, memoryview)) and pm.content_type == "amqp/list"
    assert decode(raw).body == body
    assert decode(encode(Message(body=[]), wrap_lists=True)).body == []


@pytest.mark.parametrize("junk", [b"", b"\x00", b"\x00\x53\x77\xa1\x05ab", b"\x01\x02", b"\x00\x53\x77\xee"])
def test_garbage_is_a_value_error(junk: bytes) -> None:
    if junk == b"":
        assert decode(junk).body is None  # an empty bare message: no sections
        return
    with pytest.raises(ValueError):
        decode(junk)


@settings(max_examples=200, deadline=None)
@given(values, st.data())
def test_truncated_or_corrupted_values_are_value_errors(value: object, data: st.DataObject) -> None:
    raw = encode_value([value, {"k": value}])
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(ValueError):
        decode_value(raw[:cut])
    flip = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    corrupted = raw[:flip] + bytes([raw[flip] ^ data.draw(st.integers(1, 255))]) + raw[flip + 1 :]
    try:
        decode_value(corrupted)
    except ValueError:
        pass  # anything else (IndexError, struct.error, ...) fails the test


@pytest.mark.parametrize(
    "junk, what",
    [
        (b"\xd1\x00\x00\x00\x09\x00\x00\x00\x02\xa1\x01k\x55", "runs past the end"),  # map size > data
        (b"\xd1\x00\x00\x00\x08\x00\x00\x00\x02\xa1\x01k\x55\x01\x40", "its size says"),  # members short
        (b"\xc1\x05\x02\xa1\x01k\xd1\x00\x00\x00\x04\x00\x00\x00\x00", "enclosing map"),
        (b"\xd0\x00\x00\x00\x0d\x00\x00\x00\x01\xd1\x00\x00\x00\x10\x00\x00\x00\x00", "enclosing list"),
        (b"\xc0\x02\x02\x40\x40", "its size says"),  # list items past its size
        (b"\xc0\x01\x01" * 5000 + b"\x40", "malformed"),  # nesting beyond the stack
    ],
)
def test_malformed_compounds_name_what_is_wrong(junk: bytes, what: str) -> None:
    with pytest.raises(ValueError, match=what):
        decode_value(junk)


def test_repeated_small_maps_decode_to_fresh_maps() -> None:
    schema_id = {"_package_name": "mrg.grid", "_class_name": "job", "_type": "_data", "_hash": "h"}
    raw = encode_value([{"_schema_id": schema_id, "n": i} for i in range(4)])
    first = decode_value(raw)
    assert [item["_schema_id"] for item in first] == [schema_id] * 4
    first[0]["_schema_id"]["_class_name"] = "changed"  # a consumer edits its copy
    assert first[1]["_schema_id"]["_class_name"] == "job"
    assert decode_value(raw)[0]["_schema_id"] == schema_id
    nested = encode_value([{"m": {"inner": [1]}}] * 3)  # not flat: never shared
    got = decode_value(nested)
    got[0]["m"]["inner"].append(2)
    assert got[1]["m"]["inner"] == [1] and decode_value(nested)[2] == {"m": {"inner": [1]}}


def _big_answer() -> bytes:
    return encode(Message(body=[{"_values": {"ClusterId": i, "Owner": f"u{i}"}} for i in range(4000)]))


def test_large_message_decodes_with_the_collector_paused_then_restored() -> None:
    import gc

    raw = _big_answer()
    assert len(raw) >= 64 * 1024, "the message must be big enough to pause the collector"
    seen = []
    gc.callbacks.append(lambda phase, info: seen.append(phase))
    try:
        body = decode(raw).body
    finally:
        gc.callbacks.pop()
    assert body[3999] == {"_values": {"ClusterId": 3999, "Owner": "u3999"}}
    assert seen == []  # 4,000 maps decoded without one collection
    assert gc.isenabled()


def test_large_message_decode_leaves_a_disabled_collector_disabled() -> None:
    import gc

    gc.disable()
    try:
        assert decode(_big_answer()).body[0] == {"_values": {"ClusterId": 0, "Owner": "u0"}}
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_large_truncated_message_still_restores_the_collector() -> None:
    import gc

    with pytest.raises(ValueError):
        decode(_big_answer()[:-10])
    assert gc.isenabled()
