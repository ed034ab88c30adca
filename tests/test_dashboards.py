"""Grafana dashboards (dashboards/*.json) and their provisioning files.

Every panel and target picks its data source through the `datasource` variable (no
hard-coded uid), every query reads only series the monitor exports, Prometheus makes, or
config/rules.yml records (the list lives in tests/test_rules.py), every `$variable` is
defined, and every query parses: each one, variables substituted, is handed to the real
promtool as a recording rule.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import require
from tests.test_rules import known_series, metric_names

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
EXPECTED = {"fleet-overview.json", "command-centre-links.json", "provider-sla.json",
            "camera-detail.json", "monitor-health.json"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "__range_ms",
                    "__interval_ms", "__name", "__auto"}

#: Values the variables take when a query is checked or run (tests/test_e2e_stack.py).
SUBSTITUTIONS = {"provider": ".*", "district": ".*", "zone": ".*", "centre": ".*",
                 "instance": ".*", "camera": "JKT-0001", "__rate_interval": "1m",
                 "__interval": "15s", "__range": "1h"}


def load(path: Path) -> dict:
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


def test_the_five_dashboards_exist():
    assert {p.name for p in DASHBOARDS} == EXPECTED


def test_uids_and_titles_unique():
    dashes = [load(p) for p in DASHBOARDS]
    uids = [d["uid"] for d in dashes]
    titles = [d["title"] for d in dashes]
    assert len(set(uids)) == len(uids) and all(uids)
    assert len(set(titles)) == len(titles)
    for d in dashes:
        assert 36 <= d["schemaVersion"] <= 39, d["uid"]
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids), f"{d['uid']}: duplicate panel ids"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_uses_the_datasource_variable(path):
    dash = load(path)
    var = {v["name"]: v for v in dash["templating"]["list"]}
    assert var["datasource"]["type"] == "datasource"
    assert var["datasource"]["query"] == "prometheus"
    for p in panels(dash):
        assert p.get("datasource") == DATASOURCE, f"{path.name}: panel {p['title']!r}"
        assert p["targets"], f"{path.name}: panel {p['title']!r} has no query"
        for t in p["targets"]:
            assert t.get("datasource") == DATASOURCE, f"{path.name}: {p['title']!r} target"
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"] == DATASOURCE, v["name"]
    # no uid of a concrete data source anywhere
    text = path.read_text()
    assert '"uid": "prometheus"' not in text


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_variables_exist(path):
    dash = load(path)
    defined = {v["name"] for v in dash["templating"]["list"]}
    exprs = [e for _, e in queries(dash)]
    exprs += [v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
              for v in dash["templating"]["list"] if v["type"] == "query"]
    for expr in exprs:
        for m in re.finditer(r"\$\{?(\w+)\}?", expr):
            assert m.group(1) in defined | GRAFANA_BUILTINS, f"{path.name}: ${m.group(1)} in {expr}"
    if path.name == "camera-detail.json":
        assert "camera" in defined
    if path.name in {"fleet-overview.json", "camera-detail.json"}:
        assert {"provider", "district", "zone"} <= defined
    for v in dash["templating"]["list"]:
        if v["name"] in {"provider", "district", "zone", "camera"}:
            assert v["query"]["query"].startswith("label_values(cctv_camera_info"), v


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_queries_read_known_series(path):
    dash = load(path)
    known = known_series()
    exprs = [(t, e) for t, e in queries(dash)]
    exprs += [(v["name"], v["query"]["query"]) for v in dash["templating"]["list"]
              if v["type"] == "query"]
    unknown = {f"{title}: {expr}": sorted(metric_names(expr) - known)
               for title, expr in exprs if metric_names(expr) - known}
    assert unknown == {}
    assert all(metric_names(e) for _, e in queries(dash))


def test_queries_parse_with_promtool(tmp_path):
    promtool = require("promtool")
    rules = []
    for path in DASHBOARDS:
        for _title, expr in queries(load(path)):
            rules.append({"record": f"dashboard:check:q{len(rules)}", "expr": substitute(expr)})
    doc = {"groups": [{"name": "dashboard-queries", "rules": rules}]}
    f = tmp_path / "dashboard_queries.yml"
    f.write_text(yaml.safe_dump(doc))
    res = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_geomap_reads_coordinates_from_the_info_metric():
    dash = load(ROOT / "dashboards" / "fleet-overview.json")
    geo = [p for p in panels(dash) if p["type"] == "geomap"]
    assert len(geo) == 1
    expr = geo[0]["targets"][0]["expr"]
    assert "cctv_camera_info" in expr and "lat" in expr and "lon" in expr
    loc = geo[0]["options"]["layers"][0]["location"]
    assert loc == {"mode": "coords", "latitude": "lat", "longitude": "lon"}


def test_provisioning_files():
    prov = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/cctv.yml").read_text())
    assert prov["apiVersion"] == 1 and prov["providers"][0]["type"] == "file"
    ds = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy"
    assert source["url"].startswith("http://")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_are_core_types_on_the_grid(path):
    core = {"timeseries", "stat", "gauge", "table", "geomap", "state-timeline", "bargauge"}
    for p in panels(load(path)):
        assert p["type"] in core, f"{path.name}: {p['title']!r} is a {p['type']}"
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, f"{path.name}: {p['title']!r}"
        assert p["title"] and all(t["refId"] for t in p["targets"])
