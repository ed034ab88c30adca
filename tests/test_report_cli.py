"""`cctv-monitor report` refuses bad options with one line naming the option (exit 2, no
traceback, nothing created) and says so when the period has no data (exit 1 unless
--allow-empty), on the hand-computed fixture ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.commands.cli import main
from tests.report_fixture import CONFIG, ledger_path  # noqa: F401 - the fixture


def _config(tmp_path: Path, ledger: Path | None) -> Path:
    path = tmp_path / "monitor.yml"
    text = CONFIG + (f"history:\n  path: {ledger}\n" if ledger is not None else "history: {}\n")
    path.write_text(text)
    return path


@pytest.mark.parametrize("args, message", [
    (["--month", "abc"], "report: --month: expected YYYY-MM (e.g. 2026-10), got 'abc'"),
    (["--month", "2026-13"], "report: --month: expected YYYY-MM"),
    (["--from", "2026-10-01", "--to", "9999-12-31"], "report: --to: 9999-12-31 is out of range"),
    (["--from", "yesterday", "--to", "2026-10-31"], "report: --from: expected a date YYYY-MM-DD"),
    (["--month", "2026-10", "--provider", "no-such-provider"],
     "report: --provider: 'no-such-provider' is not a provider of"),
])
def test_bad_options_name_the_option(tmp_path, capsys, ledger_path, args, message):  # noqa: F811
    config = _config(tmp_path, ledger_path)
    out = tmp_path / "out"
    assert main(["report", "-c", str(config), "--no-pdf", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    if "--provider" in args:
        assert "known: pt-alpha, pt-bima" in err
    assert not out.exists()


def test_a_ledger_typo_creates_nothing(tmp_path, capsys, ledger_path):  # noqa: F811
    config = _config(tmp_path, ledger_path)
    typo = tmp_path / "typo.sqlite"
    assert main(["report", "-c", str(config), "--month", "2026-10", "--no-pdf",
                 "--out", str(tmp_path / "out"), "--ledger", str(typo)]) == 2
    err = capsys.readouterr().err
    assert f"report: --ledger: {typo} does not exist (nothing was created)" in err
    assert not typo.exists() and not (tmp_path / "out").exists()


def test_a_period_without_data_is_said_and_exits_1_unless_allowed(tmp_path, capsys,
                                                                   ledger_path):  # noqa: F811
    config = _config(tmp_path, ledger_path)
    out = tmp_path / "empty"
    # the fixture's ledger runs from 2026-09-20 to 2026-11-02
    assert main(["report", "-c", str(config), "--month", "2026-06", "--no-pdf",
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "report: no ledger record covers 2026-06" in err and "--allow-empty" in err
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "No record of the ledger covers this period" in page
    assert main(["report", "-c", str(config), "--month", "2026-06", "--no-pdf", "--lang", "id",
                 "--out", str(out), "--allow-empty"]) == 0
    capsys.readouterr()
    assert "Tidak ada catatan ledger" in (out / "report.html").read_text(encoding="utf-8")
    # a covered month: no such notice, exit 0
    assert main(["report", "-c", str(config), "--month", "2026-10", "--no-pdf",
                 "--out", str(out)]) == 0
    assert "no ledger record" not in capsys.readouterr().err
    assert "No record of the ledger" not in (out / "report.html").read_text(encoding="utf-8")
