"""The metric families of /metrics, one declaration each, in exposition order.

A `Family` says what a family is (name, type, help, labels), where its value comes from
(its level, the check and `Result.detail` key it reads) and how it is printed.  The
exporter (monitor/metrics/exporter.py) runs these declarations; docs/metrics.md is generated from
them (``python -m monitor.commands.metrics_doc``), and `families_for_check` tells which families a
check feeds.  A family names the checks it reads once, here (a detail family its ``checks=``,
another its ``reads=``); the clock and certificate families read whatever checks the
catalogue says carry a clock or write the certificate's expiry, so a new check needs no
edit here.

Levels, i.e. what one series is about and when its line is re-formatted:

- ``camera``: one camera, from the inventory (re-formatted on reload) or from the camera's
  up/down verdict (re-formatted after each of its results);
- ``check``: one camera and one of its checks, after each result of that check;
- ``detail``: one camera, from a `Result.detail` key of the first of `checks` the camera
  has (the stream check's frame rate; the stream info from rtsp when there is no stream
  check);
- ``feed``: one camera and integration, after each feed result or cause change;
- ``link``, ``centre``, ``provider``: few series, computed at scrape time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .. import checks as catalogue
from ..checks import CLOCK_SOURCES, camera_clock, writers
from ..maintenance.current import covered, in_maintenance_now
from ..model import Detail

GAUGE, COUNTER = "gauge", "counter"
CAMERA, CHECK, DETAIL, FEED, LINK, CENTRE, PROVIDER = (
    "camera", "check", "detail", "feed", "link", "centre", "provider")
#: Per camera but computed at scrape time, from the clock rather than from results (the
#: cameras a maintenance window covers).
CAMERA_NOW = "camera_now"

#: What a missing value (None) does to the family's line of that camera.
KEEP = "keep"  # the last known line stays (an answer that does not say is not news)
DROP = "drop"  # the line goes: the value is unknown now
ZERO_IF_FAILED = "zero_if_failed"  # a failed check means a rate of 0; otherwise keep
ALWAYS = "always"  # never missing

#: The label names a level's series start with, in order.
KEY_LABELS = {
    CAMERA: ("camera",), CHECK: ("camera", "check"), DETAIL: ("camera",),
    FEED: ("camera",), LINK: ("centre", "link"), CENTRE: ("centre",), PROVIDER: ("provider",),
    CAMERA_NOW: ("camera",),
}


def escape(value: str) -> str:
    """A label value per the text exposition format: backslash, double quote, newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def num(value: float) -> str:
    """A sample value: integers without a decimal point, floats by repr, NaN as NaN."""
    if value != value:  # NaN
        return "NaN"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


#: How a sample value is printed: the exporter inlines these into its line formatters.
INT, FLAG, FIXED3, FIXED6, NUM = "int", "flag", "fixed3", "fixed6", "num"
FORMATS: dict[str, Callable[[Any], str]] = {
    INT: str,
    FLAG: lambda v: "1" if v else "0",
    FIXED3: lambda v: f"{v:.3f}",
    FIXED6: lambda v: f"{v:.6f}",
    NUM: num,
}

#: The names a family's `value` expression may use, per level.
ARGS = {CAMERA: ("cs",), CHECK: ("cs", "check", "r", "ok"), DETAIL: ("d",), FEED: ("cs",),
        LINK: ("r",), CENTRE: ("ctx",), PROVIDER: ("ctx",), CAMERA_NOW: ("ctx",)}


@dataclass(frozen=True)
class Family:
    """One metric family.  `value` is a Python expression over the level's source (`ARGS`:
    ``cs`` a CameraState, ``check``, ``r`` and ``ok`` a check, its Result and whether it
    passed, ``d`` a
    Result.detail, ``r`` a LinkResult for links, ``ctx`` the scrape context), giving per
    `kind`:

    - ``value``: the sample value (None: see `absent`);
    - ``info``: the value of the label after the level's key labels (a tuple of them when
      there are several), sample value 1 (None: see `absent`);
    - ``rows``: several series per key, ``[(label value, ..., sample value), ...]`` with
      the values of the labels after the level's key labels (empty: no series).

    Label values are strings.

    An expression rather than a function because the exporter compiles the per-camera
    families of a level into one formatter (as dataclasses and namedtuple generate their
    methods): a function call per family and result doubled the write-path cost.
    """

    name: str
    type: str
    help: str
    level: str
    labels: tuple[str, ...]
    value: str = ""  # detail level: defaults to reading `key`
    kind: str = "value"
    fmt: str = NUM
    absent: str = DROP
    checks: tuple[str, ...] = ()  # detail level: the checks read, the first one present wins
    key: str | None = None  # detail level: the Result.detail key read
    #: other levels: the checks whose results the value comes from (families_for_check)
    reads: tuple[str, ...] = ()
    inventory: bool = False  # camera level: from the inventory only, re-formatted on reload
    on_failure_only: bool = False  # check level: the value only changes when a check fails
    trusted: tuple[str, ...] = ()  # labels whose values come from a closed set: not escaped
    header: bytes = field(init=False, repr=False, compare=False)
    get: Callable[..., Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assert self.type in (GAUGE, COUNTER) and self.kind in ("value", "info", "rows")
        assert self.labels[:len(KEY_LABELS[self.level])] == KEY_LABELS[self.level], self.name
        assert (self.level == DETAIL) == bool(self.checks and self.key), self.name
        assert not (self.reads and self.level in (DETAIL, CHECK)), self.name
        if not self.value:
            object.__setattr__(self, "value", f"d.get({self.key!r})")
        object.__setattr__(self, "header",
                           f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.type}\n".encode())
        object.__setattr__(self, "get", eval(  # noqa: S307 - the table's own expressions
            f"lambda {', '.join(ARGS[self.level])}: {self.value}", globals()))

    @property
    def extra_labels(self) -> tuple[str, ...]:
        """The labels after the level's key labels, filled by `value`."""
        return self.labels[len(KEY_LABELS[self.level]):]

    def text(self, keylab: str, got: Any) -> str:
        """The family's lines for one key (`keylab`: its formatted key labels)."""
        name = self.name
        fmt = FORMATS[self.fmt]
        if self.kind == "value":
            return f"{name}{{{keylab}}} {fmt(got)}\n"
        extra = self.extra_labels
        if self.kind == "info":
            return f"{name}{{{keylab}{_labels(extra, got if len(extra) > 1 else (got,))}}} 1\n"
        return "".join(f"{name}{{{keylab}{_labels(extra, row)}}} {fmt(row[-1])}\n" for row in got)


def _labels(names: tuple[str, ...], values: tuple) -> str:
    return "".join(f',{n}="{escape(str(v))}"' for n, v in zip(names, values))


# ------------------------------------------------------------------- value getters


def _camera_info(cs) -> tuple:
    cam = cs.camera
    lat, lon = (str(cam.location[0]), str(cam.location[1])) if cam.location else ("", "")
    return (cam.name, cam.provider, cam.district, cam.zone, lat, lon, cam.uplink)


def integrations_of(camera) -> tuple[str, ...]:
    """The integrations a camera is configured for, whether or not it has a feed endpoint."""
    if not camera.feeds and not camera.integrations:
        return ()
    return tuple(dict.fromkeys((*camera.integrations, *(i for i, _ in camera.feeds))))


def _stream_info(d: dict) -> tuple | None:
    codec = d.get(Detail.CODEC)
    if not codec:
        return None
    w, h = d.get(Detail.WIDTH), d.get(Detail.HEIGHT)
    return (str(codec), "" if w is None else str(int(w)), "" if h is None else str(int(h)))


def _clock(cs) -> float | None:
    clock = camera_clock(cs.results)
    return None if clock is None else clock[0]


def _cert_expiry(cs) -> float | None:
    """The earliest notAfter of the certificates the camera's rtsps/https answers showed."""
    found = [r.detail.get(Detail.TLS_CERT_EXPIRY) for r in cs.results.values()]
    found = [t for t in found if t is not None]
    return min(found) if found else None


def _device_info(d: dict) -> tuple | None:
    if not d.get(Detail.MODEL) and not d.get(Detail.MANUFACTURER):
        return None
    return tuple(str(d.get(k) or "") for k in (Detail.MANUFACTURER, Detail.MODEL, Detail.FIRMWARE))


def _duplicates(ctx) -> list:
    devices = getattr(ctx.state, "devices", None)
    counts = devices.duplicate_counts() if devices is not None else {}
    names = [p.name for p in ctx.state.inventory.providers]
    return [(p, counts.get(p, 0)) for p in names] + sorted(
        (p, n) for p, n in counts.items() if p not in set(names))


def _failures(cs, check) -> list:
    return [(rs, n) for (c, rs), n in cs.failures.items() if c == check]


def _maintenance_rows(ctx) -> list:
    """(camera, 1 while a window is on) for every camera some maintenance window covers."""
    inventory = ctx.state.inventory
    if not inventory.maintenance:
        return []
    on = in_maintenance_now(inventory)
    return [(cid, cid in on) for cid in sorted(covered(inventory))]


def _centre_rows(ctx) -> list:
    rows = []
    for centre in ctx.state.inventory.command_centres:
        up = ctx.state.centre_up(centre.name)
        if up is not None:
            rows.append((centre.name, up))
    return rows


# --------------------------------------------------------------------------- the table

_CAM, _CAM_CHECK, _CAM_INTEG, _LINK = ("camera",), ("camera", "check"), ("camera", "integration"), ("centre", "link")

FAMILIES: tuple[Family, ...] = (
    Family("cctv_camera_info", GAUGE, "Camera inventory, for joins and maps (always 1).", CAMERA,
           (*_CAM, "name", "provider", "district", "zone", "lat", "lon", "uplink"),
           "_camera_info(cs)", kind="info", absent=ALWAYS, inventory=True),
    Family("cctv_camera_integration_info", GAUGE,
           "Integrations a camera is configured for (always 1).", CAMERA, _CAM_INTEG,
           "[(i, 1) for i in integrations_of(cs.camera)]", kind="rows", fmt=INT,
           inventory=True),
    Family("cctv_camera_up", GAUGE, "1 when every configured check of the camera passed last round.",
           CAMERA, _CAM, "cs.up", fmt=FLAG),
    Family("cctv_camera_last_up_timestamp_seconds", GAUGE, "When the camera was last seen up.",
           CAMERA, _CAM, "cs.last_up", fmt=FIXED3, absent=KEEP),
    Family("cctv_camera_state_changes_total", COUNTER, "Camera up/down flips.", CAMERA, _CAM,
           "cs.changes", fmt=INT, absent=ALWAYS),
    Family("cctv_camera_clock_offset_seconds", GAUGE,
           "Camera clock minus the monitor's: ONVIF, else the Date header of its RTSP/HTTP "
           "answers (1 s resolution, round trip accounted for).", CAMERA, _CAM, "_clock(cs)",
           absent=KEEP, reads=CLOCK_SOURCES),
    Family("cctv_camera_tls_cert_expiry_seconds", GAUGE,
           "When the certificate of the camera's rtsps/https answers expires (epoch seconds; "
           "the earliest when several), read from the handshake the probe does anyway.",
           CAMERA, _CAM, "_cert_expiry(cs)", absent=KEEP, reads=writers(Detail.TLS_CERT_EXPIRY)),
    Family("cctv_probe_success", GAUGE, "Last result of the check (1 passed, 0 failed).", CHECK,
           _CAM_CHECK, "ok", fmt=FLAG, absent=ALWAYS),
    Family("cctv_probe_duration_seconds", GAUGE, "Duration of the last probe of the check.", CHECK,
           _CAM_CHECK, "r.duration", fmt=FIXED6, absent=ALWAYS),
    Family("cctv_probe_reason", GAUGE,
           "The last reason of the check; one series per camera and check.", CHECK,
           (*_CAM_CHECK, "reason"), "r.reason.value", kind="info", trusted=("reason",), absent=ALWAYS),
    Family("cctv_probes_total", COUNTER, "Checks done, whatever their retries.", CHECK, _CAM_CHECK,
           "cs.probes.get(check, 0)", fmt=INT, absent=ALWAYS),
    Family("cctv_probe_failures_total", COUNTER, "Failed checks by reason.", CHECK,
           (*_CAM_CHECK, "reason"), "_failures(cs, check)", kind="rows", fmt=INT,
           on_failure_only=True, trusted=("reason",)),
    Family("cctv_feed_up", GAUGE, "The camera's feed reaches that integration point.", FEED,
           _CAM_INTEG, "[(n, fs.up) for n, fs in cs.feeds.items() if fs.up is not None]",
           kind="rows", fmt=FLAG),
    Family("cctv_feed_state", GAUGE, "Why a feed is up or down (always 1; cause label).", FEED,
           (*_CAM_INTEG, "cause"), "[(n, fs.cause, 1) for n, fs in cs.feeds.items()]",
           kind="rows", fmt=INT, trusted=("cause",)),
    Family("cctv_stream_frames_per_second", GAUGE, "Frame rate measured by the stream check.",
           DETAIL, _CAM, checks=("stream",), key=Detail.FPS, absent=ZERO_IF_FAILED),
    Family("cctv_stream_bytes_per_second", GAUGE, "Media payload rate during the stream check.",
           DETAIL, _CAM, checks=("stream",), key=Detail.BYTES_PER_SECOND, absent=ZERO_IF_FAILED),
    Family("cctv_stream_keyframe_interval_seconds", GAUGE, "Time between keyframes seen.", DETAIL,
           _CAM, checks=("stream",), key=Detail.KEYFRAME_INTERVAL),
    Family("cctv_stream_stalls", GAUGE, "Silences over 1.5 s in the last stream check, resumed "
           "or not.", DETAIL, _CAM, checks=("stream",), key=Detail.STALLS, fmt=INT),
    Family("cctv_stream_longest_gap_seconds", GAUGE, "Longest silence between packets in the "
           "last stream check.", DETAIL, _CAM, checks=("stream",), key=Detail.LONGEST_GAP),
    Family("cctv_stream_info", GAUGE, "Codec and size the stream announces (always 1).", DETAIL,
           (*_CAM, "codec", "width", "height"), "_stream_info(d)", kind="info",
           checks=("stream", "rtsp"), key=Detail.CODEC, absent=KEEP),
    Family("cctv_snapshot_luminance_ratio", GAUGE, "Mean brightness of the last picture, 0 to 1.",
           DETAIL, _CAM, checks=("snapshot",), key=Detail.LUMINANCE, absent=KEEP),
    Family("cctv_snapshot_unchanged_fetches", GAUGE, "Consecutive fetches with the same picture.",
           DETAIL, _CAM, checks=("snapshot",), key=Detail.UNCHANGED, absent=KEEP),
    Family("cctv_camera_device_info", GAUGE,
           "The device the onvif check found: manufacturer, model, firmware (always 1).", DETAIL,
           (*_CAM, "manufacturer", "model", "firmware"), "_device_info(d)", kind="info",
           checks=("onvif",), key=Detail.MODEL, absent=KEEP),
    Family("cctv_link_up", GAUGE, "The link to a command centre works (up or degraded).", LINK,
           _LINK, "r.up", fmt=FLAG),
    Family("cctv_link_state", GAUGE, "Link state: up, degraded or down (always 1).", LINK,
           (*_LINK, "state"), "r.state", kind="info", trusted=("state",)),
    Family("cctv_link_rtt_seconds", GAUGE, "Average round-trip time of the last round.", LINK,
           _LINK, "r.rtt_avg"),
    Family("cctv_link_rtt_min_seconds", GAUGE, "Minimum round-trip time of the last round.", LINK,
           _LINK, "r.rtt_min"),
    Family("cctv_link_rtt_max_seconds", GAUGE, "Maximum round-trip time of the last round.", LINK,
           _LINK, "r.rtt_max"),
    Family("cctv_link_jitter_seconds", GAUGE, "Mean difference of consecutive RTTs, last round.",
           LINK, _LINK, "r.jitter"),
    Family("cctv_link_loss_ratio", GAUGE, "Share of link probes lost, last round.", LINK, _LINK,
           "r.loss"),
    Family("cctv_centre_up", GAUGE, "A command centre is reachable over any link.", CENTRE,
           ("centre",), "_centre_rows(ctx)", kind="rows", fmt=FLAG),
    Family("cctv_camera_in_maintenance", GAUGE,
           "1 while a maintenance window covers the camera (0 outside it); only cameras "
           "some window covers.", CAMERA_NOW, _CAM, "_maintenance_rows(ctx)", kind="rows",
           fmt=FLAG),
    Family("cctv_provider_target_cameras", GAUGE, "Contractual number of cameras.", PROVIDER,
           ("provider",), "[(p.name, p.target_cameras) for p in ctx.state.inventory.providers]",
           kind="rows", fmt=INT),
    Family("cctv_provider_sla_ratio", GAUGE, "Contractual uptime.", PROVIDER, ("provider",),
           "[(p.name, p.sla) for p in ctx.state.inventory.providers]", kind="rows"),
    Family("cctv_provider_cameras", GAUGE,
           "Cameras per provider and zone: configured, up, down, unknown.", PROVIDER,
           ("provider", "zone", "state"), "ctx.camera_rows", kind="rows", fmt=INT),
    Family("cctv_provider_feeds", GAUGE,
           "Camera feeds per provider, zone and integration: configured, up.", PROVIDER,
           ("provider", "zone", "integration", "state"), "ctx.feed_rows", kind="rows", fmt=INT),
    Family("cctv_inventory_duplicate_devices", GAUGE,
           "Configured cameras whose device (ONVIF serial) another configured camera also "
           "reports: one device counted twice.", PROVIDER, ("provider",), "_duplicates(ctx)",
           kind="rows", fmt=INT, reads=("onvif",)),
)

BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}
assert len(BY_NAME) == len(FAMILIES)

#: Where a label's value comes from, for docs/metrics.md.
LABELS = {
    "camera": "camera id from the inventory",
    "check": "check name (monitor.checks)",
    "reason": "probe reason, one of the closed set (monitor.model.Reason)",
    "integration": "integration point the feed must reach (a command centre or platform)",
    "cause": "ok, camera_down, link_down, feed_missing or unknown",
    "centre": "command centre name",
    "link": "link name of that command centre",
    "state": "the state the series counts or flags (see the meaning)",
    "provider": "provider name from the inventory",
    "zone": "zone of the camera from the inventory",
    "name": "camera name", "district": "district", "lat": "latitude", "lon": "longitude",
    "uplink": "site switch or PoP the camera hangs off",
    "codec": "video codec the camera announces", "width": "picture width, pixels",
    "height": "picture height, pixels",
    "manufacturer": "device manufacturer, as its ONVIF service says",
    "model": "device model, as its ONVIF service says",
    "firmware": "device firmware version, as its ONVIF service says",
}


def families_for_check(check: str) -> tuple[Family, ...]:
    """The families a check's results appear in.  A camera check: the per-check families
    (one series per camera and check, whatever the check), the detail families that read
    its result and the others that say they read it; the feed check: the feed families;
    the command-centre link round ("link"): the link and centre families."""
    if check == catalogue.LINK.name:
        return tuple(f for f in FAMILIES if f.level in (LINK, CENTRE))
    if catalogue.check_for(check).kind == "feed":
        return tuple(f for f in FAMILIES if f.level == FEED)
    return tuple(f for f in FAMILIES
                 if f.level == CHECK or check in f.reads or (f.level == DETAIL and check in f.checks))
