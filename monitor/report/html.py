"""report.html: one self-contained page (no network, inline SVG charts), print-ready.

The same page is printed to report.pdf, so the CSS carries the print layout (A4 landscape,
sections not split across pages).  Every text goes through `html.escape`; every label
through `i18n.Words`.
"""

from __future__ import annotations

import base64
import datetime as dt
from html import escape

from ..model import Cause
from . import html_evidence, sections
from .compute import CAUSES, Piece, ProviderFigures, Report
from .document import Facts, meets_sla, zone_label
from .i18n import Words
from .sections import table

#: The HTML lists at most this many outages; outages.csv always has every one.
MAX_LISTED = 10_000

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
CAUSE_COLOURS = {Cause.CAMERA: "#d62728", Cause.LINK_DOWN: "#ff7f0e", Cause.FEED_MISSING: "#9467bd",
                 Cause.MAINTENANCE: "#7f7f7f", Cause.MONITOR_DOWN: "#bcbd22"}

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:12px;color:#222;margin:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:6px 0} th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0} td.l,th.l{text-align:left} .meta{color:#555} .bad{color:#b00020;font-weight:bold}
.good{color:#1b5e20} section{page-break-inside:avoid;break-inside:avoid} .legend span{margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
table.outages{font-size:10px} table.outages td{padding:1px 4px}
img.evidence{display:block;margin:2px 0;height:auto;break-inside:avoid}
@page{size:A4 landscape;margin:12mm} @media print{body{margin:0} section.outages{page-break-inside:auto}}
thead{display:table-header-group} tr{break-inside:avoid;page-break-inside:avoid}
section.long{page-break-inside:auto;break-inside:auto} dl.doc dt{font-weight:bold;margin-top:4px}
dl.doc dd{margin:0 0 2px 0;font-family:"DejaVu Sans Mono",monospace;font-size:11px;word-break:break-all}
.signatures{display:flex;gap:48px;margin-top:24px;break-inside:avoid} .signatures div{min-width:220px}
.signatures .line{border-bottom:1px solid #222;height:64px;margin-bottom:4px}
"""


def render(report: Report, lang: str = "en", facts: Facts | None = None) -> str:
    w = Words(lang)
    providers = report.providers
    facts = facts or Facts(zone=zone_label(report.tz, report.start.timestamp()),
                           as_of=report.generated.timestamp())
    parts = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{escape(w('title'))} {escape(report.label)}</title>"
        f"<style>{CSS}{sections.page_css(w, facts)}</style></head><body>",
        f"<h1>{escape(w('title'))}</h1>",
        sections.header(report, w, facts, _period(report, w)),
        "" if report.complete else f'<p class="bad" id="preview">{escape(w("preview"))}</p>',
        html_evidence.coverage(report, w),
        _summary(report, w),
        html_evidence.measured(report, w),
        _installed_chart(providers, w),
        _sla_section(report, w),
        _daily_chart(report, w),
        _cause_chart(report, w),
        _worst(report, w),
        _milestones(report, w),
        sections.method(report, w, facts),
        html_evidence.rules(w),
        _clock_steps(report, w),
        sections.windows(report, w, facts),
        sections.link_outages(report, w, facts),
        _disputes(report, w),
        _outages(report, w, facts),
        sections.evidence(w, facts),
        sections.signatures(w, facts),
        "</body></html>",
    ]
    return "\n".join(parts)


def _clock_steps(report: Report, w: Words) -> str:
    """Steps of the monitor's wall clock in the period (durations kept the monotonic clock)."""
    if not report.clock_steps:
        return ""
    return (f'<section><p>{escape(w("clock_steps"))}: ' + "; ".join(
        f"{escape(sections.when(c.ts, report.tz))} {c.step:+.0f} s ({escape(c.instance)})"
        for c in report.clock_steps) + "</p></section>")


def _period(report: Report, w: Words) -> str:
    s, e = report.start, report.end
    if s.day == 1 and e.day == 1 and (e - s).days <= 31 and s.hour == 0:
        return w.month(s.year, s.month)
    return f"{w.date(s.date())} – {w.date((e - dt.timedelta(seconds=1)).date())}"


def _summary(report: Report, w: Words) -> str:
    head = ["provider", "target", "claimed", "configured", "verified", "up_now", "integrated",
            "ring_one", "police_connected", "availability", "sla", "meets_sla"]
    rows = []
    for f in report.providers + [report.total]:
        name = w("total") if f is report.total else f.name
        avail = f.availability
        verdict = None if f is report.total else meets_sla(avail, f.sla)
        meets = "" if verdict is None else (
            f'<span class="good">{escape(w("yes"))}</span>' if verdict
            else f'<span class="bad">{escape(w("no"))}</span>')
        rows.append(
            f'<tr><td class="l">{escape(name)}</td><td>{w.number(f.target)}</td><td>{w.number(f.claimed)}</td>'
            f"<td>{w.number(f.configured)}</td><td>{w.number(f.verified)}</td><td>{w.number(f.up)}</td>"
            f"<td>{w.number(f.integrated)}</td>"
            f"<td>{w.number(f.ring_one_connected)} / {w.number(f.ring_one)}</td>"
            f"<td>{w.number(f.police_connected)} / {w.number(f.police_feeds)}</td>"
            f"<td>{escape(w.percent(avail, 3))}</td>"
            f"<td>{escape(w.percent(f.sla, 1)) if f.sla else ''}</td><td>{meets}</td></tr>")
    ths = "".join(f'<th class="l">{escape(w(h))}</th>' if i == 0 else f"<th>{escape(w(h))}</th>"
                  for i, h in enumerate(head))
    return (f'<section id="summary"><h2>{escape(w("summary"))}</h2>'
            f"{table(ths, rows)}</section>")


def _legend(items: list[tuple[str, str]]) -> str:
    return '<p class="legend">' + "".join(
        f'<span><i class="sw" style="background:{c}"></i>{escape(t)}</span>' for t, c in items) + "</p>"


def _installed_chart(providers: list[ProviderFigures], w: Words) -> str:
    """Per provider: bars for claimed, configured and verified against a target marker."""
    series = (("claimed", "#c7c7c7"), ("configured", "#9ecae1"), ("verified", "#1f77b4"))
    row_h, bar_h, left, width = 64, 16, 140, 620
    top = max([f.target for f in providers] + [max(f.claimed, f.configured, f.verified) for f in providers] + [1])
    height = row_h * len(providers) + 10
    g = [f'<svg class="chart" id="installed-chart" xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" role="img">']
    for i, f in enumerate(providers):
        y = 5 + i * row_h
        g.append(f'<text x="0" y="{y + 28}" font-size="12">{escape(f.name)}</text>')
        for j, (key, colour) in enumerate(series):
            value = getattr(f, key)
            bw = width * value / top
            g.append(f'<rect x="{left}" y="{y + j * (bar_h + 2)}" width="{bw:.1f}" height="{bar_h}" fill="{colour}">'
                     f'<title>{escape(w(key))}: {value}</title></rect>')
            g.append(f'<text x="{left + bw + 4:.1f}" y="{y + j * (bar_h + 2) + 12}" font-size="10">{w.number(value)}</text>')
        if f.target:
            tx = left + width * f.target / top
            g.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y - 2}" y2="{y + 3 * (bar_h + 2)}" stroke="#000" stroke-width="2" stroke-dasharray="4 2">'
                     f'<title>{escape(w("target"))}: {f.target}</title></line>')
    g.append("</svg>")
    legend = _legend([(w(k), c) for k, c in series] + [(w("target") + " (- -)", "#000")])
    return f'<section><h2>{escape(w("installed_vs_target"))}</h2>{legend}{"".join(g)}</section>'


def _sla_section(report: Report, w: Words) -> str:
    rows = []
    for f in report.providers:
        excluded = f.excluded_s
        avail = f.availability
        verdict = meets_sla(avail, f.sla)
        cls = "" if verdict is None else ("good" if verdict else "bad")
        rows.append(f'<tr><td class="l">{escape(f.name)}</td><td class="{cls}">{escape(w.percent(avail, 3))}</td>'
                    f"<td>{escape(w.percent(f.sla, 1)) if f.sla else ''}</td>"
                    f"<td>{w.duration(f.eligible_s)}</td><td>{w.duration(f.down_s)}</td>"
                    f"<td>{w.duration(excluded)}</td><td>{w.number(f.outages)}</td></tr>")
    head = "".join(f"<th>{escape(w(k))}</th>" for k in ("availability", "sla", "eligible_hours",
                                                          "down_hours", "excluded_hours", "outages_count"))
    first = f'<th class="l">{escape(w("provider"))}</th>'
    return (f'<section id="sla"><h2>{escape(w("availability_vs_sla"))}</h2>'
            f"{table(first + head, rows)}</section>")


def _daily_chart(report: Report, w: Words) -> str:
    """One line per provider over the days of the period; dashed lines mark each SLA."""
    days = report.days
    left, width, height, top_pad = 50, 760, 220, 10
    series = [(f, f.daily_availability()) for f in report.providers]
    values = [v for _f, vs in series for v in vs if v is not None] + [f.sla for f in report.providers if f.sla]
    low = min(values + [0.99])
    low = max(0.0, min(low, 1.0) - 0.005)
    span = max(1e-9, 1.0 - low)

    def y(v: float) -> float:
        return top_pad + height * (1.0 - (v - low) / span)

    step = width / max(1, len(days) - 1) if len(days) > 1 else 0
    g = [f'<svg class="chart" id="daily-chart" xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height + 50}" role="img">']
    for k in range(5):
        v = low + span * k / 4
        g.append(f'<line x1="{left}" x2="{left + width}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                 f'<text x="2" y="{y(v) + 4:.1f}" font-size="10">{escape(w.percent(v, 1))}</text>')
    for i, d in enumerate(days):
        if len(days) <= 12 or i % max(1, len(days) // 10) == 0:
            g.append(f'<text x="{left + i * step:.1f}" y="{height + top_pad + 16}" font-size="10" text-anchor="middle">{d.day}</text>')
    g.append(f'<text x="{left + width / 2}" y="{height + top_pad + 34}" font-size="11" text-anchor="middle">{escape(w("day"))}</text>')
    legend = []
    for n, (f, vs) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        legend.append((f.name, colour))
        if f.sla and f.sla >= low:
            g.append(f'<line x1="{left}" x2="{left + width}" y1="{y(f.sla):.1f}" y2="{y(f.sla):.1f}" stroke="{colour}" stroke-dasharray="6 3" stroke-width="1"/>')
        pts = [f"{left + i * step:.1f},{y(v):.1f}" for i, v in enumerate(vs) if v is not None]
        if len(pts) > 1:
            g.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(pts)}"/>')
        for i, v in enumerate(vs):
            if v is not None:
                g.append(f'<circle cx="{left + i * step:.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                         f'<title>{escape(f.name)} {days[i].isoformat()}: {escape(w.percent(v, 3))}</title></circle>')
    g.append("</svg>")
    return f'<section><h2>{escape(w("daily"))}</h2>{_legend(legend)}{"".join(g)}</section>'


def _cause_chart(report: Report, w: Words) -> str:
    """Stacked horizontal bars: hours of downtime by cause, per provider."""
    left, width, row_h = 140, 600, 30
    biggest = max([sum(f.by_cause.values()) for f in report.providers] + [1e-9])
    g = [f'<svg class="chart" id="cause-chart" xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{row_h * len(report.providers) + 10}" role="img">']
    for i, f in enumerate(report.providers):
        y0 = 5 + i * row_h
        g.append(f'<text x="0" y="{y0 + 15}" font-size="12">{escape(f.name)}</text>')
        x = float(left)
        for cause in CAUSES:
            seconds = f.by_cause[cause]
            bw = width * seconds / biggest
            if bw > 0:
                g.append(f'<rect x="{x:.1f}" y="{y0}" width="{bw:.1f}" height="20" fill="{CAUSE_COLOURS[cause]}">'
                         f'<title>{escape(w("cause_" + cause))}: {w.duration(seconds)}</title></rect>')
            x += bw
        g.append(f'<text x="{x + 4:.1f}" y="{y0 + 15}" font-size="10">{w.duration(sum(f.by_cause.values()))}</text>')
    g.append("</svg>")
    head = "".join(f"<th>{escape(w('cause_' + c))}</th>" for c in CAUSES)
    rows = ["".join([f'<tr><td class="l">{escape(f.name)}</td>'] + [
        f"<td>{w.duration(f.by_cause[c])}</td>" for c in CAUSES] + ["</tr>"]) for f in report.providers]
    legend = _legend([(w("cause_" + c), CAUSE_COLOURS[c]) for c in CAUSES])
    first = f'<th class="l">{escape(w("provider"))}</th>'
    return (f'<section><h2>{escape(w("by_cause"))}</h2>{legend}{"".join(g)}'
            f"{table(first + head, rows)}</section>")


def _worst(report: Report, w: Words) -> str:
    rows = "".join(
        f'<tr><td class="l">{escape(c.camera)}</td><td class="l">{escape(c.provider)}</td>'
        f"<td>{w.duration(c.down_s)}</td><td>{w.number(c.outages)}</td><td>{escape(w.percent(c.availability, 3))}</td></tr>"
        for c in report.worst)
    if not rows:
        return f'<section><h2>{escape(w("worst"))}</h2><p>{escape(w("no_outages"))}</p></section>'
    head = "".join(f"<th>{escape(w(k))}</th>" for k in ("downtime", "outages_count", "availability"))
    first = f'<th class="l">{escape(w("camera"))}</th><th class="l">{escape(w("provider"))}</th>'
    return f'<section id="worst"><h2>{escape(w("worst"))}</h2>{table(first + head, [rows])}</section>'


def _milestones(report: Report, w: Words) -> str:
    out = [f'<section id="milestones"><h2>{escape(w("milestones"))}</h2>']
    for f in report.providers:
        forecast = (w("reached") if f.target and f.verified >= f.target
                    else w.date(f.forecast) if f.forecast else w("never"))
        out.append(f"<h3>{escape(f.name)}</h3><p>{escape(w('verified'))}: <b>{w.number(f.verified)}</b> / "
                   f"{escape(w('target'))} {w.number(f.target)} · {escape(w('pace'))}: {w.number(f.pace_per_week, 1)}"
                   f"{html_evidence.pace_from(report, w, f.pace_from)} · "
                   f"{escape(w('forecast'))}: <b>{escape(forecast)}</b></p>")
        if f.milestones:
            rows = "".join(
                f'<tr><td class="l">{escape(w.date(m.by))}</td><td>{w.number(m.cameras)}</td>'
                f"<td>{'' if m.verified is None else w.number(m.verified)}</td>"
                f'<td class="l {"bad" if m.status == "missed" else "good" if m.status == "met" else ""}">'
                f"{escape(w('status_' + m.status))}</td></tr>" for m in f.milestones)
            out.append(table(f'<th class="l">{escape(w("milestone_by"))}</th><th>{escape(w("milestone_cameras"))}</th>'
                             f'<th>{escape(w("verified"))}</th><th class="l">{escape(w("milestone_status"))}</th>', [rows]))
    out.append("</section>")
    return "".join(out)


def _evidence(report: Report, i: int, camera: str) -> str:
    """What the camera showed (a picture outage's thumbnail), inline: the file stands alone."""
    jpeg = report.evidence.get(i)
    if not jpeg:
        return ""
    return (f'<br><img class="evidence" width="120" alt="{escape(camera)}" '
            f'src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}">')


def _outages(report: Report, w: Words, facts: Facts) -> str:
    pieces: list[Piece] = report.pieces
    if not pieces:
        return f'<section class="outages"><h2>{escape(w("outages"))}</h2><p>{escape(w("no_outages"))}</p></section>'
    head = "".join(f'<th class="l">{escape(w(k))}</th>' for k in (
        "camera", "name", "district", "provider", "kind", "start", "end", "duration", "reason",
        "cause", "excluded"))
    cameras = facts.cameras
    tz = report.tz
    rows = []
    pending = [(d.camera, d.start, d.end) for d in report.disputes if d.status == "pending"]
    for i, p in enumerate(pieces[:MAX_LISTED]):
        excl = w("excluded_" + p.excluded) if p.excluded else ""
        if not p.excluded and any(c == p.camera and s < p.end and p.start < e for c, s, e in pending):
            excl = w("pending_mark")  # counted, and marked: a decision may still exclude it
        kind = w("kind_" + p.kind) + (f" {p.integration}" if p.integration else "")
        name, district = cameras.get(p.camera, ("", ""))
        rows.append(f'<tr><td class="l">{escape(p.camera)}</td><td class="l">{escape(name)}</td>'
                    f'<td class="l">{escape(district)}</td><td class="l">{escape(p.provider)}</td>'
                    f'<td class="l">{escape(kind)}</td><td class="l">{sections.when(p.start, tz)}</td>'
                    f'<td class="l">{sections.when(p.end, tz)}</td><td>{w.duration(p.end - p.start)}</td>'
                    f'<td class="l">{escape(w.reason(p.reason))}{_evidence(report, i, p.camera)}</td><td class="l">{escape(w("cause_" + p.cause))}</td>'
                    f'<td class="l">{escape(excl)}</td></tr>')
    more = len(pieces) - MAX_LISTED
    note = f"<p>{escape(w('more_outages', n=w.number(more)))}</p>" if more > 0 else ""
    return (f'<section class="outages long"><h2>{escape(w("outages"))}</h2>'
            f'<p class="meta">{escape(w("zone_note", zone=facts.zone))}</p>'
            f'{table(head, rows, "outages")}{note}</section>')


def _disputes(report: Report, w: Words) -> str:
    """Per provider: its disputes over the period, pending, accepted and rejected, with the
    texts and the city's notes; accepted ones are the `excluded=dispute` pieces."""
    out = [f'<section id="disputes"><h2>{escape(w("disputes"))}</h2>']
    if not report.disputes:
        out.append(f"<p>{escape(w('no_disputes'))}</p></section>")
        return "".join(out)
    head = "".join(f'<th class="l">{escape(w(k))}</th>' for k in (
        "dispute", "camera", "start", "end", "duration", "reason", "text", "filed_by",
        "dispute_status", "decided_by", "note"))
    for f in report.providers:
        mine = [d for d in report.disputes if d.provider == f.name]
        if not mine:
            continue
        counts = {s: sum(1 for d in mine if d.status == s) for s in ("pending", "accepted", "rejected")}
        rows = "".join(
            f'<tr class="dispute-{d.status}"><td class="l">{d.id}</td><td class="l">{escape(d.camera)}</td>'
            f'<td class="l">{sections.when(d.start, report.tz)}</td><td class="l">{sections.when(d.end, report.tz)}</td>'
            f'<td>{w.duration(d.seconds)}</td><td class="l">{escape(w("reason_" + d.reason))}</td>'
            f'<td class="l">{escape(d.text)}</td><td class="l">{escape(d.filed_by)}</td>'
            f'<td class="l{" bad" if d.status == "pending" else ""}">{escape(w("status_" + d.status))}</td>'
            f'<td class="l">{escape(d.decided_by)}</td><td class="l">{escape(d.note)}</td></tr>'
            for d in mine)
        out.append(f"<h3>{escape(f.name)}</h3><p>{escape(w('dispute_counts', **counts))}; "
                   f"{escape(w('disputed_hours'))}: {w.duration(f.disputed_s)}</p>"
                   f'<table class="outages"><tr>{head}</tr>{rows}</table>')
    out.append("</section>")
    return "".join(out)
