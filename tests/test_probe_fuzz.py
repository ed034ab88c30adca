"""Hostile cameras: whatever bytes a camera sends, every probe ends in one reason.

Hypothesis generates answers (random bytes, and near-valid RTSP/HTTP answers with broken
status lines, headers, lengths, SDP and interleaved frames); a loopback server sends them
to each probe, which must return a Result whose reason is in the closed set (monitor.model.Reason), within
its deadline, and never raise.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.model import Credentials, Endpoint, Reason

TIMEOUT = 0.6

status_lines = st.sampled_from([
    b"RTSP/1.0 200 OK", b"RTSP/1.0 401 Unauthorized", b"RTSP/1.0 461 Unsupported Transport",
    b"HTTP/1.1 200 OK", b"HTTP/1.1 401 Unauthorized", b"HTTP/1.0 302 Found", b"RTSP/1.0 99999 X",
    b"RTSP/2.0 200 OK", b"", b"RTSP/1.0", b"\x00\xff garbage",
])
header_lines = st.sampled_from([
    b"CSeq: 1", b"CSeq: 2", b"Content-Length: 10", b"Content-Length: -5",
    b"Content-Length: 99999999999", b"Content-Type: application/sdp", b"Content-Type: image/jpeg",
    b"Content-Type: text/html", b"Transfer-Encoding: chunked", b"Session: 1234;timeout=60",
    b'WWW-Authenticate: Digest realm="x", nonce="y", qop="auth", algorithm=SHA-256',
    b'WWW-Authenticate: Digest realm=, nonce', b"WWW-Authenticate: Basic", b" folded",
    b"Transport: RTP/AVP/TCP;unicast;interleaved=0-1", b"no colon here", b":",
])
bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([
        b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n",
        b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=!!!,\r\n",
        b"m=audio 0 RTP/AVP 0\r\n", b"\xff\xd8\xff\xe0garbage", b"5\r\nhello\r\n0\r\n\r\n",
        b"$\x00\x00\x0c\x80\x60\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01", b"$\x00\xff\xff",
    ]),
)


@st.composite
def answers(draw) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(min_size=0, max_size=400))
    parts = [draw(status_lines), *draw(st.lists(header_lines, max_size=6))]
    tail = b"\r\n\r\n" if draw(st.booleans()) else draw(st.sampled_from([b"\r\n", b"", b"\n\n"]))
    return b"\r\n".join(parts) + tail + draw(bodies)


async def _serve_once(answer: bytes, repeat: bool):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                writer.write(answer)
                await writer.drain()
                if not repeat:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _probe(check: str, answer: bytes, repeat: bool, creds: bool) -> Reason:
    from monitor.probes import get_probe, run_probe

    server = await _serve_once(answer, repeat)
    port = server.sockets[0].getsockname()[1]
    scheme = "http" if check == "http" else "rtsp"
    endpoint = Endpoint(f"{scheme}://127.0.0.1:{port}/x", Credentials("u", "CANARY-fuzz") if creds else None)
    loop = asyncio.get_running_loop()
    timeout = TIMEOUT * 2 if check == "stream" else TIMEOUT
    started = loop.time()
    try:
        result = await run_probe(get_probe(check), endpoint, timeout, stream_duration=TIMEOUT,
                                 trace=[])
    finally:
        server.close()
        await server.wait_closed()
    assert loop.time() - started < timeout + 0.5
    assert isinstance(result.reason, Reason)
    shown = "\n".join([result.message, *(result.trace or [])])
    assert "CANARY-fuzz" not in shown
    return result.reason


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(answer=answers(), repeat=st.booleans(), creds=st.booleans())
async def test_rtsp_probe_always_ends_in_a_reason(answer, repeat, creds):
    await _probe("rtsp", answer, repeat, creds)


@FUZZ
@given(answer=answers(), repeat=st.booleans(), creds=st.booleans())
async def test_stream_probe_always_ends_in_a_reason(answer, repeat, creds):
    await _probe("stream", answer, repeat, creds)


@FUZZ
@given(answer=answers(), repeat=st.booleans(), creds=st.booleans())
async def test_http_probe_always_ends_in_a_reason(answer, repeat, creds):
    await _probe("http", answer, repeat, creds)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_snapshot_analysis_of_any_bytes_ends_in_a_reason(data):
    from monitor.model import SnapshotSettings
    from monitor.probes.snapshot import SnapshotHistory, analyse

    result = analyse(data, SnapshotHistory(), SnapshotSettings())
    assert result.reason in (Reason.OK, Reason.BAD_RESPONSE, Reason.BLACK_IMAGE)
