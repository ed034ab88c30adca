"""Time in the configuration: ``timezone:`` and the ``maintenance:`` windows.

A window's times are checked here (offsets present, to after from, weekdays and HH:MM
ranges well formed) and its scope against the inventory (camera ids and providers must
exist); when a window is on is `monitor.maintenance.windows`'s to say.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from yaml.nodes import Node, SequenceNode

from ..model import MaintenanceWindow
from .keys import MAINTENANCE, MAX_LABEL, SCOPES, TOP
from .tree import is_null
from .values import Values

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_BETWEEN_RE = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_EXAMPLE = "e.g. 2026-07-01T22:00+07:00"


def valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class ScheduleSection(Values):
    camera_ids: dict

    def timezone(self) -> str:
        default = str(TOP["timezone"].default)
        found = self.single("timezone")
        if found is None:
            return default
        node = found[1]
        name = self.required_text(node, "timezone")
        if name is None or self.too_long(node, "timezone", name, 255):
            return default
        if not valid_zone(name):
            self.err(node, "timezone", f"unknown time zone {name!r}"
                     f"{self.hint(name, _zone_names())}; use an IANA name such as Asia/Jakarta")
            return default
        return name

    def maintenance(self, providers: set[str]) -> tuple[MaintenanceWindow, ...]:
        out = []
        names: dict = {}
        for node, path, f, name in self._named("maintenance", MAINTENANCE.names,
                                               "maintenance window", names):
            window = self.window(node, path, f, name, providers)
            if window is not None:
                out.append(window)
        return tuple(out)

    def window(self, node: Node, path: str, f: dict, name: str,
               providers: set[str]) -> MaintenanceWindow | None:
        before = len(self.issues)
        given = {k for k in ("from", "to", "weekdays", "between")
                 if k in f and not is_null(f[k][1])}
        start = end = between = None
        weekdays: tuple[int, ...] = ()
        if given & {"from", "to"} and given & {"weekdays", "between"}:
            self.err(node, path, "a window is either one-off (from: and to:) or recurring "
                                 "(weekdays: and between:), not both")
        elif given & {"from", "to"}:
            for key in ("from", "to"):
                if key not in given:
                    self.err(node, path, f"a one-off window needs from: and to:; {key}: is "
                                         "missing")
            if "from" in given:
                start = self.instant(f["from"][1], f"{path}.from")
            if "to" in given:
                end = self.instant(f["to"][1], f"{path}.to")
            if start is not None and end is not None and end <= start:
                self.err(f["to"][1], f"{path}.to",
                         f"to ({end.isoformat()}) must be after from ({start.isoformat()})")
        elif given:
            for key in ("weekdays", "between"):
                if key not in given:
                    self.err(node, path, f"a recurring window needs weekdays: and between:; "
                                         f"{key}: is missing")
            if "weekdays" in given:
                weekdays = self.weekdays(f["weekdays"][1], f"{path}.weekdays")
            if "between" in given:
                between = self.between(f["between"][1], f"{path}.between")
        else:
            self.err(node, path, "a window needs from: and to: (one-off) or weekdays: and "
                                 "between: (recurring)")

        scopes: dict[str, tuple[str, ...]] = {}
        for scope in SCOPES:
            pair = f.get(scope)
            if pair is not None and not is_null(pair[1]):
                scopes[scope] = self.scope(pair[1], f"{path}.{scope}", scope, providers)
        if not scopes:
            self.err(node, path, "a window needs a scope: at least one of "
                     + ", ".join(f"{s}:" for s in SCOPES))
        if len(self.issues) != before:
            return None
        return MaintenanceWindow(name=name, start=start, end=end, weekdays=weekdays,
                                 between=between, **scopes)

    def instant(self, node: Node, path: str) -> dt.datetime | None:
        value = self.text(node, path, "a date and time")
        if value is None:
            return None
        try:
            if "T" not in value and " " not in value.strip():
                raise ValueError(value)
            when = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            self.err(node, path, f"expected a date and time with its UTC offset, {_EXAMPLE}, "
                                 f"got {value!r}")
            return None
        if when.tzinfo is None:
            self.err(node, path, f"{value!r} has no UTC offset: add one, {_EXAMPLE}")
            return None
        return when

    def weekdays(self, node: Node, path: str) -> tuple[int, ...]:
        out: list[int] = []
        nodes = self.items(node, path)
        if not nodes and node.__class__ is SequenceNode:
            self.err(node, path, "no weekdays listed")
        for index, dnode in enumerate(nodes):
            dpath = f"{path}[{index}]"
            day = self.required_text(dnode, dpath)
            if day is None:
                continue
            if day.lower() not in WEEKDAYS:
                self.err(dnode, dpath, f"unknown weekday {day!r}"
                         f"{self.hint(day.lower()[:3], _WEEKDAY_SET)}; weekdays are "
                         + ", ".join(WEEKDAYS))
                continue
            number = WEEKDAYS.index(day.lower())
            if number in out:
                self.err(dnode, dpath, f"{day!r} is listed twice")
                continue
            out.append(number)
        return tuple(sorted(out))

    def between(self, node: Node, path: str) -> tuple[int, int] | None:
        value = self.text(node, path, "a time range")
        if value is None:
            return None
        match = _BETWEEN_RE.fullmatch(value.replace(" ", ""))
        if match is not None:
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or end == 1440):
                if start == end % 1440 and end != 1440:
                    self.err(node, path, f"{value!r} is empty: from and to are the same time "
                                         "(00:00-24:00 is the whole day)")
                    return None
                return (start, end)
        self.err(node, path, f"expected a local time range HH:MM-HH:MM, e.g. 22:00-02:00, "
                             f"got {value!r}")
        return None

    def scope(self, node: Node, path: str, scope: str, providers: set[str]) -> tuple[str, ...]:
        out: list[str] = []
        nodes = self.items(node, path)
        if not nodes and node.__class__ is SequenceNode:
            self.err(node, path, f"no {scope} listed: an empty scope matches no camera")
        for index, vnode in enumerate(nodes):
            vpath = f"{path}[{index}]"
            value = self.required_text(vnode, vpath)
            if value is None or self.too_long(vnode, vpath, value, MAX_LABEL):
                continue
            if value in out:
                self.err(vnode, vpath, f"{value!r} is listed twice")
                continue
            if scope == "cameras" and value not in self.camera_ids:
                # no spelling hint: a fuzzy match over every camera id would cost seconds
                self.err(vnode, vpath, f"unknown camera {value!r}")
                continue
            if scope == "providers" and value not in providers:
                self.err(vnode, vpath, f"unknown provider {value!r}"
                                       f"{self.hint(value, providers)}")
                continue
            out.append(value)
        return tuple(out)


_WEEKDAY_SET = frozenset(WEEKDAYS)
_ZONES: list[frozenset[str]] = []


def _zone_names() -> frozenset[str]:
    if not _ZONES:  # read from disk on the first unknown name only
        _ZONES.append(frozenset(zoneinfo.available_timezones()))
    return _ZONES[0]
