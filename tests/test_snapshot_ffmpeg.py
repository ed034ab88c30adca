"""Picture health on pictures made by a real encoder, fetched from a real HTTP server.

ffmpeg (libavcodec's MJPEG encoder, as in many camera firmwares) renders a black frame, a
live test pattern at several moments (its frame counter and moving gradient change like a
camera's clock overlay), and one frozen moment re-encoded at several qualities (what a
camera stuck on one frame but re-encoding it each fetch sends).  Python's own
http.server serves them; the monitor's http probe fetches each and the snapshot analysis
judges it.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.model import Endpoint, Reason, SnapshotSettings
from tests.conftest import require


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    require("ffmpeg")
    d = tmp_path_factory.mktemp("jpegs")
    _ffmpeg("-f", "lavfi", "-i", "color=black:s=640x360", "-frames:v", "1", str(d / "black.jpg"))
    # testsrc2 at 1 fps: frames 10 s apart differ in the counter and the moving parts
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x360:r=1", "-frames:v", "4", "-q:v", "4",
            str(d / "live%d.jpg"))
    for q in (3, 6, 10):
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x360:r=1", "-frames:v", "1", "-q:v", str(q),
                str(d / f"frozen-q{q}.jpg"))
    return d


@pytest.fixture(scope="module")
def server(pictures):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(pictures)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)


async def _judge(base: str, names: list[str]):
    from monitor.probes import get_probe, run_probe
    from monitor.probes.snapshot import SnapshotHistory, analyse

    history = SnapshotHistory()
    verdicts = []
    for name in names:
        fetched = await run_probe(get_probe("http"), Endpoint(f"{base}/{name}"), 5.0)
        assert fetched.reason is Reason.OK, (name, fetched.message)
        assert fetched.detail["content_type"] == "image/jpeg"
        verdicts.append(analyse(fetched.body, history, SnapshotSettings(frozen_after=3)).reason)
    return verdicts


async def test_black_frame_from_ffmpeg(server):
    assert await _judge(server, ["black.jpg"]) == [Reason.BLACK_IMAGE]


async def test_live_pattern_is_never_frozen(server):
    assert await _judge(server, [f"live{i}.jpg" for i in (1, 2, 3, 4)]) == [Reason.OK] * 4


async def test_one_moment_re_encoded_is_frozen(server):
    names = ["frozen-q3.jpg", "frozen-q6.jpg", "frozen-q10.jpg"]
    assert await _judge(server, names) == [Reason.OK, Reason.OK, Reason.FROZEN_IMAGE]


async def test_same_bytes_again_and_again_is_frozen(server):
    names = ["live1.jpg"] * 3
    assert await _judge(server, names) == [Reason.OK, Reason.OK, Reason.FROZEN_IMAGE]


def test_ffmpeg_really_re_encoded(pictures):
    sizes = {p.stat().st_size for p in pictures.glob("frozen-q*.jpg")}
    assert len(sizes) == 3  # three different files, one picture
    assert shutil.which("ffmpeg")
