"""The agent's configuration, in HTCondor's configuration language.

Operators who run HTCondor know its configuration files, and tools (the
console's ``param`` mapping, ``condor_config_val``-style scripts) expect its
rules, so the agent reads the same syntax instead of inventing one:

* ``NAME = value`` lines; names are case-insensitive (the spelling of the
  first definition is kept for display); the last definition wins;
* ``#`` starts a comment when it is the first non-blank character of a line
  (a ``#`` inside a value is part of the value, as in HTCondor);
* a line ending in ``\\`` continues on the next line;
* ``$(NAME)`` expands recursively when the value is *read*, so a later
  definition of ``NAME`` affects earlier users of it; ``$(NAME:default)``
  gives a default for an undefined name; ``$ENV(VAR)`` reads the
  environment; ``$$(...)`` is left alone (HTCondor expands it at match time);
  a definition that refers to its own name (``A = $(A) more``) sees the
  previous value, which is how HTCondor appends to a list;
* ``include : FILE`` reads another file (relative to the including one);
  ``include ifexist : FILE`` skips a missing one.  Command includes
  (``include : cmd |``) are refused: an agent that runs as root must not run
  programs named in a writable file.

Every variable the agent uses has a default in :data:`DEFAULTS` (with the
kind of value it must have), so the configuration file holds only what an
operator changed, and a value of the wrong kind is reported with its file
and line when the file is read, not when some role trips over it later.

:meth:`Config.set_raw` (the master's ``SetRawConfig``) rewrites only the line
that defines the variable (or appends one) and replaces the file atomically:
temporary file, ``fsync``, ``rename``, ``fsync`` of the directory, so a crash
leaves either the old file or the new one.

Thread safety: one lock guards the definitions; readers may call ``get`` from
any thread while the master reloads or sets a value.
"""

from __future__ import annotations

import getpass
import logging
import os
import platform
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar, overload

__all__ = [
    "Config",
    "ConfigError",
    "Param",
    "DEFAULTS",
    "CONFIG_FILE_NAME",
    "default_state_dir",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

CONFIG_FILE_NAME = "qmf-grid.conf"
"""The file read from the state directory when no ``--config`` is given."""

_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_NAME_RE = re.compile(rf"^{_NAME}$")
_ASSIGN_RE = re.compile(rf"^({_NAME})\s*=\s*(.*)$", re.DOTALL)
_INCLUDE_RE = re.compile(r"^include\s*(ifexist\s*)?:\s*(.*)$", re.IGNORECASE)
_MAX_INCLUDE_DEPTH = 10
_MAX_EXPANSION_DEPTH = 64
_MAX_VALUE = 1 << 20  # an expanded value larger than this is an error (A = $(B)$(B) chains)
_TRUE = frozenset({"true", "yes", "on", "t", "y", "1"})
_FALSE = frozenset({"false", "no", "off", "f", "n", "0"})


class ConfigError(ValueError):
    """The configuration is wrong; the text names the file, line and variable.

    ``source`` and ``line`` locate the definition when there is one.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        where = f"{source}:{line}: " if source is not None and line is not None else (
            f"{source}: " if source is not None else ""
        )
        super().__init__(f"{where}{message}")
        self.source = source
        self.line = line


def default_state_dir() -> Path:
    """``$QMF_STATE_DIR``, else ``~/.local/state/qmf-grid``."""
    env = os.environ.get("QMF_STATE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "state" / "qmf-grid"


# --- detected machine facts (cached: they do not change while we run) -------


@cache
def _hostname() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


@cache
def _full_hostname() -> str:
    name = socket.gethostname()
    if "." in name:
        return name
    try:
        fqdn = socket.getfqdn(name)
    except OSError:
        return name
    return fqdn if fqdn and not fqdn.startswith("localhost") else name


@cache
def _detected_memory_mib() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1024


def _free_disk_kib(path: str) -> int:
    """Free KiB on the file system holding *path* (or its nearest parent)."""
    probe = Path(path).expanduser()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free // 1024
    except OSError:
        return 0


def _arch() -> str:
    machine = platform.machine().upper()
    return {"AMD64": "X86_64", "ARM64": "AARCH64"}.get(machine, machine or "X86_64")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# --- the defaults ----------------------------------------------------------

Default = str | Callable[["Config"], str]


@dataclass(frozen=True, slots=True)
class Param:
    """A variable the agent uses: its default and the kind of value it takes.

    ``kind`` is one of ``"str"``, ``"int"``, ``"float"``, ``"bool"``,
    ``"list"`` (comma- or space-separated) or ``"expr"`` (ClassAd expression
    text, checked by the role that evaluates it).  A callable default is
    computed when read, so ``SLOT_MEMORY`` follows an operator's
    ``NUM_SLOTS``.
    """

    name: str
    default: Default
    kind: str
    doc: str


def _divide(total: str, parts: str) -> Callable[[Config], str]:
    def compute(config: Config) -> str:
        return str(config.get_int(total) // max(1, config.get_int(parts)))

    return compute


DEFAULTS: dict[str, Param] = {
    p.name: p
    for p in (
        # identity of the machine
        Param("HOSTNAME", lambda c: _hostname(), "str", "short host name"),
        Param("FULL_HOSTNAME", lambda c: _full_hostname(), "str", "fully qualified host name"),
        Param("USER", lambda c: _user(), "str", "the user the agent runs as"),
        Param("ARCH", lambda c: _arch(), "str", "machine architecture in slot ads"),
        Param("OPSYS", "LINUX", "str", "operating system in slot ads"),
        Param("LOCAL_DIR", lambda c: str(default_state_dir()), "str",
              "the state directory (queue, spool, job output); set by the agent"),
        Param("DETECTED_CPUS", lambda c: str(os.cpu_count() or 1), "int", "CPUs found"),
        Param("DETECTED_MEMORY", lambda c: str(_detected_memory_mib()), "int", "MiB of RAM found"),
        Param("NUM_CPUS", "$(DETECTED_CPUS)", "int", "CPUs the startd may use"),
        Param("MEMORY", "$(DETECTED_MEMORY)", "int", "MiB the startd may use"),
        Param("DISK", lambda c: str(_free_disk_kib(c.get("LOCAL_DIR") or "/")), "int",
              "KiB of disk the startd may use (free space under LOCAL_DIR)"),
        # the daemons and their names
        Param("DAEMON_LIST", "MASTER, COLLECTOR, STARTD, SCHEDD, NEGOTIATOR", "list",
              "roles the master starts, in this order (stopped in the reverse order)"),
        Param("CONDOR_HOST", "$(FULL_HOSTNAME)", "str", "the central manager's host"),
        Param("COLLECTOR_HOST", "$(CONDOR_HOST)", "str", "the pool's collector (the Pool property)"),
        Param("SCHEDD_NAME", "$(FULL_HOSTNAME)", "str",
              "scheduler name; also the agent's instance name"),
        Param("MASTER_NAME", "$(SCHEDD_NAME)", "str", "master object name"),
        Param("COLLECTOR_NAME", "$(SCHEDD_NAME)", "str", "collector object name"),
        Param("NEGOTIATOR_NAME", "$(SCHEDD_NAME)", "str", "negotiator object name"),
        # slots
        Param("NUM_SLOTS", "$(NUM_CPUS)", "int", "slots of the local startd"),
        Param("SLOT_CPUS", "1", "int", "CPUs per slot"),
        Param("SLOT_MEMORY", _divide("MEMORY", "NUM_SLOTS"), "int", "MiB per slot"),
        Param("SLOT_DISK", _divide("DISK", "NUM_SLOTS"), "int", "KiB per slot"),
        Param("START", "TRUE", "expr", "slot policy: may a job start"),
        Param("RANK", "0", "expr", "slot policy: which jobs a slot prefers"),
        Param("KILLING_TIMEOUT", "5", "float",
              "seconds between SIGTERM and SIGKILL when a job is stopped"),
        # scheduling
        Param("NEGOTIATOR_INTERVAL", "2", "float", "seconds between negotiation cycles"),
        Param("PERIODIC_EXPR_INTERVAL", "60", "float",
              "seconds between evaluations of PeriodicHold/Release/Remove"),
        Param("MAX_JOBS_RUNNING", "10000", "int", "most jobs running at once"),
        Param("ANONYMOUS_OWNER", "nobody", "str",
              "the Owner an anonymous caller acts as"),
        # the backend: what runs jobs
        Param("BACKEND", "local", "str",
              "local (this machine's slots) or slurm (an existing Slurm cluster)"),
        Param("SLURM_POLL_INTERVAL", "1", "float",
              "seconds between the Slurm backend's listings of all jobs (one squeue)"),
        Param("SLURM_RETRY_INTERVAL", "5", "float",
              "seconds between attempts while Slurm does not answer"),
        Param("SLURM_NODE_INTERVAL", "5", "float", "seconds between listings of Slurm's nodes"),
        Param("SLURM_PARTITION", "", "str", "partition jobs go to (empty: Slurm's default)"),
        Param("SLURM_JOBCOMP_LOG", "/var/log/slurm/jobcomp.log", "str",
              "Slurm's job-completion log (JobCompLoc): exit codes of finished jobs"),
        Param("SLURM_BIN_DIR", "", "str", "where sbatch, squeue... are (empty: PATH)"),
        Param("SLURM_TIMEOUT", "30", "float", "seconds a Slurm command may take"),
        Param("SLURM_ARRAY_LIMIT", "1000", "int", "most procs of one cluster per sbatch array"),
        Param("SLURM_SPARE_SBATCH", "true", "bool",
              "keep one sbatch started ahead of the next Submit (docs/slurm.md)"),
        Param("SLURM_RESTD_SOCKET", "", "str",
              "slurmrestd's Unix socket (rest_auth/local): Submits go through it, "
              "faster than sbatch (empty: sbatch only; docs/slurm.md)"),
        # collector
        Param("CLASSAD_LIFETIME", "900", "int",
              "seconds an advertised ad lives without an update"),
        Param("COLLECTOR_EXPIRY_INTERVAL", "60", "float",
              "seconds between sweeps that drop expired ads"),
        # the QMF agent
        Param("HEARTBEAT_INTERVAL", "10", "float", "seconds between agent heartbeats"),
        Param("QMF_UPDATE_INTERVAL", "5", "float",
              "seconds between data indications of changed objects"),
        Param("QMF_ADMINS", "root, $(USER)", "list",
              "identities allowed to control daemons and act on every job"),
        Param("QMF_ANONYMOUS_ADMIN", "auto", "str",
              "unauthenticated callers act as admins: true, false, or auto (when consoles "
              "reach the agent on a loopback address, as with a personal HTCondor)"),
        Param("QMF_SSL_CERTFILE", "", "str",
              "PEM certificate: the listener's for amqps://, or ours towards a broker"),
        Param("QMF_SSL_KEYFILE", "", "str", "PEM private key of QMF_SSL_CERTFILE"),
        Param("QMF_SSL_CAFILE", "", "str",
              "PEM CA: verify brokers, or ask consoles for certificates (SASL EXTERNAL)"),
        Param("QMF_SSL_VERIFY_PEER", "true", "bool", "check the peer's certificate"),
        Param("QMF_SASL_MECHANISMS", "", "str",
              "SASL mechanisms offered or used, space-separated (empty: proton's choice)"),
        Param("QMF_SASL_CONFIG_PATH", "", "str", "directory of Cyrus SASL's proton-server.conf"),
        Param("QMF_SASL_CONFIG_NAME", "", "str", "Cyrus SASL configuration name"),
        Param("QMF_ALLOW_ANONYMOUS", "auto", "str",
              "accept unauthenticated consoles: true, false, or auto (from loopback only)"),
        Param("QMF_REQUIRE_IDENTITY", "false", "bool",
              "refuse queries and method calls that carry no authenticated user id"),
        Param("QMF_MAX_MESSAGE_SIZE", "4194304", "int",
              "bytes a request's body may have; larger ones are refused (PARAMETER_INVALID)"),
        Param("QMF_MAX_IN_FLIGHT", "100", "int",
              "requests one console connection may have under way (0: no limit)"),
        Param("QMF_MAX_SUBMITS_PER_SECOND", "0", "float",
              "Submit calls per user per second (0: no limit)"),
        Param("QMF_AUDIT_LOG", "audit.log", "str",
              "the audit log (relative to the state directory; empty: only the log stream)"),
        Param("SHUTDOWN_TIMEOUT", "8", "float",
              "seconds a graceful shutdown may take before jobs are left to recovery"),
    )
}


# --- parsing ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Definition:
    name: str  # spelling as written
    raw: str
    source: str
    line: int


def _logical_lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(first line, last line, text) of each logical line, continuations joined."""
    pending: list[str] = []
    first = 0
    for number, physical in enumerate(text.splitlines(), start=1):
        if not pending:
            first = number
        stripped = physical.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(physical)
        yield first, number, "".join(pending)
        pending = []
    if pending:
        yield first, first + len(pending) - 1, "".join(pending)


def _find_close(text: str, start: int) -> int:
    """Index of the ``)`` matching the ``(`` just before *start*, or -1."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _substitute(
    text: str, lookup: Callable[[str, str | None], str], env: Callable[[str], str]
) -> str:
    """Replace each ``$(NAME[:default])`` and ``$ENV(VAR)`` in *text*.

    ``lookup(name, default)`` answers a reference; ``$$(...)`` is copied.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        if text.startswith("$$(", j):
            close = _find_close(text, j + 3)
            end = len(text) if close < 0 else close + 1
            out.append(text[j:end])
            i = end
            continue
        is_env = text[j + 1 : j + 5].upper() == "ENV("
        opener = j + 5 if is_env else j + 2
        if not (is_env or text.startswith("$(", j)):
            out.append("$")
            i = j + 1
            continue
        close = _find_close(text, opener)
        if close < 0:
            raise ValueError(f"unbalanced parenthesis in {text[j:]!r}")
        body = text[opener:close]
        if is_env:
            out.append(env(body.strip()))
        else:
            name, sep, default = body.partition(":")
            name = name.strip()
            if not _NAME_RE.match(name):
                raise ValueError(f"bad macro name {name!r} in $({body})")
            out.append(lookup(name, default if sep else None))
        i = close + 1
    return "".join(out)


def _parse_file(
    path: Path, defs: dict[str, _Definition], depth: int = 0, *, missing_ok: bool = False
) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return
        raise ConfigError("configuration file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file: {exc}", source=str(path)) from None
    _parse_text(text, str(path), defs, depth, base=path.parent)


def _parse_text(
    text: str, source: str, defs: dict[str, _Definition], depth: int = 0, *, base: Path | None = None
) -> None:
    for first, _last, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        include = _INCLUDE_RE.match(stripped)
        if include:
            _include(include, source, first, defs, depth, base)
            continue
        match = _ASSIGN_RE.match(stripped)
        if not match:
            raise ConfigError(
                f"expected NAME = value, got {_excerpt(stripped)}", source=source, line=first
            )
        name, raw = match.group(1), match.group(2).strip()
        previous = defs.get(name.upper())
        if "$(" in raw:
            raw = _resolve_self_reference(name, raw, previous, source, first)
        spelling = previous.name if previous else name
        defs[name.upper()] = _Definition(spelling, raw, source, first)


def _resolve_self_reference(
    name: str, raw: str, previous: _Definition | None, source: str, line: int
) -> str:
    """Replace ``$(NAME)`` inside NAME's own definition by the previous value."""
    upper = name.upper()
    prior = previous.raw if previous else _default_raw(upper)

    def lookup(ref: str, default: str | None) -> str:
        if ref.upper() != upper:
            return f"$({ref}:{default})" if default is not None else f"$({ref})"
        if prior is not None:
            return prior
        return default or ""

    try:
        return _substitute(raw, lookup, lambda var: f"$ENV({var})")
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}", source=source, line=line) from None


def _default_raw(upper: str) -> str | None:
    param = DEFAULTS.get(upper)
    if param is None or callable(param.default):
        return None
    return param.default


def _include(
    match: re.Match[str],
    source: str,
    line: int,
    defs: dict[str, _Definition],
    depth: int,
    base: Path | None,
) -> None:
    target = match.group(2).strip()
    if target.endswith("|"):
        raise ConfigError(
            "command includes ('include : cmd |') are not supported", source=source, line=line
        )
    if not target:
        raise ConfigError("include needs a file name", source=source, line=line)
    if depth >= _MAX_INCLUDE_DEPTH:
        raise ConfigError(
            f"includes nested deeper than {_MAX_INCLUDE_DEPTH} (a loop?)", source=source, line=line
        )
    try:
        target = _substitute(
            target, lambda n, d: _expand_defs(defs, n, d), lambda v: os.environ.get(v, "")
        )
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"include: {exc}", source=source, line=line) from None
    path = Path(target).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    _parse_file(path, defs, depth + 1, missing_ok=bool(match.group(1)))


def _expand_defs(defs: dict[str, _Definition], name: str, default: str | None) -> str:
    """Expansion against definitions read so far (for include paths)."""
    found = defs.get(name.upper())
    if found is not None:
        return found.raw
    return default if default is not None else (_default_raw(name.upper()) or "")


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _split_list(value: str) -> list[str]:
    return [item for item in re.split(r"[,\s]+", value.strip()) if item]


# --- the configuration -----------------------------------------------------


class Config(Mapping[str, str]):
    """The agent's configuration: defaults, one file (and its includes), overrides.

    It is a read-only mapping of every name with a value to its expanded
    value (``config["NUM_SLOTS"]``, ``"START" in config``), so a role can
    take any ``Mapping[str, str]`` in ``reconfig``; the typed getters say
    what they expect.

    *path* may name a file that does not exist yet: the defaults apply and
    :meth:`set_raw` creates it.  *overrides* (from the command line, e.g.
    ``--name``) win over the file, survive :meth:`reload`, and are never
    written back.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        overrides: dict[str, str] | None = None,
        text: str | None = None,
    ) -> None:
        self._path = Path(path) if path is not None else None
        self._text = text
        self._lock = threading.RLock()
        self._overrides: dict[str, _Definition] = {}
        for name, value in (overrides or {}).items():
            self._check_name(name)
            self._overrides[name.upper()] = _Definition(name, str(value), "<override>", 0)
        self._defs: dict[str, _Definition] = {}
        self.reload()

    @classmethod
    def from_text(cls, text: str, *, overrides: dict[str, str] | None = None) -> Config:
        """A configuration read from *text* (tests, embedded use); not writable."""
        return cls(None, overrides=overrides, text=text)

    @property
    def path(self) -> Path | None:
        """The file this configuration was read from and writes back to."""
        return self._path

    # -- reading -------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the file; on any error the previous values stay in force."""
        defs: dict[str, _Definition] = {}
        if self._text is not None:
            _parse_text(self._text, "<text>", defs)
        elif self._path is not None:
            _parse_file(self._path, defs, missing_ok=True)
        defs.update(self._overrides)
        self._validate(defs)
        with self._lock:
            self._defs = defs
        log.debug("configuration read from %s: %d definitions", self._path or "<text>", len(defs))

    def _validate(self, defs: dict[str, _Definition]) -> None:
        """Check every typed variable the file defines expands to its kind."""
        memo: dict[str, str | None] = {}
        for upper, definition in defs.items():
            param = DEFAULTS.get(upper)
            try:
                value = self._expand(defs, upper, [], memo)
                if param is not None and value is not None:
                    _convert(value, param.kind)
            except ValueError as exc:
                raise ConfigError(
                    f"{definition.name}: {exc}", source=definition.source, line=definition.line
                ) from None

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, /, default: str | _T) -> str | _T: ...

    def get(self, name: str, /, default: object = None) -> object:
        """The expanded value of *name*, else *default*, else ``None``."""
        with self._lock:
            defs = self._defs
        try:
            value = self._expand(defs, name.upper(), [])
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        return default if value is None else value

    def get_raw(self, name: str) -> str | None:
        """The value of *name* as written (macros unexpanded), or ``None``."""
        with self._lock:
            found = self._defs.get(name.upper())
        if found is not None:
            return found.raw
        param = DEFAULTS.get(name.upper())
        if param is None:
            return None
        return param.default if isinstance(param.default, str) else param.default(self)

    def where(self, name: str) -> str | None:
        """``file:line`` of the definition in force, ``None`` for a default."""
        with self._lock:
            found = self._defs.get(name.upper())
        return None if found is None else f"{found.source}:{found.line}"

    def _typed(self, name: str, kind: str, default: object) -> object:
        value = self.get(name)
        if value is None:
            if default is None:
                raise ConfigError(f"{name} is not defined")
            return default
        try:
            return _convert(value, kind)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def get_int(self, name: str, default: int | None = None) -> int:
        """*name* as an integer (``ConfigError`` if it is not one)."""
        value = self._typed(name, "int", default)
        assert isinstance(value, int)
        return value

    def get_float(self, name: str, default: float | None = None) -> float:
        """*name* as a number."""
        value = self._typed(name, "float", default)
        assert isinstance(value, (int, float))
        return float(value)

    def get_bool(self, name: str, default: bool | None = None) -> bool:
        """*name* as a boolean (true/false, yes/no, on/off, 1/0)."""
        value = self._typed(name, "bool", default)
        assert isinstance(value, bool)
        return value

    def get_list(self, name: str, default: list[str] | None = None) -> list[str]:
        """*name* split on commas and white space."""
        value = self._typed(name, "list", default)
        assert isinstance(value, list)
        return value

    def names(self) -> list[str]:
        """Every variable with a value: defaults and definitions, sorted."""
        with self._lock:
            spelled = {upper: d.name for upper, d in self._defs.items()}
        for upper in DEFAULTS:
            spelled.setdefault(upper, upper)
        return sorted(spelled.values(), key=str.upper)

    def as_dict(self) -> dict[str, str]:
        """Every variable's expanded value (what ``GetConfig`` answers)."""
        return {name: self.get(name) or "" for name in self.names()}

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self._lock:
            return name.upper() in self._defs or name.upper() in DEFAULTS

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def _expand(
        self,
        defs: dict[str, _Definition],
        upper: str,
        stack: list[str],
        memo: dict[str, str | None] | None = None,
    ) -> str | None:
        """*upper*'s value with macros expanded; *memo* shares the values
        already expanded in one pass, so ``A = $(B)$(B)`` chains cost
        linear time, not exponential."""
        if memo is None:
            memo = {}
        elif upper in memo:
            return memo[upper]
        if upper in stack:
            chain = " -> ".join([*stack, upper])
            raise ValueError(f"macro expands into itself ({chain})")
        if len(stack) > _MAX_EXPANSION_DEPTH:
            raise ValueError("macro expansion nested too deeply")
        found = defs.get(upper)
        if found is not None:
            raw = found.raw
        else:
            param = DEFAULTS.get(upper)
            if param is None:
                return None
            raw = param.default if isinstance(param.default, str) else param.default(self)
        if "$" not in raw:
            return raw
        inner = [*stack, upper]

        def lookup(name: str, default: str | None) -> str:
            value = self._expand(defs, name.upper(), inner, memo)
            if value is not None:
                return value
            if default is not None:
                return _substitute(default, lookup, _env)
            return ""

        value = _substitute(raw, lookup, _env)
        if len(value) > _MAX_VALUE:
            raise ValueError(f"expands to more than {_MAX_VALUE} characters")
        memo[upper] = value
        return value

    # -- writing -------------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        """Override *name* in memory only (as the command line does)."""
        self._check_name(name)
        definition = _Definition(name, str(value), "<override>", 0)
        with self._lock:
            self._overrides[name.upper()] = definition
            defs = dict(self._defs)
            defs[name.upper()] = definition
            self._validate(defs)
            self._defs = defs

    def set_raw(self, name: str, value: str) -> None:
        """Define *name* = *value* in the configuration file, durably.

        Only the line that defines *name* in the main file changes (or one
        line is appended); the file is replaced atomically.  The new value
        is in force at once for :meth:`get`; roles apply it on reconfig.
        Raises :class:`ConfigError` for a bad name or value, or when this
        configuration has no file.
        """
        self._check_name(name)
        if "\n" in value or "\r" in value:
            raise ConfigError(f"{name}: a value must be a single line")
        value = value.strip()
        if value.endswith("\\"):
            raise ConfigError(f"{name}: a value may not end with a backslash (line continuation)")
        if self._path is None:
            raise ConfigError("this configuration was not read from a file; cannot write it")
        with self._lock:
            candidate = dict(self._defs)
            upper = name.upper()
            if upper in self._overrides:
                raise ConfigError(
                    f"{name} is set by the agent or on its command line; "
                    "a value in the file would not apply"
                )
            previous = candidate.get(upper)
            raw = _resolve_self_reference(name, value, previous, str(self._path), 0)
            spelling = previous.name if previous else name
            candidate[upper] = _Definition(spelling, raw, str(self._path), 0)
            self._validate(candidate)
            line = self._rewrite(name, value)
            candidate[upper] = _Definition(spelling, raw, str(self._path), line)
            self._defs = candidate
        log.info("configuration: %s = %s written to %s:%d", name, value, self._path, line)

    def _rewrite(self, name: str, value: str) -> int:
        """Replace (or append) *name*'s line in the main file; its line number."""
        assert self._path is not None
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {self._path}: {exc}") from None
        lines = text.splitlines()
        span: tuple[int, int] | None = None
        spelling = name
        for first, last, logical in _logical_lines(text):
            match = _ASSIGN_RE.match(logical.strip())
            if match and match.group(1).upper() == name.upper():
                span, spelling = (first, last), match.group(1)
        new_line = f"{spelling} = {value}"
        if span is None:
            lines.append(new_line)
            number = len(lines)
        else:
            lines[span[0] - 1 : span[1]] = [new_line]
            number = span[0]
        _atomic_write(self._path, "\n".join(lines) + "\n")
        return number

    @staticmethod
    def _check_name(name: str) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(
                f"bad variable name {name!r}: letters, digits, '_' and '.', not starting with a digit"
            )


def _env(var: str) -> str:
    return os.environ.get(var, "")


def _convert(value: str, kind: str) -> object:
    text = value.strip()
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if kind == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind == "list":
        return _split_list(text)
    return text


def _atomic_write(path: Path, text: str) -> None:
    """Write *text* to *path* so that a crash leaves the old or the new file."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from None
