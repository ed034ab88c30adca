"""cctv_monitor_build_info: one series of value 1 naming the version (as `--version` prints
it), the Python version and implementation and the event loop serving the scrape."""

from __future__ import annotations

import asyncio
import platform
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics.selfmetrics import SelfMetrics
from tests.factories import free_port, wait_http, write_config

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def build_info(text: str) -> list:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families["cctv_monitor_build_info"].samples


def test_the_running_daemon_names_its_version_python_and_uvloop(tmp_path):
    cfg = tmp_path / "monitor.yml"
    write_config(cfg, 1)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(cfg), "--listen", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        asyncio.run(wait_http(f"http://127.0.0.1:{port}/healthz", 20))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    (sample,) = build_info(text)
    assert sample.value == 1
    assert sample.labels == {"version": VERSION, "python": platform.python_version(),
                             "implementation": platform.python_implementation(),
                             "event_loop": "uvloop"}
    version = subprocess.run([sys.executable, "-m", "monitor", "--version"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30).stdout
    assert version.splitlines()[0].endswith(f"version {sample.labels['version']}")


async def test_plain_asyncio_and_the_shard_label():
    (sample,) = build_info(SelfMetrics("2/3").render().decode())
    assert sample.labels["event_loop"] == "asyncio"
    assert sample.labels["shard"] == "2/3"
    assert sample.labels["version"] == VERSION
