"""Every configuration key, declared once: name, type, default, bounds and meaning.

The loader takes each section's allowed keys, defaults and bounds from these tables; the
reference (docs/configuration.md) and the JSON Schema (config/cctv-monitor.schema.json)
are generated from them (`monitor.config.reference`), and tests fail when either drifts.

A key's `type` is one of the names in `TYPES`; `lo`/`hi` bound integers and numbers
(inclusive); `zero` lets a duration be 0 ("off"); `section` is the table of a mapping's
keys, or of each entry of a list of mappings.  Rules that tie keys together (a timeout
shorter than its interval, a camera's provider being declared...) live in the loader and
are described in each section's `rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .. import checks as catalogue
from ..checks import CAMERA_CHECKS
from . import secretfile

#: Key types: what a value must look like.
TYPES = {
    "duration": "a Prometheus duration: whole numbers with units y w d h m s ms, largest "
                "first (500ms, 15s, 5m, 1h30m); a bare number is an error",
    "integer": "a whole number",
    "number": "a number",
    "ratio": "a number from 0 to 1 (0.05 is 5%)",
    "fraction": "a number greater than 0 and at most 1 (0.98 is 98%)",
    "text": "a string",
    "name": "a non-empty string",
    "url": "a URL",
    "location": "[latitude, longitude] in degrees",
    "checks": "a list of check names",
    "names": "a list of names",
    "scope": "a non-empty list of names",
    "paths": "a file glob or a list of them",
    "feeds": "a mapping of integration name to rtsp URL",
    "secret": "a string, never shown in errors or logs",
    "date": "a date, YYYY-MM-DD",
    "datetime": "a date and time with its UTC offset (ISO 8601), e.g. 2026-07-01T22:00+07:00",
    "weekdays": "a list of days: mon, tue, wed, thu, fri, sat, sun",
    "between": "a local time range HH:MM-HH:MM, e.g. 22:00-02:00 (past midnight)",
    "timezone": "an IANA time zone name, e.g. Asia/Jakarta",
    "dsn": "a PostgreSQL connection string (postgresql://... or key=value pairs)",
    "mapping": "a mapping",
    "list": "a list of mappings",
}

#: The longest camera id, and the longest of any other label value (names, districts...):
#: label values end up in every metric line and page; a megabyte name is a mistake.
MAX_ID = 256
MAX_LABEL = 1024


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    type: str
    meaning: str
    default: object = None  # the value when the key is left out; None: unset
    lo: float | None = None
    hi: float | None = None
    zero: bool = False  # a duration of 0 is allowed (it means "off")
    required: bool = False
    schemes: tuple[str, ...] = ()  # the URL schemes a url accepts
    max_len: int | None = None
    section: Section | None = None  # keys of a mapping, or of each entry of a list

    def __post_init__(self) -> None:
        assert self.type in TYPES, self.type


@dataclass(frozen=True, slots=True)
class Section:
    path: str  # as in error messages; "[]" marks each entry of a list
    meaning: str
    keys: tuple[Key, ...]
    rules: tuple[str, ...] = ()  # rules across keys, for the reference
    names: frozenset[str] = field(init=False)
    by_name: dict[str, Key] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(k.name for k in self.keys))
        object.__setattr__(self, "by_name", {k.name: k for k in self.keys})

    def __getitem__(self, name: str) -> Key:
        return self.by_name[name]

    def defaults(self) -> dict[str, object]:
        return {k.name: k.default for k in self.keys if k.section is None}


#: The camera fields each check can use (it needs one of them), from the catalogue.
CHECK_FIELDS = {name: check.fields for name, check in catalogue.CHECKS.items()}


def _ordered(schemes: Iterable[str]) -> tuple[str, ...]:
    # The order of error messages and the reference: the familiar schemes first.
    prefer = ("rtsp", "rtsps", "tcp", "http", "https", "icmp")
    return tuple(sorted(schemes, key=lambda s: (prefer.index(s) if s in prefer else 99, s)))


def field_schemes(field_name: str) -> tuple[str, ...]:
    """The schemes a camera URL field accepts: those every check probing it accepts."""
    sets = [c.schemes for c in catalogue.CHECKS.values() if field_name in c.fields]
    return _ordered(frozenset.intersection(*sets))


RTSP_SCHEMES = field_schemes("rtsp")
HTTP_SCHEMES = field_schemes("http")
FEED_SCHEMES = _ordered(catalogue.FEED.schemes)
LINK_SCHEMES = _ordered(catalogue.LINK.schemes)


def _default_rule() -> str:
    by_field: dict[str, list[str]] = {}
    for name, check in catalogue.CHECKS.items():
        if check.default:
            by_field.setdefault("/".join(f"{f}:" for f in check.fields), []).append(name)
    return "; ".join(f"{', '.join(names)} with {field_name}"
                     for field_name, names in by_field.items())

STREAM = Section("monitor.stream", "RTP liveness: SETUP/PLAY, packets and a keyframe, then "
                 "TEARDOWN.", (
    Key("interval", "duration", "How often each camera's stream is watched; 0 turns the "
        "stream check off for every camera.", 300.0, zero=True),
    Key("duration", "duration", "How long to watch the media (the deadline is duration + "
        "monitor.timeout).", 4.0),
    Key("concurrency", "integer", "Stream checks in flight at most (each holds a connection "
        "and three descriptors for seconds); a value too low to check every stream camera "
        "within the interval is reported at start with the number needed.", 150, lo=1),
))

SNAPSHOT = Section("monitor.snapshot", "Picture health, judged on the image the http check "
                   "fetched and on the stream check's keyframes.", (
    Key("frozen_after", "integer", "Identical pictures in a row before a camera counts as "
        "frozen.", 3, lo=2),
    Key("black_below", "integer", "Mean luminance (0-255) under which a picture is black.", 16,
        lo=0, hi=255),
    Key("uniform_above", "ratio", "Share of the picture within 10 levels of its dominant "
        "colour at or above which it is uniform (covered lens, placard; scenes measure 0.2 "
        "or less, placards 0.95 or more) when it is also still; 0 turns the verdict off.", 0.9),
))

LINKS = Section("monitor.links", "Command-centre links, probed on their own short cycle.", (
    Key("interval", "duration", "How often every link target is probed.", 10.0),
    Key("timeout", "duration", "Deadline of one single link probe (one packet or connect).",
        2.0),
    Key("probes", "integer", "Probes per target per round; loss is the share of these lost.",
        5, lo=1, hi=100),
    Key("loss_degraded", "ratio", "Loss at or above which a link is degraded.", 0.05),
    Key("rtt_degraded", "duration", "Average round trip at or above which a link is "
        "degraded.", 0.150),
), rules=("timeout must be shorter than interval.",))

ONVIF = Section("monitor.onvif", "Device identity and clock through ONVIF (cameras with an "
                "onvif: URL), on its own slow round.", (
    Key("interval", "duration", "How often each camera's ONVIF device service is asked for "
        "its identity and clock; 0 turns the onvif check off.", 3600.0, zero=True),
))

RELOAD = Section("monitor.reload", "Guards of a configuration reload (SIGHUP, /-/reload).", (
    Key("max_removed_ratio", "ratio", "Share of the cameras one reload may remove, or whose "
        "address (rtsp, http or onvif URL) it may change; a reload doing more is refused "
        "unless forced (a vanished include file must not silently drop a provider's cameras, "
        "a template typo must not make every camera an outage). A forced reload that moved "
        "cameras is recorded in the ledger and stated in the report.", 0.1),
))

MONITOR = Section("monitor", "How and how often the monitor probes; set in one file only.", (
    Key("interval", "duration", "How often each camera is probed (a camera may set its own "
        "interval).", 30.0),
    Key("timeout", "duration", "Hard deadline of one probe, connect and exchange.", 5.0),
    Key("concurrency", "integer", "Probes in flight at most.", 1000, lo=1),
    Key("retries", "integer", "Quick re-tries of timeouts, refusals and garbled answers "
        "inside the probe's deadline.", 1, lo=0, hi=5),
    Key("stream", "mapping", STREAM.meaning, section=STREAM),
    Key("snapshot", "mapping", SNAPSHOT.meaning, section=SNAPSHOT),
    Key("links", "mapping", LINKS.meaning, section=LINKS),
    Key("reload", "mapping", RELOAD.meaning, section=RELOAD),
    Key("onvif", "mapping", ONVIF.meaning, section=ONVIF),
), rules=("timeout must not be longer than interval.",))

MILESTONE = Section("providers[].milestones[]", "A contractual step: cameras installed by a "
                    "date.", (
    Key("by", "date", "The last day of the step.", required=True),
    Key("cameras", "integer", "Cameras installed by the end of that day.", required=True, lo=0),
), rules=("Dates increase along the list; counts never decrease.",))

PROVIDER = Section("providers[]", "A provider under contract for cameras.", (
    Key("name", "name", "The provider's name, as cameras' provider: refers to it.",
        required=True, max_len=MAX_LABEL),
    Key("target_cameras", "integer", "The contractual number of installed cameras.", 0, lo=0),
    Key("sla", "fraction", "Contractual availability (0.98 is 98%); left out: none.", 0.0),
    Key("milestones", "list", MILESTONE.meaning, section=MILESTONE),
), rules=("Provider names are unique across all files.",))

INTEGRATION = Section("integrations[]", "A platform that must receive camera feeds (the "
                      "smart-city platform...).", (
    Key("name", "name", "The integration's name, as cameras' integrations: and feeds: refer "
        "to it.", required=True, max_len=MAX_LABEL),
    Key("centre", "name", "The command centre whose links carry this integration's feeds.",
        max_len=MAX_LABEL),
), rules=("Every command centre is already an integration of its own name: do not list it.",
          "centre must name a declared command centre."))

LINK = Section("command_centres[].links[]", "One network link to the command centre.", (
    Key("name", "name", "The link's name (primary, backup...).", required=True,
        max_len=MAX_LABEL),
    Key("targets", "list", "Where the link is probed: tcp://host:port (connect), "
        "http(s)://... (a GET), icmp://host (echo).  At least one.", required=True,
        schemes=LINK_SCHEMES),
), rules=("A link is up while any of its targets answers.",))

CENTRE = Section("command_centres[]", "A command centre (the police's): reachable while "
                 "any of its links is up.", (
    Key("name", "name", "The centre's name; it is also an integration of that name.",
        required=True, max_len=MAX_LABEL),
    Key("links", "list", "Its links; at least one.", required=True, section=LINK),
), rules=("Link names are unique within a centre; centre names across all files.",))

CAMERA = Section("cameras[]", "One camera.", (
    Key("id", "name", "Unique and stable: the only per-camera metric label.", required=True,
        max_len=MAX_ID),
    Key("name", "text", "A human name (shown on the status page).", "", max_len=MAX_LABEL),
    Key("provider", "name", "The provider answerable for it (declared in providers:).",
        max_len=MAX_LABEL),
    Key("district", "text", "The district, for grouping.", "", max_len=MAX_LABEL),
    Key("zone", "text", "The zone (ring-1...), for grouping.", "", max_len=MAX_LABEL),
    Key("location", "location", "[latitude, longitude], for the map."),
    Key("uplink", "text", "The site switch or PoP it hangs off: groups cameras for "
        "mass-outage alerts.", "", max_len=MAX_LABEL),
    Key("rtsp", "url", "Its RTSP stream; user:password in the URL win over username:.",
        schemes=RTSP_SCHEMES),
    Key("http", "url", "Its snapshot URL (a JPEG).", schemes=HTTP_SCHEMES),
    Key("onvif", "url", "Its ONVIF device service, e.g. http://host:80/onvif/device_service "
        "(device identity and clock, WS-UsernameToken digest with the camera's credentials); "
        "left out: no onvif check.", schemes=HTTP_SCHEMES),
    Key("checks", "checks", "The checks to run (docs/checks.md): " + ", ".join(CAMERA_CHECKS)
        + ".  Left out: " + _default_rule() + " (the stream check only while "
        "monitor.stream.interval is above 0)."),
    Key("integrations", "names", "The integrations that must receive its stream."),
    Key("feeds", "feeds", "Per integration, the relay URL where that integration serves "
        "the stream (probed as the camera's feed).", schemes=FEED_SCHEMES),
    Key("username", "text", "User for rtsp:, http: and onvif: URLs that carry none."),
    Key("password", "secret", "Password for those URLs; prefer ${VAR} or password_file."),
    Key("password_file", "text", "A file holding the password (relative to this file): a "
        f"regular file of at most {secretfile.MAX_BYTES // 1024} KiB, read within "
        f"{secretfile.TIMEOUT:g} s; a trailing newline is dropped. A file in /proc, /sys or "
        "/dev (links resolved) is refused. Keep it owned by the monitor's user (or root) with "
        "mode 600 or 640: a file every user can read is accepted with a warning."),
    Key("interval", "duration", "This camera's own probe interval (at least "
        "monitor.timeout)."),
    Key("claimed_installed", "date", "The installation date the provider's inventory claims "
        "(the ledger records when it first answered)."),
), rules=(
    "Camera ids are unique across all files.",
    "A camera needs rtsp: or http: (or both); each check needs its URL (rtsp, stream: "
    "rtsp:; http, snapshot: http:).",
    "password and password_file need username, and exclude each other.",
    "A feed to an integration needs that integration in the camera's integrations.",
    "username and password apply to rtsp: and http:, never to feeds: (a relay is another "
    "server).",
))

HISTORY = Section("history", "The outage ledger: every state change, kept beyond Prometheus' "
                  "retention, for the monthly report.  Set in one file only.", (
    Key("path", "text", "SQLite file of the ledger, relative to this file; left out (and no "
        "dsn): the daemon's default."),
    Key("dsn", "dsn", "PostgreSQL for several monitor instances, e.g. "
        "postgresql://cctv:${PGPASSWORD}@db/cctv; its password is never shown."),
    Key("retention", "duration", "How long outages are kept; 0 keeps everything.", 0.0,
        zero=True),
), rules=("Use either path or dsn, not both.",))

SIGNATORY = Section("report.signatories[]", "One signature line at the end of the report.", (
    Key("name", "name", "The person's name.", required=True, max_len=MAX_LABEL),
    Key("role", "name", "Their role, e.g. Head of the Communications and Informatics Office.",
        required=True, max_len=MAX_LABEL),
))

REPORT = Section("report", "The provider report as a document: its number and who signs it.  "
                 "Set in one file only.", (
    Key("document_prefix", "text", "The start of every report's document number, e.g. "
        "DISKOMINFO/CCTV; the number goes on with the period, the provider (or ALL) and the "
        "first digits of the ledger digest.", "", max_len=MAX_LABEL),
    Key("signatories", "list", SIGNATORY.meaning, section=SIGNATORY),
), rules=("The signature block lists the signatories in the order given.",))

#: Maintenance scope keys, in the order of the reference.
SCOPES = ("cameras", "providers", "districts", "zones", "uplinks")

MAINTENANCE = Section("maintenance[]", "Planned work: cameras in scope are not held against "
                      "their provider while a window is on.", (
    Key("name", "name", "The window's name (shown on pages and in reports).", required=True,
        max_len=MAX_LABEL),
    Key("from", "datetime", "One-off: the start, with its UTC offset."),
    Key("to", "datetime", "One-off: the end (excluded), after from."),
    Key("weekdays", "weekdays", "Recurring: the days a window starts on."),
    Key("between", "between", "Recurring: the local times (in timezone:) it runs; a range "
        "past midnight ends the next day; 00:00-24:00 is the whole day."),
    Key("cameras", "scope", "Scope: camera ids (each must exist)."),
    Key("providers", "scope", "Scope: providers (each must be declared)."),
    Key("districts", "scope", "Scope: districts."),
    Key("zones", "scope", "Scope: zones."),
    Key("uplinks", "scope", "Scope: uplinks."),
), rules=(
    "A window is either one-off (from: and to:) or recurring (weekdays: and between:).",
    "It needs at least one scope key; a camera is in scope when it matches every scope key "
    "given (any value within one).",
    "Window names are unique across all files.",
))

ACCESS_PROVIDER = Section("access.providers[]", "The users of one provider: they see only "
                          "its cameras, feeds, outages and reports, and may dispute its outages.", (
    Key("provider", "name", "The provider (declared in providers:).", required=True,
        max_len=MAX_LABEL),
    Key("users", "scope", "User names of --web.config.file's basic_auth_users."),
))

ACCESS = Section("access", "Roles of the web users (their passwords stay in "
                 "--web.config.file).  Without this section every authenticated user is an "
                 "admin; with it, a user in no role gets only /-/healthy.  Set in one file only.", (
    Key("admins", "names", "The city: everything, decides disputes, reloads."),
    Key("viewers", "names", "Everything, read only."),
    Key("prometheus", "names", "Scrapers: /metrics, /-/reload and the health endpoints."),
    Key("providers", "list", ACCESS_PROVIDER.meaning, section=ACCESS_PROVIDER),
), rules=("A user has one role: listed once across admins, viewers, prometheus and "
          "providers.",))

TOP = Section("", "A configuration file.  Any file may hold any section (an included file "
              "typically holds one provider and its cameras); monitor: is set in one file "
              "only.", (
    Key("monitor", "mapping", MONITOR.meaning, section=MONITOR),
    Key("providers", "list", PROVIDER.meaning, section=PROVIDER),
    Key("integrations", "list", INTEGRATION.meaning, section=INTEGRATION),
    Key("command_centres", "list", CENTRE.meaning, section=CENTRE),
    Key("cameras", "list", CAMERA.meaning, section=CAMERA),
    Key("timezone", "timezone", "The time zone of maintenance windows and reports; set in one "
        "file only.", "Asia/Jakarta"),
    Key("history", "mapping", HISTORY.meaning, section=HISTORY),
    Key("maintenance", "list", MAINTENANCE.meaning, section=MAINTENANCE),
    Key("report", "mapping", REPORT.meaning, section=REPORT),
    Key("access", "mapping", ACCESS.meaning, section=ACCESS),
    Key("include", "paths", "Other files to read, as globs relative to this file; each "
        "must match at least one file.  Their sections are appended in name order."),
))

#: Every section, in the order of the reference.
SECTIONS = (TOP, MONITOR, STREAM, SNAPSHOT, LINKS, RELOAD, ONVIF, PROVIDER, MILESTONE, INTEGRATION,
            CENTRE, LINK, CAMERA, HISTORY, MAINTENANCE, REPORT, SIGNATORY, ACCESS,
            ACCESS_PROVIDER)
