"""The rtsp check against fake cameras on 127.0.0.1:0 (tests/rtsp_fakes.py): ok, every
reason it can produce, a timeout; plus the SDP and SPS parsing it relies on."""

from __future__ import annotations

import asyncio
import base64
import errno
import socket

import pytest

from monitor.model import Credentials, Reason, split_credentials
from monitor.probes import get_probe, run_probe
from monitor.probes import sdp as sdp_mod
from tests.rtsp_fakes import (
    PASSWORD,
    PASSWORD_USER,
    SDP_AUDIO_ONLY,
    SDP_H265,
    SDP_MJPEG_SIZE,
    FakeRtspServer,
    h264_sps,
    sdp_h264,
    self_signed_tls,
)


async def run(url: str, timeout: float = 2.0, creds: Credentials | None = None, **ctx_kw):
    endpoint = split_credentials(url, creds)
    return await run_probe(get_probe("rtsp"), endpoint, timeout, trace=[], **ctx_kw)


def assert_no_secret(result) -> None:
    text = "\n".join(result.trace or []) + result.message + repr(result.detail)
    assert PASSWORD not in text
    assert "Authorization" not in text
    assert base64.b64encode(f"{PASSWORD_USER}:{PASSWORD}".encode()).decode() not in text


# --------------------------------------------------------------------------- ok


async def test_ok_options_then_describe_on_one_connection():
    async with FakeRtspServer() as cam:
        result = await run(cam.url)
        assert result.reason is Reason.OK, result.message
        assert result.detail == {"codec": "H264", "width": 1920, "height": 1080, "auth": None,
                                 "status": 200, "clock_offset": None,  # the fake sends no Date
                                 "tls_cert_expiry": None}
        assert cam.methods() == ["OPTIONS", "DESCRIBE"]
        assert [r.headers["cseq"] for r in cam.requests] == ["1", "2"]
        assert cam.requests[1].headers["accept"] == "application/sdp"
        assert cam.requests[0].headers["user-agent"] == "cctv-monitor"
        assert {"connect", "first_byte", "total"} <= set(result.phases)
        trace = result.trace
        assert trace[0] == f"> OPTIONS {cam.url} RTSP/1.0"
        assert trace[1].startswith("< RTSP/1.0 200 OK (") and trace[1].endswith(" ms)")
        assert f"> DESCRIBE {cam.url} RTSP/1.0" in trace
        assert any(line.startswith("sdp: video H264/90000 pt=96 1920x1080") for line in trace)


async def test_ok_feed_uses_the_same_probe():
    from monitor.checks import get_probe as probe_of

    assert probe_of("feed:police-hq") is probe_of("feed") is get_probe("rtsp")


async def test_h265_with_x_dimensions():
    async with FakeRtspServer(sdp=SDP_H265) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.OK
        assert (result.detail["codec"], result.detail["width"], result.detail["height"]) == (
            "H265", 1280, 720)


@pytest.mark.parametrize("profile", [66, 100])
@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (640, 360), (704, 576), (352, 240)])
def test_h264_sps_size(size, profile):
    assert sdp_mod.h264_sps_size(h264_sps(*size, profile)) == size


def test_real_x264_sps():
    # SPS written by x264 (High profile, 320x240, VUI present), from a GStreamer SDP.
    nal = base64.b64decode("Z2QADKzZQUH7ARAAAAMAEAAAAwPI8UKZYA==")
    assert sdp_mod.h264_sps_size(nal) == (320, 240)


# Parameter sets written by real encoders (ffmpeg's libx264 / libx265, yuv420p).
REAL_SPS = [
    ("H264", "Z2QAKKzZQHgCJ+XARAAAAwAEAAADAMg8YMZY", (1920, 1080)),
    ("H264", "Z2QAHqzZQLASbARAAAADAEAAAAyDxYtlgA==", (704, 576)),
    ("H264", "Z2QAH6zZQFAFuwEQAAADABAAAAMDIPGDGWA=", (1280, 720)),
    ("H265", "QgEBAWAAAAMAkAAAAwAAAwBdoAKAgC0WWVmkkyvAWgIAAAMAAgAAAwAyEA==", (1280, 720)),
    ("H265", "QgEBAWAAAAMAkAAAAwAAAwB4oAPAgBDlllZpJMrwFoCAAAADAIAAAAyE", (1920, 1080)),
]


@pytest.mark.parametrize("codec,sps,size", REAL_SPS)
def test_real_encoder_sps_through_sdp(codec, sps, size):
    key = "sprop-parameter-sets" if codec == "H264" else "sprop-sps"
    pt = 96 if codec == "H264" else 97
    text = (f"v=0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP {pt}\r\na=rtpmap:{pt} {codec}/90000\r\n"
            f"a=fmtp:{pt} {key}={sps}\r\n")
    video = sdp_mod.parse(text).video
    assert (video.codec, (video.width, video.height)) == (codec, size)


def test_sdp_size_attributes():
    assert sdp_mod.parse(SDP_MJPEG_SIZE).video.codec == "JPEG"
    assert (sdp_mod.parse(SDP_MJPEG_SIZE).video.width, sdp_mod.parse(SDP_MJPEG_SIZE).video.height) == (704, 576)
    framesize = sdp_h264(extra="a=framesize:96 800-600\r\n").replace("sprop-parameter-sets", "x")
    video = sdp_mod.parse(framesize).video
    assert (video.width, video.height) == (800, 600)


def test_sdp_garbled_sps_is_no_size_not_an_error():
    text = sdp_h264().replace("sprop-parameter-sets=", "sprop-parameter-sets=Z2QA,")
    video = sdp_mod.parse(text).video
    assert video.codec == "H264"


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize("scheme", ["basic", "digest-md5", "digest-sha256", "digest-md5-noqop"])
async def test_auth_ok(scheme):
    async with FakeRtspServer(auth=scheme) as cam:
        result = await run(cam.url_with(PASSWORD_USER, PASSWORD))
        assert result.reason is Reason.OK, result.message
        assert result.detail["auth"] == scheme.split("-")[0]
        assert cam.auth_ok and all(cam.auth_ok), "the server checked and accepted the answer"
        if scheme == "digest-sha256":
            assert "auth: Digest SHA-256 qop=auth" in result.trace
        assert_no_secret(result)


async def test_auth_from_camera_credentials_not_url():
    async with FakeRtspServer(auth="digest-md5") as cam:
        result = await run(cam.url, creds=Credentials(PASSWORD_USER, PASSWORD))
        assert result.reason is Reason.OK, result.message


async def test_digest_stale_nonce_once_then_accepted():
    async with FakeRtspServer(auth="digest-sha256", stale_once=True) as cam:
        result = await run(cam.url_with(PASSWORD_USER, PASSWORD))
        assert result.reason is Reason.OK, result.message
        assert cam.auth_ok[0] is True  # right password, then told the nonce was stale


async def test_server_closes_after_401_client_reconnects():
    async with FakeRtspServer(auth="digest-md5", behaviour="close_after_401") as cam:
        result = await run(cam.url_with(PASSWORD_USER, PASSWORD))
        assert result.reason is Reason.OK, result.message


@pytest.mark.parametrize("scheme", ["basic", "digest-md5", "digest-sha256"])
async def test_auth_failed_with_wrong_password(scheme):
    async with FakeRtspServer(auth=scheme) as cam:
        result = await run(cam.url_with(PASSWORD_USER, "wrong-password"))
        assert result.reason is Reason.AUTH_FAILED, result.message
        assert cam.auth_ok and not any(cam.auth_ok), "the server computed and rejected the hash"
        assert "wrong-password" not in "\n".join(result.trace) + result.message


async def test_auth_required_without_credentials():
    async with FakeRtspServer(auth="digest-md5") as cam:
        result = await run(cam.url)
        assert result.reason is Reason.AUTH_REQUIRED
        assert len(cam.requests) == 1


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    "status,reason",
    [(403, Reason.FORBIDDEN), (404, Reason.NOT_FOUND), (503, Reason.SERVER_ERROR),
     (500, Reason.SERVER_ERROR), (454, Reason.BAD_RESPONSE), (301, Reason.BAD_RESPONSE)],
)
async def test_status_mapping(status, reason):
    async with FakeRtspServer(behaviour="status", status=status) as cam:
        result = await run(cam.url)
        assert result.reason is reason, result.message
        assert str(status) in result.message


async def test_status_on_options():
    async with FakeRtspServer(behaviour="status", status=404, status_on="OPTIONS") as cam:
        assert (await run(cam.url)).reason is Reason.NOT_FOUND


@pytest.mark.parametrize("status", [405, 501])
async def test_options_not_supported_is_not_a_failure(status):
    async with FakeRtspServer(behaviour="status", status=status, status_on="OPTIONS") as cam:
        result = await run(cam.url)
        assert result.reason is Reason.OK, result.message
        assert [r.method for r in cam.requests] == ["OPTIONS", "DESCRIBE"]


async def test_no_video_track():
    async with FakeRtspServer(sdp=SDP_AUDIO_ONLY) as cam:
        result = await run(cam.url)
        assert result.reason is Reason.NO_VIDEO
        assert result.message == "SDP has no video track"


# --------------------------------------------------------------------------- bad answers


@pytest.mark.parametrize(
    "behaviour", ["garbage", "http", "endless_headers", "big_body", "close_mid", "reset_mid", "not_sdp"]
)
async def test_bad_response(behaviour):
    async with FakeRtspServer(behaviour=behaviour) as cam:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        result = await run(cam.url, timeout=3)
        assert result.reason is Reason.BAD_RESPONSE, (behaviour, result.message)
        assert loop.time() - t0 < 2, "a bad answer is judged when seen, not at the deadline"


async def test_not_sdp_body_without_content_type():
    async with FakeRtspServer(sdp="<html>hello</html>") as cam:
        assert (await run(cam.url)).reason is Reason.BAD_RESPONSE


async def test_header_cap_is_the_context_limit():
    async with FakeRtspServer() as cam:
        result = await run(cam.url, max_header_bytes=40)
        assert result.reason is Reason.BAD_RESPONSE
        assert "headers longer than 40 bytes" in result.message


@pytest.mark.parametrize("behaviour", ["tarpit", "trickle"])
async def test_timeout(behaviour):
    async with FakeRtspServer(behaviour=behaviour) as cam:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        result = await run(cam.url, timeout=0.6)
        assert result.reason is Reason.TIMEOUT
        assert loop.time() - t0 < 1.5


async def test_refused():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    assert (await run(f"rtsp://127.0.0.1:{port}/x")).reason is Reason.REFUSED


async def test_dns_error():
    result = await run("rtsp://no-such-camera.invalid/x", timeout=3)
    assert result.reason is Reason.DNS_ERROR


async def test_unreachable(monkeypatch):
    # Loopback cannot produce EHOSTUNREACH: fake the connect error, keep the real mapping.
    loop = asyncio.get_running_loop()

    async def fail(*args, **kwargs):
        raise OSError(errno.EHOSTUNREACH, "No route to host")

    monkeypatch.setattr(loop, "create_connection", fail)
    assert (await run("rtsp://127.0.0.1:9/x")).reason is Reason.UNREACHABLE


async def test_not_an_rtsp_url():
    assert (await run("http://127.0.0.1:9/x")).reason is Reason.BAD_RESPONSE


# --------------------------------------------------------------------------- TLS


async def test_rtsps_ok_with_self_signed_certificate(tmp_path):
    async with FakeRtspServer(tls=self_signed_tls(str(tmp_path)), auth="digest-sha256") as cam:
        result = await run(cam.url_with(PASSWORD_USER, PASSWORD))
        assert result.reason is Reason.OK, result.message


async def test_rtsps_tls_error_when_verifying(tmp_path):
    async with FakeRtspServer(tls=self_signed_tls(str(tmp_path))) as cam:
        result = await run(cam.url, tls_verify=True)
        assert result.reason is Reason.TLS_ERROR, result.message


async def test_rtsps_against_plain_rtsp_is_tls_error():
    # A plain RTSP camera answers the ClientHello with a plain-text 400.
    async def handle(reader, writer):
        await reader.read(100)
        writer.write(b"RTSP/1.0 400 Bad Request\r\nCSeq: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run(f"rtsps://127.0.0.1:{port}/live")
        assert result.reason is Reason.TLS_ERROR, result.message
    finally:
        server.close()
