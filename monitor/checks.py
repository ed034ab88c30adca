"""The check catalogue: what every check *is*, declared once.

Every other module reads a check from here: the config loader (which checks exist, what
they need, the defaults), the scheduler (which prober, which budget and round, which
timeout, which post-step), `cctv-monitor probe` (which checks and schemes it accepts), the
exporter (which `Result.detail` keys a check writes, which checks carry the camera's clock)
and docs/checks.md (generated from this module: ``python -m monitor.checks --markdown``).  A
test fails when an entry here cannot be scheduled, probed, exported or documented, or when
its probe writes a detail key its entry does not declare.

The API, in the order a caller needs it:

- `CHECKS`: name -> `Check`, every camera check, in display order; `CAMERA_CHECKS` is that
  order as a tuple.  `FEED` is the check of a camera's feed to an integration point (its
  scheduler key is ``feed:<integration>``), `ICMP` the one-echo probe of a link target,
  `LINK` the command-centre link round.  `check_for(key)` resolves any scheduler key and
  `get_probe(key)` gives its probe function; `feed_key(integration)` writes a feed's key and
  `feed_integration(key)` reads it (the one place that knows its form).
- `needs(check) -> tuple of camera fields` (any one of them will do) and
  `schemes(check) -> frozenset of URL schemes` the check's prober accepts.
- `enabled(check, settings)`: whether a check can run at all under these settings: the one
  place that says "the stream check is off when ``stream.interval`` is 0".
- `default_checks(present, settings)`: the checks of a camera that lists none, given the
  camera fields it has (e.g. ``{"rtsp", "http"}``).
- `active_checks(checks, settings)`: a camera's listed checks that will run, in order.
- `CLOCK_SOURCES`: the checks whose answers carry the camera's clock, most precise first,
  and `camera_clock(results)`; `writers(key)`: the camera checks that write a detail key.
- `BUDGETS`: name -> `Budget`: the concurrency limit and the round (interval, phase) a
  check runs on.  "fast" holds camera and feed checks on the camera interval, "stream" the
  long stream checks on ``stream.interval``, so a few of those never starve the fast ones.

Adding a check is one `Check` entry in `CHECKS` plus its probe module
(``probe=probes.Lazy("x")`` is `monitor.probes.x.probe`), or, for a check that looks at
another check's answer (snapshot judges the http check's picture, picture the stream
check's keyframes), an entry with ``after=`` naming that check and a ``post=`` step.  The
entry declares the `Result.detail` keys its probe writes (``detail=``) and, when its
answers carry the camera's clock, its rank among the clock sources (``clock=``); the
config loader, the scheduler, `cctv-monitor probe`, the per-check metric families and the
clock and certificate families follow from it (docs/ARCHITECTURE.md, "Adding a check").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Collection, Iterable, Mapping

from . import probes
from .model import Camera, Detail, Endpoint, MonitorSettings, Reason, Result

#: A post-step: (the parent check's result, this camera's memory for the check, settings)
#: -> the check's own result, or None when there is nothing to judge (no picture).
PostStep = Callable[[Result, dict, MonitorSettings], Awaitable["Result | None"]]
ProbeFn = Callable[..., Awaitable[Result]]

R = Reason
#: Reasons any network check can end in: `probes.base.classify_exception` and the deadline.
_NETWORK = frozenset({R.OK, R.TIMEOUT, R.REFUSED, R.UNREACHABLE, R.DNS_ERROR, R.TLS_ERROR,
                      R.BAD_RESPONSE})
_ANSWERS = frozenset({R.AUTH_REQUIRED, R.AUTH_FAILED, R.FORBIDDEN, R.NOT_FOUND, R.SERVER_ERROR})

D = Detail
#: What an RTSP DESCRIBE answer tells (rtsp and feed checks; the stream check starts with one).
_RTSP_DETAIL = frozenset({D.CODEC, D.WIDTH, D.HEIGHT, D.AUTH, D.STATUS, D.CLOCK_OFFSET,
                          D.TLS_CERT_EXPIRY})
#: What the picture analysis tells (snapshot on the http picture, picture on keyframes).
_PICTURE_DETAIL = frozenset({D.LUMINANCE, D.UNCHANGED, D.DIFFERENCE, D.UNIFORM})


@dataclass(frozen=True, slots=True)
class Budget:
    """A concurrency budget and the round its checks run on."""

    name: str
    doc: str
    limit: Callable[[MonitorSettings], int]  # checks of this budget in flight at once
    interval: Callable[[MonitorSettings, Camera], float]  # seconds between two rounds
    #: suffix of the phase key (blake2b of camera id + suffix): "" keeps the fast round's
    #: phase equal to the camera's, so restarts and reloads do not move it
    phase: str = ""

    def default_interval(self, settings: MonitorSettings) -> float:
        """The round's interval for a camera without an `interval:` of its own."""
        return self.interval(settings, _ANY_CAMERA)

    def on(self, settings: MonitorSettings) -> bool:
        """A round with interval 0 is switched off, with every check on it."""
        return self.default_interval(settings) > 0


_ANY_CAMERA = Camera(id="")

BUDGETS: dict[str, Budget] = {
    b.name: b
    for b in (
        Budget("fast", "camera and feed checks, on the camera interval "
               "(`monitor.interval` or the camera's `interval`), `monitor.concurrency` at once",
               limit=lambda s: s.concurrency,
               interval=lambda s, c: c.interval or s.interval),
        Budget("stream", "stream checks, on `stream.interval` (0 = off), "
               "`stream.concurrency` at once",
               limit=lambda s: s.stream.concurrency,
               interval=lambda s, c: s.stream.interval,
               phase="\x00stream"),
        Budget("onvif", "onvif checks, on `onvif.interval` (hourly by default, 0 = off), "
               "`stream.concurrency` at once",
               limit=lambda s: s.stream.concurrency,
               interval=lambda s, c: s.onvif.interval,
               phase="\x00onvif"),
    )
}


def _timeout(s: MonitorSettings) -> float:
    return s.timeout


def _stream_timeout(s: MonitorSettings) -> float:
    return s.stream.duration + s.timeout


@dataclass(frozen=True, slots=True)
class Check:
    """One check.  See the module docstring for how the fields are used."""

    name: str
    doc: str  # one line, for docs/checks.md and the CLI
    #: camera fields whose URL the check probes, first present wins (tcp: rtsp, else http)
    fields: tuple[str, ...]
    schemes: frozenset[str]  # URL schemes its prober accepts
    reasons: frozenset[Reason]  # every reason it can end in
    budget: str = "fast"  # a key of BUDGETS
    default: bool = False  # on for a camera that lists no checks, when it has the field
    probe: ProbeFn | None = None  # async (Endpoint, ProbeContext) -> Result; None: see after
    after: str | None = None  # the check whose answer this one judges (no probe of its own)
    post: PostStep | None = None  # how it judges it (with after=)
    timeout: Callable[[MonitorSettings], float] = _timeout
    timeout_doc: str = "`monitor.timeout`"
    #: the `Result.detail` keys (`model.Detail`) its probe or post-step writes; the
    #: exporter reads only declared keys (tests/test_detail_keys.py runs every probe)
    detail: frozenset[str] = frozenset()
    #: 0: its answer carries no camera clock; else its rank among the clock sources of
    #: `camera_clock`, 1 the most precise (ONVIF's clock; Date headers have 1 s resolution)
    clock: int = 0
    #: schemes for which `cctv-monitor probe URL` runs this check when --check is not given
    cli_default: frozenset[str] = frozenset()
    kind: str = "camera"  # "camera" | "feed" | "link"
    memory: bool = False  # keeps a per-camera memory between rounds (State.memory)

    def __post_init__(self) -> None:
        assert not self.clock or Detail.CLOCK_OFFSET in self.detail, self.name
        assert not set(self.detail) - _ALL_DETAIL, (self.name, set(self.detail) - _ALL_DETAIL)

    def endpoint(self, camera: Camera) -> Endpoint | None:
        for name in self.fields:
            ep = getattr(camera, name)
            if ep is not None:
                return ep
        return None


_ALL_DETAIL = frozenset(v for k, v in vars(Detail).items() if k.isupper())
_RTSP = frozenset({"rtsp", "rtsps"})
_HTTP = frozenset({"http", "https"})

#: Every camera check, in display order (config listings, pages, the exporter): one entry
#: per check, and the only place a check is declared.
CHECKS: dict[str, Check] = {c.name: c for c in (
    Check(
        "tcp", "the camera's port accepts a TCP connection (nothing is sent)",
        fields=("rtsp", "http"), schemes=frozenset({"tcp"}) | _RTSP | _HTTP,
        reasons=_NETWORK, probe=probes.Lazy("tcp"), cli_default=frozenset({"tcp"})),
    Check(
        "rtsp", "RTSP OPTIONS and DESCRIBE (with auth) answer, and the SDP offers video",
        fields=("rtsp",), schemes=_RTSP, default=True,
        reasons=_NETWORK | _ANSWERS | {R.NO_VIDEO}, probe=probes.Lazy("rtsp"), cli_default=_RTSP,
        detail=_RTSP_DETAIL, clock=2),
    Check(
        "stream", "RTP media flows for `stream.duration` seconds, with keyframes",
        fields=("rtsp",), schemes=_RTSP, default=True, budget="stream",
        reasons=_NETWORK | _ANSWERS | {R.NO_VIDEO}, probe=probes.Lazy("stream"),
        timeout=_stream_timeout, timeout_doc="`stream.duration` + `monitor.timeout`",
        detail=_RTSP_DETAIL | {D.PACKETS, D.LOST, D.FPS, D.BYTES_PER_SECOND,
                               D.KEYFRAME_INTERVAL, D.TRANSPORT, D.STALLS,
                               D.LONGEST_GAP}, clock=4),
    Check(
        "picture", "the stream check's keyframes (H.264, H.265) are neither black, uniform nor "
        "frozen: decoded off the event loop, judged like snapshots (no second request)",
        fields=("rtsp",), schemes=_RTSP, default=True,
        reasons=frozenset({R.OK, R.BLACK_IMAGE, R.FROZEN_IMAGE, R.UNIFORM_IMAGE}),
        after="stream", post=probes.Lazy("picture", "post_step"),
        timeout_doc="none of its own (pure CPU, in a pool of decoding threads)",
        detail=_PICTURE_DETAIL | {D.KEYFRAMES_DECODED}, memory=True),
    Check(
        "http", "the snapshot URL answers 2xx with a picture",
        fields=("http",), schemes=_HTTP, default=True,
        reasons=_NETWORK | _ANSWERS | {R.WRONG_CONTENT}, probe=probes.Lazy("http"),
        cli_default=_HTTP,
        detail=frozenset({D.STATUS, D.CONTENT_TYPE, D.BYTES, D.AUTH, D.CLOCK_OFFSET,
                          D.TLS_CERT_EXPIRY}), clock=3),
    Check(
        "snapshot", "the http check's picture is neither black, uniform nor frozen (no second "
        "request)",
        fields=("http",), schemes=_HTTP, default=True,
        reasons=frozenset({R.OK, R.BAD_RESPONSE, R.BLACK_IMAGE, R.FROZEN_IMAGE,
                           R.UNIFORM_IMAGE}),
        after="http", post=probes.Lazy("snapshot", "post_step"),
        timeout_doc="none of its own (pure CPU)", detail=_PICTURE_DETAIL, memory=True),
    Check(
        "onvif", "the ONVIF device service answers GetDeviceInformation (manufacturer, model, "
        "firmware, serial) with WS-UsernameToken digest, and GetSystemDateAndTime (its clock)",
        fields=("onvif",), schemes=_HTTP, default=True, budget="onvif",
        reasons=_NETWORK | _ANSWERS, probe=probes.Lazy("onvif"),
        detail=frozenset({D.CLOCK_OFFSET, D.MANUFACTURER, D.MODEL, D.FIRMWARE, D.SERIAL,
                          D.HARDWARE_ID}), clock=1),
)}
CAMERA_CHECKS: tuple[str, ...] = tuple(CHECKS)
#: Names for the checks other modules and tests speak of (a new check needs none).
TCP, RTSP, STREAM, PICTURE, HTTP, SNAPSHOT, ONVIF = (
    CHECKS[n] for n in ("tcp", "rtsp", "stream", "picture", "http", "snapshot", "onvif"))

FEED = Check(
    "feed", "the integration point's relay serves this camera's video (RTSP DESCRIBE); "
    "scheduled as `feed:<integration>`, one per entry of the camera's `feeds:`",
    fields=("feeds",), schemes=_RTSP, reasons=RTSP.reasons, probe=RTSP.probe,
    detail=_RTSP_DETAIL, kind="feed")  # the relay's Date header is not the camera's clock
ICMP = Check(
    "icmp", "one ICMP echo to a command-centre link target (`cctv-monitor probe` only; "
    "links probe it `links.probes` times a round)",
    fields=(), schemes=frozenset({"icmp"}), reasons=frozenset({R.OK, R.TIMEOUT, R.UNREACHABLE,
                                                               R.DNS_ERROR, R.BAD_RESPONSE}),
    probe=probes.Lazy("icmp"), timeout_doc="`links.timeout`", cli_default=frozenset({"icmp"}),
    kind="link")


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """A command-centre link: every target probed `links.probes` times a round."""

    doc: str
    schemes: frozenset[str]
    reasons: frozenset[Reason]
    probe: Callable[..., Awaitable[Any]]  # probe_link(Link, LinkSettings) -> LinkResult
    targets: Mapping[str, str] = field(default_factory=dict)  # scheme -> what one probe is
    name: str = "link"
    kind: str = "link"


LINK = LinkCheck(
    "loss, RTT and jitter to the police command centre, on `links.interval`",
    schemes=frozenset({"icmp", "tcp", "http", "https"}),
    reasons=_NETWORK | _ANSWERS,
    probe=probes.Lazy("link", "probe_link"),
    targets={"icmp": "one echo request",
             "tcp": "one SYN (the connect time, SYN to SYN/ACK)",
             "http": "one GET on a fresh connection (2xx/3xx answers)"},
)

#: Checks `cctv-monitor probe --check` accepts: every check with a prober of its own.
PROBE_COMMAND: dict[str, Check] = {
    c.name: c for c in (*CHECKS.values(), ICMP) if c.probe is not None}

#: What each reason means, for docs/checks.md and people reading a page.
REASON_DOCS: dict[Reason, str] = {
    R.OK: "the check passed",
    R.TIMEOUT: "no complete answer before the check's deadline",
    R.REFUSED: "the port refused the connection (nothing listens)",
    R.UNREACHABLE: "no route to the host, or the network is down",
    R.DNS_ERROR: "the host name did not resolve",
    R.TLS_ERROR: "the TLS handshake failed",
    R.AUTH_REQUIRED: "the camera asks for credentials and none are configured",
    R.AUTH_FAILED: "the configured credentials were refused",
    R.FORBIDDEN: "the credentials were accepted but access is denied (403)",
    R.NOT_FOUND: "the path or stream does not exist (404)",
    R.SERVER_ERROR: "the device answered with a server error (5xx)",
    R.BAD_RESPONSE: "an answer that is not valid RTSP/HTTP/picture, or a closed connection",
    R.WRONG_CONTENT: "the http answer is not a picture (e.g. an HTML login page)",
    R.NO_VIDEO: "no video: no video track offered, or no media/keyframe during the stream check",
    R.FROZEN_IMAGE: "the same picture `snapshot.frozen_after` fetches (or stream keyframes) "
                    "in a row",
    R.BLACK_IMAGE: "a picture darker than `snapshot.black_below`",
    R.UNIFORM_IMAGE: "a still picture of almost one colour at any brightness (covered or "
                     "sprayed lens, grey or blue placard): `snapshot.uniform_above` of it, "
                     "nothing but a burnt-in clock moving (a light crossing it keeps it ok)",
}


# --------------------------------------------------------------------------- functions


def feed_key(integration: str) -> str:
    """The scheduler key of a camera's feed to `integration`: ``feed:<integration>``."""
    return f"feed:{integration}"


def feed_integration(key: str) -> str | None:
    """The integration of a feed's scheduler key (`feed_key`), None for any other key."""
    return key[5:] if key.startswith("feed:") else None


def check_for(key: str) -> Check:
    """The Check of a scheduler key: a camera check name or ``feed:<integration>``."""
    if key == "feed" or feed_integration(key) is not None:
        return FEED
    try:
        return CHECKS[key]
    except KeyError:
        raise KeyError(f"unknown check {key!r}; checks are {', '.join(CAMERA_CHECKS)}") from None


def get_probe(key: str) -> ProbeFn:
    """The probe function of a scheduler key (``feed:<integration>`` included) or of a
    `cctv-monitor probe` check; KeyError for a check that only judges another's answer."""
    check = PROBE_COMMAND.get(key) or check_for(key)
    if check.probe is None:
        raise KeyError(f"check {key!r} has no probe: it judges the {check.after} check's answer")
    return check.probe.resolve() if isinstance(check.probe, probes.Lazy) else check.probe


def writers(key: str) -> tuple[str, ...]:
    """The camera checks whose probe writes the `Result.detail` key `key`, in catalogue order."""
    return tuple(name for name, c in CHECKS.items() if key in c.detail)


#: Camera checks whose answers carry the camera's clock (`Check.clock`), most precise first:
#: ONVIF's GetSystemDateAndTime, then the Date header of RTSP and HTTP answers (1 s).
CLOCK_SOURCES: tuple[str, ...] = tuple(
    c.name for c in sorted((c for c in CHECKS.values() if c.clock), key=lambda c: c.clock))


def camera_clock(results: Mapping[str, Result]) -> tuple[float, str] | None:
    """(camera minus monitor in seconds, the check it came from) from a camera's latest
    results, or None when no answer carried a usable clock."""
    for check in CLOCK_SOURCES:
        r = results.get(check)
        if r is not None:
            value = r.detail.get(Detail.CLOCK_OFFSET)
            if value is not None:
                return value, check
    return None


def needs(check: str) -> tuple[str, ...]:
    """The camera fields a check can use; the camera needs at least one of them."""
    return check_for(check).fields


def schemes(check: str) -> frozenset[str]:
    """The URL schemes a check's prober accepts."""
    return (PROBE_COMMAND.get(check) or check_for(check)).schemes


def source(check: Check) -> Check:
    """The check whose probe runs for `check`: itself, or the one it judges (after=)."""
    return CHECKS[check.after] if check.after else check


def budget(check: Check) -> Budget:
    return BUDGETS[source(check).budget]


def enabled(check: str, settings: MonitorSettings) -> bool:
    """Whether a check can run at all: its round must be on (``stream.interval`` 0 turns
    the stream check off, and any check that judges the stream's answer with it)."""
    return budget(check_for(check)).on(settings)


def default_checks(present: Collection[str], settings: MonitorSettings) -> tuple[str, ...]:
    """The checks of a camera that lists none: each default check whose field the camera
    has (`present`: its URL fields, e.g. ``{"rtsp", "http"}``) and whose round is on."""
    return tuple(
        name for name, c in CHECKS.items()
        if c.default and any(f in present for f in c.fields) and enabled(name, settings)
    )


def active_checks(checks: Iterable[str], settings: MonitorSettings) -> tuple[str, ...]:
    """The listed checks that will run, in catalogue order: unknown names and checks whose
    round is off are left out (the config loader reports the unknown ones)."""
    wanted = set(checks)
    return tuple(n for n in CAMERA_CHECKS if n in wanted and enabled(n, settings))


def _judges() -> dict[str, tuple[Check, ...]]:
    out: dict[str, tuple[Check, ...]] = {}
    for c in CHECKS.values():
        if c.after:
            out[c.after] = (*out.get(c.after, ()), c)
    return out


#: check name -> the checks that judge its answer (http -> (snapshot,)).
JUDGES: dict[str, tuple[Check, ...]] = _judges()


async def judge(check: Check, answer: Result, memory: dict, settings: MonitorSettings,
                step: PostStep | None = None) -> Result | None:
    """"http then snapshot", once for the daemon and `cctv-monitor probe`: run `check`'s
    post-step (or `step`) on the answer of the check it judges.  Never raises: a broken
    post-step or picture is a verdict.  None when there is nothing to judge."""
    import time

    start = time.perf_counter()
    try:
        return await (step or check.post)(answer, memory, settings)  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - the probe contract: every error is a reason
        from .probes.base import classify_exception
        from .resources import LocalResourceError, local_resource_kind

        kind = local_resource_kind(exc)
        if kind is not None:  # no thread or memory to decode with: the monitor's, not the picture's
            raise LocalResourceError(kind, exc.__class__.__name__) from None
        reason, message = classify_exception(exc)
        return Result(reason, message=message, duration=time.perf_counter() - start)


# --------------------------------------------------------------------------- docs


def _schemes(s: Iterable[str]) -> str:
    return ", ".join(f"`{x}`" for x in sorted(s)) or "-"


def _reasons(rs: Iterable[Reason]) -> str:
    return ", ".join(f"`{r.value}`" for r in Reason if r in set(rs))


def markdown() -> str:
    """docs/checks.md, generated from this catalogue."""
    out = [
        "# Checks and reasons",
        "",
        "Generated by `python -m monitor.checks --markdown` from `monitor/checks.py`; "
        "a test fails when it drifts.",
        "",
        "## Camera checks",
        "",
        "A camera that lists no `checks:` gets every default check whose URL field it has "
        "(and whose round is on: `stream.interval: 0` turns the stream check off).",
        "",
        "| check | what it verifies | uses | schemes | default | budget | timeout | reasons |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in (*CHECKS.values(), FEED):
        uses = " or ".join(f"`{f}:`" for f in c.fields)
        if c.after:
            uses += f" (the `{c.after}` check's answer)"
        out.append(
            f"| `{c.name}` | {c.doc} | {uses} | {_schemes(c.schemes)} | "
            f"{'yes' if c.default else 'no'} | {source(c).budget} | {c.timeout_doc} | "
            f"{_reasons(c.reasons)} |")
    out += ["", "## Budgets", "", "| budget | what runs on it |", "|---|---|"]
    out += [f"| {b.name} | {b.doc} |" for b in BUDGETS.values()]
    out += ["", "## Command-centre links", "", LINK.doc[0].upper() + LINK.doc[1:] + ". "
            "One probe of a target is:", ""]
    out += [f"- `{scheme}`: {what}" for scheme, what in LINK.targets.items()]
    out += ["", f"Reasons: {_reasons(LINK.reasons)}.", "",
            "## `cctv-monitor probe`", "",
            "`--check` accepts " + ", ".join(f"`{n}`" for n in PROBE_COMMAND) + ". "
            "Without it, the URL scheme decides:", ""]
    for c in PROBE_COMMAND.values():
        if c.cli_default:
            out.append(f"- {_schemes(c.cli_default)} -> `{c.name}`")
    out += ["", "`--check http` also runs the snapshot analysis on the picture, `--check "
            "stream` the picture analysis on its keyframes (a still picture is frozen within "
            "one run when `frozen_after` keyframes came).", "",
            "## Reasons", "", "Every check ends in exactly one of these.", "",
            "| reason | meaning |", "|---|---|"]
    out += [f"| `{r.value}` | {REASON_DOCS[r]} |" for r in Reason]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--markdown"]:
        print("usage: python -m monitor.checks --markdown", file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(markdown())
