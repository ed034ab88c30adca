"""The rtsp and stream checks against a third-party RTSP server: GStreamer's GstRtspServer
(tests/witness/gst_rtsp_server.py, run under /usr/bin/python3 where `gi` lives).

A witness we did not write catches what our own fakes would agree with us on: real SDP
from rtph264pay (the x264 SPS parsed for the size), GStreamer's Digest challenge, real
interleaved RTP with x264's NAL packaging, real keyframe intervals.
"""

from __future__ import annotations

import time

import pytest

from monitor.model import Reason, split_credentials
from monitor.probes import get_probe, run_probe
from tests.conftest import GST_PASSWORD as PASSWORD
from tests.conftest import GST_USER as USER

pytestmark = pytest.mark.integration

DURATION = 2.5


async def _probe(check: str, url: str, timeout: float = 5.0):
    return await run_probe(get_probe(check), split_credentials(url), timeout, trace=[],
                           stream_duration=DURATION)


async def test_rtsp_ok_with_codec_and_size(gst_server):
    result = await _probe("rtsp", f"rtsp://{gst_server}/live")
    assert result.reason is Reason.OK, (result.message, result.trace)
    assert result.detail["codec"] == "H264"
    assert (result.detail["width"], result.detail["height"]) == (640, 360)


async def test_digest_right_password(gst_server):
    result = await _probe("rtsp", f"rtsp://{USER}:{PASSWORD}@{gst_server}/auth")
    assert result.reason is Reason.OK, (result.message, result.trace)
    assert result.detail["auth"] == "digest"
    assert PASSWORD not in "\n".join(result.trace)


async def test_digest_wrong_password(gst_server):
    result = await _probe("rtsp", f"rtsp://{USER}:wrong@{gst_server}/auth")
    assert result.reason is Reason.AUTH_FAILED, (result.message, result.trace)


async def test_digest_no_credentials(gst_server):
    result = await _probe("rtsp", f"rtsp://{gst_server}/auth")
    assert result.reason is Reason.AUTH_REQUIRED, (result.message, result.trace)


async def test_stream_ok_on_live(gst_server):
    result = await _probe("stream", f"rtsp://{gst_server}/live")
    assert result.reason is Reason.OK, (result.message, result.trace)
    d = result.detail
    assert d["transport"] == "tcp"
    assert d["fps"] is not None and 10 <= d["fps"] <= 60, d
    assert d["packets"] > 10 and d["bytes_per_second"] > 0
    assert (d["width"], d["height"]) == (640, 360)


async def test_stream_ok_with_digest(gst_server):
    result = await _probe("stream", f"rtsp://{USER}:{PASSWORD}@{gst_server}/auth")
    assert result.reason is Reason.OK, (result.message, result.trace)


async def test_stream_nokey_is_no_video(gst_server):
    result = await _probe("stream", f"rtsp://{gst_server}/nokey")
    assert result.reason is Reason.NO_VIDEO, (result.message, result.trace)


async def test_stream_stall_is_no_video(gst_server):
    t0 = time.monotonic()
    result = await _probe("stream", f"rtsp://{gst_server}/stall")
    assert result.reason in (Reason.NO_VIDEO, Reason.TIMEOUT), (result.message, result.trace)
    # watched past the window for a resumption, never past the 5 s deadline
    assert time.monotonic() - t0 < 5.0 + 1


async def test_a_two_second_pause_is_not_no_video(gst_server):
    # the server goes silent from 1.8 s to 4.0 s of the session: the 4 s window ends in the
    # pause, the check keeps watching and sees the stream resume
    result = await run_probe(get_probe("stream"), split_credentials(f"rtsp://{gst_server}/pause"),
                             9.0, trace=[], stream_duration=4.0)
    assert result.reason is Reason.OK, (result.message, result.trace)
    assert result.detail["stalls"] >= 1, result.detail
    assert 1.5 < result.detail["longest_gap"] < 4.0, result.detail
