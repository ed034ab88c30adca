"""Reading a provider's spreadsheet for `cctv-monitor import` without trusting it.

A sheet may be a 1 MiB zip that inflates to gigabytes, five million empty rows, a 1 GB CSV
or a CSV cell of a megabyte.  So rows are streamed (never all in memory), and the reader
stops with a clear error (file and row named) at:

- `MAX_ROWS` rows, `MAX_COLUMNS` columns, `MAX_CELL` characters in a cell;
- `MAX_CSV_BYTES` of CSV, `MAX_XLSX_BYTES` uncompressed in an XLSX (the sizes the zip
  declares, which Python's zipfile enforces when it inflates), `MAX_SHARED_STRINGS` of its
  string table, and a large sheet without the <dimension> record spreadsheet programs write;
- an XLSX formula cell without a saved value (a sheet written by a program that does not
  compute formulas): its value is unknown, so it is an error naming the row and column,
  never an empty cell.

The header is the first row naming an id column among the first `HEADER_SEARCH` rows, so a
title row (merged cells) above the header is skipped.
"""

from __future__ import annotations

import codecs
import csv
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

MAX_ROWS = 100_000  # rows read, blank ones included; the largest city has 5,518 cameras
MAX_COLUMNS = 64
MAX_CELL = 64 * 1024  # characters; a URL or a name is far shorter
MAX_CSV_BYTES = 64 * 1024 * 1024
MAX_XLSX_BYTES = 128 * 1024 * 1024
MAX_SHARED_STRINGS = 32 * 1024 * 1024  # held in memory whole (twice: values and formulas)
#: A sheet larger than this must say its size in a <dimension> record near its start, as
#: every spreadsheet program writes it: without one openpyxl parses (and holds) the whole
#: sheet just to find it, about five times the XML in memory.
UNDIMENSIONED = 8 * 1024 * 1024
HEADER_SEARCH = 20

Rows = Iterator[tuple[int, list[Any]]]


class ReadError(ValueError):
    """The file cannot be read (as a whole, or from a row on); the message names it."""


def column_letter(index: int) -> str:
    """The spreadsheet's name of column `index` (0: A, 26: AA)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def open_rows(path: Path) -> Rows:
    """(row number as the spreadsheet shows it, cells) of the first sheet, streamed; a
    ReadError is raised when the file cannot be opened, or from the row where it goes bad."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    return _csv_rows(path)


def _bounded(path: Path, rows: Rows) -> Rows:
    for number, cells in rows:
        if number > MAX_ROWS:
            raise ReadError(f"{path}: more than {MAX_ROWS} rows; split the sheet")
        if len(cells) > MAX_COLUMNS and any(c not in (None, "") for c in cells[MAX_COLUMNS:]):
            raise ReadError(f"{path}: row {number}: more than {MAX_COLUMNS} columns")
        for i, cell in enumerate(cells[:MAX_COLUMNS]):
            if isinstance(cell, str) and len(cell) > MAX_CELL:
                raise ReadError(f"{path}: row {number}, column {column_letter(i)}: a cell of "
                                f"{len(cell)} characters (at most {MAX_CELL})")
        yield number, cells[:MAX_COLUMNS]


def _csv_rows(path: Path) -> Rows:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReadError(f"{path}: cannot read: {exc.strerror}") from None
    if size > MAX_CSV_BYTES:
        raise ReadError(f"{path}: {size} bytes; at most {MAX_CSV_BYTES // 2**20} MiB of CSV "
                        "(split the sheet)")
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise ReadError(f"{path}: cannot read: {exc.strerror}") from None

    def rows() -> Rows:
        with f:
            first = f.readline(MAX_CELL)
            f.seek(0)
            text = first.decode("utf-8", "replace")
            delimiter = ";" if text.count(";") > text.count(",") else ","
            limit = MAX_CELL * 2  # bytes in a line: a 1 GB line is never read whole

            def lines() -> Iterator[str]:
                number = 0
                while True:
                    raw = f.readline(limit)
                    if not raw:
                        return
                    number += 1
                    if len(raw) >= limit and not raw.endswith(b"\n"):
                        raise ReadError(f"{path}: row {number}: a line longer than {limit} bytes")
                    if number == 1 and raw.startswith(codecs.BOM_UTF8):
                        raw = raw[len(codecs.BOM_UTF8):]
                    try:
                        # a UTF-8 sequence never holds a newline byte: lines decode alone
                        yield raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise ReadError(f"{path}: row {number}: not UTF-8 (save the sheet "
                                        "as \"CSV UTF-8\")") from None

            reader = csv.reader(lines(), delimiter=delimiter)
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    why = str(exc)
                    if "field larger than field limit" in why:
                        why = f"a cell longer than {csv.field_size_limit()} characters"
                    raise ReadError(f"{path}: row {reader.line_num}: {why}") from None
                yield reader.line_num, cells

    return _bounded(path, rows())


def _xlsx_rows(path: Path) -> Rows:
    try:
        with zipfile.ZipFile(path) as z:
            _check_zip(path, z)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        if isinstance(exc, ReadError):
            raise
        raise ReadError(f"{path}: not a readable XLSX file ({exc.__class__.__name__})") from None
    import openpyxl

    try:
        values = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - zip/XML errors of a damaged file
        raise ReadError(f"{path}: not a readable XLSX file ({exc.__class__.__name__})") from None

    def rows() -> Rows:
        try:
            sheets = []
            for book in (values, formulas):
                sheet = book.worksheets[0]
                sheet.reset_dimensions()  # a declared A1:XFD1048576 must not pad every row
                sheets.append(sheet.iter_rows(max_row=MAX_ROWS + 1, max_col=MAX_COLUMNS + 1))
            for number, (cells, raw) in enumerate(zip(*sheets), start=1):
                out = []
                for i, (cell, f) in enumerate(zip(cells, raw)):
                    value = getattr(cell, "value", None)
                    if value is None and getattr(f, "data_type", None) == "f":
                        raise ReadError(
                            f"{path}: row {number}, column {column_letter(i)}: a formula "
                            f"({str(f.value)[:60]}) without a saved value; open the file in a "
                            "spreadsheet and save it, or paste the values")
                    out.append(value)
                yield number, out
        except ReadError:
            raise
        except Exception as exc:  # noqa: BLE001 - XML errors deep in a damaged sheet
            raise ReadError(f"{path}: not a readable XLSX file ({exc.__class__.__name__})") from None
        finally:
            values.close()
            formulas.close()

    return _bounded(path, rows())


def _check_zip(path: Path, z: zipfile.ZipFile) -> None:
    infos = z.infolist()
    inflated = sum(info.file_size for info in infos)
    if inflated > MAX_XLSX_BYTES:
        raise ReadError(f"{path}: inflates to {inflated} bytes, more than "
                        f"{MAX_XLSX_BYTES // 2**20} MiB: not a camera list (a zip bomb?)")
    for info in infos:
        name = info.filename.lower()
        if name.endswith("sharedstrings.xml") and info.file_size > MAX_SHARED_STRINGS:
            raise ReadError(f"{path}: {info.file_size} bytes of text cells, more than "
                            f"{MAX_SHARED_STRINGS // 2**20} MiB: not a camera list")
        if name.startswith("xl/worksheets/") and info.file_size > UNDIMENSIONED:
            with z.open(info) as f:
                head = f.read(64 * 1024)
            before_data = head.split(b"<sheetData", 1)[0]
            if b"<dimension" not in before_data and b":dimension" not in before_data:
                raise ReadError(f"{path}: a sheet of {info.file_size} bytes without a "
                                "<dimension> record; open the file in a spreadsheet and save it")


def find_header(path: Path, rows: Rows, is_header: Callable[[list[str]], bool]
                ) -> tuple[int, list[str]]:
    """The header row: the first among the first HEADER_SEARCH non-blank rows that
    `is_header` accepts, else the first non-blank row (whose problems are then reported)."""
    first: tuple[int, list[str]] | None = None
    seen = 0
    for number, cells in rows:
        header = [str(h).strip() if h is not None else "" for h in cells]
        if not any(header):
            continue
        if first is None:
            first = (number, header)
        if is_header(header):
            return number, header
        seen += 1
        if seen >= HEADER_SEARCH:
            break
    if first is None:
        raise ReadError(f"{path}: empty file")
    return first
