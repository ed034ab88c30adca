"""Builders the tests share: cameras and inventories, probe results, a configuration file.

One home for them, so that test modules import helpers from here and never from each
other.  `CANARY` is the password every built camera carries: a test that finds it in a
page, a log line or a metric has found a leak.
"""

from __future__ import annotations

import asyncio
import socket
import textwrap
import time

import aiohttp

from monitor.model import (
    Camera,
    CommandCentre,
    Credentials,
    Endpoint,
    Integration,
    Inventory,
    Link,
    LinkResult,
    MonitorSettings,
    Provider,
    Reason,
    Result,
    StreamSettings,
)

CANARY = "CANARY-pa55w0rd-7f3e"


def make_camera(i: int, checks=("rtsp", "http", "snapshot"), feeds=True, **kw) -> Camera:
    creds = Credentials("viewer", CANARY)
    base = dict(
        id=f"JKT-{i:04d}",
        name=f"Camera {i}",
        provider=f"provider-{'ab'[i % 2]}",
        district="Menteng" if i % 3 else "Gambir",
        zone="ring-1" if i % 4 == 0 else "city",
        location=(-6.19 + i / 1000, 106.82),
        uplink=f"sw-{i % 5}",
        rtsp=Endpoint(f"rtsp://127.0.0.1:{10000 + i}/Streaming/Channels/101", creds),
        http=Endpoint(f"http://127.0.0.1:{20000 + i}/picture", creds),
        checks=checks,
        integrations=("smart-city", "police-hq") if feeds else (),
        feeds=(("police-hq", Endpoint(f"rtsp://127.0.0.1:30000/relay/{i}", creds)),) if feeds else (),
    )
    base.update(kw)
    return Camera(**base)


def make_inventory(n: int = 5, *, cameras=None, settings: MonitorSettings | None = None,
                   **camera_kw) -> Inventory:
    cams = tuple(cameras) if cameras is not None else tuple(make_camera(i, **camera_kw) for i in range(n))
    return Inventory(
        settings=settings or MonitorSettings(interval=1.0, timeout=0.5,
                                             stream=StreamSettings(interval=0)),
        providers=(Provider("provider-a", 1500, 0.98), Provider("provider-b", 900, 0.95)),
        integrations=(Integration("smart-city"), Integration("police-hq", "police-hq")),
        command_centres=(
            CommandCentre("police-hq", (
                Link("primary", (Endpoint("tcp://127.0.0.1:9"),)),
                Link("backup", (Endpoint("tcp://127.0.0.1:10"),)),
            )),
        ),
        cameras=cams,
    )


def ok() -> Result:
    return Result(Reason.OK, duration=0.01)


def fail(reason=Reason.TIMEOUT, message="deadline passed") -> Result:
    return Result(reason, duration=0.5, message=message)


def link(state: str) -> LinkResult:
    if state == "down":
        return LinkResult("down", Reason.TIMEOUT, 5, 0, 1.0, message="no answer")
    return LinkResult(state, Reason.OK, 5, 5 if state == "up" else 4, 0.0 if state == "up" else 0.2,
                      0.001, 0.002, 0.003, 0.0005)


CONFIG = """\
monitor:
  interval: 30s
  timeout: 2s
providers:
  - name: provider-a
    target_cameras: 10
    sla: 0.98
cameras:
{cameras}
"""

CAMERA = """\
  - id: JKT-{i:04d}
    name: Camera {i}
    provider: provider-a
    district: Menteng
    zone: city
    rtsp: rtsp://viewer:{secret}@127.0.0.1:9/Streaming/Channels/101
"""


def write_config(path, n: int, extra: str = "") -> None:
    cams = "".join(CAMERA.format(i=i, secret=CANARY) for i in range(n))
    path.write_text(CONFIG.format(cameras=cams) + textwrap.dedent(extra))


def free_port(ip: str = "127.0.0.1") -> int:
    """A TCP port free on `ip` now (the test binds it right after)."""
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def wait_for(what, timeout: float = 30.0, step: float = 0.1):
    """Poll `what()` until it returns something truthy (and return that), at most `timeout`
    seconds: a condition is waited for, never a duration asserted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(step)
    raise AssertionError("timed out waiting")


async def wait_http(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not come up")


def free_base_net(first: int = 130, last: int = 199) -> int:
    """A simulator base net (the second octet of its cameras' loopback addresses) that no
    other simulator on this machine serves now: its first camera's RTSP port, its police
    relay and link addresses are all free.  Several test runs at once then do not collide."""
    import random

    from monitor.simulator.fleet import police_integration, smart_city_integration

    candidates = list(range(first, last + 1))
    random.shuffle(candidates)
    for net in candidates:
        police = police_integration(net)
        addrs = [(f"127.{net}.0.1", 8554), (police.relay_ip, police.relay_port),
                 (smart_city_integration(net).relay_ip, 8554)]
        addrs += [(link.ip, link.tcp_port) for link in police.links]
        try:
            for ip, port in addrs:
                with socket.socket() as s:
                    s.bind((ip, port))
        except OSError:
            continue
        return net
    raise RuntimeError("no free simulator base net")


def http_get(url: str, method: str = "GET", timeout: float = 60.0) -> tuple[int, str]:
    """(status, body) of a plain HTTP request; an HTTP error status is an answer, not an
    exception (the daemon's 503 on /readyz is what some tests wait for)."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric_values(text: str, name: str, **labels: str) -> list[float]:
    """Every sample of `name` in an exposition whose labels include `labels`."""
    import re

    out = []
    for n, lab, value in re.findall(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$', text, re.M):
        if n == name:
            got = dict(re.findall(r'(\w+)="([^"]*)"', lab or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                out.append(float(value))
    return out


def run_daemon_briefly(tmp_path, cameras: int, *flags: str, seconds: float = 2.0):
    """`cctv-monitor run` on `cameras` unreachable cameras probed every second, stopped with
    SIGTERM after a round of refused probes (their down lines get logged); returns
    (returncode, stdout, stderr) as text."""
    import asyncio
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    cfg = Path(tmp_path) / "monitor.yml"
    write_config(cfg, cameras)
    cfg.write_text(cfg.read_text().replace("interval: 30s\n  timeout: 2s",
                                           "interval: 1s\n  timeout: 500ms"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(cfg), "--listen",
         f"127.0.0.1:{port}", *flags],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        asyncio.run(wait_http(f"http://127.0.0.1:{port}/healthz", 20))
        time.sleep(seconds)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out.decode(), err.decode()
