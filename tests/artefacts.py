"""Readers of the files the project ships for Prometheus and Grafana, shared by the tests.

The rules, alerts and dashboards tests (and the end-to-end stack test) read config/*.yml
and dashboards/*.json through these, and check every PromQL expression against
`known_series()`: what the monitor exports, what Prometheus makes, what the recording rules
record.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import yaml

from tests.factories import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
RULES = CONFIG / "rules.yml"
ALERTS = CONFIG / "alerts.yml"


#: Every metric the monitor exports (docs/metrics.md).  Rules, alerts and dashboards may read
#: only these, Prometheus' own series and the recording rules of config/rules.yml.
EXPORTED_METRICS = {
    "cctv_camera_info",
    "cctv_camera_up",
    "cctv_camera_in_maintenance",
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
    "cctv_camera_clock_offset_seconds",
    "cctv_camera_device_info",
    "cctv_inventory_duplicate_devices",
    "cctv_camera_tls_cert_expiry_seconds",
    # the outage ledger's own (monitor/history/metrics.py), read by the MonitorLedger* alerts
    "cctv_monitor_ledger_writing",
    "cctv_monitor_ledger_last_commit_timestamp_seconds",
    "cctv_monitor_ledger_rows_pending",
    "cctv_monitor_ledger_rows_dropped_total",
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


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def recorded_names() -> set[str]:
    return {r["record"] for g in load_yaml(RULES)["groups"] for r in g["rules"] if "record" in r}


def known_series() -> set[str]:
    known = set(EXPORTED_METRICS) | PROMETHEUS_SERIES | recorded_names()
    for h in HISTOGRAMS:
        known |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    return known


def alert_rules() -> list[dict]:
    return [r for g in load_yaml(ALERTS)["groups"] for r in g["rules"] if "alert" in r]


DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

#: Values the variables take when a query is checked or run (tests/test_e2e_stack.py).
SUBSTITUTIONS = {"provider": ".*", "district": ".*", "zone": ".*", "centre": ".*",
                 "instance": ".*", "camera": "JKT-0001", "__rate_interval": "1m",
                 "__interval": "15s", "__range": "1h"}


def load_dashboard(path: Path) -> dict:
    return json.loads(path.read_text())


def panels(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        if p["type"] == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def queries(dash: dict) -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel."""
    return [(p["title"], t["expr"]) for p in panels(dash) for t in p["targets"]]


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    values = {**SUBSTITUTIONS, **(values or {})}
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)


AM_CONFIG = ROOT / "config" / "alertmanager.yml"


def localize(doc: dict, *, webhook: str | None = None, smtp: str | None = None,
             telegram: str | None = None, password_file: str | None = None) -> dict:
    """The Alertmanager config `doc` with every way out of the machine pointed at 127.0.0.1:
    webhooks at `webhook` + their path, mail at the `smtp` HOST:PORT (no TLS: the test's
    server has none, and Alertmanager sends a password in clear to localhost only),
    Telegram at the `telegram` base URL.  An endpoint not given goes to a closed loopback
    port, so that no test ever reaches smtp.example.org or the real Bot API."""
    dead = f"127.0.0.1:{free_port()}"
    g = doc.setdefault("global", {})
    g["smtp_smarthost"] = smtp or dead
    g["smtp_require_tls"] = False
    if password_file is not None:
        g["smtp_auth_password_file"] = password_file
    for r in doc["receivers"]:
        for w in r.get("webhook_configs", []):
            w["url"] = f"{webhook or 'http://' + dead}{urllib.parse.urlsplit(w['url']).path}"
        for t in r.get("telegram_configs", []):
            t["api_url"] = telegram or f"http://{dead}"
        for e in r.get("email_configs", []):
            e.pop("smarthost", None)
            e.pop("require_tls", None)
    return doc
