"""The simulated fleet: what cameras exist, where they are, and what is wrong with each.

This module is pure data (no sockets): the servers in this package serve a `SimFleet`, and
`write_config` writes the monitor configuration that matches it, so the monitor needs
nothing else.  The simulator shares no state with the monitor: only this file's config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Every fault the simulator can play.  "healthy" plays none.
FAULTS = (
    "healthy",
    "down",  # refused: nothing listens
    "tarpit",  # accepts and never answers
    "slow",  # answers, but each answer `slow_delay` late
    "flapping",  # down for a while, then back, on a per-camera phase
    "auth_required",  # camera wants credentials; the config has none
    "wrong_credentials",  # camera wants credentials; the config has the wrong ones
    "not_found",  # 404 on DESCRIBE and on the snapshot
    "server_error",  # 503
    "garbage",  # answers with bytes that are not RTSP/HTTP
    "frozen",  # snapshot is the same picture every time; stream is fine
    "black",  # snapshot is black
    "no_keyframe",  # stream sends RTP but never an IDR/SPS/PPS
    "stall",  # stream sends a few packets after PLAY, then nothing
    "feed_missing",  # camera fine, but the integration relay does not carry its feed
)


@dataclass(slots=True)
class SimCamera:
    id: str
    name: str
    provider: str
    city: str  # administrative city (kota), e.g. "Jakarta Pusat"
    district: str  # kecamatan
    zone: str  # "ring-1" or "city"
    lat: float
    lon: float
    ip: str  # its own loopback address, 127.x.y.z
    uplink: str = ""  # the district switch / PoP it hangs off
    fault: str = "healthy"
    integrations: tuple[str, ...] = ()  # e.g. ("smart-city", "police-hq")
    rtsp_port: int = 8554
    http_port: int = 8080
    keyframe_interval: float = 2.0  # seconds between IDRs in its stream

    @property
    def rtsp_path(self) -> str:
        return "/Streaming/Channels/101"

    @property
    def http_path(self) -> str:
        return "/ISAPI/Streaming/channels/101/picture"


@dataclass(slots=True)
class SimLink:
    name: str  # "primary", "backup"
    ip: str  # the centre's address on this link
    tcp_port: int = 9443
    http_port: int = 9080  # GET /health -> 200


@dataclass(slots=True)
class SimIntegration:
    """A platform that receives feeds: re-serves cameras' streams through a relay.

    `centre` is set for a police command centre, whose relay is reached over its links:
    cutting all links makes the relayed feeds fail too.
    """

    name: str  # "police-hq", "smart-city"
    relay_ip: str
    relay_port: int = 8554
    centre: bool = False
    links: list[SimLink] = field(default_factory=list)

    def feed_path(self, camera_id: str) -> str:
        return f"/relay/{camera_id}"


@dataclass(slots=True)
class SimProvider:
    name: str
    target_cameras: int
    sla: float


@dataclass(slots=True)
class SimFleet:
    cameras: list[SimCamera]
    providers: list[SimProvider]
    integrations: list[SimIntegration]
    username: str = "viewer"
    password: str = ""  # the real one; cameras with "wrong_credentials" get another in config
    seed: int = 1
    slow_delay: float = 1.5
    flap_period: float = 120.0  # flapping cameras are down for half of each period
