"""Long-term storage end to end, on loopback: simulator -> monitor -> Prometheus (the real
config/prometheus-longterm.yml) -> remote_write -> VictoriaMetrics (Debian's package, with
the flags docker-compose.yml gives it).

- config/prometheus-longterm.yml is config/prometheus.yml plus its LONG-TERM blocks only;
- every sample Prometheus sends arrives (no failed, no dropped samples);
- every recording rule's result that Prometheus has is in VictoriaMetrics too, with the
  same label sets (plus the `region` external label, minus the dropped `replica`), queried
  with PromQL;
- every query of every dashboard panel, and every dashboard variable, is answered with data
  by VictoriaMetrics alone;
- the same instant counts come out of both.

With `-s` it prints what VictoriaMetrics ingested: samples per second and its CPU per
million samples (a figure for the README's sizing table, not a timed assertion).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.artefacts import DASHBOARDS, load_dashboard, panels, substitute
from tests.conftest import require
from tests.factories import free_port
from tests.stack import Stack, label_values, query, scaled_rules, start_simulator, wait_ok

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
COMPOSE = ROOT / "docker-compose.yml"
VM_BIN = "/usr/bin/victoria-metrics"
CAMERAS = 40

pytestmark = pytest.mark.integration


def _without_longterm_blocks(doc: dict) -> dict:
    doc = yaml.safe_load(yaml.safe_dump(doc))
    doc.pop("remote_write", None)
    doc["global"].pop("external_labels", None)
    doc["alerting"].pop("alert_relabel_configs", None)
    return doc


def test_longterm_config_is_prometheus_yml_plus_its_longterm_blocks():
    base = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
    longterm = yaml.safe_load((CONFIG / "prometheus-longterm.yml").read_text())
    assert _without_longterm_blocks(longterm) == base
    labels = longterm["global"]["external_labels"]
    assert set(labels) == {"region", "replica"}
    (rw,) = longterm["remote_write"]
    # the pair's replicas become one series in the store, and alerts page once
    assert {"action": "labeldrop", "regex": "replica"} in rw["write_relabel_configs"]
    assert {"action": "labeldrop", "regex": "replica"} in longterm["alerting"]["alert_relabel_configs"]


def _compose_vm_flags() -> list[str]:
    """The store's flags from docker-compose.yml, less the ones this test sets itself."""
    svc = yaml.safe_load(COMPOSE.read_text())["services"]["victoriametrics"]
    assert "longterm" in svc["profiles"]
    return [f for f in svc["command"]
            if not f.startswith(("-storageDataPath=", "-httpListenAddr=", "-dedup.minScrapeInterval="))]


def _prometheus_config(tmp: Path, monitor: str, prom: str, vm: str) -> Path:
    doc = yaml.safe_load((CONFIG / "prometheus-longterm.yml").read_text())
    doc["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    doc.pop("alerting")  # alert delivery is tests/test_e2e_stack.py's business
    doc["scrape_configs"] = [j for j in doc["scrape_configs"] if j["job_name"] != "alertmanager"]
    targets = {"cctv-monitor": monitor, "prometheus": prom}
    for job in doc["scrape_configs"]:
        job.update(scrape_interval="1s", scrape_timeout="1s")
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    (rw,) = doc["remote_write"]
    assert rw["url"] == "http://victoriametrics:8428/api/v1/write"
    rw["url"] = f"http://{vm}/api/v1/write"
    rw["queue_config"]["batch_send_deadline"] = "1s"
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _recorded_names() -> list[str]:
    rules = yaml.safe_load((CONFIG / "rules.yml").read_text())
    return sorted({r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r})


def _label_sets(result: list[dict], drop: tuple[str, ...] = ()) -> set[tuple]:
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in drop)) for r in result}


async def _metric(session: aiohttp.ClientSession, url: str, name: str, labels: str = "") -> float:
    """Sum of the samples of `name` (whose label text contains `labels`) in a /metrics page."""
    async with session.get(url) as resp:
        text = await resp.text()
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)", line)
        if m and labels in (m.group(1) or ""):
            total += float(m.group(2))
    return total


async def test_remote_write_into_victoriametrics_answers_rules_and_dashboards(tmp_path):
    prometheus = require("/usr/bin/prometheus")
    vm_bin = require(VM_BIN)

    stack = Stack(tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            ports = {k: free_port() for k in ("control", "monitor", "prom", "vm")}
            control = f"http://127.0.0.1:{ports['control']}"
            sim_config = tmp_path / "monitor.yml"
            cameras = await start_simulator(stack, CAMERAS, ports["control"], sim_config)
            police = [c["id"] for c in cameras if "police-hq" in c.get("integrations", [])]

            async def fault(camera: str, kind: str) -> None:
                async with session.post(f"{control}/control/cameras/{camera}/fault/{kind}") as resp:
                    assert resp.status == 200, await resp.text()

            await fault(police[1], "feed_missing")

            vm_addr = f"127.0.0.1:{ports['vm']}"
            stack.start("victoria-metrics", [
                vm_bin, f"-storageDataPath={tmp_path / 'vm-data'}", f"-httpListenAddr={vm_addr}",
                *_compose_vm_flags(),
                # the HA pair's dedup at this test's 1 s scrape interval (15 s in compose)
                "-dedup.minScrapeInterval=1s",
                # samples are queryable as soon as they land (the default hides the last 30 s)
                "-search.latencyOffset=0s", "-search.disableCache"])
            monitor = f"127.0.0.1:{ports['monitor']}"
            stack.start("monitor", [sys.executable, "-m", "monitor", "run", "-c", str(sim_config),
                                    "--listen", monitor])
            prom_addr = f"127.0.0.1:{ports['prom']}"
            scaled_rules(tmp_path)
            stack.start("prometheus", [
                prometheus, f"--config.file={_prometheus_config(tmp_path, monitor, prom_addr, vm_addr)}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address={prom_addr}"])
            prom, vm = f"http://{prom_addr}", f"http://{vm_addr}"
            await wait_ok(session, f"{vm}/health", stack, 20)
            await wait_ok(session, f"http://{monitor}/readyz", stack, 40)
            await wait_ok(session, f"{prom}/-/ready", stack, 20)

            async def until_in_store(expr: str, n: int, timeout: float, what: str) -> None:
                deadline = time.monotonic() + timeout
                while len(await query(session, vm, expr)) < n:
                    stack.check_alive()
                    if time.monotonic() > deadline:
                        pytest.fail(f"{what}\n{stack.logs()}")
                    await asyncio.sleep(0.5)

            await until_in_store("cctv_camera_info", CAMERAS, 30, "no samples in VictoriaMetrics")
            # a police-fed camera and another one, each seen up once, so that "down since"
            # and "last up" have data once they are faulted (bounded; the first ones up,
            # because on a loaded machine some first probes time out)
            seen: dict[str, str] = {}
            deadline = time.monotonic() + 60
            while len(seen) < 2:
                stack.check_alive()
                if time.monotonic() > deadline:
                    pytest.fail(f"no police-fed and other camera up together: {seen}\n{stack.logs()}")
                for r in await query(session, vm, "max_over_time(cctv_camera_up[10m]) == 1"):
                    cid = r["metric"]["camera"]
                    if cid != police[1]:
                        seen.setdefault("police" if cid in police else "other", cid)
                await asyncio.sleep(0.5)
            detail_camera, other_camera = seen["police"], seen["other"]
            await fault(detail_camera, "frozen")
            await fault(other_camera, "down")
            vm_metrics = f"{vm}/metrics"
            rows0 = await _metric(session, vm_metrics, "vm_rows_inserted_total", 'type="promremotewrite"')
            cpu0, t0 = await _metric(session, vm_metrics, "process_cpu_seconds_total"), time.monotonic()

            # -- every dashboard query and variable answered by the store alone
            checks = [(f"{path.name}: {p['title']} [{t['refId']}]",
                       substitute(t["expr"], {"camera": detail_camera}))
                      for path in DASHBOARDS for p in panels(load_dashboard(path)) for t in p["targets"]]
            variables = [(f"{path.name}: ${v['name']}", substitute(v["query"]["query"], {"camera": detail_camera}))
                         for path in DASHBOARDS for v in load_dashboard(path)["templating"]["list"]
                         if v["type"] == "query"]
            assert len(checks) > 30 and variables
            deadline = time.monotonic() + 40
            while True:
                stack.check_alive()
                empty = [name for name, expr in checks if not await query(session, vm, expr)]
                empty += [name for name, q in variables if not await label_values(session, vm, q)]
                if not empty or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            assert empty == [], f"dashboard queries VictoriaMetrics leaves empty: {empty}"

            # -- every recording rule Prometheus has a result for, the store has too
            # (a series Prometheus has just begun, a new failure reason, reaches the store
            # with the next remote-write batch: asked again, bounded, before it counts)
            for _ in range(15):
                missing, compared = [], []
                for name in _recorded_names():
                    here = await query(session, prom, f'{{__name__="{name}"}}')
                    if not here:
                        continue
                    compared.append(name)
                    there = await query(session, vm, f'{{__name__="{name}"}}')
                    want = _label_sets(here)
                    got = _label_sets(there, drop=("region",))
                    if not want <= got:
                        missing.append((name, sorted(want - got)[:3]))
                    assert all(r["metric"].get("region") == "jakarta" and "replica" not in r["metric"]
                               for r in there), (name, there[:2])
                if not missing:
                    break
                await asyncio.sleep(2)
            assert missing == [], missing
            # most rules have a result with this fleet; the per-provider SLA ones among them
            assert len(compared) >= 0.8 * len(_recorded_names()), sorted(set(_recorded_names()) - set(compared))
            assert any(n.startswith("provider:") for n in compared)
            assert any(n.startswith("district:") for n in compared)

            # -- the same answer from both for plain counts, at one instant a little in the
            # past (both hold its samples; "now" moves between the two queries, and a camera
            # of the flapping fleet may flip in between)
            at = time.time() - 5  # scrapes every second; remote write sends within one
            for expr in ("count(cctv_camera_info)", "count(cctv_camera_up == 0) or vector(0)"):
                a = await query(session, prom, expr, at)
                b = await query(session, vm, expr, at)
                assert a and b and float(a[0]["value"][1]) == float(b[0]["value"][1]), (expr, a, b)
            assert float((await query(session, vm, "count(cctv_camera_info)"))[0]["value"][1]) == CAMERAS

            # -- nothing lost on the way: Prometheus' own account of the queue
            failed = await query(session, prom, "sum(prometheus_remote_storage_samples_failed_total)")
            dropped = await query(session, prom, "sum(prometheus_remote_storage_samples_dropped_total) or vector(0)")
            sent = await query(session, prom, "sum(prometheus_remote_storage_samples_total)")
            assert float(failed[0]["value"][1]) == 0 and float(dropped[0]["value"][1]) == 0
            assert float(sent[0]["value"][1]) > 0

            rows1 = await _metric(session, vm_metrics, "vm_rows_inserted_total", 'type="promremotewrite"')
            cpu1, t1 = await _metric(session, vm_metrics, "process_cpu_seconds_total"), time.monotonic()
            assert rows1 > rows0
            rate = (rows1 - rows0) / (t1 - t0)
            series = await query(session, vm, "count({__name__=~'.+'})")
            print(f"\nVictoriaMetrics ingested {rate:,.0f} samples/s over {t1 - t0:.0f} s "
                  f"({int(float(series[0]['value'][1])):,} series, {CAMERAS} cameras, 1 s scrapes); "
                  f"CPU {1e6 * (cpu1 - cpu0) / max(1.0, rows1 - rows0):.1f} s per million samples")
    finally:
        stack.stop()
