"""The parts of report.html that say what the figures stand on: the as-of instant and what
the ledger covers (under the title), the counts measured beside the claims and the cameras
claimed but never verified (after the summary), and the method's rule sentences."""

from __future__ import annotations

import datetime as dt
from html import escape

from .figures import Reach, Report
from .i18n import RULES, Words


def _when(ts: float, report: Report) -> str:
    return dt.datetime.fromtimestamp(ts, report.tz).strftime("%Y-%m-%d %H:%M:%S")


def coverage(report: Report, w: Words) -> str:
    out = []
    if report.as_of is not None and not report.complete:
        when = _when(report.as_of.timestamp(), report)
        out.append(f'<p class="meta bad" id="as-of">{escape(w("as_of_note", when=when))}</p>')
    cov = report.coverage
    if cov is not None:
        if cov.first is None or cov.last is None:
            out.append(f'<p class="meta bad" id="coverage">{escape(w("no_coverage"))}</p>')
        else:
            text = w("coverage", first=_when(cov.first, report), last=_when(cov.last, report),
                     hours=w.number(cov.monitor_down_s / 3600, 2))
            out.append(f'<p class="meta" id="coverage">{escape(text)}</p>')
        if cov.observed_from is not None:
            began = dt.datetime.fromtimestamp(cov.observed_from, report.tz).date()
            out.append(f'<p class="meta">{escape(w("observed_from"))}: {escape(w.date(began))}</p>')
    return "".join(out)


def _reach(r: Reach, w: Words) -> list[str]:
    return [w.number(r.configured), w.number(r.measured), w.number(r.at_end),
            "–" if r.sla_share is None else w.number(r.sla_share)]


def measured(report: Report, w: Words) -> str:
    head = "".join(f"<th>{escape(w(k))}</th>" for k in (
        "reach_configured", "reach_measured", "reach_at_end", "reach_sla"))
    rows = []
    for f in report.providers + [report.total]:
        name = w("total") if f is report.total else f.name
        for key, r in (("reach_smart_city", f.smart_city), ("reach_police", f.police)):
            cells = "".join(f"<td>{c}</td>" for c in _reach(r, w))
            rows.append(f'<tr><td class="l">{escape(name)}</td><td class="l">{escape(w(key))}</td>{cells}</tr>')
    out = [f'<section id="measured"><h2>{escape(w("reach"))}</h2><table><tr>'
           f'<th class="l">{escape(w("provider"))}</th><th class="l"></th>{head}</tr>{"".join(rows)}</table>']
    never = [(f.name, c) for f in report.providers for c in f.never_verified]
    if never:
        items = "".join(f'<tr><td class="l">{escape(c)}</td><td class="l">{escape(p)}</td></tr>'
                        for p, c in never)
        out.append(f'<h3 id="never-verified">{escape(w("never_verified"))} ({w.number(len(never))})</h3>'
                   f'<p>{escape(w("never_verified_note"))}</p><table><tr><th class="l">{escape(w("camera"))}</th>'
                   f'<th class="l">{escape(w("provider"))}</th></tr>{items}</table>')
    out.append("</section>")
    return "".join(out)


def rules(w: Words) -> str:
    return "".join(f"<p>{escape(w(k))}</p>" for k in RULES)


def pace_from(report: Report, w: Words, day: dt.date | None) -> str:
    return "" if day is None else f" ({escape(w('pace_from', date=w.date(day)))})"
