"""Memory and time of `cctv-monitor import` on hostile spreadsheets (issue: import bounds).

    .venv/bin/python tests/bench/bench_import.py [--only NAME ...]

Writes, in a temporary directory, the files of the report that found the import unbounded
and runs the real command on each in a child process, printing its exit code, peak RSS
(from wait4), wall time and the last line it printed:

- `bomb.xlsx`: about 1 MiB that inflates to 1 GiB (one sheet of blanks);
- `rows5m.xlsx`: five million rows of one inline-string cell (about 1 MB zipped);
- `blank5m.xlsx`: five million empty rows without a <dimension> record; `blank5m-dim.xlsx`
  the same with one (under the inflated-size cap: the row cap stops it);
- `big.csv`: 100 MB of camera rows; `csv60m.csv`: 60 MB (under the size cap: the row cap);
- `cell.csv`: one 1 MiB field.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
         'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
         'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
         'Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.'
             'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.'
             'openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" '
             'sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            'http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>')
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
               'openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"


def write_xlsx(path: Path, sheet_chunks, dimension: str = "") -> None:
    """A minimal XLSX whose sheet XML is streamed from `sheet_chunks` (str pieces), with a
    <dimension ref=...> record when `dimension` is given."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            head = _SHEET_HEAD
            if dimension:
                head = head.replace("<sheetData>", f'<dimension ref="{dimension}"/><sheetData>')
            f.write(head.encode())
            for chunk in sheet_chunks:
                f.write(chunk.encode())
            f.write(_SHEET_TAIL.encode())


def bomb_chunks(total: int):
    yield '<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row>'
    blank = " " * (1 << 20)
    for _ in range(total >> 20):
        yield blank


def rows_chunks(rows: int, empty: bool):
    yield '<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row>'
    batch = []
    for i in range(2, rows + 2):
        batch.append(f'<row r="{i}"/>' if empty else
                     f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>X</t></is></c></row>')
        if len(batch) == 10_000:
            yield "".join(batch)
            batch = []
    yield "".join(batch)


def write_csv(path: Path, size: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,name,district,rtsp\n")
        line = 0
        written = 0
        while written < size:
            text = f"C-{line},Camera {line} di jalan panjang,Menteng,rtsp://10.{line % 250}.0.1/live\n"
            f.write(text)
            written += len(text)
            line += 1


def run(path: Path) -> tuple[int, int, float, str]:
    """(exit code, peak RSS bytes, seconds, last stderr line) of the import."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "import", str(path), "--provider", "p", "-o",
             os.devnull, "--skip-bad"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return proc.returncode, usage.ru_maxrss * 1024, time.monotonic() - t0, (lines or [""])[-1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", default=None)
    args = p.parse_args()
    makers = {
        "bomb.xlsx": lambda f: write_xlsx(f, bomb_chunks(1 << 30)),
        "rows5m.xlsx": lambda f: write_xlsx(f, rows_chunks(5_000_000, empty=False)),
        "blank5m.xlsx": lambda f: write_xlsx(f, rows_chunks(5_000_000, empty=True)),
        "blank5m-dim.xlsx": lambda f: write_xlsx(f, rows_chunks(5_000_000, empty=True),
                                                 "A1:A5000001"),
        "big.csv": lambda f: write_csv(f, 100 * 10**6),
        "csv60m.csv": lambda f: write_csv(f, 60 * 10**6),
        "cell.csv": lambda f: f.write_text('id,name\nX,"' + "x" * (1 << 20) + '"\n'),
    }
    with tempfile.TemporaryDirectory() as d:
        for name, make in makers.items():
            if args.only and name not in args.only:
                continue
            path = Path(d) / name
            make(path)
            code, rss, seconds, last = run(path)
            print(f"{name:16} {path.stat().st_size / 2**20:8.1f} MiB  exit {code}  "
                  f"peak RSS {rss / 2**20:6.0f} MiB  {seconds:6.1f} s  {last[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
