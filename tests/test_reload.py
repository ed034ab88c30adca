"""Reloads: read off the event loop, swapped in short steps, guarded.

- Reloads in a row at 5,000 cameras change no healthy camera's state, with a probe that,
  like a stream check, reads a stall of the loop during its window as no_video (reloads
  used to hold the loop for about 0.1 ms per camera).
- A reload that removes more than monitor.reload.max_removed_ratio of the cameras, changes
  the address of more than that share, or whose include pattern no longer matches any file,
  is refused (reload metric 0, the reason in the log and the answer) unless forced; forced,
  it applies, and moved cameras are recorded in the ledger and named in the report.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
from pathlib import Path

from prometheus_client import generate_latest

from monitor.model import Reason, Result


def _fleet_texts(n: int) -> tuple[str, str]:
    head = textwrap.dedent("""\
        monitor:
          interval: 10s
          timeout: 3s
          concurrency: 2000
        providers:
          - {name: provider-a, target_cameras: 10, sla: 0.98}
        cameras:
        """)
    cams = [
        f"  - {{id: JKT-{i:05d}, name: Camera {i}, provider: provider-a, district: Menteng, "
        f"zone: city, rtsp: 'rtsp://10.{i // 65536}.{i // 256 % 256}.{i % 256}:554/s', "
        f"checks: [rtsp]}}\n"
        for i in range(n)
    ]
    full = head + "".join(cams)
    other = head + "".join(
        c.replace("name: Camera", "name: Renamed") if i % 100 == 3 else c
        for i, c in enumerate(cams) if i % 20 != 7)
    return full, other


async def test_reloads_in_a_row_make_no_false_outage(tmp_path, caplog):
    from monitor.config import load
    from monitor.runtime.daemon import Daemon

    caplog.set_level(logging.INFO)
    full, other = _fleet_texts(5000)
    cfg = tmp_path / "fleet.yml"
    cfg.write_text(full)
    daemon = Daemon(str(cfg), load(str(cfg)))
    loop = asyncio.get_running_loop()
    windows = {"n": 0}

    async def probe(endpoint, ctx):
        # a one-second media window: frames arrive on the loop's timers, and a gap of 1.5 s
        # without any reads as no_video, the false outage reloads used to cause
        # when they held the loop
        start = loop.time()
        for _ in range(2):
            before = loop.time()
            await asyncio.sleep(0.5)
            if loop.time() - before > 1.5:
                return Result(Reason.NO_VIDEO, message="no frame in the window")
        windows["n"] += 1
        return Result(Reason.OK, duration=loop.time() - start)

    daemon.scheduler.runner.lookup = lambda check: probe
    await daemon.scheduler.start()
    try:
        for _ in range(1500):
            if all(cs.up for cs in daemon.state.cameras.values()):
                break
            await asyncio.sleep(0.02)
        up_before = {cid for cid, cs in daemon.state.cameras.items() if cs.up}
        assert len(up_before) > 4000
        caplog.clear()
        for i in range(4):
            cfg.write_text(other if i % 2 == 0 else full)
            summary = await daemon.reload()
            assert summary["removed"] in (0, 250) and summary["added"] in (0, 250)
        await asyncio.sleep(10)  # a round after the last reload
        # (a camera removed and added back by the reloads starts afresh: not compared)
        went_down = [cid for cid in up_before if int(cid[4:]) % 20 != 7
                     and daemon.state.cameras[cid].up is False]
        down = [r.getMessage() for r in caplog.records if " down" in r.getMessage()]
        assert not went_down and not down, down[:5]
        assert windows["n"] > 10000
    finally:
        await daemon.scheduler.stop()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def _cams(prefix: str, n: int, provider: str) -> str:
    return "cameras:\n" + "".join(
        f"  - {{id: {prefix}-{i:03d}, provider: {provider}, rtsp: 'rtsp://10.9.{i}.1/x'}}\n"
        for i in range(n))


def _reload_gauge(daemon) -> float:
    text = generate_latest(daemon.metrics.registry).decode()
    line = next(x for x in text.splitlines()
                if x.startswith("cctv_monitor_config_last_reload_successful"))
    return float(line.split()[-1])


async def test_a_vanished_include_or_a_mass_removal_is_refused_unless_forced(tmp_path, caplog):
    from monitor.config import load
    from monitor.runtime.daemon import Daemon
    from monitor.web.app import ReloadFailed

    main = tmp_path / "monitor.yml"
    _write(main, """\
        monitor: {interval: 30s, timeout: 2s}
        providers: [{name: pa}, {name: pb}]
        include: [provider-a.yml, 'provider-b/*.yml']
        """)
    _write(tmp_path / "provider-a.yml", _cams("A", 95, "pa"))
    _write(tmp_path / "provider-b" / "cameras.yml", _cams("B", 5, "pb"))
    daemon = Daemon(str(main), load(str(main)))
    assert len(daemon.state.cameras) == 100

    # provider b's file moved away: only 5 % of the cameras, but its pattern matches nothing
    moved = tmp_path / "cameras.yml.away"
    (tmp_path / "provider-b" / "cameras.yml").rename(moved)
    caplog.set_level(logging.ERROR)
    try:
        await daemon.reload()
        raise AssertionError("a vanished include was applied")
    except ReloadFailed as exc:
        # (the loader itself refuses a pattern that matches no file; the reload guard would
        # otherwise: either way the pattern is named)
        assert any("provider-b/*.yml" in e and "match" in e for e in exc.errors), exc.errors
    assert len(daemon.state.cameras) == 100
    assert _reload_gauge(daemon) == 0
    assert any("reload failed" in r.getMessage() or "reload refused" in r.getMessage()
               for r in caplog.records)

    # put back: fine again
    moved.rename(tmp_path / "provider-b" / "cameras.yml")
    await daemon.reload()
    assert _reload_gauge(daemon) == 1

    # 20 % of provider a's cameras gone from its file: over the 10 % default
    _write(tmp_path / "provider-a.yml", _cams("A", 75, "pa"))
    try:
        await daemon.reload()
        raise AssertionError("a mass removal was applied")
    except ReloadFailed as exc:
        assert any("removes 20 of 100" in e for e in exc.errors), exc.errors
    assert len(daemon.state.cameras) == 100 and _reload_gauge(daemon) == 0

    # the operator's own share, then force
    _write(main, """\
        monitor: {interval: 30s, timeout: 2s, reload: {max_removed_ratio: 0.25}}
        providers: [{name: pa}, {name: pb}]
        include: [provider-a.yml, 'provider-b/*.yml']
        """)
    summary = await daemon.reload()
    assert summary["removed"] == 20 and _reload_gauge(daemon) == 1
    _write(tmp_path / "provider-a.yml", _cams("A", 10, "pa"))
    _write(main, """\
        monitor: {interval: 30s, timeout: 2s}
        providers: [{name: pa}, {name: pb}]
        include: [provider-a.yml]
        """)
    try:
        await daemon.reload()
        raise AssertionError("refusal expected")
    except ReloadFailed:
        pass
    summary = await daemon.reload(force=True)
    assert summary["cameras"] == 10 and _reload_gauge(daemon) == 1


def test_reload_guard_names_a_pattern_that_stopped_matching():
    from types import SimpleNamespace

    from monitor.config.reload_guard import refusal

    settings = SimpleNamespace(reload=SimpleNamespace(max_removed_ratio=0.5))
    old = SimpleNamespace(cameras=[1] * 10, settings=settings,
                          includes=(("/etc/cctv/p/*.yml", ("/etc/cctv/p/a.yml",)),))
    new = SimpleNamespace(cameras=[1] * 9, settings=settings,
                          includes=(("/etc/cctv/p/*.yml", ()),))
    reasons = refusal(old, new, removed=1)
    assert len(reasons) == 1 and "/etc/cctv/p/*.yml" in reasons[0]
    assert refusal(old, old, removed=0) == []
    assert "removes 6 of 10" in refusal(old, old, removed=6)[0]


def test_a_reload_moving_every_camera_is_refused_and_a_forced_one_is_reported(tmp_path):
    """A template typo moving every camera's port (8554 -> 18554) is refused like a mass
    removal; forced, it applies, each moved camera is recorded in the ledger
    (inventory_changes, endpoint_forced), and the report says so in one line."""
    import datetime as dt
    import json
    import signal
    import sqlite3
    import subprocess
    import sys

    from tests.factories import free_port, http_get, wait_for

    root = Path(__file__).resolve().parents[1]
    ledger = tmp_path / "ledger.sqlite"

    def config(port: int) -> str:
        cams = "".join(f"  - {{id: M-{i}, provider: {'pa' if i < 6 else 'pb'}, "
                       f"rtsp: 'rtsp://127.0.0.1:{port}/cam{i}'}}\n" for i in range(10))
        return ("monitor: {interval: 30s, timeout: 1s}\n"
                "providers: [{name: pa}, {name: pb}]\n"
                f"history: {{path: {ledger}}}\ncameras:\n{cams}")

    cfg = tmp_path / "monitor.yml"
    cfg.write_text(config(8554))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(cfg), "--listen",
                             f"127.0.0.1:{port}", "--log-level", "warning"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base))
        cfg.write_text(config(18554))
        status, body = http_get(f"{base}/-/reload", "POST")
        assert status == 400, body
        assert "changes the address (URL) of 10 of 10 cameras" in json.loads(body)["errors"][0]
        status, body = http_get(f"{base}/-/reload?force=1", "POST")
        assert status == 200, body
        _status, text = http_get(f"{base}/api/cameras")
        assert {c["id"] for c in json.loads(text)} == {f"M-{i}" for i in range(10)}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "forced reload changed the address of 10 camera(s); recorded in the ledger" in err
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute("SELECT provider, COUNT(*) FROM inventory_changes WHERE action = "
                            "'endpoint_forced' GROUP BY provider ORDER BY provider").fetchall()
        present = conn.execute("SELECT COUNT(*) FROM inventory_changes WHERE action = 'removed'"
                               ).fetchone()[0]
    assert rows == [("pa", 6), ("pb", 4)] and present == 0
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "monitor", "report", "-c", str(cfg), "--from",
                           today, "--to", today, "--no-pdf", "--out", str(out)], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("Forced reload at ") == 1
    assert "changed the address of 10 camera(s) (pa 6, pb 4) past the reload guard" in page
    # the cameras are still present in the report's inventory (a move is not a removal)
    providers = (out / "providers.csv").read_text(encoding="utf-8")
    assert "pa," in providers and "pb," in providers


def _up(base: str) -> bool:
    from tests.factories import http_get

    try:
        return http_get(f"{base}/healthz", timeout=5)[0] == 200
    except OSError:
        return False
