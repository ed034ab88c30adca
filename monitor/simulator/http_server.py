"""The simulated cameras' HTTP side: the JPEG snapshot endpoint, and the centre's /health.

Owns `HttpProtocol`, one asyncio Protocol per HTTP/1.1 connection (keep-alive, GET and
HEAD).  In camera mode it serves `cam.http_path` as image/jpeg from the pre-rendered pools
of `media.snapshots()` (a live camera cycles through them once a second on its own phase; a
`frozen` one always sends the same bytes; a `black` one sends black frames re-encoded a few
ways) and plays the connection-level faults exactly like the RTSP side (auth, tarpit, slow,
garbage, 404, 503).  In health mode (a command-centre link) it answers `GET /health` 200.
"""

from __future__ import annotations

from . import media, onvif
from .base import (
    BaseConn,
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

SERVER_HTTP = "App-webs/"  # what Hikvision's ISAPI answers with
_STATUS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class HttpProtocol(BaseConn):
    """One HTTP connection to a camera (`cam` set) or to a centre's health endpoint."""

    __slots__ = ("ctx", "cam", "transport", "buf", "last_seen", "owner", "tarpit", "offset",
                 "body")

    def __init__(self, ctx: SimContext, cam: SimCamera | None, owner: object = None) -> None:
        self.ctx = ctx
        self.cam = cam
        self.owner = owner if owner is not None else cam
        self.transport = None
        self.buf = bytearray()
        self.last_seen = 0.0
        self.tarpit = False
        self.offset = stable_hash(cam.id) if cam is not None else 0
        self.body = b""

    def take_body(self, body: bytes) -> None:
        self.body = body

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cam = self.cam
        if cam is not None:
            if camera_down(cam, self.ctx.flap_period):
                transport.abort()
                return
            self.tarpit = cam.fault == "tarpit"

    def handle(self, head: str) -> None:
        self.ctx.requests += 1
        parts, headers = parse_head(head)
        cam = self.cam
        if cam is not None and cam.fault == "garbage":
            self.send(garbage_bytes(cam.id + "/http"), close=True)
            return
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.reply(400, close=True)
            return
        method, target, version = parts
        close = headers.get("connection", "").lower() == "close" or (
            version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive"
        )
        path = request_path(target)
        body, self.body = self.body, b""
        if method == "POST" and cam is not None and path.rstrip("/") == onvif.DEVICE_PATH:
            # ONVIF: WS-Security in the SOAP body, not HTTP authentication
            code, envelope = onvif.answer(cam, body, self.ctx.username, self.ctx.password,
                                          self.ctx.twins.get(cam.id))
            self.reply(code, envelope, "application/soap+xml; charset=utf-8", close=close)
            return
        if method not in ("GET", "HEAD"):
            self.reply(405, close=close, extra=["Allow: GET, HEAD"])
            return
        if cam is None:
            if path == "/health":
                self.reply(200, b"ok\n", "text/plain", close=close, head=method == "HEAD")
            else:
                self.reply(404, close=close)
            return
        if cam.fault in ("server_error", "not_found"):
            self.reply(503 if cam.fault == "server_error" else 404, close=close)
            return
        schemes = auth_schemes(cam, self.ctx.password)
        if schemes:
            verdict = check_authorization(
                headers.get("authorization"), method, schemes,
                self.ctx.username, self.ctx.password, self.ctx.nonces,
            )
            if verdict != "ok":
                self.reply(401, close=close,
                           extra=challenge_headers(schemes, self.ctx.nonces, verdict == "stale"))
                return
        if path.rstrip("/") != cam.http_path:
            self.reply(404, close=close)
            return
        self.reply(200, self.picture(cam), "image/jpeg", close=close, head=method == "HEAD")

    def picture(self, cam: SimCamera) -> bytes:
        shots = media.snapshots()
        if cam.fault == "frozen":
            return shots.live[self.offset % len(shots.live)]
        pool = shots.black if cam.fault == "black" else shots.live
        # Every fetch gets the camera's next frame, whatever the monitor's interval: a pool
        # cycled by the clock alone would repeat for intervals that are a multiple of its
        # length and make healthy cameras look frozen.
        seen = self.ctx.snapshot_seq
        index = seen.get(cam.id, self.offset) + 1
        seen[cam.id] = index
        return pool[index % len(pool)]

    def reply(self, code: int, body: bytes = b"", ctype: str = "text/html", close: bool = False,
              extra: list[str] | None = None, head: bool = False) -> None:
        if code != 200 and not body:
            body = f"<html><body><h1>{code} {_STATUS.get(code, 'Error')}</h1></body></html>\n".encode()
        lines = [
            f"HTTP/1.1 {code} {_STATUS.get(code, 'Error')}",
            f"Server: {SERVER_HTTP}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            "Connection: close" if close else "Connection: keep-alive",
        ]
        if self.cam is not None:
            lines.append(onvif.date_header(self.cam))
        if code == 200 and ctype == "image/jpeg":
            lines.append("Cache-Control: no-cache")
        if extra:
            lines += extra
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.send(data if head else data + body, close=close)
