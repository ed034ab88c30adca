"""Prometheus configuration, recording rules and alert rules, checked by the real promtool.

Owns the list of metric names the monitor exports (`EXPORTED_METRICS`): rules, alerts and
dashboards (tests/test_dashboards.py imports it) may only read those, Prometheus' own
series, and the recording rules of config/rules.yml.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
RULES = CONFIG / "rules.yml"
ALERTS = CONFIG / "alerts.yml"
RUNBOOKS = ROOT / "docs" / "runbooks"
# the base scripts/gen_alerts.py recorded in the file (an operator's regenerated file passes too)
RUNBOOK_BASE = re.search(r"^# runbook base: (\S+)$", ALERTS.read_text(), re.M).group(1)

#: The alert names of SPEC.md ("Alerts"): the contract.
SPEC_ALERTS = {
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
}

#: Every metric the monitor exports (SPEC.md "Metrics" plus the additions the exporter
#: documents).  The one place this list lives.
EXPORTED_METRICS = {
    # SPEC.md
    "cctv_camera_info",
    "cctv_camera_up",
    "cctv_probe_success",
    "cctv_probe_duration_seconds",
    "cctv_probe_reason",
    "cctv_probes_total",
    "cctv_probe_failures_total",
    "cctv_camera_last_up_timestamp_seconds",
    "cctv_camera_state_changes_total",
    "cctv_feed_up",
    "cctv_stream_frames_per_second",
    "cctv_stream_bytes_per_second",
    "cctv_stream_keyframe_interval_seconds",
    "cctv_stream_info",
    "cctv_snapshot_luminance_ratio",
    "cctv_snapshot_unchanged_fetches",
    "cctv_link_up",
    "cctv_link_rtt_seconds",
    "cctv_link_loss_ratio",
    "cctv_provider_target_cameras",
    "cctv_provider_sla_ratio",
    "cctv_monitor_probe_lag_seconds",  # histogram
    "cctv_monitor_probes_in_flight",
    "cctv_monitor_config_last_reload_successful",
    # additions
    "cctv_feed_state",
    "cctv_camera_integration_info",
    "cctv_link_state",
    "cctv_link_rtt_min_seconds",
    "cctv_link_rtt_max_seconds",
    "cctv_link_jitter_seconds",
    "cctv_centre_up",
    "cctv_provider_cameras",
    "cctv_provider_feeds",
    "cctv_monitor_cameras",
}
HISTOGRAMS = {"cctv_monitor_probe_lag_seconds"}

#: Series Prometheus makes itself.
PROMETHEUS_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "atan2",
}
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<expr>.+?)\s*,)?\s*(?P<label>\w+)\s*\)\s*$")


def metric_names(expr: str) -> set[str]:
    """The metric (and recording-rule) names a PromQL expression reads.

    A small lexer, not a parser: strings, label matchers, label lists of by/on/...,
    ranges and numbers are removed; what remains and is not followed by "(" (a function)
    nor a keyword is a series name.  Grafana's label_values(expr, label) is understood.
    """
    m = _LABEL_VALUES.match(expr)
    if m:
        return metric_names(m.group("expr")) if m.group("expr") else set()
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables outside matchers
    names = set()
    for tok in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = tok.group(1), tok.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        if re.fullmatch(r"\d+(ms|s|m|h|d|w|y)?", name):
            continue
        names.add(name)
    return names


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def recorded_names() -> set[str]:
    return {r["record"] for g in _load(RULES)["groups"] for r in g["rules"] if "record" in r}


def known_series() -> set[str]:
    known = set(EXPORTED_METRICS) | PROMETHEUS_SERIES | recorded_names()
    for h in HISTOGRAMS:
        known |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    return known


def alert_rules() -> list[dict]:
    return [r for g in _load(ALERTS)["groups"] for r in g["rules"] if "alert" in r]


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------ the real tools


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-sharded.yml"])
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


# ------------------------------------------------------------------ alert contract


def test_alerts_are_the_spec_alerts():
    assert {r["alert"] for r in alert_rules()} == SPEC_ALERTS


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
                 "MonitorDown"):
        assert sev[name] == "critical", name
    for name in ("CommandCentreLinkDegraded", "CameraDown", "CameraFlapping", "ProviderBelowSLA",
                 "MonitorProbeLag", "MonitorConfigReloadFailed"):
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
    with_info = next(r for g in _load(RULES)["groups"] for r in g["rules"]
                     if r.get("record") == "camera:cctv_camera_up:with_info")
    for label in ("district", "provider", "uplink", "zone", "name"):
        assert label in with_info["expr"]


def test_thresholds_are_named_recording_rules():
    """No magic number in a MassOutage/CameraFlapping/MonitorProbeLag comparison."""
    thresholds = {r["record"] for g in _load(RULES)["groups"] if g["name"] == "cctv-thresholds"
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
        doc = _load(path)
        assert doc["rule_files"] == ["../rules.yml", "../alerts.yml"], path
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                name = case["alertname"]
                if case.get("exp_alerts"):
                    firing.setdefault(name, []).extend(case["exp_alerts"])
                else:
                    quiet.add(name)
    assert SPEC_ALERTS - quiet == set(), "alerts without a quiet case"
    assert SPEC_ALERTS - set(firing) == set(), "alerts without a firing case"
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
        for g in _load(path)["groups"]:
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
        doc = _load(CONFIG / config)
        assert doc["rule_files"] == ["rules.yml", "alerts.yml"]
        jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
        job = jobs["cctv-monitor"]
        assert job["scrape_interval"] == "15s"
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        assert targets and all(t.endswith(":9877") for t in targets)
        assert doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    sharded = _load(CONFIG / "prometheus-sharded.yml")
    assert len(sharded["scrape_configs"][0]["static_configs"][0]["targets"]) >= 2


def test_runbooks_quote_the_current_thresholds():
    """A runbook that names a threshold rule quotes its value as `name` (value)."""
    values = {}
    for g in _load(RULES)["groups"]:
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
