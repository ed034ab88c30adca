"""providers.csv, outages.csv and report.pdf.

The PDF is the HTML page printed by headless Chromium (`--print-to-pdf`): the same layout,
fonts and SVG charts as report.html, with the print CSS's A4 pages, and no second renderer
to keep in step (WeasyPrint would be a large dependency that lays out SVG differently).
Chromium is a system package (scripts/install-system-deps.sh).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, TextIO

from ..model import Cause
from .compute import Report
from .document import meets_sla

OUTAGE_COLUMNS = ("camera", "provider", "start", "end", "duration_s", "reason", "cause",
                  "excluded", "kind", "integration", "check")
PROVIDER_COLUMNS = (
    "provider", "period_start", "period_end", "target", "claimed_installed", "configured",
    "verified", "up_at_end", "smart_city_integrated", "ring_one", "ring_one_connected",
    "police_feeds", "police_connected", "availability", "sla", "meets_sla", "measured_s",
    "down_s", "excluded_link_s", "excluded_maintenance_s", "excluded_monitor_down_s",
    "feed_down_s", "outages", "pace_per_week", "forecast_target_date", "next_milestone_by",
    "next_milestone_cameras",
    # what the figures stand on: the as-of instant, the measured counts beside the claims
    "as_of", "never_verified", "pace_from", "feed_link_s",
    "smart_city_configured", "smart_city_measured", "smart_city_reaching_at_end",
    "smart_city_reaching_sla", "police_configured", "police_measured",
    "police_reaching_at_end", "police_reaching_sla",
    # seconds excluded by accepted disputes (docs/disputes.md)
    "excluded_dispute_s")


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"), with the
#: full-width forms some spreadsheets accept too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_STARTS = frozenset(_FORMULA_START)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def cell(value: object) -> object:
    """A text cell that would start a formula gets a leading single quote (OWASP): a camera
    or provider named `=HYPERLINK(...)` stays text.  Numbers stay numbers, "-0.5" included."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _writer(fh: TextIO) -> Any:
    """csv.writer whose rows pass through `cell`."""
    out = csv.writer(fh)

    class Safe:
        @staticmethod
        def writerow(row: Any) -> Any:  # a million rows: test the first character only
            return out.writerow([cell(v) if v.__class__ is str and v[:1] in _STARTS else v
                                 for v in row])

    return Safe()


def _iso(ts: float, report: Report) -> str:
    return dt.datetime.fromtimestamp(ts, report.tz).isoformat(timespec="seconds")


def write_outages(report: Report, path: Path | TextIO) -> int:
    """outages.csv to a path or an open text file; returns the number of rows."""
    if not isinstance(path, (str, Path)):
        return _outages(report, path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        return _outages(report, fh)


def _outages(report: Report, fh: TextIO) -> int:
    pieces = report.pieces
    # a million rows of a few hundred distinct texts: test each text once, and pay the
    # per-cell test only when some text would start a formula
    texts = {p.camera for p in pieces} | {p.provider for p in pieces} | {p.reason for p in pieces} \
        | {p.check for p in pieces} | {p.integration for p in pieces}
    risky = any(t[:1] in _STARTS for t in texts)
    out = _writer(fh) if risky else csv.writer(fh)
    out.writerow(OUTAGE_COLUMNS)
    for p in report.pieces:
        out.writerow((p.camera, p.provider, _iso(p.start, report), _iso(p.end, report),
                      f"{p.end - p.start:.3f}".rstrip("0").rstrip("."), p.reason, p.cause,
                      p.excluded, p.kind, p.integration, p.check))
    return len(report.pieces)


def write_providers(report: Report, path: Path | TextIO) -> None:
    """providers.csv to a path or an open text file."""
    if not isinstance(path, (str, Path)):
        _providers(report, path)
        return
    with open(path, "w", newline="", encoding="utf-8") as fh:
        _providers(report, fh)


def _providers(report: Report, fh: TextIO) -> None:
    out = _writer(fh)
    out.writerow(PROVIDER_COLUMNS)
    for f in report.providers + [report.total]:
        avail = f.availability
        nxt = f.next_milestone
        out.writerow((
            f.name, report.start.isoformat(), report.end.isoformat(), f.target, f.claimed,
            f.configured, f.verified, f.up, f.integrated, f.ring_one, f.ring_one_connected,
            f.police_feeds, f.police_connected,
            "" if avail is None else f"{avail:.6f}", f"{f.sla:g}" if f.sla else "",
            "" if f is report.total or meets_sla(avail, f.sla) is None
            else ("yes" if meets_sla(avail, f.sla) else "no"),
            f"{f.eligible_s:.0f}", f"{f.down_s:.0f}", f"{f.by_cause[Cause.LINK_DOWN]:.0f}",
            f"{f.by_cause['maintenance']:.0f}", f"{f.by_cause['monitor_down']:.0f}",
            f"{f.by_cause[Cause.FEED_MISSING]:.0f}", f.outages, f"{f.pace_per_week:.2f}",
            f.forecast.isoformat() if f.forecast else "",
            nxt.by.isoformat() if nxt else "", nxt.cameras if nxt else "",
            report.as_of.isoformat() if report.as_of else "", len(f.never_verified),
            f.pace_from.isoformat() if f.pace_from else "", f"{f.feed_s[Cause.LINK_DOWN]:.0f}",
            *(x for r in (f.smart_city, f.police) for x in (
                r.configured, r.measured, r.at_end, "" if r.sla_share is None else r.sla_share)),
            f"{f.disputed_s:.0f}"))


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(html_path: Path, pdf_path: Path, timeout: float = 300.0) -> None:
    """Print the HTML file to PDF with headless Chromium; RuntimeError with its last words.

    Chromium's output goes to a file, not a pipe (its helper processes inherit a pipe and
    keep it open after the browser is done), and it runs in its own session so that any
    helper left over is stopped with it."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("report.pdf needs Chromium (chromium) installed")
    with tempfile.TemporaryDirectory(prefix="cctv-report-") as profile:
        cmd = [binary, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
               "--disable-dev-shm-usage", "--disable-background-networking", "--disable-sync",
               "--disable-component-update", f"--user-data-dir={profile}",
               "--no-pdf-header-footer", "--print-to-pdf-no-header",
               f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses its sandbox as root (containers, CI)
        log_path = Path(profile) / "chromium.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, env={**os.environ, "HOME": profile})
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = -1
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        words = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    if code != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RuntimeError("Chromium could not print the report: " + " | ".join(words))
