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

import pytest

from monitor.model import Reason, SnapshotSettings, split_credentials
from monitor.probes import get_probe, run_probe
from monitor.probes.picture import PictureHistory, analyse_keyframes_async

pytestmark = pytest.mark.integration

EXPECTED = {
    "/black": Reason.BLACK_IMAGE,
    "/still": Reason.FROZEN_IMAGE,
    "/moving": Reason.OK,
    "/blue": Reason.UNIFORM_IMAGE,
    "/grey": Reason.UNIFORM_IMAGE,
    "/white": Reason.UNIFORM_IMAGE,
    "/h265": Reason.OK,
    "/h265-still": Reason.FROZEN_IMAGE,
}


async def _check(server: str, path: str):
    stream = await run_probe(get_probe("stream"), split_credentials(f"rtsp://{server}{path}"),
                             8.0, trace=[], stream_duration=2.5)
    assert stream.reason is Reason.OK, (path, stream.message, stream.trace)
    assert stream.keyframes and len(stream.keyframes) == 3, (path, stream.trace)
    picture = await analyse_keyframes_async(stream.detail["codec"], stream.keyframes,
                                            PictureHistory(), SnapshotSettings())
    return stream, picture


async def test_pictures_from_gstreamer(gst_server):
    paths = list(EXPECTED)
    got = await asyncio.gather(*(_check(gst_server, p) for p in paths))
    verdicts = {p: picture.reason for p, (_, picture) in zip(paths, got)}
    assert verdicts == EXPECTED, {p: pic.detail for p, (_, pic) in zip(paths, got)}
    for path, (stream, picture) in zip(paths, got):
        assert stream.detail["codec"] == ("H265" if path.startswith("/h265") else "H264")
        assert picture.detail["keyframes_decoded"] == 3
    still = dict(zip(paths, got))["/still"][1]
    assert still.detail["unchanged"] == 2 and "3 keyframes in a row" in still.message
    moving = dict(zip(paths, got))["/moving"][1]
    assert moving.detail["uniform"] < 0.3 and moving.detail["unchanged"] == 0
