"""The stream check against fake cameras sending RTP (tests/rtsp_fakes.py): ok over TCP and
over UDP (after 461), every reason it can produce and a timeout; plus the RTP accounting
and keyframe detection it relies on."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct

import pytest

from monitor.model import Reason, split_credentials
from monitor.probes import get_probe, run_probe
from monitor.probes.rtp import RtpStats, h264_is_key, h265_is_key
from monitor.probes.stream import STALL_GRACE, control_url
from tests.rtsp_fakes import PASSWORD, PASSWORD_USER, SDP_AUDIO_ONLY, SDP_H265, FakeRtspServer

DURATION = 1.5


async def run(url: str, timeout: float = 3.0, duration: float = DURATION):
    return await run_probe(get_probe("stream"), split_credentials(url), timeout, trace=[],
                           stream_duration=duration)


# --------------------------------------------------------------------------- ok


async def test_ok_over_tcp_interleaved():
    async with FakeRtspServer(media="h264", fps=25, gop=10) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.OK, result.message
        d = result.detail
        assert d["transport"] == "tcp"
        assert (d["codec"], d["width"], d["height"]) == ("H264", 1920, 1080)
        assert d["packets"] > 20
        assert 24 <= d["fps"] <= 26
        assert d["keyframe_interval"] == pytest.approx(0.4, abs=0.01)  # gop 10 at 25 fps
        assert d["bytes_per_second"] > 1000
        assert cam.methods() == ["DESCRIBE", "SETUP", "PLAY", "TEARDOWN"]
        setup = cam.requests[1]
        assert setup.url == cam.url + "/trackID=1"  # control resolved against Content-Base
        assert setup.headers["transport"] == "RTP/AVP/TCP;unicast;interleaved=0-1"
        assert cam.requests[2].headers["session"] == "5A5A5A5A"
        assert cam.requests[3].headers["session"] == "5A5A5A5A"
        assert any(line.startswith("stream: ") and "fps 25.0" in line for line in result.trace)
        assert result.duration < DURATION + 0.5


async def test_udp_fallback_after_461():
    async with FakeRtspServer(media="h264", force_udp=True) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.OK, result.message
        assert result.detail["transport"] == "udp"
        assert "RTP/AVP;unicast;client_port=" in cam.requests[2].headers["transport"]
        assert "TEARDOWN" in cam.methods()


@pytest.mark.parametrize("media", ["stapa_fua", "stapa_only"])
async def test_keyframe_through_fu_a_and_stap_a(media):
    async with FakeRtspServer(media=media) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.OK, result.message


async def test_h265_ap_and_fu():
    async with FakeRtspServer(media="h265", sdp=SDP_H265) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.OK, result.message
        assert result.detail["codec"] == "H265"
        assert cam.requests[1].url == cam.url + "/track1"


async def test_digest_sha256_through_the_whole_session():
    async with FakeRtspServer(auth="digest-sha256") as cam:
        result = await run(cam.url_with(PASSWORD_USER, PASSWORD))
        assert result.reason is Reason.OK, result.message
        assert all(cam.auth_ok) and len(cam.auth_ok) >= 4  # DESCRIBE, SETUP, PLAY, TEARDOWN
        assert PASSWORD not in "\n".join(result.trace)


async def test_media_window_ends_before_the_deadline():
    # duration 4 s but a 1.2 s deadline: media stops 0.25 s before it, the verdict is kept.
    async with FakeRtspServer(media="h264") as cam:
        result = await run(cam.url, timeout=1.2, duration=4.0)
        # ok, not timeout: the media stopped and the verdict came before the deadline cut
        assert result.reason is Reason.OK, result.message


# --------------------------------------------------------------------------- no_video


@pytest.mark.parametrize(
    "media,words",
    [("nokey", "no keyframe"), ("none", "no media packets"), ("stall", "stalled"),
     ("frozen_ts", "timestamps did not advance"), ("close_early", "")],
)
async def test_no_video(media, words):
    async with FakeRtspServer(media=media) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.NO_VIDEO, result.message
        assert words in result.message
        # a stall is watched a little longer (bounded by the grace and the deadline) in case
        # the stream resumes
        grace = STALL_GRACE if media == "stall" else 0.0
        assert result.duration < DURATION + grace + 0.5
        if media == "stall":
            assert result.detail["stalls"] == 1 and result.detail["longest_gap"] > 1.5


async def test_no_video_track():
    async with FakeRtspServer(sdp=SDP_AUDIO_ONLY) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.NO_VIDEO
        assert result.message == "SDP has no video track"


async def test_nokey_over_udp():
    async with FakeRtspServer(media="nokey", force_udp=True) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.NO_VIDEO
        assert result.detail["transport"] == "udp" and result.detail["packets"] > 0


# --------------------------------------------------------------------------- rtsp reasons


async def test_invalid_rtp_is_bad_response():
    async with FakeRtspServer(media="badrtp") as cam:
        assert (await run(cam.url)).reason is Reason.BAD_RESPONSE


@pytest.mark.parametrize(
    "status,method,reason",
    [(454, "PLAY", Reason.BAD_RESPONSE), (404, "SETUP", Reason.NOT_FOUND),
     (403, "DESCRIBE", Reason.FORBIDDEN), (503, "PLAY", Reason.SERVER_ERROR)],
)
async def test_status_mapping(status, method, reason):
    async with FakeRtspServer(behaviour="status", status=status, status_on=method) as cam:
        assert (await run(cam.url)).reason is reason


async def test_auth_failed_and_required():
    async with FakeRtspServer(auth="digest-md5") as cam:
        assert (await run(cam.url_with(PASSWORD_USER, "nope"))).reason is Reason.AUTH_FAILED
        assert (await run(cam.url)).reason is Reason.AUTH_REQUIRED


@pytest.mark.parametrize("behaviour", ["garbage", "close_mid"])
async def test_bad_response(behaviour):
    async with FakeRtspServer(behaviour=behaviour) as cam:
        assert (await run(cam.url)).reason is Reason.BAD_RESPONSE


async def test_refused_and_unreachable(monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    assert (await run(f"rtsp://127.0.0.1:{port}/live")).reason is Reason.REFUSED
    loop = asyncio.get_running_loop()

    async def fail(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(loop, "create_connection", fail)
    assert (await run(f"rtsp://127.0.0.1:{port}/live")).reason is Reason.UNREACHABLE


async def test_timeout():
    async with FakeRtspServer(behaviour="tarpit") as cam:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        result = await run(cam.url, timeout=0.6)
        assert result.reason is Reason.TIMEOUT
        assert loop.time() - t0 < 1.5


# --------------------------------------------------------------------------- units


def test_control_url():
    assert control_url("rtsp://h/live/", "trackID=1") == "rtsp://h/live/trackID=1"
    assert control_url("rtsp://h/live", "trackID=1") == "rtsp://h/live/trackID=1"
    assert control_url("rtsp://h/live", "rtsp://h/x/1") == "rtsp://h/x/1"
    assert control_url("rtsp://h/live", "*") == "rtsp://h/live"
    assert control_url("rtsp://h/live", None) == "rtsp://h/live"


def test_keyframe_detection_units():
    assert h264_is_key(bytes([0x65, 0]))  # IDR
    assert h264_is_key(bytes([0x67, 0]))  # SPS
    assert not h264_is_key(bytes([0x41, 0]))
    stap = bytes([0x78]) + struct.pack("!H", 2) + bytes([0x06, 0]) + struct.pack("!H", 2) + bytes([0x68, 0])
    assert h264_is_key(stap)
    assert not h264_is_key(bytes([0x78]) + struct.pack("!H", 2) + bytes([0x06, 0]))
    assert h264_is_key(bytes([0x7C, 0x85, 1]))  # FU-A start of an IDR
    assert not h264_is_key(bytes([0x7C, 0x05, 1]))  # middle fragment
    assert not h264_is_key(bytes([0x7C, 0x81, 1]))  # FU-A start of a non-IDR
    assert h265_is_key(bytes([19 << 1, 1]))  # IDR_W_RADL
    assert h265_is_key(bytes([32 << 1, 1]))  # VPS
    assert not h265_is_key(bytes([1 << 1, 1]))
    assert h265_is_key(bytes([49 << 1, 1, 0x80 | 20]))  # FU start, CRA
    assert not h265_is_key(bytes([49 << 1, 1, 20]))
    ap = bytes([48 << 1, 1]) + struct.pack("!H", 2) + bytes([33 << 1, 1])
    assert h265_is_key(ap)
    assert not h264_is_key(b"") and not h265_is_key(b"\x00")


def _pkt(seq: int, ts: int, marker: bool = True, pt: int = 96, payload: bytes = b"\x41x") -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, 1) + payload


def test_rtp_stats_wraparound_loss_and_fps():
    s = RtpStats(96, 90000, "H264")
    ts = 0xFFFFFFFF - 3000 * 5  # the timestamp wraps mid-window
    seq = 65530
    for i in range(30):
        if i == 10:
            seq += 2  # two packets lost
        s.feed(_pkt(seq, ts, payload=b"\x65x" if i % 10 == 0 else b"\x41x"), float(i))
        seq = (seq + 1) & 0xFFFF
        ts += 3000  # 30 fps
    assert s.packets == 30 and s.lost == 2 and s.invalid == 0
    assert s.fps == pytest.approx(30.0)
    assert s.keyframe_interval == pytest.approx(1 / 3)
    assert s.timestamps_advanced
    s.feed(_pkt(1, 0, pt=0), 31.0)  # a payload type the SDP did not announce
    assert s.invalid == 1
