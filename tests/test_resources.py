"""The monitor's own trouble is never a camera's outage.

- A probe that hits EMFILE/ENFILE/ENOBUFS/ENOMEM or cannot start a thread has no verdict:
  the camera keeps its state, the self metric counts it, /readyz fails while it lasts, one
  log line at the start and one at the end.
- A failed probe that overlapped a stall of the event loop is dropped, not judged.
- At start the descriptor limit is raised to the hard limit and a concurrency that cannot
  fit in it is refused with a clear message.
- Against 1,200 healthy simulated cameras at concurrency 1,000: descriptors squeezed to
  nothing for a while (prlimit on the running daemon), then 2,000 idle connections held on
  the web port: no camera was ever reported down, and the metrics say what happened.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.metrics.selfmetrics import SelfMetrics
from monitor.model import Reason, Result, split_credentials
from monitor.probes.base import run_probe
from monitor.resources import LocalResourceError, ResourceGuard, local_resource_kind
from tests.factories import free_port, http_get, metric_values, write_config
from tests.vclock import virtual_time

ROOT = Path(__file__).resolve().parents[1]


def test_local_resource_errors_are_recognised_and_camera_errors_are_not():
    assert local_resource_kind(OSError(errno.EMFILE, "Too many open files")) == "descriptors"
    assert local_resource_kind(OSError(errno.ENFILE, "File table overflow")) == "descriptors"
    assert local_resource_kind(OSError(errno.ENOBUFS, "No buffer space")) == "buffers"
    assert local_resource_kind(MemoryError()) == "memory"
    assert local_resource_kind(RuntimeError("can't start new thread")) == "threads"
    try:
        try:
            raise OSError(errno.EMFILE, "Too many open files")
        except OSError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as exc:
        assert local_resource_kind(exc) == "descriptors"
    for exc in (ConnectionRefusedError(), OSError(errno.EHOSTUNREACH, "x"), TimeoutError(),
                ValueError("bad")):
        assert local_resource_kind(exc) is None


async def test_run_probe_raises_local_resource_error_instead_of_a_reason():
    async def emfile(endpoint, ctx):
        raise OSError(errno.EMFILE, "Too many open files")

    ep = split_credentials("rtsp://127.0.0.1/x")
    with pytest.raises(LocalResourceError) as info:
        await run_probe(emfile, ep, 1.0)
    assert info.value.kind == "descriptors"


def _state_and_scheduler(n: int, probe, tmp_path, clock=None):
    from monitor.config import load
    from monitor.runtime.scheduler import Scheduler
    from monitor.state import State

    cfg = tmp_path / "monitor.yml"
    write_config(cfg, n)
    text = cfg.read_text().replace("interval: 30s", "interval: 1s").replace("timeout: 2s", "timeout: 1s")
    cfg.write_text(text)
    inventory = load(str(cfg))
    state = State(inventory)
    metrics = SelfMetrics()
    guard = ResourceGuard(metrics.registry, hold=1.5, clock=clock)
    sched = Scheduler(state, metrics=metrics, guard=guard, probe_lookup=lambda check: probe,
                      link_probe=_no_link, tick=0.001, clock=clock)
    return state, sched, guard, metrics


async def _no_link(link, settings):
    from monitor.model import LinkResult

    return LinkResult("up", Reason.OK)


@virtual_time
async def test_emfile_keeps_camera_state_and_fails_readiness(tmp_path, caplog):
    """On a loop whose time the test drives: EMFILE for 2.5 s, then the condition clears
    exactly `hold` (1.5 s) after the last error (its timer re-checks 10 ms later)."""
    import logging

    caplog.set_level(logging.INFO)
    from prometheus_client import generate_latest

    loop = asyncio.get_running_loop()
    mode = {"emfile": False}
    raised: list[float] = []

    async def probe(endpoint, ctx):
        if mode["emfile"]:
            raised.append(loop.time())
            raise OSError(errno.EMFILE, "Too many open files")
        return Result(Reason.OK)

    state, sched, guard, metrics = _state_and_scheduler(3, probe, tmp_path, loop.clock)
    await sched.start()
    try:
        await asyncio.sleep(1.0)  # one round: every camera up
        assert all(cs.up for cs in state.cameras.values())
        caplog.clear()
        mode["emfile"] = True
        await asyncio.sleep(2.5)  # two rounds and more of EMFILE
        assert all(cs.up for cs in state.cameras.values()), "EMFILE made a camera down"
        assert all(cs.changes == 0 for cs in state.cameras.values())
        assert guard.problems(), "the condition is not raised"
        text = generate_latest(metrics.registry).decode()
        m = re.search(r'cctv_monitor_resource_errors_total\{kind="descriptors"\} (\S+)', text)
        assert m and float(m.group(1)) == len(raised) >= 6  # 3 cameras, 2 rounds at least
        assert "cctv_monitor_resource_exhausted 1.0" in text
        mode["emfile"] = False
        await asyncio.sleep(max(raised) + 1.5 - 0.001 - loop.time())
        assert guard.problems(), "cleared before the hold"
        await asyncio.sleep(0.012)
        assert not guard.problems(), "not cleared 10 ms after the hold"
    finally:
        await sched.stop()
    warnings = [r for r in caplog.records if "short of local descriptors" in r.getMessage()]
    recovered = [r for r in caplog.records if "resources recovered" in r.getMessage()]
    assert len(warnings) == 1 and len(recovered) == 1, [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if " down" in r.getMessage()]


async def test_readyz_fails_while_the_monitor_is_short_of_resources(tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from monitor.config import load
    from monitor.metrics.exporter import Exporter
    from monitor.state import State
    from monitor.web.app import make_app

    cfg = tmp_path / "monitor.yml"
    write_config(cfg, 1)
    state = State(load(str(cfg)))
    state.mark_ready()
    guard = ResourceGuard(None, hold=60)
    app = make_app(state, Exporter(state, SelfMetrics()), None, problems=guard.problems)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await client.get("/readyz")).status == 200
        guard.report("descriptors")
        r = await client.get("/readyz")
        assert r.status == 503 and "descriptors" in await r.text()
    finally:
        guard.stop()
        await client.close()


@virtual_time
async def test_a_failure_cut_by_a_loop_stall_is_not_judged(tmp_path):
    """A stream window cut short because the loop itself stalled (a long reload step) would
    read as no_video: the result is dropped and the check runs again next round, up to
    MAX_DROPPED (3) rounds in a row; the stall is a step of the loop's time the test makes."""
    loop = asyncio.get_running_loop()
    calls = {"n": 0}

    async def probe(endpoint, ctx):
        calls["n"] += 1
        if calls["n"] <= 3:
            return Result(Reason.OK)
        if calls["n"] <= 6:
            loop.advance(0.6)  # the monitor's own stall, inside the probe's window
            return Result(Reason.NO_VIDEO, message="no frame")
        return Result(Reason.OK)

    state, sched, guard, metrics = _state_and_scheduler(1, probe, tmp_path, loop.clock)
    await sched.start()
    try:
        await asyncio.sleep(9.5)  # nine rounds of the one camera's rtsp check
        assert calls["n"] == 9
        cs = next(iter(state.cameras.values()))
        assert cs.up is True and cs.changes == 0
        assert guard.errors.labels("loop_stall")._value.get() == 3
    finally:
        await sched.stop()


# ---------------------------------------------------------------------- the daemon


def _nofile(soft: int, hard: int | None = None) -> list[str]:
    """The argv prefix that starts a command with this descriptor limit: prlimit sets it and
    execs, so nothing runs between fork and exec (a Python pre-exec function does, and hangs
    when the forking process has threads: a lock one of them held at fork is never freed)."""
    return ["prlimit", f"--nofile={soft}:{soft if hard is None else hard}", "--"]


def _fleet_config(tmp_path: Path, cameras: int, base_net: int, concurrency: int) -> Path:
    from monitor.simulator.fleet import build_fleet, write_config

    fleet = build_fleet(cameras=cameras, seed=5, faults={}, base_net=base_net)
    config = tmp_path / "fleet.yml"
    write_config(fleet, config, interval="5s", timeout="3s", stream_interval="10m",
                 stream_duration="2s", stream_concurrency=10)
    text = config.read_text().replace("monitor:\n", f"monitor:\n  concurrency: {concurrency}\n", 1)
    config.write_text(text)
    return config


def test_a_concurrency_that_cannot_fit_the_descriptor_limit_is_refused(tmp_path):
    config = _fleet_config(tmp_path, 50, 100, 1000)  # refused before any probe: no simulator
    proc = subprocess.run(
        [*_nofile(256), sys.executable, "-m", "monitor", "run", "-c", str(config), "--listen",
         f"127.0.0.1:{free_port()}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, start_new_session=True)
    assert proc.returncode == 2, proc.stderr
    assert "monitor.concurrency 1000" in proc.stderr and "256" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_soft_descriptor_limit_is_raised_to_the_hard_limit():
    code = ("import resource; from monitor.resources import raise_nofile_limit; "
            "print(raise_nofile_limit())")
    out = subprocess.run([*_nofile(256, 4096), sys.executable, "-c", code], cwd=ROOT,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.strip() == "(4096, 4096)"






@pytest.mark.integration
def test_descriptor_exhaustion_and_an_idle_flood_never_make_a_healthy_camera_down(tmp_path):
    from tests.factories import free_base_net

    cameras, base_net = 1200, free_base_net()
    config = _fleet_config(tmp_path, cameras, base_net, 1000)
    env = {**os.environ, "CCTV_SIM_BASE_NET": str(base_net)}
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--cameras", str(cameras), "--seed", "5",
         "--faults", "", "--control", f"127.0.0.1:{free_port()}", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "monitor.log"
    mon = None
    held: list[socket.socket] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        assert sim.stdout.readline().startswith(b"READY")
        with open(log_path, "wb") as log_file:
            mon = subprocess.Popen(
                [*_nofile(4096), sys.executable, "-m", "monitor", "run", "-c", str(config),
                 "--listen", f"127.0.0.1:{port}", "--log-level", "info"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http_get(f"{base}/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("the monitor did not become ready")
        # every camera up before the faults: on a loaded machine a few first probes may time
        # out, the next rounds (every 5 s) find them up; bounded
        deadline = time.monotonic() + 90
        while True:
            status, text = http_get(f"{base}/metrics", timeout=30)
            if sum(metric_values(text, "cctv_camera_up")) == cameras or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert sum(metric_values(text, "cctv_camera_up")) == cameras

        # 1. descriptors run out: the daemon's soft limit at what it holds now, for 8 s
        # (the lowest free descriptor number must be above the soft limit for an open to
        # fail: the limit goes to the count of what is not a probe's socket)
        fds = os.listdir(f"/proc/{mon.pid}/fd")
        sockets = sum(os.readlink(f"/proc/{mon.pid}/fd/{fd}").startswith("socket:")
                      for fd in fds if os.path.exists(f"/proc/{mon.pid}/fd/{fd}"))
        resource.prlimit(mon.pid, resource.RLIMIT_NOFILE, (len(fds) - sockets + 2, 4096))
        time.sleep(8)
        resource.prlimit(mon.pid, resource.RLIMIT_NOFILE, (4096, 4096))
        time.sleep(6)  # the condition clears 5 s after the last error

        # 2. 2,000 idle connections on the web port, while scrapes go on
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
        flood_end = time.monotonic() + 120  # bounded in time as in count, however slow accepts get
        for _ in range(2000):
            if time.monotonic() > flood_end:
                break
            s = socket.socket()
            s.setblocking(True)
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
        status, text = http_get(f"{base}/metrics", timeout=30)
        assert status == 200
        time.sleep(6)
        status, text = http_get(f"{base}/metrics", timeout=30)
        assert status == 200
        for s in held:
            s.close()
        held.clear()
        assert mon.poll() is None, "monitor died"
        status, text = http_get(f"{base}/metrics", timeout=30)
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for proc in (mon, sim):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM) if proc is sim else proc.send_signal(signal.SIGTERM)
                proc.wait(20)
    log_text = log_path.read_text()
    down_lines = [line for line in log_text.splitlines() if " down" in line]
    assert not down_lines, down_lines[:10]
    assert sum(metric_values(text, "cctv_camera_up")) == cameras
    assert sum(metric_values(text, "cctv_camera_state_changes_total")) == 0
    assert metric_values(text, "cctv_monitor_resource_errors_total", kind="descriptors")[0] > 0
    assert "short of local descriptors" in log_text and "resources recovered" in log_text
    over_cap = metric_values(text, "cctv_monitor_web_connections_closed_total", why="over_cap")
    assert over_cap and over_cap[0] >= 1000
    assert "Traceback" not in log_text


def test_stream_coverage_names_the_concurrency_the_fleet_needs():
    import dataclasses

    from monitor.model import MonitorSettings, StreamSettings
    from monitor.resources import check_stream_coverage, stream_budget_needed
    from tests.factories import make_camera, make_inventory

    # by hand: 5,518 cameras x (4 s window + 1 s of exchanges) / 300 s = 91.97 -> 92
    assert stream_budget_needed(5518, 4.0, 300.0) == 92
    assert stream_budget_needed(0, 4.0, 300.0) == 0 and stream_budget_needed(10, 4.0, 0) == 0
    cams = [make_camera(i, checks=("rtsp", "stream"), feeds=False) for i in range(5518)]
    inv = make_inventory(cameras=cams, settings=MonitorSettings(stream=StreamSettings()))
    assert check_stream_coverage(inv) is None  # the default, 150, covers Jakarta
    low = dataclasses.replace(inv, settings=MonitorSettings(stream=StreamSettings(concurrency=50)))
    # 50 x 300 / 5 = 3,000 cameras a round
    assert check_stream_coverage(low) == (
        "stream.concurrency 50 checks about 3,000 cameras per stream.interval (300 s, 4 s "
        "windows), fewer than the 5,518 with a stream check: set stream.concurrency to at "
        "least 92 (3 file descriptors each)")
    off = dataclasses.replace(inv, settings=MonitorSettings(
        stream=StreamSettings(interval=0, concurrency=1)))
    assert check_stream_coverage(off) is None
