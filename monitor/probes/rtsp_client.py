"""A lean RTSP/1.0 client (RFC 2326) for the rtsp, feed and stream checks.

It owns one connection: requests with CSeq, Session and User-Agent, responses with
Content-Length bodies, Basic/Digest authentication through `monitor.probes.auth`, RTP
frames interleaved on the connection (``$`` channel length payload) and a UDP socket pair
for cameras that refuse RTP over TCP.

Why asyncio's Protocol API and not streams: CPU per check is what bounds checks/s on one
core, and a parser driven from ``data_received`` has no per-read coroutine or StreamReader
buffer; it is also the one place where RTSP answers and interleaved RTP frames are told
apart and every read is bounded.  Measured (tests/bench/bench_rtsp_probe.py, uvloop, alternating
runs of 20,000 checks on a shared, noisy machine): this full client, with auth state,
trace, phases and bounds, costs 0.09-0.12 CPU-ms per OPTIONS+DESCRIBE, about 5-10% less than
a stripped streams version of the same exchange (``--client streams``, no auth, no trace);
the brief's expected ~1.2x is not reproduced on uvloop, where the transport is C either way.

Every read is bounded: status line and headers at most ``ctx.max_header_bytes``, a body at
most ``min(ctx.max_body_bytes, MAX_SDP_BYTES)``; anything else (garbage, oversize,
truncated, closed or reset early) is ``bad_response``.  The client sets no timer of its
own: a camera that trickles bytes is ended by the caller's deadline (``timeout``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Callable

from ..model import Endpoint, ProbeContext, Reason
from .auth import Authenticator
from .base import ProbeError
from .clock import ClockReading
from .status_codes import reason_for_status
from .tcp import cert_not_after, connect, ssl_context

#: An SDP is a few hundred bytes; a DESCRIBE body past this is not a camera's SDP.
MAX_SDP_BYTES = 64 * 1024

_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_")


class Response:
    __slots__ = ("status", "phrase", "headers", "body", "elapsed")

    def __init__(self, status: int, phrase: str, headers: dict[str, list[str]], body: bytes):
        self.status = status
        self.phrase = phrase
        self.headers = headers  # lower-case name -> values in order
        self.body = body
        self.elapsed = 0.0

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.headers.get(name)
        return values[-1] if values else default


def _bad(message: str) -> ProbeError:
    return ProbeError(Reason.BAD_RESPONSE, message)


class _Protocol(asyncio.Protocol):
    """Parses the byte stream into RTSP responses and interleaved RTP frames as it arrives."""

    def __init__(self, max_header: int, max_body: int) -> None:
        self.max_header = max_header
        self.max_body = max_body
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.error: Exception | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_frame: Callable[[int, bytes], None] | None = None
        self.first_byte: float | None = None
        self.received = 0  # bytes so far, to tell "closed before answering" from "mid-answer"
        self.parse_failed = False
        self._head: tuple[int, Response | None, int] | None = None  # parsed, awaiting body

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionError):
            err = _bad("connection reset before the answer was complete")
        elif exc is not None:
            err = exc
        else:
            err = _bad("connection closed before the answer was complete")
        self._fail(err)
        if not self.closed.done():
            self.closed.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def data_received(self, data: bytes) -> None:
        if self.first_byte is None:
            self.first_byte = time.perf_counter()
        self.received += len(data)
        if self.error is not None:
            return
        buf = self.buf
        buf += data
        pos = 0  # consumed bytes are dropped once per call: one memmove, not one per frame
        try:
            n = len(buf)
            while pos < n:
                if buf[pos] == 0x24:  # '$': an interleaved RTP/RTCP frame
                    if n - pos < 4:
                        break
                    end = pos + 4 + ((buf[pos + 2] << 8) | buf[pos + 3])
                    if n < end:
                        break
                    if self.on_frame is not None:
                        self.on_frame(buf[pos + 1], bytes(buf[pos + 4:end]))
                    pos = end
                    continue
                end = self._message(buf, pos)
                if end < 0:
                    break
                pos = end
        except ProbeError as exc:
            self.parse_failed = True
            self._fail(exc)
            if self.transport is not None:
                self.transport.abort()
            return
        if pos:
            del buf[:pos]

    def _message(self, buf: bytearray, pos: int) -> int:
        """Consume one RTSP message from buf at pos; returns the position after it, or -1
        when more bytes are needed."""
        head = self._head
        if head is None:
            if len(buf) - pos >= 5 and buf[pos:pos + 5] != b"RTSP/" and not _METHOD_CHARS.issuperset(
                buf[pos:pos + 4]
            ):
                raise _bad("not an RTSP answer")
            end = buf.find(b"\r\n\r\n", pos, pos + self.max_header + 4)
            if end < 0:
                if len(buf) - pos > self.max_header:
                    raise _bad(f"headers longer than {self.max_header} bytes")
                return -1
            head = self._head = self._parse_head(bytes(buf[pos:end]), end + 4 - pos)
        start, response, length = head
        if len(buf) - pos < start + length:
            return -1
        self._head = None
        body = bytes(buf[pos + start:pos + start + length])
        if response is not None:  # requests from the server (keep-alives) are ignored
            response.body = body
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(response)
        return pos + start + length

    def _parse_head(self, raw: bytes, start: int) -> tuple[int, Response | None, int]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        lines = text.split("\r\n")
        first = lines[0].split(" ", 2)
        response: Response | None = None
        if first[0].startswith("RTSP/1."):
            if len(first) < 2 or len(first[1]) != 3 or not first[1].isdigit():
                raise _bad(f"bad status line {lines[0][:60]!r}")
            response = Response(int(first[1]), first[2] if len(first) > 2 else "", {}, b"")
        elif not (len(first) == 3 and first[2].startswith("RTSP/1.")):
            raise _bad(f"not an RTSP answer ({lines[0][:40]!r})")
        headers: dict[str, list[str]] = {}
        last: list[str] | None = None
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and last is not None:  # folded continuation
                last[-1] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _bad(f"bad header line {line[:40]!r}")
            last = headers.setdefault(name.lower(), [])
            last.append(value.strip())
        length = 0
        if "content-length" in headers:
            try:
                length = int(headers["content-length"][-1])
            except ValueError:
                raise _bad("bad Content-Length") from None
            if length < 0:
                raise _bad("bad Content-Length")
            if length > self.max_body:
                raise _bad(f"body of {length} bytes is over the {self.max_body} byte limit")
        if response is not None:
            response.headers = headers
        return start, response, length


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, channel: int, sink: Callable[[int, bytes], None] | None) -> None:
        self.channel = channel
        self.sink = sink

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.sink is not None:
            self.sink(self.channel, data)


class RtspClient:
    """One RTSP connection to one endpoint.  Use ``await connect()``, ``await request(...)``,
    ``close()``.  Raises ProbeError with the mapped reason for any non-2xx answer."""

    def __init__(self, endpoint: Endpoint, ctx: ProbeContext) -> None:
        self.url = endpoint.url
        self.host, self.port, self.tls = _target(endpoint)
        self.ctx = ctx
        self.trace = ctx.trace
        self.auth = Authenticator(endpoint.credentials)
        self.cseq = 0
        self.session: str | None = None
        self.proto: _Protocol | None = None
        self.on_frame: Callable[[int, bytes], None] | None = None
        self.phases: dict[str, float] = {}
        self.udp: list[asyncio.DatagramTransport] = []
        self.last_status: int | None = None
        self.clock = ClockReading()  # the camera's clock from its answers' Date headers
        self.cert_expiry: float | None = None  # rtsps: the certificate's notAfter (epoch s)
        self._reopened = False
        self._max_body = min(ctx.max_body_bytes, MAX_SDP_BYTES)

    # ------------------------------------------------------------------ connection

    async def connect(self) -> None:
        max_header, max_body = self.ctx.max_header_bytes, self._max_body
        tls = ssl_context(self.ctx.tls_verify) if self.tls else None
        # A reconnect keeps the first connection's phases.
        phases = None if "connect" in self.phases else self.phases
        transport, proto = await connect(
            lambda: _Protocol(max_header, max_body), self.host, self.port, tls=tls, phases=phases
        )
        if tls is not None and self.cert_expiry is None:
            self.cert_expiry = cert_not_after(transport)
        proto.on_frame = self.on_frame
        self.proto = proto

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.abort()
        for t in self.udp:
            t.close()
        self.udp = []

    def set_frame_sink(self, sink: Callable[[int, bytes], None] | None) -> None:
        self.on_frame = sink
        if self.proto is not None:
            self.proto.on_frame = sink

    # ------------------------------------------------------------------ requests

    async def request(
        self, method: str, url: str | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        """Send a request, answering 401 challenges per the Authenticator's policy; returns
        a 2xx response or raises ProbeError with the mapped reason."""
        url = url or self.url
        while True:
            resp = await self._exchange(method, url, headers)
            if resp.status != 401:
                break
            if not self.auth.challenge(resp.headers.get("www-authenticate", [])):
                if self.auth.creds is None:
                    raise ProbeError(Reason.AUTH_REQUIRED, f"{method}: 401, no credentials configured")
                raise ProbeError(Reason.AUTH_FAILED, f"{method}: 401 with the configured credentials")
            if self.trace is not None:
                self.trace.append(f"auth: {self.auth.describe()}")
        check_status(method, resp)
        return resp

    async def _exchange(self, method: str, url: str, headers: dict[str, str] | None) -> Response:
        if self.proto is None:
            await self.connect()
        elif self.proto.closed.done() and not self._reopened:
            # Some cameras close the connection after a 401 or a 461: reopen once.
            self._reopened = True
            await self.connect()
        proto = self.proto
        assert proto is not None
        received = proto.received
        sent = time.perf_counter()
        sent_wall = time.time()
        waiter = self._write(method, url, headers)
        try:
            resp = await waiter
        except ProbeError:
            # Closed with not one byte of this answer, on a connection that answered before:
            # the camera hung up after its last answer (a 401, a 461) and our request crossed
            # the close.  Retry once on a new connection, as HTTP clients do on keep-alive.
            if self._reopened or proto.received != received or proto.parse_failed or self.cseq < 2:
                raise
            self._reopened = True
            await self.connect()
            proto = self.proto
            assert proto is not None
            waiter = self._write(method, url, headers)
            sent = time.perf_counter()
            sent_wall = time.time()
            resp = await waiter
        while True:
            cseq = resp.get("cseq")
            # A late answer to an earlier request (a camera answering twice): skip it.
            if cseq is None or not cseq.isdigit() or int(cseq) >= self.cseq:
                break
            waiter = proto.waiter = asyncio.get_running_loop().create_future()
            resp = await waiter
        proto.waiter = None
        resp.elapsed = time.perf_counter() - sent
        self.clock.take(resp.get("date"), sent_wall, time.time())
        if "first_byte" not in self.phases and proto.first_byte is not None:
            self.phases["first_byte"] = proto.first_byte - sent
        self.last_status = resp.status
        if self.trace is not None:
            self.trace.append(f"< RTSP/1.0 {resp.status} {resp.phrase} ({resp.elapsed * 1000:.1f} ms)")
        return resp

    def _write(self, method: str, url: str, headers: dict[str, str] | None) -> asyncio.Future[Response]:
        proto = self.proto
        if proto is None or proto.transport is None or proto.closed.done():
            raise (proto.error if proto is not None and proto.error else _bad("connection closed"))
        self.cseq += 1
        text = f"{method} {url} RTSP/1.0\r\nCSeq: {self.cseq}\r\nUser-Agent: {self.ctx.user_agent}\r\n"
        if self.session is not None:
            text += f"Session: {self.session}\r\n"
        authorization = self.auth.header(method, url)
        if authorization is not None:
            text += f"Authorization: {authorization}\r\n"
        if headers:
            for k, v in headers.items():
                text += f"{k}: {v}\r\n"
        if self.trace is not None:
            self.trace.append(f"> {method} {url} RTSP/1.0")
        waiter = proto.waiter = asyncio.get_running_loop().create_future()
        proto.transport.write((text + "\r\n").encode("utf-8"))
        return waiter

    def send_only(self, method: str, url: str | None = None) -> asyncio.Future[Response] | None:
        """Write a request (TEARDOWN) and return a future of its answer, or None when the
        connection is gone; the caller decides how long, if at all, to wait."""
        try:
            return self._write(method, url or self.url, None)
        except (ProbeError, OSError):
            return None

    # ------------------------------------------------------------------ UDP

    async def open_udp_pair(self) -> tuple[int, int]:
        """Bind an even/odd pair of UDP ports on the local address of the RTSP connection
        (RFC 3550: RTP on the even port, RTCP on the next); datagrams go to the frame sink
        as channel 0 (RTP) and 1 (RTCP).  Returns the ports."""
        assert self.proto is not None and self.proto.transport is not None
        local = self.proto.transport.get_extra_info("sockname")
        family = socket.AF_INET6 if local and ":" in local[0] else socket.AF_INET
        host = local[0] if local else "0.0.0.0"
        loop = asyncio.get_running_loop()
        for _ in range(20):  # bounded: a free even/odd pair is found in a try or two
            rtp_sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                rtp_sock.bind((host, 0))
                port = rtp_sock.getsockname()[1]
                if port % 2 or port >= 65535:
                    rtp_sock.close()
                    continue
                rtcp_sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    rtcp_sock.bind((host, port + 1))
                except OSError:
                    rtcp_sock.close()
                    rtp_sock.close()
                    continue
            except OSError:
                rtp_sock.close()
                raise
            for channel, sock in ((0, rtp_sock), (1, rtcp_sock)):
                sock.setblocking(False)
                transport, _ = await loop.create_datagram_endpoint(
                    lambda ch=channel: _Datagram(ch, self._udp_sink), sock=sock
                )
                self.udp.append(transport)
            return port, port + 1
        raise OSError("no free even/odd UDP port pair")

    def _udp_sink(self, channel: int, data: bytes) -> None:
        if self.on_frame is not None:
            self.on_frame(channel, data)


def _target(endpoint: Endpoint) -> tuple[str, int, bool]:
    """(host, port, tls) of an rtsp(s) endpoint (parsed once per URL by the model)."""
    try:
        scheme, host, port = endpoint.scheme, endpoint.host, endpoint.port
    except ValueError:
        raise ProbeError(Reason.BAD_RESPONSE, f"not a valid URL: {endpoint.url}") from None
    if scheme not in ("rtsp", "rtsps") or not host or port is None:
        raise ProbeError(Reason.BAD_RESPONSE, f"not an rtsp:// URL: {endpoint.url}")
    return host, port, scheme == "rtsps"


def check_status(method: str, resp: Response, credentials: bool = True) -> None:
    """Raise the reason of a non-2xx answer (a 401 reaches here only once the auth loop
    gave up, hence ``credentials`` defaulting to sent)."""
    reason = reason_for_status(resp.status, credentials=credentials)
    if reason is not Reason.OK:
        raise ProbeError(reason, f"{method}: {resp.status} {resp.phrase}".strip())
