"""The figures of a provider report, computed from the ledger and the configuration.

Availability counts a camera-second as down only when the provider is answerable for it.
For each camera, over the time it was in the inventory during the period (cut exactly at the
period's boundaries in the report's time zone) and after its first answer ever (before it,
the camera is "claimed, never verified": not availability time, listed, and counted against
the installation figures):

- excluded time is the union of `monitor_down` (every instance that watched the camera was
  stopped), the maintenance windows that cover the camera, and the seconds of its outages
  that fall in a recorded down interval of its uplink (a command-centre link: the city's
  network), per second, exactly as the other two;
- the seconds of a camera outage that the provider disputed and the city accepted
  (monitor/history/disputes.py, as they stood when the report was made) are excluded too
  (`excluded=dispute`), after the three above; pending and rejected disputes change
  nothing and are listed;
- eligible = present - excluded; down = camera outages outside excluded time;
- availability = 1 - down / eligible, per provider over the sum of its cameras.

Each outage is listed cut into pieces at the cause and exclusion boundaries, so the pieces
with an empty `excluded` add up to exactly the counted downtime.  Feed outages are listed
(cut at the command centre's down intervals: `link_down` inside, `feed_missing` outside) and
shown apart, in `feed_s`: feed time is never part of the measured camera time.

Rows of every kind are merged across the instances of an HA pair (the union of their times),
and `monitor_down` is the time when no instance watched, per camera and in the totals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from ..history.reader import Reader
from ..model import Camera, Cause, Inventory, Provider, is_ring_one
from .figures import (CAUSES, CameraFigures, Coverage, Milestone, Piece, ProviderFigures,
                      Reach, Report, Row)
from .intervals import (Intervals, add_daily, clip, day_bounds, intersect, merge, subtract,
                        total, window_intervals, window_matches)

__all__ = ["CAUSES", "CameraFigures", "Coverage", "Milestone", "Piece", "ProviderFigures",
           "Report", "compute", "period_of"]

PACE_DAYS = 28  # the pace of installation is measured over the last four weeks
#: Causes of a feed row that are the feed's own (not its camera's): merged, then re-cut per
#: second at the command centre's down intervals.
_FEED_OWN = (Cause.FEED_MISSING, Cause.LINK_DOWN)


#: A named tuple made without its generated Python `__new__`: a million rows per report
_new = tuple.__new__


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
        elif action == "removed":  # endpoint_forced (monitor.config.reload_guard) is no presence change
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


def _covered(ivs: Iterable[tuple[float, float]], t: float) -> bool:
    return any(s <= t < e for s, e in ivs)


class _Links:
    """The recorded down intervals of the command-centre links (the union over instances),
    by camera uplink and by centre."""

    def __init__(self, rows: Iterable, inventory: Inventory, t0: float, t1: float) -> None:
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in rows:
            if r.cause == "down":  # a link row's cause is the link's state: down or degraded
                spans[r.subject].append((r.start, r.end))
        self.down = {k: clip(merge(v), t0, t1) for k, v in spans.items()}
        self.centres = {c.name: [f"{c.name}/{link.name}" for link in c.links]
                        for c in inventory.command_centres}
        self.integration_centre = {c.name: c.name for c in inventory.command_centres}
        for i in inventory.integrations:
            if i.centre:
                self.integration_centre[i.name] = i.centre
        self._uplinks: dict[str, Intervals] = {}
        self._feeds: dict[str, Intervals] = {}

    def uplink(self, uplink: str) -> Intervals:
        """An uplink named "centre/link" or by the link's name alone."""
        got = self._uplinks.get(uplink)
        if got is None:
            got = merge(iv for key, ivs in self.down.items()
                        if uplink in (key, key.partition("/")[2]) for iv in ivs)
            self._uplinks[uplink] = got
        return got

    def feed(self, integration: str) -> Intervals:
        """When the feed's command centre was unreachable: every link of it down.  Each
        such interval starts where the first of those links was seen down: the verdicts on
        the links of one cut arrive a probe round apart, and a feed lost between them is
        lost to the cut, not to the provider."""
        got = self._feeds.get(integration)
        if got is None:
            keys = self.centres.get(self.integration_centre.get(integration, ""), [])
            both: Intervals | None = None
            for key in keys:
                ivs = self.down.get(key, [])
                both = ivs if both is None else intersect(both, ivs)
            both = both or []
            # each stretch when some link was down: its first centre-down interval starts
            # where the stretch does
            early = []
            for s, e in merge(iv for key in keys for iv in self.down.get(key, [])):
                inside = next((iv for iv in both if s <= iv[0] < e), None)
                if inside is not None:
                    early.append((s, inside[0]))
            got = merge(both + early)
            self._feeds[integration] = got
        return got


def compute(reader: Reader, inventory: Inventory, start: dt.datetime, end: dt.datetime, label: str,
            provider_filter: str | None = None, now: float | None = None,
            progress: Callable[[float], None] | None = None, as_of: float | None = None) -> Report:
    """Everything the HTML, PDF and CSV files show, for [start, end) (aware datetimes),
    measured at `as_of` (default: the period's end, or `now` if earlier)."""
    tz: ZoneInfo = start.tzinfo  # type: ignore[assignment] - period_of makes them
    now = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
    t0, t1 = start.timestamp(), end.timestamp()
    # the moment every figure is measured at: the future is not on record
    t_end = max(t0, min(t1, now if as_of is None else as_of))
    bounds, days = day_bounds(start, end)
    step = progress or (lambda _f: None)

    config_cams = {c.id: c for c in inventory.cameras}
    config_providers = {p.name: p for p in inventory.providers}
    centres = {c.name for c in inventory.command_centres}
    presence, latest_provider, cam_instances = _presence(reader.inventory_changes(t_end), t0, t_end)
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
        if p is not None:
            f.sla, f.target = float(p.sla), int(p.target_cameras)
        f.daily_present = [0.0] * len(days)
        f.daily_excluded = [0.0] * len(days)
        f.daily_down = [0.0] * len(days)

    # monitor_down per camera: the time when every instance that had the camera was down
    down_by_instance = {i: merge(ivs) for i, ivs in reader.monitor_down(t0, t_end, t_end).items()}
    mdown_cache: dict[frozenset, Intervals] = {}

    def monitor_down_of(instances: Iterable[str]) -> Intervals:
        key = frozenset(instances)
        got = mdown_cache.get(key)
        if got is None:
            both: Intervals | None = None
            for inst in key:
                ivs = down_by_instance.get(inst, [])
                both = ivs if both is None else intersect(both, ivs)
            got = mdown_cache[key] = both or []
        return got

    windows = [(w, window_intervals(w, t0, t1, tz)) for w in inventory.maintenance]
    windows = [(w, ivs) for w, ivs in windows if ivs]
    # as they stand at `now`, the report's one instant (report.json's as_of, which
    # `report --verify` recomputes at): disputes are filed and decided after a period ends
    disputes = reader.disputes(t0, t1, provider_filter, as_of=now)
    accepted: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for d in disputes:
        if d.status == "accepted":
            accepted[d.camera].append((d.start, d.end))

    # the ledger's rows for the period, grouped by camera (strings interned: a million rows)
    strings: dict[str, str] = {}
    cam_rows: dict[str, list[Row]] = defaultdict(list)
    feed_rows: dict[str, list[Row]] = defaultdict(list)
    link_rows = []
    causes = {}
    for r in reader.outage_rows(t0, t_end, ("camera", "feed", "link")):
        if r.kind == "link":
            link_rows.append(r)
            continue
        if r.subject not in presence:
            continue
        cause = causes.get(r.cause)
        if cause is None:
            cause = causes[r.cause] = Cause.of(r.cause)
        row = _new(Row, (r.start, r.end, _intern(strings, r.reason), cause,
                         _intern(strings, r.check), _intern(strings, r.integration)))
        (cam_rows if r.kind == "camera" else feed_rows)[r.subject].append(row)
    links = _Links(link_rows, inventory, t0, t_end)
    step(0.4)
    firsts = reader.first_answers()
    # "up at the end": as the ledger last knew it (after a stop, the last heartbeat's view)
    beats = reader.heartbeats().values()
    t_state = min(t_end, max(beats)) if beats else t_end

    pieces: list[Piece] = []
    per_camera: list[CameraFigures] = []
    full_days = [bounds[i + 1] - bounds[i] for i in range(len(days))]
    n_cams = len(presence)
    for n, (camera, seen) in enumerate(presence.items()):
        if n % 5000 == 0:
            step(0.4 + 0.5 * n / max(1, n_cams))
        prov = provider_of(camera)
        f = figures[prov]
        cfg = config_cams.get(camera)
        first = firsts.get(camera)
        # before its first answer a camera is claimed, not verified: no availability time
        pres = seen if first is None or first <= seen[0][0] else clip(seen, first, t_end)
        if first is None or first >= t_end:
            pres = []
        rows = _coalesce(cam_rows.get(camera, ()))
        feeds = feed_rows.get(camera, ())
        mdown = intersect(monitor_down_of(cam_instances.get(camera, ())), pres)
        if not pres:
            _end_state(f, camera, cfg, seen, pres, first, t_state, rows, feeds, centres, mdown)
            continue
        maint = merge(iv for w, ivs in windows if cfg is not None and window_matches(w, cfg) for iv in ivs)
        maint = subtract(intersect(maint, pres), mdown)
        present_s = total(pres)
        f.present_s += present_s
        if not rows and not feeds and not mdown and not maint:
            f.eligible_s += present_s
            if pres == [(t0, t1)]:
                for i, d in enumerate(full_days):
                    f.daily_present[i] += d
            else:
                add_daily(pres, bounds, f.daily_present)
            per_camera.append(CameraFigures(camera, prov, 0.0, present_s, 0))
            _end_state(f, camera, cfg, seen, pres, first, t_state, (), (), centres, mdown)
            continue
        all_out = intersect(merge((r.start, r.end) for r in rows), pres)
        uplink_down = links.uplink(cfg.uplink) if cfg is not None and cfg.uplink else []
        if uplink_down:
            uplink_down = intersect(uplink_down, pres)
            link_out = subtract(intersect(all_out, uplink_down), merge(mdown + maint))
            excluded = merge(mdown + maint + link_out)
        else:
            link_out = []
            excluded = merge(mdown + maint)
        # an accepted dispute excludes only seconds that would otherwise count as down
        disputed = subtract(intersect(merge(accepted[camera]), all_out), excluded) \
            if camera in accepted else []
        if disputed:
            excluded = merge(excluded + disputed)
            f.disputed_s += total(disputed)
        counted = subtract(all_out, excluded)
        down_s = total(counted)
        eligible_s = present_s - total(excluded)
        # the rows overlap the period already; most cameras are present all of it
        listed = rows if pres == [(t0, t_end)] else [
            r for r in rows if any(s < r.end and r.start < e for s, e in pres)]
        f.eligible_s += eligible_s
        f.down_s += down_s
        f.outages += len(listed)
        f.by_cause[Cause.CAMERA] += down_s
        f.by_cause[Cause.LINK_DOWN] += total(link_out)
        f.by_cause[Cause.MAINTENANCE] += total(intersect(all_out, maint))
        f.by_cause[Cause.MONITOR_DOWN] += total(intersect(all_out, mdown))
        add_daily(pres, bounds, f.daily_present)
        add_daily(excluded, bounds, f.daily_excluded)
        add_daily(counted, bounds, f.daily_down)
        per_camera.append(CameraFigures(camera, prov, down_s, eligible_s, len(listed)))
        for r in listed:
            _cut(pieces, camera, prov, "camera", r, Cause.CAMERA, pres, uplink_down, mdown, maint,
                 disputed)
        for integ, own in _own_feed_rows(feeds).items():
            centre_down = intersect(links.feed(integ), pres)
            for r in own:
                cut_at = len(pieces)
                _cut(pieces, camera, prov, "feed", r, Cause.FEED_MISSING, pres, centre_down, mdown, maint)
                for p in pieces[cut_at:]:
                    if not p.excluded or p.excluded == Cause.LINK_DOWN:
                        f.feed_s[p.cause] += p.end - p.start
                        if p.cause == Cause.FEED_MISSING:
                            f.by_cause[Cause.FEED_MISSING] += p.end - p.start
        _end_state(f, camera, cfg, seen, pres, first, t_state, rows, feeds, centres, mdown)
    step(0.9)

    observed_from = reader.span()
    began = observed_from[0] if observed_from else None
    for name, f in figures.items():
        _installation(f, config_providers.get(name), config_cams, presence, provider_of,
                      firsts, began, t_end, end, tz)

    total_f = ProviderFigures("total")
    total_f.daily_present = [0.0] * len(days)
    total_f.daily_excluded = [0.0] * len(days)
    total_f.daily_down = [0.0] * len(days)
    for f in figures.values():
        for attr in ("target", "claimed", "configured", "verified", "up", "integrated", "ring_one",
                     "ring_one_connected", "police_feeds", "police_connected", "present_s",
                     "eligible_s", "down_s", "outages", "pace_per_week", "disputed_s"):
            setattr(total_f, attr, getattr(total_f, attr) + getattr(f, attr))
        total_f.smart_city.add(f.smart_city)
        total_f.police.add(f.police)
        total_f.never_verified.extend(f.never_verified)
        for c in CAUSES:
            total_f.by_cause[c] += f.by_cause[c]
        for c in f.feed_s:
            total_f.feed_s[c] += f.feed_s[c]
        for i in range(len(days)):
            total_f.daily_present[i] += f.daily_present[i]
            total_f.daily_excluded[i] += f.daily_excluded[i]
            total_f.daily_down[i] += f.daily_down[i]
    pieces.sort(key=lambda p: (p.start, p.camera, p.kind))
    worst = sorted((c for c in per_camera if c.down_s > 0), key=lambda c: (-c.down_s, c.camera))[:20]
    # the time when no instance watched a camera it had: per set of instances, then the union
    unwatched = merge(iv for key in {frozenset(cam_instances.get(c, ())) for c in presence}
                      or {frozenset(down_by_instance)} for iv in monitor_down_of(key))
    monitor_down_s = total(clip(unwatched, t0, t_end))
    first_in = max(t0, began) if began is not None and began < t_end else None
    last_in = min(t_end, max(beats)) if beats and first_in is not None else None
    coverage = Coverage(began, first_in, last_in, monitor_down_s)
    step(1.0)
    return Report(start, end, tz, label, days, list(figures.values()), total_f, pieces, worst,
                  monitor_down_s, dt.datetime.fromtimestamp(now, tz),
                  dt.datetime.fromtimestamp(t_end, tz), coverage, reader.clock_steps(t0, t1),
                  disputes)


def _coalesce(rows: Iterable[Row]) -> list[Row]:
    """One outage where an HA pair (two instances watching the same subject) recorded two
    overlapping ones: the earlier row's reason and cause, the union of their times.  One
    instance never overlaps itself (it closes an outage before it opens the next)."""
    rows = list(rows)
    if len(rows) < 2:
        return rows
    out: list[Row] = []
    for row in sorted(rows):
        if out and row.start < out[-1].end:
            if row.end > out[-1].end:
                out[-1] = out[-1]._replace(end=row.end)
        else:
            out.append(row)
    return out


def _own_feed_rows(feeds: Iterable[Row]) -> dict[str, list[Row]]:
    """Per integration, the feed's own outages (not its camera's), merged across instances
    and across the cause the monitor gave them at the time: the cause is re-decided per
    second against the recorded link intervals."""
    by_integ: dict[str, list[Row]] = defaultdict(list)
    for r in feeds:
        if r.cause in _FEED_OWN:
            by_integ[r.integration].append(r._replace(cause=Cause.FEED_MISSING))
    return {k: _coalesce(v) for k, v in by_integ.items()}


def _cut(pieces: list[Piece], camera: str, prov: str, kind: str, r: Row, own: Cause,
         pres: Intervals, link_down: Intervals, mdown: Intervals, maint: Intervals,
         disputed: Intervals = ()) -> None:  # type: ignore[assignment]
    """List one outage cut at the camera's presence, at its link's down intervals (cause
    `link_down` inside, `own` outside), and at its exclusions (accepted disputes last)."""
    if not link_down and not mdown and not maint and not disputed and len(pres) == 1:  # the common case
        a, b = max(r.start, pres[0][0]), min(r.end, pres[0][1])
        if a < b:
            pieces.append(Piece(camera, prov, kind, a, b, r.reason, own, r.check, "", r.integration))
        return
    if len(pres) == 1:
        a, b = max(r.start, pres[0][0]), min(r.end, pres[0][1])
        ivs = [(a, b)] if a < b else []
    else:
        ivs = intersect([(r.start, r.end)], pres)
    if not ivs:
        return
    parts = ((Cause.LINK_DOWN, intersect(ivs, link_down)), (own, subtract(ivs, link_down))) \
        if link_down else ((own, ivs),)
    for cause, part in parts:
        for label, excl in ((Cause.MONITOR_DOWN, mdown), (Cause.MAINTENANCE, maint),
                            (Cause.DISPUTE, list(disputed))):
            if part and excl:
                for a, b in intersect(part, excl):
                    pieces.append(Piece(camera, prov, kind, a, b, r.reason, cause, r.check, label,
                                        r.integration))
                part = subtract(part, excl)
        label = Cause.LINK_DOWN if cause == Cause.LINK_DOWN else ""
        for a, b in part:
            pieces.append(Piece(camera, prov, kind, a, b, r.reason, cause, r.check, label, r.integration))


def _end_state(f: ProviderFigures, camera: str, cfg: Camera | None, seen: Intervals,
               pres: Intervals, first: float | None, t_end: float, rows: Iterable[Row],
               feeds: Iterable[Row], centres: set[str], mdown: Intervals) -> None:
    """Installed, verified, up, integrated and connected counts at the end of the period,
    and the feeds that reached for the SLA share of the camera's observed time."""
    at = t_end - 1e-6
    if not _covered(seen, at):
        return
    f.configured += 1
    if first is None or first > t_end:
        f.never_verified.append(camera)
        if cfg is not None:
            _reach(f, cfg, centres, None, (), [], [])
        return
    f.verified += 1
    if not any(r.start <= at < r.end for r in rows):
        f.up += 1
    if cfg is None:
        return
    observed = subtract(pres, mdown) if cfg.feeds else pres
    connected = _reach(f, cfg, centres, at, feeds, observed, pres)
    if is_ring_one(cfg.zone):
        f.ring_one += 1
        f.ring_one_connected += connected


def _reach(f: ProviderFigures, cfg: Camera, centres: set[str], at: float | None,
           feeds: Iterable[Row], observed: Intervals, pres: Intervals) -> bool:
    """Count the camera's claimed and measured feeds; whether its police feeds all reach."""
    if any(i not in centres for i in cfg.integrations):
        f.integrated += 1
        f.smart_city.configured += 1
    police = [i for i, _ep in cfg.feeds if i in centres]
    if police:
        f.police_feeds += 1
        f.police.configured += 1
    platform = [i for i, _ep in cfg.feeds if i not in centres]
    verdict = False
    if not platform and not police:
        return verdict
    feeds = list(feeds)
    for reach, names in ((f.smart_city, platform), (f.police, police)):
        if not names:
            continue
        reach.measured += 1
        if at is None:  # never answered: measured as not reaching
            reach.sla_share = (reach.sla_share or 0) if f.sla else None
            continue
        down = merge((r.start, r.end) for r in feeds if r.integration in names)
        at_end = not _covered(down, at)
        reach.at_end += at_end
        if f.sla:
            seen = total(observed)
            share = 1.0 - total(intersect(down, observed)) / seen if seen > 0 else 0.0
            reach.sla_share = (reach.sla_share or 0) + (share >= f.sla)
        if names is police:
            verdict = at_end
    if police:
        f.police_connected += verdict
    return verdict


def _installation(f: ProviderFigures, p: Provider | None, config_cams: dict[str, Camera],
                  presence: dict[str, Intervals], provider_of: Callable[[str], str],
                  firsts: dict[str, float], began: float | None, t_end: float,
                  end: dt.datetime, tz: ZoneInfo) -> None:
    """Claimed installations, the pace of verified ones and the milestones.  The monitor
    did not exist before `began` (the ledger's first record): milestones due before are
    "not observed", the pace is measured from then at the earliest, and cameras claimed
    installed before then are not new installations when first seen."""
    name = f.name
    f.claimed = sum(1 for c in config_cams.values() if c.provider == name
                    and c.claimed_installed is not None and c.claimed_installed < end.date())
    cams = [c for c in presence if provider_of(c) == name]
    began_day = dt.datetime.fromtimestamp(began, tz).date() if began is not None else None
    pace_from = t_end - PACE_DAYS * 86400
    if began is not None and began > pace_from:
        pace_from = began
    f.pace_from = dt.datetime.fromtimestamp(pace_from, tz).date()

    def new(camera: str) -> bool:
        cfg = config_cams.get(camera)
        claimed = cfg.claimed_installed if cfg is not None else None
        return not (claimed is not None and began_day is not None and claimed < began_day)

    recent = sum(1 for c in cams if pace_from < firsts.get(c, -1) <= t_end and new(c))
    days = (t_end - pace_from) / 86400
    f.pace_per_week = recent * 7 / days if days >= 1 else 0.0
    if f.target > f.verified and f.pace_per_week > 0:
        weeks = (f.target - f.verified) / f.pace_per_week
        f.forecast = (dt.datetime.fromtimestamp(t_end, tz) + dt.timedelta(weeks=weeks)).date()
    for m in (p.milestones if p is not None else ()):
        cut = dt.datetime.combine(m.by + dt.timedelta(days=1), dt.time(), tz).timestamp()
        if began is None or cut <= began:
            f.milestones.append(Milestone(m.by, m.cameras, None, "not_observed"))
        elif cut <= t_end:
            verified = sum(1 for c in cams if firsts.get(c, float("inf")) < cut)
            f.milestones.append(Milestone(m.by, m.cameras, verified,
                                          "met" if verified >= m.cameras else "missed"))
        else:
            f.milestones.append(Milestone(m.by, m.cameras, None, "upcoming"))
    f.milestones.sort(key=lambda m: m.by)


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


