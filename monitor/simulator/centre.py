"""The simulated integration points: relays that re-serve camera feeds, and the police
command centre's links.

Owns `IntegrationServer`: for one `SimIntegration`, the relay RTSP listener on
(relay_ip, relay_port) serving `/relay/<camera id>` (no auth; 404 for unknown ids, for
cameras not integrated with it and for `feed_missing`; 503 while the camera cannot deliver
video), and for a command centre each `SimLink`'s TCP listener and `GET /health` endpoint.

Cutting a link closes its listeners and drops their connections.  On loopback that shows as
*refused*, where a real cut fibre shows as a *timeout*: the kernel completes handshakes on a
listening socket by itself, so "listening but silent" cannot be played without a firewall.
When every link of a centre is cut its relay goes the same way, as in reality (the feeds
travel over those links).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .base import BaseConn, SimContext, video_dead
from .fleet import SimCamera, SimIntegration, SimLink
from .http_server import HttpProtocol
from .rtsp_server import RtspProtocol

log = logging.getLogger("monitor.simulator")

Listen = Callable[[str, int, Callable[[], asyncio.Protocol]], Any]  # -> awaitable Server


class _Silent(BaseConn):
    """A connection to a link's TCP port: accepted, read and ignored (a TLS port that the
    monitor only connects to)."""

    __slots__ = ("ctx", "cam", "transport", "last_seen", "owner")

    def __init__(self, ctx: SimContext, owner: object) -> None:
        self.ctx = ctx
        self.cam = None
        self.owner = owner
        self.transport = None
        self.last_seen = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()


@dataclass(eq=False)
class LinkServer:
    link: SimLink
    cut: bool = False
    servers: list[asyncio.AbstractServer] = field(default_factory=list)


class IntegrationServer:
    """One integration's relay and, for a command centre, its links."""

    def __init__(self, integration: SimIntegration, cameras: dict[str, SimCamera],
                 ctx: SimContext, listen: Listen) -> None:
        self.integration = integration
        self.cameras = cameras
        self.ctx = ctx
        self.listen = listen
        self.links = {link.name: LinkServer(link) for link in integration.links}
        self.relay_server: asyncio.AbstractServer | None = None

    @property
    def name(self) -> str:
        return self.integration.name

    @property
    def relay_up(self) -> bool:
        return self.relay_server is not None

    def camera(self, camera_id: str) -> SimCamera | None:
        return self.cameras.get(camera_id)

    def feed_status(self, camera_id: str) -> int:
        """What the relay answers for a feed: 200, 404 (no such feed) or 503 (no video)."""
        cam = self.cameras.get(camera_id)
        if cam is None or self.name not in cam.integrations or cam.fault == "feed_missing":
            return 404
        if video_dead(cam, self.ctx.flap_period):
            return 503
        return 200

    def _reachable(self) -> bool:
        return not self.integration.centre or not self.links or any(not l.cut for l in self.links.values())

    async def start(self) -> None:
        for ls in self.links.values():
            await self._open_link(ls)
        await self._sync_relay()

    async def _open_link(self, ls: LinkServer) -> None:
        link = ls.link
        ls.servers = [
            await self.listen(link.ip, link.tcp_port, lambda: _Silent(self.ctx, ls)),
            await self.listen(link.ip, link.http_port, lambda: HttpProtocol(self.ctx, None, owner=ls)),
        ]

    def _close_servers(self, servers: list[asyncio.AbstractServer], owner: object) -> None:
        for s in servers:
            s.close()
        self.ctx.abort_where(lambda c: c.owner is owner)

    async def _sync_relay(self) -> None:
        want = self._reachable()
        if want and self.relay_server is None:
            i = self.integration
            self.relay_server = await self.listen(
                i.relay_ip, i.relay_port, lambda: RtspProtocol(self.ctx, None, relay=self, owner=self)
            )
        elif not want and self.relay_server is not None:
            self._close_servers([self.relay_server], self)
            self.relay_server = None
            log.warning("integration %s: every link cut, relay unreachable", self.name)

    async def set_link(self, name: str, cut: bool) -> bool:
        """Cut or restore a link; False when there is no such link."""
        ls = self.links.get(name)
        if ls is None:
            return False
        if cut and not ls.cut:
            ls.cut = True
            self._close_servers(ls.servers, ls)
            ls.servers = []
            log.warning("integration %s: link %s cut", self.name, name)
        elif not cut and ls.cut:
            await self._open_link(ls)
            ls.cut = False
            log.info("integration %s: link %s restored", self.name, name)
        await self._sync_relay()
        return True

    def state(self) -> dict[str, Any]:
        i = self.integration
        return {
            "name": i.name,
            "centre": i.centre,
            "relay": f"rtsp://{i.relay_ip}:{i.relay_port}/relay/",
            "relay_up": self.relay_up,
            "links": [
                {"name": ls.link.name, "ip": ls.link.ip, "tcp_port": ls.link.tcp_port,
                 "http_port": ls.link.http_port, "state": "cut" if ls.cut else "up"}
                for ls in self.links.values()
            ],
        }

    def close(self) -> None:
        for ls in self.links.values():
            self._close_servers(ls.servers, ls)
            ls.servers = []
        if self.relay_server is not None:
            self._close_servers([self.relay_server], self)
            self.relay_server = None
