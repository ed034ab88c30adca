"""`cctv-monitor demo` end to end: it serves metrics and the status page while it runs,
stops by itself after --duration with exit 0, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.factories import free_port

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode("utf-8", errors="replace")


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> set[int]:
    """Every live process whose ancestry leads to `root` (from /proc, no psutil needed)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if fields and fields[0] != "Z":
            parent[int(entry)] = int(fields[1])
    found: set[int] = set()
    frontier = [root]
    while frontier:
        p = frontier.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _leftovers(marker: str) -> list[str]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            cmd = _cmdline(entry)
            if marker in cmd:
                out.append(f"{entry}: {cmd}")
    return out


@pytest.mark.integration
def test_demo_runs_serves_and_cleans_up(tmp_path):
    port = free_port()
    listen = f"127.0.0.1:{port}"
    duration = 25
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "demo", "--duration", str(duration), "--cameras", "200",
         "--listen", listen, "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    children: set[int] = set()
    try:
        metrics = status_page = None
        deadline = start + duration - 2
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
            children |= _descendants(proc.pid)
            try:
                code, text = _get(f"http://{listen}/metrics")
            except OSError:
                continue
            if code == 200 and "\ncctv_camera_up{" in "\n" + text:
                metrics = text
                code, page = _get(f"http://{listen}/status")
                if code == 200:
                    status_page = page
                    break
        assert metrics is not None, "no /metrics with cctv_camera_up while the demo ran"
        assert status_page is not None and "CCTV network status" in status_page
        assert any(line.startswith("cctv_camera_up{") for line in metrics.splitlines())
        children |= _descendants(proc.pid)
        assert children, "the demo should run the simulator as a child process"

        out, _ = proc.communicate(timeout=duration + 30)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert proc.returncode == 0, out[-3000:]
    assert elapsed < duration + 25, f"took {elapsed:.0f}s for --duration {duration}"
    assert f"http://{listen}/status" in out
    assert "/control/links/police-hq/primary/cut" in out
    # nothing left: no child of the demo, no process that used its temp dir or its port
    time.sleep(0.5)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}") and _cmdline(str(pid))]
    assert not alive, [f"{pid}: {_cmdline(str(pid))}" for pid in alive]
    assert not _leftovers(str(tmp_path)), _leftovers(str(tmp_path))
    assert not any(p.name.startswith("cctv-demo-") for p in tmp_path.iterdir()), "temp dir left"
    with socket.socket() as s:
        # nothing listens there any more (SO_REUSEADDR: connections in TIME_WAIT may remain)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


@pytest.mark.integration
def test_demo_fails_cleanly_when_the_port_is_taken(tmp_path):
    """The monitor cannot start: exit non-zero, and still no simulator left behind."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    listen = "127.0.0.1:%d" % blocker.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "monitor", "demo", "--duration", "20", "--cameras", "50",
             "--listen", listen, "--log-level", "warning"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
    finally:
        blocker.close()
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "error" in proc.stderr.lower(), proc.stderr[-2000:]
    time.sleep(0.5)
    assert not _leftovers(str(tmp_path)), _leftovers(str(tmp_path))
    assert not any(p.name.startswith("cctv-demo-") for p in tmp_path.iterdir())


async def test_demo_stops_the_simulator_when_the_monitor_cannot_start(monkeypatch, tmp_path):
    """In-process: the daemon fails after the simulator is up (as with a bad config); the
    demo reports it, returns 1, and the simulator's process group is gone."""
    import argparse
    import asyncio

    from monitor.commands import demo

    started: list[demo.Simulator] = []

    class Recording(demo.Simulator):
        async def start(self, timeout: float) -> None:
            started.append(self)
            await super().start(timeout)

    async def failing_run_until(config, listen, stop, log_level="info"):
        await asyncio.sleep(0.2)
        raise SystemExit(2)

    monkeypatch.setattr(demo, "Simulator", Recording)
    import monitor.runtime.daemon

    monkeypatch.setattr(monitor.runtime.daemon, "run_until", failing_run_until)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    args = argparse.Namespace(duration=20.0, listen=f"127.0.0.1:{free_port()}", cameras=30,
                              seed=1, log_level="warning", log_format="text")
    status = await demo._demo(args)
    assert status == 1
    assert started and started[0].proc is not None
    pid = started[0].proc.pid
    assert started[0].proc.returncode is not None
    assert not os.path.exists(f"/proc/{pid}") or not _cmdline(str(pid))
    assert not _leftovers(str(tmp_path)), _leftovers(str(tmp_path))
    assert not any(p.name.startswith("cctv-demo-") for p in tmp_path.iterdir())


@pytest.mark.parametrize("taken_by_demo_check", [True, False], ids=["in-use", "not-local"])
def test_demo_cannot_listen_is_one_line(taken_by_demo_check):
    """A --listen address in use, or one not on this host: one error line naming it and exit 1,
    no traceback (the address not on this host is found by the daemon's own bind)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # 192.0.2.1 (TEST-NET-1) is on no interface of a test machine: the bind itself fails
        listen = f"127.0.0.1:{taken.getsockname()[1]}" if taken_by_demo_check else "192.0.2.1:9877"
        proc = subprocess.run(
            [sys.executable, "-m", "monitor", "demo", "--cameras", "3", "--duration", "5",
             "--listen", listen],
            cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
        )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot listen on {listen}" in proc.stderr, proc.stderr
