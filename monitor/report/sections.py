"""The parts of report.html that make it a document: the heading with its number, the
method, the maintenance windows and link outages with their spans, the evidence (version,
digests, chain heads), the signature block, and the print CSS's page margins (document
number and "page N of M" on every printed page).

Every text goes through `html.escape`, every label through `i18n.Words`; every time is
written with its zone beside it.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any, Iterable

from .document import ZONE_ABBREVIATIONS, Facts
from .i18n import Words


def table(head: str, rows: Iterable[str], cls: str = "") -> str:
    """A table whose header row repeats on every printed page (thead)."""
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def when(ts: float, tz: Any) -> str:
    """2026-10-10 12:00:00 WIB: the time and its zone's short name."""
    moment = dt.datetime.fromtimestamp(ts, tz)
    name = ZONE_ABBREVIATIONS.get(str(getattr(tz, "key", ""))) or moment.tzname() or ""
    return f"{moment:%Y-%m-%d %H:%M:%S} {escape(name)}".rstrip()


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def page_css(w: Words, facts: Facts) -> str:
    """The printed pages' margins: the document number at the bottom left and "Page N of M"
    at the bottom right (CSS page-margin boxes, printed by Chromium)."""
    number = facts.document_number or w("title")
    return ("@page{@bottom-left{content:" + _css_string(number) + ";font-size:9px;color:#555}"
            "@bottom-right{content:" + _css_string(w("page") + " ") + " counter(page) "
            + _css_string(" " + w("page_of") + " ") + " counter(pages);font-size:9px;color:#555}}")


def header(report: Any, w: Words, facts: Facts, period: str) -> str:
    tz = report.tz
    parts = []
    if facts.document_number:
        parts.append(f'{escape(w("document_number"))}: <b>{escape(facts.document_number)}</b>')
    parts.append(f'{escape(w("period"))}: <b>{escape(period)}</b>')
    if facts.provider:
        parts.append(f'{escape(w("provider"))}: <b>{escape(facts.provider)}</b>')
    parts.append(f'{escape(w("timezone"))}: {escape(facts.zone)} ({escape(str(getattr(tz, "key", tz)))})')
    if facts.as_of:
        parts.append(f'{escape(w("as_of"))}: {when(facts.as_of, tz)}')
    parts.append(f'{escape(w("generated"))}: {when(report.generated.timestamp(), tz)}')
    return f'<p class="meta">{" · ".join(parts)}</p>'


def method(report: Any, w: Words, facts: Facts) -> str:
    checks = ", ".join(f"{name} ({w.number(n)})" for name, n in sorted(facts.checks.items())) or "-"

    def seconds(value: float) -> str:
        return w.number(value, 0 if value == int(value) else 1)

    items = []
    if facts.interval:
        stream = (w("method_stream", interval=seconds(facts.stream_interval))
                  if facts.checks.get("stream") and facts.stream_interval else "")
        items.append(w("method_down", checks=checks, interval=seconds(facts.interval),
                       own=w.number(facts.own_intervals), timeout=seconds(facts.timeout),
                       retries=w.number(facts.retries), stream=stream))
    items += [w("method_maintenance"), w("method_link"), w("method_monitor_down"),
              w("method_dispute"), w("method_formula"),
              w("zone_note", zone=facts.zone)]
    return (f'<section id="method"><h2>{escape(w("method"))}</h2><p>{escape(w("method_text"))}</p>'
            "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in items) + "</ul>"
            f'<p>{escape(w("monitor_down_total"))}: {w.duration(report.monitor_down_s)}</p></section>')


def windows(report: Any, w: Words, facts: Facts) -> str:
    title = f'<h2>{escape(w("windows"))}</h2>'
    if not facts.windows:
        return f'<section id="windows">{title}<p>{escape(w("no_windows"))}</p></section>'
    rows = []
    for name, spans in facts.windows:
        for a, b in spans:
            rows.append(f'<tr><td class="l">{escape(name)}</td><td class="l">{when(a, report.tz)}</td>'
                        f'<td class="l">{when(b, report.tz)}</td><td>{w.duration(b - a)}</td></tr>')
    head = "".join(f'<th class="l">{escape(w(k))}</th>' for k in ("window", "start", "end")) + \
        f'<th>{escape(w("duration"))}</th>'
    return f'<section id="windows" class="long">{title}{table(head, rows)}</section>'


def link_outages(report: Any, w: Words, facts: Facts) -> str:
    title = f'<h2>{escape(w("link_outages"))}</h2>'
    if not facts.link_outages:
        return f'<section id="links">{title}<p>{escape(w("no_link_outages"))}</p></section>'
    rows = [f'<tr><td class="l">{escape(o.link)}</td><td class="l">{when(o.start, report.tz)}</td>'
            f'<td class="l">{when(o.end, report.tz)}</td><td>{w.duration(o.end - o.start)}</td>'
            f'<td class="l">{escape(w("state_" + o.state) if o.state in ("down", "degraded") else o.state)}</td>'
            f'<td class="l">{escape(w.reason(o.reason))}</td></tr>' for o in facts.link_outages]
    head = "".join(f'<th class="l">{escape(w(k))}</th>' for k in ("link", "start", "end")) + \
        f'<th>{escape(w("duration"))}</th><th class="l">{escape(w("state"))}</th>' \
        f'<th class="l">{escape(w("reason"))}</th>'
    return f'<section id="links" class="long">{title}{table(head, rows)}</section>'


def evidence(w: Words, facts: Facts) -> str:
    if not facts.ledger_digest:
        return ""
    heads = "<br>".join(f"{escape(inst)}: {seq} · {escape(digest)}"
                        for inst, (seq, digest) in sorted(facts.chain_heads.items())) \
        or escape(w("no_chain"))
    rows = [("software_version", escape(facts.version)),
            ("config_digest", escape(facts.config_digest)),
            ("ledger_digest", f'{escape(facts.ledger_digest)} ({escape(w("rows", n=w.number(facts.ledger_rows)))})'),
            ("chain_heads", heads)]
    body = "".join(f"<dt>{escape(w(k))}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<section id="evidence"><h2>{escape(w("evidence"))}</h2><dl class="doc">{body}</dl>'
            f'<p class="meta">{escape(w("verify_hint"))}</p></section>')


def signatures(w: Words, facts: Facts) -> str:
    if not facts.signatories:
        return ""
    blocks = "".join(f'<div><div class="line"></div><b>{escape(name)}</b><br>{escape(role)}<br>'
                     f'{escape(w("sign_date"))}:</div>' for name, role in facts.signatories)
    return (f'<section id="signatures"><h2>{escape(w("signatures"))}</h2>'
            f'<div class="signatures">{blocks}</div></section>')
