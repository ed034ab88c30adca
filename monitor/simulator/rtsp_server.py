"""The simulated cameras' RTSP side, and what the camera servers of this package share.

Owns:
- `SimContext`: per-process serving state (fleet-wide settings, the live connections, the
  one shared RTP pacing timer, the Digest nonce key);
- the camera auth policy and its verification (`auth_schemes`, `challenge_headers`,
  `check_authorization`: Basic, Digest MD5 and SHA-256 with qop=auth, stateless nonces);
- the fault clock (`flap_down`, `video_dead`) that every process computes the same way;
- `RtspProtocol`: one asyncio Protocol per RTSP connection (OPTIONS, DESCRIBE, SETUP with
  RTP/AVP/TCP interleaved, PLAY, PAUSE, TEARDOWN, GET/SET_PARAMETER), used both by cameras
  and by integration relays (`relay=` set);
- `Streamer`: one timer for every playing session of the process, writing the RTP packets
  that are due on each tick rather than one task per stream.

Per connection the cost is one small object and a bytearray; per camera, nothing but its
two listening sockets (owned by server.py).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import os
import re
import struct
import time
import zlib
from typing import TYPE_CHECKING, Callable

from . import media
from .fleet import SimCamera

if TYPE_CHECKING:  # pragma: no cover
    from .centre import IntegrationServer

log = logging.getLogger("monitor.simulator")

SERVER_RTSP = "Hikvision-Webs"  # what most deployed cameras call themselves
REALM = "IP Camera"
NONCE_TTL = 300.0  # seconds before a nonce is answered with stale=true
IDLE_TIMEOUT = 120.0  # connections with no traffic are closed, as cameras do (fd budget)
MAX_REQUEST = 64 * 1024
TICK = 0.04  # one shared pacing tick for every playing stream of the process
STALL_AFTER = 0.5  # a "stall" stream sends this long after PLAY, then nothing
SEND_BUFFER_LIMIT = 512 * 1024  # a client that does not read loses frames, as on a camera

#: Faults after which no video can be relayed: the relay answers 503 for these cameras.
VIDEO_DEAD = frozenset(
    {"down", "tarpit", "not_found", "server_error", "garbage", "no_keyframe", "stall"}
)

_PACK_RTP = struct.Struct(">BBHBBHII").pack  # interleaved frame header + RTP header


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


# --------------------------------------------------------------------------- fault clock


def flap_down(cam: SimCamera, period: float, now: float | None = None) -> bool:
    """A flapping camera is down for the first half of each period, on its own phase.

    Wall-clock based, so the worker serving the camera and the main process serving its
    relay agree without talking to each other.
    """
    if cam.fault != "flapping" or period <= 0:
        return False
    now = time.time() if now is None else now
    phase = (stable_hash(cam.id) % 1000) / 1000.0 * period
    return (now + phase) % period < period / 2


def camera_down(cam: SimCamera, period: float, now: float | None = None) -> bool:
    """Nothing listens on the camera's ports now."""
    return cam.fault == "down" or flap_down(cam, period, now)


def video_dead(cam: SimCamera, period: float, now: float | None = None) -> bool:
    """The camera is in a state where a relay cannot get video from it."""
    return cam.fault in VIDEO_DEAD or flap_down(cam, period, now)


# --------------------------------------------------------------------------- auth


def auth_schemes(cam: SimCamera, password: str) -> tuple[str, ...]:
    """Which schemes this camera offers, strongest first; () when it needs no credentials.

    Cameras with auth faults always demand credentials.  Healthy ones do when the fleet has
    a password: most offer Digest SHA-256 and MD5, some old ones Digest MD5 only, a few Basic
    (a stable choice per camera id, like a mixed real fleet).
    """
    if cam.fault not in ("auth_required", "wrong_credentials") and not password:
        return ()
    pick = stable_hash(cam.id + "/auth") % 20
    if pick == 0:
        return ("basic",)
    if pick <= 3:
        return ("md5",)
    return ("sha256", "md5")


_ALGS = {"md5": ("MD5", hashlib.md5), "sha256": ("SHA-256", hashlib.sha256)}
_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


class NonceKeeper:
    """Stateless nonces: an expiry-checkable timestamp and an HMAC of it under a per-process
    key, so that a camera needs no per-client memory to verify Digest answers.

    A nonce is a pure function of the second it was issued in, so the HMAC is computed once
    a second, not once per 401 (this is most of a challenge's cost at fleet scale)."""

    def __init__(self) -> None:
        self.key = os.urandom(16)
        self._recent: dict[str, str] = {}  # ts hex -> nonce, for the current few seconds

    def _nonce(self, ts: str) -> str:
        nonce = self._recent.get(ts)
        if nonce is None:
            nonce = ts + hmac.new(self.key, ts.encode(), hashlib.sha256).hexdigest()[:24]
            if len(self._recent) > 64:
                self._recent.clear()
            self._recent[ts] = nonce
        return nonce

    def make(self, now: float | None = None) -> str:
        return self._nonce(f"{int(time.time() if now is None else now):08x}")

    def check(self, nonce: str) -> str:
        """'ok', 'stale' (genuine but old) or 'bad'."""
        if len(nonce) != 32:
            return "bad"
        ts = nonce[:8]
        try:
            age = time.time() - int(ts, 16)
        except ValueError:
            return "bad"
        good = self._recent.get(ts) or (
            ts + hmac.new(self.key, ts.encode(), hashlib.sha256).hexdigest()[:24])
        if not hmac.compare_digest(nonce, good):
            return "bad"
        return "ok" if age <= NONCE_TTL else "stale"


def challenge_headers(schemes: tuple[str, ...], nonces: NonceKeeper, stale: bool = False) -> list[str]:
    nonce = nonces.make()
    out = []
    for scheme in schemes:
        if scheme == "basic":
            out.append(f'WWW-Authenticate: Basic realm="{REALM}"')
            continue
        name = _ALGS[scheme][0]
        stale_part = ", stale=TRUE" if stale else ""
        out.append(
            f'WWW-Authenticate: Digest realm="{REALM}", nonce="{nonce}", '
            f'algorithm={name}, qop="auth"{stale_part}'
        )
    return out


@functools.lru_cache(maxsize=16)
def _ha1(alg: str, username: str, password: str) -> str:
    return _ALGS[alg][1](f"{username}:{REALM}:{password}".encode("utf-8")).hexdigest()


def check_authorization(
    value: str | None,
    method: str,
    schemes: tuple[str, ...],
    username: str,
    password: str,
    nonces: NonceKeeper,
) -> str:
    """Verify an Authorization header: 'ok', 'stale' (Digest on an expired nonce; the client
    should retry with the new one) or 'bad' (missing, wrong, or a scheme not offered)."""
    if not value:
        return "bad"
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        if "basic" not in schemes:
            return "bad"
        try:
            user, _, pw = base64.b64decode(rest.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeError):
            return "bad"
        ok = hmac.compare_digest(user.encode(), username.encode()) and hmac.compare_digest(
            pw.encode(), password.encode()
        )
        return "ok" if ok else "bad"
    if scheme != "digest":
        return "bad"
    p = {k.lower(): (v[1:-1].replace('\\"', '"').replace("\\\\", "\\") if v.startswith('"') else v)
         for k, v in _PARAM.findall(rest)}
    alg_name = p.get("algorithm", "MD5").upper()
    alg = next((s for s in schemes if s in _ALGS and _ALGS[s][0] == alg_name), None)
    if alg is None or p.get("username") != username or p.get("realm") != REALM:
        return "bad"
    nonce = p.get("nonce", "")
    freshness = nonces.check(nonce)
    if freshness == "bad":
        return "bad"
    h = _ALGS[alg][1]

    def hx(text: str) -> str:
        return h(text.encode("utf-8")).hexdigest()

    ha1 = _ha1(alg, username, password)
    ha2 = hx(f"{method}:{p.get('uri', '')}")
    qop = p.get("qop")
    if qop == "auth":
        expected = hx(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
    elif qop is None:
        expected = hx(f"{ha1}:{nonce}:{ha2}")
    else:
        return "bad"
    if not hmac.compare_digest(expected, p.get("response", "").lower()):
        return "bad"
    return "ok" if freshness == "ok" else "stale"


def garbage_bytes(seed: str) -> bytes:
    """Bytes that are neither RTSP nor HTTP (what a crashed firmware or a wrong service on
    the port sends), stable per camera."""
    body = hashlib.sha256(seed.encode()).digest() * 8
    return b"\x00\xfe\x17" + body


# --------------------------------------------------------------------------- context


class SimContext:
    """Serving state shared by every connection of one process."""

    def __init__(self, username: str, password: str, slow_delay: float, flap_period: float) -> None:
        self.username = username
        self.password = password
        self.slow_delay = slow_delay
        self.flap_period = flap_period
        self.nonces = NonceKeeper()
        self.conns: set[BaseConn] = set()
        self.streamer = Streamer()
        self.requests = 0  # answered requests, for the control API and benchmarks
        self.snapshot_seq: dict[str, int] = {}  # camera id -> frames served, for live snapshots

    @classmethod
    def for_fleet(cls, fleet) -> SimContext:
        return cls(fleet.username, fleet.password, fleet.slow_delay, fleet.flap_period)

    def abort_where(self, pred: Callable[[BaseConn], bool]) -> int:
        """Drop the connections matching `pred` (a camera going down, a link being cut)."""
        victims = [c for c in self.conns if pred(c)]
        for c in victims:
            c.abort()
        return len(victims)

    def sweep_idle(self, now: float) -> int:
        return self.abort_where(lambda c: now - c.last_seen > IDLE_TIMEOUT)


def content_length(head: str) -> int:
    """The Content-Length of a request head (0 when absent, -1 when malformed)."""
    low = head.lower()
    at = low.find("\ncontent-length:")
    if at < 0:
        return 0
    eol = low.find("\n", at + 16)
    try:
        value = int(low[at + 16 : eol if eol >= 0 else len(low)].strip())
    except ValueError:
        return -1
    return value if value >= 0 else -1


def request_path(target: str) -> str:
    """The path of a request target (absolute URL or path), without query: what urlsplit
    gives, at a fraction of its cost on the hot path."""
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0]


def parse_head(head: str) -> tuple[list[str], dict[str, str]]:
    """Request line parts and lower-cased headers of an RTSP or HTTP request head."""
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    return lines[0].split(" "), headers


class BaseConn(asyncio.Protocol):
    """What the per-connection protocols share: registration, idle tracking, and delayed
    answers for `slow` cameras."""

    __slots__ = ()

    ctx: SimContext
    cam: SimCamera | None
    transport: asyncio.Transport | None
    buf: bytearray
    tarpit: bool
    last_seen: float
    owner: object  # the listener group this connection came through (camera, link, relay)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.last_seen = time.monotonic()
        self.ctx.conns.add(self)

    def connection_lost(self, exc) -> None:
        self.ctx.conns.discard(self)
        self.transport = None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pop_request(self, buf: bytearray) -> str | None:
        """The next complete request head from `buf` (its body dropped), or None when more
        bytes are needed or the request was oversize or malformed (then aborted)."""
        while buf and buf[0] in (0x0D, 0x0A):  # stray CRLF between requests (RFC 9112 2.2)
            del buf[:1]
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > MAX_REQUEST:
                self.abort()
            return None
        head = bytes(buf[:head_end]).decode("latin-1")
        body_len = content_length(head)
        total = head_end + 4 + body_len
        if body_len < 0 or total > MAX_REQUEST:
            self.abort()
            return None
        if len(buf) < total:
            return None
        del buf[:total]
        return head

    def skip_frame(self, buf: bytearray) -> bool | None:
        """Hook for non-request data between requests: True dropped some, False none,
        None more bytes are needed.  Plain request/response protocols have none."""
        return False

    def data_received(self, data: bytes) -> None:  # type: ignore[override]
        self.last_seen = time.monotonic()
        if self.tarpit:
            return  # accepted, never answered: the client's deadline is the only way out
        buf = self.buf
        buf += data
        while buf:
            skipped = self.skip_frame(buf)
            if skipped:
                continue
            if skipped is None:
                return
            head = self.pop_request(buf)
            if head is None:
                return
            self.handle(head)
            if self.transport is None or self.transport.is_closing():
                return

    def send(self, data: bytes, close: bool = False, then: Callable[[], None] | None = None) -> None:
        """Write an answer now, or `slow_delay` late for a slow camera (order is kept: every
        answer of the connection is delayed by the same amount)."""
        cam = self.cam
        if cam is not None and cam.fault == "slow" and self.ctx.slow_delay > 0:
            asyncio.get_running_loop().call_later(self.ctx.slow_delay, self._write, data, close, then)
        else:
            self._write(data, close, then)

    def _write(self, data: bytes, close: bool, then: Callable[[], None] | None) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if close:
            t.close()
        elif then is not None:
            then()


# --------------------------------------------------------------------------- RTSP

_STATUS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"
_INTERLEAVED = re.compile(r"interleaved=(\d+)(?:-(\d+))?")


class RtspProtocol(BaseConn):
    """One RTSP connection to a camera (`cam`) or to an integration relay (`relay`)."""

    __slots__ = (
        "ctx", "cam", "relay", "transport", "buf", "last_seen", "owner", "feed",
        "session", "channel", "ssrc", "seq", "ts", "frame", "gop", "skip_key",
        "next_due", "stop_at", "playing", "tarpit",
    )

    def __init__(self, ctx: SimContext, cam: SimCamera | None, relay: IntegrationServer | None = None,
                 owner: object = None) -> None:
        self.ctx = ctx
        self.cam = cam
        self.relay = relay
        self.owner = owner if owner is not None else cam
        self.transport = None
        self.buf = bytearray()
        self.last_seen = 0.0
        self.feed: SimCamera | None = None  # the camera a relay connection serves
        self.session: str | None = None
        self.channel = 0
        self.ssrc = 0
        self.seq = 0
        self.ts = 0
        self.frame = 0
        self.gop = 1
        self.skip_key = False
        self.next_due = 0.0
        self.stop_at = 0.0
        self.playing = False
        self.tarpit = False

    # -- connection

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cam = self.cam
        if cam is not None:
            if camera_down(cam, self.ctx.flap_period):
                transport.abort()  # went down between the flap check and this accept
                return
            self.tarpit = cam.fault == "tarpit"

    def connection_lost(self, exc) -> None:
        if self.playing:
            self.ctx.streamer.remove(self)
            self.playing = False
        super().connection_lost(exc)

    def skip_frame(self, buf: bytearray) -> bool | None:
        """Drop an interleaved RTCP frame (receiver reports) from the client."""
        while buf and buf[0] in (0x0D, 0x0A):  # stray CRLF before an interleaved frame
            del buf[:1]
        if not buf or buf[0] != 0x24:  # not '$'
            return False
        if len(buf) < 4:
            return None
        end = 4 + ((buf[2] << 8) | buf[3])
        if len(buf) < end:
            return None
        del buf[:end]
        return True

    # -- requests

    def handle(self, head: str) -> None:
        self.ctx.requests += 1
        parts, headers = parse_head(head)
        cam = self.cam
        if cam is not None and cam.fault == "garbage":
            self.send(garbage_bytes(cam.id), close=True)
            return
        cseq = headers.get("cseq", "0")
        if len(parts) != 3 or not parts[2].startswith("RTSP/"):
            self.reply(400, cseq, close=True)
            return
        method, url, _ = parts
        if method == "OPTIONS":
            self.reply(200, cseq, [f"Public: {_PUBLIC}"])
            return
        if cam is not None and cam.fault in ("server_error", "not_found"):
            self.reply(503 if cam.fault == "server_error" else 404, cseq)
            return
        if cam is not None:
            schemes = auth_schemes(cam, self.ctx.password)
            if schemes:
                verdict = check_authorization(
                    headers.get("authorization"), method, schemes,
                    self.ctx.username, self.ctx.password, self.ctx.nonces,
                )
                if verdict != "ok":
                    self.reply(401, cseq, challenge_headers(schemes, self.ctx.nonces, verdict == "stale"))
                    return
        path = request_path(url)
        handler = _METHODS.get(method)
        if handler is None:
            self.reply(501, cseq, [f"Public: {_PUBLIC}"])
            return
        handler(self, cseq, url, path, headers)

    def reply(self, code: int, cseq: str, extra: list[str] | None = None, body: bytes = b"",
              close: bool = False, then: Callable[[], None] | None = None) -> None:
        lines = [f"RTSP/1.0 {code} {_STATUS.get(code, 'Error')}", f"CSeq: {cseq}", f"Server: {SERVER_RTSP}"]
        if extra:
            lines += extra
        if body:
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self.send(data, close=close, then=then)

    def resolve(self, path: str) -> tuple[int, str]:
        """(status, base path) for a request path: which stream it names, if any."""
        if self.relay is None:
            base = self.cam.rtsp_path  # type: ignore[union-attr]
            if path.rstrip("/") == base or path.startswith(base + "/"):
                return 200, base
            return 404, ""
        # A relay: /relay/<camera id>[/trackID=1]
        rest = path[len("/relay/"):] if path.startswith("/relay/") else None
        if not rest:
            return 404, ""
        camera_id = rest.split("/", 1)[0]
        status = self.relay.feed_status(camera_id)
        if status == 200:
            self.feed = self.relay.camera(camera_id)
        return status, f"/relay/{camera_id}"

    def _describe(self, cseq: str, url: str, path: str, headers: dict[str, str]) -> None:
        status, base = self.resolve(path)
        if status != 200:
            self.reply(status, cseq)
            return
        host = self.transport.get_extra_info("sockname")[0] if self.transport else "0.0.0.0"
        sdp = media.CLIP.sdp(host, stable_hash(base) & 0x7FFFFFFF)
        content_base = url if url.endswith("/") else url + "/"
        self.reply(200, cseq, [f"Content-Base: {content_base}", "Content-Type: application/sdp"], sdp)

    def _setup(self, cseq: str, url: str, path: str, headers: dict[str, str]) -> None:
        status, _ = self.resolve(path)
        if status != 200:
            self.reply(status, cseq)
            return
        transport = headers.get("transport", "")
        if "RTP/AVP/TCP" not in transport.upper():
            # UDP is not served: clients fall back to interleaved TCP on 461 (RFC 2326 12.39).
            self.reply(461, cseq)
            return
        m = _INTERLEAVED.search(transport)
        self.channel = int(m.group(1)) if m else 0
        rtcp = int(m.group(2)) if m and m.group(2) else self.channel + 1
        if self.session is None:
            self.session = os.urandom(6).hex().upper()
            self.ssrc = int.from_bytes(os.urandom(4), "big")
            self.seq = int.from_bytes(os.urandom(2), "big")
            self.ts = int.from_bytes(os.urandom(4), "big")
        self.reply(200, cseq, [
            f"Transport: RTP/AVP/TCP;unicast;interleaved={self.channel}-{rtcp};ssrc={self.ssrc:08X};mode=\"play\"",
            f"Session: {self.session};timeout=60",
        ])

    def _play(self, cseq: str, url: str, path: str, headers: dict[str, str]) -> None:
        if self.session is None:
            self.reply(455, cseq)
            return
        if headers.get("session", "").split(";")[0].strip() != self.session:
            self.reply(454, cseq)
            return
        status, base = self.resolve(path)
        if status != 200:
            self.reply(status, cseq)
            return
        root = url.split(base, 1)[0] + base if base in url else url
        self.reply(200, cseq, [
            f"Session: {self.session}",
            "Range: npt=now-",
            f"RTP-Info: url={root}/trackID=1;seq={self.seq};rtptime={self.ts}",
        ], then=self.start_stream)

    def _pause(self, cseq: str, url: str, path: str, headers: dict[str, str]) -> None:
        self.stop_stream()
        self.reply(200, cseq, [f"Session: {self.session}"] if self.session else None)

    def _teardown(self, cseq: str, url: str, path: str, headers: dict[str, str]) -> None:
        self.stop_stream()
        session, self.session = self.session, None
        self.reply(200, cseq, [f"Session: {session}"] if session else None)

    def _parameter(self, cseq: str, url: str, path: str, headers: dict[str, str]) -> None:
        self.reply(200, cseq, [f"Session: {self.session}"] if self.session else None)

    # -- media

    def start_stream(self) -> None:
        if self.playing:
            return
        source = self.feed if self.relay is not None else self.cam
        clip = media.CLIP
        n = len(clip.frames)
        interval = source.keyframe_interval if source is not None else 2.0
        self.gop = max(1, min(n, round(interval * clip.fps)))
        fault = self.cam.fault if self.cam is not None else "healthy"
        self.skip_key = fault == "no_keyframe"
        self.frame = 1 if self.skip_key else 0
        now = asyncio.get_running_loop().time()
        self.next_due = now
        self.stop_at = now + STALL_AFTER if fault == "stall" else 0.0
        self.playing = True
        self.ctx.streamer.add(self)
        self.pump(now)

    def stop_stream(self) -> None:
        if self.playing:
            self.playing = False
            self.ctx.streamer.remove(self)

    def pump(self, now: float) -> None:
        """Write every frame that is due by `now` (called by the shared tick)."""
        t = self.transport
        if t is None or t.is_closing():
            self.stop_stream()
            return
        if self.stop_at and now >= self.stop_at:
            self.stop_stream()  # "stall": the connection stays open, the video stops
            return
        clip = media.CLIP
        step = 1.0 / clip.fps
        if now - self.next_due > 1.0:  # the loop was blocked: resume, do not burst
            self.next_due = now
        chunks: list[bytes] = []
        while self.next_due <= now:
            self.next_due += step
            payloads = clip.frames[self.frame]
            if self.skip_key:
                self.frame = self.frame + 1 if self.frame + 1 < len(clip.frames) else 1
            else:
                self.frame = self.frame + 1 if self.frame + 1 < self.gop else 0
            if t.get_write_buffer_size() > SEND_BUFFER_LIMIT:
                self.ts = (self.ts + clip.frame_ticks) & 0xFFFFFFFF
                continue
            last = len(payloads) - 1
            seq, ts, ssrc, ch = self.seq, self.ts, self.ssrc, self.channel
            for i, payload in enumerate(payloads):
                chunks.append(_PACK_RTP(0x24, ch, 12 + len(payload), 0x80,
                                        0xE0 if i == last else 0x60, seq, ts, ssrc))
                chunks.append(payload)
                seq = (seq + 1) & 0xFFFF
            self.seq = seq
            self.ts = (ts + clip.frame_ticks) & 0xFFFFFFFF
        if chunks:
            t.write(b"".join(chunks))


_METHODS = {
    "DESCRIBE": RtspProtocol._describe,
    "SETUP": RtspProtocol._setup,
    "PLAY": RtspProtocol._play,
    "PAUSE": RtspProtocol._pause,
    "TEARDOWN": RtspProtocol._teardown,
    "GET_PARAMETER": RtspProtocol._parameter,
    "SET_PARAMETER": RtspProtocol._parameter,
}


class Streamer:
    """One pacing timer for all playing sessions of the process; idle when none play."""

    def __init__(self) -> None:
        self.active: set[RtspProtocol] = set()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, conn: RtspProtocol) -> None:
        self.active.add(conn)
        if self.handle is None:
            self.handle = asyncio.get_running_loop().call_later(TICK, self.tick)

    def remove(self, conn: RtspProtocol) -> None:
        self.active.discard(conn)

    def tick(self) -> None:
        self.handle = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for conn in list(self.active):
            try:
                conn.pump(now)
            except Exception:  # noqa: BLE001 - one broken session must not stop the others
                log.exception("stream pump failed")
                conn.stop_stream()
        if self.active:
            self.handle = loop.call_later(TICK, self.tick)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.active.clear()
