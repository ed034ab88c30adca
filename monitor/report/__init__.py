"""`cctv-monitor report`: a provider report for a month (or any range of days) from the
outage ledger: report.html, report.pdf, providers.csv and outages.csv.

- `compute`: the figures (availability with exclusions, installed/verified counts,
  milestones, every outage cut at its exclusions);
- `html`: the self-contained page with inline SVG charts; `i18n`: English and Bahasa
  Indonesia; `export`: the CSV files and the PDF (headless Chromium);
- `intervals`: interval arithmetic and maintenance windows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Jakarta"


def timezone_of(inventory: Any) -> ZoneInfo:
    return ZoneInfo(str(getattr(inventory, "timezone", None) or DEFAULT_TZ))


class Progress:
    """A one-line progress bar on a terminal; silent when stderr is not a terminal."""

    def __init__(self, stream: Any = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.stage = ""
        self._last = -1

    def __call__(self, fraction: float, stage: str | None = None) -> None:
        if not self.on:
            return
        if stage is not None:
            self.stage = stage
        filled = int(self.width * min(1.0, max(0.0, fraction)))
        key = (filled, self.stage)
        if key == self._last:
            return
        self._last = key
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {int(fraction * 100):3d}% {self.stage:<12}")
        self.stream.flush()

    def done(self) -> None:
        if self.on:
            self.stream.write("\n")
            self.stream.flush()


def build(inventory: Any, ledger: str, start: Any, end: Any, label: str, out: Path,
          lang: str = "en", provider: str | None = None, pdf: bool = True,
          progress: Callable[..., None] | None = None, now: float | None = None) -> dict[str, Path]:
    """Compute and write the files; returns {name: path}."""
    from ..history import thumbs
    from ..history.reader import Reader
    from . import export, html
    from .compute import compute

    step = progress or (lambda *_a, **_k: None)
    reader = Reader(ledger)
    try:
        if not reader.has_schema():
            raise RuntimeError("the ledger has no records yet (is history: configured and the monitor running?)")
        report = compute(reader, inventory, start, end, label, provider, now=now,
                         progress=lambda f: step(f * 0.8, "ledger"))
        report.evidence = thumbs.match(report.pieces, thumbs.for_period(
            reader.conn, reader.dialect, report.start.timestamp(), report.end.timestamp()),
            html.MAX_LISTED)
    finally:
        reader.close()
    out.mkdir(parents=True, exist_ok=True)
    files = {name: out / name for name in ("report.html", "providers.csv", "outages.csv")}
    step(0.82, "csv")
    export.write_providers(report, files["providers.csv"])
    export.write_outages(report, files["outages.csv"])
    step(0.88, "html")
    files["report.html"].write_text(html.render(report, lang), encoding="utf-8")
    if pdf:
        step(0.92, "pdf")
        files["report.pdf"] = out / "report.pdf"
        export.write_pdf(files["report.html"], files["report.pdf"])
    step(1.0, "done")
    return files


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, metavar="FILE")
    p.add_argument("--month", metavar="YYYY-MM", help="a calendar month in the report's time zone")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day, included")
    p.add_argument("--provider", metavar="NAME", help="only this provider")
    p.add_argument("--out", default=".", metavar="DIR", help="where the files go (default: .)")
    p.add_argument("--lang", choices=("en", "id"), default="en",
                   help="en, or id: Bahasa Indonesia for the city's staff")
    p.add_argument("--ledger", metavar="PATH|DSN",
                   help="read this ledger instead of the configuration's history: (a copy, say)")
    p.add_argument("--no-pdf", action="store_true", help="skip report.pdf (no Chromium needed)")


def main(args: Any) -> int:
    """Exit 0 with the files written; 2 on usage/config errors; 1 when the report failed."""
    from ..config import load
    from .compute import period_of

    if args.month and (args.date_from or args.date_to):
        print("report: give either --month or --from/--to", file=sys.stderr)
        return 2
    try:
        inventory = load(args.config)
    except Exception as exc:  # noqa: BLE001 - ConfigError lists every problem
        for line in getattr(exc, "issues", None) or [str(exc)]:
            print(str(line), file=sys.stderr)
        return 2
    ledger = args.ledger
    if not ledger:
        from ..history import target_of

        target = target_of(inventory, args.config)
        if target is None:
            print("report: the configuration has no history: (path or dsn); give --ledger", file=sys.stderr)
            return 2
        ledger = target.target
    try:
        tz = timezone_of(inventory)
        start, end, label = period_of(args.month, args.date_from, args.date_to, tz)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    progress = Progress()
    t0 = time.monotonic()
    try:
        files = build(inventory, ledger, start, end, label, Path(args.out), args.lang,
                      args.provider, pdf=not args.no_pdf, progress=progress)
    except Exception as exc:  # noqa: BLE001 - one clear line, never a traceback or a DSN password
        progress.done()
        from ..logsetup import redact

        print(f"report: {redact(str(exc))}", file=sys.stderr)
        return 1
    progress.done()
    for name in sorted(files):
        print(files[name])
    if progress.on:
        print(f"report: {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return 0
