"""The /status page: what is down, where, since when and why, as one plain HTML page.

It owns `render(state, now) -> bytes`, a pure function of the State read API
(docs/ARCHITECTURE.md) that the web layer serves and caches by
``(state.generation, now // 5)``.  The page is server-rendered, refreshes itself every 15 s,
needs no JavaScript, fits a phone, and escapes every text that came from the configuration
or a probe (camera names are whatever a provider typed into a spreadsheet).

It is built in one pass over the cameras with list joins: at 50,000 cameras with 5,000 down
it renders in tens of milliseconds (tests/test_status_page.py prints the figure).
"""

from __future__ import annotations

import datetime as dt
import functools
from html import escape
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..checks import camera_clock
from ..model import Cause, is_ring_one
from ..probes import evidence
from ..state.uplink_cause import camera_cause

#: Down-camera rows shown at most: beyond this the page stops being useful on a phone and
#: the complete list is in /api/cameras.
MAX_DOWN_ROWS = 5000
#: Ring-one cameras are listed first, whatever their district: they page someone.
MAX_RING_ROWS = 1000
#: A camera clock further than this from the monitor's is listed (CameraClockDrift's
#: default threshold, cctv:camera_clock_offset_seconds:threshold in config/rules.yml).
CLOCK_DRIFT_SECONDS = 10.0
#: Clock rows shown at most, the worst first.
MAX_CLOCK_ROWS = 200

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
header{background:#1d2330;color:#fff;padding:10px 16px}
header h1{font-size:18px;margin:0}
header p{margin:2px 0 0;color:#c5cbd6;font-size:12px}
main{padding:8px 16px 24px;max-width:1400px}
h2{font-size:16px;margin:20px 0 6px;border-bottom:2px solid #d5dae3;padding-bottom:2px}
h3{font-size:14px;margin:14px 0 4px}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin-top:10px}
.card{background:#fff;border-radius:6px;padding:8px 12px;min-width:110px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:22px}
.card span{font-size:12px;color:#5a6372}
.wrap{overflow-x:auto}
table.full{width:100%}
table{border-collapse:collapse;background:#fff;font-size:13px;box-shadow:0 1px 2px #0002}
th,td{padding:3px 8px;text-align:left;border-bottom:1px solid #e3e7ee;white-space:nowrap}
th{background:#e9edf3;font-weight:600}
td.n,th.n{text-align:right}
td.wrapok{white-space:normal;max-width:360px}
.up{color:#11722f;font-weight:600}
.degraded{color:#9a6200;font-weight:600}
.down{color:#b3141b;font-weight:600}
.unknown{color:#6b7280}
.bad{background:#fde8e8}
.warn{background:#fff4d6}
.muted{color:#6b7280}
.ring{background:#b3141b;color:#fff;border-radius:3px;padding:0 4px;font-size:11px}
.maint{background:#5a6372;color:#fff;border-radius:3px;padding:0 4px;font-size:11px}
nav a{margin-right:12px;white-space:nowrap}
img.evidence{display:block;margin-top:4px;border:1px solid #c9d0da;height:auto}
"""


_BAD = ' class="bad"'


def _ago(seconds: float) -> str:
    """A short relative duration: "40 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {(s % 3600) // 60:02d} min"
    return f"{s // 86400} d {(s % 86400) // 3600} h"


@functools.lru_cache(maxsize=8)
def _zone(name: str | None) -> Any:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


def _local_time(now: float, zone_name: str | None) -> str:
    """The page's clock in the configured time zone with its name and offset: a Jakarta
    reader after 17:00 UTC sees today's date, "2026-10-10 07:00:00 WIB (UTC+7)"."""
    from ..report.document import zone_label

    tz = _zone(zone_name)
    return f"{dt.datetime.fromtimestamp(now, tz):%Y-%m-%d %H:%M:%S} {zone_label(tz, now)}"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def _state_class(up: bool | None) -> str:
    return "unknown" if up is None else ("up" if up else "down")


def _table(head: Iterable[str], rows: list[str], numeric: Iterable[int] = (), cls: str = "") -> str:
    num = set(numeric)
    cells = "".join(
        f'<th class="n">{escape(h)}</th>' if i in num else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    attr = f' class="{cls}"' if cls else ""
    return f'<div class="wrap"><table{attr}><thead><tr>{cells}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _down_row(cs: Any, now: float, where: str = "", maintenance: str | None = None,
              links: Any = None) -> str:
    cam = cs.camera
    # down because its uplink is: the city's network, not the provider (model.Cause)
    cause = camera_cause(cs, links or {})
    uplink = escape(cam.uplink) + (f' <span class="maint">{cause}</span>'
                                   if cause == Cause.LINK_DOWN else "")
    check = cs.failed_check or ""
    result = cs.results.get(check) if check else None
    message = result.message if result is not None else ""
    reason = cs.reason.value if cs.reason is not None else "unknown"
    ring_mark = ' <span class="ring">ring 1</span>' if is_ring_one(cam.zone) else ""
    if maintenance:  # planned work: shown, never held against the provider
        ring_mark += f' <span class="maint">maintenance: {escape(maintenance)}</span>'
    name = escape(cam.name)
    if where and f"({where})" not in name:  # names often carry their district already
        name = f'{name} <span class="muted">{where}</span>'

    return (
        f'<tr><td>{escape(cam.id)}{ring_mark}</td><td class="wrapok">{name}</td>'
        f"<td>{escape(cam.provider)}</td><td>{uplink}</td>"
        f'<td>{escape(check)}</td><td class="down">{escape(reason)}</td>'
        f'<td class="wrapok">{escape(message)}{_evidence(cs)}</td>'
        f"<td>down {_ago(now - cs.since)}</td></tr>"
    )


def _evidence(cs: Any) -> str:
    """What the camera showed, beside a picture verdict (black, uniform, frozen)."""
    if evidence.current(cs) is None:
        return ""
    url = escape(evidence.url(cs.camera.id))
    return (f'<br><a href="{url}"><img class="evidence" src="{url}" width="160" '
            f'alt="what {escape(cs.camera.id)} showed" loading="lazy"></a>')


def _offset(seconds: float) -> str:
    sign = "+" if seconds >= 0 else "-"
    a = abs(seconds)
    if a < 120:
        return f"{sign}{a:.0f} s"
    if a < 7200:
        return f"{sign}{a / 60:.0f} min"
    if a < 172800:
        return f"{sign}{a / 3600:.1f} h"
    return f"{sign}{a / 86400:.0f} days"


def _clock_section(known: int, off: list[tuple[tuple[float, str], Any]]) -> str:
    parts = ['<h2 id="clocks">Camera clocks</h2>',
             f"<p>{known:,} cameras told their time; {len(off):,} are more than "
             f"{CLOCK_DRIFT_SECONDS:.0f} s off the monitor's clock (camera minus monitor; "
             "from the Date header of their answers, 1 s resolution, or ONVIF).</p>"]
    if off:
        off.sort(key=lambda item: -abs(item[0][0]))
        rows = [
            f"<tr><td>{escape(cs.camera.id)}</td><td class=\"wrapok\">{escape(cs.camera.name)}</td>"
            f"<td>{escape(cs.camera.provider)}</td>"
            f'<td class="n down">{_offset(value)}</td><td>{escape(source)}</td></tr>'
            for (value, source), cs in off[:MAX_CLOCK_ROWS]
        ]
        parts.append(_table(("camera", "name", "provider", "clock", "from"), rows, numeric=(3,)))
        if len(off) > MAX_CLOCK_ROWS:
            parts.append(f'<p class="muted">and {len(off) - MAX_CLOCK_ROWS:,} more '
                         '(cctv_camera_clock_offset_seconds in /metrics).</p>')
    return "".join(parts)


def _duplicates_section(state: Any) -> str:
    devices = state.devices
    pairs = devices.duplicates() if devices is not None else []
    if not pairs:
        return ""
    cams = state.cameras
    rows = []
    for serial, a, b in pairs[:MAX_CLOCK_ROWS]:
        ca, cb = cams.get(a), cams.get(b)
        rows.append(
            f"<tr><td>{escape(serial)}</td><td>{escape(a)}</td>"
            f'<td class="wrapok">{escape(ca.camera.name if ca else "")}</td><td>{escape(b)}</td>'
            f'<td class="wrapok">{escape(cb.camera.name if cb else "")}</td>'
            f"<td>{escape(ca.camera.provider if ca else '')}</td></tr>")
    return ('<h2 id="duplicates" class="down">One device, two cameras</h2>'
            f"<p>{len(pairs):,} pairs of configured cameras answer with the same device "
            "serial number (ONVIF): one device counted twice in the inventory.</p>"
            + _table(("serial", "camera", "name", "same device as", "name", "provider"), rows))


def render(state: Any, now: float, availability: str = "") -> bytes:
    """The complete page for `state` at wall-clock time `now` (epoch seconds).
    `availability`: the ledger's per-provider section (monitor.report.pages), when there
    is a ledger."""
    inv = state.inventory
    from ..maintenance.current import in_maintenance_now

    maint = in_maintenance_now(inv, now) if inv.maintenance else {}
    providers = {p.name: p for p in inv.providers}
    targets_total = sum(p.target_cameras for p in inv.providers)

    # ---- one pass over the cameras
    up_n = down_n = unknown_n = 0
    per_provider: dict[str, list[int]] = {}  # name -> [installed, up, down, unknown]
    ring = [0, 0]  # ring-one cameras, ring-one cameras down
    feeds: dict[str, dict[str, int]] = {}  # integration -> cause -> count
    down: list[Any] = []
    clocks_known = 0
    clocks_off: list[tuple[tuple[float, str], Any]] = []
    for cs in state.cameras.values():
        cam = cs.camera
        clock = camera_clock(cs.results)
        if clock is not None:
            clocks_known += 1
            if abs(clock[0]) > CLOCK_DRIFT_SECONDS:
                clocks_off.append((clock, cs))
        counts = per_provider.get(cam.provider)
        if counts is None:
            counts = per_provider[cam.provider] = [0, 0, 0, 0]
        counts[0] += 1
        up = cs.up
        if up is None:
            unknown_n += 1
            counts[3] += 1
        elif up:
            up_n += 1
            counts[1] += 1
        else:
            down_n += 1
            counts[2] += 1
            down.append(cs)
        if is_ring_one(cam.zone):
            ring[0] += 1
            if up is False:
                ring[1] += 1
        if cs.feeds:
            for name, fs in cs.feeds.items():
                by_cause = feeds.get(name)
                if by_cause is None:
                    by_cause = feeds[name] = {}
                cause = fs.cause if fs.up is not None else "unknown"
                by_cause[cause] = by_cause.get(cause, 0) + 1

    total = up_n + down_n + unknown_n
    out: list[str] = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="refresh" content="15">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>",
        escape(f"CCTV status: {down_n} down of {total}"),
        "</title><style>",
        _CSS,
        "</style></head><body><header><h1>CCTV network status</h1><p>",
        escape(_local_time(now, getattr(inv, "timezone", None))),
        " &middot; refreshes every 15 s",
        "" if state.ready else " &middot; <b>first round of probes still running</b>",
        '</p></header><main><nav><a href="#links">Links</a><a href="#feeds">Feeds</a>'
        '<a href="#down">Down cameras</a><a href="#clocks">Clocks</a><a href="/metrics">/metrics</a>'
        '<a href="/api/cameras">/api/cameras</a></nav>',
    ]

    # ---- totals
    cards = [
        (f"{total:,}", f"cameras configured (target {targets_total:,})" if targets_total else "cameras configured", ""),
        (f"{up_n:,}", f"up ({_pct(up_n, total)})", "up"),
        (f"{down_n:,}", f"down ({_pct(down_n, total)})", "down" if down_n else ""),
        (f"{unknown_n:,}", "not yet probed", "unknown"),
    ]
    if ring[0]:
        cards.append((f"{ring[1]:,} / {ring[0]:,}", "ring-one cameras down", "down" if ring[1] else "up"))
    out.append('<div class="cards">')
    for value, label, cls in cards:
        out.append(f'<div class="card"><b class="{cls}">{escape(value)}</b><span>{escape(label)}</span></div>')
    out.append("</div>")

    # ---- providers: installed vs target, up now vs SLA
    names = [p.name for p in inv.providers] + sorted(n for n in per_provider if n not in providers)
    rows = []
    for name in names:
        installed, p_up, p_down, p_unknown = per_provider.get(name, [0, 0, 0, 0])
        p = providers.get(name)
        target = p.target_cameras if p else 0
        sla = p.sla if p else 0.0
        known = p_up + p_down
        share = p_up / known if known else None
        below_target = bool(target) and installed < target
        below_sla = share is not None and bool(sla) and share < sla
        rows.append(
            f"<tr{_BAD if below_sla else ''}><td>{escape(name or '(none)')}</td>"
            f'<td class="n{" warn" if below_target else ""}">{installed:,} / {target:,}'
            f" ({_pct(installed, target)})</td>"
            f'<td class="n">{p_up:,}</td><td class="n">{p_down:,}</td><td class="n">{p_unknown:,}</td>'
            f'<td class="n">{"n/a" if share is None else f"{100 * share:.1f}%"}</td>'
            f'<td class="n">{f"{100 * sla:.1f}%" if sla else "n/a"}</td></tr>'
        )
    out.append("<h2>Providers</h2>")
    out.append(_table(
        ("provider", "installed / target", "up", "down", "unknown", "up now", "SLA"),
        rows, numeric=(1, 2, 3, 4, 5, 6),
    ))
    out.append(availability)

    # ---- command-centre links
    out.append('<h2 id="links">Command centre links</h2>')
    rows = []
    centres = [c.name for c in inv.command_centres]
    order = [(c.name, link.name) for c in inv.command_centres for link in c.links]
    keys = [k for k in order if k in state.links] + sorted(k for k in state.links if k not in set(order))
    for key in keys:
        ls = state.links[key]
        r = ls.result
        st = r.state if r is not None else "unknown"
        rtt = f"{r.rtt_avg * 1000:.1f} ms" if r is not None and r.rtt_avg is not None else "&ndash;"
        loss = f"{100 * r.loss:.0f}%" if r is not None else "&ndash;"
        msg = escape(r.message or (r.reason.value if not r.up else "")) if r is not None else ""
        rows.append(
            f"<tr><td>{escape(key[0])}</td><td>{escape(key[1])}</td>"
            f'<td class="{escape(st)}">{escape(st)}</td><td class="n">{rtt}</td>'
            f'<td class="n">{loss}</td><td>{escape(st)} for {_ago(now - ls.since)}</td>'
            f'<td class="wrapok">{msg}</td></tr>'
        )
    if centres:
        summary = []
        for name in centres:
            cu = state.centre_up(name)
            label = "reachable" if cu else ("unreachable" if cu is False else "not yet probed")
            summary.append(f'{escape(name)}: <span class="{_state_class(cu)}">{label}</span>')
        out.append(f"<p>{' &middot; '.join(summary)}</p>")
    out.append(_table(("centre", "link", "state", "RTT", "loss", "since", "detail"), rows, numeric=(3, 4))
               if rows else '<p class="muted">No command centres configured.</p>')

    # ---- feeds per integration
    out.append('<h2 id="feeds">Feeds to integrations</h2>')
    rows = []
    for name in sorted(feeds):
        by_cause = feeds[name]
        n = sum(by_cause.values())
        ok = by_cause.get("ok", 0)
        not_ok = n - ok - by_cause.get("unknown", 0)
        rows.append(
            f'<tr><td>{escape(name)}</td><td class="n">{n:,}</td>'
            f'<td class="n up">{ok:,}</td><td class="n{" down" if not_ok else ""}">{not_ok:,}</td>'
            + "".join(
                f'<td class="n">{by_cause.get(c, 0):,}</td>'
                for c in ("camera_down", "link_down", "feed_missing", "unknown")
            )
            + "</tr>"
        )
    out.append(_table(
        ("integration", "feeds", "reaching", "not reaching", "camera down", "link down",
         "feed missing", "not yet probed"),
        rows, numeric=range(1, 8),
    ) if rows else '<p class="muted">No feeds configured.</p>')

    # ---- camera clocks (Date headers of the answers, ONVIF): the worst first
    out.append(_clock_section(clocks_known, clocks_off))
    out.append(_duplicates_section(state))

    # ---- down cameras: by provider (counts), then by district (rows)
    out.append(f'<h2 id="down">Down cameras ({down_n:,})</h2>')
    if not down:
        out.append('<p class="up">No camera is down.</p>')
    else:
        # longest outage first inside each group: that is the one a provider owes an answer for
        down.sort(key=lambda cs: cs.since)
        by_provider: dict[str, dict[str, int]] = {}
        by_district: dict[str, list[Any]] = {}
        for cs in down:
            cam = cs.camera
            reasons = by_provider.setdefault(cam.provider, {})
            reason = cs.reason.value if cs.reason is not None else "unknown"
            reasons[reason] = reasons.get(reason, 0) + 1
            by_district.setdefault(cam.district, []).append(cs)
        rows = []
        for name in sorted(by_provider, key=lambda n: (-sum(by_provider[n].values()), n)):
            reasons = by_provider[name]
            n = sum(reasons.values())
            installed = per_provider.get(name, [0])[0]
            detail = ", ".join(
                f"{escape(r)} {c:,}" for r, c in sorted(reasons.items(), key=lambda rc: (-rc[1], rc[0]))
            )
            rows.append(
                f'<tr><td>{escape(name or "(none)")}</td><td class="n">{n:,}</td>'
                f'<td class="n">{_pct(n, installed)}</td><td class="wrapok">{detail}</td></tr>'
            )
        out.append("<h3>By provider</h3>")
        out.append(_table(("provider", "down", "of installed", "reasons"), rows, numeric=(1, 2)))

        head = ("camera", "name", "provider", "uplink", "check", "reason", "detail", "since")
        ring_down = [cs for cs in down if is_ring_one(cs.camera.zone)]
        if ring_down:
            out.append(f'<h3 class="down">Ring one &middot; {len(ring_down):,} down</h3>')
            out.append(_table(
                head,
                [_down_row(cs, now, escape(cs.camera.district), maint.get(cs.camera.id), state.links)
                 for cs in ring_down[:MAX_RING_ROWS]],
                cls="full",
            ))
            if len(ring_down) > MAX_RING_ROWS:
                out.append(f'<p class="muted">and {len(ring_down) - MAX_RING_ROWS:,} more, listed by district below.</p>')

        out.append("<h3>By district</h3>")
        shown = 0
        for district in sorted(by_district, key=lambda d: (-len(by_district[d]), d)):
            group = by_district[district]
            out.append(f"<h3>{escape(district or '(no district)')} &middot; {len(group):,} down</h3>")
            rows = []
            for cs in group:
                if shown >= MAX_DOWN_ROWS:
                    break
                shown += 1
                rows.append(_down_row(cs, now, maintenance=maint.get(cs.camera.id), links=state.links))
            out.append(_table(head, rows, cls="full"))
            if shown >= MAX_DOWN_ROWS:
                out.append(
                    f'<p class="muted">{down_n - shown:,} more down cameras are not listed here; '
                    'the complete list is in <a href="/api/cameras">/api/cameras</a>.</p>'
                )
                break

    out.append("</main></body></html>")
    return "".join(out).encode("utf-8")
