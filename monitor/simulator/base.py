"""What the simulator's camera, relay and centre servers share.

Owns:
- `SimContext`: per-process serving state (fleet-wide settings, the live connections, the
  one shared pacing timer `Streamer`, the Digest nonce key);
- the camera auth policy and its verification (`auth_schemes`, `challenge_headers`,
  `check_authorization`: Basic, Digest MD5 and SHA-256 with qop=auth, stateless nonces);
- the fault clock (`flap_down`, `camera_down`, `video_dead`) that every process computes the
  same way;
- `BaseConn`: the per-connection protocol base (registration, idle tracking, one request
  loop, delayed answers for `slow` cameras), and the request-head helpers it uses.

The RTSP (rtsp_server), HTTP (http_server) and centre (centre) servers build on this module
and never on each other, so none of them imports another.
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
import time
import zlib
from typing import Callable, Protocol

from .fleet import SimCamera, twins

log = logging.getLogger("monitor.simulator")

REALM = "IP Camera"
NONCE_TTL = 300.0  # seconds before a nonce is answered with stale=true
IDLE_TIMEOUT = 120.0  # connections with no traffic are closed, as cameras do (fd budget)
MAX_REQUEST = 64 * 1024
TICK = 0.04  # one shared pacing tick for every playing stream of the process

#: Faults after which no video can be relayed: the relay answers 503 for these cameras.
VIDEO_DEAD = frozenset(
    {"down", "tarpit", "not_found", "server_error", "garbage", "no_keyframe", "stall"}
)


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
        self.twins: dict[str, str] = {}  # duplicate_device camera -> the camera it duplicates

    @classmethod
    def for_fleet(cls, fleet) -> SimContext:
        ctx = cls(fleet.username, fleet.password, fleet.slow_delay, fleet.flap_period)
        ctx.twins = twins(fleet.cameras)
        return ctx

    def abort_where(self, pred: Callable[[BaseConn], bool]) -> int:
        """Drop the connections matching `pred` (a camera going down, a link being cut)."""
        victims = [c for c in self.conns if pred(c)]
        for c in victims:
            c.abort()
        return len(victims)

    def sweep_idle(self, now: float) -> int:
        return self.abort_where(lambda c: now - c.last_seen > IDLE_TIMEOUT)


class Paced(Protocol):
    """A playing session: sends what is due at `now`, or stops."""

    def pump(self, now: float) -> None: ...

    def stop_stream(self) -> None: ...


class Streamer:
    """One pacing timer for all playing sessions of the process; idle when none play."""

    def __init__(self) -> None:
        self.active: set[Paced] = set()
        self.handle: asyncio.TimerHandle | None = None

    def add(self, conn: Paced) -> None:
        self.active.add(conn)
        if self.handle is None:
            self.handle = asyncio.get_running_loop().call_later(TICK, self.tick)

    def remove(self, conn: Paced) -> None:
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


class Relay(Protocol):
    """An integration point's relay, as an RTSP connection sees it (monitor.simulator.centre)."""

    def camera(self, camera_id: str) -> SimCamera | None: ...

    def feed_status(self, camera_id: str) -> int: ...


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
        if body_len:
            self.take_body(bytes(buf[head_end + 4:total]))
        del buf[:total]
        return head

    def take_body(self, body: bytes) -> None:
        """Hook for a request's body (the ONVIF SOAP envelope); most requests have none."""

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
