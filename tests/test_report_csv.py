"""providers.csv and outages.csv a spreadsheet cannot turn into code (OWASP "CSV Injection"):
names and reasons that start a formula are read back as text with a leading quote, from the
CLI's files and from the /reports downloads; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import sqlite3

from aiohttp.test_utils import TestClient, TestServer

from monitor.history.writer import Ledger
from monitor.metrics.exporter import Exporter
from monitor.report import build
from monitor.report.compute import period_of
from monitor.report.export import cell
from monitor.report.pages import LedgerPages
from monitor.state import State
from monitor.web.app import make_app
from tests.factories import make_inventory
from tests.report_fixture import JKT, t

HOSTILE_PROVIDER = '=HYPERLINK("http://x","click")'
CAMERAS = {"+SUM(1;2)": HOSTILE_PROVIDER, "@cmd": "-x", "\tTAB": "ok-provider", "\rCR": "ok-provider",
           "plain": "ok-provider"}


def hostile_ledger(path):
    ledger = Ledger(str(path), "node", clock=lambda: t("2026-09-20T00:00:00"))
    ledger.open()
    for cam, prov in CAMERAS.items():
        ledger.put("inventory", (t("2026-09-20T00:00:00"), cam, prov, "added", "node"))
        ledger.put("first", (cam, prov, t("2026-09-20T00:01:00")))
        ledger.put("open", ("camera", cam, "", prov, t("2026-10-03T10:00:00"), "-1+1", "camera",
                            "rtsp", "", "node"))
        ledger.put("close", (t("2026-10-03T10:02:00"), "node", "camera", cam, ""))
    assert ledger.flush()
    ledger.close()
    with sqlite3.connect(path) as conn:  # the monitor ran all month: its last heartbeat
        conn.execute("UPDATE instances SET heartbeat = ?", (t("2026-11-02T00:00:00"),))


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def check_outages(rows):
    by_camera = {r["camera"]: r for r in rows}
    assert set(by_camera) == {"'+SUM(1;2)", "'@cmd", "'\tTAB", "'\rCR", "plain"}
    assert by_camera["'+SUM(1;2)"]["provider"] == "'" + HOSTILE_PROVIDER
    assert by_camera["'@cmd"]["provider"] == "'-x"
    assert all(r["reason"] == "'-1+1" for r in rows)
    assert all(r["duration_s"] == "120" for r in rows)  # a number, not quoted


def check_providers(rows):
    names = {r["provider"] for r in rows}
    assert "'" + HOSTILE_PROVIDER in names and "'-x" in names and "ok-provider" in names
    for r in rows:
        float(r["measured_s"]), float(r["down_s"])  # still numbers
        if r["provider"] in names - {"provider-a", "provider-b"}:  # those two have no camera
            assert 0 < float(r["availability"]) < 1


def test_cell_rule():
    assert cell("=1+1") == "'=1+1" and cell("@x") == "'@x" and cell("\r") == "'\r"
    assert cell("-0.5") == "-0.5" and cell("+3") == "+3" and cell(-2) == -2 and cell(1.5) == 1.5
    assert cell("") == "" and cell("camera") == "camera" and cell("-x") == "'-x"


def test_cli_files_read_back(tmp_path):
    hostile_ledger(tmp_path / "l.sqlite")
    files = build(make_inventory(0), str(tmp_path / "l.sqlite"), *period_of("2026-10", None, None, JKT),
                  tmp_path / "out", pdf=False, now=t("2026-11-02T00:00:00"))
    for name, check in (("outages.csv", check_outages), ("providers.csv", check_providers)):
        with open(files[name], newline="", encoding="utf-8") as fh:  # a CR in a cell stays a CR
            check(read(fh.read()))


async def test_reports_downloads_read_back(tmp_path):
    hostile_ledger(tmp_path / "l.sqlite")
    state = State(make_inventory(0))
    app = make_app(state, Exporter(state))
    LedgerPages(state, str(tmp_path / "l.sqlite")).install(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.get("/reports/2026-10/outages.csv")
        assert r.status == 200
        check_outages(read(await r.text()))
        r = await client.get("/reports/2026-10/providers.csv")
        check_providers(read(await r.text()))
    finally:
        await client.close()
