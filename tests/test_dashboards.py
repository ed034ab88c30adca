"""Grafana dashboards (dashboards/*.json) and their provisioning files.

Every panel and target picks its data source through the `datasource` variable (no
hard-coded uid), every query reads only series the monitor exports, Prometheus makes, or
config/rules.yml records (tests/artefacts.py), every `$variable` is
defined, and every query parses: each one, variables substituted, is handed to the real
promtool as a recording rule.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from tests.artefacts import DASHBOARDS, ROOT, known_series, load_dashboard, metric_names, panels, queries, substitute
from tests.conftest import require

EXPECTED = {"fleet-overview.json", "command-centre-links.json", "provider-sla.json",
            "camera-detail.json", "monitor-health.json"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "__range_ms",
                    "__interval_ms", "__name", "__auto"}


def test_the_five_dashboards_exist():
    assert {p.name for p in DASHBOARDS} == EXPECTED


def test_uids_and_titles_unique():
    dashes = [load_dashboard(p) for p in DASHBOARDS]
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
    dash = load_dashboard(path)
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
    dash = load_dashboard(path)
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
    dash = load_dashboard(path)
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
        for _title, expr in queries(load_dashboard(path)):
            rules.append({"record": f"dashboard:check:q{len(rules)}", "expr": substitute(expr)})
    doc = {"groups": [{"name": "dashboard-queries", "rules": rules}]}
    f = tmp_path / "dashboard_queries.yml"
    f.write_text(yaml.safe_dump(doc))
    res = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_geomap_reads_coordinates_from_the_info_metric():
    dash = load_dashboard(ROOT / "dashboards" / "fleet-overview.json")
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
    # Prometheus, the default, and the long-term store (VictoriaMetrics answers the same API)
    sources = ds["datasources"]
    assert [s["uid"] for s in sources] == ["prometheus", "longterm"]
    assert [s.get("isDefault", False) for s in sources] == [True, False]
    for source in sources:
        assert source["type"] == "prometheus" and source["access"] == "proxy"
        assert source["url"].startswith("http://")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_are_core_types_on_the_grid(path):
    core = {"timeseries", "stat", "gauge", "table", "geomap", "state-timeline", "bargauge"}
    for p in panels(load_dashboard(path)):
        assert p["type"] in core, f"{path.name}: {p['title']!r} is a {p['type']}"
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, f"{path.name}: {p['title']!r}"
        assert p["title"] and all(t["refId"] for t in p["targets"])


def test_committed_dashboards_are_what_the_generator_writes(tmp_path):
    """dashboards/*.json are generated (scripts/gen_dashboards.py): an edit made to the JSON
    alone would be lost at the next generation, one made to the generator alone never ships."""
    script = ROOT / "scripts" / "gen_dashboards.py"
    res = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    generated = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_bytes() for p in DASHBOARDS}
    assert set(generated) == set(committed)
    stale = sorted(name for name in committed if committed[name] != generated[name])
    assert not stale, f"{stale} differ from the generator's output: run `python scripts/gen_dashboards.py dashboards`"
