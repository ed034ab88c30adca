"""The keyframe decode threads belong to what runs the checks, and end with it.

- A `DecodePool` decodes in its own threads and leaves none behind once closed.
- Without a pool, the picture post-step decodes in the event loop's default executor (the
  loop's runner shuts it down): no module-level pool exists to outlive anything.
- The daemon makes its pool at start, the picture check decodes there, and when the daemon
  stops no decode thread is left in the process (real simulator streams, real daemon).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp

from monitor.model import MonitorSettings, Reason, Result
from monitor.probes import picture
from monitor.probes.picture import DecodePool
from monitor.simulator.media import KEYFRAMES_PATH, NAL_IDR, access_units, split_annexb
from tests.factories import free_base_net, free_port, metric_values

ROOT = Path(__file__).resolve().parents[1]


def _decode_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("keyframe")]


def _keyframes() -> list[bytes]:
    """The simulator's IDR access units (Annex B), as the stream check keeps them."""
    frames = access_units(split_annexb(KEYFRAMES_PATH.read_bytes()))
    out = [b"".join(b"\x00\x00\x00\x01" + n for n in f) for f in frames
           if any(n[0] & 0x1F == NAL_IDR for n in f)]
    assert len(out) >= 2
    return out[:2]


def _stream_answer() -> Result:
    result = Result(Reason.OK, detail={"codec": "H264"})
    result.keyframes = _keyframes()
    return result


async def test_a_pool_decodes_in_its_own_threads_and_leaves_none_once_closed():
    assert not _decode_threads(), "a decode thread was left by an earlier user"
    pool = DecodePool()
    try:
        assert not _decode_threads()  # threads start with the first keyframe, not before
        verdict = await pool.post_step(_stream_answer(), {}, MonitorSettings())
        assert verdict is not None and verdict.detail["keyframes_decoded"] == 2, verdict
        assert _decode_threads()
    finally:
        pool.close()
    assert not _decode_threads()


async def test_without_a_pool_the_post_step_uses_the_loops_own_executor():
    verdict = await picture.post_step(_stream_answer(), {}, MonitorSettings())
    assert verdict is not None and verdict.detail["keyframes_decoded"] == 2, verdict
    assert not _decode_threads()
    assert not hasattr(picture, "_POOL") and not hasattr(picture, "_pool")


async def test_the_daemon_owns_its_decode_pool(tmp_path):
    """Stream and picture checks of two healthy simulated cameras through the real daemon:
    while it runs, the picture verdicts come from its decode threads; once it has stopped,
    none is left."""
    from monitor.runtime.daemon import run_until
    from monitor.simulator.fleet import build_fleet, write_config

    assert not _decode_threads(), "a decode thread was left by an earlier user"
    base_net = free_base_net()
    fleet = build_fleet(cameras=2, seed=3, faults={}, base_net=base_net)
    config = tmp_path / "fleet.yml"
    write_config(fleet, config, interval="30s", timeout="4s", stream_interval="2s",
                 stream_duration="1s", stream_concurrency=2)
    text = config.read_text().replace("    rtsp: ", "    checks: [stream, picture]\n    rtsp: ")
    config.write_text(text)
    env = {**os.environ, "CCTV_SIM_BASE_NET": str(base_net)}
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--cameras", "2", "--seed", "3",
         "--faults", "", "--control", f"127.0.0.1:{free_port()}", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True)
    port = free_port()
    stop = asyncio.Event()
    task = None
    try:
        assert sim.stdout.readline().startswith(b"READY")
        task = asyncio.create_task(run_until(str(config), f"127.0.0.1:{port}", stop, "warning"))
        deadline = time.monotonic() + 60  # bounded: a verdict comes within a few seconds
        decoded: list[float] = []
        threads: list[str] = []
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline and not task.done():
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                        text = await r.text()
                except aiohttp.ClientError:
                    text = ""
                decoded = metric_values(text, "cctv_probe_reason", check="picture", reason="ok")
                threads = threads or _decode_threads()
                if sum(decoded) == 2 and threads:
                    break
                await asyncio.sleep(0.2)
        assert sum(decoded) == 2, "no picture verdict from the daemon"
        assert threads and all(re.fullmatch(r"keyframe_\d+", t) for t in threads), threads
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 30)
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait(30)
    assert not _decode_threads(), "the daemon stopped, its decode threads did not"
