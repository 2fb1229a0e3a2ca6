"""Built-ins: absolute and relative times, clocks and time formatting.

Times use the process's local zone, as HTCondor does (``absTime(0)`` takes
the local offset; ``getHours`` reads local time).  Tests run with TZ=UTC.
Where HTCondor narrows a value to a C ``int`` (the seconds of
``absTime(int)``, the argument of ``interval``) the same narrowing is done
here so the results agree.
"""

from __future__ import annotations

import logging
import math
import time as _time
from typing import Any

from classad._builtin_registry import builtin
from classad._builtin_support import c_div, c_double_to_int64, c_int32, c_mod, to_int
from classad._values import ERROR, UNDEFINED, AbsTime, Record, RelTime

__all__ = ["local_offset", "civil_from_epoch"]

log = logging.getLogger(__name__)


def local_offset(secs: int) -> int:
    """Seconds east of UTC of the local zone at epoch time *secs*."""
    try:
        return _time.localtime(secs).tm_gmtoff
    except (OverflowError, OSError, ValueError):
        return _time.localtime().tm_gmtoff


def civil_from_epoch(secs: int) -> tuple[int, int, int, int, int, int, int, int]:
    """``gmtime`` for any int64: (year, month 1-12, day, hour, minute,
    second, weekday 0=Sunday, day of year 0-365)."""
    days, rem = divmod(secs, 86400)
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    # Civil-from-days (proleptic Gregorian), valid for any day count.
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    weekday, yearday = _day_numbers(year, month, day)
    return year, month, day, hour, minute, second, weekday, yearday


def _is_leap(year: int) -> bool:
    return c_mod(year, 4) == 0 and (c_mod(year, 100) != 0 or c_mod(year, 400) == 0)


def _day_numbers(year: int, month: int, day: int) -> tuple[int, int]:
    """HTCondor's ``day_numbers``: weekday (0=Sunday) and 0-based day of
    year, from the Rata Die day count (C integer division throughout)."""

    def fixed(y: int, m: int, d: int) -> int:
        adj = 0 if m <= 2 else (-1 if _is_leap(y) else -2)
        return (
            365 * (y - 1)
            + c_div(y - 1, 4)
            - c_div(y - 1, 100)
            + c_div(y - 1, 400)
            + c_div(367 * m - 362, 12)
            + adj
            + d
        )

    f = fixed(year, month, day)
    return c_mod(f, 7), f - fixed(year, 1, 1)


def _now() -> int:
    return int(_time.time())


@builtin("time", min_args=0, max_args=0)
def time_() -> Any:
    """Seconds since the epoch, an integer."""
    return _now()


@builtin("currentTime", min_args=0, max_args=0)
def current_time() -> Any:
    """The current time as an AbsTime in the local zone."""
    now = _now()
    return AbsTime(now, local_offset(now))


@builtin("timeZoneOffset", min_args=0, max_args=0)
def time_zone_offset() -> Any:
    """The local zone's offset from UTC now, as a RelTime."""
    return RelTime(local_offset(_now()))


@builtin("dayTime", min_args=0, max_args=0)
def day_time() -> Any:
    """Seconds since local midnight, as a RelTime."""
    lt = _time.localtime()
    return RelTime(lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec)


def _abs_field(index: int) -> Any:
    def get(v: Any) -> Any:
        if type(v) is AbsTime:
            return civil_from_epoch(v.secs + local_offset(v.secs))[index]
        return ERROR

    return get


def _rel_field(div: int, mod: int | None) -> Any:
    def get(v: Any) -> Any:
        if type(v) is RelTime:
            r = c_double_to_int64(float(v.secs))
            if mod is not None:
                r = c_mod(r, mod)
            return c_div(r, div)
        return ERROR

    return get


def _both(abs_get: Any, rel_get: Any) -> Any:
    def get(v: Any) -> Any:
        return abs_get(v) if type(v) is AbsTime else rel_get(v)

    return get


_FIELDS = {
    # name: AbsTime reading (local time) / RelTime reading; the other is ERROR
    "getYear": _abs_field(0),
    "getMonth": _abs_field(1),
    "getDayOfMonth": _abs_field(2),
    "getDayOfWeek": _abs_field(6),
    "getDayOfYear": _abs_field(7),
    "getDays": _rel_field(86400, None),
    "getHours": _both(_abs_field(3), _rel_field(3600, 86400)),
    "getMinutes": _both(_abs_field(4), _rel_field(60, 3600)),
    "getSeconds": _both(_abs_field(5), _rel_field(1, 60)),
}
for _name, _get in _FIELDS.items():
    _get.__name__ = _name
    _get.__doc__ = f"``{_name}(t)``: one field of an AbsTime (local) or RelTime."
    builtin(_name, min_args=1, max_args=1)(_get)


def _split_abs(secs: int, offset: int) -> dict[str, Any]:
    y, mo, d, h, mi, s, _, _ = civil_from_epoch(secs + offset)
    return {
        "Type": "AbsoluteTime",
        "Year": y,
        "Month": mo,
        "Day": d,
        "Hours": h,
        "Minutes": mi,
        "Seconds": s,
        "Offset": offset,
    }


def _split_rel(rsecs: float) -> dict[str, Any]:
    negative = rsecs < 0
    if negative:
        rsecs = -rsecs
    whole = c_int32(c_double_to_int64(rsecs))
    hrs = c_mod(whole, 86400)
    mins = c_mod(hrs, 3600)
    frac = rsecs - math.floor(rsecs) if math.isfinite(rsecs) else math.nan
    secs = c_mod(mins, 60) + frac
    days, hrs, mins = c_div(whole, 86400), c_div(hrs, 3600), c_div(mins, 60)
    if negative:
        if days > 0:
            days = -days
        elif hrs > 0:
            hrs = -hrs
        elif mins > 0:
            mins = -mins
        else:
            secs = -secs
    return {"Type": "RelativeTime", "Days": days, "Hours": hrs, "Minutes": mins, "Seconds": secs}


def _split(v: Any) -> Any:
    """HTCondor's ``doSplitTime``: a dict of fields, or None."""
    t = type(v)
    if t is int:
        return _split_abs(v, local_offset(v))
    if t is float:
        secs = _c_double_to_int32(v)
        return _split_abs(secs, local_offset(secs))
    if t is AbsTime:
        return _split_abs(v.secs, v.offset)
    if t is RelTime:
        return _split_rel(float(v.secs))
    return None


def _c_double_to_int32(x: float) -> int:
    """C ``(int)`` of a double on x86-64 (INT32_MIN when out of range)."""
    if x != x or x >= 2147483648.0 or x <= -2147483649.0:
        return -0x80000000
    return int(x)


@builtin("splitTime", min_args=1, max_args=1)
def split_time(v: Any) -> Any:
    """An ad of the fields of a time: Year..Seconds and Offset for an
    absolute time (an integer counts as one, in the local zone), or
    Days..Seconds for a relative one."""
    if v is UNDEFINED:
        return UNDEFINED
    parts = _split(v)
    return ERROR if parts is None else parts


def _tm_field(parts: Any, name: str) -> int | None:
    """An integer field of a split time, None when missing or not an
    integer (HTCondor's ``EvaluateAttrInt`` failing)."""
    if isinstance(parts, Record):
        v = parts.evaluate_attribute(name)
    else:
        v = parts.get(name)
    return c_int32(v) if type(v) is int else None


@builtin("formatTime", min_args=0, max_args=2)
def format_time(t: Any = None, fmt: Any = "%c") -> Any:
    """``strftime`` of a time (default now, format ``%c``); the time may be
    an integer, an AbsTime, or a splitTime-style ad.  A field missing from
    an ad is a zero in C's ``struct tm`` (so year 1900, January, day 0)."""
    if t is None:
        lt = _time.localtime()
        return _strftime("%c", (lt.tm_year, lt.tm_mon, lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec))
    if type(t) is RelTime:
        return ERROR
    parts = t if isinstance(t, Record) else _split(t)
    if parts is None:
        return ERROR
    if type(fmt) is not str:
        return ERROR
    defaults = {"Year": 1900, "Month": 1, "Day": 0, "Hours": 0, "Minutes": 0, "Seconds": 0}
    fields = []
    for name, missing in defaults.items():
        v = _tm_field(parts, name)
        fields.append(missing if v is None else v)
    return _strftime(fmt, tuple(fields))


def _strftime(fmt: str, fields: tuple[int, ...]) -> Any:
    year, month, day, hour, minute, second = fields
    wday, yday = _day_numbers(year, month, day)
    if day == 0:
        # Python's strftime would turn day 0 into 1; C prints it as is.
        fmt = _day_zero(fmt)
        day = 1
    # Python's struct_time counts weekdays from Monday and days of year from 1.
    tm = (year, month, day, hour, minute, second, (wday - 1) % 7, yday + 1, 0)
    try:
        return _time.strftime(fmt, tm)
    except (ValueError, OverflowError) as exc:
        log.debug("formatTime(%r) failed: %s", fmt, exc)
        return ERROR


# The C locale's composite conversions, spelled out so day 0 can be seen.
_COMPOSITES = {"c": "%a %b %e %H:%M:%S %Y", "x": "%m/%d/%y", "D": "%m/%d/%y", "F": "%Y-%m-%d"}


def _day_zero(fmt: str) -> str:
    """*fmt* with the day-of-month conversions written out for day 0."""
    out = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec in _COMPOSITES:
                out.append(_day_zero(_COMPOSITES[spec]))
            else:
                out.append({"d": "00", "e": " 0"}.get(spec, fmt[i : i + 2]))
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


@builtin("interval", min_args=1, max_args=1)
def interval(v: Any) -> Any:
    """Seconds as ``[D+]HH:MM:SS`` text with leading zero fields dropped
    (``interval(90)`` is ``"1:30"``)."""
    n = to_int(v)
    if type(n) is not int:
        return ERROR
    n = c_int32(n)
    days, n = c_div(n, 86400), c_mod(n, 86400)
    hours, n = c_div(n, 3600), c_mod(n, 3600)
    mins, secs = c_div(n, 60), c_mod(n, 60)
    if days:
        return f"{days}+{abs(hours):02d}:{abs(mins):02d}:{abs(secs):02d}"
    if hours:
        return f"{hours}:{abs(mins):02d}:{abs(secs):02d}"
    if mins:
        return f"{mins}:{abs(secs):02d}"
    return f"{secs}"


def _zone_arg(z: Any) -> Any:
    """absTime's second argument narrowed like HTCondor's ``int arg2num``."""
    t = type(z)
    if t is int:
        return c_int32(z)
    if t is float:
        return _c_double_to_int32(z)
    if t is RelTime:
        return c_int32(c_double_to_int64(float(z.secs)))
    return None


@builtin("absTime", min_args=0, max_args=2)
def abs_time(v: Any = None, zone: Any = None) -> Any:
    """An AbsTime from seconds (zone: the second argument, else local),
    from a RelTime, or the current time with no argument.

    (A string literal argument is folded by the parser; a computed string
    comes back unchanged, as in HTCondor.)
    """
    if v is None:
        return current_time()
    offset = None
    if zone is not None:
        offset = _zone_arg(zone)
        if offset is None:
            return ERROR
    t = type(v)
    if t is int:
        secs = c_int32(v)
        if offset == -1:
            return ERROR  # HTCondor takes an offset of -1 for a failed lookup
    elif t is float:
        secs = _c_double_to_int32(v)
    elif t is RelTime:
        secs = c_double_to_int64(float(v.secs))
    elif t is AbsTime or t is str:
        return v
    else:
        return UNDEFINED if v is UNDEFINED else ERROR
    return AbsTime(secs, local_offset(secs) if offset is None else offset)


@builtin("relTime", min_args=1, max_args=1)
def rel_time(v: Any) -> Any:
    """A RelTime from seconds or from an AbsTime's seconds.

    (A computed string argument gives ``relTime(0)``, as in HTCondor.)
    """
    t = type(v)
    if t is int:
        return RelTime(c_int32(v))
    if t is float:
        return RelTime(v)
    if t is RelTime:
        return v
    if t is AbsTime:
        return RelTime(v.secs)
    if t is str:
        return RelTime(0)
    return UNDEFINED if v is UNDEFINED else ERROR
