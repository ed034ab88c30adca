"""`cctv-monitor import FILE --provider NAME -o FILE.yml`: a provider's inventory
spreadsheet to inventory YAML.

Reads CSV (`,` or `;`, UTF-8 with or without a byte-order mark) and XLSX (openpyxl), streamed
and bounded (`monitor.commands.import_read`).  The header row (the first naming an id column, so a
title row above it is skipped) names the columns, in English or Indonesian as providers
write them (`id`/`kode`, `name`/`nama`/`nama lokasi`, `district`/`kecamatan`, `zone`/`zona`,
`latitude`/`lintang`, `longitude`/`bujur`, `uplink`, `rtsp`, `http`, `onvif`, `username`,
`checks`, `integrations`, `claimed_installed`/`tanggal_pasang`; a `No` column is ignored).
Another column is a warning and is ignored, or refused with `--strict`.  The URL columns, their schemes and the check names
are those of the check catalogue (monitor.checks), the same the config loader accepts.
Every bad row is reported with its row number (as the spreadsheet shows it), column and
reason; nothing is dropped silently: with any bad row nothing is written (exit 1) unless
`--skip-bad` is given, and then the count of rows left out is printed too.  A password in a
URL is refused: it belongs in the environment (`${CAM_PASS}`) or a password_file, not in a
generated file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

import yaml

from ..checks import CAMERA_CHECKS, CHECKS
from ..config.keys import field_schemes
from .import_read import ReadError, column_letter, find_header, open_rows

COLUMNS = {
    "id": ("id", "camera_id", "camera", "kode", "kode_kamera", "id_kamera", "id_cctv",
           "kode_cctv", "kode_titik", "id_titik"),
    "name": ("name", "nama", "nama_kamera", "lokasi", "nama_lokasi", "nama_titik", "titik",
             "nama_cctv", "lokasi_kamera"),
    "district": ("district", "kecamatan", "kec", "wilayah"),
    "zone": ("zone", "zona", "kawasan"),
    "latitude": ("latitude", "lat", "lintang"),
    "longitude": ("longitude", "lon", "lng", "long", "bujur"),
    "uplink": ("uplink", "switch", "pop"),
    "rtsp": ("rtsp", "rtsp_url", "url_rtsp", "link_rtsp", "alamat_rtsp"),
    "http": ("http", "http_url", "url_http", "snapshot", "url_snapshot", "link_snapshot"),
    "onvif": ("onvif", "onvif_url", "url_onvif"),
    "username": ("username", "user", "pengguna", "nama_pengguna"),
    "checks": ("checks", "cek"),
    "integrations": ("integrations", "integrasi"),
    "claimed_installed": ("claimed_installed", "installed", "installed_on", "install_date",
                          "tanggal_pasang", "tgl_pasang", "tanggal_instalasi", "tgl_instalasi",
                          "tanggal_terpasang", "tgl_terpasang", "tanggal_pemasangan",
                          "tgl_pemasangan"),
}
#: A row number column ("No", "No.", "Nomor"): the spreadsheet's, not the camera's.
IGNORED = ("no", "nomor", "no_urut", "nomor_urut")
#: Bad rows listed at most; the rest are counted.
MAX_LISTED = 100
_ALIASES = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
_ID = re.compile(r"^[^\s\x00-\x1f\x7f]{1,256}$")  # a metric label: no blanks or controls
#: The camera URL fields some check probes, and the schemes each accepts (the config loader's).
_URL_FIELDS = tuple(dict.fromkeys(f for check in CHECKS.values() for f in check.fields))
_SCHEMES = {f: field_schemes(f) for f in _URL_FIELDS}
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")


@dataclass
class Problem:
    row: int
    column: str  # header name as in the file ("" for the whole row)
    letter: str  # spreadsheet column letter ("" for the whole row)
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}"
        if self.column:
            where += f", column {self.column}" + (f" ({self.letter})" if self.letter else "")
        return f"{where}: {self.reason}"


def _norm(header: Any) -> str:
    return re.sub(r"[^\w]+", "_", str(header or "").strip().lower()).strip("_")


def is_header(cells: list[str]) -> bool:
    return any(_ALIASES.get(_norm(c)) == "id" for c in cells)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _cell(value)
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or DD/MM/YYYY)")


def _list(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,;|]+", text) if p]


def convert(header: list[str], rows: Iterable[tuple[int, list[Any]]], provider: str,
            today: dt.date | None = None, header_row: int = 1, strict: bool = False,
            warnings: list[Problem] | None = None,
            ) -> tuple[list[dict[str, Any]], list[Problem], int]:
    """Cameras as config mappings, every problem found, and the number of data rows.  An
    unknown column goes to `warnings` (a problem with `strict`)."""
    today = today or dt.date.today()
    problems: list[Problem] = []
    keys: list[str | None] = []
    seen_keys: dict[str, str] = {}
    for i, h in enumerate(header):
        key = _ALIASES.get(_norm(h))
        if key is None and h and _norm(h) not in IGNORED:
            unknown = Problem(header_row, h, column_letter(i),
                              "unknown column" + (" (known: " if strict else ", ignored (known: ")
                              + ", ".join(COLUMNS) + ")")
            if strict:
                problems.append(unknown)
            elif warnings is not None:
                warnings.append(unknown)
        elif key is not None and key in seen_keys:
            problems.append(Problem(header_row, h, column_letter(i), f"the same as column {seen_keys[key]}"))
            key = None
        elif key is not None:
            seen_keys[key] = h
        keys.append(key)
    if "id" not in seen_keys:
        problems.append(Problem(header_row, "", "", "no id column (id or kode) in the first "
                                "rows"))
        return [], problems, 0
    cameras: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    count = 0
    for number, cells in rows:
        if all(_cell(c) == "" for c in cells):
            continue  # a blank line is no camera
        count += 1
        values: dict[str, Any] = {}
        cols: dict[str, tuple[str, str]] = {}
        for i, key in enumerate(keys):
            if key is None:
                continue
            values[key] = cells[i] if i < len(cells) else None
            cols[key] = (header[i], column_letter(i))
        if len(cells) > len(header) and any(_cell(c) for c in cells[len(header):]):
            problems.append(Problem(number, "", "", f"{len(cells)} cells but {len(header)} columns"))
            continue
        bad = _row(values, cols, number, provider, today, first_row)
        if isinstance(bad, list):
            problems.extend(bad)
        else:
            cameras.append(bad)
    return cameras, problems, count


def _row(values: dict[str, Any], cols: dict[str, tuple[str, str]], number: int, provider: str,
         today: dt.date, first_row: dict[str, int]) -> dict[str, Any] | list[Problem]:
    problems: list[Problem] = []

    def bad(key: str, reason: str) -> None:
        name, letter = cols.get(key, (key, ""))
        problems.append(Problem(number, name, letter, reason))

    cam: dict[str, Any] = {}
    cid = _cell(values.get("id"))
    if not cid:
        bad("id", "empty: every camera needs an id")
    elif not _ID.match(cid):
        bad("id", f"{cid[:60]!r}: no spaces or control characters, at most 256 characters")
    elif cid in first_row:
        bad("id", f"{cid} is already on row {first_row[cid]}")
    else:
        first_row[cid] = number
    cam["id"] = cid
    for key in ("name", "district", "zone", "uplink"):
        text = _cell(values.get(key))
        if len(text) > 1024:
            bad(key, "longer than 1024 characters")
        elif text:
            cam[key] = text
    cam["provider"] = provider
    lat, lon = _cell(values.get("latitude")), _cell(values.get("longitude"))
    if lat or lon:
        try:
            la, lo = float(lat.replace(",", ".")), float(lon.replace(",", "."))
            if not -90 <= la <= 90:
                bad("latitude", f"{lat}: outside -90..90")
            elif not -180 <= lo <= 180:
                bad("longitude", f"{lon}: outside -180..180")
            else:
                cam["location"] = [la, lo]
        except ValueError:
            bad("latitude" if not _is_number(lat) else "longitude",
                f"not a number: {(lat if not _is_number(lat) else lon)!r}")
    for key in _URL_FIELDS:
        url = _cell(values.get(key))
        if not url:
            continue
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            bad(key, f"not a URL ({exc})")
            continue
        if parts.scheme.lower() not in _SCHEMES[key]:
            bad(key, f"expected {' or '.join(s + '://' for s in _SCHEMES[key])}, got {parts.scheme or 'no scheme'}")
        elif not parts.hostname:
            bad(key, "no host in the URL")
        elif parts.password is not None:
            bad(key, "the URL carries a password: put it in the environment (${CAM_PASS}) or a password_file")
        else:
            cam[key] = url
    if not any(f in cam for f in _URL_FIELDS) and not any(
            p.column in {cols.get(f, (f,))[0] for f in _URL_FIELDS} for p in problems):
        bad("rtsp", f"no {', '.join(_URL_FIELDS[:-1])} or {_URL_FIELDS[-1]} URL: nothing to probe")
    user = _cell(values.get("username"))
    if user:
        cam["username"] = user
    checks = _list(_cell(values.get("checks")))
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        bad("checks", f"unknown check(s): {', '.join(unknown)} (known: {', '.join(CAMERA_CHECKS)})")
    elif checks:
        cam["checks"] = checks
    integrations = _list(_cell(values.get("integrations")))
    if integrations:
        cam["integrations"] = integrations
    claimed = values.get("claimed_installed")
    if _cell(claimed):
        try:
            day = _date(claimed)
            if day > today:
                bad("claimed_installed", f"{day.isoformat()} is in the future")
            else:
                cam["claimed_installed"] = day.isoformat()
        except ValueError as exc:
            bad("claimed_installed", str(exc))
    return problems if problems else cam


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
        return True
    except ValueError:
        return False


def render(cameras: list[dict[str, Any]], provider: str, source: str) -> str:
    head = (f"# Cameras of {provider}, imported by `cctv-monitor import` from {Path(source).name}.\n"
            "# Passwords are not imported: give them with ${CAM_PASS} or password_file:.\n")
    return head + yaml.safe_dump({"cameras": cameras}, sort_keys=False, allow_unicode=True,
                                 default_flow_style=None, width=100)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the provider's spreadsheet (.csv or .xlsx)")
    p.add_argument("--provider", required=True, metavar="NAME")
    p.add_argument("-o", "--output", required=True, metavar="FILE.yml", help="'-' for stdout")
    p.add_argument("--skip-bad", action="store_true",
                   help="write the good rows even when some are bad (the bad ones are still listed)")
    p.add_argument("--strict", action="store_true",
                   help="refuse a column the importer does not know (default: a warning)")


def main(args: Any) -> int:
    """0 written; 1 bad rows (listed on stderr); 2 unreadable input or usage errors."""
    source = Path(args.file)
    if not args.provider.strip():
        print("import: --provider must not be empty", file=sys.stderr)
        return 2
    warnings: list[Problem] = []
    try:
        rows = open_rows(source)
        header_row, header = find_header(source, rows, is_header)
        cameras, problems, count = convert(header, rows, args.provider, header_row=header_row,
                                           strict=getattr(args, "strict", False),
                                           warnings=warnings)
    except (OSError, ReadError) as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"{source.name}: warning: {warning}", file=sys.stderr)
    bad = sorted({p.row for p in problems if p.row > header_row})
    listed = set(bad[:MAX_LISTED])
    for problem in problems:
        if problem.row <= header_row or problem.row in listed:
            print(f"{source.name}: {problem}", file=sys.stderr)
    if len(bad) > MAX_LISTED:
        print(f"{source.name}: ... and {len(bad) - MAX_LISTED} more bad rows not listed",
              file=sys.stderr)
    bad_rows = len(bad)
    header_bad = any(p.row <= header_row for p in problems)
    if problems and (header_bad or not args.skip_bad):
        print(f"import: {count} rows, {bad_rows} bad; nothing written"
              + ("" if header_bad else " (--skip-bad writes the good ones)"), file=sys.stderr)
        return 1
    text = render(cameras, args.provider, str(source))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    print(f"import: {len(cameras)} cameras written" + (f", {bad_rows} bad rows left out" if bad_rows else ""),
          file=sys.stderr)
    return 0
