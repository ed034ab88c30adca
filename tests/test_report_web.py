"""The ledger on the web: /reports lists the months on record and makes each month's files
on demand; /status shows the per-provider availability strip and marks cameras in a
maintenance window."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from monitor.metrics.exporter import Exporter
from monitor.model import Reason, Result
from monitor.report import build
from monitor.report.compute import period_of
from monitor.report.pages import LedgerPages, strip_html
from monitor.state import State
from monitor.web.app import make_app
from monitor.web.status import render
from tests.report_fixture import INVENTORY, JKT, ledger_path, t  # noqa: F401 - fixture


async def client_for(ledger):
    state = State(INVENTORY)
    app = make_app(state, Exporter(state))
    pages = LedgerPages(state, str(ledger))
    pages.install(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client, pages


async def test_reports_index_and_files_on_demand(ledger_path, tmp_path):
    client, _pages = await client_for(ledger_path)
    try:
        r = await client.get("/reports")
        page = await r.text()
        assert r.status == 200
        assert "September 2026" in page and "October 2026" in page
        assert 'href="/reports/2026-10/outages.csv"' in page
        assert 'href="/reports/2026-10/report.html?lang=id"' in page
        r = await client.get("/reports?lang=id")
        assert "Oktober 2026" in await r.text()

        r = await client.get("/reports/2026-10/outages.csv")
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        served = await r.text()
        files = build(INVENTORY, str(ledger_path), *period_of("2026-10", None, None, JKT),
                      tmp_path / "out", pdf=False)
        assert served == files["outages.csv"].read_bytes().decode()
        r = await client.get("/reports/2026-10/report.html?lang=id")
        html = await r.text()
        assert r.status == 200 and "Laporan penyedia CCTV" in html and 'id="daily-chart"' in html
        r = await client.get("/reports/2026-10/providers.csv")
        assert "pt-alpha" in await r.text()
        assert (await client.get("/reports/2026-13/report.html")).status == 404
        assert (await client.get("/reports/2026-10/secrets.txt")).status == 404
        assert (await client.get("/reports/2026-10/report.html?lang=fr")).status == 400
    finally:
        await client.close()


async def test_status_page_availability_strip(ledger_path):
    client, pages = await client_for(ledger_path)
    try:
        strip = pages.compute_strip(now=t("2026-10-10T20:00:00"))
        by = {s.provider: s for s in strip}
        # the last 24 h: A2 down 10:00-12:00 (then maintenance), A1 and A3 not at all
        # (A3 not yet added); eligible: two cameras for 24 h minus A2's 4 h window
        assert by["pt-alpha"].day == 1 - 7200 / (2 * 86400 - 14400)
        assert by["pt-bima"].day == 1.0
        assert by["pt-alpha"].month is not None and by["pt-alpha"].month < 1.0
        pages.strip = strip
        r = await client.get("/status")
        page = await r.text()
        assert "Availability from the ledger" in page and "last 30 days" in page
        assert 'href="/reports"' in page
    finally:
        await client.close()
    assert strip_html([]) == ""


def test_status_page_marks_cameras_in_maintenance():
    state = State(INVENTORY)
    for cid in ("A1", "A2"):
        for check in state.cameras[cid].checks:
            state.record_result(cid, check, Result(Reason.TIMEOUT), now=t("2026-10-10T12:30:00"))
    page = render(state, t("2026-10-10T13:00:00")).decode()
    assert page.count("maintenance: a2-pole-repair") == 1
    later = render(state, t("2026-10-10T17:00:00")).decode()
    assert "maintenance:" not in later
