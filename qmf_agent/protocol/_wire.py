"""AMQP 1.0 encoding of plain values, and object maps encoded from a template.

Why here and not only in the transport: a big query answer is mostly the
same bytes over and over (the ``_schema_id`` map, the agent's name, the
keys), so the agent encodes each object by splicing its name, values and
timestamps into bytes prepared once per (agent, class, projection) -- about
three times cheaper than building a dict per object and encoding it
generically.  The agent imports no proton, so the plain-value encoder lives
here; the transport's codec (``qmf_agent.transport._amqp``) builds on it and
adds proton's typed values.

Only standard AMQP constructors are written (str8/32, long, ulong, byte,
double, boolean, null, binary, map32, list32): proton decodes them to the
same values.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["WireObject", "ObjectTemplate", "enc_str", "enc_int", "put_value"]

_B = struct.Struct(">B").pack
_b = struct.Struct(">b").pack
_I = struct.Struct(">I").pack
_q = struct.Struct(">q").pack
_Q = struct.Struct(">Q").pack
_d = struct.Struct(">d").pack
_pack_size_into = struct.Struct(">I").pack_into
_pack_header_into = struct.Struct(">II").pack_into

_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_ULONG_MAX = 2**64 - 1

_str_cache: dict[str, bytes] = {}
_STR_CACHE_MAX = 8192
_SMALL_INTS = {i: b"\x55" + _b(i) for i in range(-128, 128)}
_MAP_HEADER = b"\xd1\x00\x00\x00\x00\x00\x00\x00\x00"  # map32; size and count patched in

Other = Callable[[Any], bytes]


def enc_str(value: str) -> bytes:
    """str8 or str32; short strings (keys, owners, states) are cached."""
    cached = _str_cache.get(value)
    if cached is not None:
        return cached
    raw = value.encode("utf-8")
    n = len(raw)
    out = b"\xa1" + _B(n) + raw if n < 256 else b"\xb1" + _I(n) + raw
    if n <= 64 and len(_str_cache) < _STR_CACHE_MAX:
        _str_cache[value] = out
    return out


def enc_int(value: int) -> bytes:
    """byte, long, or ulong from 2**63 up; OverflowError beyond 64 bits."""
    if -128 <= value <= 127:
        return _SMALL_INTS[value]
    if _LONG_MIN <= value <= _LONG_MAX:
        return b"\x81" + _q(value)
    if _LONG_MAX < value <= _ULONG_MAX:
        return b"\x80" + _Q(value)
    raise OverflowError(
        f"integer {value} does not fit AMQP's 64-bit types (long from -2**63, ulong up to 2**64-1)"
    )


def _plain_only(value: Any) -> bytes:
    raise TypeError(f"cannot encode a {type(value).__name__} as an AMQP value")


def put_value(
    out: bytearray, value: Any, memo: dict[int, tuple[int, int]], other: Other = _plain_only
) -> None:
    """Append the encoding of *value* to *out*.

    Maps and lists are written as map32/list32 with their size patched in
    afterwards (no intermediate bytes per member); a dict met twice in one
    message (a shared ``_schema_id``) is copied from its first encoding.
    Values of any type not handled here go through *other* (the
    transport's codec passes its encoder of proton's typed values).
    """
    kind = type(value)
    if kind is str:
        cached = _str_cache.get(value)
        out += cached if cached is not None else enc_str(value)
    elif kind is int:
        small = _SMALL_INTS.get(value)
        out += small if small is not None else enc_int(value)
    elif kind is dict:
        key = id(value)
        seen = memo.get(key)
        if seen is not None:
            out += out[seen[0] : seen[1]]
            return
        start = len(out)
        out += _MAP_HEADER
        strings = _str_cache
        for k, v in value.items():
            # Inline the common members (string keys, string and int
            # values): a call per member is most of an encoder's cost.
            if type(k) is str:
                cached = strings.get(k)
                out += cached if cached is not None else enc_str(k)
            else:
                put_value(out, k, memo, other)
            kind = type(v)
            if kind is str:
                cached = strings.get(v)
                out += cached if cached is not None else enc_str(v)
            elif kind is int:
                small = _SMALL_INTS.get(v)
                out += small if small is not None else enc_int(v)
            else:
                put_value(out, v, memo, other)
        _pack_header_into(out, start + 1, len(out) - start - 5, 2 * len(value))
        memo[key] = (start, len(out))
    elif kind is list or kind is tuple:
        if not value:
            out += b"\x45"
            return
        start = len(out)
        out += _MAP_HEADER
        out[start] = 0xD0
        for v in value:
            if type(v) is WireObject:  # a query answer's items: no call each
                out += v.wire
            else:
                put_value(out, v, memo, other)
        _pack_header_into(out, start + 1, len(out) - start - 5, len(value))
    elif value is None:
        out += b"\x40"
    elif kind is bool:
        out += b"\x41" if value else b"\x42"
    elif kind is float:
        out += b"\x82" + _d(value)
    elif kind is bytes:
        n = len(value)
        out += (b"\xa0" + _B(n) if n < 256 else b"\xb0" + _I(n)) + value
    elif kind is WireObject:
        out += value.wire
    else:
        out += other(value)


class WireObject:
    """One object map already in its AMQP encoding (a query answer's item).

    The transport's codec splices :attr:`wire` into the message as it is.
    In-process consumers (the memory transport, tests) call :meth:`value`
    -- ``protocol.decode`` does so for query responses -- and get the map
    itself, built from the snapshot the bytes were made from.
    """

    __slots__ = ("wire", "_source")

    def __init__(self, wire: bytearray, source: tuple[Any, ...]) -> None:
        self.wire = wire
        self._source = source

    def value(self) -> dict[str, Any]:
        """The object map (a fresh dict at every call)."""
        template, key, values, create_ts, update_ts, delete_ts, subtypes = self._source
        result: dict[str, Any] = template.object_map(
            key, dict(values), create_ts, update_ts, delete_ts, subtypes
        )
        return result

    def __repr__(self) -> str:
        return f"WireObject({self.value()!r})"

    def __copy__(self) -> WireObject:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> WireObject:
        return self  # never changed after it is made: bytes and snapshot alike


class ObjectTemplate:
    """The constant parts of one (agent, class, projection)'s object maps.

    Built once per (class, projection); :meth:`encode` then costs the
    object's name, its values and its timestamps.  :meth:`map_of` is the
    same object as a dict, for everything that is not sent as bytes.
    """

    __slots__ = ("agent_name", "epoch", "prefix", "schema_id", "names", "_keys",
                 "_head", "_oid", "_oid_size", "_tail")

    def __init__(
        self,
        agent_name: str,
        epoch: int,
        prefix: str,
        schema_id: Mapping[str, Any],
        names: tuple[str, ...] | None,
    ) -> None:
        self.agent_name = agent_name
        self.epoch = epoch
        self.prefix = prefix
        self.schema_id = dict(schema_id)
        self.names = names
        self._keys = None if names is None else [(n, enc_str(n)) for n in names]
        # The outer map's header (patched per object), the "_values" key and
        # the values map's header (patched too).
        self._head = _MAP_HEADER + enc_str("_values") + _MAP_HEADER
        # The _object_id map is _agent_name, _object_name, _agent_epoch:
        # everything but the object's name is fixed, so it is written as
        # head + name + body.
        # One struct writes the key, the map's header (its size depends on
        # the name), the fixed members before the name and the name's str8
        # header; the rest up to _create_ts's value is one constant.
        oid_head = enc_str("_object_id") + b"\xd1"
        name_key = enc_str("_agent_name") + enc_str(agent_name) + enc_str("_object_name")
        oid_body = enc_str("_agent_epoch") + enc_int(epoch)
        packer = struct.Struct(f">{len(oid_head)}sII{len(name_key)}sBB")
        self._oid = (packer.pack, oid_head, name_key)
        self._oid_size = 4 + len(name_key) + len(oid_body)
        sid = bytearray()
        put_value(sid, self.schema_id, {})
        self._tail = oid_body + enc_str("_schema_id") + bytes(sid) + enc_str("_create_ts")

    def encode(self, key: str, state: Any) -> WireObject:
        """The object map of *state* (an ``ObjectState``) as AMQP bytes."""
        values = state.values
        out = bytearray(self._head)
        strings = _str_cache
        if self._keys is None:
            values = dict(values)
            memo: dict[int, tuple[int, int]] = {}
            for k, v in values.items():
                out += enc_str(k) if type(k) is str else _plain_only(k)
                put_value(out, v, memo)
        else:
            snapshot: dict[str, Any] = {}
            for name, encoded in self._keys:
                if name in values:
                    v = snapshot[name] = values[name]
                    out += encoded
                    kind = type(v)
                    if kind is str:
                        cached = strings.get(v)
                        out += cached if cached is not None else enc_str(v)
                    elif kind is int:
                        small = _SMALL_INTS.get(v)
                        out += small if small is not None else enc_int(v)
                    else:
                        put_value(out, v, {})
            values = snapshot
        head = len(self._head)
        _pack_header_into(out, head - 8, len(out) - head + 4, 2 * len(values))
        raw = (self.prefix + key).encode("utf-8")
        n = len(raw)
        pack, oid_head, name_key = self._oid
        if n < 256:
            out += pack(oid_head, self._oid_size + 2 + n, 6, name_key, 0xA1, n)
        else:
            out += pack(oid_head, self._oid_size + 5 + n, 6, name_key, 0xB1, n >> 24)
            out += _I(n)[1:]
        out += raw
        out += self._tail
        create_ts, update_ts, delete_ts = state.create_ts, state.update_ts, state.delete_ts
        if (
            _LONG_MIN <= create_ts <= _LONG_MAX
            and _LONG_MIN <= update_ts <= _LONG_MAX
            and -128 <= delete_ts <= 127
        ):
            out += _STAMPS(0x81, create_ts, _UPDATE_TS, 0x81, update_ts, _DELETE_TS, 0x55, delete_ts)
        else:
            out += enc_int(create_ts) + _UPDATE_TS + enc_int(update_ts) + _DELETE_TS
            out += enc_int(delete_ts)
        members = 12
        subtypes = state.subtypes
        if subtypes:
            subtypes = dict(subtypes)
            out += _SUBTYPES
            put_value(out, subtypes, {})
            members = 14
        _pack_header_into(out, 1, len(out) - 5, members)
        return WireObject(out, (self, key, values, create_ts, update_ts, delete_ts, subtypes))

    def map_of(
        self, key: str, state: Any, schema_id: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The object map of *state* as a dict; *schema_id* may be one map
        shared by a whole answer (a fresh copy otherwise)."""
        values = state.values
        names = self.names
        return self.object_map(
            key,
            dict(values) if names is None else {n: values[n] for n in names if n in values},
            state.create_ts,
            state.update_ts,
            state.delete_ts,
            state.subtypes,
            schema_id,
        )

    def object_map(
        self,
        key: str,
        values: dict[str, Any],
        create_ts: int,
        update_ts: int,
        delete_ts: int,
        subtypes: Mapping[str, str] | None = None,
        schema_id: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The object map as a dict (*values* already projected, and owned
        by the map from now on)."""
        out: dict[str, Any] = {
            "_values": values,
            "_object_id": {
                "_agent_name": self.agent_name,
                "_object_name": self.prefix + key,
                "_agent_epoch": self.epoch,
            },
            "_schema_id": schema_id if schema_id is not None else dict(self.schema_id),
            "_create_ts": create_ts,
            "_update_ts": update_ts,
            "_delete_ts": delete_ts,
        }
        if subtypes:
            out["_subtypes"] = dict(subtypes)
        return out


_UPDATE_TS = enc_str("_update_ts")
_DELETE_TS = enc_str("_delete_ts")
# create_ts (long), "_update_ts", update_ts (long), "_delete_ts", delete_ts (byte)
_STAMPS = struct.Struct(f">Bq{len(_UPDATE_TS)}sBq{len(_DELETE_TS)}sBb").pack
_SUBTYPES = enc_str("_subtypes")
