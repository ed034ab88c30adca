"""Interval arithmetic on UNIX seconds, and maintenance windows as intervals.

Every list here is of `(start, end)` pairs with start < end.  `merge` makes a list sorted and
disjoint; the other operations expect merged input and return merged output.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

from ..maintenance import windows as maintenance
from ..model import Camera, MaintenanceWindow

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

def window_intervals(window: MaintenanceWindow, start: float, end: float, tz: ZoneInfo) -> Intervals:
    """The intervals of one maintenance window within [start, end), as UNIX seconds."""
    return [(s.timestamp(), e.timestamp()) for s, e in maintenance.window_intervals(window, start, end, tz)]


def window_matches(window: MaintenanceWindow, camera: Camera) -> bool:
    """Whether a window's scope covers a camera."""
    return window.covers(camera)
