"""What State knows about each camera, feed and link, and the change events it hands out.

The records (`CameraState`, `FeedState`, `LinkState`) are State's read API (docs/
ARCHITECTURE.md, "Scheduler and State"); `Change` is what change listeners get; the two
helpers below build the parts of a record that both a new State and a reload plan need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..model import Camera, Inventory, LinkResult, Reason, Result

#: Feed causes, in the order an operator should read them.
FEED_CAUSES = ("ok", "camera_down", "link_down", "feed_missing", "unknown")


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
    subject: str  # camera id, or "centre/link"
    integration: str  # the feed's integration; "" for cameras and links
    state: str  # "up" | "down" | "degraded"
    at: float
    reason: str = ""
    check: str = ""  # the failed check of a camera
    cause: str = ""  # a feed's cause (FEED_CAUSES)
    message: str = ""  # the probe's message: never a password (Result.message contract)


ChangeListener = Callable[[Change], None]


@dataclass(slots=True, eq=False)
class FeedState:
    integration: str
    up: bool | None = None
    cause: str = "unknown"
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


def sync_feeds(cs: CameraState, now: float) -> None:
    """Give `cs` a FeedState per feed of its camera: kept ones keep theirs, new ones start
    unknown at `now`."""
    wanted = [integration for integration, _ in cs.camera.feeds]
    cs.feeds = {
        name: cs.feeds.get(name) or FeedState(name, since=now) for name in wanted
    }


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
