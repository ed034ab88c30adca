"""The ledger's pages (issue 18, section 8): /status in the configured time zone, the
availability strip saying when it was computed and computed as soon as the ledger is ready
(not 10 minutes after a race with the schema), /reports with the PDF, any range of days and
one provider, and the Indonesian /reports page in its own words, seen in headless Chromium."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import re
import signal
import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.history.writer import Ledger
from monitor.metrics.exporter import Exporter
from monitor.report import pages as pages_module
from monitor.report.pages import LedgerPages
from monitor.state import State
from monitor.web.app import make_app
from monitor.web.status import render
from tests.report_fixture import INVENTORY, JKT, ledger_path, t  # noqa: F401 - fixture


async def client_for(ledger):
    state = State(INVENTORY)
    app = make_app(state, Exporter(state))
    pages = LedgerPages(state, str(ledger))
    pages.install(app)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client, pages


def test_status_page_in_the_configured_time_zone():
    # 18:30 UTC on the 10th is already the 11th in Jakarta
    page = render(State(INVENTORY), t("2026-10-11T01:30:00")).decode()
    assert "2026-10-11 01:30:00 WIB (UTC+7)" in page and "UTC</" not in page


async def test_strip_says_as_of(ledger_path):
    client, pages = await client_for(ledger_path)
    try:
        at = t("2026-10-10T20:00:00")
        from monitor.report.pages import strip_html

        section = strip_html(pages.compute_strip(now=at), at, JKT)
        assert "as of 2026-10-10 20:00:00 WIB (UTC+7)" in section
        for _ in range(100):  # the background refresh (bounded: 5 s)
            if pages.strip_at:
                break
            await asyncio.sleep(0.05)
        page = await (await client.get("/status")).text()
        assert re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d WIB \(UTC\+7\)", page)
    finally:
        await client.close()


async def test_strip_waits_for_the_schema_then_comes_at_once(tmp_path, monkeypatch, caplog):
    """The demo's first second: the strip's first computation met a ledger whose tables
    were still being created (no such table: inventory_changes) and came back 10 minutes
    later.  Now: not ready is quiet and retried a few seconds later."""
    db = tmp_path / "ledger.sqlite"
    with sqlite3.connect(db) as conn:  # a migration half way: meta and one table, no version yet
        conn.execute("CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("CREATE TABLE outages (id INTEGER PRIMARY KEY)")
    monkeypatch.setattr(pages_module, "STRIP_RETRY", 0.05)
    caplog.set_level(logging.INFO, logger="cctv.reports")
    client, pages = await client_for(db)
    try:
        await asyncio.sleep(0.3)  # the background loop has tried a few times meanwhile
        assert pages.strip == [] and pages.strip_at == 0.0
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # not an error
        db.unlink()
        ledger = Ledger(str(db), "node", clock=lambda: t("2026-10-01T00:00:00"))
        ledger.open()  # the real migration
        ledger.put("inventory", (t("2026-10-01T00:00:00"), "A1", "pt-alpha", "added", "node"))
        assert ledger.flush()
        ledger.close()
        for _ in range(100):  # bounded: 5 s at most, where it used to be 10 minutes
            if pages.strip:
                break
            await asyncio.sleep(0.05)
        assert {s.provider for s in pages.strip} >= {"pt-alpha"} and pages.strip_at > 0
    finally:
        await client.close()


async def test_reports_range_provider_and_bad_input(ledger_path):
    client, _pages = await client_for(ledger_path)
    try:
        r = await client.get("/reports/custom", params={
            "from": "2026-10-05", "to": "2026-10-12", "provider": "pt-bima", "lang": "id",
            "file": "providers.csv"}, allow_redirects=False)
        assert r.status == 303
        assert r.headers["Location"] == "/reports/2026-10-05..2026-10-12/providers.csv?lang=id&provider=pt-bima"
        r = await client.get(r.headers["Location"])
        assert r.status == 200 and "2026-10-05..2026-10-12-pt-bima-providers.csv" in r.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await r.text())))
        assert [x["provider"] for x in rows] == ["pt-bima", "total"]
        assert rows[0]["period_start"] == "2026-10-05T00:00:00+07:00"
        assert rows[0]["period_end"] == "2026-10-13T00:00:00+07:00"
        r = await client.get("/reports/2026-10-05..2026-10-12/report.html",
                             params={"provider": "pt-alpha", "lang": "id"})
        page = await r.text()
        assert r.status == 200 and "5 Oktober 2026 – 12 Oktober 2026" in page and "pt-bima" not in page
        for params, said in (({"from": "2026-10-12", "to": "2026-10-05"}, "--to is before --from"),
                             ({"from": "2026-10-01", "to": "2026-13-01"}, "month must be in 1..12"),
                             ({"from": "2026-10-01", "to": "2026-10-02", "provider": "pt-nope"},
                              "provider 'pt-nope' is not configured; known: pt-alpha, pt-bima"),
                             ({"from": "2020-01-01", "to": "2026-10-02"}, "at most 366 days")):
            r = await client.get("/reports/custom", params=params, allow_redirects=False)
            assert r.status == 400 and said in await r.text(), (params, await r.text())
    finally:
        await client.close()


@pytest.mark.integration
async def test_reports_page_and_pdf_in_chromium(ledger_path, tmp_path):
    from tests.conftest import require

    chromium = require("chromium")
    client, _pages = await client_for(ledger_path)
    try:
        r = await client.get("/reports/2026-10/report.pdf", params={"lang": "id"})
        body = await r.read()
        assert r.status == 200 and r.headers["Content-Type"] == "application/pdf" and body[:5] == b"%PDF-"
        url = str(client.make_url("/reports?lang=id"))
        dom_file = tmp_path / "dom.html"
        with open(dom_file, "wb") as out:
            proc = await asyncio.create_subprocess_exec(
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url,
                stdout=out, stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True)
            try:
                await asyncio.wait_for(proc.wait(), 90)
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
        dom = dom_file.read_text(errors="replace")
        assert "Oktober 2026" in dom and "Rentang bebas" in dom and "Buat laporan" in dom
        assert "(English)" not in dom and "English" not in dom and "Bahasa Inggris" in dom
        assert 'href="/reports/2026-10/report.pdf?lang=id"' in dom
        assert '<option value="pt-bima">pt-bima</option>' in dom and 'name="from"' in dom
    finally:
        await client.close()
