"""Decoding the maps of a long list by their shape.

Why: a query answer is a list of thousands of maps that differ only in
their values -- the keys, the nesting, the type of every value and most
lengths repeat from one object to the next.  The generic decoder
(``_amqp._map``) pays a few Python operations per byte-level decision,
about half a microsecond per member and a dozen microseconds per object,
which made decoding the console's half of a big query.

A *shape* is learnt from the bytes of one map: every byte that is not part
of a value -- constructors, sizes, counts, string lengths, the keys
themselves -- is constant, and every value has a fixed width.  A later map
of the same size is decoded by that shape only if all of its constant bytes
are the same, checked in one step (the map's bytes read as an integer,
masked, compared); its values then come out of one ``struct.unpack_from``
and a function generated for the shape builds the (fresh) dicts.  A map
the check refuses is decoded generically, so the result is exactly the
generic decoder's, value for value.

Shapes are learnt for list items that are map32 (what the agent's object
templates and our encoder write) whose members have string (str8) keys and
values of the common fixed-width types or nested maps of the same kind;
anything else (lists, str32, described values, ...) is simply never given
a shape.  A shape is learnt when a (size, count) comes round a second time,
and at most twice per (size, count), so learning (a compile, ~0.15 ms) is
bounded by the number of distinct sizes seen, not by the number of maps.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

__all__ = ["decode_item", "note_item", "clear", "short_str", "short_strs"]

_u_II = struct.Struct(">II").unpack_from

# Fixed-width scalar values: type code -> struct code.
_FIXED = {
    0x50: "B",  # ubyte
    0x51: "b",  # byte
    0x52: "B",  # smalluint
    0x53: "B",  # smallulong
    0x54: "b",  # smallint
    0x55: "b",  # smalllong
    0x60: "H",  # ushort
    0x61: "h",  # short
    0x70: "I",  # uint
    0x71: "i",  # int
    0x80: "Q",  # ulong
    0x81: "q",  # long
    0x82: "d",  # double
}
# Values carried by the constructor alone.
_CONSTANT = {0x40: "None", 0x41: "True", 0x42: "False", 0x43: "0", 0x44: "0"}

_MAX_BYTES = 4096  # bigger maps are not worth a shape (and make big masks)
_MAX_FIELDS = 250  # struct and the generated function stay small
_MAX_DEPTH = 8
_PER_SIZE = 4  # shapes kept per (size, count)
_LEARN_AT = (2, 16)  # the generic decodes of a (size, count) that learn a shape
_SHAPES_LIMIT = 1024
_TRIES_LIMIT = 16384


class _NoShape(Exception):
    """The map holds something shapes do not cover."""


class _Shape:
    """One learnt shape: the mask of constant bytes, their expected value,
    and the generated ``build(buf, pos) -> dict``."""

    __slots__ = ("mask", "expect", "build")

    def __init__(self, mask: int, expect: int, build: Callable[[bytes, int], dict[Any, Any]]):
        self.mask = mask
        self.expect = expect
        self.build = build


# Strings repeat in every object of an answer (keys, owners, the agent's
# name, the schema id): one str per distinct spelling instead of one decode
# and one allocation per use.  Bounded: when full it starts over, so junk
# cannot grow it.
short_strs: dict[bytes, str] = {}
_SHORT_STRS_LIMIT = 16384


def short_str(raw: bytes) -> str:
    """The str of UTF-8 *raw*, shared with earlier decodes of the same bytes."""
    text = short_strs.get(raw)
    if text is None:
        text = raw.decode()
        if len(short_strs) >= _SHORT_STRS_LIMIT:
            short_strs.clear()
        short_strs[raw] = text
    return text


_shapes: dict[tuple[int, int], tuple[_Shape, ...]] = {}
_tries: dict[tuple[int, int], int] = {}


def clear() -> None:
    """Forget every shape (tests use it to compare both paths)."""
    _shapes.clear()
    _tries.clear()


def decode_item(buf: bytes, pos: int, end: int, size: int, count: int) -> dict[Any, Any] | None:
    """The map32 at *pos* (ending at *end*) decoded by a learnt shape, or
    None when no shape of its (size, count) accepts its bytes."""
    shapes = _shapes.get((size, count))
    if shapes is None:
        return None
    value = int.from_bytes(buf[pos:end], "big")
    for shape in shapes:
        if value & shape.mask == shape.expect:
            return shape.build(buf, pos)
    return None


def note_item(buf: bytes, pos: int, end: int, size: int, count: int) -> None:
    """A map32 item was decoded generically: learn its shape when its
    (size, count) has come round often enough."""
    key = (size, count)
    seen = _tries.get(key, 0) + 1
    if len(_tries) >= _TRIES_LIMIT:
        _tries.clear()
    _tries[key] = seen
    if seen not in _LEARN_AT:
        return
    known = _shapes.get(key, ())
    if len(known) >= _PER_SIZE or end - pos > _MAX_BYTES:
        return
    try:
        shape = _learn(buf, pos, end)
    except (_NoShape, IndexError, UnicodeDecodeError, struct.error):
        return
    if len(_shapes) >= _SHAPES_LIMIT:
        _shapes.clear()
    _shapes[key] = known + (shape,)


def _learn(buf: bytes, pos: int, end: int) -> _Shape:
    """The shape of the well-formed map32 at *pos*..*end*."""
    learner = _Learner(buf, pos)
    expr = learner.map(pos, 0)
    if learner.pos != end:
        raise _NoShape("the map does not end where its size says")
    learner.flush()
    mask = int.from_bytes(bytes(learner.mask), "big")
    expect = int.from_bytes(buf[pos:end], "big") & mask
    names = learner.names
    names["G"] = short_strs.get
    names["U"] = struct.Struct(">" + "".join(learner.fmt)).unpack_from
    fields = [f"a{i}" for i in range(learner.fields)]
    lines = ["def build(buf, pos):"]
    if len(fields) == 1:
        lines.append("    a0, = U(buf, pos)")
    elif fields:
        lines.append(f"    {', '.join(fields)} = U(buf, pos)")
    lines.append(f"    return {expr}")
    # Only generated identifiers and literals are in the source: keys and
    # values from the wire are bound by name (``names``), never spliced in.
    exec(compile("\n".join(lines), "<qmf map shape>", "exec"), names)  # noqa: S102
    return _Shape(mask, expect, names["build"])


class _Learner:
    """Walks one map, collecting the struct format, the mask of constant
    bytes and the expression that builds the dict."""

    def __init__(self, buf: bytes, start: int) -> None:
        self.buf = buf
        self.start = start
        self.pos = start
        self.fmt: list[str] = []
        self.mask = bytearray()
        self.names: dict[str, Any] = {}
        self.fields = 0
        self._constant = 0  # constant bytes not yet in fmt

    def const(self, n: int) -> None:
        self._constant += n
        self.mask += b"\xff" * n
        self.pos += n

    def field(self, code: str, width: int) -> str:
        self.flush()
        self.fmt.append(code)
        self.mask += bytes(width)
        self.pos += width
        if self.fields >= _MAX_FIELDS:
            raise _NoShape("too many values")
        self.fields += 1
        return f"a{self.fields - 1}"

    def flush(self) -> None:
        if self._constant:
            self.fmt.append(f"{self._constant}x")
            self._constant = 0

    def map(self, at: int, depth: int) -> str:
        if depth > _MAX_DEPTH:
            raise _NoShape("nested too deep")
        buf = self.buf
        code = buf[at]
        if code == 0xD1:
            size, count = _u_II(buf, at + 1)
            stop = at + 5 + size
            self.const(9)
        elif code == 0xC1:
            stop = at + 2 + buf[at + 1]
            count = buf[at + 2]
            self.const(3)
        else:
            raise _NoShape("not a map")
        members = []
        for _ in range(count >> 1):
            if buf[self.pos] != 0xA1:
                raise _NoShape("a key that is not a str8")
            n = buf[self.pos + 1]
            key = buf[self.pos + 2 : self.pos + 2 + n].decode()
            name = f"k{len(self.names)}"
            self.names[name] = key
            self.const(2 + n)
            members.append(f"{name}: {self.value(depth)}")
        if self.pos != stop:
            raise _NoShape("members do not end where the map's size says")
        return "{" + ", ".join(members) + "}"

    def value(self, depth: int) -> str:
        buf = self.buf
        code = buf[self.pos]
        constant = _CONSTANT.get(code)
        if constant is not None:
            self.const(1)
            return constant
        fixed = _FIXED.get(code)
        if fixed is not None:
            self.const(1)
            return self.field(fixed, struct.calcsize(">" + fixed))
        if code in (0xA0, 0xA1, 0xA3):  # vbin8, str8, sym8
            n = buf[self.pos + 1]
            if code != 0xA0:
                # The sample's text goes into the shared strings: what every
                # object repeats (an agent's name, a schema id) is then found
                # there; what varies (object names) is decoded, not cached.
                short_str(buf[self.pos + 2 : self.pos + 2 + n])
            self.const(2)
            name = self.field(f"{n}s", n)
            return name if code == 0xA0 else f"(G({name}) or {name}.decode())"
        if code in (0xC1, 0xD1):
            return self.map(self.pos, depth + 1)
        raise _NoShape(f"type 0x{code:02x}")
