"""The managed model as data: classes, properties, statistics, methods, events.

:meth:`Schema.load` reads ``mrg.grid.json`` (package data of
``qmf_agent.schemas``) once; the agent answers SCHEMA queries from it and
validates every method's arguments against it before a binding sees them,
so bindings receive complete, correctly typed arguments and never parse
wire values themselves.  Validation converts in one place
(:meth:`Method.validate`) and fails with one error type,
:class:`~qmf_agent.errors.ParameterInvalid`, whose text names the argument
and what was expected.

Class, method and argument names are matched case-insensitively (the
ClassAd world is case-insensitive and consoles of two generations spell
them differently); what the binding sees is always the schema's spelling.

The document (``schemas/mrg.grid.json``)::

    {"package": "mrg.grid", "desc": "...",
     "groups": {"daemon": {"properties": [...], "statistics": [...]}},
     "common_methods": [echo],                  # added to every class
     "classes": {"job": {"desc": "...", "groups": ["daemon"]?,
                         "properties": [{"name", "type", "access"?, "desc",
                                         "unit"?, "index"?, "optional"?}],
                         "statistics": [{"name", "type", "desc", "unit"?}],
                         "methods": [{"name", "desc", "idempotent"?, "arguments": [
                             {"name", "type", "dir": "I"|"O"|"IO", "desc",
                              "default"?, "optional"?}]}]}},
     "events": {"JobHeld": {"desc", "severity": 0..7, "properties": [...]}}}

Types are the protocol's (:data:`TYPES`).  An in argument without a
default and not ``optional`` is required; an optional one without a
default is simply absent from what the binding receives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from qmf_agent._wire_kind import wire_kind
from qmf_agent.errors import ParameterInvalid

__all__ = [
    "TYPES",
    "Property",
    "Argument",
    "Method",
    "SchemaClass",
    "Schema",
    "SchemaError",
    "coerce",
]

log = logging.getLogger(__name__)

_INT_RANGES: dict[str, tuple[int, int]] = {
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "absTime": (-(2**63), 2**63 - 1),
    "deltaTime": (-(2**63), 2**63 - 1),
}
TYPES = frozenset(
    {"sstr", "lstr", "bool", "float", "double", "uuid", "map", "list", "objId", *_INT_RANGES}
)
_SSTR_MAX = 255  # bytes of UTF-8, as in QMF's short string
_ACCESS = frozenset({"RO", "RC", "RW"})
_DIRS = frozenset({"I", "O", "IO"})
_MISSING: Any = object()
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class SchemaError(ValueError):
    """The schema file itself is malformed (a packaging bug, not bad input)."""


def coerce(type_name: str, value: Any, what: str) -> Any:
    """*value* converted to the wire type *type_name*, or ParameterInvalid.

    Sensible conversions only: numbers from integral floats and numeric
    strings, booleans from 0/1 and yes/no words, strings from numbers; a map
    is never a string and a string never a list.  *what* names the value in
    the error text (``"argument Count of Submit"``).
    """

    def refuse(expected: str) -> ParameterInvalid:
        return ParameterInvalid(f"{what} must be {expected}, not {wire_kind(value)} ({value!r:.60})")

    if type_name in ("sstr", "lstr"):
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            raise refuse("a string")
        if type_name == "sstr" and len(text.encode("utf-8", "surrogatepass")) > _SSTR_MAX:
            raise ParameterInvalid(f"{what} is too long: at most {_SSTR_MAX} bytes")
        return text
    if type_name in _INT_RANGES:
        low, high = _INT_RANGES[type_name]
        number: Any = value
        if isinstance(value, bool):
            raise refuse("an integer")
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value):
                raise refuse("an integer")
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.strip(), 0)
            except ValueError:
                raise refuse("an integer") from None
        elif not isinstance(value, int):
            raise refuse("an integer")
        if not low <= number <= high:
            raise ParameterInvalid(f"{what} must be between {low} and {high}, got {number}")
        return number
    if type_name in ("float", "double"):
        if isinstance(value, bool):
            raise refuse("a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise refuse("a number") from None
        raise refuse("a number")
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise refuse("a boolean (true or false)")
    if type_name == "map":
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            return dict(value)
        raise refuse("a map with string keys")
    if type_name == "list":
        if isinstance(value, (list, tuple)):
            return list(value)
        raise refuse("a list")
    if type_name == "uuid":
        try:
            if isinstance(value, (bytes, bytearray)) and len(value) == 16:
                return str(uuid.UUID(bytes=bytes(value)))
            if isinstance(value, (str, uuid.UUID)):
                return str(uuid.UUID(str(value)))
        except ValueError:
            pass
        raise refuse("a UUID")
    if type_name == "objId":
        if isinstance(value, str) and value:
            return {"_object_name": value}
        if isinstance(value, Mapping) and isinstance(value.get("_object_name"), str):
            return dict(value)
        raise refuse("an object id (a map with _object_name, or an object name)")
    raise SchemaError(f"unknown schema type {type_name!r}")  # pragma: no cover - load() checks


def _req(raw: Mapping[str, Any], name: str, where: str, kind: type | tuple[type, ...]) -> Any:
    value = raw.get(name)
    if not isinstance(value, kind):
        raise SchemaError(f"{where}: {name} missing or of the wrong type")
    return value


@dataclass(frozen=True, slots=True)
class Property:
    """A property or statistic of a class (or a value of an event)."""

    name: str
    type: str
    desc: str = ""
    access: str = "RO"
    unit: str | None = None
    index: bool = False
    optional: bool = False

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str) -> Property:
        name = _req(raw, "name", where, str)
        type_name = _req(raw, "type", f"{where}.{name}", str)
        if type_name not in TYPES:
            raise SchemaError(f"{where}.{name}: unknown type {type_name!r}")
        access = raw.get("access", "RO")
        if access not in _ACCESS:
            raise SchemaError(f"{where}.{name}: access must be RO, RC or RW")
        return cls(
            name=name,
            type=type_name,
            desc=str(raw.get("desc", "")),
            access=access,
            unit=raw.get("unit"),
            index=bool(raw.get("index", False)),
            optional=bool(raw.get("optional", False)),
        )

    def to_wire(self, *, statistic: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"_name": self.name, "_type": self.type, "_desc": self.desc}
        if not statistic:
            out["_access"] = self.access
        if self.unit:
            out["_unit"] = self.unit
        if self.index:
            out["_index"] = True
        if self.optional:
            out["_optional"] = True
        return out


@dataclass(frozen=True, slots=True)
class Argument:
    """A method argument; ``dir`` is I, O or IO."""

    name: str
    type: str
    dir: str
    desc: str = ""
    default: Any = _MISSING
    optional: bool = False

    @property
    def is_in(self) -> bool:
        return "I" in self.dir

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str) -> Argument:
        name = _req(raw, "name", where, str)
        type_name = _req(raw, "type", f"{where}.{name}", str)
        if type_name not in TYPES:
            raise SchemaError(f"{where}.{name}: unknown type {type_name!r}")
        direction = raw.get("dir", "I")
        if direction not in _DIRS:
            raise SchemaError(f"{where}.{name}: dir must be I, O or IO")
        default = raw["default"] if "default" in raw else _MISSING
        if default is not _MISSING:
            default = coerce(type_name, default, f"{where}.{name} default")
        return cls(
            name=name,
            type=type_name,
            dir=direction,
            desc=str(raw.get("desc", "")),
            default=default,
            optional=bool(raw.get("optional", False)),
        )

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_name": self.name,
            "_type": self.type,
            "_dir": self.dir,
            "_desc": self.desc,
        }
        if self.has_default:
            out["_default"] = self.default
        if self.optional:
            out["_optional"] = True
        return out


@dataclass(frozen=True, slots=True)
class Method:
    """A method of a class, with the one validation routine for its arguments."""

    name: str
    desc: str
    arguments: tuple[Argument, ...]
    owner: str = ""
    idempotent: bool = False
    """Safe to send again when its answer is lost: it changes nothing, or the
    agent recognises a second copy (a Submit's request id, a spool chunk's
    offset).  Consoles re-send only these after a dropped connection."""
    _by_lower: dict[str, Argument] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], owner: str) -> Method:
        name = _req(raw, "name", owner, str)
        args = tuple(
            Argument.from_json(a, f"{owner}.{name}")
            for a in _req(raw, "arguments", f"{owner}.{name}", list)
        )
        by_lower = {a.name.lower(): a for a in args}
        if len(by_lower) != len(args):
            raise SchemaError(f"{owner}.{name}: two arguments with the same name")
        idempotent = raw.get("idempotent", False)
        if type(idempotent) is not bool:
            raise SchemaError(f"{owner}.{name}: idempotent must be true or false")
        return cls(name, str(raw.get("desc", "")), args, owner, idempotent, by_lower)

    @property
    def in_arguments(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.is_in)

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """The in arguments, coerced, with defaults filled, by schema name.

        Out-only arguments a console sends along are ignored (some consoles
        send every argument); an unknown name, a missing required argument
        or a value of the wrong type is refused with ParameterInvalid.
        """
        if not isinstance(args, Mapping):
            raise ParameterInvalid(f"{self.name}: the arguments must be a map, not {wire_kind(args)}")
        out: dict[str, Any] = {}
        for key, value in args.items():
            arg = self._by_lower.get(key.lower()) if isinstance(key, str) else None
            if arg is None:
                expected = ", ".join(a.name for a in self.in_arguments) or "no arguments"
                raise ParameterInvalid(
                    f"{self.name}: unknown argument {key!r} (it takes {expected})"
                )
            if not arg.is_in:
                log.debug(
                    "%s: ignoring out-only argument %s sent by the caller", self.name, arg.name
                )
                continue
            if arg.name in out:
                raise ParameterInvalid(f"{self.name}: argument {arg.name} given twice")
            if value is None and (arg.optional or arg.has_default):
                continue
            out[arg.name] = coerce(arg.type, value, f"argument {arg.name} of {self.name}")
        for arg in self.arguments:
            if not arg.is_in or arg.name in out:
                continue
            if arg.has_default:
                default = arg.default
                out[arg.name] = (
                    list(default)
                    if isinstance(default, list)
                    else (dict(default) if isinstance(default, dict) else default)
                )
            elif not arg.optional:
                raise ParameterInvalid(
                    f"{self.name}: missing argument {arg.name} ({arg.type}: {arg.desc})"
                )
        return out

    def to_wire(self) -> dict[str, Any]:
        return {
            "_name": self.name,
            "_desc": self.desc,
            "_arguments": [a.to_wire() for a in self.arguments],
        }


@dataclass(frozen=True, slots=True)
class SchemaClass:
    """A data class (``_data``) or event class (``_event``) of the package."""

    package: str
    name: str
    kind: str
    desc: str
    properties: tuple[Property, ...]
    statistics: tuple[Property, ...]
    methods: tuple[Method, ...]
    severity: int = 6
    hash: str = ""
    _methods_lower: dict[str, Method] = field(default_factory=dict, compare=False, repr=False)
    _names_lower: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_event(self) -> bool:
        return self.kind == "_event"

    @property
    def schema_id(self) -> dict[str, Any]:
        """The SCHEMA_ID map (a fresh copy: callers may put it in a message)."""
        return {
            "_package_name": self.package,
            "_class_name": self.name,
            "_type": self.kind,
            "_hash": self.hash,
        }

    def method(self, name: str) -> Method | None:
        """The method called *name*, any case."""
        return self._methods_lower.get(name.lower())

    def attribute_name(self, name: str) -> str:
        """The schema's spelling of property or statistic *name*, else *name*."""
        return self._names_lower.get(name.lower(), name)

    def to_wire(self) -> dict[str, Any]:
        """The SCHEMA map sent in answer to a SCHEMA query."""
        out: dict[str, Any] = {
            "_schema_id": self.schema_id,
            "_desc": self.desc,
            "_properties": [p.to_wire() for p in self.properties],
        }
        if self.is_event:
            out["_severity"] = self.severity
        else:
            out["_statistics"] = [s.to_wire(statistic=True) for s in self.statistics]
            out["_methods"] = [m.to_wire() for m in self.methods]
        return out


def _stable_hash(canonical: Any) -> str:
    """A UUID-shaped digest of *canonical*'s JSON: same schema, same hash."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return str(uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16]))


def _build_class(
    package: str,
    name: str,
    kind: str,
    desc: str,
    properties: tuple[Property, ...],
    statistics: tuple[Property, ...],
    methods: tuple[Method, ...],
    severity: int,
) -> SchemaClass:
    names = [p.name for p in properties] + [s.name for s in statistics]
    lowered = {n.lower(): n for n in names}
    if len(lowered) != len(names):
        raise SchemaError(f"{name}: two properties or statistics with the same name")
    methods_lower = {m.name.lower(): m for m in methods}
    if len(methods_lower) != len(methods):
        raise SchemaError(f"{name}: two methods with the same name")
    draft = SchemaClass(package, name, kind, desc, properties, statistics, methods, severity)
    canonical = draft.to_wire()
    canonical["_schema_id"].pop("_hash")
    return SchemaClass(
        package,
        name,
        kind,
        desc,
        properties,
        statistics,
        methods,
        severity,
        _stable_hash(canonical),
        methods_lower,
        lowered,
    )


class Schema:
    """One package's classes and events, looked up case-insensitively."""

    def __init__(self, package: str, classes: list[SchemaClass], desc: str = "") -> None:
        self.package = package
        self.desc = desc
        self._data: dict[str, SchemaClass] = {}
        self._events: dict[str, SchemaClass] = {}
        for cls in classes:
            table = self._events if cls.is_event else self._data
            if cls.name.lower() in table:
                raise SchemaError(f"class {cls.name} defined twice")
            table[cls.name.lower()] = cls

    @classmethod
    def load(cls, resource: str = "mrg.grid.json") -> Schema:
        """The schema shipped as package data (parsed once per process)."""
        return _load_packaged(resource)

    @classmethod
    def from_json(cls, doc: Any) -> Schema:
        """Build a schema from the parsed JSON document (see schemas/mrg.grid.json)."""
        if not isinstance(doc, Mapping):
            raise SchemaError("a schema document is a JSON object")
        package = _req(doc, "package", "schema", str)
        groups = doc.get("groups", {})
        common = tuple(Method.from_json(m, "*") for m in doc.get("common_methods", []))
        classes: list[SchemaClass] = []
        for name, raw in _req(doc, "classes", "schema", dict).items():
            props: list[Property] = []
            stats: list[Property] = []
            for group in raw.get("groups", []):
                if group not in groups:
                    raise SchemaError(f"{name}: unknown group {group!r}")
                props += [Property.from_json(p, name) for p in groups[group].get("properties", [])]
                stats += [Property.from_json(s, name) for s in groups[group].get("statistics", [])]
            props = [Property.from_json(p, name) for p in raw.get("properties", [])] + props
            stats = [Property.from_json(s, name) for s in raw.get("statistics", [])] + stats
            methods = tuple(Method.from_json(m, name) for m in raw.get("methods", []))
            own = {m.name.lower() for m in methods}
            methods += tuple(m for m in common if m.name.lower() not in own)
            classes.append(
                _build_class(
                    package,
                    name,
                    "_data",
                    str(raw.get("desc", "")),
                    tuple(props),
                    tuple(stats),
                    methods,
                    6,
                )
            )
        for name, raw in doc.get("events", {}).items():
            severity = raw.get("severity", 6)
            if not isinstance(severity, int) or not 0 <= severity <= 7:
                raise SchemaError(f"event {name}: severity must be 0..7")
            classes.append(
                _build_class(
                    package,
                    name,
                    "_event",
                    str(raw.get("desc", "")),
                    tuple(Property.from_json(p, name) for p in raw.get("properties", [])),
                    (),
                    (),
                    severity,
                )
            )
        return cls(package, classes, str(doc.get("desc", "")))

    def get_class(self, name: str) -> SchemaClass | None:
        """The data class called *name*, any case."""
        return self._data.get(name.lower())

    def get_event(self, name: str) -> SchemaClass | None:
        """The event class called *name*, any case."""
        return self._events.get(name.lower())

    def is_idempotent(self, method: str, class_name: str | None = None) -> bool:
        """Whether *method* of *class_name* may be sent again after a lost
        answer (:attr:`Method.idempotent`).  Without a known class, only a
        method that is idempotent in every class that has one of that name."""
        cls = self.get_class(class_name) if class_name else None
        owners = [cls] if cls is not None else self.classes
        found = [m for c in owners if (m := c.method(method)) is not None]
        return bool(found) and all(m.idempotent for m in found)

    @property
    def classes(self) -> list[SchemaClass]:
        return list(self._data.values())

    @property
    def events(self) -> list[SchemaClass]:
        return list(self._events.values())

    def __iter__(self) -> Iterator[SchemaClass]:
        yield from self._data.values()
        yield from self._events.values()

    def select(
        self,
        *,
        class_name: str | None = None,
        package: str | None = None,
        kind: str | None = None,
        hash: str | None = None,
    ) -> list[SchemaClass]:
        """The classes a (partial) SCHEMA_ID names; missing fields match all."""
        if package is not None and package.lower() != self.package.lower():
            return []
        found: list[SchemaClass] = []
        for cls in self:
            if class_name is not None and cls.name.lower() != class_name.lower():
                continue
            if kind is not None and cls.kind != kind:
                continue
            if hash is not None and cls.hash != hash:
                continue
            found.append(cls)
        return found


@cache
def _load_packaged(resource: str) -> Schema:
    return Schema.from_json(json.loads(_read_packaged(resource)))


def _read_packaged(resource: str) -> str:
    """The text of package data *resource* of ``qmf_agent.schemas``.

    importlib.resources cannot read a namespace package whose path holds a
    non-directory entry (what an editable install made before the package
    had an ``__init__`` leaves behind); the package's own directories are
    then read directly.
    """
    try:
        return resources.files("qmf_agent.schemas").joinpath(resource).read_text(encoding="utf-8")
    except (NotADirectoryError, FileNotFoundError):
        import qmf_agent.schemas as package

        for entry in getattr(package, "__path__", ()):
            candidate = Path(entry) / resource
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8")
        raise
