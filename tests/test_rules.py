"""Prometheus configuration, recording rules and alert rules, checked by the real promtool.

Rules and alerts may only read the series of tests/artefacts.py's `known_series()`: what the
monitor exports, Prometheus' own series, and the recording rules of config/rules.yml.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.artefacts import (
    ALERTS,
    CONFIG,
    ROOT,
    RULES,
    alert_rules,
    known_series,
    load_yaml,
    metric_names,
    recorded_names,
)
from tests.conftest import require

RUNBOOKS = ROOT / "docs" / "runbooks"
# the base scripts/gen_alerts.py recorded in the file (an operator's regenerated file passes too)
RUNBOOK_BASE = re.search(r"^# runbook base: (\S+)$", ALERTS.read_text(), re.M).group(1)

#: The alert names: a contract with the operators' routing and runbooks (docs/runbooks/).
ALERT_NAMES = {
    "CommandCentreLinkDown",
    "CommandCentreLinkDegraded",
    "PoliceFeedDown",
    "RingOneCameraDown",
    "CameraDown",
    "MassOutage",
    "CameraFlapping",
    "ProviderBelowSLA",
    "MonitorDown",
    "MonitorProbeLag",
    "MonitorConfigReloadFailed",
    "MonitorLedgerNotWriting",
    "MonitorLedgerRowsHeld",
    "CameraClockDrift",
    "CameraTlsCertExpiring",
}


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------ the real tools


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-sharded.yml", "prometheus-longterm.yml"])
def test_promtool_check_config(config):
    promtool = require("promtool")
    res = _run(promtool, "check", "config", f"config/{config}")
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_rules():
    promtool = require("promtool")
    res = _run(promtool, "check", "rules", "config/rules.yml", "config/alerts.yml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_unit_tests():
    promtool = require("promtool")
    files = sorted(str(p.relative_to(ROOT)) for p in (CONFIG / "tests").glob("*.yml"))
    assert files, "no promtool unit tests in config/tests/"
    res = _run(promtool, "test", "rules", *files)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_ring_one_alert_takes_the_spellings_the_monitor_takes():
    """One ring-one rule: the alert's zone matcher (Prometheus anchors it) and
    monitor.model.is_ring_one agree on every spelling, and on near misses."""
    import yaml

    from monitor.model import is_ring_one

    alerts = yaml.safe_load((CONFIG / "alerts.yml").read_text(encoding="utf-8"))
    rule = next(r for g in alerts["groups"] for r in g["rules"]
                if r.get("alert") == "RingOneCameraDown")
    pattern = re.search(r'zone=~"([^"]+)"', rule["expr"]).group(1)
    for zone in ("ring-1", "Ring-1", "RING-ONE", "ring1", "ring_1", "ring-one", "ring-2",
                 "ring", "city", "ring-10", "outer-ring-1", ""):
        assert bool(re.fullmatch(pattern, zone)) == is_ring_one(zone), zone


# ------------------------------------------------------------------ alert contract


def test_alerts_are_the_spec_alerts():
    assert {r["alert"] for r in alert_rules()} == ALERT_NAMES


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_for_severity_annotations_and_runbook(rule):
    name = rule["alert"]
    assert rule.get("for"), f"{name}: no `for`"
    labels = rule.get("labels", {})
    assert labels.get("severity") in {"critical", "warning"}, f"{name}: severity {labels!r}"
    ann = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert ann.get(key, "").strip(), f"{name}: no {key}"
    assert ann["runbook_url"] == f"{RUNBOOK_BASE}{name}.md"
    runbook = RUNBOOKS / f"{name}.md"
    assert runbook.is_file(), f"missing runbook {runbook}"
    text = runbook.read_text()
    assert text.startswith(f"# {name}\n")
    for section in ("## What it means", "## Impact", "## How to check", "## Likely causes",
                    "## What to do", "## Escalation"):
        assert section in text, f"{runbook.name}: no '{section}'"


def test_spec_severities():
    sev = {r["alert"]: r["labels"]["severity"] for r in alert_rules()}
    for name in ("CommandCentreLinkDown", "PoliceFeedDown", "RingOneCameraDown", "MassOutage",
                 "MonitorDown", "MonitorLedgerNotWriting"):
        assert sev[name] == "critical", name
    for name in ("CommandCentreLinkDegraded", "CameraDown", "CameraFlapping", "ProviderBelowSLA",
                 "MonitorProbeLag", "MonitorConfigReloadFailed", "MonitorLedgerRowsHeld",
                 "CameraClockDrift",
                 "CameraTlsCertExpiring"):
        assert sev[name] == "warning", name


def test_mass_outage_scopes_carry_their_label():
    """Alertmanager inhibits CameraDown with equal: [district|provider|uplink]."""
    scopes = {}
    for r in alert_rules():
        if r["alert"] == "MassOutage":
            scope = r["labels"]["scope"]
            assert f"{scope}:" in r["expr"] and f"on ({scope})" in r["expr"], r["expr"]
            scopes[scope] = r
    assert set(scopes) == {"district", "provider", "uplink"}
    # CameraDown carries all three labels (joined from the info metric)
    camera_down = next(r for r in alert_rules() if r["alert"] == "CameraDown")
    assert "camera:cctv_camera_up:with_info" in camera_down["expr"]
    with_info = next(r for g in load_yaml(RULES)["groups"] for r in g["rules"]
                     if r.get("record") == "camera:cctv_camera_up:with_info")
    for label in ("district", "provider", "uplink", "zone", "name"):
        assert label in with_info["expr"]


def test_thresholds_are_named_recording_rules():
    """No magic number in a MassOutage/CameraFlapping/MonitorProbeLag comparison."""
    thresholds = {r["record"] for g in load_yaml(RULES)["groups"] if g["name"] == "cctv-thresholds"
                  for r in g["rules"]}
    used = set()
    for r in alert_rules():
        used |= {n for n in metric_names(r["expr"]) if n.endswith(":threshold")}
        if r["alert"] in {"MassOutage", "CameraFlapping", "MonitorProbeLag"}:
            assert "scalar(cctv:" in r["expr"], r["alert"]
    assert used == thresholds


def test_every_alert_has_a_quiet_and_a_firing_unit_test():
    """For every alert: a case at which it is quiet while its condition holds but `for` has not
    elapsed (exp_alerts: []), and one where it fires with expected labels and annotations."""
    quiet: set[str] = set()
    firing: dict[str, list] = {}
    for path in sorted((CONFIG / "tests").glob("*.yml")):
        doc = load_yaml(path)
        assert doc["rule_files"] == ["../rules.yml", "../alerts.yml"], path
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                name = case["alertname"]
                if case.get("exp_alerts"):
                    firing.setdefault(name, []).extend(case["exp_alerts"])
                else:
                    quiet.add(name)
    assert ALERT_NAMES - quiet == set(), "alerts without a quiet case"
    assert ALERT_NAMES - set(firing) == set(), "alerts without a firing case"
    for name, alerts in firing.items():
        for a in alerts:
            assert a.get("exp_labels", {}).get("severity"), name
            ann = a.get("exp_annotations", {})
            assert {"summary", "description", "runbook_url"} <= set(ann), name


# ------------------------------------------------------------------ metric names


def test_metric_name_lexer():
    assert metric_names('sum by (provider) (rate(cctv_probes_total{check="rtsp"}[5m]))') == {
        "cctv_probes_total"}
    assert metric_names(
        'a:b:c * on (camera) group_left (name, zone) cctv_camera_info{zone=~"$zone"} >= bool 0'
    ) == {"a:b:c", "cctv_camera_info"}
    assert metric_names("label_values(cctv_camera_info{provider=~\"$p\"}, district)") == {
        "cctv_camera_info"}
    assert metric_names("label_values(district)") == set()
    assert metric_names("histogram_quantile(0.99, sum by (le) (rate(x_bucket[$__rate_interval])))") == {
        "x_bucket"}
    # a misspelt metric is seen, so the tests below can fail
    assert "cctv_camera_upp" in metric_names("avg(cctv_camera_upp) > 0.5")


def test_rules_and_alerts_read_only_exported_or_recorded_series():
    known = known_series()
    unknown = {}
    for path in (RULES, ALERTS):
        for g in load_yaml(path)["groups"]:
            for r in g["rules"]:
                bad = metric_names(r["expr"]) - known
                if bad:
                    unknown[r.get("record") or r.get("alert")] = sorted(bad)
    assert unknown == {}


def test_recording_rule_names_follow_level_metric_operations():
    for name in recorded_names():
        parts = name.split(":")
        assert len(parts) == 3 and all(parts), name


def test_prometheus_config_scrapes_the_monitor_and_loads_the_rules():
    for config in ("prometheus.yml", "prometheus-sharded.yml"):
        doc = load_yaml(CONFIG / config)
        assert doc["rule_files"] == ["rules.yml", "alerts.yml"]
        jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
        job = jobs["cctv-monitor"]
        assert job["scrape_interval"] == "15s"
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        assert targets and all(t.endswith(":9877") for t in targets)
        assert doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    sharded = load_yaml(CONFIG / "prometheus-sharded.yml")
    assert len(sharded["scrape_configs"][0]["static_configs"][0]["targets"]) >= 2


def test_runbooks_quote_the_current_thresholds():
    """A runbook that names a threshold rule quotes its value as `name` (value)."""
    values = {}
    for g in load_yaml(RULES)["groups"]:
        if g["name"] == "cctv-thresholds":
            for r in g["rules"]:
                values[r["record"]] = float(re.fullmatch(r"vector\(([\d.]+)\)", r["expr"]).group(1))
    quoted = 0
    for runbook in RUNBOOKS.glob("*.md"):
        for name, shown in re.findall(r"`(cctv:\w+:threshold)` \(([^)]+)\)", runbook.read_text()):
            number = float(re.match(r"[\d.]+", shown).group(0))
            if shown.endswith("%"):
                number /= 100
            assert number == values[name], f"{runbook.name}: {name} ({shown}) but rules say {values[name]}"
            quoted += 1
    assert quoted >= len(values)
