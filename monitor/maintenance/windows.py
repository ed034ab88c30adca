"""When a maintenance window is on: pure functions over `monitor.model.MaintenanceWindow`.

- `in_maintenance(camera, windows, t, tz)`: the name of the first window that covers the
  camera at instant `t`, or None (the exporter's ``cctv_camera_in_maintenance``, the alert
  rules' silence, the status page's mark).
- `window_intervals(window, start, end, tz)`: the exact [start, end) spans a window is on
  inside a period (the ledger's and the report's exclusions).

Recurring windows are wall-clock times in the time zone `tz` (the inventory's
``timezone:``): ``between: 22:00-02:00`` on ``sat`` runs from Saturday 22:00 to Sunday
02:00 local time, whatever the UTC offset that day.  Instants are aware datetimes (naive
ones are refused: a report cut in the wrong zone is a wrong report) or Unix timestamps.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Iterable
from zoneinfo import ZoneInfo

from ..model import Camera, MaintenanceWindow

Instant = dt.datetime | float | int
_DAY = dt.timedelta(days=1)


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def zone(tz: str | dt.tzinfo) -> dt.tzinfo:
    """A tzinfo from an IANA name (cached) or a tzinfo."""
    return _zone(tz) if isinstance(tz, str) else tz


def _aware(t: Instant, tzinfo: dt.tzinfo) -> dt.datetime:
    if isinstance(t, dt.datetime):
        if t.tzinfo is None:
            raise ValueError("naive datetime: give a time zone or a Unix timestamp")
        return t.astimezone(tzinfo)
    return dt.datetime.fromtimestamp(t, tzinfo)


def _at(day: dt.date, minutes: int, tzinfo: dt.tzinfo) -> dt.datetime:
    """Local wall-clock `minutes` after midnight of `day` (1440 is the next midnight)."""
    extra, minutes = divmod(minutes, 1440)
    day = day + dt.timedelta(days=extra)
    return dt.datetime(day.year, day.month, day.day, minutes // 60, minutes % 60,
                       tzinfo=tzinfo)


def _occurrences(window: MaintenanceWindow, first: dt.date, last: dt.date,
                 tzinfo: dt.tzinfo) -> Iterable[tuple[dt.datetime, dt.datetime]]:
    """Each recurring occurrence that starts on a local day from `first` to `last`."""
    assert window.between is not None
    start_min, end_min = window.between
    if end_min <= start_min:
        end_min += 1440  # runs past midnight
    day = first
    while day <= last:
        if day.weekday() in window.weekdays:
            yield _at(day, start_min, tzinfo), _at(day, end_min, tzinfo)
        day += _DAY


def is_on(window: MaintenanceWindow, t: Instant, tz: str | dt.tzinfo) -> bool:
    """Whether `window` is on at instant `t`."""
    tzinfo = zone(tz)
    local = _aware(t, tzinfo)
    if window.start is not None and window.end is not None:
        return window.start <= local < window.end
    if window.between is None:
        return False
    # an occurrence that started today, or yesterday and runs past midnight
    today = local.date()
    return any(s <= local < e for s, e in _occurrences(window, today - _DAY, today, tzinfo))


def in_maintenance(camera: Camera, windows: Iterable[MaintenanceWindow], t: Instant,
                   tz: str | dt.tzinfo) -> str | None:
    """The name of the first window covering `camera` that is on at `t`, else None."""
    for window in windows:
        if window.covers(camera) and is_on(window, t, tz):
            return window.name
    return None


def window_intervals(window: MaintenanceWindow, start: Instant, end: Instant,
                     tz: str | dt.tzinfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """The [start, end) spans `window` is on within [start, end), in order, overlapping
    and touching spans merged, as aware datetimes in `tz`."""
    tzinfo = zone(tz)
    lo, hi = _aware(start, tzinfo), _aware(end, tzinfo)
    if hi <= lo:
        return []
    if window.start is not None and window.end is not None:
        spans = [(window.start, window.end)]
    elif window.between is not None:
        spans = list(_occurrences(window, lo.date() - _DAY, hi.date(), tzinfo))
    else:
        spans = []
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for s, e in spans:
        s, e = max(s, lo), min(e, hi)
        if s >= e:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return [(s.astimezone(tzinfo), e.astimezone(tzinfo)) for s, e in out]
