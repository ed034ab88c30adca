"""Chaos: the daemon against the simulator while, in turn, its descriptors run out, its web
port is flooded with idle connections, reloads fire in a loop, the disk of its outage
ledger fills, its wall clock steps an hour forward and back and then back and forward, its
ledger hangs (a lock held past the writer's deadline) and is out of reach when it starts
(read-only).  Afterwards no healthy camera was ever reported down, no ledger row was lost
(one outage row per "down" line, none inverted), and the self metrics say what happened.

The wall clock is the daemon's own (libfaketime in that process only, driven through a file;
the machine's time is never touched); the ledger's disk is a 4 MiB tmpfs this test mounts.
Bounded: about three minutes.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.simulator.fleet import build_fleet, write_config
from tests.conftest import require, require_root
from tests.factories import free_base_net, free_port, http_get, metric_values

ROOT = Path(__file__).resolve().parents[1]
CAMERAS = 80
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"






def _by_camera(text: str, name: str) -> dict[str, float]:
    out = {}
    for lab, value in re.findall(rf'^{name}\{{([^}}]*)\}} (\S+)$', text, re.M):
        cam = re.search(r'camera="([^"]*)"', lab)
        if cam:
            out[cam.group(1)] = float(value)
    return out


@pytest.mark.integration
def test_chaos_never_reports_a_healthy_camera_down(tmp_path):
    require_root()
    require(FAKETIME)
    faults = {"flapping": 0.05, "down": 0.025}
    base_net = free_base_net()  # no other simulator on this machine uses it now
    fleet = build_fleet(cameras=CAMERAS, seed=13, faults=faults, base_net=base_net)
    healthy = {c.id for c in fleet.cameras if c.fault == "healthy"}
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(ledger_dir)],
                   check=True, timeout=30)
    config = tmp_path / "fleet.yml"
    write_config(fleet, config, interval="6s", timeout="5s", stream_interval="12s",
                 stream_duration="2s", stream_concurrency=20)
    text = config.read_text().replace("monitor:\n", "monitor:\n  concurrency: 200\n", 1)
    # every check but the stream keyframes' picture: the simulator's healthy streams repeat
    # one picture, which that check rightly calls frozen after three rounds
    text = text.replace("    rtsp: ", "    checks: [rtsp, stream, http, snapshot, onvif]\n    rtsp: ")
    text += f"history:\n  path: {ledger_dir / 'ledger.sqlite'}\n"
    config.write_text(text)
    # the reload loop alternates with a config renaming a few cameras
    renamed = re.sub(r"(name: )'?Camera", r"\1'Renamed", text, count=5)
    clock = tmp_path / "clock"
    clock.write_text("+0\n")

    env = {**os.environ, "CCTV_SIM_BASE_NET": str(base_net)}
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--cameras", str(CAMERAS), "--seed", "13",
         "--faults", ",".join(f"{k}={v}" for k, v in faults.items()),
         "--control", f"127.0.0.1:{free_port()}", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "monitor.log"
    mon = None
    held: list[socket.socket] = []
    filler = ledger_dir / "filler"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    phases: dict[str, str] = {}

    try:
        assert sim.stdout.readline().startswith(b"READY")

        def start(env: dict) -> subprocess.Popen:
            with open(log_path, "ab") as log_file:
                # prlimit sets the descriptor limit and execs: no Python pre-exec function, which runs
                # Python between fork and exec and hangs when this process has threads
                return subprocess.Popen(
                    ["prlimit", "--nofile=4096:4096", "--", sys.executable, "-m", "monitor",
                     "run", "-c", str(config), "--listen", f"127.0.0.1:{port}",
                     "--log-level", "info"],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
                    start_new_session=True)

        def wait_ready() -> None:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                assert mon.poll() is None, log_path.read_text()[-3000:]
                try:
                    if http_get(f"{base}/readyz", timeout=3)[0] == 200:
                        return
                except OSError:
                    pass
                time.sleep(0.3)
            raise AssertionError("the monitor did not become ready")

        mon = start(dict(os.environ))
        wait_ready()
        deadline = time.monotonic() + 60  # every healthy camera up (stream checks included)
        while time.monotonic() < deadline:
            up = _by_camera(http_get(f"{base}/metrics")[1], "cctv_camera_up")
            if all(up.get(c) == 1 for c in healthy):
                break
            time.sleep(1)
        assert all(up.get(c) == 1 for c in healthy), (
            [c for c in healthy if up.get(c) != 1][:5],
            [x for x in log_path.read_text().splitlines() if " down" in x][:8])

        # 1. descriptors run out for 8 s
        fds = os.listdir(f"/proc/{mon.pid}/fd")
        sockets = sum(os.readlink(f"/proc/{mon.pid}/fd/{fd}").startswith("socket:")
                      for fd in fds if os.path.exists(f"/proc/{mon.pid}/fd/{fd}"))
        resource.prlimit(mon.pid, resource.RLIMIT_NOFILE, (len(fds) - sockets + 2, 4096))
        time.sleep(8)
        resource.prlimit(mon.pid, resource.RLIMIT_NOFILE, (4096, 4096))
        time.sleep(6)
        phases["descriptors"] = http_get(f"{base}/metrics")[1]

        # 2. 1,500 idle connections held on the web port for 8 s; scrapes still answered
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
        for _ in range(1500):
            s = socket.socket()
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
                held.append(s)
            except OSError:
                s.close()
        time.sleep(4)
        assert http_get(f"{base}/metrics")[0] == 200
        time.sleep(4)
        for s in held:
            s.close()
        held.clear()
        phases["flood"] = http_get(f"{base}/metrics")[1]

        # 3. reloads in a loop
        for i in range(6):
            config.write_text(renamed if i % 2 == 0 else text)
            status, body = http_get(f"{base}/-/reload", method="POST", timeout=60)
            assert status == 200, body
        phases["reloads"] = http_get(f"{base}/metrics")[1]

        # 4. the ledger's disk fills for 12 s (the flapping cameras keep writing to it)
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 65536):
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)
        time.sleep(12)
        filler.unlink()
        time.sleep(4)
        phases["disk"] = http_get(f"{base}/metrics")[1]

        # 5. the wall clock steps an hour forward, then back.  The daemon restarts for this
        # phase under libfaketime (its wall clock from `clock`, its monotonic clock real);
        # the restart itself must not report anything either (the ledger restores states)
        mon.send_signal(signal.SIGTERM)
        assert mon.wait(30) == 0
        mon = start({**os.environ, "LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": str(clock),
                     "FAKETIME_CACHE_DURATION": "1", "DONT_FAKE_MONOTONIC": "1"})
        wait_ready()
        time.sleep(8)
        clock.write_text("+3600\n")
        time.sleep(8)
        clock.write_text("+0\n")
        time.sleep(8)
        assert mon.poll() is None, "monitor died"

        # 6. the wall clock steps an hour back, then forward again: the ledger keeps its
        # monotonic time (no inverted row, checked at the end) and records both steps
        clock.write_text("-3600\n")
        time.sleep(8)
        clock.write_text("+0\n")
        time.sleep(6)
        phases["clock"] = http_get(f"{base}/metrics")[1]

        # 7. the ledger hangs: another process holds its write lock for 14 s (longer than
        # the writer's deadline); the rows are held, counted, then written
        locker = sqlite3.connect(ledger_dir / "ledger.sqlite", timeout=30, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            time.sleep(14)
            phases["hung"] = http_get(f"{base}/metrics")[1]
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        time.sleep(3)

        # 8. the ledger is out of reach when the monitor starts (its file system read-only):
        # the rows are held from the start and written once it is back
        mon.send_signal(signal.SIGTERM)
        assert mon.wait(60) == 0
        subprocess.run(["mount", "-o", "remount,ro", str(ledger_dir)], check=True, timeout=30)
        try:
            mon = start(dict(os.environ))
            wait_ready()
            time.sleep(10)
            phases["dbstart"] = http_get(f"{base}/metrics")[1]
            readyz = http_get(f"{base}/readyz")
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(ledger_dir)], check=True, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and metric_values(
                http_get(f"{base}/metrics")[1], "cctv_monitor_ledger_rows_pending") != [0.0]:
            time.sleep(1)
        status, after = http_get(f"{base}/metrics")
        assert status == 200
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for proc in (mon, sim):
            if proc is not None and proc.poll() is None:
                if proc is sim:
                    os.killpg(proc.pid, signal.SIGTERM)
                else:
                    proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        if (ledger_dir / "ledger.sqlite").exists():
            src = sqlite3.connect(ledger_dir / "ledger.sqlite")
            dst = sqlite3.connect(tmp_path / "ledger-after.sqlite")
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
        subprocess.run(["umount", "-l", str(ledger_dir)], timeout=30)

    log_text = log_path.read_text()
    false_down = [line for line in log_text.splitlines()
                  if re.search(r"camera (\S+) down", line)
                  and re.search(r"camera (\S+) down", line).group(1) in healthy]
    assert not false_down, false_down[:10]
    up = _by_camera(after, "cctv_camera_up")
    assert all(up.get(c) == 1 for c in healthy)
    for name, text_ in phases.items():
        changes = _by_camera(text_, "cctv_camera_state_changes_total")
        assert all(changes.get(c, 0) == 0 for c in healthy), name
    # the self metrics tell the story
    assert metric_values(phases["descriptors"], "cctv_monitor_resource_errors_total",
                   kind="descriptors")[0] > 0
    assert metric_values(phases["flood"], "cctv_monitor_web_connections_closed_total",
                   why="over_cap")[0] >= 1000
    assert metric_values(phases["reloads"], "cctv_monitor_config_last_reload_successful") == [1.0]
    failures = metric_values(phases["disk"], "cctv_monitor_ledger_write_failures_total")
    assert "short of local descriptors" in log_text and "resources recovered" in log_text
    assert "Traceback" not in log_text
    # the ledger: the steps seen, the hang cut by the deadline, the start without it
    assert metric_values(phases["clock"], "cctv_monitor_clock_steps_total")[0] >= 4
    assert metric_values(phases["hung"], "cctv_monitor_ledger_timeouts_total")[0] >= 1
    assert metric_values(phases["dbstart"], "cctv_monitor_ledger_writing") == [0.0]
    held = metric_values(phases["dbstart"], "cctv_monitor_ledger_rows_pending")[0]
    assert held > 0 and readyz[0] == 200 and "ledger not writing" in readyz[1], readyz
    assert metric_values(after, "cctv_monitor_ledger_rows_pending") == [0.0]
    assert metric_values(after, "cctv_monitor_ledger_writing") == [1.0]
    # 0 lost rows: every "camera X down" line of every run is one outage row, none inverted
    db = sqlite3.connect(f"file:{tmp_path / 'ledger-after.sqlite'}?mode=ro", uri=True)
    try:
        camera_rows = db.execute("SELECT COUNT(*) FROM outages WHERE kind = 'camera'").fetchone()[0]
        inverted = db.execute("SELECT COUNT(*) FROM outages WHERE end_ts < start_ts").fetchone()[0]
        steps = db.execute("SELECT COUNT(*) FROM clock_steps").fetchone()[0]
    finally:
        db.close()
    down_lines = len(re.findall(r"camera \S+ down", log_text))
    dropped = sum(metric_values(t, "cctv_monitor_ledger_rows_dropped_total")[0]
                  for t in (phases["hung"], phases["dbstart"], after))
    assert camera_rows == down_lines and inverted == 0 and dropped == 0, (camera_rows, down_lines)
    assert steps >= 4
    print(f"chaos: {len(healthy)} healthy cameras, false outages: {len(false_down)}, "
          f"ledger write failures while the disk was full: {failures}; "
          f"rows held with the ledger out of reach at the start: {held:.0f}, "
          f"camera outage rows {camera_rows} for {down_lines} down lines (0 lost), "
          f"clock steps recorded: {steps}")
