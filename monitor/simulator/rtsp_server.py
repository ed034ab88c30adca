"""The simulated cameras' RTSP side.

Owns `RtspProtocol`: one asyncio Protocol per RTSP connection (OPTIONS, DESCRIBE, SETUP with
RTP/AVP/TCP interleaved, PLAY, PAUSE, TEARDOWN, GET/SET_PARAMETER), used both by cameras and
by integration relays (`relay=` set).  Playing sessions are paced by the one `Streamer` of
the process (monitor.simulator.base), which writes the RTP packets that are due on each
tick rather than running one task per stream.

Per connection the cost is one small object and a bytearray; per camera, nothing but its
two listening sockets (owned by server.py).
"""

from __future__ import annotations

import asyncio
import time
import logging
import os
import re
import struct
from typing import Callable

from . import media, onvif
from .base import (
    BaseConn,
    Relay,
    SimContext,
    auth_schemes,
    camera_down,
    challenge_headers,
    check_authorization,
    garbage_bytes,
    parse_head,
    request_path,
    stable_hash,
)
from .fleet import SimCamera

log = logging.getLogger("monitor.simulator")

SERVER_RTSP = "Hikvision-Webs"  # what most deployed cameras call themselves
STALL_AFTER = 0.5  # a "stall" stream sends this long after PLAY, then nothing
SEND_BUFFER_LIMIT = 512 * 1024  # a client that does not read loses frames, as on a camera

_PACK_RTP = struct.Struct(">BBHBBHII").pack  # interleaved frame header + RTP header


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
        "next_due", "stop_at", "playing", "tarpit", "fixed_key", "variant",
    )

    def __init__(self, ctx: SimContext, cam: SimCamera | None, relay: Relay | None = None,
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
        self.fixed_key = False
        self.variant = 0
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
        if self.cam is not None and self.relay is None:
            lines.append(onvif.date_header(self.cam))  # the camera's own clock
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
        # a live camera's keyframes differ from one to the next; a frozen one's never do
        self.fixed_key = fault == "frozen"
        # ... and shows the present: a session opened later starts on a later picture, as a
        # live camera's does (one that replayed the same pictures at the same point of every
        # session would look, to the picture check comparing like with like, half frozen)
        # (from the second it opened: a count of intervals would bring a check every 5 min
        # back to the same one of the few keyframes, 300 s being a multiple of their cycle)
        self.variant = stable_hash(f"{self.cam.id if self.cam is not None else ''}:"
                                   f"{int(time.time())}")
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
            if self.frame == 0 and not self.fixed_key:
                payloads = media.KEYFRAMES[self.variant % len(media.KEYFRAMES)]
                self.variant += 1
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
