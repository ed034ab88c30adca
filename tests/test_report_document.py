"""The report as a document that stands on its own (issue 18, section 5), against the shared
hand-computed fixture: the PDF's page numbers, document number, repeated table headers and
signature block (printed by headless Chromium, read back with pdftotext, rendered with
pdftoppm), the method from the configuration, windows and link outages with their spans,
durations to the second, the SLA verdict on the shown figure, and `report --verify`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess

import pytest

from monitor.commands.cli import main as cli_main
from monitor.history.reader import Reader
from monitor.model import MaintenanceWindow, ReportSettings, Signatory
from monitor.report import build, html
from monitor.report.compute import compute, period_of
from monitor.report.document import DigestReader, meets_sla, zone_label
from tests.report_fixture import CONFIG, INVENTORY, JKT, ledger_path, t  # noqa: F401 - fixture

OCTOBER = period_of("2026-10", None, None, JKT)
AS_OF = t("2026-11-02T00:00:00")
SIGNED = dataclasses.replace(INVENTORY, report=ReportSettings("DISKOMINFO/CCTV", (
    Signatory("Budi Santoso", "Kepala Bidang Infrastruktur"),
    Signatory("Sari Wulandari", "Pengawas Kontrak"))))


def add_rows(path, statements):
    with sqlite3.connect(path) as conn:
        for statement, params in statements:
            conn.execute(statement, params)


def link_outage(path):
    """The police link down 08:00-09:30 on the 20th (B1's link-caused outage)."""
    add_rows(path, [("INSERT INTO outages (kind, subject, integration, provider, start_ts, end_ts, "
                     "reason, cause, check_name, instance) VALUES ('link', 'police-hq/primary', '', '', "
                     "?, ?, 'timeout', 'down', 'link', 'node')",
                     (t("2026-10-20T08:00:00"), t("2026-10-20T09:30:00")))])


def test_zone_and_verdict_rules():
    assert zone_label(JKT, AS_OF) == "WIB (UTC+7)"
    from zoneinfo import ZoneInfo

    assert zone_label(ZoneInfo("Asia/Makassar"), AS_OF) == "WITA (UTC+8)"
    assert zone_label(ZoneInfo("Asia/Kolkata"), AS_OF) == "IST (UTC+5:30)"
    assert zone_label(ZoneInfo("UTC"), AS_OF) == "UTC"
    # shown 98.000 % against 98.0 %: meets; 97.999 % does not
    assert meets_sla(0.9799996, 0.98) is True
    assert meets_sla(0.97999, 0.98) is False
    assert meets_sla(None, 0.98) is None and meets_sla(0.5, 0.0) is None


def test_a_figure_shown_equal_to_the_sla_is_not_failing(ledger_path, tmp_path):
    start, end, label = OCTOBER
    reader = Reader(str(ledger_path))
    report = compute(reader, INVENTORY, start, end, label, now=AS_OF)
    reader.close()
    alpha = report.providers[0]
    # down time such that the availability is 99.49996 %: shown "99.500%", the SLA 99.5 %
    alpha.down_s = alpha.eligible_s * (1 - 0.9949996)
    page = html.render(report, "en")
    row = re.search(r'<section id="sla">.*?<tr><td class="l">pt-alpha</td><td class="(\w*)">([^<]+)<', page, re.S)
    assert row.group(2) == "99.500%" and row.group(1) == "good", row.groups()
    summary = re.search(r'<section id="summary">.*?pt-alpha.*?</tr>', page, re.S).group(0)
    assert 'class="bad"' not in summary and ">yes<" in summary
    from monitor.report.export import write_providers

    write_providers(report, tmp_path / "p.csv")
    assert ",yes," in (tmp_path / "p.csv").read_text().splitlines()[1]


def test_method_windows_links_names_and_durations(ledger_path, tmp_path):
    link_outage(ledger_path)
    sixty = MaintenanceWindow("a1-cabinet-check", start=dt.datetime(2026, 10, 25, 3, 0, tzinfo=JKT),
                              end=dt.datetime(2026, 10, 25, 3, 1, tzinfo=JKT), cameras=("A1",))
    inv = dataclasses.replace(SIGNED, maintenance=SIGNED.maintenance + (sixty,))
    files = build(inv, str(ledger_path), *OCTOBER, tmp_path / "out", pdf=False, now=AS_OF)
    page = files["report.html"].read_text(encoding="utf-8")
    s = INVENTORY.settings
    method = re.search(r'<section id="method">.*?</section>', page, re.S).group(0)
    assert f"every {s.interval:g} s" in method and f"{s.timeout:g} s deadline" in method
    assert f"up to {s.retries} time(s)" in method and "rtsp (4)" in method
    assert "Availability = 1 - counted downtime" in method and "WIB (UTC+7)" in method
    windows = re.search(r'<section id="windows".*?</section>', page, re.S).group(0)
    assert re.search(r"a2-pole-repair</td><td class=\"l\">2026-10-10 12:00:00 WIB</td>"
                     r"<td class=\"l\">2026-10-10 16:00:00 WIB</td><td>4:00:00</td>", windows)
    assert "a1-cabinet-check</td><td class=\"l\">2026-10-25 03:00:00 WIB" in windows
    assert "<td>0:01:00</td>" in windows  # a 60 s window, not "0.0 h"
    links = re.search(r'<section id="links".*?</section>', page, re.S).group(0)
    assert "police-hq/primary</td><td class=\"l\">2026-10-20 08:00:00 WIB" in links and "1:30:00" in links
    # outages: names and districts from the configuration, every time with its zone
    outages = re.search(r'<section class="outages.*?</section>', page, re.S).group(0)
    assert outages.count("<thead>") == 1 and "<th class=\"l\">District</th>" in outages
    for ts in re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: \w+)?", outages):
        assert ts.endswith(" WIB"), ts
    assert "no answer in time (timeout)" in outages
    # the SLA table to the second: A2's 2 h counted, 4 h of link excluded for pt-bima
    sla = re.search(r'<section id="sla">.*?</section>', page, re.S).group(0)
    assert "<td>1:30:00</td>" in sla  # pt-bima: its link-caused outage, excluded
    # document identity
    manifest = json.loads(files["report.json"].read_text())
    number = manifest["document_number"]
    assert re.fullmatch(r"DISKOMINFO/CCTV/2026-10/ALL/[0-9A-F]{8}", number)
    assert number in page and manifest["ledger_digest"] in page and manifest["config_digest"] in page
    assert "node: " in page  # the chain head of the instance that wrote the fixture
    assert "Budi Santoso" in page and "Pengawas Kontrak" in page


def test_report_verify_matches_then_catches_a_changed_ledger(ledger_path, tmp_path, capsys):
    config = tmp_path / "cctv.yml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    assert cli_main(["report", "-c", str(config), "--ledger", str(ledger_path), "--month", "2026-10",
                     "--out", str(out), "--no-pdf"]) == 0
    capsys.readouterr()
    verify = ["report", "-c", str(config), "--ledger", str(ledger_path), "--verify", str(out)]
    assert cli_main(verify) == 0
    assert "matches the ledger" in capsys.readouterr().out
    # the monitor keeps running: later heartbeats and November's rows do not change October
    add_rows(ledger_path, [("UPDATE instances SET heartbeat = ?", (t("2026-11-20T00:00:00"),)),
                           ("INSERT INTO outages (kind, subject, integration, provider, start_ts, end_ts, "
                            "reason, cause, check_name, instance) VALUES ('camera', 'A2', '', 'pt-alpha', ?, ?, "
                            "'timeout', 'camera', 'rtsp', 'node')",
                            (t("2026-11-05T00:00:00"), t("2026-11-05T01:00:00")))])
    assert cli_main(verify) == 0, capsys.readouterr().out
    capsys.readouterr()
    # someone shortens an October outage by ten minutes
    add_rows(ledger_path, [("UPDATE outages SET end_ts = end_ts - 600 WHERE subject = 'A2' AND start_ts < ?",
                            (t("2026-11-01T00:00:00"),))])
    assert cli_main(verify) == 1
    said = capsys.readouterr().out
    assert "ledger rows: DIFFER" in said and "does NOT match" in said
    # no report.json there: a usage error naming the file
    assert cli_main(["report", "-c", str(config), "--ledger", str(ledger_path), "--verify", str(tmp_path)]) == 2
    assert "report.json: no such file" in capsys.readouterr().err


def test_the_digest_covers_the_rows_read(ledger_path):
    start, end, label = OCTOBER
    digests = []
    for _ in range(2):
        reader = Reader(str(ledger_path))
        d = DigestReader(reader, start.timestamp(), end.timestamp(), AS_OF)
        compute(d, INVENTORY, start, end, label, now=AS_OF)
        reader.close()
        digests.append((d.digest, d.rows))
    assert digests[0] == digests[1] and digests[0][1] > 10


@pytest.mark.integration
def test_pdf_pages_numbers_headers_and_signatures(ledger_path, tmp_path):
    from tests.conftest import require

    require("chromium")
    pdftotext, pdftoppm = require("pdftotext"), require("pdftoppm")
    # 240 short outages of A2: the outage list runs over several pages
    from monitor.history.writer import Ledger

    ledger = Ledger(str(ledger_path), "node", clock=lambda: AS_OF)
    ledger.open()
    base = t("2026-10-12T00:00:00")
    for i in range(240):
        ledger.put("open", ("camera", "A2", "", "pt-alpha", base + i * 3600, "no_video", "camera",
                            "rtsp", "", "node"))
        ledger.put("close", (base + i * 3600 + 60, "node", "camera", "A2", ""))
    assert ledger.flush()
    ledger.close()
    files = build(SIGNED, str(ledger_path), *OCTOBER, tmp_path / "out", lang="id", pdf=True, now=AS_OF)
    number = json.loads(files["report.json"].read_text())["document_number"]
    text = subprocess.run([pdftotext, "-layout", str(files["report.pdf"]), "-"], capture_output=True,
                          text=True, check=True, timeout=120, stdin=subprocess.DEVNULL).stdout
    pages = text.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 4
    for n, page in enumerate(pages, 1):
        assert f"Halaman {n} dari {len(pages)}" in page, (n, page[-300:])
        assert number in page, n
    listing = [n for n, page in enumerate(pages) if "tidak ada video (no_video)" in page]
    assert len(listing) >= 2, listing
    for n in listing:  # the outage list's header row repeats on every page it continues on
        assert re.search(r"Kamera\s+Nama\s+Kecamatan\s+Penyedia", pages[n]), n
    assert "Budi Santoso" in pages[-1] and "Kepala Bidang Infrastruktur" in pages[-1]
    subprocess.run([pdftoppm, "-r", "50", "-png", str(files["report.pdf"]), str(tmp_path / "page")],
                   check=True, timeout=120, stdin=subprocess.DEVNULL)
    assert len(list(tmp_path.glob("page*.png"))) == len(pages)
    if os.environ.get("REPORT_SCREENSHOT_DIR"):  # for people to look at
        import shutil

        for p in sorted(tmp_path.glob("page*.png")) + [files["report.pdf"], files["report.html"]]:
            shutil.copy(p, os.environ["REPORT_SCREENSHOT_DIR"])


def test_every_reason_in_words_with_its_code():
    from monitor.model import Reason
    from monitor.report.i18n import REASONS, Words

    words = Words("id")
    for reason in Reason:
        assert set(REASONS[reason.value]) == {"en", "id"}, reason
        assert words.reason(reason.value).endswith(f" ({reason.value})"), reason
    assert words.reason("timeout") == "waktu habis (timeout)"
    assert Words("en").reason("frozen_image") == "frozen picture (frozen_image)"
    assert words.reason("something_new") == "something_new"  # an unknown code as it is
    assert words.duration(60) == "0:01:00" and words.duration(3_600_000) == "1.000:00:00"


def test_report_verify_catches_a_changed_configuration_and_a_rewritten_chain(ledger_path, tmp_path, capsys):
    config = tmp_path / "cctv.yml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    assert cli_main(["report", "-c", str(config), "--ledger", str(ledger_path), "--month", "2026-10",
                     "--out", str(out), "--no-pdf"]) == 0
    heads = json.loads((out / "report.json").read_text())["chain_heads"]
    assert list(heads) == ["node"] and heads["node"][0] > 0
    capsys.readouterr()
    verify = ["report", "-c", str(config), "--ledger", str(ledger_path), "--verify", str(out)]
    config.write_text(CONFIG.replace("sla: 0.995", "sla: 0.99"))  # the SLA changed since
    assert cli_main(verify) == 1
    assert "configuration: DIFFERS" in capsys.readouterr().out
    config.write_text(CONFIG)
    add_rows(ledger_path, [("UPDATE ledger_chain SET hash = ? WHERE seq = ?", ("0" * 64, heads["node"][0]))])
    assert cli_main(verify) == 1
    said = capsys.readouterr().out
    assert f"chain node at #{heads['node'][0]}: REWRITTEN OR CUT" in said and "ledger rows: match" in said
