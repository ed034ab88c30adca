"""The ledger on the web: `/reports` (the months on record, each month's report.html in
English or Bahasa Indonesia and its CSV files, made on demand) and the per-provider
availability over the last 24 hours and 30 days that the status page shows.

Reports are computed in a worker thread, one at a time; a past month's files are kept
(a few, least recently used first out), the current month's are made again when older than
a minute.  The availability strip is refreshed in the background every few minutes: the
status page never waits for the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from html import escape
from typing import Any

from aiohttp import web

log = logging.getLogger("cctv.reports")

PAGES_KEY = web.AppKey("ledger_pages", object)
FILES = {"report.html": "text/html", "providers.csv": "text/csv", "outages.csv": "text/csv"}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CACHE_MONTHS = 6
CURRENT_MAX_AGE = 60.0
#: How often the status page's strip is computed again: the last 24 hours every 10
#: minutes, the last 30 days every hour (at 100,000 cameras a month of ledger is ~30 s of
#: CPU in a worker thread; the strip must not cost the probes a noticeable share).
STRIP_DAY_REFRESH = 600.0
STRIP_MONTH_REFRESH = 3600.0


@dataclass(frozen=True, slots=True)
class ProviderStrip:
    provider: str
    sla: float
    day: float | None  # availability over the last 24 hours
    month: float | None  # over the last 30 days


class LedgerPages:
    def __init__(self, state: Any, target: str | None) -> None:
        self.state = state
        self.target = target
        self.strip: list[ProviderStrip] = []
        self.strip_at = 0.0
        self._month: dict[str, tuple[float, float | None]] | None = None  # last 30-day figures
        self._cache: OrderedDict[tuple[str, str, str], tuple[float, bytes]] = OrderedDict()
        self._lock = asyncio.Lock()
        self._disputes_seen = -1  # disputes.last_row when the kept files were made
        self._task: asyncio.Task | None = None

    def install(self, app: web.Application) -> None:
        from ..web import STATUS_EXTRA_KEY

        app[PAGES_KEY] = self
        app[STATUS_EXTRA_KEY] = lambda scope=None: strip_html(
            [s for s in self.strip if scope is None or s.provider == scope])
        app.router.add_get("/reports", self.index, name="reports")
        app.router.add_get("/reports/{month}/{name}", self.file, name="report_file")
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    # ------------------------------------------------------------------ /reports

    def _tz(self) -> Any:
        from . import timezone_of

        return timezone_of(self.state.inventory)

    def months(self) -> list[str]:
        """YYYY-MM of every month with something on record, newest first (blocking)."""
        from ..history.reader import Reader

        reader = Reader(self.target)  # type: ignore[arg-type]
        try:
            span = reader.span() if reader.has_schema() else None
        finally:
            reader.close()
        if span is None:
            return []
        tz = self._tz()
        first = dt.datetime.fromtimestamp(span[0], tz).date().replace(day=1)
        last = dt.datetime.fromtimestamp(max(span[1], time.time()), tz).date()
        out = []
        while first <= last:
            out.append(f"{first.year:04d}-{first.month:02d}")
            first = (first + dt.timedelta(days=32)).replace(day=1)
        return out[::-1]

    async def index(self, request: web.Request) -> web.Response:
        if not self.target:
            return web.Response(status=404, text="no outage ledger configured (history:)\n")
        loop = asyncio.get_running_loop()
        months = await loop.run_in_executor(None, self.months)
        from .i18n import Words

        lang = "id" if request.query.get("lang") == "id" else "en"
        w = Words(lang)
        rows = []
        for m in months:
            year, mon = int(m[:4]), int(m[5:])
            rows.append(
                f"<tr><td>{escape(w.month(year, mon))}</td>"
                f'<td><a href="/reports/{m}/report.html?lang=en">report.html (English)</a> · '
                f'<a href="/reports/{m}/report.html?lang=id">report.html (Bahasa Indonesia)</a></td>'
                f'<td><a href="/reports/{m}/providers.csv">providers.csv</a> · '
                f'<a href="/reports/{m}/outages.csv">outages.csv</a></td></tr>')
        body = (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(w("reports"))}</title>'
                "<style>body{font:14px system-ui,sans-serif;margin:16px}td,th{padding:4px 10px;"
                "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
                f"<h1>{escape(w('reports'))}</h1>"
                + (f"<table><tr><th>{escape(w('month'))}</th><th>HTML</th><th>CSV</th></tr>{''.join(rows)}</table>"
                   if rows else f"<p>{escape(w('no_data'))}</p>")
                + '<p><a href="/status">/status</a> · '
                f'<a href="/outages?lang={lang}">{escape(w("camera_outages"))}</a> · '
                f'<a href="/disputes?lang={lang}">{escape(w("disputes"))}</a></p></body></html>')
        return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def file(self, request: web.Request) -> web.Response:
        if not self.target:
            return web.Response(status=404, text="no outage ledger configured (history:)\n")
        month, name = request.match_info["month"], request.match_info["name"]
        if not _MONTH.match(month) or name not in FILES:
            return web.Response(status=404, text="not found\n")
        lang = request.query.get("lang", "en")
        if lang not in ("en", "id"):
            return web.Response(status=400, text="lang: en or id\n")
        from ..web import principal

        who = principal(request)
        provider = request.query.get("provider") or who.scope
        if provider is not None and (not who.sees(provider)
                                     or provider not in self._provider_names()):
            # another provider's report is answered as one that does not exist
            return web.Response(status=404, text="not found\n")
        key = (month, name, lang if name == "report.html" else "", provider or "")
        now = time.time()
        current = month == dt.datetime.fromtimestamp(now, self._tz()).strftime("%Y-%m")
        async with self._lock:
            # a dispute filed or decided since (here or by `cctv-monitor disputes decide`)
            # changes past months too: their kept files go
            seen = await asyncio.get_running_loop().run_in_executor(None, self._disputes_row)
            if seen != self._disputes_seen:
                self._cache.clear()
                self._disputes_seen = seen
            hit = self._cache.get(key)
            if hit is None or (current and now - hit[0] > CURRENT_MAX_AGE):
                loop = asyncio.get_running_loop()
                try:
                    files = await loop.run_in_executor(None, self._make, month, lang, provider)
                except Exception as exc:  # noqa: BLE001 - one line to the client and the log
                    log.error("report %s failed: %s: %s", month, exc.__class__.__name__, exc)
                    return web.Response(status=503, text="the report could not be made; see the monitor's log\n")
                for fname, body in files.items():
                    k = (month, fname, lang if fname == "report.html" else "", provider or "")
                    self._cache[k] = (now, body)
                    self._cache.move_to_end(k)
                while len(self._cache) > CACHE_MONTHS * 4:
                    self._cache.popitem(last=False)
                hit = self._cache[key]
            else:
                self._cache.move_to_end(key)
        ctype = FILES[name]
        headers = {"Cache-Control": "no-store"}
        if ctype == "text/csv":
            prefix = f"{month}-{provider}" if provider else month
            headers["Content-Disposition"] = f'attachment; filename="{prefix}-{name}"'
        return web.Response(body=hit[1], content_type=ctype, charset="utf-8", headers=headers)

    def _disputes_row(self) -> int:
        from ..history import disputes
        from ..history.reader import Reader

        reader = Reader(self.target)  # type: ignore[arg-type]
        try:
            return disputes.last_row(reader.conn, reader.dialect)
        finally:
            reader.close()

    def _provider_names(self) -> set[str]:
        return {p.name for p in self.state.inventory.providers}

    def _make(self, month: str, lang: str, provider: str | None = None) -> dict[str, bytes]:
        from ..history.reader import Reader
        from . import export, html
        from .compute import compute, period_of

        start, end, label = period_of(month, None, None, self._tz())
        reader = Reader(self.target)  # type: ignore[arg-type]
        try:
            report = compute(reader, self.state.inventory, start, end, label,
                             provider_filter=provider)
        finally:
            reader.close()
        providers, outages = io.StringIO(), io.StringIO()
        export.write_providers(report, providers)
        export.write_outages(report, outages)
        return {"report.html": html.render(report, lang).encode(),
                "providers.csv": providers.getvalue().encode(),
                "outages.csv": outages.getvalue().encode()}

    # ------------------------------------------------------------------ the status strip

    def _availability(self, days: int, now: float) -> dict[str, tuple[float, float | None]]:
        """provider -> (SLA, availability over the last `days` days) (blocking)."""
        from ..history.reader import Reader
        from .compute import compute

        end = dt.datetime.fromtimestamp(now, self._tz())
        reader = Reader(self.target)  # type: ignore[arg-type]
        try:
            if not reader.has_schema():
                return {}
            report = compute(reader, self.state.inventory, end - dt.timedelta(days=days), end,
                             f"{days}d", now=now)
        finally:
            reader.close()
        return {f.name: (f.sla, f.availability) for f in report.providers}

    def compute_strip(self, now: float | None = None, month: bool = True) -> list[ProviderStrip]:
        """Availability per provider over the last 24 hours and 30 days (blocking); with
        month=False the 30 days are the last ones computed."""
        now = time.time() if now is None else now
        day = self._availability(1, now)
        if month or self._month is None:
            self._month = self._availability(30, now)
        return [ProviderStrip(name, sla, value, self._month.get(name, (0.0, None))[1])
                for name, (sla, value) in day.items()]

    async def refresh_strip(self, month: bool = True) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.strip = await loop.run_in_executor(None, self.compute_strip, None, month)
            self.strip_at = time.time()
        except Exception as exc:  # noqa: BLE001 - the page shows the last strip it had
            log.error("availability strip: %s: %s", exc.__class__.__name__, exc)

    async def _loop(self) -> None:
        month_at = 0.0
        while True:
            month = time.monotonic() - month_at >= STRIP_MONTH_REFRESH
            await self.refresh_strip(month)
            if month:
                month_at = time.monotonic()
            await asyncio.sleep(STRIP_DAY_REFRESH)

    async def _start(self, app: web.Application) -> None:
        if self.target:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def strip_html(strip: list[ProviderStrip]) -> str:
    """The status page's section: one row per provider, 24 h and 30 d against the SLA."""
    if not strip:
        return ""

    def cell(v: float | None, sla: float) -> str:
        if v is None:
            return '<td class="n">n/a</td>'
        bad = bool(sla) and v < sla
        width = max(0.0, min(1.0, v)) * 100
        return (f'<td class="n{" down" if bad else ""}"><span style="display:inline-block;width:60px;'
                f'height:8px;background:#e3e7ee;margin-right:6px"><span style="display:block;height:8px;'
                f'width:{width:.1f}%;background:{"#c62828" if bad else "#2e7d32"}"></span></span>'
                f"{100 * v:.2f}%</td>")

    rows = "".join(f"<tr><td>{escape(s.provider)}</td>{cell(s.day, s.sla)}{cell(s.month, s.sla)}"
                   f'<td class="n">{f"{100 * s.sla:.1f}%" if s.sla else "n/a"}</td></tr>' for s in strip)
    return ('<h2 id="availability">Availability from the ledger</h2><div class="wrap"><table>'
            '<tr><th>provider</th><th class="n">last 24 h</th><th class="n">last 30 days</th>'
            f'<th class="n">SLA</th></tr>{rows}</table></div>'
            '<p class="muted">Maintenance, link-caused outages and the monitor\'s own downtime '
            'excluded; monthly reports at <a href="/reports">/reports</a>.</p>')
