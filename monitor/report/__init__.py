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
from typing import TYPE_CHECKING, Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from ..model import Inventory


def timezone_of(inventory: Inventory) -> ZoneInfo:
    return ZoneInfo(inventory.timezone)


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


#: Said at the top of a report whose period no ledger record covers (and on stderr).
NO_DATA = {
    "en": "No record of the ledger covers this period: every figure below is empty, "
          "not a measurement.",
    "id": "Tidak ada catatan ledger yang mencakup periode ini: semua angka di bawah kosong, "
          "bukan hasil pengukuran.",
}


#: One line per forced reload that changed cameras' addresses in the period.
FORCED = {
    "en": "Forced reload at {when}: the configuration changed the address of {n} camera(s) "
          "({who}) past the reload guard; outages that began right after it may be the "
          "configuration's doing, not the provider's.",
    "id": "Reload paksa pada {when}: konfigurasi mengubah alamat {n} kamera ({who}) melewati "
          "pengaman reload; gangguan yang mulai tepat setelahnya mungkin akibat konfigurasi, "
          "bukan penyedia.",
}


def forced_moves(reader: Any, start: Any, end: Any, provider: str | None = None
                 ) -> list[tuple[float, dict[str, int]]]:
    """(time, cameras per provider) of each forced reload that changed addresses in the
    period (monitor.config.reload_guard records them)."""
    from ..config.reload_guard import FORCED_ACTION

    t0, t1 = start.timestamp(), end.timestamp()
    out: dict[float, dict[str, int]] = {}
    for ts, _camera, prov, action, _inst in reader.inventory_changes(t1):
        if action == FORCED_ACTION and ts >= t0 and provider in (None, prov):
            per = out.setdefault(ts, {})
            per[prov] = per.get(prov, 0) + 1
    return sorted(out.items())


def _notice_lines(moves: list[tuple[float, dict[str, int]]], tz: Any, lang: str) -> list[str]:
    import datetime as dt

    lines = []
    for ts, per in moves:
        when = dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        who = ", ".join(f"{p} {n}" for p, n in sorted(per.items()))
        lines.append(FORCED[lang].format(when=when, n=sum(per.values()), who=who))
    return lines


def _with_notices(page: str, notices: list[str]) -> str:
    """The notices first thing in the body, before any figure."""
    from html import escape

    if not notices:
        return page
    block = "".join(f'<p role="alert" style="border:2px solid #b00;padding:8px;'
                    f'font-weight:bold">{escape(n)}</p>' for n in notices)
    head, sep, rest = page.partition("<body")
    if not sep:
        return block + page
    tag, _, body = rest.partition(">")
    return head + sep + tag + ">" + block + body


def _covers(reader: Any, start: Any, end: Any) -> bool:
    """Whether anything the ledger recorded (inventory to last heartbeat) overlaps the period."""
    span = reader.span()
    return span is not None and span[0] < end.timestamp() and span[1] > start.timestamp()


def build(inventory: Any, ledger: str, start: Any, end: Any, label: str, out: Path,
          lang: str = "en", provider: str | None = None, pdf: bool = True,
          progress: Callable[..., None] | None = None, now: float | None = None,
          empty: list[bool] | None = None, as_of: float | None = None) -> dict[str, Path]:
    """Compute and write the files, every figure measured at `as_of` (default: the
    period's end, or `now` if earlier); returns {name: path}.  `empty`, when given, receives
    whether no ledger record covers the period (the report then says so at its top)."""
    from ..history import thumbs
    from ..history.reader import Reader
    from . import document, export, html

    step = progress or (lambda *_a, **_k: None)
    now = time.time() if now is None else now
    # one instant for the figures, the ledger digest and report.json (`report --verify`
    # recomputes at it): `--as-of`, else now (the period's end when it is over)
    now = now if as_of is None else as_of
    reader = Reader(ledger)
    try:
        if not reader.has_schema():
            raise RuntimeError("the ledger has no records yet (is history: configured and the monitor running?)")
        no_data = not _covers(reader, start, end)
        moves = forced_moves(reader, start, end, provider)
    finally:
        reader.close()
    if empty is not None:
        empty.append(no_data)
    report, facts = measure(inventory, ledger, start, end, label, provider, now,
                            lambda f: step(f * 0.8, "ledger"))
    reader = Reader(ledger)
    try:  # what a picture outage's camera showed, beside it in the list
        report.evidence = thumbs.match(report.pieces, thumbs.for_period(
            reader.conn, reader.dialect, report.start.timestamp(), report.end.timestamp()),
            html.MAX_LISTED)
    finally:
        reader.close()
    out.mkdir(parents=True, exist_ok=True)
    files = {name: out / name for name in ("report.html", "providers.csv", "outages.csv", document.MANIFEST)}
    document.write_manifest(files[document.MANIFEST], facts, start, end, label, lang)
    step(0.82, "csv")
    export.write_providers(report, files["providers.csv"])
    export.write_outages(report, files["outages.csv"])
    step(0.88, "html")
    notices = ([NO_DATA[lang]] if no_data else []) + _notice_lines(moves, start.tzinfo, lang)
    page = _with_notices(html.render(report, lang, facts), notices)
    files["report.html"].write_text(page, encoding="utf-8")
    if pdf:
        step(0.92, "pdf")
        files["report.pdf"] = out / "report.pdf"
        export.write_pdf(files["report.html"], files["report.pdf"])
    step(1.0, "done")
    return files


def measure(inventory: Any, ledger: str, start: Any, end: Any, label: str, provider: str | None,
            now: float, progress: Callable[[float], None] | None = None) -> tuple[Any, Any]:
    """(Report, document.Facts) from the ledger as of `now`; the rows read are digested."""
    from ..history.reader import Reader
    from .compute import compute
    from .document import DigestReader, gather

    reader = Reader(ledger)
    try:
        if not reader.has_schema():
            raise RuntimeError("the ledger has no records yet (is history: configured and the monitor running?)")
        digesting = DigestReader(reader, start.timestamp(), end.timestamp(), now)
        report = compute(digesting, inventory, start, end, label, provider, now=now,  # type: ignore[arg-type]
                         progress=progress)
        facts = gather(digesting, inventory, start, end, now, provider)
    finally:
        reader.close()
    return report, facts


def verify(inventory: Any, ledger: str, directory: Path) -> tuple[bool, list[str]]:
    """Recompute a report's ledger digest (and the configuration's) from its report.json:
    (whether it still matches, lines saying what was compared)."""
    import datetime as dt

    from ..history.reader import Reader
    from .document import MANIFEST, read_manifest

    m = read_manifest(directory / MANIFEST)
    start = dt.datetime.fromisoformat(m["period"]["start"])
    end = dt.datetime.fromisoformat(m["period"]["end"])
    tz = ZoneInfo(m["period"].get("timezone") or inventory.timezone)
    start, end = start.astimezone(tz), end.astimezone(tz)
    _report, facts = measure(inventory, ledger, start, end, m["period"].get("label", ""),
                             m.get("provider"), float(m["as_of"]))
    lines, ok = [], True
    same = facts.ledger_digest == m["ledger_digest"]
    ok &= same
    lines.append(f"ledger rows: {'match' if same else 'DIFFER'} (report {m['ledger_digest']} over "
                 f"{m.get('ledger_rows')} rows; ledger now {facts.ledger_digest} over {facts.ledger_rows} rows)")
    same = facts.config_digest == m["config_digest"]
    ok &= same
    lines.append(f"configuration: {'match' if same else 'DIFFERS'} (report {m['config_digest']}; "
                 f"now {facts.config_digest})")
    reader = Reader(ledger)
    try:
        for inst, (seq, digest) in sorted(m.get("chain_heads", {}).items()):
            rows = reader.select("SELECT hash FROM ledger_chain WHERE instance = ? AND seq = ?", (inst, int(seq)))
            same = bool(rows) and rows[0][0] == digest
            ok &= same
            lines.append(f"chain {inst} at #{seq}: {'still there' if same else 'REWRITTEN OR CUT'}")
    finally:
        reader.close()
    return ok, lines


def as_of_of(text: str | None, tz: ZoneInfo) -> float | None:
    """`--as-of`: an ISO date-time, in `tz` unless it carries its own offset."""
    if not text:
        return None
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of: expected YYYY-MM-DDTHH:MM[:SS], got {text!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=tz)).timestamp()


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
    p.add_argument("--allow-empty", action="store_true",
                   help="exit 0 even when no ledger record covers the period (the report "
                   "says so; without this option the exit code is 1)")
    p.add_argument("--verify", metavar="DIR",
                   help="recompute the ledger digest of the report in DIR (its report.json) and "
                   "say whether it still matches the ledger (exit 0 match, 1 mismatch)")
    p.add_argument("--as-of", metavar="TIME",
                   help="measure every figure at this instant (YYYY-MM-DDTHH:MM[:SS], in the "
                        "report's time zone unless it carries an offset); default: the period's "
                        "end, or now if earlier. Give the same one to reports in both languages")


def _check_period(args: Any) -> str | None:
    """What is wrong with --month/--from/--to, naming the option; None when they parse."""
    import datetime as dt
    import re

    if args.month is not None:
        m = re.fullmatch(r"(\d{4})-(\d{2})", args.month.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            return f"--month: expected YYYY-MM (e.g. 2026-10), got {args.month!r}"
        if not 1970 <= int(m.group(1)) <= 9998:
            return f"--month: {args.month} is out of range"
        return None
    for option, value in (("--from", args.date_from), ("--to", args.date_to)):
        if value is None:
            continue
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            return f"{option}: expected a date YYYY-MM-DD, got {value!r}"
        if not dt.date(1970, 1, 1) <= day < dt.date(9999, 1, 1):
            return f"{option}: {value} is out of range"
    return None


def _ledger_missing(target: str) -> bool:
    """A SQLite ledger path that does not exist: reading it would create an empty file."""
    import os

    # the same rule as monitor.history.writer.connect
    is_dsn = target.startswith(("postgresql://", "postgres://")) or "host=" in target
    return not is_dsn and not os.path.isfile(target)


def main(args: Any) -> int:
    """Exit 0 with the files written; 2 on usage/config errors; 1 when the report failed."""
    from ..config import load_for_command
    from .compute import period_of

    if args.month and (args.date_from or args.date_to):
        print("report: give either --month or --from/--to", file=sys.stderr)
        return 2
    wrong = _check_period(args)
    if wrong is not None:
        print(f"report: {wrong}", file=sys.stderr)
        return 2
    inventory = load_for_command(args.config)
    if inventory is None:
        return 2
    ledger = args.ledger
    if not ledger:
        from ..history import target_of

        target = target_of(inventory, args.config)
        if target is None:
            print("report: the configuration has no history: (path or dsn); give --ledger", file=sys.stderr)
            return 2
        ledger = target.target
    if _ledger_missing(ledger):
        where = "--ledger" if args.ledger else "history: of the configuration"
        print(f"report: {where}: {ledger} does not exist (nothing was created)", file=sys.stderr)
        return 2
    known = sorted(p.name for p in inventory.providers)
    if args.provider is not None and args.provider not in known:
        print(f"report: --provider: {args.provider!r} is not a provider of {args.config}; "
              f"known: {', '.join(known) or 'none'}", file=sys.stderr)
        return 2
    if args.verify:
        return _verify_main(inventory, ledger, Path(args.verify))
    try:
        tz = timezone_of(inventory)
        start, end, label = period_of(args.month, args.date_from, args.date_to, tz)
        as_of = as_of_of(args.as_of, tz)
    except (ValueError, OverflowError, ZoneInfoNotFoundError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    progress = Progress()
    t0 = time.monotonic()
    empty: list[bool] = []
    try:
        files = build(inventory, ledger, start, end, label, Path(args.out), args.lang,
                      args.provider, pdf=not args.no_pdf, progress=progress, empty=empty,
                      as_of=as_of)
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
    if empty and empty[0]:
        print(f"report: no ledger record covers {label}: every figure is empty, not a "
              "measurement"
              + ("" if args.allow_empty else " (exit 1; --allow-empty for 0)"), file=sys.stderr)
        return 0 if args.allow_empty else 1
    return 0


def _verify_main(inventory: Any, ledger: str, directory: Path) -> int:
    from .document import MANIFEST

    if not (directory / MANIFEST).is_file():
        print(f"report --verify: {directory / MANIFEST}: no such file (a report's directory holds it)",
              file=sys.stderr)
        return 2
    try:
        ok, lines = verify(inventory, ledger, directory)
    except (ValueError, KeyError) as exc:
        print(f"report --verify: {directory / MANIFEST}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one clear line, never a traceback or a DSN password
        from ..logsetup import redact

        print(f"report --verify: {redact(str(exc))}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    print("report --verify: " + ("the report matches the ledger" if ok else "the report does NOT match the ledger"))
    return 0 if ok else 1
