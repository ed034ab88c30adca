"""The figures of a provider report, computed from the ledger and the configuration.

Availability counts a camera-second as down only when the provider is answerable for it.
For each camera, over the time it was in the inventory during the period (cut exactly at the
period's boundaries in the report's time zone):

- excluded time is the union of `monitor_down` (every instance that watched the camera was
  stopped), the maintenance windows that cover the camera, and link-caused outages (the
  camera's uplink is a command-centre link that was down: the city's network);
- accepted disputes (monitor/history/disputes.py): the disputed seconds of a camera outage
  that the city accepted are excluded too (`excluded=dispute`), after the three above;
  pending and rejected disputes change nothing and are listed;
- eligible = present - excluded; down = camera outages outside excluded time;
- availability = 1 - down / eligible, per provider over the sum of its cameras.

Each outage is listed cut into pieces at the exclusion boundaries, so the pieces with an
empty `excluded` add up to exactly the counted downtime.  Feed outages are listed (cause
`feed`, or `link` when the command centre's link was down) and shown in the downtime by
cause, but the availability is the cameras'.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from ..history.reader import Reader
from ..model import is_ring_one
from .intervals import (Intervals, add_daily, clip, day_bounds, intersect, merge, subtract,
                        total, window_intervals, window_matches)

CAUSES = ("camera", "link", "feed", "maintenance", "monitor_down")
PACE_DAYS = 28  # the pace of installation is measured over the last four weeks


@dataclass(slots=True)
class Piece:
    """One listed outage (or the part of it with one exclusion)."""

    camera: str
    provider: str
    kind: str  # camera | feed
    start: float
    end: float
    reason: str
    cause: str  # camera | link | feed
    check: str
    excluded: str  # "" | maintenance | link | monitor_down | dispute
    integration: str = ""


@dataclass
class Milestone:
    by: dt.date
    cameras: int
    verified: int | None  # verified cameras at that date, when it is past
    status: str  # met | missed | upcoming


@dataclass
class ProviderFigures:
    name: str
    sla: float = 0.0
    target: int = 0
    claimed: int = 0
    configured: int = 0
    verified: int = 0
    up: int = 0
    integrated: int = 0
    ring_one: int = 0
    ring_one_connected: int = 0
    police_feeds: int = 0
    police_connected: int = 0
    present_s: float = 0.0
    eligible_s: float = 0.0
    down_s: float = 0.0
    outages: int = 0
    by_cause: dict[str, float] = field(default_factory=lambda: {c: 0.0 for c in CAUSES})
    daily_present: list[float] = field(default_factory=list)
    daily_excluded: list[float] = field(default_factory=list)
    daily_down: list[float] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    pace_per_week: float = 0.0
    forecast: dt.date | None = None
    disputed_s: float = 0.0  # seconds excluded by accepted disputes

    @property
    def availability(self) -> float | None:
        return None if self.eligible_s <= 0 else max(0.0, 1.0 - self.down_s / self.eligible_s)

    def daily_availability(self) -> list[float | None]:
        out = []
        for p, x, d in zip(self.daily_present, self.daily_excluded, self.daily_down):
            eligible = p - x
            out.append(None if eligible <= 0 else max(0.0, 1.0 - d / eligible))
        return out

    @property
    def next_milestone(self) -> Milestone | None:
        return next((m for m in self.milestones if m.status == "upcoming"), None)


@dataclass
class CameraFigures:
    camera: str
    provider: str
    down_s: float
    eligible_s: float
    outages: int

    @property
    def availability(self) -> float | None:
        return None if self.eligible_s <= 0 else max(0.0, 1.0 - self.down_s / self.eligible_s)


@dataclass
class Report:
    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo
    label: str
    days: list[dt.date]
    providers: list[ProviderFigures]
    total: ProviderFigures
    pieces: list[Piece]
    worst: list[CameraFigures]
    monitor_down_s: float
    generated: dt.datetime
    clock_steps: list = field(default_factory=list)  # reader.ClockStep: the wall clock stepped
    disputes: list = field(default_factory=list)  # history.disputes.Dispute over the period
    final: bool = True  # False while the period is not over (a preview)


def _intern(cache: dict[str, str], value: str) -> str:
    return cache.setdefault(value, value)


def _presence(changes: list[tuple], start: float, end: float) -> tuple[dict[str, Intervals], dict[str, str], dict[str, set[str]]]:
    """Per camera: the periods it was in some instance's inventory, its latest provider,
    and the instances that had it."""
    opened: dict[tuple[str, str], float] = {}
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    provider: dict[str, str] = {}
    instances: dict[str, set[str]] = defaultdict(set)
    for ts, camera, prov, action, inst in changes:
        key = (camera, inst)
        if action == "added":
            opened.setdefault(key, ts)
            provider[camera] = prov
            instances[camera].add(inst)
        elif action == "removed":  # endpoint_forced (monitor.reload_guard) is no presence change
            since = opened.pop(key, None)
            if since is not None:
                spans[camera].append((since, ts))
    for (camera, _inst), since in opened.items():
        spans[camera].append((since, end))
    presence = {}
    for camera, ivs in spans.items():
        cut = clip(merge(ivs), start, end)
        if cut:
            presence[camera] = cut
    return presence, provider, instances


def _covered(ivs: Intervals, t: float) -> bool:
    return any(s <= t < e for s, e in ivs)


def compute(reader: Reader, inventory: Any, start: dt.datetime, end: dt.datetime, label: str,
            provider_filter: str | None = None, now: float | None = None,
            progress: Callable[[float], None] | None = None) -> Report:
    """Everything the HTML, PDF and CSV files show, for [start, end) (aware datetimes)."""
    tz = start.tzinfo
    now = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
    t0, t1 = start.timestamp(), end.timestamp()
    t_end = min(t1, now)  # the moment "installed", "verified", "up" are counted at
    bounds, days = day_bounds(start, end)
    step = progress or (lambda _f: None)

    config_cams = {c.id: c for c in getattr(inventory, "cameras", ())}
    config_providers = {p.name: p for p in getattr(inventory, "providers", ())}
    centres = {c.name for c in getattr(inventory, "command_centres", ())}
    # the future is not on record: a report of the current month measures up to now
    presence, latest_provider, cam_instances = _presence(reader.inventory_changes(t1), t0, t_end)
    step(0.1)

    def provider_of(camera: str) -> str:
        c = config_cams.get(camera)
        return latest_provider.get(camera) or (c.provider if c is not None else "")

    if provider_filter:
        presence = {c: ivs for c, ivs in presence.items() if provider_of(c) == provider_filter}
    names = sorted({provider_of(c) for c in presence} | (
        {provider_filter} if provider_filter else set(config_providers)))
    figures = {n: ProviderFigures(n) for n in names}
    for n, f in figures.items():
        p = config_providers.get(n)
        f.sla = float(getattr(p, "sla", 0.0) or 0.0)
        f.target = int(getattr(p, "target_cameras", 0) or 0)
        f.daily_present = [0.0] * len(days)
        f.daily_excluded = [0.0] * len(days)
        f.daily_down = [0.0] * len(days)

    # monitor_down per camera: the time when every instance that had the camera was down
    down_by_instance = {i: merge(ivs) for i, ivs in reader.monitor_down(t0, t1, now).items()}
    mdown_cache: dict[frozenset, Intervals] = {}

    def monitor_down_of(camera: str) -> Intervals:
        key = frozenset(cam_instances.get(camera, ()))
        got = mdown_cache.get(key)
        if got is None:
            got = None
            for inst in key:
                ivs = down_by_instance.get(inst, [])
                got = ivs if got is None else intersect(got, ivs)
            got = got or []
            mdown_cache[key] = got
        return got

    windows = [(w, window_intervals(w, t0, t1, tz)) for w in inventory.maintenance]
    windows = [(w, ivs) for w, ivs in windows if ivs]
    disputes = _disputes(reader, t0, t1, provider_filter, now)
    accepted: dict[str, Intervals] = {}
    for d in disputes:
        if d.status == "accepted":
            accepted.setdefault(d.camera, []).append((d.start, d.end))

    # the ledger's rows for the period, grouped by camera (strings interned: a million rows)
    strings: dict[str, str] = {}
    cam_rows: dict[str, list[tuple]] = defaultdict(list)
    feed_rows: dict[str, list[tuple]] = defaultdict(list)
    for kind, subject, integ, _p, s, e, reason, cause, check, _d, _i, _o in reader.outage_rows(
            t0, t1, ("camera", "feed")):
        if subject not in presence:
            continue
        row = (s, e, _intern(strings, reason), _intern(strings, cause),
               _intern(strings, check), _intern(strings, integ))
        (cam_rows if kind == "camera" else feed_rows)[subject].append(row)
    step(0.4)
    firsts = reader.first_answers()
    # "up at the end": as the ledger last knew it (after a stop, the last heartbeat's view)
    beats = reader.heartbeats().values()
    t_state = min(t_end, max(beats)) if beats else t_end

    pieces: list[Piece] = []
    per_camera: list[CameraFigures] = []
    full_days = [bounds[i + 1] - bounds[i] for i in range(len(days))]
    n_cams = len(presence)
    for n, (camera, pres) in enumerate(presence.items()):
        if n % 5000 == 0:
            step(0.4 + 0.5 * n / max(1, n_cams))
        prov = provider_of(camera)
        f = figures[prov]
        cfg = config_cams.get(camera)
        maint = merge(iv for w, ivs in windows if cfg is not None and window_matches(w, cfg) for iv in ivs)
        mdown = intersect(monitor_down_of(camera), pres)
        maint = subtract(intersect(maint, pres), mdown)
        rows = _coalesce(cam_rows.get(camera, ()))
        frows = [r for r in feed_rows.get(camera, ()) if r[3] in ("feed_missing", "link_down")]
        present_s = total(pres)
        f.present_s += present_s
        if not rows and not frows and not mdown and not maint:
            f.eligible_s += present_s
            if pres == [(t0, t1)]:
                for i, d in enumerate(full_days):
                    f.daily_present[i] += d
            else:
                add_daily(pres, bounds, f.daily_present)
            per_camera.append(CameraFigures(camera, prov, 0.0, present_s, 0))
            _end_state(f, camera, cfg, pres, firsts, t_state, (), feed_rows.get(camera, ()), centres)
            continue
        all_out = clip(merge((r[0], r[1]) for r in rows), t0, t1)
        link_out = clip(merge((r[0], r[1]) for r in rows if r[3] == "link"), t0, t1)
        link_out = subtract(intersect(link_out, pres), merge(mdown + maint))
        excluded = merge(mdown + maint + link_out)
        # an accepted dispute excludes only seconds that would otherwise count as down
        disputed = subtract(intersect(intersect(merge(accepted.get(camera, ())), all_out), pres),
                            excluded)
        if disputed:
            excluded = merge(excluded + disputed)
            f.disputed_s += total(disputed)
        counted = subtract(intersect(all_out, pres), excluded)
        down_s = total(counted)
        eligible_s = present_s - total(excluded)
        f.eligible_s += eligible_s
        f.down_s += down_s
        f.outages += len(rows)
        f.by_cause["camera"] += down_s
        f.by_cause["link"] += total(link_out)
        f.by_cause["maintenance"] += total(intersect(all_out, maint))
        f.by_cause["monitor_down"] += total(intersect(all_out, mdown))
        add_daily(pres, bounds, f.daily_present)
        add_daily(excluded, bounds, f.daily_excluded)
        add_daily(counted, bounds, f.daily_down)
        per_camera.append(CameraFigures(camera, prov, down_s, eligible_s, len(rows)))
        for s, e, reason, cause, check, _integ in rows:
            cause = "link" if cause == "link" else "camera"
            _cut(pieces, camera, prov, "camera", s, e, reason, cause, check, "", pres, mdown, maint,
                 cause == "link", disputed)
        for s, e, reason, cause, check, integ in frows:
            is_link = cause == "link_down"
            feed_ivs = subtract(intersect(clip([(s, e)], t0, t1), pres), merge(mdown + maint))
            f.by_cause["link" if is_link else "feed"] += total(feed_ivs)
            _cut(pieces, camera, prov, "feed", s, e, reason, "link" if is_link else "feed", check,
                 integ, pres, mdown, maint, is_link)
        _end_state(f, camera, cfg, pres, firsts, t_state, rows, feed_rows.get(camera, ()), centres)
    step(0.9)

    for name, f in figures.items():
        p = config_providers.get(name)
        f.claimed = sum(1 for c in config_cams.values() if c.provider == name
                        and _claimed_by(c, end.date()))
        cams = [c for c in presence if provider_of(c) == name]
        pace_from = t_end - PACE_DAYS * 86400
        recent = sum(1 for c in cams if pace_from < firsts.get(c, -1) <= t_end)
        f.pace_per_week = recent * 7 / PACE_DAYS
        if f.target > f.verified and f.pace_per_week > 0:
            weeks = (f.target - f.verified) / f.pace_per_week
            f.forecast = (dt.datetime.fromtimestamp(t_end, tz) + dt.timedelta(weeks=weeks)).date()
        for m in getattr(p, "milestones", ()) or ():
            by, count = _milestone(m)
            if by is None:
                continue
            cut = dt.datetime.combine(by + dt.timedelta(days=1), dt.time(), tz).timestamp()
            if cut <= t_end:
                verified = sum(1 for c in cams if firsts.get(c, float("inf")) < cut)
                f.milestones.append(Milestone(by, count, verified, "met" if verified >= count else "missed"))
            else:
                f.milestones.append(Milestone(by, count, None, "upcoming"))
        f.milestones.sort(key=lambda m: m.by)

    total_f = ProviderFigures("total")
    total_f.daily_present = [0.0] * len(days)
    total_f.daily_excluded = [0.0] * len(days)
    total_f.daily_down = [0.0] * len(days)
    for f in figures.values():
        for attr in ("target", "claimed", "configured", "verified", "up", "integrated", "ring_one",
                     "ring_one_connected", "police_feeds", "police_connected", "present_s",
                     "eligible_s", "down_s", "outages"):
            setattr(total_f, attr, getattr(total_f, attr) + getattr(f, attr))
        total_f.pace_per_week += f.pace_per_week
        total_f.disputed_s += f.disputed_s
        for c in CAUSES:
            total_f.by_cause[c] += f.by_cause[c]
        for i in range(len(days)):
            total_f.daily_present[i] += f.daily_present[i]
            total_f.daily_excluded[i] += f.daily_excluded[i]
            total_f.daily_down[i] += f.daily_down[i]
    pieces.sort(key=lambda p: (p.start, p.camera, p.kind))
    worst = sorted((c for c in per_camera if c.down_s > 0), key=lambda c: (-c.down_s, c.camera))[:20]
    all_down = merge(iv for ivs in down_by_instance.values() for iv in ivs)
    step(1.0)
    return Report(start, end, tz, label, days, list(figures.values()), total_f, pieces, worst,
                  total(clip(all_down, t0, t1)), dt.datetime.fromtimestamp(now, tz),
                  reader.clock_steps(t0, t1), disputes, final=now >= t1)


def _disputes(reader: Reader, t0: float, t1: float, provider: str | None, now: float) -> list:
    """The disputes whose spans overlap the period, as they stood at `now` (the report's
    as-of instant: a report made again then is the same)."""
    return reader.disputes(t0, t1, provider, as_of=now)


def _coalesce(rows: Any) -> Any:
    """One outage where an HA pair (two instances watching the same camera) recorded two
    overlapping ones: the earlier row's reason and cause, the union of their times.  One
    instance never overlaps itself (it closes an outage before it opens the next)."""
    if len(rows) < 2:
        return rows
    out: list[tuple] = []
    for row in sorted(rows):
        if out and row[0] < out[-1][1]:
            if row[1] > out[-1][1]:
                out[-1] = (out[-1][0], row[1], *out[-1][2:])
        else:
            out.append(row)
    return out


def _cut(pieces: list[Piece], camera: str, prov: str, kind: str, s: float, e: float, reason: str,
         cause: str, check: str, integ: str, pres: Intervals, mdown: Intervals, maint: Intervals,
         is_link: bool, disputed: Intervals = ()) -> None:  # type: ignore[assignment]
    """List one outage, cut at the period, the camera's presence and its exclusions."""
    if not mdown and not maint and not disputed and len(pres) == 1:  # the common case: one piece, clipped
        a, b = max(s, pres[0][0]), min(e, pres[0][1])
        if a < b:
            pieces.append(Piece(camera, prov, kind, a, b, reason, cause, check,
                                "link" if is_link else "", integ))
        return
    ivs = intersect([(s, e)], pres)
    for label, excl in (("monitor_down", mdown), ("maintenance", maint),
                        ("dispute", list(disputed))):
        if not ivs:
            return
        inside = intersect(ivs, excl)
        for a, b in inside:
            pieces.append(Piece(camera, prov, kind, a, b, reason, cause, check, label, integ))
        ivs = subtract(ivs, excl)
    for a, b in ivs:
        pieces.append(Piece(camera, prov, kind, a, b, reason, cause, check,
                            "link" if is_link else "", integ))


def _end_state(f: ProviderFigures, camera: str, cfg: Any, pres: Intervals, firsts: dict[str, float],
               t_end: float, rows: Iterable[tuple], feeds: Iterable[tuple], centres: set[str]) -> None:
    """Installed, verified, up, integrated and connected counts at the end of the period."""
    at = t_end - 1e-6
    if not _covered(pres, at):
        return
    f.configured += 1
    if firsts.get(camera, float("inf")) > t_end:
        return
    f.verified += 1
    if not any(s <= at < e for s, e, *_ in rows):
        f.up += 1
    integrations = tuple(getattr(cfg, "integrations", ()) or ())
    if any(i not in centres for i in integrations):
        f.integrated += 1
    police = [i for i, _ep in (getattr(cfg, "feeds", ()) or ()) if i in centres]
    ring = is_ring_one(str(getattr(cfg, "zone", "")))
    connected = bool(police) and not any(
        s <= at < e for s, e, _r, _c, _k, integ in feeds if integ in police)
    if police:
        f.police_feeds += 1
        f.police_connected += connected
    if ring:
        f.ring_one += 1
        f.ring_one_connected += connected


def _claimed_by(camera: Any, day: dt.date) -> bool:
    claimed = getattr(camera, "claimed_installed", None)
    if claimed is None:
        return False
    if isinstance(claimed, str):
        claimed = dt.date.fromisoformat(claimed[:10])
    if isinstance(claimed, dt.datetime):
        claimed = claimed.date()
    return claimed < day


def _milestone(m: Any) -> tuple[dt.date | None, int]:
    by = getattr(m, "by", None) if not isinstance(m, (tuple, list, dict)) else None
    count = getattr(m, "cameras", 0) if by is not None else 0
    if isinstance(m, dict):
        by, count = m.get("by"), m.get("cameras", 0)
    elif isinstance(m, (tuple, list)):
        by, count = m[0], m[1]
    if isinstance(by, str):
        by = dt.date.fromisoformat(by)
    if isinstance(by, dt.datetime):
        by = by.date()
    return by, int(count or 0)


def period_of(month: str | None, date_from: str | None, date_to: str | None,
              tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime, str]:
    """`--month 2026-10`, or `--from 2026-10-01 --to 2026-10-31` (both days included)."""
    if month:
        year, mon = (int(x) for x in month.split("-"))
        start = dt.datetime(year, mon, 1, tzinfo=tz)
        end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
        return start, end, month
    if not date_from or not date_to:
        raise ValueError("give --month YYYY-MM, or both --from DATE and --to DATE")
    start = dt.datetime.combine(dt.date.fromisoformat(date_from), dt.time(), tz)
    end = dt.datetime.combine(dt.date.fromisoformat(date_to) + dt.timedelta(days=1), dt.time(), tz)
    if end <= start:
        raise ValueError("--to is before --from")
    return start, end, f"{date_from} – {date_to}"


