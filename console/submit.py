"""Submit descriptions: the language condor_submit reads, turned into job ads.

A submit description is a small script: ``key = value`` commands set
macros, and each ``queue`` statement emits jobs from the commands set so
far.  :class:`Submit` parses it once (errors name the line) and produces
concrete job ads, as ``condor_submit -dump`` shows them: :meth:`Submit.jobs`
gives one ClassAd per job for a given cluster id.

:meth:`console.Schedd.submit` queues a whole description in ONE Submit
request (one durable transaction at the agent): :meth:`Submit.submit_ads`
gives the cluster ad (the first job's) and, per job, the attributes in
which it differs -- ``output = out.$(Process)``, queue items -- as
literals, which is what condor_submit writes into each job too.  The agent
assigns the cluster id, so a value made with ``$(Cluster)`` cannot be a
literal yet: it is sent as a ClassAd expression over ``ClusterId``
(``out.$(Cluster)`` becomes ``strcat("out.", ClusterId)``), which the
scheduler evaluates per job when it runs it.

Commands that are not submit commands are plain macros (usable as
``$(name)``), as in condor_submit.  ``+Attr = expr`` and ``MY.Attr = expr``
put a ClassAd expression in the ad verbatim.
"""

from __future__ import annotations

import fnmatch
import getpass
import glob
import logging
import os
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import classad

__all__ = ["Submit", "SubmitError", "QueueStatement"]

log = logging.getLogger(__name__)

_MAX_DEPTH = 32

UNIVERSES = {
    "standard": 1,
    "vanilla": 5,
    "scheduler": 7,
    "grid": 9,
    "java": 10,
    "parallel": 11,
    "local": 12,
    "vm": 13,
    "docker": 5,
    "container": 5,
}

# Submit commands whose value becomes a string attribute.
_STRING_COMMANDS = {
    "input": "In",
    "output": "Out",
    "error": "Err",
    "log": "UserLog",
    "transfer_input_files": "TransferInput",
    "transfer_output_files": "TransferOutput",
    "accounting_group": "AcctGroup",
    "accounting_group_user": "AcctGroupUser",
    "batch_name": "JobBatchName",
    "description": "JobDescription",
    "submission": "Submission",
    "customid": "CustomId",
}
# Submit commands whose value is a ClassAd expression.
_EXPR_COMMANDS = {
    "requirements": "Requirements",
    "rank": "Rank",
    "priority": "JobPrio",
    "periodic_hold": "PeriodicHold",
    "periodic_release": "PeriodicRelease",
    "periodic_remove": "PeriodicRemove",
    "on_exit_hold": "OnExitHold",
    "on_exit_remove": "OnExitRemove",
    "max_retries": "MaxRetries",
    "request_gpus": "RequestGpus",
    "nice_user": "NiceUser",
}
_UPPER_COMMANDS = {
    "should_transfer_files": "ShouldTransferFiles",
    "when_to_transfer_output": "WhenToTransferOutput",
}
_SPECIAL_COMMANDS = {
    "executable", "arguments", "universe", "initialdir", "request_cpus",
    "request_memory", "request_disk", "environment", "getenv", "notification",
    "hold", "queue",
}
_NOTIFICATION = {"never": 0, "always": 1, "complete": 2, "error": 3}
_UNIT = {"": 1, "b": 1 / 1024, "k": 1, "kb": 1, "m": 1024, "mb": 1024,
         "g": 1024**2, "gb": 1024**2, "t": 1024**3, "tb": 1024**3}


class SubmitError(ValueError):
    """A submit description is wrong; ``line`` is its 1-based line (0 if
    the error is not tied to a line)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.reason = message


@dataclass
class QueueStatement:
    """One ``queue`` statement and the commands in force when it was read."""

    count: int
    variables: list[str]
    items: list[str] | None  # the item list of ``in (...)`` / ``from (...)``; None: no items
    commands: dict[str, tuple[str, int, str]]  # lower-case name -> (value, line, name as written)
    line: int = 0
    from_file: str | None = None  # ``queue ... from FILE``
    matching: str | None = None   # ``queue ... matching [files|dirs] GLOB...``


class Submit(MutableMapping[str, str]):
    """A parsed submit description.

    ``Submit(text)`` parses a description; ``Submit({"executable": ...})``
    or ``Submit(executable=...)`` builds one from commands (queue 1).
    As a mapping it holds the commands (keys case-insensitive).  Reading a
    description does not read the disk: ``queue ... from file`` and
    ``matching`` are resolved when jobs are produced, relative to
    ``base_dir`` (the directory the description is read from; the current
    directory by default).
    """

    def __init__(
        self,
        description: str | Mapping[str, Any] | None = None,
        base_dir: str | None = None,
        **commands: Any,
    ) -> None:
        self._commands: dict[str, tuple[str, str, int]] = {}  # lower -> (key, value, line)
        self._queues: list[QueueStatement] = []
        self.base_dir = os.path.abspath(base_dir or os.getcwd())
        if isinstance(description, str):
            self._parse(description)
        elif isinstance(description, Mapping):
            for key, value in description.items():
                self[str(key)] = _as_text(value)
        elif description is not None:
            raise TypeError(
                f"Submit() takes a description text or a mapping, not {type(description).__name__}"
            )
        for key, value in commands.items():
            self[key] = _as_text(value)

    @classmethod
    def from_file(cls, path: str) -> Submit:
        """Read a submit file; relative paths in it are relative to its folder."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise SubmitError(f"cannot read submit file {path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise SubmitError(f"submit file {path} is not UTF-8 text") from None
        return cls(text, base_dir=os.path.dirname(os.path.abspath(path)))

    # -- mapping of commands ------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self._commands[key.lower()][1]

    def __setitem__(self, key: str, value: str) -> None:
        _check_key(key, 0)
        if "\0" in str(value):
            raise SubmitError(f"{key}: a NUL character cannot be part of a command's value")
        self._commands[key.lower()] = (key, str(value), 0)

    def __delitem__(self, key: str) -> None:
        del self._commands[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _, _ in self._commands.values())

    def __len__(self) -> int:
        return len(self._commands)

    def __repr__(self) -> str:
        return f"Submit({str(self)!r})"

    def __str__(self) -> str:
        lines = [f"{k} = {v}" for k, v, _ in self._commands.values()]
        for q in self._queues:
            lines.append(_queue_text(q))
        return "\n".join(lines)

    # -- parsing ------------------------------------------------------------
    def _parse(self, text: str) -> None:
        lines = text.splitlines()
        for n, raw in enumerate(lines, 1):
            if "\0" in raw:   # no ClassAd string can hold one (HTCondor's neither)
                raise SubmitError("a NUL character cannot be part of a submit description", n)
        i = 0
        while i < len(lines):
            lineno = i + 1
            line = lines[i].strip()
            i += 1
            while line.endswith("\\") and i < len(lines):
                line = line[:-1].rstrip() + " " + lines[i].strip()
                i += 1
            if not line or line.startswith("#"):
                continue
            head = line.split(None, 1)[0].lower()
            if head == "queue" and "=" not in line.split("(", 1)[0]:
                rest = line[len("queue"):].strip()
                if "(" in rest and ")" not in rest:
                    while i < len(lines) and ")" not in rest:
                        rest += "\n" + lines[i]
                        i += 1
                    if ")" not in rest:
                        raise SubmitError("queue item list has no closing ')'", lineno)
                self._queues.append(self._parse_queue(rest, lineno))
                continue
            if "=" not in line:
                raise SubmitError(
                    f"expected 'command = value' or 'queue ...', found {line!r}", lineno
                )
            key, value = (part.strip() for part in line.split("=", 1))
            _check_key(key, lineno)
            self._commands[key.lower()] = (key, value, lineno)

    def _snapshot(self) -> dict[str, tuple[str, int, str]]:
        return {k: (v, n, name) for k, (name, v, n) in self._commands.items()}

    def _parse_queue(self, rest: str, lineno: int) -> QueueStatement:
        commands = self._snapshot()
        count = 1
        m = re.match(r"\s*(\d+)\b\s*(.*)$", rest, re.S)
        if m:
            count = int(m.group(1))
            rest = m.group(2)
        rest = rest.strip()
        if not rest:
            return QueueStatement(count, [], None, commands, lineno)
        m = re.match(r"(.*?)\b(in|from|matching)\b\s*(.*)$", rest, re.S | re.I)
        if not m:
            raise SubmitError(
                f"cannot read queue statement 'queue {rest}': expected 'queue [N] [vars in|from|matching ...]'",
                lineno,
            )
        names = [n for n in re.split(r"[\s,]+", m.group(1).strip()) if n] or ["Item"]
        for n in names:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", n):
                raise SubmitError(f"bad queue variable name {n!r}", lineno)
        kind, body = m.group(2).lower(), m.group(3).strip()
        items: list[str]
        if kind == "in":
            if not (body.startswith("(") and body.endswith(")")):
                raise SubmitError("'queue ... in' needs a list in parentheses", lineno)
            inner = body[1:-1]
            if len(names) == 1:
                items = [x for x in re.split(r"[,\s]+", inner) if x]
            else:
                # several variables: one item per line (or per comma on one line)
                sep = "\n" if "\n" in inner.strip() else ","
                items = [x.strip() for x in inner.split(sep) if x.strip()]
        elif kind == "from":
            if body.startswith("("):
                if not body.endswith(")"):
                    raise SubmitError("'queue ... from (' has no closing ')'", lineno)
                items = [x.strip() for x in body[1:-1].splitlines() if x.strip()]
            else:
                return QueueStatement(count, names, [], commands, lineno, from_file=body)
        else:
            return QueueStatement(count, names, [], commands, lineno, matching=body)
        return QueueStatement(count, names, items, commands, lineno)

    # -- queue resolution ------------------------------------------------
    def _resolve_items(self, q: QueueStatement) -> list[dict[str, str]]:
        if q.items is None:
            return [{}]
        rows: list[dict[str, str]] = []
        raw = q.items
        if q.from_file is not None:
            path = self._path(q.from_file)
            try:
                with open(path, encoding="utf-8") as f:
                    raw = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
            except OSError as e:
                raise SubmitError(f"queue from {path}: {e.strerror}", q.line) from None
        elif q.matching is not None:
            words = q.matching.split()
            want = "any"
            if words and words[0].lower() in ("files", "dirs"):
                want = words.pop(0).lower()
            if not words:
                raise SubmitError("'queue ... matching' needs a glob pattern", q.line)
            found: list[str] = []
            for pattern in words:
                for p in sorted(glob.glob(os.path.join(self.base_dir, pattern))):
                    if want == "files" and not os.path.isfile(p):
                        continue
                    if want == "dirs" and not os.path.isdir(p):
                        continue
                    rel = os.path.relpath(p, self.base_dir)
                    if rel not in found:
                        found.append(rel)
            raw = found
        for item in raw:
            if len(q.variables) == 1:
                rows.append({q.variables[0]: item})
                continue
            parts = [p for p in re.split(r"[,\s]+", item.strip(), maxsplit=len(q.variables) - 1)]
            parts += [""] * (len(q.variables) - len(parts))
            rows.append(dict(zip(q.variables, parts)))
        return rows

    def queues(self) -> list[QueueStatement]:
        """The queue statements (an implicit ``queue 1`` when there is none)."""
        if self._queues:
            return self._queues
        return [QueueStatement(1, [], None, self._snapshot(), 0)]

    def job_count(self) -> int:
        """How many jobs the queue statements make (reads item files)."""
        return sum(q.count * len(self._resolve_items(q)) for q in self.queues())

    def itemdata(self) -> list[dict[str, str]]:
        """Every item row of every queue statement, in order."""
        return [row for q in self.queues() for row in self._resolve_items(q)]

    def _path(self, p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(self.base_dir, p)

    # -- job ads ---------------------------------------------------------
    def _queues_with(self, count: int | None) -> list[QueueStatement]:
        queues = self.queues()
        if count is None:
            return queues
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise SubmitError(f"count must be a positive integer, got {count!r}")
        if len(queues) != 1 or queues[0].items is not None:
            raise SubmitError(
                "count can replace only a single plain 'queue N' statement, not item lists or several queues")
        q = queues[0]
        return [QueueStatement(count, q.variables, q.items, q.commands, q.line)]

    def _proc_exprs(self, cluster: int, count: int | None = None,
                    progress: Callable[[int], None] | None = None) -> list[dict[str, str]]:
        """Per-job attribute -> ClassAd expression text, for jobs queued
        into *cluster*; *count* replaces the count of a plain queue.
        *progress*, if given, is told how many jobs are made so far (every
        500 jobs, and once at the end), so a big description can show it
        is moving."""
        out: list[dict[str, str]] = []
        proc = 0
        owner = classad.quote(_owner())   # once: asking the system per job costs more than the job
        for q in self._queues_with(count):
            rows = self._resolve_items(q)
            for index, row in enumerate(rows):
                for step in range(q.count):
                    specials = {
                        "cluster": str(cluster),
                        "clusterid": str(cluster),
                        "process": str(proc),
                        "procid": str(proc),
                        "step": str(step),
                        "itemindex": str(index),
                        "row": str(index),
                    }
                    for k, v in row.items():
                        specials[k.lower()] = v
                    out.append(_JobBuilder(q, specials, self.base_dir, owner).build())
                    proc += 1
                    if progress is not None and proc % 500 == 0:
                        progress(proc)
        if progress is not None:
            progress(proc)
        return out

    def jobs(self, cluster: int = 1, count: int | None = None) -> list[classad.ClassAd]:
        """One concrete job ad per job, as queued into cluster *cluster*."""
        ads = []
        for proc, exprs in enumerate(self._proc_exprs(cluster, count)):
            ad = _to_ad(exprs)
            ad["ClusterId"] = cluster
            ad["ProcId"] = proc
            ads.append(ad)
        return ads

    def submit_ads(self, count: int | None = None,
                   progress: Callable[[int], None] | None = None,
                   ) -> tuple[classad.ClassAd, list[classad.ClassAd]]:
        """What :meth:`console.Schedd.submit` sends in its one Submit: the
        cluster ad (the first job's, without ids) and one ad per job with
        the attributes in which that job differs from it (empty when it
        does not).  Values made with ``$(Cluster)`` are expressions over
        ``ClusterId`` (the cluster id is the agent's to assign)."""
        procs = [{name: _over_cluster_id(name, text) for name, text in exprs.items()}
                 for exprs in self._proc_exprs(_CLUSTER_MARK, count, progress)]
        if not procs:
            raise SubmitError("the description queues no jobs (an empty item list?)")
        first = procs[0]
        own: list[classad.ClassAd] = []
        for exprs in procs:
            diff = {name: text for name, text in exprs.items() if first.get(name) != text}
            diff.update({name: "undefined" for name in first if name not in exprs})
            own.append(_to_ad(diff))
        return _to_ad(first), own


#: stands for the cluster id while job ads are made before the agent assigns it
_CLUSTER_MARK = 918273645
_MARK = str(_CLUSTER_MARK)
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_.]")
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def _over_cluster_id(name: str, text: str) -> str:
    """Attribute *name*'s expression *text*, made with the cluster mark, as an
    expression over ``ClusterId``: the mark in a string literal splits it
    into ``strcat`` pieces, elsewhere it becomes the attribute reference.

    >>> _over_cluster_id("Out", '"out.918273645.0"')
    'strcat("out.", ClusterId, ".0")'
    """
    if _MARK not in text:
        return text
    out: list[str] = []
    at = 0
    for m in _STRING_LITERAL.finditer(text):
        out.append(_mark_outside_strings(name, text[at:m.start()]))
        inner = m.group(0)[1:-1]
        if _MARK in inner:
            parts = [f'"{piece}"' for piece in inner.split(_MARK)]
            pieces = [p for i, part in enumerate(parts)
                      for p in ([part] if i == 0 else ["ClusterId", part]) if p != '""']
            out.append("strcat(" + ", ".join(pieces) + ")")
        else:
            out.append(m.group(0))
        at = m.end()
    out.append(_mark_outside_strings(name, text[at:]))
    return "".join(out)


def _mark_outside_strings(name: str, text: str) -> str:
    pieces = text.split(_MARK)
    for left, right in zip(pieces, pieces[1:]):
        if (left and _IDENT_CHAR.match(left[-1])) or (right and _IDENT_CHAR.match(right[0])):
            raise SubmitError(
                f"{name}: $(Cluster) is glued to a name or number in an expression; the cluster "
                "id is not known before the agent queues the jobs (write it apart, or use ClusterId)")
    return "ClusterId".join(pieces)


def _check_key(key: str, line: int) -> None:
    if not re.fullmatch(r"(\+|MY\.|my\.|My\.)?[A-Za-z_][A-Za-z0-9_.]*", key):
        raise SubmitError(f"bad command name {key!r}", line)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, classad.ExprTree):
        return str(value)
    return str(value)


def _queue_text(q: QueueStatement) -> str:
    text = "queue" if q.count == 1 and q.items is not None else f"queue {q.count}"
    if q.items is None:
        return text
    head = ", ".join(q.variables)
    if q.from_file is not None:
        return f"{text} {head} from {q.from_file}"
    if q.matching is not None:
        return f"{text} {head} matching {q.matching}"
    return f"{text} {head} in (" + ", ".join(q.items) + ")"


def _to_ad(exprs: Mapping[str, str]) -> classad.ClassAd:
    """The job ad of one proc's attribute texts; a text that is not an
    expression (e.g. a value read from a ``queue ... from`` file) is a
    SubmitError naming the attribute, never the parser's own error."""
    ad = classad.ClassAd()
    for name, text in exprs.items():
        try:
            ad[name] = classad.ExprTree(text)
        except ValueError as e:
            reason = str(e).splitlines()[0].rstrip(":") if str(e) else type(e).__name__
            raise SubmitError(f"{name} would not be a ClassAd expression: {reason}") from None
    return ad


class _JobBuilder:
    """Expands the macros of one job and maps commands to attributes."""

    def __init__(self, q: QueueStatement, specials: dict[str, str], base_dir: str,
                 owner: str) -> None:
        self.q = q
        self.owner = owner
        self.specials = specials
        self.base_dir = base_dir
        self.attrs: dict[str, str] = {}

    # macro expansion ---------------------------------------------------
    def expand(self, text: str, line: int, depth: int = 0) -> str:
        if depth > _MAX_DEPTH:
            raise SubmitError("macro expansion loops (a macro refers to itself?)", line)
        out: list[str] = []
        i = 0
        while i < len(text):
            if text.startswith("$$", i):
                j = _matching_paren(text, i + 2)
                out.append(text[i:j] if j > 0 else "$$")
                i = j if j > 0 else i + 2
                continue
            if text.startswith("$ENV(", i):
                j = text.find(")", i)
                if j < 0:
                    raise SubmitError("$ENV( has no closing ')'", line)
                out.append(os.environ.get(text[i + 5:j].strip(), ""))
                i = j + 1
                continue
            if text.startswith("$(", i):
                j = _matching_paren(text, i + 1)
                if j < 0:
                    raise SubmitError(f"macro {text[i:i + 20]!r} has no closing ')'", line)
                inner = text[i + 2:j - 1]
                name, _, default = inner.partition(":")
                out.append(self.lookup(name.strip(), default if ":" in inner else None, line, depth))
                i = j
                continue
            out.append(text[i])
            i += 1
        return "".join(out)

    def lookup(self, name: str, default: str | None, line: int, depth: int) -> str:
        key = name.lower()
        if key in self.specials:
            return self.specials[key]
        if key in self.q.commands:
            value, vline, _ = self.q.commands[key]
            return self.expand(value, vline, depth + 1)
        if default is not None:
            return self.expand(default, line, depth + 1)
        log.debug("macro $(%s) is not defined; it expands to nothing", name)
        return ""

    def value(self, command: str) -> tuple[str, int] | None:
        entry = self.q.commands.get(command)
        if entry is None:
            return None
        raw, line, _ = entry
        return self.expand(raw, line), line

    # attributes --------------------------------------------------------
    def build(self) -> dict[str, str]:
        a = self.attrs
        iwd = self.base_dir
        v = self.value("initialdir")
        if v and v[0]:
            iwd = v[0] if os.path.isabs(v[0]) else os.path.normpath(os.path.join(self.base_dir, v[0]))
        exe = self.value("executable")
        if exe is None or not exe[0]:
            raise SubmitError("the description has no 'executable'", self.q.line)
        cmd = exe[0] if os.path.isabs(exe[0]) else os.path.normpath(os.path.join(iwd, exe[0]))
        a["Cmd"] = classad.quote(cmd)
        a["Iwd"] = classad.quote(iwd)
        a["Owner"] = self.owner
        universe = self.value("universe")
        uni = universe[0].strip().lower() if universe else "vanilla"
        if uni not in UNIVERSES:
            raise SubmitError(
                f"unknown universe {uni!r} (one of {', '.join(sorted(UNIVERSES))})",
                universe[1] if universe else 0,
            )
        a["JobUniverse"] = str(UNIVERSES[uni])
        for std in ("In", "Out", "Err"):
            a[std] = classad.quote("/dev/null")
        args = self.value("arguments")
        if args:
            self._arguments(*args)
        for command, attr in _STRING_COMMANDS.items():
            got = self.value(command)
            if got is not None:
                a[attr] = classad.quote(got[0])
        for command, attr in _EXPR_COMMANDS.items():
            got = self.value(command)
            if got is not None:
                a[attr] = self._expr(got[0], got[1], command)
        for command, attr in _UPPER_COMMANDS.items():
            got = self.value(command)
            if got is not None:
                a[attr] = classad.quote(got[0].strip().upper())
        a.setdefault("Requirements", "true")
        self._resources()
        self._environment()
        got = self.value("notification")
        if got is not None:
            code = _NOTIFICATION.get(got[0].strip().lower())
            if code is None:
                raise SubmitError(
                    f"notification must be one of never, always, complete, error; got {got[0]!r}",
                    got[1],
                )
            a["JobNotification"] = str(code)
        got = self.value("hold")
        if got is not None and _truth(got[0], got[1], "hold"):
            a["JobStatus"] = "5"
            a["HoldReason"] = classad.quote("submitted on hold at user's request")
            a["HoldReasonCode"] = "15"
        for key, (raw, line, written) in self.q.commands.items():
            if key.startswith("+") or key.startswith("my."):
                attr = written[1:] if key.startswith("+") else written[3:]
                a[attr] = self._expr(self.expand(raw, line), line, written)
        return a

    def _expr(self, text: str, line: int, command: str) -> str:
        text = text.strip()
        if not text:
            raise SubmitError(f"{command} has an empty value", line)
        try:
            classad.ExprTree(text)
        except ValueError as e:
            reason = str(e).splitlines()[0].rstrip(":") if str(e) else type(e).__name__
            raise SubmitError(f"{command} is not a ClassAd expression: {reason}", line) from None
        return text

    def _arguments(self, text: str, line: int) -> None:
        stripped = text.strip()
        if stripped.startswith('"'):
            if not stripped.endswith('"') or len(stripped) < 2:
                raise SubmitError("arguments: a quoted value must end with '\"'", line)
            inner = stripped[1:-1].replace('""', '"')
            try:
                words = shlex.split(inner)
            except ValueError as e:
                raise SubmitError(f"arguments: {e}", line) from None
            self.attrs["Arguments"] = classad.quote(" ".join(_quote_arg(w) for w in words))
        else:
            self.attrs["Args"] = classad.quote(stripped)

    def _resources(self) -> None:
        got = self.value("request_cpus")
        self.attrs["RequestCpus"] = self._int_or_expr(got, "request_cpus", 1) if got else "1"
        got = self.value("request_memory")
        if got:
            self.attrs["RequestMemory"] = self._size(got, "request_memory", 1024)
        got = self.value("request_disk")
        if got:
            self.attrs["RequestDisk"] = self._size(got, "request_disk", 1)

    def _int_or_expr(self, got: tuple[str, int], command: str, _default: int) -> str:
        text = got[0].strip()
        if re.fullmatch(r"\d+", text):
            return text
        return self._expr(text, got[1], command)

    def _size(self, got: tuple[str, int], command: str, per_kib: int) -> str:
        """Sizes with K/M/G/T suffixes; memory in MiB, disk in KiB."""
        text = got[0].strip()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text)
        if not m:
            return self._expr(text, got[1], command)
        number, unit = float(m.group(1)), m.group(2).lower()
        if unit == "":
            return str(int(number))
        if unit not in _UNIT:
            raise SubmitError(f"{command}: unknown unit {m.group(2)!r} (use K, M, G or T)", got[1])
        kib = number * _UNIT[unit]
        return str(max(1, int(-(-kib // per_kib))))

    def _environment(self) -> None:
        env: dict[str, str] = {}
        got = self.value("getenv")
        if got is not None:
            text = got[0].strip()
            if text.lower() in ("true", "yes", "1", "false", "no", "0"):
                if _truth(text, got[1], "getenv"):
                    env.update(os.environ)
            else:
                patterns = [p for p in re.split(r"[,\s]+", text) if p]
                env.update({k: v for k, v in os.environ.items()
                            if any(fnmatch.fnmatchcase(k, p) for p in patterns)})
        got = self.value("environment")
        if got is not None:
            env.update(_parse_environment(*got))
        if env:
            self.attrs["Environment"] = classad.quote(
                " ".join(f"{k}={_quote_arg(v)}" for k, v in sorted(env.items()))
            )


def _matching_paren(text: str, open_at: int) -> int:
    """Index just past the ')' matching the '(' at *open_at*, or -1."""
    if open_at >= len(text) or text[open_at] != "(":
        return -1
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _truth(text: str, line: int, command: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "yes", "1", "t", "y"):
        return True
    if t in ("false", "no", "0", "f", "n"):
        return False
    raise SubmitError(f"{command} must be true or false, got {text!r}", line)


def _owner() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "nobody"


def _quote_arg(word: str) -> str:
    if word and not re.search(r"[\s'\"]", word):
        return word
    return "'" + word.replace("'", "''") + "'"


def _parse_environment(text: str, line: int) -> dict[str, str]:
    t = text.strip()
    env: dict[str, str] = {}
    if t.startswith('"'):
        if not t.endswith('"') or len(t) < 2:
            raise SubmitError("environment: a quoted value must end with '\"'", line)
        try:
            words = shlex.split(t[1:-1].replace('""', '"'))
        except ValueError as e:
            raise SubmitError(f"environment: {e}", line) from None
    else:
        words = [w for w in t.split(";") if w.strip()]
    for w in words:
        name, eq, value = w.strip().partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SubmitError(f"environment: expected NAME=value, got {w!r}", line)
        env[name] = value
    return env
