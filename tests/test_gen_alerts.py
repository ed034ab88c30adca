"""scripts/gen_alerts.py: the committed config/alerts.yml is what it generates (drift), a new
runbook base rewrites every runbook_url and nothing else, the result still passes the real
promtool, and a base that would put credentials or garbage into every page is refused."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_alerts.py"
ALERTS = ROOT / "config" / "alerts.yml"

_spec = importlib.util.spec_from_file_location("gen_alerts", SCRIPT)
gen_alerts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_alerts)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=30, cwd=ROOT)


def _rules(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_committed_alerts_are_what_the_script_generates():
    res = _run("--check")
    assert res.returncode == 0, res.stderr
    assert gen_alerts.recorded_base(ALERTS.read_text()) == gen_alerts.DEFAULT_BASE


def test_check_notices_a_hand_edited_runbook_url(tmp_path):
    edited = tmp_path / "alerts.yml"
    edited.write_text(ALERTS.read_text().replace("CameraDown.md", "camera-down.md", 1))
    res = _run("--check", "--alerts", str(edited))
    assert res.returncode == 1 and "gen_alerts.py" in res.stderr


@pytest.mark.parametrize("base,url", [
    ("https://wiki.example.org/cctv/runbooks", "https://wiki.example.org/cctv/runbooks/{}.md"),
    ("http://10.20.0.5:8080/display/CCTV/{alert}", "http://10.20.0.5:8080/display/CCTV/{}"),
])
def test_new_base_rewrites_every_runbook_url_and_nothing_else(tmp_path, base, url):
    out = tmp_path / "alerts.yml"
    res = _run("--runbook-base", base, "--out", str(out))
    assert res.returncode == 0, res.stderr
    old, new = _rules(ALERTS), _rules(out)
    assert len(old) == len(new) >= 11
    for before, after in zip(old, new):
        assert after["annotations"]["runbook_url"] == url.format(after["alert"])
        # everything else is the hand-written rule
        before["annotations"].pop("runbook_url")
        after["annotations"].pop("runbook_url")
        assert before == after
    changed = [(a, b) for a, b in zip(ALERTS.read_text().splitlines(), out.read_text().splitlines())
               if a != b]
    assert all("runbook_url:" in b or b.startswith("# runbook base:") for _, b in changed)
    assert len(changed) == len(new) + 1
    # and it is the one the next run keeps
    assert _run("--check", "--alerts", str(out)).returncode == 0
    promtool = require("promtool")
    res = subprocess.run([promtool, "check", "rules", str(out)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("base", [
    "ftp://wiki.example.org/runbooks/",
    "wiki.example.org/runbooks/",
    "https://admin:hunter2@wiki.example.org/runbooks/",
    "https://wiki.example.org/run books/",
    "https://wiki.example.org/\"runbooks/",
])
def test_bad_bases_are_refused_and_nothing_is_written(tmp_path, base):
    out = tmp_path / "alerts.yml"
    res = _run("--runbook-base", base, "--out", str(out))
    assert res.returncode == 2 and res.stderr.startswith("gen_alerts: --runbook-base")
    assert "hunter2" not in res.stderr
    assert not out.exists()


def test_an_alert_without_runbook_url_is_an_error():
    text = ALERTS.read_text()
    broken = "\n".join(l for l in text.splitlines() if "MonitorDown.md" not in l)
    with pytest.raises(gen_alerts.Error, match="MonitorDown"):
        gen_alerts.generate(broken, gen_alerts.DEFAULT_BASE)
