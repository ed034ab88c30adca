"""What is really connected, measured live on the default Jakarta fleet.

The providers reported 3,517 installed, 2,832 on the smart-city platform and 133 ring-one
points connected to the police command centre.  Against the simulated fleet the monitor must
measure exactly those numbers when all is well, fewer (and the right ones) when cameras or
the links fail, and tell the three causes of a missing police feed apart: the camera is
down, the centre's links are down, or the integration itself lost the feed.

Simulator and monitor run as separate processes, as in production.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from monitor.simulator.fleet import build_fleet, write_config
from tests.factories import free_base_net, free_port

ROOT = Path(__file__).resolve().parents[1]
INTERVAL = 15.0
#: How long a change may take to show: 3517 cameras on a loaded 2-core machine take more
#: than one round; bounded, a condition is polled, not a duration asserted
WAIT = 8 * INTERVAL


def _get(url: str, method: str = "GET", timeout: float = 20.0) -> str:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


_LINE = re.compile(r"^(cctv_[a-z_]+)\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _series(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(_LABEL.findall(labels)), float(value))
        for n, labels, value in _LINE.findall(text)
        if n == name
    ]


def _sum(text: str, name: str, **match: str) -> float:
    return sum(v for labels, v in _series(text, name)
               if all(labels.get(k) == want for k, want in match.items()))


def _feed_cause(text: str, camera: str, integration: str) -> str | None:
    for labels, _ in _series(text, "cctv_feed_state"):
        if labels.get("camera") == camera and labels.get("integration") == integration:
            return labels["cause"]
    return None


def _wait(predicate, timeout: float, what: str, metrics_url: str) -> str:
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        text = _get(metrics_url)
        if predicate(text):
            return text
        time.sleep(2)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture
def stack(tmp_path):
    base_net = free_base_net()  # no other simulator's addresses
    fleet = build_fleet(cameras=3517, seed=11, faults={}, base_net=base_net)
    config = tmp_path / "fleet.yml"
    write_config(fleet, config, interval=f"{INTERVAL:.0f}s", timeout="4s", stream_interval="0")
    control = free_port()
    listen = free_port()
    env = {**os.environ, "CCTV_SIM_BASE_NET": str(base_net)}
    sim_log = open(tmp_path / "sim.log", "wb")
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--cameras", "3517", "--seed", "11",
         "--faults", "", "--control", f"127.0.0.1:{control}", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=sim_log, start_new_session=True)
    mon = None
    try:
        line = sim.stdout.readline().decode()
        assert line.startswith("READY"), f"simulator did not start: {line!r} {(tmp_path / 'sim.log').read_text()[-2000:]}"
        mon_log = open(tmp_path / "monitor.log", "wb")
        mon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), "--listen",
             f"127.0.0.1:{listen}", "--log-level", "warning"],
            cwd=ROOT, stdout=mon_log, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + 4 * INTERVAL + 30
        while time.monotonic() < end:
            try:
                _get(f"http://127.0.0.1:{listen}/readyz", timeout=5)
                break
            except Exception:  # noqa: BLE001 - 503 until the first round is done
                assert mon.poll() is None, (tmp_path / "monitor.log").read_text()[-3000:]
                time.sleep(1)
        else:
            raise AssertionError("monitor never became ready")
        yield fleet, f"http://127.0.0.1:{listen}/metrics", f"http://127.0.0.1:{control}/control"
    finally:
        if mon is not None:
            _stop(mon)
        _stop(sim)


@pytest.mark.integration
def test_connected_counts_and_feed_causes(stack):
    fleet, metrics, control = stack
    police = [c for c in fleet.cameras if "police-hq" in c.integrations]
    assert len(police) == 133 and all(c.zone == "ring-1" for c in police)

    def police_up(text: str) -> float:
        return _sum(text, "cctv_provider_feeds", integration="police-hq", state="up")

    # 1. All is well: the measured figures are the published ones.
    # (all 3,517 up within the bound, not only the police feeds: on a busy machine the last
    # cameras' first probes may land a round after the feeds are all seen)
    text = _wait(lambda t: police_up(t) == 133
                 and _sum(t, "cctv_provider_cameras", state="up") == 3517,
                 WAIT, "133 police feeds and 3,517 cameras up", metrics)
    assert _sum(text, "cctv_provider_cameras", state="configured") == 3517
    assert _sum(text, "cctv_provider_cameras", state="up") == 3517
    assert _sum(text, "cctv_provider_cameras", zone="ring-1", state="configured") == 176
    assert _sum(text, "cctv_provider_feeds", integration="police-hq", zone="ring-1", state="up") == 133
    assert _sum(text, "cctv_provider_feeds", integration="smart-city", state="configured") == 2832
    assert _sum(text, "cctv_provider_feeds", integration="smart-city", state="up") == 2832
    assert _sum(text, "cctv_provider_target_cameras") == 5518

    # 2. One police camera dies, another camera's feed goes missing at the relay.
    dead, missing, healthy = police[0].id, police[1].id, police[2].id
    _get(f"{control}/cameras/{dead}/fault/down", "POST")
    _get(f"{control}/cameras/{missing}/fault/feed_missing", "POST")
    text = _wait(
        lambda t: _feed_cause(t, dead, "police-hq") == "camera_down"
        and _feed_cause(t, missing, "police-hq") == "feed_missing",
        WAIT, "camera_down and feed_missing told apart", metrics)
    assert _feed_cause(text, healthy, "police-hq") == "ok"
    assert police_up(text) == 131

    # 3. Both links to the police command centre are cut: every police feed is lost, and
    #    the cause is the link, not 131 cameras.
    for link in ("primary", "backup"):
        _get(f"{control}/links/police-hq/{link}/cut", "POST")
    text = _wait(
        lambda t: _feed_cause(t, healthy, "police-hq") == "link_down" and police_up(t) == 0,
        WAIT, "police feeds lost to the link cut", metrics)
    assert _sum(text, "cctv_link_up", centre="police-hq") == 0
    assert _sum(text, "cctv_centre_up", centre="police-hq") == 0
    assert _feed_cause(text, dead, "police-hq") == "camera_down"  # still the camera's fault
    # The smart-city platform does not ride on the police links.
    assert _sum(text, "cctv_provider_feeds", integration="smart-city", state="up") >= 2830

    # 4. Restored: back to 131 (the two broken cameras stay broken).
    for link in ("primary", "backup"):
        _get(f"{control}/links/police-hq/{link}/restore", "POST")
    text = _wait(lambda t: police_up(t) == 131, WAIT, "police feeds back", metrics)
    assert _sum(text, "cctv_link_up", centre="police-hq") == 2
