"""Picture health from a real RTSP server: GStreamer's GstRtspServer
(tests/witness/gst_rtsp_server.py) serving a black, a still, a moving and flat-colour
pictures through x264enc/rtph264pay and x265enc/rtph265pay.

The stream probe keeps the keyframes of its window, the picture analysis decodes them
(PyAV) and judges them: black, frozen (a still frame re-encoded keyframe after keyframe by
x264's rate control), uniform (blue, grey, white), and ok for the moving picture, in H.264
and H.265.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from monitor.model import Reason, SnapshotSettings, split_credentials
from monitor.probes import get_probe, run_probe
from monitor.probes.picture import PictureHistory, analyse_keyframes_async

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EXPECTED = {
    "/black": Reason.BLACK_IMAGE,
    "/still": Reason.FROZEN_IMAGE,
    "/moving": Reason.OK,
    "/blue": Reason.UNIFORM_IMAGE,
    "/grey": Reason.UNIFORM_IMAGE,
    "/white": Reason.UNIFORM_IMAGE,
    "/h265": Reason.OK,
    "/h265-still": Reason.FROZEN_IMAGE,
    "/ball": Reason.OK,  # 98 % one colour, and moving
    "/night": Reason.OK,
    "/placard": Reason.UNIFORM_IMAGE,  # with its clock ticking
    "/taped": Reason.UNIFORM_IMAGE,
}


async def _check(server: str, path: str, checks: int = 2,
                 settings: SnapshotSettings = SnapshotSettings(frozen_after=2)):
    """`checks` stream checks of one camera, one history, as the daemon runs them; the last
    check's stream and picture results."""
    history = PictureHistory()
    for _ in range(checks):
        stream = await run_probe(get_probe("stream"), split_credentials(f"rtsp://{server}{path}"),
                                 9.0, trace=[], stream_duration=3.0)
        assert stream.reason is Reason.OK, (path, stream.message, stream.trace)
        # a keyframe every half second: at least two in the window even on a loaded machine
        # (x265 can fall behind its frame rate)
        assert stream.keyframes and len(stream.keyframes) >= 2, (path, stream.trace)
        picture = await analyse_keyframes_async(stream.detail["codec"], stream.keyframes,
                                                history, settings)
    return stream, picture


async def test_pictures_from_gstreamer(gst_server):
    paths = list(EXPECTED)
    got = await asyncio.gather(*(_check(gst_server, p) for p in paths))
    verdicts = {p: picture.reason for p, (_, picture) in zip(paths, got)}
    assert verdicts == EXPECTED, {p: pic.detail for p, (_, pic) in zip(paths, got)}
    for path, (stream, picture) in zip(paths, got):
        assert stream.detail["codec"] == ("H265" if path.startswith("/h265") else "H264")
        # a moving picture is usually settled by the window's last keyframe against the
        # previous check's (a test pattern's periodic motion can bring it back to the same
        # place: then all are decoded); a still or uniform one decodes them all
        if EXPECTED[path] is Reason.OK:
            assert 1 <= picture.detail["keyframes_decoded"] <= len(stream.keyframes)
        else:
            assert picture.detail["keyframes_decoded"] == len(stream.keyframes)
    still = dict(zip(paths, got))["/still"][1]
    assert still.detail["unchanged"] >= 1 and "keyframes in a row" in still.message
    moving = dict(zip(paths, got))["/moving"][1]
    assert moving.detail["uniform"] < 0.3 and moving.detail["unchanged"] == 0


async def test_still_picture_behind_a_per_session_encoder_is_frozen(gst_server):
    # a new x264 (constant bitrate) for every session: each check's first keyframe is coded
    # at another quality than the later ones; frozen within frozen_after checks all the same
    settings = SnapshotSettings()
    stream, picture = await _check(gst_server, "/still-cbr", settings.frozen_after, settings)
    assert picture.reason is Reason.FROZEN_IMAGE, (picture.message, picture.detail)
    assert (stream.detail["width"], stream.detail["height"]) == (320, 240)


@pytest.mark.parametrize("path,reason", [("/black", "black_image"), ("/still", "frozen_image"),
                                         ("/blue", "uniform_image"), ("/moving", "ok")])
async def test_probe_command_names_the_picture(gst_server, path, reason):  # noqa: F811
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "probe", f"rtsp://{gst_server}{path}", "--check",
        "stream", "--duration", "3.5", "-v",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": ROOT})
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert f": {reason} in" in text, text
    assert "keyframes kept for the picture: 4" in text and "4 keyframes decoded" in text, text
    assert "camera clock" in text, text
    assert proc.returncode == (0 if reason == "ok" else 1), text


async def test_daemon_schedules_the_picture_check_after_the_stream(gst_server):
    from monitor.model import MonitorSettings, StreamSettings
    from monitor.runtime.scheduler import Scheduler
    from monitor.state import State
    from tests.factories import make_camera, make_inventory

    settings = MonitorSettings(interval=60, timeout=3.0,
                               stream=StreamSettings(interval=4, duration=3.0),
                               snapshot=SnapshotSettings(frozen_after=2))
    cams = [make_camera(i, checks=("stream", "picture"), feeds=False,
                        rtsp=split_credentials(f"rtsp://{gst_server}{path}"))
            for i, path in enumerate(("/still", "/grey", "/h265"))]
    st = State(make_inventory(cameras=cams, settings=settings))
    sc = Scheduler(st)
    await sc.start()
    try:
        for _ in range(200):  # bounded: the first stream round is due at its phase, < 4 s
            await asyncio.sleep(0.1)
            if all("picture" in st.cameras[c.id].results for c in cams):
                break
    finally:
        await sc.stop()
    got = {c.id: st.cameras[c.id].results.get("picture") for c in cams}
    assert [r.reason if r else None for r in got.values()] == [
        Reason.FROZEN_IMAGE, Reason.UNIFORM_IMAGE, Reason.OK], got
    assert all(st.cameras[c.id].results["stream"].keyframes is None for c in cams)
    assert st.memory(cams[0].id, "picture")["history"].unchanged >= 2
