"""`cctv-monitor import`: a provider's spreadsheet with good and bad rows, as CSV (`;`,
with a byte-order mark) and as XLSX; every bad row named with its row, column and reason."""

from __future__ import annotations

import datetime as dt

import openpyxl
import yaml

from monitor.commands.cli import main

HEADER = ["Kode", "Nama", "Kecamatan", "Zona", "Lintang", "Bujur", "Uplink", "RTSP", "HTTP",
          "Tanggal Pasang"]
ROWS = [
    ["JKT-0101", "Bundaran HI utara", "Menteng", "ring-1", "-6.195", "106.823", "sw-01",
     "rtsp://10.2.3.4:554/Streaming/Channels/101", "", "2016-05-30"],
    ["JKT-0102", "Monas barat", "Gambir", "city", "-6,1754", "106,8272", "sw-02",
     "", "http://10.2.3.5/picture", "30/06/2016"],
    ["", "no id", "Gambir", "city", "", "", "", "rtsp://10.2.3.6/x", "", ""],  # row 4
    ["JKT-0101", "duplicate", "Gambir", "city", "", "", "", "rtsp://10.2.3.7/x", "", ""],  # row 5
    ["JKT-0105", "bad latitude", "Gambir", "city", "-96.1", "106.8", "", "rtsp://10.2.3.8/x", "", ""],
    ["JKT-0106", "password", "Gambir", "city", "", "", "", "rtsp://admin:s3cret@10.2.3.9/x", "", ""],
    ["JKT-0107", "bad date", "Gambir", "city", "", "", "", "rtsp://10.2.3.10/x", "", "31/02/2016"],
    ["", "", "", "", "", "", "", "", "", ""],  # a blank line: no camera, no error
    ["JKT-0109", "no url", "Gambir", "city", "", "", "", "", "", ""],
    ["JKT-0110", "wrong scheme", "Gambir", "city", "", "", "", "http://10.2.3.11/x", "", ""],
]
EXPECTED_ERRORS = [
    "row 4, column Kode (A): empty: every camera needs an id",
    "row 5, column Kode (A): JKT-0101 is already on row 2",
    "row 6, column Lintang (E): -96.1: outside -90..90",
    "row 7, column RTSP (H): the URL carries a password: put it in the environment (${CAM_PASS}) or a password_file",
    "row 8, column Tanggal Pasang (J): not a date: '31/02/2016' (use YYYY-MM-DD or DD/MM/YYYY)",
    "row 10, column RTSP (H): no rtsp, http or onvif URL: nothing to probe",
    "row 11, column RTSP (H): expected rtsp:// or rtsps://, got http",
]


def check_outcome(capsys, path, tmp_path):
    out = tmp_path / "alpha.yml"
    code = main(["import", str(path), "--provider", "pt-alpha", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert not out.exists()  # nothing written while rows are bad
    assert [line.split(": ", 1)[1] for line in err.splitlines() if line.startswith(path.name)] == EXPECTED_ERRORS
    assert "s3cret" not in err
    assert "9 rows, 7 bad; nothing written" in err
    code = main(["import", str(path), "--provider", "pt-alpha", "-o", str(out), "--skip-bad"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 cameras written, 7 bad rows left out" in err
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert doc["cameras"] == [
        {"id": "JKT-0101", "name": "Bundaran HI utara", "district": "Menteng", "zone": "ring-1",
         "uplink": "sw-01", "provider": "pt-alpha", "location": [-6.195, 106.823],
         "rtsp": "rtsp://10.2.3.4:554/Streaming/Channels/101", "claimed_installed": "2016-05-30"},
        {"id": "JKT-0102", "name": "Monas barat", "district": "Gambir", "zone": "city",
         "uplink": "sw-02", "provider": "pt-alpha", "location": [-6.1754, 106.8272],
         "http": "http://10.2.3.5/picture", "claimed_installed": "2016-06-30"},
    ]


def test_csv_semicolons_with_bom(tmp_path, capsys):
    path = tmp_path / "alpha.csv"
    lines = [";".join(HEADER)] + [";".join(f'"{c}"' if "," in c else c for c in row) for row in ROWS]
    path.write_bytes("\ufeff".encode() + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    check_outcome(capsys, path, tmp_path)


def test_xlsx(tmp_path, capsys):
    path = tmp_path / "alpha.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in ROWS:
        cells = [c or None for c in row]
        if row[0] == "JKT-0101" and row[1] != "duplicate":
            cells[9] = dt.datetime(2016, 5, 30)  # a real date cell
            cells[4], cells[5] = -6.195, 106.823  # number cells
        sheet.append(cells)
    book.save(path)
    check_outcome(capsys, path, tmp_path)


def test_comma_csv_unknown_column_and_not_utf8(tmp_path, capsys):
    path = tmp_path / "beta.csv"
    path.write_text("id,rtsp,colour\nB-1,rtsp://10.0.0.1/x,red\n", encoding="utf-8")
    # an unknown column is a warning (the column is ignored), refused only with --strict
    assert main(["import", str(path), "--provider", "pt-bima", "-o", str(tmp_path / "b.yml")]) == 0
    err = capsys.readouterr().err
    assert "warning: row 1, column colour (C): unknown column, ignored" in err
    assert "1 cameras written" in err
    assert main(["import", str(path), "--provider", "pt-bima", "-o", str(tmp_path / "c.yml"),
                 "--strict"]) == 1
    err = capsys.readouterr().err
    assert "row 1, column colour (C): unknown column (known:" in err
    assert not (tmp_path / "c.yml").exists()
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,name\nB-1,Caf\xe9\n".encode("latin-1"))
    assert main(["import", str(latin), "--provider", "pt-bima", "-o", "-"]) == 2
    assert "row 2: not UTF-8" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text("id,rtsp\nB-1,rtsp://10.0.0.1/x\n", encoding="utf-8")
    assert main(["import", str(good), "--provider", "pt-bima", "-o", "-"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == {
        "cameras": [{"id": "B-1", "provider": "pt-bima", "rtsp": "rtsp://10.0.0.1/x"}]}


def test_url_columns_and_check_names_are_the_catalogues(tmp_path, capsys):
    """Every camera URL field of the check catalogue is a column (onvif too), with the
    schemes the config loader accepts, and every catalogue check is a valid name (picture
    too); an unknown check is named with the catalogue's list."""
    from monitor.checks import CAMERA_CHECKS

    path = tmp_path / "sheet.csv"
    path.write_text(
        "id,onvif,rtsp,checks\n"
        "JKT-0201,http://10.2.4.1/onvif/device_service,,onvif\n"
        "JKT-0202,,rtsps://10.2.4.2/live,\"rtsp,stream,picture\"\n"
        "JKT-0203,rtsp://10.2.4.3/onvif/device_service,,onvif\n"
        "JKT-0204,,rtsp://10.2.4.4/live,\"rtsp,ping\"\n", encoding="utf-8")
    out = tmp_path / "cams.yml"
    assert main(["import", str(path), "--provider", "pt-alpha", "-o", str(out), "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert "row 4, column onvif (B): expected http:// or https://, got rtsp" in err
    assert f"row 5, column checks (D): unknown check(s): ping (known: {', '.join(CAMERA_CHECKS)})" in err
    cams = yaml.safe_load(out.read_text(encoding="utf-8"))["cameras"]
    assert [(c["id"], c.get("onvif"), c.get("rtsp"), c["checks"]) for c in cams] == [
        ("JKT-0201", "http://10.2.4.1/onvif/device_service", None, ["onvif"]),
        ("JKT-0202", None, "rtsps://10.2.4.2/live", ["rtsp", "stream", "picture"]),
    ]


def test_sheet_as_providers_send_it(tmp_path, capsys):
    """A merged title row above the header, `No` and `Nama Lokasi` columns, a column the
    importer does not know (a warning, the rows still imported, even without --skip-bad)."""
    path = tmp_path / "gamma.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["DAFTAR TITIK CCTV KECAMATAN MENTENG - PT GAMMA"])
    sheet.merge_cells("A1:F1")
    sheet.append([])
    sheet.append(["No.", "Kode", "Nama Lokasi", "Kecamatan", "Link RTSP", "Keterangan"])
    sheet.append([1, "G-1", "Taman Suropati", "Menteng", "rtsp://10.9.0.1/live", "baru"])
    sheet.append([2, "G-2", "Jl. Diponegoro", "Menteng", "rtsp://10.9.0.2/live", None])
    book.save(path)
    out = tmp_path / "gamma.yml"
    assert main(["import", str(path), "--provider", "pt-gamma", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: row 3, column Keterangan (F): unknown column, ignored" in err
    assert "No." not in err and "Nama Lokasi" not in err
    cams = yaml.safe_load(out.read_text(encoding="utf-8"))["cameras"]
    assert cams == [
        {"id": "G-1", "name": "Taman Suropati", "district": "Menteng", "provider": "pt-gamma",
         "rtsp": "rtsp://10.9.0.1/live"},
        {"id": "G-2", "name": "Jl. Diponegoro", "district": "Menteng", "provider": "pt-gamma",
         "rtsp": "rtsp://10.9.0.2/live"},
    ]


def test_formula_without_saved_value_is_an_error_naming_its_cell(tmp_path, capsys):
    """openpyxl writes formulas without computing them: exactly a sheet whose values were
    never saved.  The cell is named by row and column, nothing is written."""
    path = tmp_path / "formula.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "name", "rtsp", "claimed_installed"])
    sheet.append(["F-1", "ok", "rtsp://10.9.1.1/x", "2020-01-02"])
    sheet.append(["F-2", "dated by formula", "rtsp://10.9.1.2/x", "=TODAY()-30"])
    book.save(path)
    out = tmp_path / "f.yml"
    assert main(["import", str(path), "--provider", "pt-f", "-o", str(out), "--skip-bad"]) == 2
    err = capsys.readouterr().err
    assert "row 3, column D: a formula (=TODAY()-30) without a saved value" in err
    assert "Traceback" not in err and not out.exists()


def test_bad_rows_listed_up_to_a_hundred_then_counted(tmp_path, capsys):
    path = tmp_path / "many.csv"
    path.write_text("id,rtsp\n" + "".join(f"M-{i},http://10.0.0.1/x\n" for i in range(250)),
                    encoding="utf-8")
    assert main(["import", str(path), "--provider", "pt-m", "-o", str(tmp_path / "m.yml")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert sum(": row " in line and "expected rtsp://" in line for line in err) == 100
    assert "many.csv: ... and 150 more bad rows not listed" in err
    assert "import: 250 rows, 250 bad; nothing written (--skip-bad writes the good ones)" in err


def test_a_megabyte_cell_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "big.csv"
    path.write_text('id,name,rtsp\nB-1,"' + "x" * (1 << 20) + '",rtsp://10.0.0.1/x\n',
                    encoding="utf-8")
    assert main(["import", str(path), "--provider", "pt-b", "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("import: ") and "row 2" in err and "longer than" in err
    assert "Traceback" not in err and "_csv.Error" not in err


def _import_child(path) -> tuple[int, int, str]:
    """(exit code, peak RSS in bytes, stderr) of the real command in a child process."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    # the child's own peak (VmHWM of its memory after exec), written at its exit: the
    # kernel's ru_maxrss of a child also counts the forking parent's memory at exec (a
    # pytest process hundreds of MB large late in a run)
    launcher = ("import atexit, runpy, sys\n"
                "out = sys.argv.pop(1)\n"
                "def peak():\n"
                "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
                "    open(out, 'w').write(hwm[0].split()[1])\n"
                "atexit.register(peak)\n"
                "sys.argv[0] = 'cctv-monitor'\n")
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak_file:
        proc = subprocess.Popen([sys.executable, "-c",
                                 launcher + "runpy.run_module('monitor', run_name='__main__')",
                                 peak_file.name, "import", str(path),
                                 "--provider", "p", "-o", os.devnull, "--skip-bad"],
                                cwd=root, stdout=subprocess.DEVNULL, stderr=err)
        status = proc.wait()
        err.seek(0)
        rss = int(peak_file.read() or 0) * 1024
        return status, rss, err.read().decode()


def test_import_bounds_hostile_files_in_bounded_memory(tmp_path):
    """A zip bomb, a sheet of 150,000 rows, a large sheet without a <dimension> record, a
    100 MB CSV and a CSV of 100,001 rows: each refused with one clear line (exit 2), in a
    child whose peak memory stays far below what unbounded reading took (2-6 GB)."""
    from monitor.commands import import_read
    from tests.bench.bench_import import bomb_chunks, rows_chunks, write_xlsx

    bomb = tmp_path / "bomb.xlsx"
    write_xlsx(bomb, bomb_chunks(import_read.MAX_XLSX_BYTES + (16 << 20)))
    rows = tmp_path / "rows.xlsx"
    write_xlsx(rows, rows_chunks(import_read.MAX_ROWS + 50_000, empty=True), "A1:A150001")
    nodim = tmp_path / "nodim.xlsx"
    write_xlsx(nodim, rows_chunks(700_000, empty=True))
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:  # sparse: 100 MB on paper, nothing on the disk
        f.write(b"id,rtsp\n")
        f.truncate(100 * 10**6)
    many = tmp_path / "many.csv"
    many.write_text("id,rtsp\n" + "".join(f"M-{i},rtsp://10.0.0.1/x\n"
                                          for i in range(import_read.MAX_ROWS)), encoding="utf-8")
    expected = {bomb: "more than 128 MiB: not a camera list",
                rows: f"more than {import_read.MAX_ROWS} rows",
                nodim: "without a <dimension> record",
                big: "at most 64 MiB of CSV",
                many: f"more than {import_read.MAX_ROWS} rows"}
    for path, message in expected.items():
        code, rss, err = _import_child(path)
        assert code == 2, (path.name, err)
        assert message in err and "Traceback" not in err, (path.name, err)
        assert rss < 200 * 2**20, (path.name, rss)
