"""Interval arithmetic on UNIX seconds, and maintenance windows as intervals.

Every list here is of `(start, end)` pairs with start < end.  `merge` makes a list sorted and
disjoint; the other operations expect merged input and return merged output.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

Intervals = list[tuple[float, float]]


def merge(ivs: Iterable[tuple[float, float]]) -> Intervals:
    out: Intervals = []
    for s, e in sorted(ivs):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def clip(ivs: Intervals, start: float, end: float) -> Intervals:
    out: Intervals = []
    for s, e in ivs:
        s, e = max(s, start), min(e, end)
        if s < e:
            out.append((s, e))
    return out


def intersect(a: Intervals, b: Intervals) -> Intervals:
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Intervals, b: Intervals) -> Intervals:
    if not b:
        return list(a)
    out: Intervals = []
    j = 0
    for s, e in a:
        while j < len(b) and b[j][1] <= s:
            j += 1
        k = j
        cur = s
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


def total(ivs: Iterable[tuple[float, float]]) -> float:
    return sum(e - s for s, e in ivs)


def add_daily(ivs: Iterable[tuple[float, float]], bounds: Sequence[float], acc: list[float]) -> None:
    """Add each interval's seconds to the day it falls in (`bounds`: day starts, then the
    period's end); intervals crossing midnight are split."""
    for s, e in ivs:
        i = max(0, bisect.bisect_right(bounds, s) - 1)
        while s < e and i < len(acc):
            cut = min(e, bounds[i + 1])
            if cut > s:
                acc[i] += cut - s
            s = cut
            i += 1


def day_bounds(start: dt.datetime, end: dt.datetime) -> tuple[list[float], list[dt.date]]:
    """Midnights in the report's time zone from `start` to `end` (aware datetimes): the
    boundaries (as UNIX seconds, ending with `end`) and the dates."""
    tz = start.tzinfo
    bounds, days = [], []
    d = start.date()
    while True:
        midnight = dt.datetime.combine(d, dt.time(), tz)
        if midnight >= end:
            break
        bounds.append(max(midnight, start).timestamp())
        days.append(d)
        d += dt.timedelta(days=1)
    bounds.append(end.timestamp())
    return bounds, days


# --------------------------------------------------------------------------- maintenance

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return default


def _weekday(value: Any) -> int:
    if isinstance(value, int):
        return value % 7
    return _WEEKDAYS[str(value).strip().lower()[:3]]


def _time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, (int, float)):  # minutes after midnight, as the configuration keeps them
        return (dt.datetime.min + dt.timedelta(minutes=float(value))).time()
    return dt.time.fromisoformat(str(value))


def _aware(value: Any, tz: ZoneInfo) -> dt.datetime:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def window_intervals(window: Any, start: float, end: float, tz: ZoneInfo) -> Intervals:
    """The intervals of one maintenance window within [start, end), as UNIX seconds: the
    configuration's own `monitor.maintenance.window_intervals` when it is there; else a
    one-off window (from/to; a time without an offset is in `tz`) or a recurring one
    (weekdays and a time range in `tz`, which may cross midnight: 22:00-02:00)."""
    try:
        from ..maintenance import window_intervals as configured
    except ImportError:
        configured = None
    if configured is not None and hasattr(window, "covers"):
        return [(s.timestamp(), e.timestamp()) for s, e in configured(window, start, end, tz)]
    one_from = _attr(window, "from_", "start", "from_time", "begin")
    one_to = _attr(window, "to", "end", "until")
    if one_from is not None and one_to is not None:
        s, e = _aware(one_from, tz).timestamp(), _aware(one_to, tz).timestamp()
        return clip([(s, e)], start, end)
    between = _attr(window, "between", "hours")
    if between is None:
        return []
    if isinstance(between, str):
        a, _, b = between.partition("-")
        between = (a.strip(), b.strip())
    t_from, t_to = _time(between[0]), _time(between[1])
    days = _attr(window, "weekdays", "days", default=())
    wanted = {_weekday(d) for d in days} if days else set(range(7))
    out: Intervals = []
    d = dt.datetime.fromtimestamp(start, tz).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, tz).date()
    while d <= last:
        if d.weekday() in wanted:
            s = dt.datetime.combine(d, t_from, tz)
            e_day = d if t_to > t_from else d + dt.timedelta(days=1)
            e = dt.datetime.combine(e_day, t_to, tz)
            out.append((s.timestamp(), e.timestamp()))
        d += dt.timedelta(days=1)
    return clip(merge(out), start, end)


def window_matches(window: Any, camera: Any) -> bool:
    """Whether a window's scope covers a camera: the configuration's `covers` when the
    window has it; else a camera matches every scope given (any value within one)."""
    if hasattr(window, "covers"):
        return bool(window.covers(camera))
    scopes = (
        (_attr(window, "cameras", default=()), getattr(camera, "id", "")),
        (_attr(window, "providers", default=()), getattr(camera, "provider", "")),
        (_attr(window, "districts", default=()), getattr(camera, "district", "")),
        (_attr(window, "zones", default=()), getattr(camera, "zone", "")),
        (_attr(window, "uplinks", default=()), getattr(camera, "uplink", "")),
    )
    single = _attr(window, "provider")
    if single:
        scopes += ((single if isinstance(single, (list, tuple)) else (single,), getattr(camera, "provider", "")),)
    return all(value in values for values, value in scopes if values)
