"""The ledger on the web: `/reports` (the months on record, each month's report.html and
report.pdf in English or Bahasa Indonesia and its CSV files, made on demand; any range of
days and one provider through a form) and the per-provider availability over the last 24
hours and 30 days that the status page shows.

`/reports/{period}/{file}` where period is YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (both days
included), with `?lang=en|id` and `?provider=NAME`.  Reports are computed in a worker
thread, one at a time; a past period's files are kept (a few, least recently used first
out), the current period's are made again when older than a minute.  The availability strip
is refreshed in the background every few minutes once the ledger is ready (its schema
migrated), a few seconds apart until then: the status page never waits for the ledger, and
says when the strip was computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

log = logging.getLogger("cctv.reports")

PAGES_KEY = web.AppKey("ledger_pages", object)
FILES = {"report.html": "text/html", "report.pdf": "application/pdf", "providers.csv": "text/csv",
         "outages.csv": "text/csv"}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_RANGE = re.compile(r"^(\d{4}-\d\d-\d\d)\.\.(\d{4}-\d\d-\d\d)$")
#: The longest range /reports makes on demand (a report over years is a command-line job).
MAX_RANGE_DAYS = 366
CACHE_MONTHS = 6
CURRENT_MAX_AGE = 60.0
#: How often the status page's strip is computed again: the last 24 hours every 10
#: minutes, the last 30 days every hour (at 100,000 cameras a month of ledger is ~30 s of
#: CPU in a worker thread; the strip must not cost the probes a noticeable share).
STRIP_DAY_REFRESH = 600.0
STRIP_MONTH_REFRESH = 3600.0
#: Until the ledger is ready (the monitor's first second: its schema is being created), the
#: strip is tried again this often rather than 10 minutes later.
STRIP_RETRY = 3.0


class LedgerNotReady(Exception):
    """The ledger has no schema yet: nothing to compute, nothing wrong."""


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
        self._failing = False

    def install(self, app: web.Application) -> None:
        from ..web.app import STATUS_EXTRA_KEY

        app[PAGES_KEY] = self
        # a provider user's status page shows its own row only (monitor.web.access)
        app[STATUS_EXTRA_KEY] = lambda scope=None: strip_html(
            [s for s in self.strip if scope is None or s.provider == scope], self.strip_at, self._tz())
        app.router.add_get("/reports", self.index, name="reports")
        app.router.add_get("/reports/custom", self.custom, name="report_custom")
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
                f"<td>{_links(w, m, 'report.html')}</td><td>{_links(w, m, 'report.pdf')}</td>"
                f'<td><a href="/reports/{m}/providers.csv">providers.csv</a> · '
                f'<a href="/reports/{m}/outages.csv">outages.csv</a></td></tr>')
        body = (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(w("reports"))}</title>'
                "<style>body{font:14px system-ui,sans-serif;margin:16px}td,th{padding:4px 10px;"
                "border-bottom:1px solid #ddd;text-align:left}form{margin:12px 0}label{margin-right:10px}"
                "</style></head><body>"
                f"<h1>{escape(w('reports'))}</h1>"
                + (f"<table><tr><th>{escape(w('month'))}</th><th>HTML</th><th>PDF</th><th>CSV</th></tr>"
                   f"{''.join(rows)}</table>" if rows else f"<p>{escape(w('no_data'))}</p>")
                + self._form(w, lang, _scope(request))
                + '<p><a href="/status">/status</a> · '
                f'<a href="/outages?lang={lang}">{escape(w("camera_outages"))}</a> · '
                f'<a href="/disputes?lang={lang}">{escape(w("disputes"))}</a></p></body></html>')
        return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})

    def _form(self, w: Any, lang: str, scope: str | None = None) -> str:
        """Any range of days, one provider or all, either language, any file: a plain GET
        form (no JavaScript) that /reports/custom turns into the file's address."""
        providers = "".join(f'<option value="{escape(p.name)}">{escape(p.name)}</option>'
                            for p in self.state.inventory.providers
                            if scope is None or p.name == scope)
        files = "".join(f'<option value="{n}">{n}</option>' for n in FILES)
        langs = "".join(f'<option value="{c}"{" selected" if c == lang else ""}>{escape(w("lang_" + c))}</option>'
                        for c in ("en", "id"))
        return (f'<h2>{escape(w("custom_range"))}</h2><form method="get" action="/reports/custom">'
                f'<label>{escape(w("date_from"))} <input type="date" name="from" required></label>'
                f'<label>{escape(w("date_to"))} <input type="date" name="to" required></label>'
                f'<label>{escape(w("provider"))} <select name="provider"><option value="">'
                f'{escape(w("all_providers"))}</option>{providers}</select></label>'
                f'<label><select name="lang">{langs}</select></label>'
                f'<label><select name="file">{files}</select></label>'
                f'<button type="submit">{escape(w("make_report"))}</button></form>')

    async def custom(self, request: web.Request) -> web.Response:
        q = request.query
        name = q.get("file", "report.html")
        scope = _scope(request)
        if scope is not None and q.get("provider", "") not in ("", scope):
            return web.Response(status=404, text="not found\n")
        period = f"{q.get('from', '')}..{q.get('to', '')}"
        problem = self._check(period, name, q.get("provider", ""), q.get("lang", "en"))
        if problem:
            return web.Response(status=400, text=problem + "\n")
        params = urlencode({k: v for k, v in (("lang", q.get("lang", "en")), ("provider", q.get("provider", ""))) if v})
        raise web.HTTPSeeOther(f"/reports/{period}/{name}?{params}")

    def _period(self, period: str) -> tuple[dt.datetime, dt.datetime, str]:
        """YYYY-MM or YYYY-MM-DD..YYYY-MM-DD: ValueError saying what is wrong."""
        from .compute import period_of

        if _MONTH.match(period):
            return period_of(period, None, None, self._tz())
        m = _RANGE.match(period)
        if not m:
            raise ValueError(f"period {period!r}: expected YYYY-MM or YYYY-MM-DD..YYYY-MM-DD")
        try:
            start, end, label = period_of(None, m.group(1), m.group(2), self._tz())
        except ValueError as exc:
            raise ValueError(f"period {period!r}: {exc}") from None
        if (end - start).days > MAX_RANGE_DAYS:
            raise ValueError(f"period {period!r}: at most {MAX_RANGE_DAYS} days here; longer "
                             "ranges with cctv-monitor report")
        return start, end, label

    def _check(self, period: str, name: str, provider: str, lang: str) -> str:
        if name not in FILES:
            return f"file: one of {', '.join(FILES)}"
        if lang not in ("en", "id"):
            return "lang: en or id"
        known = [p.name for p in self.state.inventory.providers]
        if provider and provider not in known:
            return f"provider {provider!r} is not configured; known: {', '.join(known)}"
        try:
            self._period(period)
        except ValueError as exc:
            return str(exc)
        return ""

    async def file(self, request: web.Request) -> web.Response:
        if not self.target:
            return web.Response(status=404, text="no outage ledger configured (history:)\n")
        period, name = request.match_info["month"], request.match_info["name"]
        if not (_MONTH.match(period) or _RANGE.match(period)) or name not in FILES:
            return web.Response(status=404, text="not found\n")
        lang = request.query.get("lang", "en")
        provider = request.query.get("provider", "")
        scope = _scope(request)
        if scope is not None:
            if provider not in ("", scope):
                # another provider's report is answered as one that does not exist
                return web.Response(status=404, text="not found\n")
            provider = scope
        problem = self._check(period, name, provider, lang)
        if problem:
            return web.Response(status=400, text=problem + "\n")
        pdf = name == "report.pdf"
        key = (period, provider, name, lang if name.startswith("report.") else "")
        now = time.time()
        current = self._period(period)[1].timestamp() > now - 60  # not over yet (or just)
        async with self._lock:
            # a dispute filed or decided since (here or by `cctv-monitor disputes decide`)
            # changes past periods too: their kept files go
            seen = await asyncio.get_running_loop().run_in_executor(None, self._disputes_row)
            if seen != self._disputes_seen:
                self._cache.clear()
                self._disputes_seen = seen
            hit = self._cache.get(key)
            if hit is None or (current and now - hit[0] > CURRENT_MAX_AGE):
                loop = asyncio.get_running_loop()
                try:
                    files = await loop.run_in_executor(None, self._make, period, provider, lang, pdf)
                except Exception as exc:  # noqa: BLE001 - one line to the client and the log
                    log.error("report %s failed: %s: %s", period, exc.__class__.__name__, exc)
                    return web.Response(status=503, text="the report could not be made; see the monitor's log\n")
                for fname, body in files.items():
                    k = (period, provider, fname, lang if fname.startswith("report.") else "")
                    self._cache[k] = (now, body)
                    self._cache.move_to_end(k)
                while len(self._cache) > CACHE_MONTHS * len(FILES):
                    self._cache.popitem(last=False)
                hit = self._cache[key]
            else:
                self._cache.move_to_end(key)
        ctype = FILES[name]
        headers = {"Cache-Control": "no-store"}
        if ctype != "text/html":
            stem = period + (f"-{provider}" if provider else "")
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{stem}-{name}")
            headers["Content-Disposition"] = f'attachment; filename="{safe}"'
        if pdf:
            return web.Response(body=hit[1], content_type=ctype, headers=headers)
        return web.Response(body=hit[1], content_type=ctype, charset="utf-8", headers=headers)

    def _disputes_row(self) -> int:
        from ..history import disputes
        from ..history.reader import Reader

        reader = Reader(self.target)  # type: ignore[arg-type]
        try:
            return disputes.last_row(reader.conn, reader.dialect)
        finally:
            reader.close()

    def _make(self, period: str, provider: str, lang: str, pdf: bool = False) -> dict[str, bytes]:
        """The files of one report (blocking); with pdf, report.pdf too (headless Chromium)."""
        import tempfile
        from pathlib import Path

        from . import build

        start, end, label = self._period(period)
        with tempfile.TemporaryDirectory(prefix="cctv-reports-") as tmp:
            files = build(self.state.inventory, self.target, start, end, label,  # type: ignore[arg-type]
                          Path(tmp), lang, provider or None, pdf=pdf)
            return {name: path.read_bytes() for name, path in files.items() if name in FILES}

    # ------------------------------------------------------------------ the status strip

    def _availability(self, days: int, now: float) -> dict[str, tuple[float, float | None]]:
        """provider -> (SLA, availability over the last `days` days) (blocking)."""
        from ..history.reader import Reader
        from .compute import compute

        end = dt.datetime.fromtimestamp(now, self._tz())
        reader = Reader(self.target)  # type: ignore[arg-type]
        try:
            if not reader.has_schema():
                raise LedgerNotReady()
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

    async def refresh_strip(self, month: bool = True) -> bool:
        """Compute the strip in a worker thread; False while the ledger is not ready yet or
        when the computation failed (the page keeps the last strip it had)."""
        loop = asyncio.get_running_loop()
        at = time.time()
        try:
            self.strip = await loop.run_in_executor(None, self.compute_strip, at, month)
            self.strip_at = at
        except LedgerNotReady:
            return False
        except Exception as exc:  # noqa: BLE001 - the page shows the last strip it had
            if not self._failing:  # one line per episode, not one per retry
                log.error("availability strip: %s: %s", exc.__class__.__name__, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("availability strip: computed again")
        self._failing = False
        return True

    async def _loop(self) -> None:
        month_at: float | None = None
        while True:
            month = month_at is None or time.monotonic() - month_at >= STRIP_MONTH_REFRESH
            ok = await self.refresh_strip(month)
            if ok and month:
                month_at = time.monotonic()
            # not ready (the schema is being created) or failed: soon again, not in 10 minutes
            await asyncio.sleep(STRIP_DAY_REFRESH if ok else STRIP_RETRY)

    async def _start(self, app: web.Application) -> None:
        if self.target:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _scope(request: web.Request) -> str | None:
    """The one provider the asking user is limited to (monitor.web.access), None for all."""
    from ..web.app import principal

    return principal(request).scope


def _links(w: Any, period: str, name: str) -> str:
    """A file of one period in each language, each link named by its language in the page's
    own language ("Bahasa Inggris" on the Indonesian page)."""
    return " · ".join(f'<a href="/reports/{period}/{name}?lang={code}">{escape(w("lang_" + code))}</a>'
                      for code in ("en", "id"))


def strip_html(strip: list[ProviderStrip], at: float = 0.0, tz: Any = None) -> str:
    """The status page's section: one row per provider, 24 h and 30 d against the SLA, and
    when it was computed (in the configured time zone)."""
    if not strip:
        return ""
    from .document import meets_sla, zone_label

    def cell(v: float | None, sla: float) -> str:
        if v is None:
            return '<td class="n">n/a</td>'
        bad = meets_sla(v, sla, 2) is False  # judged on the figure shown, two decimals
        width = max(0.0, min(1.0, v)) * 100
        return (f'<td class="n{" down" if bad else ""}"><span style="display:inline-block;width:60px;'
                f'height:8px;background:#e3e7ee;margin-right:6px"><span style="display:block;height:8px;'
                f'width:{width:.1f}%;background:{"#c62828" if bad else "#2e7d32"}"></span></span>'
                f"{100 * v:.2f}%</td>")

    rows = "".join(f"<tr><td>{escape(s.provider)}</td>{cell(s.day, s.sla)}{cell(s.month, s.sla)}"
                   f'<td class="n">{f"{100 * s.sla:.1f}%" if s.sla else "n/a"}</td></tr>' for s in strip)
    as_of = (f'<p class="muted">as of {dt.datetime.fromtimestamp(at, tz):%Y-%m-%d %H:%M:%S} '
             f'{escape(zone_label(tz, at))}</p>' if at and tz is not None else "")
    return ('<h2 id="availability">Availability from the ledger</h2>' + as_of + '<div class="wrap"><table>'
            '<tr><th>provider</th><th class="n">last 24 h</th><th class="n">last 30 days</th>'
            f'<th class="n">SLA</th></tr>{rows}</table></div>'
            '<p class="muted">Maintenance, link-caused outages and the monitor\'s own downtime '
            'excluded; monthly reports at <a href="/reports">/reports</a>.</p>')
