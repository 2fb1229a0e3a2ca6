"""Output helpers of the ``qmf`` CLI: tables for people, JSON for programs.

Kept apart from the commands so every command formats the same way and
``--json`` output is always a plain, stable JSON document.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import classad

__all__ = [
    "table",
    "emit_json",
    "ad_to_json",
    "plain",
    "duration",
    "short_time",
]


def plain(value: Any) -> Any:
    """A JSON-ready form of a ClassAd or wire value (expressions as text)."""
    if isinstance(value, classad.ClassAd):
        return ad_to_json(value)
    if isinstance(value, classad.ExprTree):
        return str(value)
    if isinstance(value, classad.Value):
        return None if value is classad.Value.Undefined else "error"
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def ad_to_json(ad: classad.ClassAd) -> dict[str, Any]:
    """Attributes of *ad*: literals as JSON values, expressions as text."""
    return {str(k): plain(ad[k]) for k in ad}


def emit_json(data: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(plain(data), out, indent=2, sort_keys=True)
    out.write("\n")


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: TextIO | None = None,
          right: Iterable[int] = ()) -> None:
    """Print *rows* under *headers*, columns padded; *right* lists the
    indexes of right-aligned (numeric) columns."""
    out = out or sys.stdout
    text = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    align = set(right)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in align else c.ljust(widths[i])
                         for i, c in enumerate(cells)).rstrip()

    out.write(line(list(headers)) + "\n")
    for row in text:
        out.write(line(row) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def duration(seconds: Any) -> str:
    """``D+HH:MM:SS`` as condor_q shows run times."""
    try:
        s = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        s = 0
    return f"{s // 86400}+{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def short_time(epoch: Any) -> str:
    """``MM/DD HH:MM`` (local time), condor_q's SUBMITTED column."""
    try:
        return time.strftime("%m/%d %H:%M", time.localtime(int(epoch)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"
