"""The shape decoder (transport/_shapes.py): list items decoded by a learnt
shape must be exactly what the generic decoder gives -- for the agent's own
answers, for maps that share a size but not a layout, and for truncated or
corrupted bytes (the same value, or the same typed ValueError)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import proton
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmf_agent.agent import Agent
from qmf_agent.message import Message
from qmf_agent.protocol import decode_response, query_request
from qmf_agent.schema import Schema
from qmf_agent.transport import _shapes
from qmf_agent.transport._amqp import decode_value, encode_value
from qmf_agent.transport._convert import decode, encode


@pytest.fixture(autouse=True)
def fresh_shapes() -> Iterator[None]:
    _shapes.clear()
    yield
    _shapes.clear()


def _generic(raw: bytes) -> Any:
    """*raw* decoded with no shape known and none learnt."""
    saved, saved_learn = dict(_shapes._shapes), _shapes._LEARN_AT
    _shapes._shapes.clear()
    _shapes._LEARN_AT = ()
    try:
        return decode_value(raw)
    finally:
        _shapes._LEARN_AT = saved_learn
        _shapes._shapes.update(saved)


def _outcome(raw: bytes, decoder: Any) -> Any:
    """("value", its repr) or ("error", None); repr, as corruption can make a NaN."""
    try:
        return ("value", repr(decoder(raw)))
    except ValueError:
        return ("error", None)


def _learn(raw: bytes) -> Any:
    """Decode *raw* until its items' shapes are learnt; the last result."""
    for _ in range(3):
        value = decode_value(raw)
    assert _shapes._shapes, "no shape was learnt"
    return value


def _proton(raw: bytes) -> Any:
    data = proton.Data()
    data.decode(raw)
    return data.get_object()


def test_the_agents_answer_decodes_by_shape_to_the_same_objects() -> None:
    sent: list[Message] = []
    agent = Agent("shape.vendor:qmf-grid:t", Schema.load(), sent.append,
                  heartbeat_interval=60.0, data_interval=0, workers=0)

    class Jobs:
        def keys(self) -> list[str]:
            return [f"{i}.0" for i in range(1, 400)]

        def state(self, key: str) -> Any:
            from qmf_agent.binding import ObjectState
            cluster = int(key.split(".")[0])
            values = {"ClusterId": cluster, "Owner": f"user{cluster % 13}", "JobStatus": cluster % 7,
                      "Cmd": "/bin/true", "Fraction": cluster / 7, "Held": cluster % 2 == 0,
                      "Reason": None if cluster % 3 else "", "Blob": b"\x00\xff" * (cluster % 4)}
            return ObjectState(key, values, 10 * cluster, 2**62 + cluster, 0)

        def call(self, *args: Any) -> dict[str, Any]:
            return {}

    agent.bind("job", Jobs())
    request = query_request("OBJECT", class_name="job")
    agent.handle(Message(body=request.body, properties=request.properties, reply_to="r",
                         correlation_id="c", content_type=request.content_type))
    expected = decode_response(sent)  # in process: the maps the objects were made from
    raws = [encode(m) for m in sent]
    first = decode_response([decode(r) for r in raws])
    assert _shapes._shapes  # learnt while decoding
    again = decode_response([decode(r) for r in raws])  # now nearly all by shape
    assert first == expected and again == expected
    assert [type(v) for v in again[5]["_values"].values()] == [
        type(v) for v in expected[5]["_values"].values()
    ]
    again[0]["_values"]["Owner"] = "someone else"  # every map is fresh
    again[0]["_schema_id"]["_class_name"] = "changed"
    assert decode_response([decode(r) for r in raws]) == expected


def test_same_size_different_layout_and_keys_are_told_apart() -> None:
    # Equal sizes and counts, different string lengths / key bytes / types.
    kinds = [
        {"a": "xy", "b": "z", "n": {"k": 1}},
        {"a": "x", "b": "yz", "n": {"k": 1}},
        {"c": "xy", "b": "z", "n": {"k": 1}},
        {"a": "xy", "b": "z", "n": {"q": 1}},
        {"a": "xy", "b": "z", "n": {"k": True, "": None}},
        {"a": "\u00e9", "b": "z", "n": {"k": 1}},
    ]
    items = [dict(kinds[i % len(kinds)], i=i % 100) for i in range(600)]
    raw = encode_value(items)
    assert _learn(raw) == items
    assert decode_value(raw) == items == _proton(raw)


def test_types_a_shape_does_not_cover_fall_back_to_the_generic_decoder() -> None:
    items = [{"list": [i, "x"], "long": "y" * 300, "n": i} for i in range(50)]
    raw = encode_value(items)
    assert decode_value(raw) == decode_value(raw) == items
    assert not _shapes._shapes  # nothing to learn from these


def test_invalid_utf8_in_a_shaped_string_is_a_value_error() -> None:
    good = encode_value([{"s": "abc", "n": 1}] * 10)
    _learn(good)
    bad = good.replace(b"abc", b"a\xffc", 1)
    with pytest.raises(ValueError):
        decode_value(bad)
    with pytest.raises(ValueError):
        _generic(bad)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
flat_maps = st.dictionaries(st.text(max_size=4), scalars, min_size=1, max_size=5)
templates = st.dictionaries(
    st.text(max_size=4), st.one_of(scalars, flat_maps), min_size=1, max_size=5
)


@settings(max_examples=150, deadline=None)
@given(templates, st.lists(st.integers(0, 2), min_size=4, max_size=40), st.data())
def test_shaped_and_generic_decoding_agree_on_any_bytes(
    template: dict[str, Any], picks: list[int], data: st.DataObject
) -> None:
    # Items of one layout with values that vary a little (same type, maybe
    # same width): the case shapes are made for.
    variants = [template, {k: _vary(v, 1) for k, v in template.items()},
                {k: _vary(v, 2) for k, v in template.items()}]
    items = [variants[p] for p in picks]
    raw = encode_value(items)
    assert decode_value(raw) == items
    assert decode_value(raw) == items
    assert _generic(raw) == items
    # Truncated or corrupted: whatever the generic decoder says, the shaped
    # one says too (a value, or a ValueError -- never another exception).
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    assert _outcome(raw[:cut], decode_value) == _outcome(raw[:cut], _generic)
    for _ in range(3):
        flip = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        xor = data.draw(st.integers(1, 255))
        corrupted = raw[:flip] + bytes([raw[flip] ^ xor]) + raw[flip + 1 :]
        assert _outcome(corrupted, decode_value) == _outcome(corrupted, _generic)


def _vary(value: Any, seed: int) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value ^ seed if 0 <= value ^ seed <= 2**64 - 1 and value >= 0 else value
    if isinstance(value, str):
        return value[::-1] if seed == 1 else value.upper()
    if isinstance(value, bytes):
        return bytes(b ^ seed for b in value)
    if isinstance(value, float):
        return value + seed
    if isinstance(value, dict):
        return {k: _vary(v, seed) for k, v in value.items()}
    return value
