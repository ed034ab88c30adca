"""The report's figures as named types: what `compute` produces and the HTML, PDF and CSV
files show.  Plain data, no ledger access."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ..model import Cause

#: The causes downtime is shown by, in the order of the charts: the provider's (CAMERA),
#: then the three exclusions.  Feed time is not camera time: see `ProviderFigures.feed_s`.
CAUSES = (Cause.CAMERA, Cause.LINK_DOWN, Cause.FEED_MISSING, Cause.MAINTENANCE, Cause.MONITOR_DOWN)
#: The causes whose seconds are excluded from the measured time.
EXCLUSIONS = (Cause.LINK_DOWN, Cause.MAINTENANCE, Cause.MONITOR_DOWN)


class Row(NamedTuple):
    """One ledger episode of a camera or a feed, as the report reads it (a million of them:
    a tuple with names, not a dataclass)."""

    start: float
    end: float
    reason: str
    cause: Cause
    check: str
    integration: str


@dataclass(slots=True)
class Piece:
    """One listed outage (or the part of it with one cause and one exclusion)."""

    camera: str
    provider: str
    kind: str  # camera | feed
    start: float
    end: float
    reason: str
    cause: Cause  # CAMERA | LINK_DOWN for cameras; FEED_MISSING | LINK_DOWN for feeds
    check: str
    excluded: Cause | str  # "" (counted) | MAINTENANCE | LINK_DOWN | MONITOR_DOWN | DISPUTE
    integration: str = ""


@dataclass
class Milestone:
    by: dt.date
    cameras: int
    verified: int | None  # verified cameras at that date, when it is past and observed
    status: str  # met | missed | upcoming | not_observed (due before the ledger's first record)


@dataclass
class Reach:
    """A measured count of feeds to one kind of platform, beside what the configuration
    claims: `configured` cameras claim a feed (or an integration); `measured` of them have a
    feed the monitor checks; `at_end` reached at the period's end; `sla_share` reached for
    at least the provider's SLA share of their observed time (None: no SLA to measure by)."""

    configured: int = 0
    measured: int = 0
    at_end: int = 0
    sla_share: int | None = None

    def add(self, other: "Reach") -> None:
        self.configured += other.configured
        self.measured += other.measured
        self.at_end += other.at_end
        if other.sla_share is not None:
            self.sla_share = (self.sla_share or 0) + other.sla_share


@dataclass
class ProviderFigures:
    name: str
    sla: float = 0.0
    target: int = 0
    claimed: int = 0
    configured: int = 0
    verified: int = 0
    up: int = 0
    integrated: int = 0  # configured with a platform integration (claimed; see `smart_city`)
    ring_one: int = 0
    ring_one_connected: int = 0
    police_feeds: int = 0
    police_connected: int = 0
    #: measured beside claimed: feeds to platform integrations, feeds to command centres
    smart_city: Reach = field(default_factory=Reach)
    police: Reach = field(default_factory=Reach)
    #: configured at the period's end and never answered: not availability time, listed
    never_verified: list[str] = field(default_factory=list)
    present_s: float = 0.0  # in the inventory and answered at least once
    eligible_s: float = 0.0
    down_s: float = 0.0
    outages: int = 0
    by_cause: dict[Cause, float] = field(default_factory=lambda: {c: 0.0 for c in CAUSES})
    #: feed seconds by cause (FEED_MISSING, LINK_DOWN): listed, never part of the measured time
    feed_s: dict[Cause, float] = field(default_factory=lambda: {Cause.FEED_MISSING: 0.0,
                                                                 Cause.LINK_DOWN: 0.0})
    daily_present: list[float] = field(default_factory=list)
    daily_excluded: list[float] = field(default_factory=list)
    daily_down: list[float] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    pace_per_week: float = 0.0
    pace_from: dt.date | None = None  # the pace is measured from this day to the as-of instant
    forecast: dt.date | None = None
    disputed_s: float = 0.0  # seconds excluded by accepted disputes (Cause.DISPUTE)

    @property
    def availability(self) -> float | None:
        return None if self.eligible_s <= 0 else max(0.0, 1.0 - self.down_s / self.eligible_s)

    @property
    def excluded_s(self) -> float:
        return sum(self.by_cause[c] for c in EXCLUSIONS) + self.disputed_s

    def daily_availability(self) -> list[float | None]:
        out = []
        for p, x, d in zip(self.daily_present, self.daily_excluded, self.daily_down):
            eligible = p - x
            out.append(None if eligible <= 0 else max(0.0, 1.0 - d / eligible))
        return out

    @property
    def next_milestone(self) -> Milestone | None:
        return next((m for m in self.milestones if m.status == "upcoming"), None)


@dataclass
class CameraFigures:
    camera: str
    provider: str
    down_s: float
    eligible_s: float
    outages: int

    @property
    def availability(self) -> float | None:
        return None if self.eligible_s <= 0 else max(0.0, 1.0 - self.down_s / self.eligible_s)


@dataclass
class Coverage:
    """What the ledger covers: `observed_from` is its first record ever (the monitor did
    not exist before); `first`/`last` its first and last record within the period (None:
    nothing in the period); `monitor_down_s` the period's time when no instance watched."""

    observed_from: float | None
    first: float | None
    last: float | None
    monitor_down_s: float


@dataclass
class Report:
    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo
    label: str
    days: list[dt.date]
    providers: list[ProviderFigures]
    total: ProviderFigures
    pieces: list[Piece]
    worst: list[CameraFigures]
    monitor_down_s: float
    generated: dt.datetime
    #: the instant every figure is measured at: the period's end, or earlier (`--as-of`)
    as_of: dt.datetime | None = None
    coverage: Coverage | None = None
    #: steps of the monitor's wall clock in the period (monitor.history.reader.ClockStep)
    clock_steps: list = field(default_factory=list)
    #: the disputes over the period as they stood at the as-of instant
    #: (monitor.history.disputes.Dispute), for the report's Disputes section
    disputes: list = field(default_factory=list)
    #: listed outage (index into pieces) -> evidence thumbnail (JPEG), picture outages only
    evidence: dict[int, bytes] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """False for a period not over at the as-of instant: the report says "as of"."""
        return self.as_of is None or self.as_of >= self.end
