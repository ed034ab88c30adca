"""config/alertmanager.yml, checked by the real amtool and a real Alertmanager.

Routing: amtool's route tester, for every alert of config/alerts.yml at its severity.
Inhibition: a real Alertmanager on 127.0.0.1 receives source and target alerts over its
API, and its own view (/api/v2/alerts, status.inhibitedBy) must show each target inhibited
by its source, and the look-alikes that must not be (other district, other centre...) not.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.conftest import require
from tests.test_rules import alert_rules

ROOT = Path(__file__).resolve().parent.parent
AM_CONFIG = ROOT / "config" / "alertmanager.yml"
AM_BIN = "/usr/bin/prometheus-alertmanager"
RECEIVER = {"critical": "oncall-pager", "warning": "tickets"}


def _amtool_route(*labels: str) -> str:
    amtool = require("amtool")
    res = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={AM_CONFIG}", *labels],
        capture_output=True, text=True, timeout=30,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.strip()


def test_amtool_check_config():
    amtool = require("amtool")
    res = subprocess.run([amtool, "check-config", str(AM_CONFIG)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_link_down_pages():
    assert _amtool_route("severity=critical", "alertname=CommandCentreLinkDown",
                         "centre=police-hq") == "oncall-pager"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f'{r["alert"]}-{r["labels"].get("scope", "")}')
def test_every_alert_routes_by_severity(rule):
    sev = rule["labels"]["severity"]
    labels = [f"alertname={rule['alert']}", f"severity={sev}"]
    labels += [f"{k}={v}" for k, v in rule["labels"].items() if k != "severity"]
    assert _amtool_route(*labels) == RECEIVER[sev]


def test_receivers_send_resolved_and_group_by():
    doc = yaml.safe_load(AM_CONFIG.read_text())
    assert doc["route"]["group_by"] == ["alertname", "centre", "district", "provider"]
    names = {r["name"] for r in doc["receivers"]}
    assert names == {"oncall-pager", "tickets"}
    for r in doc["receivers"]:
        assert r["webhook_configs"] and all(w["send_resolved"] for w in r["webhook_configs"])


# ------------------------------------------------------------------ live inhibition


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body=None, timeout: float = 5.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    if resp.headers.get_content_type() != "application/json":
        return raw.decode(errors="replace")
    return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    binary = require(AM_BIN)
    tmp = tmp_path_factory.mktemp("am")
    # The real file, with the placeholder webhooks pointed at a closed port: the routes,
    # inhibit rules and timings under test are untouched.
    doc = yaml.safe_load(AM_CONFIG.read_text())
    dead = _free_port()
    for r in doc["receivers"]:
        for w in r["webhook_configs"]:
            w["url"] = f"http://127.0.0.1:{dead}/"
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump(doc))
    port = _free_port()
    log = open(tmp / "am.log", "wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _http("GET", f"{base}/-/ready", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"alertmanager did not start:\n{(tmp / 'am.log').read_text()[-3000:]}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _alert(**labels: str) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "labels": labels,
        "annotations": {"summary": "test"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "generatorURL": "http://127.0.0.1/test",
    }


def _status_of(base: str, case: str) -> dict[str, dict]:
    alerts = _http("GET", f"{base}/api/v2/alerts?filter=case%3D%22{case}%22")
    return {a["labels"]["role"]: a["status"] for a in alerts}


CAM = dict(name="Bundaran HI north", provider="provider-a", district="Menteng", zone="city",
           uplink="sw-menteng-1", severity="warning")

#: (case, source labels, {role: (target labels, expected inhibited)}).  MonitorDown inhibits
#: every other alert, so it is posted last, after these have been checked.
CASES = [
    ("link-feed",
     dict(alertname="CommandCentreLinkDown", severity="critical", centre="police-hq", link="primary"),
     {"target": (dict(alertname="PoliceFeedDown", severity="critical", camera="JKT-0001",
                      centre="police-hq", integration="police-hq", district="Menteng",
                      provider="provider-a"), True),
      "other-centre": (dict(alertname="PoliceFeedDown", severity="critical", camera="JKT-0001",
                            centre="traffic-hq", integration="traffic-hq", district="Menteng",
                            provider="provider-a"), False)}),
    ("mass-district",
     dict(alertname="MassOutage", severity="critical", scope="district", district="Menteng"),
     {"target": (dict(alertname="CameraDown", camera="JKT-0002", **CAM), True),
      "flapping": (dict(alertname="CameraFlapping", camera="JKT-0003", **CAM), True),
      "other-district": (dict(alertname="CameraDown", camera="JKT-0004",
                              **{**CAM, "district": "Gambir"}), False),
      "ring-one": (dict(alertname="RingOneCameraDown", camera="JKT-0005",
                        **{**CAM, "zone": "ring-1", "severity": "critical"}), False)}),
    ("mass-provider",
     dict(alertname="MassOutage", severity="critical", scope="provider", provider="provider-b"),
     {"target": (dict(alertname="CameraDown", camera="JKT-0010",
                      **{**CAM, "provider": "provider-b", "district": "Tebet"}), True),
      "other-provider": (dict(alertname="CameraDown", camera="JKT-0011",
                              **{**CAM, "provider": "provider-c", "district": "Tebet"}), False)}),
    ("mass-uplink",
     dict(alertname="MassOutage", severity="critical", scope="uplink", uplink="sw-kemang-3"),
     {"target": (dict(alertname="CameraDown", camera="JKT-0020",
                      **{**CAM, "uplink": "sw-kemang-3", "district": "Kemang"}), True),
      "other-uplink": (dict(alertname="CameraDown", camera="JKT-0021",
                            **{**CAM, "uplink": "sw-kemang-4", "district": "Kemang"}), False)}),
    ("ring-one",
     dict(alertname="RingOneCameraDown", camera="JKT-0030",
          **{**CAM, "district": "Senen", "uplink": "sw-senen-1", "severity": "critical"}),
     {"target": (dict(alertname="CameraDown", camera="JKT-0030",
                      **{**CAM, "district": "Senen", "uplink": "sw-senen-1"}), True),
      "other-camera": (dict(alertname="CameraDown", camera="JKT-0031",
                            **{**CAM, "district": "Senen", "uplink": "sw-senen-1"}), False)}),
]


MONITOR_DOWN = dict(alertname="MonitorDown", severity="critical", job="cctv-monitor",
                    instance="monitor:9877")


def test_every_inhibit_rule_is_exercised():
    """Each inhibit rule's source matchers appear as the source of a live case below."""
    doc = yaml.safe_load(AM_CONFIG.read_text())
    for rule in doc["inhibit_rules"]:
        wanted = dict(m.replace('"', "").split("=", 1) for m in rule["source_matchers"])
        sources = [src for _, src, _ in CASES] + [MONITOR_DOWN]
        assert any(all(src.get(k) == v for k, v in wanted.items()) for src in sources), rule


def test_inhibitions_in_a_real_alertmanager(alertmanager):
    alerts = []
    for case, source, targets in CASES:
        alerts.append(_alert(case=case, role="source", **source))
        for role, (labels, _) in targets.items():
            alerts.append(_alert(case=case, role=role, **labels))
    _http("POST", f"{alertmanager}/api/v2/alerts", alerts)

    # The inhibitor learns of source alerts asynchronously: poll, bounded.
    deadline = time.monotonic() + 15
    while True:
        failures = []
        for case, _, targets in CASES:
            status = _status_of(alertmanager, case)
            if status.get("source", {}).get("inhibitedBy"):
                failures.append(f"{case}: the source itself is inhibited: {status['source']}")
            for role, (_, expected) in targets.items():
                got = status.get(role)
                inhibited = bool(got and got["inhibitedBy"])
                if got is None or inhibited != expected:
                    failures.append(f"{case}/{role}: expected inhibited={expected}, got {got}")
        if not failures or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert failures == []
    # and an inhibited alert is reported as suppressed, a free one as active
    status = _status_of(alertmanager, "mass-district")
    assert status["target"]["state"] == "suppressed"
    assert status["other-district"]["state"] == "active"

    # MonitorDown: every other alert, sources and free look-alikes alike, is inhibited,
    # and MonitorDown itself is not.
    _http("POST", f"{alertmanager}/api/v2/alerts", [_alert(case="monitor-down", role="source", **MONITOR_DOWN)])
    deadline = time.monotonic() + 15
    while True:
        everything = _http("GET", f"{alertmanager}/api/v2/alerts")
        free = [a["labels"] for a in everything
                if not a["status"]["inhibitedBy"] and a["labels"]["alertname"] != "MonitorDown"]
        if not free or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert free == []
    assert len(everything) == len(alerts) + 1
    monitor = _status_of(alertmanager, "monitor-down")["source"]
    assert monitor["state"] == "active" and not monitor["inhibitedBy"]
