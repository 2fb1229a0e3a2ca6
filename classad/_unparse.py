"""Printing AST nodes and values back to ClassAd text, exactly as HTCondor does.

Three printers share one recursive walk:

* :func:`unparse` - new syntax on one line (what classad2's ``repr()`` prints),
* :func:`unparse_old` - old syntax (``=?=``, ``%.16G`` reals, raw strings),
* :func:`unparse_pretty` - the indented multi-line form of classad2's ``str()``.

The exact spacing (``1 + 2``, `` -x``, ``{ 1,2 }``, ``[ a = 1; b = 2 ]``) is
HTCondor's and is checked against classad2 by the differential tests.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from ._ast import (
    AttrRef,
    BinaryOp,
    Conditional,
    Elvis,
    FunctionCall,
    ListExpr,
    Literal,
    Node,
    Paren,
    RecordExpr,
    Subscript,
    UnaryOp,
)
from ._values import ERROR, UNDEFINED, AbsTime, RelTime

__all__ = [
    "unparse",
    "unparse_old",
    "unparse_pretty",
    "format_value",
    "quote_string",
    "quote_name",
    "format_abstime",
    "format_reltime",
    "unparse_record_items",
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Names the lexer would read as something else, so they must be quoted.
_RESERVED = frozenset({"true", "false", "undefined", "error", "is", "isnt"})

_STRING_ESCAPES = {
    "\\": "\\\\", '"': '\\"', "\a": "\\a", "\b": "\\b", "\f": "\\f",
    "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\U0010ffff]')


def _escape(text: str, quote: str) -> str:
    def one(m: re.Match[str]) -> str:
        ch = m.group()
        if ch == quote:
            return "\\" + ch
        esc = _STRING_ESCAPES.get(ch)
        if esc is not None and ch != '"':
            return esc
        if ch == '"':
            return ch
        # Control characters and non-ASCII: octal bytes, as HTCondor's
        # byte-oriented unparser prints them.
        return "".join(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogateescape"))

    pattern = _NEEDS_ESCAPE if quote == '"' else _NAME_NEEDS_ESCAPE
    return pattern.sub(one, text)


_NAME_NEEDS_ESCAPE = re.compile(r"[\\'\x00-\x1f\x7f-\U0010ffff]")


def quote_string(text: str) -> str:
    """*text* as a new-syntax string literal."""
    return '"' + _escape(text, '"') + '"'


def _quote_string_old(text: str) -> str:
    # Old syntax writes strings raw with only the double quote escaped.
    return '"' + text.replace('"', '\\"') + '"'


def quote_name(name: str, scoped: bool = False) -> str:
    """*name* as an attribute name, quoted with ``'…'`` when the lexer would
    not read it back as that name.  After a dot (*scoped*) HTCondor prints
    any identifier-shaped name bare, keywords and ``parent`` included."""
    if name and _IDENT.match(name) and (scoped or (
            name.lower() not in _RESERVED and name.lower() != "parent")):
        return name
    return "'" + _escape(name, "'") + "'"


def format_abstime(t: AbsTime) -> str:
    """``YYYY-MM-DDThh:mm:ss±hh:mm`` in the value's own zone (UTC as -00:00)."""
    local = time.gmtime(t.secs + t.offset)
    off = t.offset
    sign = "-" if off <= 0 else "+"
    off = abs(off)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", local)
            + f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}")


def format_reltime(secs: float) -> str:
    """``[-][D+]hh:mm:ss[.fff]`` with leading zero fields dropped."""
    if secs != secs or secs in (math.inf, -math.inf):
        # HTCondor prints garbage for these; we print something readable.
        return "NaN" if secs != secs else ("INF" if secs > 0 else "-INF")
    neg = secs < 0
    secs = -secs if neg else secs
    whole = int(secs)
    frac = secs - whole
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    mins, s = divmod(rest, 60)
    out = "-" if neg else ""
    if days:
        out += f"{days}+"
    if days or hours:
        out += f"{hours:02d}:"
    if days or hours or mins:
        out += f"{mins:02d}:"
    if frac:
        out += f"{s + frac:g}"
    else:
        out += f"{s:02d}"
    return out


def _format_real(v: float, old: bool) -> str:
    if v != v:
        return 'real("NaN")'
    if math.isinf(v):
        return 'real("INF")' if v > 0 else 'real("-INF")'
    if v == 0.0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    if old:
        text = f"{v:.16G}"
        if "." not in text and "E" not in text:
            text += ".0"
        return text
    return f"{v:.15E}"


def format_value(v: Any, old: bool = False) -> str:
    """A scalar value (internal representation) as ClassAd text."""
    t = type(v)
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return _format_real(v, old)
    if t is str:
        return _quote_string_old(v) if old else quote_string(v)
    if v is UNDEFINED:
        return "undefined"
    if v is ERROR:
        return "error"
    if t is AbsTime:
        return f'absTime("{format_abstime(v)}")'
    if t is RelTime:
        return f'relTime("{format_reltime(v.secs)}")'
    raise TypeError(f"not a scalar ClassAd value: {v!r}")


def _walk(node: Node, old: bool, indent: int | None) -> str:
    """Unparse *node*; *indent* is None for one-line output, else the
    current indentation of the pretty printer."""
    t = type(node)
    if t is Literal:
        return format_value(node.value, old)  # type: ignore[attr-defined]
    if t is AttrRef:
        ref: AttrRef = node  # type: ignore[assignment]
        if ref.absolute:
            return "." + quote_name(ref.name, True)
        if ref.base is None:
            return quote_name(ref.name)
        return _walk(ref.base, old, indent) + "." + quote_name(ref.name, True)
    if t is BinaryOp:
        b: BinaryOp = node  # type: ignore[assignment]
        op = b.op
        if old and op in ("is", "isnt"):
            op = "=?=" if op == "is" else "=!="
        return f"{_walk(b.left, old, indent)} {op} {_walk(b.right, old, indent)}"
    if t is UnaryOp:
        u: UnaryOp = node  # type: ignore[assignment]
        return f" {u.op}{_walk(u.operand, old, indent)}"
    if t is Paren:
        return "(" + _walk(node.expr, old, indent) + ")"  # type: ignore[attr-defined]
    if t is Conditional:
        c: Conditional = node  # type: ignore[assignment]
        return (f"{_walk(c.cond, old, indent)} ? {_walk(c.then, old, indent)}"
                f" : {_walk(c.else_, old, indent)}")
    if t is Elvis:
        e: Elvis = node  # type: ignore[assignment]
        return f"{_walk(e.left, old, indent)} ?: {_walk(e.right, old, indent)}"
    if t is Subscript:
        s: Subscript = node  # type: ignore[assignment]
        return f"{_walk(s.base, old, indent)}[{_walk(s.index, old, indent)}]"
    if t is FunctionCall:
        f: FunctionCall = node  # type: ignore[assignment]
        return f.name + "(" + ",".join(_walk(a, old, indent) for a in f.args) + ")"
    if t is ListExpr:
        items = node.items  # type: ignore[attr-defined]
        if indent is None:
            return "{ " + ",".join(_walk(i, old, None) for i in items) + " }"
        pad = indent + 3
        inner = "\n" + " " * (pad + 3)
        body = ",".join(inner + _walk(i, old, pad + 3) for i in items)
        return f"\n{' ' * pad}{{{body}\n{' ' * pad}}}"
    if t is RecordExpr:
        return _record(node.attrs, old, indent)  # type: ignore[attr-defined]
    raise TypeError(f"not a ClassAd AST node: {node!r}")


def _record(attrs: Any, old: bool, indent: int | None) -> str:
    if indent is None:
        return "[ " + "; ".join(
            f"{quote_name(k)} = {_walk(v, old, None)}" for k, v in attrs) + " ]"
    pad = indent + 4
    inner = "\n" + " " * (pad + 4)
    body = "; ".join(f"{inner}{quote_name(k)} = {_walk(v, old, pad + 4)}" for k, v in attrs)
    return f"\n{' ' * pad}[{body}\n{' ' * pad}]"


def unparse(node: Node) -> str:
    """One-line new-syntax text of *node* (classad2's ``repr()``)."""
    return _walk(node, False, None)


def unparse_old(node: Node) -> str:
    """Old-syntax text of *node* (the right-hand side ``printOld`` writes)."""
    return _walk(node, True, None)


def unparse_pretty(node: Node, indent: int = 0) -> str:
    """The indented multi-line text classad2's ``str()`` prints."""
    return _walk(node, False, indent)


def unparse_record_items(attrs: Any, pretty: bool = False) -> str:
    """A record built from ``(name, node)`` pairs without making a node
    (the public ClassAd prints itself through this)."""
    return _record(attrs, False, 0 if pretty else None)

