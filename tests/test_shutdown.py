"""SIGTERM at any moment of the daemon's life leaves a clean stderr: no "Future exception
was never retrieved", no "Task exception was never retrieved", no traceback, exit 0.  The
daemon runs against the simulator with probes, stream checks and link probes in flight."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.simulator.fleet import build_fleet, write_config
from tests.factories import free_base_net, free_port

ROOT = Path(__file__).resolve().parents[1]
CAMERAS = 60
BAD = ("never retrieved", "Traceback", "Exception in callback", "Unclosed", "was destroyed")


@pytest.mark.integration
def test_sigterm_at_any_moment_leaves_stderr_clean(tmp_path):
    faults = {"down": 0.1, "tarpit": 0.1, "no_keyframe": 0.1, "stall": 0.1}
    base_net = free_base_net()  # no other simulator on this machine uses it now
    fleet = build_fleet(cameras=CAMERAS, seed=9, faults=faults, base_net=base_net)
    config = tmp_path / "fleet.yml"
    write_config(fleet, config, interval="2s", timeout="1500ms", stream_interval="3s",
                 stream_duration="2s", stream_concurrency=30)
    env = {**os.environ, "CCTV_SIM_BASE_NET": str(base_net)}
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--cameras", str(CAMERAS), "--seed", "9",
         "--faults", ",".join(f"{k}={v}" for k, v in faults.items()),
         "--control", f"127.0.0.1:{free_port()}", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True)
    rng = random.Random(7)
    problems = []
    try:
        assert sim.stdout.readline().startswith(b"READY")
        for run in range(8):
            port = free_port()
            mon = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "-c", str(config), "--listen",
                 f"127.0.0.1:{port}", "--log-level", "warning"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and mon.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            # from the first probes to well into the rounds (stream checks in flight)
            time.sleep(rng.uniform(0.0, 4.0))
            mon.send_signal(signal.SIGTERM)
            _out, err = mon.communicate(timeout=30)
            if mon.returncode != 0 or any(b in err for b in BAD):
                problems.append((run, mon.returncode, err[-2000:]))
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait(20)
    assert not problems, problems
