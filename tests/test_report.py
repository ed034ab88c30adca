"""The provider report against a hand-computed fixture (Asia/Jakarta, October 2026): an
outage across the month boundary, maintenance over part of an outage, a link-caused
outage, the monitor's own downtime, and a camera added mid-month."""

from __future__ import annotations

import csv

import pytest

from monitor.history.reader import Reader
from monitor.report import build
from monitor.report.compute import compute, period_of
from monitor.report.i18n import LABELS
from tests.report_fixture import INVENTORY, JKT, MONTH, ledger_path, t  # noqa: F401 - ledger_path is a fixture


def october(path):
    start, end, label = period_of("2026-10", None, None, JKT)
    reader = Reader(str(path))
    try:
        return compute(reader, INVENTORY, start, end, label, now=t("2026-11-02T00:00:00"))
    finally:
        reader.close()


def test_figures_match_the_hand_computed_fixture(ledger_path):
    report = october(ledger_path)
    alpha, bima = report.providers
    assert alpha.name == "pt-alpha" and bima.name == "pt-bima"
    # A1: 3 h of the boundary outage in October + 1 h of the 25th's outage before the
    # monitor stopped; A2: 2 h before the maintenance window; A3: 1 h before November.
    assert alpha.down_s == 10800 + 3600 + 7200 + 3600
    # present: A1, A2 all month, A3 from its first answer 30 s into the 16th; excluded: 2 h
    # monitor_down each, 4 h of A2's maintenance window
    assert alpha.present_s == 2 * MONTH + 16 * 86400 - 30
    assert alpha.eligible_s == alpha.present_s - 3 * 7200 - 14400
    assert alpha.availability == pytest.approx(1 - 25200 / 6703170)
    assert alpha.by_cause == {"camera": 25200, "link_down": 0, "feed_missing": 1800,
                              "maintenance": 7200, "monitor_down": 3600}
    assert bima.down_s == 0 and bima.availability == 1.0
    assert bima.eligible_s == MONTH - 7200 - 5400
    assert bima.by_cause["link_down"] == 5400
    assert (alpha.configured, alpha.verified, alpha.claimed, alpha.target) == (3, 3, 3, 5)
    assert (alpha.ring_one, alpha.ring_one_connected, alpha.police_connected, alpha.integrated) == (1, 1, 1, 1)
    assert [(m.by.isoformat(), m.status, m.verified) for m in alpha.milestones] == [
        ("2026-09-30", "met", 2), ("2026-12-31", "upcoming", None)]
    assert report.monitor_down_s == 7200
    daily = alpha.daily_availability()
    assert len(daily) == 31
    assert daily[0] == pytest.approx(1 - 10800 / (2 * 86400))  # A3 not there yet on the 1st
    assert daily[9] == pytest.approx(1 - 7200 / (2 * 86400 - 14400))
    assert daily[30] == pytest.approx(1 - 3600 / (3 * 86400))
    assert report.complete and report.as_of.timestamp() == t("2026-11-01T00:00:00")
    assert report.coverage.observed_from == t("2026-09-20T00:00:00")
    assert (report.coverage.first, report.coverage.last) == (t("2026-10-01T00:00:00"), t("2026-11-01T00:00:00"))


def test_outages_csv_cut_at_exclusions_and_month_ends(ledger_path, tmp_path):
    files = build(INVENTORY, str(ledger_path), *period_of("2026-10", None, None, JKT),
                  tmp_path / "out", pdf=False, now=t("2026-11-02T00:00:00"))
    with open(files["outages.csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    got = [(r["camera"], r["start"], r["end"], r["duration_s"], r["cause"], r["excluded"]) for r in rows]
    assert got == [
        ("A1", "2026-10-01T00:00:00+07:00", "2026-10-01T03:00:00+07:00", "10800", "camera", ""),
        ("A1", "2026-10-05T06:00:00+07:00", "2026-10-05T06:30:00+07:00", "1800", "feed_missing", ""),
        ("A2", "2026-10-10T10:00:00+07:00", "2026-10-10T12:00:00+07:00", "7200", "camera", ""),
        ("A2", "2026-10-10T12:00:00+07:00", "2026-10-10T14:00:00+07:00", "7200", "camera", "maintenance"),
        ("B1", "2026-10-20T08:00:00+07:00", "2026-10-20T09:30:00+07:00", "5400", "link_down", "link_down"),
        ("A1", "2026-10-24T23:00:00+07:00", "2026-10-25T00:00:00+07:00", "3600", "camera", ""),
        ("A1", "2026-10-25T00:00:00+07:00", "2026-10-25T01:00:00+07:00", "3600", "camera", "monitor_down"),
        ("A3", "2026-10-31T23:00:00+07:00", "2026-11-01T00:00:00+07:00", "3600", "camera", ""),
    ]
    assert list(rows[0])[:8] == ["camera", "provider", "start", "end", "duration_s", "reason",
                                 "cause", "excluded"]
    counted = sum(float(r["duration_s"]) for r in rows if not r["excluded"] and r["kind"] == "camera")
    assert counted == 25200
    with open(files["providers.csv"], newline="", encoding="utf-8") as fh:
        prov = {r["provider"]: r for r in csv.DictReader(fh)}
    assert prov["pt-alpha"]["availability"] == f"{1 - 25200 / 6703170:.6f}"
    assert prov["pt-alpha"]["meets_sla"] == "yes"
    assert prov["pt-bima"]["excluded_link_s"] == "5400"
    assert prov["total"]["configured"] == "4"


def test_provider_filter_and_september(ledger_path):
    start, end, label = period_of(None, "2026-09-30", "2026-09-30", JKT)
    reader = Reader(str(ledger_path))
    report = compute(reader, INVENTORY, start, end, label, provider_filter="pt-alpha",
                     now=t("2026-11-02T00:00:00"))
    reader.close()
    assert [f.name for f in report.providers] == ["pt-alpha"]
    assert report.providers[0].down_s == 7200  # A1's outage from 22:00 to midnight
    assert report.providers[0].present_s == 2 * 86400


def test_every_label_in_both_languages():
    for key, texts in LABELS.items():
        assert set(texts) == {"en", "id"}, key
        assert texts["en"] and texts["id"], key


@pytest.mark.integration
def test_html_in_chromium_with_bahasa_labels_and_pdf_pages(ledger_path, tmp_path):
    import os
    import re
    import signal
    import subprocess

    from tests.conftest import require

    chromium = require("chromium")
    pdftoppm = require("pdftoppm")
    files = build(INVENTORY, str(ledger_path), *period_of("2026-10", None, None, JKT),
                  tmp_path / "out", lang="id", pdf=True, now=t("2026-11-02T00:00:00"))
    page = files["report.html"].read_text(encoding="utf-8")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script" not in page  # self-contained, nothing fetched
    dom_file = tmp_path / "dom.html"
    with open(dom_file, "wb") as out:
        proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
             "--dump-dom", files["report.html"].as_uri()],
            stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=60)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
    dom = dom_file.read_text(encoding="utf-8", errors="replace")
    # rendered: the charts are in the DOM with their marks
    for chart in ("installed-chart", "daily-chart", "cause-chart"):
        assert f'id="{chart}"' in dom, chart
    assert dom.count("<polyline") >= 2 and dom.count("<rect") >= 6
    # Bahasa Indonesia: the labels, not the English ones
    for label in ("Laporan penyedia CCTV", "Ketersediaan harian", "Waktu henti menurut penyebab",
                  "Kamera terburuk", "Target bertahap dan perkiraan", "Semua gangguan", "Oktober 2026",
                  "pemeliharaan", "monitor tidak berjalan", "Terverifikasi (merespons)", "Ring 1",
                  "WIB (UTC+7)", "waktu habis (timeout)", "siaran (feed) police-hq"):
        assert label in dom, label
    # the word-by-word translations staff do not use
    for wrong in ("Umpan", "umpan", "Tonggak", "terlewat", "menjawab", "Waktu mati", "Ring satu"):
        assert wrong not in dom, wrong
    visible = re.sub(r"<[^>]+>", " ", dom)
    for english in LABELS:
        text = LABELS[english]["en"]
        if text != LABELS[english]["id"] and len(text) > 4 and "{" not in text:
            assert not re.search(rf"\b{re.escape(text)}\b", visible), text
    # the PDF: printable pages
    pdf = files["report.pdf"]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run([pdftoppm, "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True,
                   timeout=120, stdin=subprocess.DEVNULL)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 2, pages
    if os.environ.get("REPORT_SCREENSHOT_DIR"):  # for people to look at
        import shutil

        for p in pages + [files["report.html"], pdf]:
            shutil.copy(p, os.environ["REPORT_SCREENSHOT_DIR"])


def test_progress_bar_on_a_terminal_only():
    import io

    from monitor.report import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(stream, width=10)
        bar(0.5, "ledger")
        bar(1.0, "done")
        bar.done()
    assert "[#####-----]  50% ledger" in tty.getvalue() and tty.getvalue().endswith("\n")
    assert pipe.getvalue() == ""


def test_an_ha_pair_lists_each_outage_once(tmp_path):
    """Two instances watching the same cameras (an HA pair) record overlapping outages: the
    report counts and lists the union once, and monitor_down only where both were down."""
    from monitor.history.writer import Ledger

    db = tmp_path / "ha.sqlite"
    start = t("2026-10-01T00:00:00")
    for name in ("ha-a", "ha-b"):
        ledger = Ledger(str(db), name, clock=lambda: start - 86400)
        ledger.open()
        ledger.put("inventory", (start - 86400, "A1", "pt-alpha", "added", name))
        ledger.put("first", ("A1", "pt-alpha", start - 86000))
        ledger.close()
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = [("ha-a", "2026-10-05T10:00:00", "2026-10-05T11:00:00"),
                ("ha-b", "2026-10-05T10:00:20", "2026-10-05T11:00:40")]
        for inst, s, e in rows:
            conn.execute("INSERT INTO outages (kind, subject, provider, start_ts, end_ts, reason, cause, "
                         "check_name, instance) VALUES ('camera', 'A1', 'pt-alpha', ?, ?, 'timeout', "
                         "'camera', 'rtsp', ?)", (t(s), t(e), inst))
        # ha-a was stopped for an hour, ha-b only for ten minutes of it
        conn.execute("INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES ('ha-a', ?, ?)",
                     (t("2026-10-07T00:00:00"), t("2026-10-07T01:00:00")))
        conn.execute("INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES ('ha-b', ?, ?)",
                     (t("2026-10-07T00:20:00"), t("2026-10-07T00:30:00")))
        conn.execute("UPDATE instances SET heartbeat = ?", (t("2026-11-02T00:00:00"),))
    reader = Reader(str(db))
    report = compute(reader, INVENTORY, *period_of("2026-10", None, None, JKT),
                     now=t("2026-11-02T00:00:00"))
    reader.close()
    alpha = next(f for f in report.providers if f.name == "pt-alpha")
    assert [(p.camera, p.end - p.start) for p in report.pieces] == [("A1", 3640.0)]
    assert alpha.down_s == 3640 and alpha.outages == 1
    assert report.monitor_down_s == 600  # no instance watched only while both were down
    assert alpha.eligible_s == MONTH - 600  # the camera was unwatched only when both were down


def test_one_as_of_instant_makes_both_languages_agree(ledger_path, tmp_path):
    """`report --as-of`: a period not over is headed "as of", and the English and Indonesian
    reports made from one ledger (seconds apart) agree in every figure."""
    import subprocess
    import sys

    from tests.report_fixture import CONFIG

    config = tmp_path / "monitor.yml"
    config.write_text(CONFIG + f"history:\n  path: {ledger_path}\n")
    outs = {}
    for lang in ("en", "id"):
        out = tmp_path / lang
        res = subprocess.run([sys.executable, "-m", "monitor", "report", "-c", str(config), "--month",
                              "2026-10", "--lang", lang, "--no-pdf", "--out", str(out),
                              "--as-of", "2026-10-20T09:00"], capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        outs[lang] = out
    assert (outs["en"] / "providers.csv").read_text() == (outs["id"] / "providers.csv").read_text()
    assert (outs["en"] / "outages.csv").read_text() == (outs["id"] / "outages.csv").read_text()
    with open(outs["en"] / "providers.csv", newline="", encoding="utf-8") as fh:
        prov = {r["provider"]: r for r in csv.DictReader(fh)}
    assert prov["pt-alpha"]["as_of"] == "2026-10-20T09:00:00+07:00"
    assert prov["pt-bima"]["excluded_link_s"] == "3600"  # 08:00 to the as-of instant
    assert "As of 2026-10-20 09:00:00" in (outs["en"] / "report.html").read_text()
    assert "Per 2026-10-20 09:00:00" in (outs["id"] / "report.html").read_text()
    bad = subprocess.run([sys.executable, "-m", "monitor", "report", "-c", str(config), "--month",
                          "2026-10", "--no-pdf", "--out", str(tmp_path / "bad"), "--as-of", "yesterday"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2 and "--as-of" in bad.stderr and "Traceback" not in bad.stderr
