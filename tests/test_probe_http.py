"""The http probe against real servers on 127.0.0.1:0: aiohttp's web server where it is
the better witness (a real HTTP stack), raw asyncio servers for what no real server does
on purpose (garbage, endless headers, truncation, resets, tarpits, Digest verification)."""

from __future__ import annotations

import asyncio
import time
import base64
import contextlib
import hashlib
import io
import socket
import struct

import pytest
from aiohttp import web
from PIL import Image

from monitor.model import Credentials, Endpoint, Reason
from monitor.probes import get_probe
from monitor.probes.auth import parse_challenges
from monitor.probes.base import run_probe
from monitor.probes.http import probe
from tests.rtsp_fakes import self_signed_tls

PASSWORD = "s3cr3t-Pa55"
CREDS = Credentials("admin", PASSWORD)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(out, "JPEG")
    return out.getvalue()


JPEG = _jpeg()


async def run(url: str, creds: Credentials | None = None, timeout: float = 5.0, **ctx_args):
    return await run_probe(probe, Endpoint(url, creds), timeout, trace=[], **ctx_args)


def assert_no_secret(result) -> None:
    text = "\n".join([result.message, *(result.trace or []), repr(result.detail)])
    assert PASSWORD not in text
    assert base64.b64encode(f"admin:{PASSWORD}".encode()).decode() not in text
    assert "authorization" not in text.lower()


# --------------------------------------------------------------------------- servers


@contextlib.asynccontextmanager
async def aiohttp_server(handler, ssl_context=None):
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(handler):
    """`handler(reader, writer)` speaks whatever it likes; connections are counted."""
    stats = {"connections": 0}
    tasks: set[asyncio.Task] = set()

    async def on_connect(reader, writer):
        stats["connections"] += 1
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # our own teardown; re-raising makes asyncio's server log a traceback
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, stats
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {"_line": lines[0]}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers


def answer(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def image_answer(extra: dict[str, str] | None = None) -> bytes:
    return answer("200 OK", {"Content-Type": "image/jpeg", "Content-Length": str(len(JPEG)), **(extra or {})}, JPEG)


# --------------------------------------------------------------------------- basics


async def test_ok_keeps_the_picture_and_reports_detail():
    async def handler(request):
        return web.Response(body=JPEG, content_type="image/jpeg")

    async with aiohttp_server(handler) as port:
        url = f"http://127.0.0.1:{port}/ISAPI/Streaming/channels/101/picture?x=1"
        result = await run(url)
    assert result.reason is Reason.OK, result.message
    assert result.body == JPEG
    offset = result.detail.pop("clock_offset")
    assert result.detail.pop("tls_cert_expiry") is None  # plain http
    assert result.detail == {"status": 200, "content_type": "image/jpeg", "bytes": len(JPEG), "auth": None}
    # the server's Date (1 s resolution, read as +0.5 s) against our clock: same machine
    assert offset is None or abs(offset) <= 0.6
    assert {"connect", "first_byte", "total"} <= set(result.phases)
    assert result.trace[0].startswith("connected to 127.0.0.1:")
    assert f"> GET {url}" in result.trace
    assert any(line.startswith("< HTTP/1.1 200 OK (") and line.endswith(" ms)") for line in result.trace)
    assert f"content: image/jpeg, {len(JPEG)} bytes" in result.trace


def test_registered_as_the_http_check():
    assert get_probe("http") is probe


async def test_wrong_content_type():
    async def handler(request):
        return web.Response(text="<html>login</html>", content_type="text/html")

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.WRONG_CONTENT
    assert result.detail["content_type"].startswith("text/html")
    assert result.body is None


@pytest.mark.parametrize(
    "status, reason",
    [
        (403, Reason.FORBIDDEN),
        (404, Reason.NOT_FOUND),
        (500, Reason.SERVER_ERROR),
        (503, Reason.SERVER_ERROR),
        (302, Reason.BAD_RESPONSE),
        (204, Reason.BAD_RESPONSE),
    ],
)
async def test_status_codes(status, reason):
    async def handler(request):
        if status == 302:
            raise web.HTTPFound("http://user:pw@example.invalid/")
        return web.Response(status=status)

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/snap.jpg")
    assert result.reason is reason, result.message
    assert result.detail["status"] == status
    assert "pw" not in result.message


async def test_interim_100_continue_is_skipped():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + image_answer())
        await writer.drain()

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.OK and result.body == JPEG


async def test_body_until_close_http10():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n\r\n" + JPEG)
        await writer.drain()

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.OK and result.body == JPEG


async def test_empty_picture_is_bad_response():
    async def handler(request):
        return web.Response(body=b"", content_type="image/jpeg")

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.BAD_RESPONSE


# --------------------------------------------------------------------------- chunked


async def test_chunked_body_from_aiohttp():
    async def handler(request):
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(JPEG), 100):
            await response.write(JPEG[i : i + 100])
        await response.write_eof()
        return response

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.OK, result.message
    assert result.body == JPEG


async def test_chunked_with_extensions_trailer_and_tiny_writes():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n")
        parts = [JPEG[:10], JPEG[10:500], JPEG[500:]]
        for part in parts:
            chunk = f"{len(part):X};name=value\r\n".encode() + part + b"\r\n"
            for i in range(0, len(chunk), 7):  # split across TCP segments
                writer.write(chunk[i : i + 7])
                await writer.drain()
        writer.write(b"0\r\nX-Trailer: 1\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(10)  # keep-alive: the probe must not wait for a close

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.OK, result.message
    assert result.body == JPEG


@pytest.mark.parametrize(
    "body, message",
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
        (b"5\r\nabc", "truncated"),  # then close
        (b"3\r\nabcXY0\r\n\r\n", "CRLF"),
    ],
)
async def test_broken_chunked_bodies(body, message):
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        await writer.drain()

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.BAD_RESPONSE
    assert message in result.message


# --------------------------------------------------------------------------- bad answers


async def test_garbage_is_bad_response_without_waiting():
    async def handler(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await asyncio.sleep(10)  # no blank line ever comes

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/", timeout=5.0)
    # bad_response, not timeout: the header cap ended it, not the 5 s deadline
    assert result.reason is Reason.BAD_RESPONSE
    assert "not an HTTP answer" in result.message


async def test_bad_status_line():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 2000 Fine\r\n\r\n")
        await writer.drain()

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.BAD_RESPONSE
    assert "bad status line" in result.message


async def test_oversize_body_by_content_length():
    async def handler(request):
        return web.Response(body=b"\xff" * 5000, content_type="image/jpeg")

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/", max_body_bytes=1000)
    assert result.reason is Reason.BAD_RESPONSE
    assert result.message == "body larger than 1000 bytes"


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_oversize_body_without_length(framing):
    sent = {"bytes": 0}

    async def handler(reader, writer):
        await read_request(reader)
        te = "Transfer-Encoding: chunked\r\n" if framing == "chunked" else ""
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n{te}\r\n".encode())
        for _ in range(2000):  # bounded: 2000 x 4 KB at most
            block = b"\xab" * 4096
            writer.write(b"1000\r\n" + block + b"\r\n" if framing == "chunked" else block)
            await writer.drain()
            sent["bytes"] += 4096

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/", max_body_bytes=100_000)
    assert result.reason is Reason.BAD_RESPONSE
    assert result.message == "body larger than 100000 bytes"
    assert sent["bytes"] < 2000 * 4096  # the probe stopped reading, the server gave up


async def test_endless_headers():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(100_000):  # bounded; the probe hangs up long before
            writer.write(f"X-Filler-{i}: {'y' * 50}\r\n".encode())
            await writer.drain()

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/", max_header_bytes=16 * 1024)
    assert result.reason is Reason.BAD_RESPONSE
    assert result.message == f"headers larger than {16 * 1024} bytes"


async def test_truncated_body():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(answer("200 OK", {"Content-Type": "image/jpeg", "Content-Length": "1000"}, JPEG[:500]))
        await writer.drain()  # then close

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.BAD_RESPONSE
    assert "truncated" in result.message


async def test_closed_without_answer():
    async def handler(reader, writer):
        await read_request(reader)

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.BAD_RESPONSE
    assert "without an answer" in result.message


async def test_reset_mid_headers():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Ty")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.BAD_RESPONSE
    assert "reset" in result.message or "closed" in result.message


async def test_refused():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = await run(f"http://127.0.0.1:{port}/")
    assert result.reason is Reason.REFUSED


async def test_tarpit_times_out():
    async def handler(reader, writer):
        await asyncio.sleep(30)

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/", timeout=0.3)
    assert result.reason is Reason.TIMEOUT
    assert result.duration >= 0.25  # it waited for the deadline (no upper bound: load)


async def test_trickle_times_out():
    async def handler(reader, writer):
        await read_request(reader)
        for byte in image_answer():  # one byte every 50 ms: ~minutes for the whole answer
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/", timeout=0.5)
    assert result.reason is Reason.TIMEOUT


# --------------------------------------------------------------------------- authentication


def digest_server(algorithm: str = "MD5", password: str = PASSWORD, stale_once: bool = False,
                  keep_alive: bool = True):
    """A raw server that checks the Digest response itself (RFC 7616), hash by hash."""
    state = {"nonce": 0, "requests": 0, "stale_sent": False}
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]

    def H(text: str) -> str:
        return h(text.encode()).hexdigest()

    def challenge(stale: bool = False) -> bytes:
        state["nonce"] += 1
        nonce = f"nonce{state['nonce']}"
        value = f'Digest realm="cam", qop="auth", nonce="{nonce}", algorithm={algorithm}, opaque="op"'
        if stale:
            value += ", stale=true"
        headers = {"WWW-Authenticate": value, "Content-Length": "9", "Content-Type": "text/plain"}
        if not keep_alive:
            headers["Connection"] = "close"
        return answer("401 Unauthorized", headers, b"no entry!")

    def verify(value: str) -> str:
        (c,) = parse_challenges([value])
        p = c.params
        if c.scheme != "digest" or p.get("nonce") != f"nonce{state['nonce']}":
            return "stale" if c.scheme == "digest" else "bad"
        ha1 = H(f"{p['username']}:{p['realm']}:{password}")
        ha2 = H(f"GET:{p['uri']}")
        expected = H(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
        ok = p["response"] == expected and p.get("opaque") == "op" and p["uri"] == "/pic"
        return "ok" if ok else "bad"

    async def handler(reader, writer):
        for _ in range(5):
            request = await read_request(reader)
            state["requests"] += 1
            value = request.get("authorization")
            if value is None:
                writer.write(challenge())
            else:
                verdict = verify(value)
                if verdict == "ok" and stale_once and not state["stale_sent"]:
                    state["stale_sent"] = True
                    writer.write(challenge(stale=True))
                elif verdict == "ok":
                    writer.write(image_answer())
                elif verdict == "stale":
                    writer.write(challenge(stale=True))
                else:
                    writer.write(challenge())
            await writer.drain()
            if not keep_alive:
                return

    return handler, state


async def test_auth_required_without_credentials():
    handler, _ = digest_server()
    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/pic")
    assert result.reason is Reason.AUTH_REQUIRED
    assert result.detail["status"] == 401


async def test_basic_ok():
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()

    async def handler(request):
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="cam"'})
        return web.Response(body=JPEG, content_type="image/jpeg")

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/snap", CREDS)
    assert result.reason is Reason.OK, result.message
    assert result.detail["auth"] == "basic"
    assert "auth: Basic" in result.trace
    assert_no_secret(result)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
async def test_digest_ok_on_one_connection(algorithm):
    handler, state = digest_server(algorithm)
    async with raw_server(handler) as (port, stats):
        result = await run(f"http://127.0.0.1:{port}/pic", CREDS)
    assert result.reason is Reason.OK, result.message
    assert result.body == JPEG
    assert result.detail["auth"] == "digest"
    assert state["requests"] == 2
    assert stats["connections"] == 1  # the 401's connection was kept for the answer
    assert f"auth: Digest {algorithm} qop=auth" in result.trace
    assert_no_secret(result)


async def test_digest_ok_when_camera_closes_after_401():
    handler, state = digest_server("MD5", keep_alive=False)
    async with raw_server(handler) as (port, stats):
        result = await run(f"http://127.0.0.1:{port}/pic", CREDS)
    assert result.reason is Reason.OK, result.message
    assert stats["connections"] == 2


async def test_stale_nonce_then_ok():
    handler, state = digest_server("MD5", stale_once=True)
    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/pic", CREDS)
    assert result.reason is Reason.OK, result.message
    assert state["requests"] == 3


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
async def test_wrong_password_is_auth_failed(algorithm):
    handler, state = digest_server(algorithm, password="another-one")
    async with raw_server(handler) as (port, _):
        result = await run(f"http://127.0.0.1:{port}/pic", CREDS)
    assert result.reason is Reason.AUTH_FAILED
    assert state["requests"] == 2
    assert_no_secret(result)


async def test_basic_wrong_password_is_auth_failed():
    async def handler(request):
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="cam"'})

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/snap", CREDS)
    assert result.reason is Reason.AUTH_FAILED
    assert_no_secret(result)


async def test_unsupported_scheme_with_credentials_is_auth_failed():
    async def handler(request):
        return web.Response(status=401, headers={"WWW-Authenticate": "NTLM"})

    async with aiohttp_server(handler) as port:
        result = await run(f"http://127.0.0.1:{port}/snap", CREDS)
    assert result.reason is Reason.AUTH_FAILED
    assert "ntlm" in result.message


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    return self_signed_tls(str(tmp_path_factory.mktemp("tls")))


async def test_tls_self_signed_ok_without_verification(self_signed):
    async def handler(request):
        return web.Response(body=JPEG, content_type="image/jpeg")

    async with aiohttp_server(handler, ssl_context=self_signed) as port:
        result = await run(f"https://127.0.0.1:{port}/snap")
        verified = await run(f"https://127.0.0.1:{port}/snap", tls_verify=True)
    assert result.reason is Reason.OK, result.message
    assert result.body == JPEG
    assert "tls" in result.phases
    # the certificate's notAfter from the same handshake: made for 1 day (openssl -days 1)
    expiry = result.detail["tls_cert_expiry"]
    assert expiry is not None and 0 < expiry - time.time() <= 86400 + 60
    assert any(line.startswith("tls: TLSv1.") for line in result.trace)
    assert verified.reason is Reason.TLS_ERROR
    assert "CERTIFICATE_VERIFY_FAILED" in verified.message


async def test_tls_against_plain_garbage_is_tls_error():
    """A plain-TCP server answering garbage to a ClientHello fails the handshake: tls_error
    (the TCP connect worked, the TLS layer did not; not bad_response, which is reserved
    for a broken HTTP answer)."""

    async def handler(reader, writer):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n<html>plain http</html>")
        await writer.drain()
        await asyncio.sleep(5)

    async with raw_server(handler) as (port, _):
        result = await run(f"https://127.0.0.1:{port}/snap")
    assert result.reason is Reason.TLS_ERROR, result.message


async def test_tls_server_closing_during_handshake_is_tls_error():
    async def handler(reader, writer):
        await reader.read(1024)  # the ClientHello, then hang up

    async with raw_server(handler) as (port, _):
        result = await run(f"https://127.0.0.1:{port}/snap")
    assert result.reason is Reason.TLS_ERROR, result.message


# --------------------------------------------------------------------------- uvloop

# The daemon runs uvloop, whose transports and TLS are its own code: the cases that touch
# them run again there (sync tests with their own runner, so pytest-asyncio's loop is not
# involved).
UVLOOP_CASES = [
    (test_ok_keeps_the_picture_and_reports_detail, ()),
    (test_chunked_with_extensions_trailer_and_tiny_writes, ()),
    (test_garbage_is_bad_response_without_waiting, ()),
    (test_oversize_body_without_length, ("chunked",)),
    (test_endless_headers, ()),
    (test_truncated_body, ()),
    (test_reset_mid_headers, ()),
    (test_refused, ()),
    (test_tarpit_times_out, ()),
    (test_digest_ok_on_one_connection, ("SHA-256",)),
    (test_digest_ok_when_camera_closes_after_401, ()),
    (test_stale_nonce_then_ok, ()),
    (test_tls_self_signed_ok_without_verification, ("self_signed",)),
    (test_tls_against_plain_garbage_is_tls_error, ()),
    (test_tls_server_closing_during_handshake_is_tls_error, ()),
]


@pytest.mark.parametrize("case, args", UVLOOP_CASES, ids=[c.__name__.removeprefix("test_") for c, _ in UVLOOP_CASES])
def test_on_uvloop(case, args, request):
    import uvloop
    args = tuple(request.getfixturevalue(a) if a == "self_signed" else a for a in args)

    async def checked():
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        await case(*args)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(checked())
