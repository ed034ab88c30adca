"""Fake RTSP cameras for the probe tests: one configurable asyncio server on 127.0.0.1:0.

It answers OPTIONS/DESCRIBE/SETUP/PLAY/TEARDOWN like a camera, and can misbehave on
purpose: 401 Basic or Digest (MD5, SHA-256, qop=auth; the response hash is recomputed here
from the password, independently of monitor.probes.auth), a stale nonce once, fixed error
statuses, garbage, endless headers, trickled bytes, a close or reset mid-answer, a tarpit,
SDP without video; and media: H.264 single NAL units, STAP-A + FU-A, H.265 AP + FU, with or
without keyframes, a stall, frozen timestamps, invalid RTP, 461 forcing RTP over UDP.

Nothing here imports the monitor, so the probes are tested against an independent peer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import socket
import ssl
import struct
import subprocess
from dataclasses import dataclass, field

PASSWORD_USER = "viewer"
PASSWORD = "s3cret-pass"


# --------------------------------------------------------------------------- H.264 SPS


class _BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, v: int) -> None:
        self.bits += [(v >> (n - 1 - i)) & 1 for i in range(n)]

    def ue(self, v: int) -> None:
        v += 1
        n = v.bit_length()
        self.u(n - 1, 0)
        self.u(n, v)

    def rbsp(self) -> bytes:
        bits = self.bits + [1]
        bits += [0] * (-len(bits) % 8)
        raw = bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))
        out = bytearray()
        zeros = 0
        for b in raw:  # emulation prevention, as an encoder must
            if zeros >= 2 and b <= 3:
                out.append(3)
                zeros = 0
            out.append(b)
            zeros = zeros + 1 if b == 0 else 0
        return bytes(out)


def h264_sps(width: int, height: int, profile: int = 66) -> bytes:
    w = _BitWriter()
    w.u(8, 0x67)
    w.u(8, profile)
    w.u(8, 0)
    w.u(8, 40)
    w.ue(0)
    if profile == 100:
        w.ue(1)  # 4:2:0
        w.ue(0)
        w.ue(0)
        w.u(1, 0)
        w.u(1, 0)
    w.ue(0)  # log2_max_frame_num_minus4
    w.ue(2)  # poc type 2
    w.ue(1)
    w.u(1, 0)
    mbs_w, mbs_h = (width + 15) // 16, (height + 15) // 16
    w.ue(mbs_w - 1)
    w.ue(mbs_h - 1)
    w.u(1, 1)  # frame_mbs_only
    w.u(1, 1)
    crop_r, crop_b = (mbs_w * 16 - width) // 2, (mbs_h * 16 - height) // 2
    if crop_r or crop_b:
        w.u(1, 1)
        for v in (0, crop_r, 0, crop_b):
            w.ue(v)
    else:
        w.u(1, 0)
    w.u(1, 0)  # no VUI
    return w.rbsp()


H264_PPS = bytes([0x68, 0xCE, 0x38, 0x80])


def sdp_h264(width: int = 1920, height: int = 1080, profile: int = 100, control: str = "trackID=1",
             extra: str = "") -> str:
    sps = base64.b64encode(h264_sps(width, height, profile)).decode()
    pps = base64.b64encode(H264_PPS).decode()
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=fake\r\nt=0 0\r\na=control:*\r\n"
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
        f"a=fmtp:96 packetization-mode=1;profile-level-id=64001f;sprop-parameter-sets={sps},{pps}\r\n"
        f"a=control:{control}\r\n{extra}"
        "m=audio 0 RTP/AVP 0\r\na=control:trackID=2\r\n"
    )


SDP_H265 = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=fake\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 97\r\na=rtpmap:97 H265/90000\r\na=x-dimensions:1280,720\r\n"
    "a=control:track1\r\n"
)
SDP_MJPEG_SIZE = (
    "v=0\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=cliprect:0,0,576,704\r\na=control:video\r\n"
)
SDP_AUDIO_ONLY = "v=0\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"


def self_signed_tls(directory: str) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate (openssl CLI)."""
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=camera.test"],
        check=True, capture_output=True, timeout=30,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


# --------------------------------------------------------------------------- config


@dataclass
class FakeCamera:
    """What the fake does.  `behaviour`: ok | status | garbage | http | endless_headers |
    trickle | close_mid | reset_mid | tarpit | big_body | not_sdp | close_after_401.
    `media`: h264 | stapa_fua | stapa_only | nokey | h265 | stall | none | badrtp | frozen_ts |
    close_early."""

    behaviour: str = "ok"
    status: int = 200  # for behaviour "status"
    status_on: str = "DESCRIBE"  # the method that gets `status`
    auth: str | None = None  # None | basic | digest-md5 | digest-sha256 | digest-md5-noqop
    username: str = PASSWORD_USER
    password: str = PASSWORD
    stale_once: bool = False
    sdp: str = field(default_factory=sdp_h264)
    content_base: str | None = "{url}/"
    media: str = "h264"
    force_udp: bool = False
    fps: int = 25
    gop: int = 10  # frames per keyframe
    stall_after: float = 0.3


@dataclass
class Seen:
    method: str
    url: str
    headers: dict[str, str]


class FakeRtspServer:
    def __init__(self, cam: FakeCamera | None = None, *, tls: "ssl.SSLContext | None" = None,
                 **kw: object) -> None:
        self.cam = cam or FakeCamera(**kw)  # type: ignore[arg-type]
        self.tls = tls
        self.requests: list[Seen] = []
        self.auth_ok: list[bool] = []  # one verdict per Authorization header checked
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._shared_nonces: list[str] = []

    @property
    def url(self) -> str:
        scheme = "rtsps" if self.tls else "rtsp"
        return f"{scheme}://127.0.0.1:{self.port}/live"

    def url_with(self, user: str, password: str) -> str:
        return self.url.replace("://", f"://{user}:{password}@", 1)

    async def start(self) -> "FakeRtspServer":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for w in list(self._writers):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> "FakeRtspServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    # ------------------------------------------------------------------ connection

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        media: asyncio.Task | None = None
        udp: socket.socket | None = None
        # Nonces are per connection (concurrent clients in the benchmark), except for a camera
        # that hangs up after its 401: the client answers that nonce on its next connection.
        nonces = self._shared_nonces if self.cam.behaviour == "close_after_401" else []
        state: dict = {"udp_to": None, "nonces": nonces}
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, url, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                if length:
                    await reader.readexactly(length)
                self.requests.append(Seen(method, url, headers))
                cseq = headers.get("cseq", "0")
                cam = self.cam
                if cam.behaviour == "tarpit":
                    await asyncio.sleep(3600)
                    return
                if cam.behaviour == "garbage":
                    writer.write(b"\x16\x03\x01 hello, not rtsp at all\r\n\r\n")
                    await writer.drain()
                    continue
                if cam.behaviour == "http":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                if cam.behaviour == "endless_headers":
                    writer.write(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq.encode() + b"\r\n")
                    for _ in range(20000):  # bounded: 20000 * 1 KiB
                        writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
                        await writer.drain()
                    return
                if cam.behaviour == "trickle":
                    for b in f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS\r\n\r\n".encode():
                        writer.write(bytes([b]))
                        await writer.drain()
                        await asyncio.sleep(0.2)
                    continue
                if cam.behaviour in ("close_mid", "reset_mid"):
                    writer.write(f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Len".encode())
                    await writer.drain()
                    if cam.behaviour == "reset_mid":
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort() if cam.behaviour == "reset_mid" else writer.close()
                    return
                if cam.auth and not self._authorized(method, headers, writer, cseq, state["nonces"]):
                    if cam.behaviour == "close_after_401":
                        await writer.drain()
                        writer.close()
                        return
                    continue
                if cam.behaviour == "status" and method == cam.status_on:
                    self._reply(writer, cseq, cam.status, "Error")
                    continue
                if method == "OPTIONS":
                    self._reply(writer, cseq, 200, "OK",
                                {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"})
                elif method == "DESCRIBE":
                    if cam.behaviour == "big_body":
                        writer.write(f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n"
                                     f"Content-Length: {10 * 1024 * 1024}\r\n\r\n".encode())
                        writer.write(b"v=0\r\n" * 20000)
                        continue
                    if cam.behaviour == "not_sdp":
                        self._reply(writer, cseq, 200, "OK", {"Content-Type": "text/html"},
                                    b"<html>camera login</html>")
                        continue
                    extra = {"Content-Type": "application/sdp"}
                    base = self.url.rstrip("/")
                    if cam.content_base:
                        extra["Content-Base"] = cam.content_base.format(url=base)
                    self._reply(writer, cseq, 200, "OK", extra, cam.sdp.encode())
                elif method == "SETUP":
                    transport = headers.get("transport", "")
                    if "RTP/AVP/TCP" in transport:
                        if cam.force_udp:
                            self._reply(writer, cseq, 461, "Unsupported Transport")
                            continue
                        state["udp_to"] = None
                        reply_t = "RTP/AVP/TCP;unicast;interleaved=0-1"
                    else:
                        m = re.search(r"client_port=(\d+)-(\d+)", transport)
                        if not m:
                            self._reply(writer, cseq, 461, "Unsupported Transport")
                            continue
                        peer = writer.get_extra_info("peername")[0]
                        state["udp_to"] = (peer, int(m.group(1)))
                        udp = udp or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        udp.bind(("127.0.0.1", 0))
                        sp = udp.getsockname()[1]
                        reply_t = f"RTP/AVP;unicast;client_port={m.group(1)}-{m.group(2)};server_port={sp}-{sp + 1}"
                    self._reply(writer, cseq, 200, "OK",
                                {"Transport": reply_t, "Session": "5A5A5A5A;timeout=60"})
                elif method == "PLAY":
                    self._reply(writer, cseq, 200, "OK", {"Session": "5A5A5A5A", "Range": "npt=0.000-"})
                    await writer.drain()
                    if media is None:
                        media = asyncio.create_task(self._media(writer, udp, state["udp_to"]))
                        self._tasks.add(media)
                elif method == "TEARDOWN":
                    if media is not None:
                        media.cancel()
                        media = None
                    self._reply(writer, cseq, 200, "OK")
                else:
                    self._reply(writer, cseq, 501, "Not Implemented")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if media is not None:
                media.cancel()
            if udp is not None:
                udp.close()
            writer.transport.abort()
            self._writers.discard(writer)
            self._tasks.discard(task)

    def _reply(self, writer: asyncio.StreamWriter, cseq: str, status: int, phrase: str,
               headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        text = f"RTSP/1.0 {status} {phrase}\r\nCSeq: {cseq}\r\n"
        for k, v in (headers or {}).items():
            text += f"{k}: {v}\r\n"
        if body:
            text += f"Content-Length: {len(body)}\r\n"
        writer.write(text.encode() + b"\r\n" + body)

    # ------------------------------------------------------------------ auth

    def _challenge(self, nonces: list[str], stale: bool = False) -> list[str]:
        cam = self.cam
        if cam.auth == "basic":
            return ['Basic realm="fake camera"']
        nonce = os.urandom(12).hex()
        nonces.append(nonce)
        alg = "SHA-256" if cam.auth == "digest-sha256" else "MD5"
        qop = "" if cam.auth == "digest-md5-noqop" else ', qop="auth"'
        text = f'Digest realm="fake camera", nonce="{nonce}", algorithm={alg}{qop}, opaque="op4"'
        if stale:
            text += ", stale=true"
        if cam.auth == "digest-sha256":  # offer both, as RFC 7616 servers do; strongest first
            return [text, text.replace("SHA-256", "MD5")]
        return [text]

    def _authorized(self, method: str, headers: dict[str, str], writer: asyncio.StreamWriter,
                    cseq: str, nonces: list[str]) -> bool:
        cam = self.cam
        value = headers.get("authorization")
        ok, stale = False, False
        if value is not None:
            ok, stale = self._check(method, value, nonces)
            self.auth_ok.append(ok)
            if ok and cam.stale_once and len(nonces) == 1:
                ok, stale = False, True  # the password was right; the nonce "expired"
        if ok:
            return True
        text = f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
        for c in self._challenge(nonces, stale):
            text += f"WWW-Authenticate: {c}\r\n"
        writer.write(text.encode() + b"\r\n")
        return False

    def _check(self, method: str, value: str, nonces: list[str]) -> tuple[bool, bool]:
        cam = self.cam
        scheme, _, rest = value.partition(" ")
        if scheme.lower() == "basic":
            if cam.auth != "basic":
                return False, False
            expected = base64.b64encode(f"{cam.username}:{cam.password}".encode()).decode()
            return rest.strip() == expected, False
        if scheme.lower() != "digest" or cam.auth == "basic":
            return False, False
        params = dict(
            (m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3))
            for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', rest)
        )
        alg = params.get("algorithm", "MD5").upper()
        h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}.get(alg)
        if h is None or params.get("nonce") not in nonces:
            return False, False
        if cam.auth == "digest-sha256" and alg != "SHA-256":
            return False, False  # the client must pick the strongest offered

        def hx(text: str) -> str:
            return h(text.encode()).hexdigest()

        ha1 = hx(f"{cam.username}:{params.get('realm')}:{cam.password}")
        ha2 = hx(f"{method}:{params.get('uri')}")
        if params.get("qop") == "auth":
            expected = hx(f"{ha1}:{params['nonce']}:{params.get('nc')}:{params.get('cnonce')}:auth:{ha2}")
        elif cam.auth == "digest-md5-noqop":
            expected = hx(f"{ha1}:{params['nonce']}:{ha2}")
        else:
            return False, False
        ok = params.get("response") == expected and params.get("username") == cam.username
        stale = ok and params["nonce"] != nonces[-1]
        return ok and not stale, stale

    # ------------------------------------------------------------------ media

    async def _media(self, writer: asyncio.StreamWriter, udp: socket.socket | None,
                     udp_to: tuple[str, int] | None) -> None:
        cam = self.cam
        if cam.media == "none":
            return
        if cam.media == "close_early":
            await asyncio.sleep(0.2)
            writer.transport.abort()
            return
        seq, ts = 1000, 123456
        pt = 97 if cam.media == "h265" else 96
        loop = asyncio.get_running_loop()
        start = loop.time()
        frame = 0

        def send(pkt: bytes) -> None:
            if udp is not None and udp_to is not None:
                udp.sendto(pkt, udp_to)
            else:
                writer.write(b"$\x00" + struct.pack("!H", len(pkt)) + pkt)

        while True:
            if cam.media == "stall" and loop.time() - start > cam.stall_after:
                await asyncio.sleep(3600)
            key = frame % cam.gop == 0 and cam.media != "nokey"
            payloads = _frame_payloads(cam.media, key)
            for i, payload in enumerate(payloads):
                marker = 0x80 if i == len(payloads) - 1 else 0
                version = 0x40 if cam.media == "badrtp" else 0x80
                header = struct.pack("!BBHII", version, marker | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, 0xC0FFEE)
                send(header + payload)
                seq += 1
            if cam.media != "frozen_ts":
                ts += 90000 // cam.fps
            frame += 1
            await writer.drain()
            await asyncio.sleep(1 / cam.fps)


_SLICE = bytes(range(256)) * 6  # 1.5 KiB of "slice data"


def _frame_payloads(media: str, key: bool) -> list[bytes]:
    if media == "h265":
        if not key:
            return [bytes([1 << 1, 1]) + _SLICE[:700]]  # TRAIL_R
        vps, sps, pps = bytes([32 << 1, 1, 0xC]), bytes([33 << 1, 1, 0xD]), bytes([34 << 1, 1, 0xE])
        ap = bytes([48 << 1, 1])
        for nal in (vps, sps, pps):
            ap += struct.pack("!H", len(nal)) + nal
        idr = _SLICE * 2
        fus = []
        for i in range(0, len(idr), 1000):
            s, e = i == 0, i + 1000 >= len(idr)
            fu = (0x80 if s else 0) | (0x40 if e else 0) | 19  # IDR_W_RADL
            fus.append(bytes([49 << 1, 1, fu]) + idr[i:i + 1000])
        return [ap] + fus
    if not key:
        return [bytes([0x41]) + _SLICE[:600]]  # non-IDR slice
    if media in ("h264", "stall", "frozen_ts", "badrtp"):
        sps = h264_sps(1920, 1080, 100)
        return [sps, H264_PPS, bytes([0x65]) + _SLICE[:1200]]
    if media == "stapa_fua":
        # The IDR only as FU-A fragments, no SPS/PPS in band: the keyframe must be seen
        # through the fragmentation header.
        idr = _SLICE * 2
        fus = []
        for i in range(0, len(idr), 1000):
            s, e = i == 0, i + 1000 >= len(idr)
            fus.append(bytes([0x7C, (0x80 if s else 0) | (0x40 if e else 0) | 5]) + idr[i:i + 1000])
        return fus
    if media == "stapa_only":
        # SPS/PPS only inside a STAP-A, no IDR at all (a camera repeating its parameter
        # sets): the keyframe must be seen through the aggregation.
        sps = h264_sps(1920, 1080, 100)
        stap = bytes([0x78]) + struct.pack("!H", len(sps)) + sps + struct.pack("!H", 4) + H264_PPS
        return [stap, bytes([0x41]) + _SLICE[:600]]
    raise ValueError(media)
