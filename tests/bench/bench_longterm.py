"""Long-term storage sizing: what one Prometheus and one VictoriaMetrics carry per camera.

    .venv/bin/python tests/bench/bench_longterm.py                    # 10k and 30k cameras
    .venv/bin/python tests/bench/bench_longterm.py --sizes 5000 --window 60

For each fleet size: the simulated Jakarta fleet's configuration (every camera, feed and
link as the simulator writes it, default checks, 30 s interval) with NO simulator running,
so every probe ends quickly in `refused` and the monitor costs little; then the real
config/prometheus-longterm.yml (scrape every 15 s, the recording rules, remote_write) and
VictoriaMetrics with docker-compose.yml's flags (Debian's packages, as the tests use).
After a warm-up, over a window it reads:

- series: the monitor's exposition (per camera), Prometheus' head series;
- samples per second into the store (`vm_rows_inserted_total`), and what Prometheus says it
  sent, failed and dropped;
- CPU (from /proc/PID/stat) and RSS of Prometheus and VictoriaMetrics: CPU-seconds per
  million samples into the store, RSS per head series in Prometheus.

A down camera exports no stream figures, so these are the series of a fleet that is down;
the README's sizing table scales them by the exposition of an up fleet
(tests/bench/bench_exporter.py).  Saved as JSON in tests/bench/results/longterm-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import cpu_seconds, free_port, rss_bytes  # noqa: E402
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
VM = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"





def start(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


async def wait_ok(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                if r.status == 200:
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout}s")


async def instant(session: aiohttp.ClientSession, base: str, expr: str) -> float:
    async with session.post(f"{base}/api/v1/query", data={"query": expr}) as r:
        body = await r.json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


async def metric(session: aiohttp.ClientSession, url: str, name: str, labels: str = "") -> float:
    async with session.get(url) as r:
        text = await r.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def compose_vm_flags() -> list[str]:
    svc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["victoriametrics"]
    return [f for f in svc["command"] if not f.startswith(("-storageDataPath=", "-httpListenAddr="))]


def prometheus_config(tmp: Path, monitor: str, prom: str, vm: str, scrape_timeout: str | None) -> Path:
    doc = yaml.safe_load((ROOT / "config" / "prometheus-longterm.yml").read_text())
    doc.pop("alerting")
    doc["rule_files"] = [str(ROOT / "config" / f) for f in doc["rule_files"]]
    targets = {"cctv-monitor": monitor, "prometheus": prom}
    doc["scrape_configs"] = [j for j in doc["scrape_configs"] if j["job_name"] in targets]
    for job in doc["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        if scrape_timeout:
            job["scrape_timeout"] = scrape_timeout
    doc["remote_write"][0]["url"] = f"http://{vm}/api/v1/write"
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


async def run_size(cameras: int, warmup: float, window: float, tmp: Path,
                   scrape_timeout: str | None) -> dict:
    from monitor.simulator.fleet import build_fleet, write_config

    config = tmp / "monitor.yml"
    write_config(build_fleet(cameras), config)
    ports = {k: free_port() for k in ("monitor", "prom", "vm")}
    monitor = f"127.0.0.1:{ports['monitor']}"
    prom_addr, vm_addr = f"127.0.0.1:{ports['prom']}", f"127.0.0.1:{ports['vm']}"
    procs = {
        "vm": start([VM, f"-storageDataPath={tmp / 'vm'}", f"-httpListenAddr={vm_addr}",
                     *compose_vm_flags()], tmp / "vm.log"),
        "monitor": start([sys.executable, "-m", "monitor", "run", "-c", str(config), "--listen",
                          monitor, "--log-level", "error"], tmp / "monitor.log"),
        "prometheus": start([PROMETHEUS, f"--config.file={prometheus_config(tmp, monitor, prom_addr, vm_addr, scrape_timeout)}",
                             f"--storage.tsdb.path={tmp / 'prom'}", f"--web.listen-address={prom_addr}"],
                            tmp / "prometheus.log"),
    }
    prom, vm = f"http://{prom_addr}", f"http://{vm_addr}"
    try:
        async with aiohttp.ClientSession() as s:
            await wait_ok(s, f"{vm}/health", procs["vm"], 30)
            await wait_ok(s, f"http://{monitor}/healthz", procs["monitor"], 120)
            await wait_ok(s, f"{prom}/-/ready", procs["prometheus"], 60)
            await asyncio.sleep(warmup)
            rows0 = await metric(s, f"{vm}/metrics", "vm_rows_inserted_total", 'type="promremotewrite"')
            cpu0 = {k: cpu_seconds(p.pid) for k, p in procs.items()}
            t0 = time.monotonic()
            await asyncio.sleep(window)
            rows1 = await metric(s, f"{vm}/metrics", "vm_rows_inserted_total", 'type="promremotewrite"')
            cpu1 = {k: cpu_seconds(p.pid) for k, p in procs.items()}
            t1 = time.monotonic()
            async with s.get(f"http://{monitor}/metrics") as r:
                exposition = sum(1 for line in (await r.text()).splitlines()
                                 if line and not line.startswith("#"))
            scrapes_ok = await instant(s, prom, 'avg_over_time(up{job="cctv-monitor"}[5m])')
            head = await instant(s, prom, "prometheus_tsdb_head_series")
            failed = await instant(s, prom, "sum(prometheus_remote_storage_samples_failed_total)")
            dropped = await instant(s, prom, "sum(prometheus_remote_storage_samples_dropped_total)")
            pending = await instant(s, prom, "sum(prometheus_remote_storage_samples_pending)")
            vm_series = await instant(s, vm, "count({__name__=~'.+'})")
        rss = {k: rss_bytes(p.pid) for k, p in procs.items()}
    finally:
        for p in procs.values():
            stop(p)
    rows = rows1 - rows0
    secs = t1 - t0
    cpu = {k: (cpu1[k] - cpu0[k]) for k in procs}
    return {
        "cameras": cameras,
        "window_s": round(secs, 1),
        "exposition_series": int(exposition),
        "monitor_scrapes_ok_ratio": round(scrapes_ok, 3),
        "series_per_camera": round(exposition / cameras, 1),
        "prometheus_head_series": int(head),
        "store_series": int(vm_series),
        "samples_per_s_into_store": round(rows / secs),
        "remote_write_failed": failed, "remote_write_dropped": dropped, "remote_write_pending": pending,
        "vm_cpu_s_per_million_samples": round(1e6 * cpu["vm"] / max(rows, 1), 2),
        "vm_cores": round(cpu["vm"] / secs, 3),
        "vm_rss_mb": round(rss["vm"] / 2**20),
        "prometheus_cores": round(cpu["prometheus"] / secs, 3),
        "prometheus_rss_mb": round(rss["prometheus"] / 2**20),
        "prometheus_rss_kb_per_head_series": round(rss["prometheus"] / 1024 / max(head, 1), 2),
        "monitor_cores": round(cpu["monitor"] / secs, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,30000")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the window")
    ap.add_argument("--window", type=float, default=120.0, help="seconds measured")
    ap.add_argument("--scrape-timeout", default=None,
                    help="override the config's 10s (a loaded machine renders slower)")
    args = ap.parse_args()

    def interrupted(signum, frame):
        raise KeyboardInterrupt  # so that the finally blocks stop what was started

    signal.signal(signal.SIGTERM, interrupted)
    results = []
    for size in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-longterm-") as tmp:
            r = asyncio.run(run_size(size, args.warmup, args.window, Path(tmp), args.scrape_timeout))
        results.append(r)
        print(json.dumps(r), flush=True)
    out = ROOT / "tests" / "bench" / "results" / f"longterm-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"prometheus": PROMETHEUS, "victoria_metrics": VM,
                               "results": results}, indent=2) + "\n")
    print(f"saved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
