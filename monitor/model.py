"""The shared vocabulary of the monitor: reasons, probe results and the frozen inventory.

Data flows one way (docs/ARCHITECTURE.md):

    config files -> Inventory -> Scheduler -> probe -> Result -> State -> exporter/page/log

Everything here is plain data: no I/O, no metrics, no asyncio.  The config loader
(`monitor.config`) is the only producer of `Inventory`; probes are the only producers of
`Result`.
"""

from __future__ import annotations

import datetime
import enum
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple
from urllib.parse import urlsplit, urlunsplit


class Reason(str, enum.Enum):
    """The closed set of probe outcomes (docs/checks.md lists which check ends in which)."""

    OK = "ok"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    DNS_ERROR = "dns_error"
    TLS_ERROR = "tls_error"
    AUTH_REQUIRED = "auth_required"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"
    WRONG_CONTENT = "wrong_content"
    NO_VIDEO = "no_video"
    FROZEN_IMAGE = "frozen_image"
    BLACK_IMAGE = "black_image"
    UNIFORM_IMAGE = "uniform_image"

    def __str__(self) -> str:  # so f"{reason}" prints "timeout", not "Reason.TIMEOUT"
        return self.value


#: Reasons worth a quick re-try inside the probe's deadline: the network or the camera may
#: have hiccuped.  Auth, 404, 403, content and picture verdicts are answers, not hiccups.
TRANSIENT_REASONS = frozenset({Reason.TIMEOUT, Reason.REFUSED, Reason.BAD_RESPONSE})


class Cause(enum.StrEnum):
    """Why a camera or a feed is down, and so who answers for it: the one vocabulary of
    State (feeds and cameras), the ledger's `cause` column, the report, /status, /api and
    the `cause` label of `cctv_feed_state`.

    Provider's: CAMERA (a camera check failed), FEED_MISSING (camera and link up, the feed
    absent).  The city's: LINK_DOWN (the uplink or the command centre's link is down).
    CAMERA_DOWN is a feed down because its camera is (counted once, as the camera).  The
    report alone adds MAINTENANCE and MONITOR_DOWN, the other two exclusions, and DISPUTE
    (the seconds of an accepted dispute, monitor/history/disputes.py)."""

    OK = "ok"
    UNKNOWN = "unknown"
    CAMERA = "camera"
    CAMERA_DOWN = "camera_down"
    LINK_DOWN = "link_down"
    FEED_MISSING = "feed_missing"
    MAINTENANCE = "maintenance"
    MONITOR_DOWN = "monitor_down"
    DISPUTE = "dispute"

    @classmethod
    def of(cls, value: str) -> "Cause":
        """A ledger row's cause, including the words older versions wrote ("link" for a
        link-caused camera outage); an unknown word reads as UNKNOWN, never an error."""
        try:
            return cls(value)
        except ValueError:
            return _OLD_CAUSES.get(value, cls.UNKNOWN)


_OLD_CAUSES = {"link": Cause.LINK_DOWN, "feed": Cause.FEED_MISSING, "": Cause.UNKNOWN}


def uplink_is(uplink: str, centre: str, link: str) -> bool:
    """Whether a camera's `uplink` names that command-centre link: "centre/link", or the
    link's name alone."""
    return bool(uplink) and uplink in (link, f"{centre}/{link}")



@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:  # never leak the secret through a repr in a traceback or log
        return f"Credentials(username={self.username!r}, password=<redacted>)"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A URL to probe, with any user:password removed from it and kept in `credentials`.

    `url` is therefore always safe to print, log and export.
    """

    url: str
    credentials: Credentials | None = None

    @property
    def scheme(self) -> str:
        return _parts(self.url)[0]

    @property
    def host(self) -> str:
        return _parts(self.url)[1]

    @property
    def port(self) -> int | None:
        return _parts(self.url)[2]


# Parsed on first use and remembered (not in the constructor: the config loader builds
# hundreds of thousands of endpoints and must stay fast).  Sized above the largest fleet.
@functools.lru_cache(maxsize=1 << 18)
def _parts(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port  # ValueError on a bad port, as urlsplit's own .port
    if port is None:
        port = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}.get(scheme)
    return scheme, parts.hostname or "", port


def split_credentials(url: str, default: Credentials | None = None) -> Endpoint:
    """`rtsp://u:p@h/x` -> Endpoint("rtsp://h/x", Credentials("u", "p")).

    Credentials in the URL win over `default` (the camera's `username:`/`password:`).
    Percent-escapes in user and password are decoded (RFC 3986 userinfo).
    """
    from urllib.parse import unquote

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return Endpoint(url, default)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    creds = Credentials(unquote(parts.username or ""), unquote(parts.password or ""))
    return Endpoint(clean, creds)


def redact_url(url: str) -> str:
    """The URL with any password replaced, for text that came from outside the inventory."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:xxxxx@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# --------------------------------------------------------------------------- results


class Detail:
    """The keys of `Result.detail`.  Probes write with these names and the exporter, the
    status page and `probe` read with them, so a key cannot drift between writer and reader
    (each check's entry in monitor.checks declares the keys it writes, `Check.detail`;
    tests/test_detail_keys.py runs every probe and compares)."""

    # rtsp and feed checks (the stream check starts with the same DESCRIBE)
    CODEC = "codec"  # video codec the SDP announces, e.g. "H264"; None when it does not say
    WIDTH = "width"  # int pixels, None when the SDP does not say
    HEIGHT = "height"
    AUTH = "auth"  # "basic" | "digest" | None: the scheme the camera asked for
    STATUS = "status"  # last RTSP/HTTP status code
    CLOCK_OFFSET = "clock_offset"  # camera clock minus ours, seconds (None: no Date header)
    TLS_CERT_EXPIRY = "tls_cert_expiry"  # rtsps/https: certificate notAfter, epoch seconds
    # stream check
    PACKETS = "packets"  # RTP packets received in the window
    LOST = "lost"  # RTP packets missing by sequence number
    FPS = "fps"  # frames per second (None when no frame was seen)
    BYTES_PER_SECOND = "bytes_per_second"  # media payload rate
    KEYFRAME_INTERVAL = "keyframe_interval"  # seconds; None with fewer than two keyframes
    TRANSPORT = "transport"  # "tcp" | "udp"
    STALLS = "stalls"  # silences of more than 1.5 s between packets (resumed or not)
    LONGEST_GAP = "longest_gap"  # seconds, the longest silence between packets
    # http check
    CONTENT_TYPE = "content_type"  # printable, at most 100 characters
    BYTES = "bytes"  # body size
    # snapshot and picture checks (a picture of the http check, keyframes of the stream check)
    LUMINANCE = "luminance"  # mean brightness of the picture, 0..1
    UNCHANGED = "unchanged"  # consecutive pictures the same
    DIFFERENCE = "difference"  # fingerprint distance to the previous picture (None: first)
    UNIFORM = "uniform"  # share of the picture near its dominant colour, 0..1
    KEYFRAMES_DECODED = "keyframes_decoded"  # picture check: keyframes decoded this round
    # onvif check (GetDeviceInformation; its clock is CLOCK_OFFSET)
    MANUFACTURER = "manufacturer"  # printable, at most 128 characters, as the device says
    MODEL = "model"
    FIRMWARE = "firmware"
    SERIAL = "serial"
    HARDWARE_ID = "hardware_id"


@dataclass(slots=True)
class Result:
    """What one probe found.  Exactly one reason; never an exception.

    `detail` carries check-specific facts under the keys of `Detail` (all optional); which
    check may write which key is its catalogue entry's `Check.detail` (monitor.checks).
    `phases` holds timings in seconds: "connect", "first_byte", "total" where known.
    `trace` holds human lines of each exchange when the caller asked for them (probe -v).
    `body` holds the image fetched by the http check so that the snapshot check can look at
    the same picture without a second request; the state drops it after use.
    """

    reason: Reason
    duration: float = 0.0
    message: str = ""  # short human explanation; never contains a password
    detail: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    trace: list[str] | None = None
    body: bytes | None = None
    # the stream check's keyframes (Annex B access units, oldest first) for the picture
    # analysis after the probe; dropped like `body`
    keyframes: list[bytes] | None = None
    # a picture verdict's evidence: a small JPEG of what the camera showed (black, uniform
    # or frozen picture), kept by the outage ledger when the verdict opens an outage
    evidence: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


@dataclass(slots=True)
class ProbeContext:
    """What the caller hands a probe besides the endpoint.

    The caller owns the deadline: it wraps the probe in ``asyncio.timeout`` and turns the
    expiry into ``Reason.TIMEOUT``.  `deadline` (a ``loop.time()`` value) is given so a
    probe can budget inner phases (the stream check reads media until
    ``min(deadline - margin, start + stream_duration)``).
    """

    deadline: float
    trace: list[str] | None = None  # append human lines here when not None (probe -v)
    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    stream_duration: float = 4.0
    tls_verify: bool = False  # cameras nearly always carry self-signed certificates
    user_agent: str = "cctv-monitor"


# --------------------------------------------------------------------------- inventory


@dataclass(frozen=True, slots=True)
class StreamSettings:
    interval: float = 300.0  # 0 = stream checks off
    duration: float = 4.0
    # every camera's stream check within the interval: 5,518 cameras at 5 s a check every
    # 5 min need 92 (monitor.resources.stream_budget_needed); 150 is 450 descriptors
    concurrency: int = 150


@dataclass(frozen=True, slots=True)
class OnvifSettings:
    interval: float = 3600.0  # the onvif check's own slow round; 0 = off


@dataclass(frozen=True, slots=True)
class SnapshotSettings:
    frozen_after: int = 3  # identical fetches in a row before a picture is frozen
    black_below: int = 16  # mean luminance (0-255) under which a picture is black
    # share of the picture (0..1) near its dominant colour at or above which it is uniform
    # (covered lens, placard); 0 turns the verdict off
    uniform_above: float = 0.9


@dataclass(frozen=True, slots=True)
class LinkSettings:
    interval: float = 10.0  # links are probed on their own, short cycle
    timeout: float = 2.0  # per single link probe (one packet / one connect)
    probes: int = 5  # probes per target per round: loss is a ratio over these
    loss_degraded: float = 0.05  # loss ratio at or above which a link is degraded
    rtt_degraded: float = 0.150  # average RTT (s) at or above which a link is degraded


@dataclass(frozen=True, slots=True)
class ReloadSettings:
    #: share of the cameras a reload may remove unless it is forced (a vanished include
    #: file must not silently drop a provider's cameras)
    max_removed_ratio: float = 0.1


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    interval: float = 30.0
    timeout: float = 5.0
    concurrency: int = 1000
    retries: int = 1
    stream: StreamSettings = StreamSettings()
    snapshot: SnapshotSettings = SnapshotSettings()
    links: LinkSettings = LinkSettings()
    reload: ReloadSettings = ReloadSettings()
    onvif: OnvifSettings = OnvifSettings()


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    target_cameras: int = 0
    sla: float = 0.0
    milestones: tuple[Milestone, ...] = ()  # by date, counts never decreasing


@dataclass(frozen=True, slots=True)
class Milestone:
    """A contractual step: at least `cameras` installed by the end of day `by`."""

    by: datetime.date
    cameras: int


@dataclass(frozen=True, slots=True)
class Integration:
    """A platform that must receive camera feeds (the smart-city platform, a command centre).

    Every command centre is an integration of the same name; others are declared in the
    top-level ``integrations:`` list.  `centre` names the command centre whose links carry
    the feed, when there is one.
    """

    name: str
    centre: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    targets: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class CommandCentre:
    name: str
    links: tuple[Link, ...]


class LinkKey(NamedTuple):
    """One command-centre link: State's key, written "centre/link" in the ledger, the
    state-change log and a camera's `uplink`.  Equal to the plain (centre, link) tuple."""

    centre: str
    link: str

    def __str__(self) -> str:
        return f"{self.centre}/{self.link}"

    @classmethod
    def parse(cls, text: str) -> "LinkKey":
        """The key written as "centre/link" (the centre's name holds no slash)."""
        centre, _, link = text.partition("/")
        return cls(centre, link)


def link_keys(inventory: "Inventory") -> list[LinkKey]:
    """Every link of every command centre, in configuration order."""
    return [LinkKey(c.name, link.name) for c in inventory.command_centres for link in c.links]


#: How the inventory spells the ring-one zone (the high-security zone around the palace).
RING_ONE = "ring-1"
#: Other spellings a provider's inventory uses for it: they count as ring one everywhere.
_RING_ONE_SPELLINGS = frozenset({RING_ONE, "ring-one", "ring1", "ring_1"})


def is_ring_one(zone: str) -> bool:
    """Whether a camera's zone is ring one: the one rule for /status, the report and the
    exporter's readers."""
    return zone.lower() in _RING_ONE_SPELLINGS


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    name: str = ""
    provider: str = ""
    district: str = ""
    zone: str = ""
    location: tuple[float, float] | None = None
    uplink: str = ""  # site switch / PoP the camera hangs off, for mass-outage grouping
    rtsp: Endpoint | None = None
    http: Endpoint | None = None
    onvif: Endpoint | None = None  # the ONVIF device service; None: no onvif check
    checks: tuple[str, ...] = ()  # resolved: defaults applied by the loader
    integrations: tuple[str, ...] = ()
    feeds: tuple[tuple[str, Endpoint], ...] = ()  # (integration name, endpoint)
    interval: float | None = None  # per-camera override of monitor.interval
    claimed_installed: datetime.date | None = None  # as the provider's inventory claims


@dataclass(frozen=True, slots=True)
class HistorySettings:
    """Where the outage ledger lives: a SQLite file or a PostgreSQL DSN (never both)."""

    path: str | None = None  # SQLite file; None with no dsn: the daemon's default
    dsn: str | None = field(default=None, repr=False)  # may hold a password
    retention: float = 0.0  # seconds of history kept; 0 keeps everything


@dataclass(frozen=True, slots=True)
class Signatory:
    """One signature line of the provider report: a person's name and role."""

    name: str
    role: str


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """The provider report as a document: its number's prefix and who signs it."""

    document_prefix: str = ""
    signatories: tuple[Signatory, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessSettings:
    """Who may see what on the web port (`access:`): the users of `--web.config.file` by
    role.  `configured` is False when the configuration has no `access:` section: then every
    authenticated user is an admin, as before roles existed."""

    configured: bool = False
    admins: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    prometheus: tuple[str, ...] = ()
    providers: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (provider, its users)

    def role_of(self, user: str) -> tuple[str, str]:
        """(role, provider): role is admin, viewer, prometheus, provider or "" (none)."""
        if user in self.admins:
            return "admin", ""
        if user in self.viewers:
            return "viewer", ""
        if user in self.prometheus:
            return "prometheus", ""
        for provider, users in self.providers:
            if user in users:
                return "provider", provider
        return "", ""


#: Maintenance scope keys and the camera field each matches.
MAINTENANCE_SCOPES = (("cameras", "id"), ("providers", "provider"), ("districts", "district"),
                      ("zones", "zone"), ("uplinks", "uplink"))


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Planned work: cameras in scope are not held against their provider meanwhile.

    One-off (`start`, `end`: aware datetimes, [start, end)) or recurring (`weekdays`,
    0 = Monday, and `between`: minutes after local midnight [from, to), where to <= from
    runs past midnight into the next day; the weekday is the start's), in the
    inventory's `timezone`.  A camera is in scope when it matches every scope given (any
    value within one); `monitor.maintenance.windows` answers when a window is on.
    """

    name: str
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    weekdays: tuple[int, ...] = ()
    between: tuple[int, int] | None = None
    cameras: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    uplinks: tuple[str, ...] = ()

    def covers(self, camera: Camera) -> bool:
        for scope, attr in MAINTENANCE_SCOPES:
            values = getattr(self, scope)
            if values and getattr(camera, attr) not in values:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Inventory:
    settings: MonitorSettings
    providers: tuple[Provider, ...]
    integrations: tuple[Integration, ...]
    command_centres: tuple[CommandCentre, ...]
    cameras: tuple[Camera, ...]
    files: tuple[str, ...] = ()  # every file read, for reload and error messages
    #: each include pattern (joined to the directory of the file naming it) and the files
    #: it matched, in reading order: a reload can refuse a pattern that now matches nothing
    includes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    timezone: str = "Asia/Jakarta"  # IANA name: reports, maintenance windows
    history: HistorySettings = HistorySettings()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    report: ReportSettings = ReportSettings()
    access: AccessSettings = AccessSettings()

    def provider(self, name: str) -> Provider | None:
        for p in self.providers:
            if p.name == name:
                return p
        return None

    def camera_map(self) -> Mapping[str, Camera]:
        return {c.id: c for c in self.cameras}


@dataclass(slots=True)
class LinkResult:
    """One round of probes over one command-centre link (all its targets).

    `state` is "up", "degraded" (loss or RTT over the named thresholds) or "down" (no
    target answered any probe this round).  RTTs are in seconds over the answered probes
    (None when none answered); `loss` is lost/sent over the round.  `targets` holds
    per-target detail: dicts with "url", "sent", "received", "rtt_avg", "reason".
    """

    state: str
    reason: Reason
    sent: int = 0
    received: int = 0
    loss: float = 1.0
    rtt_min: float | None = None
    rtt_avg: float | None = None
    rtt_max: float | None = None
    jitter: float | None = None  # mean absolute difference of consecutive RTTs (RFC 3550 style)
    message: str = ""
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.state != "down"
