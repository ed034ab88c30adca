"""The operator stack end to end, on loopback: simulator -> monitor -> Prometheus ->
Alertmanager -> a webhook receiver run by this test.

- every query of every dashboard panel (variables substituted) and every dashboard
  variable returns data from a real Prometheus scraping a real monitor;
- cutting the simulated police command centre's primary link delivers
  CommandCentreLinkDown to the on-call receiver, and restoring it delivers the resolution.

The rules are the real config/rules.yml and config/alerts.yml, rewritten only in time:
every `for:` is divided by FOR_SCALE and rule-group intervals are dropped, so that the
whole chain runs in well under a minute.  Alertmanager runs the real config/alertmanager.yml
with its webhooks pointed at the test's receiver and short grouping timers.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.artefacts import DASHBOARDS, load_dashboard, localize, panels, substitute
from tests.conftest import require
from tests.factories import free_port
from tests.stack import Stack, label_values, query, scaled_rules, start_simulator, wait_ok

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
CAMERAS = 40

pytestmark = pytest.mark.integration


def _prometheus_config(tmp: Path, monitor: str, am: str, prom: str) -> Path:
    doc = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
    doc["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [am]
    targets = {"cctv-monitor": monitor, "prometheus": prom, "alertmanager": am}
    for job in doc["scrape_configs"]:
        job.update(scrape_interval="1s", scrape_timeout="1s")
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _alertmanager_config(tmp: Path, receiver: str) -> Path:

    # webhooks to the test's receiver (/page, /ticket); mail and Telegram to closed
    # loopback ports: nothing leaves the machine
    doc = localize(yaml.safe_load((CONFIG / "alertmanager.yml").read_text()), webhook=receiver)
    for route in [doc["route"], *doc["route"].get("routes", [])]:
        route.update(group_wait="1s", group_interval="1s")
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


async def test_stack_end_to_end(tmp_path):
    prometheus = require("/usr/bin/prometheus")
    alertmanager = require("/usr/bin/prometheus-alertmanager")

    # -- the webhook receiver: what Alertmanager delivers, in order
    received: list[tuple[str, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.path, await request.json()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/page", hook)
    app.router.add_post("/ticket", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_port = runner.addresses[0][1]

    stack = Stack(tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            # -- simulator, with a few chosen faults so that every panel has something to show
            ports = {k: free_port() for k in ("control", "monitor", "prom", "am")}
            control = f"http://127.0.0.1:{ports['control']}"
            sim_config = tmp_path / "monitor.yml"
            cameras = await start_simulator(stack, CAMERAS, ports["control"], sim_config)
            police = [c["id"] for c in cameras if "police-hq" in c.get("integrations", [])]
            others = [c["id"] for c in cameras if c["id"] not in police]
            assert len(police) >= 2 and others, "the simulated fleet has no police feeds"
            detail_camera = police[0]  # frozen picture: stream fine, snapshot failing

            async def fault(camera: str, fault: str) -> None:
                async with session.post(f"{control}/control/cameras/{camera}/fault/{fault}") as resp:
                    assert resp.status == 200, await resp.text()

            await fault(police[1], "feed_missing")

            # -- monitor, Alertmanager, Prometheus
            monitor = f"127.0.0.1:{ports['monitor']}"
            stack.start("monitor", [sys.executable, "-m", "monitor", "run", "-c", str(sim_config),
                                    "--listen", monitor])
            am = f"127.0.0.1:{ports['am']}"
            stack.start("alertmanager", [
                alertmanager, f"--config.file={_alertmanager_config(tmp_path, f'http://127.0.0.1:{hook_port}')}",
                f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address={am}",
                "--cluster.listen-address="])
            prom_addr = f"127.0.0.1:{ports['prom']}"
            scaled_rules(tmp_path)
            stack.start("prometheus", [
                prometheus, f"--config.file={_prometheus_config(tmp_path, monitor, am, prom_addr)}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address={prom_addr}",
                "--rules.alert.resend-delay=1s"])
            prom = f"http://{prom_addr}"
            await wait_ok(session, f"http://{monitor}/readyz", stack, 40)
            await wait_ok(session, f"http://{am}/-/ready", stack, 20)
            await wait_ok(session, f"{prom}/-/ready", stack, 20)
            # Once both have been seen up, so that "down since" and "last up" have data:
            seen_up = f'cctv_camera_up{{camera=~"{detail_camera}|{others[0]}"}} == 1'
            deadline = time.monotonic() + 20
            while len(await query(session, prom, seen_up)) < 2:
                stack.check_alive()
                if time.monotonic() > deadline:
                    pytest.fail(f"{detail_camera} and {others[0]} never up\n{stack.logs()}")
                await asyncio.sleep(0.5)
            await fault(detail_camera, "frozen")
            await fault(others[0], "down")

            # -- every dashboard query and variable returns data
            checks = []
            for path in DASHBOARDS:
                dash = load_dashboard(path)
                for p in panels(dash):
                    for t in p["targets"]:
                        checks.append((f"{path.name}: {p['title']} [{t['refId']}]",
                                       substitute(t["expr"], {"camera": detail_camera})))
            variables = [(f"{path.name}: ${v['name']}", substitute(v["query"]["query"], {"camera": detail_camera}))
                         for path in DASHBOARDS for v in load_dashboard(path)["templating"]["list"]
                         if v["type"] == "query"]
            deadline = time.monotonic() + 35
            while True:
                stack.check_alive()
                empty = [name for name, expr in checks if not await query(session, prom, expr)]
                empty += [name for name, q in variables if not await label_values(session, prom, q)]
                if not empty or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            if empty:
                async with session.get(f"http://{monitor}/metrics") as resp:
                    exposition = await resp.text()
                mine = "\n".join(l for l in exposition.splitlines() if detail_camera in l)
                pytest.fail(f"queries without data: {empty}\n{detail_camera}:\n{mine}")

            # -- cut the primary link: CommandCentreLinkDown reaches the pager
            def link_alerts(status: str) -> list[dict]:
                return [a for path, body in received if path == "/page"
                        for a in body["alerts"]
                        if a["labels"].get("alertname") == "CommandCentreLinkDown"
                        and a["labels"].get("link") == "primary" and a["status"] == status]

            async def until(condition, failure: str, timeout: float = 40.0) -> None:
                started = time.monotonic()
                while not condition():
                    stack.check_alive()
                    if time.monotonic() - started > timeout:
                        pytest.fail(f"{failure}; received {received}")
                    await asyncio.sleep(0.25)

            assert link_alerts("firing") == [], "link alert before the cut"
            async with session.post(f"{control}/control/links/police-hq/primary/cut") as resp:
                assert resp.status == 200, await resp.text()
            await until(lambda: link_alerts("firing"), "no CommandCentreLinkDown page")
            (alert,) = link_alerts("firing")[:1]
            assert alert["labels"]["centre"] == "police-hq"
            assert alert["labels"]["severity"] == "critical"
            assert alert["annotations"]["runbook_url"].endswith("/CommandCentreLinkDown.md")
            assert "primary link to command centre police-hq" in alert["annotations"]["description"]
            page = next(body for path, body in received if path == "/page"
                        and any(a["labels"].get("alertname") == "CommandCentreLinkDown" for a in body["alerts"]))
            assert page["receiver"] == "oncall-pager"

            # -- restore it: the resolution is delivered too
            async with session.post(f"{control}/control/links/police-hq/primary/restore") as resp:
                assert resp.status == 200, await resp.text()
            await until(lambda: link_alerts("resolved"), "no resolution of CommandCentreLinkDown")
    finally:
        stack.stop()
        await runner.cleanup()
