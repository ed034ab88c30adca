"""What State knows about each camera, feed and link, and the change events it hands out.

The records (`CameraState`, `FeedState`, `LinkState`) are State's read API (docs/
ARCHITECTURE.md, "Scheduler and State"); `Change` is what change listeners get.  The
functions below build and change records the way a new State, a reload (and its plan, in a
worker thread) and a restart's restore need, so that none of them reaches into State.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Protocol

from ..checks import active_checks
from ..model import Camera, Cause, Inventory, LinkKey, LinkResult, MonitorSettings, Reason, Result

#: Feed causes, in the order an operator should read them.
FEED_CAUSES = (Cause.OK, Cause.CAMERA_DOWN, Cause.LINK_DOWN, Cause.FEED_MISSING, Cause.UNKNOWN)


class StateListener(Protocol):
    def camera_check(self, cs: "CameraState", check: str) -> None: ...
    def camera_feeds(self, cs: "CameraState") -> None: ...
    def inventory_changed(
        self, added: list[str], removed: list[str], changed: list[str]
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Change:
    """One flip: a camera, a feed or a link went down, degraded or came back at `at`."""

    kind: str  # "camera" | "feed" | "link"
    subject: str  # camera id, or str(LinkKey): "centre/link"
    integration: str  # the feed's integration; "" for cameras and links
    state: str  # "up" | "down" | "degraded"
    at: float
    reason: str = ""
    check: str = ""  # the failed check of a camera (going up: the one it had failed)
    cause: str = ""  # a feed's cause (FEED_CAUSES, model.Cause)
    message: str = ""  # the probe's message: never a password (Result.message contract)
    #: what it was before ("up", "down", "degraded"; "" when it had no verdict yet) and for
    #: how long: "down" -> "down" is a feed still down for another cause
    was: str = ""
    was_for: float = 0.0


ChangeListener = Callable[[Change], None]


@dataclass(slots=True, eq=False)
class FeedState:
    integration: str
    up: bool | None = None
    cause: Cause = Cause.UNKNOWN
    since: float = 0.0
    result: Result | None = None
    changes: int = 0
    loud: bool = False  # its going down was logged at warning level: so is its recovery


@dataclass(slots=True, eq=False)
class CameraState:
    camera: Camera
    checks: tuple[str, ...] = ()  # the checks that run (monitor.checks.active_checks)
    up: bool | None = None
    since: float = 0.0
    reason: Reason | None = None
    failed_check: str | None = None
    results: dict[str, Result] = field(default_factory=dict)
    last_up: float | None = None
    changes: int = 0
    feeds: dict[str, FeedState] = field(default_factory=dict)
    # counters: monotonic for the life of the camera in the inventory (kept across reloads)
    probes: dict[str, int] = field(default_factory=dict)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    skipped: int = 0
    #: what a check's post-step remembers between rounds (the snapshot check's picture
    #: history), by check name; see State.memory
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: after a restart, the check a restored-down camera failed and how many of its passing
    #: results still count as failing: a frozen picture needs `frozen_after` fetches before
    #: a new process can judge it again, and the stream check runs minutes after the fast ones
    held: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.camera.id


@dataclass(slots=True, eq=False)
class LinkState:
    centre: str
    link: str
    result: LinkResult | None = None
    since: float = 0.0
    changes: int = 0

    @property
    def key(self) -> LinkKey:
        return LinkKey(self.centre, self.link)


def sync_feeds(cs: CameraState, now: float) -> None:
    """Give `cs` a FeedState per feed of its camera: kept ones keep theirs, new ones start
    unknown at `now`."""
    wanted = [integration for integration, _ in cs.camera.feeds]
    cs.feeds = {
        name: cs.feeds.get(name) or FeedState(name, since=now) for name in wanted
    }


class Replaced(NamedTuple):
    """What a reload took away from a camera (removed, or changed): its definition, its
    verdict and its feed records as they were."""

    camera: Camera
    up: bool | None
    feeds: dict[str, FeedState]


def new_record(camera: Camera, settings: MonitorSettings, now: float) -> CameraState:
    """The record of a camera new to State: the checks that run, its feeds, all unknown."""
    cs = CameraState(camera=camera, checks=active_checks(camera.checks, settings), since=now)
    sync_feeds(cs, now)
    return cs


def redefine(cs: CameraState, camera: Camera, checks: tuple[str, ...], now: float) -> None:
    """A camera's new definition from a reload: it keeps its counters, and its results and
    memory of the checks it still has."""
    cs.camera = camera
    cs.checks = checks
    for check in list(cs.results):
        if check not in checks:
            del cs.results[check]
    for check in list(cs.memory):
        if check not in checks:
            del cs.memory[check]
    sync_feeds(cs, now)


def restore_camera(cs: CameraState, state: str, since: float, reason: str, check: str,
                   frozen_after: int) -> None:
    """What the ledger knew of a camera (State.restore)."""
    cs.up = state == "up"
    cs.since = since
    if not cs.up:
        cs.reason = parse_reason(reason)
        cs.failed_check = check or None
        if check in cs.checks:
            judged_over_rounds = cs.reason in (Reason.FROZEN_IMAGE,)
            cs.held = {check: frozen_after if judged_over_rounds else 1}


def restore_feed(fs: FeedState, state: str, since: float, cause: str) -> None:
    fs.up = state == "up"
    fs.since = since
    fs.cause = Cause.of(cause) if cause else (Cause.OK if fs.up else Cause.UNKNOWN)
    fs.loud = fs.cause == Cause.FEED_MISSING


def restore_link(ls: LinkState, state: str, since: float, reason: str) -> None:
    ls.result = LinkResult(state=state, reason=parse_reason(reason) or Reason.OK,
                           loss=0.0 if state == "up" else 1.0, message="as before the restart")
    ls.since = since


def feed_maps(inventory: Inventory) -> tuple[dict[str, str], dict[str, set[str]]]:
    """(integration -> command centre, centre -> cameras with a feed through it): what a
    feed's cause depends on."""
    integration_centre = {i.name: i.centre for i in inventory.integrations if i.centre}
    # every command centre is an integration of the same name (model.Integration)
    for centre in inventory.command_centres:
        integration_centre.setdefault(centre.name, centre.name)
    centre_feeds: dict[str, set[str]] = {}
    for camera in inventory.cameras:
        for integration, _endpoint in camera.feeds:
            centre = integration_centre.get(integration)
            if centre:
                centre_feeds.setdefault(centre, set()).add(camera.id)
    return integration_centre, centre_feeds


def parse_reason(value: str) -> Reason | None:
    try:
        return Reason(value) if value else None
    except ValueError:  # a reason a newer version wrote: keep the state, drop the reason
        return None
