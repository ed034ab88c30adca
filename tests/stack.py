"""The pieces of an operator stack on loopback that the end-to-end tests share: the real
rules with time compressed, the simulator's configuration with short intervals, the
processes a test starts (stopped by their own process groups only), and the HTTP queries
they answer (Prometheus' query API, which VictoriaMetrics answers too).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
FOR_SCALE = 20  # 1m -> 3s, 5m -> 15s, 15m -> 45s


def seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text):
        total += float(num) * units[unit]
    return total


def scaled_rules(tmp: Path) -> None:
    """tmp/rules.yml and tmp/alerts.yml: the real rules with time compressed."""
    rules = yaml.safe_load((CONFIG / "rules.yml").read_text())
    for g in rules["groups"]:
        g.pop("interval", None)
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    alerts = yaml.safe_load((CONFIG / "alerts.yml").read_text())
    for g in alerts["groups"]:
        for r in g["rules"]:
            if "for" in r:
                r["for"] = f"{max(1, round(seconds(r['for']) / FOR_SCALE))}s"
    (tmp / "alerts.yml").write_text(yaml.safe_dump(alerts, sort_keys=False))


def monitor_config(path: Path) -> list[dict]:
    """Short intervals in the simulator's config; returns its cameras."""
    doc = yaml.safe_load(path.read_text())
    doc["monitor"].update(
        interval="2s", timeout="2s",
        stream={"interval": "4s", "duration": "3s", "concurrency": 20},
        links={"interval": "1s", "timeout": "500ms", "probes": 2},
        # the device panels need an ONVIF answer within the test, not within the hour
        onvif={"interval": "3s"},
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc["cameras"]


class Stack:
    """The processes this test started; stopped by their own process groups only."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        out = open(log, "wb")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        out.close()
        self.procs.append((name, proc, log))
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{log.read_text(errors='replace')[-2500:]}"
                         for n, _, log in self.procs)

    def stop(self) -> None:
        for _, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, proc, _ in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)

    def check_alive(self) -> None:
        for name, proc, _ in self.procs:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}\n{self.logs()}")


async def start_simulator(stack: Stack, cameras: int, control_port: int, config: Path,
                          timeout: float = 40.0) -> list[dict]:
    """The simulator, fleet all healthy, on a base net no other simulator serves; waits
    (bounded) for its READY line and returns the cameras of the config it wrote."""
    import sys

    from tests.factories import free_base_net

    stack.start("simulator", [
        sys.executable, "-m", "monitor", "simulate", "--cameras", str(cameras),
        "--faults", "healthy=1", "--write-config", str(config),
        "--control", f"127.0.0.1:{control_port}"],
        env={"CCTV_SIM_BASE_NET": str(free_base_net())})
    deadline = time.monotonic() + timeout
    while "READY" not in (stack.tmp / "simulator.log").read_text(errors="replace"):
        stack.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"simulator not READY\n{stack.logs()}")
        await asyncio.sleep(0.2)
    return monitor_config(config)


async def wait_ok(session: aiohttp.ClientSession, url: str, stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status == 200:
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} not ready after {timeout}s\n{stack.logs()}")
        await asyncio.sleep(0.25)


async def query(session: aiohttp.ClientSession, prom: str, expr: str,
                at: float | None = None) -> list:
    """An instant query, now or at `at` (UNIX seconds)."""
    data = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
    async with session.post(f"{prom}/api/v1/query", data=data) as resp:
        body = await resp.json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


async def label_values(session: aiohttp.ClientSession, prom: str, query: str) -> list:
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    async with session.get(f"{prom}/api/v1/label/{m.group(2)}/values",
                           params={"match[]": m.group(1)}) as resp:
        body = await resp.json()
    return body["data"]
