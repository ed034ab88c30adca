"""The latest known health of every camera, feed and command-centre link.

State owns:

- the read API of docs/ARCHITECTURE.md ("Scheduler and State"), which the exporter, the
  status page and /api/cameras use and nothing else: `State.inventory`, `State.ready`,
  `State.generation`, `State.cameras` (`CameraState`, `FeedState`), `State.links`
  (`LinkState`) and `State.centre_up`;
- the write API the scheduler calls: `record_result`, `record_feed`, `record_link`, and
  `apply` (a reload: keep unchanged cameras with their counters, add new, drop removed);
- the state-change log (logger "cctv.state"): exactly one line when a camera, a feed or a
  link goes down or degrades, and one when it recovers, with how long it was down.  Never a
  line per failed probe, never a password (Endpoint.url is already clean; messages from
  probes go through `redact_url`-safe text by contract and the log filter in logsetup).
  Each such line also carries structured fields (`extra=`, emitted as keys by
  --log-format logfmt|json): `event` (camera_down, camera_recovered, feed_down,
  feed_recovered, link_down, link_degraded, link_recovered), the camera's `camera`,
  `provider`, `district` and `zone`, the `check` and the `reason`; feeds add `integration`
  and `cause`, links `centre` and `link`; recoveries add `down_seconds`.

Listeners (the exporter) are told about every change through a small hook interface so they
can keep pre-formatted exposition lines current on the write path; State itself knows
nothing about metrics.  Change listeners (the outage ledger) get one `Change` per flip of a
camera, feed or link, the same events the state-change log reports; `restore` puts back the
state a previous run left (its "since" included) so that a restart neither logs a down camera
again nor forgets since when it is down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..checks import CHECKS, active_checks, source
from ..model import Camera, Cause, Inventory, LinkResult, Reason, Result

if TYPE_CHECKING:
    from .reload_plan import ReloadPlan

log = logging.getLogger("cctv.state")

#: Checks on a round of their own (the stream check, every few minutes): a camera whose
#: fast checks all passed is up meanwhile, not unknown for minutes.
_OWN_ROUND = frozenset(n for n, c in CHECKS.items() if source(c).budget != "fast")

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
    subject: str  # camera id, or "centre/link"
    integration: str  # the feed's integration; "" for cameras and links
    state: str  # "up" | "down" | "degraded"
    at: float
    reason: str = ""
    check: str = ""  # the failed check of a camera
    cause: str = ""  # a feed's cause (FEED_CAUSES, model.Cause)
    message: str = ""  # the probe's message: never a password (Result.message contract)


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


def _camera_fields(cam: Camera, event: str, check: str | None, reason: str) -> dict[str, Any]:
    """The structured fields of a state-change line about a camera (see the docstring)."""
    return {"event": event, "camera": cam.id, "provider": cam.provider,
            "district": cam.district, "zone": cam.zone, "check": check, "reason": reason}


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 5400:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


class State:
    """See the module docstring.  Not thread-safe: used from the event loop only."""

    def __init__(self, inventory: Inventory, now: float | None = None) -> None:
        self.inventory = inventory
        self.generation = 0
        self.cameras: dict[str, CameraState] = {}
        self.links: dict[tuple[str, str], LinkState] = {}
        self.started = time.time() if now is None else now
        self._ready = False
        self._pending: set[str] = set()  # cameras whose up is still unknown
        self._pending_links: set[tuple[str, str]] = set()
        self._listeners: list[StateListener] = []
        self._change_listeners: list[ChangeListener] = []
        # integration name -> command centre name, for feed causes
        self._integration_centre: dict[str, str] = {}
        # centre -> camera ids that have a feed through that centre (re-cause on link flips)
        self._centre_feeds: dict[str, set[str]] = {}
        self._build_maps(inventory)
        for camera in inventory.cameras:
            self._add_camera(camera, self.started)
        for centre in inventory.command_centres:
            for link in centre.links:
                key = (centre.name, link.name)
                self.links[key] = LinkState(centre.name, link.name, since=self.started)
                self._pending_links.add(key)
        # which device answers at each camera (the onvif check), duplicates across cameras
        from ..devices import DeviceIndex

        self.devices = DeviceIndex(self.cameras)
        self._listeners.append(self.devices)

    # ------------------------------------------------------------------ read API

    @property
    def ready(self) -> bool:
        """True once every camera and link has had its first verdict (or the scheduler has
        declared the first full interval over).  Latches: a reload does not un-ready."""
        if not self._ready and not self._pending and not self._pending_links:
            self._ready = True
        return self._ready

    def mark_ready(self) -> None:
        self._ready = True

    def centre_up(self, name: str) -> bool | None:
        """A centre is reachable while any of its links is up (up or degraded)."""
        known = False
        for (centre, _link), ls in self.links.items():
            if centre != name or ls.result is None:
                continue
            known = True
            if ls.result.up:
                return True
        return False if known else None

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def add_change_listener(self, listener: ChangeListener) -> None:
        self._change_listeners.append(listener)

    def _emit(self, change: Change) -> None:
        for listener in self._change_listeners:
            listener(change)

    def restore(self, kind: str, subject: str, integration: str, state: str, since: float,
                reason: str = "", check: str = "", cause: str = "") -> None:
        """Put back what a previous run knew (from the outage ledger), before the first round.

        Nothing is logged or emitted: the first probe after the start then continues the
        restored state quietly, or flips it with the true duration since `since`.  The
        camera stays pending (not ready) until it has a verdict of its own."""
        if kind == "camera":
            cs = self.cameras.get(subject)
            if cs is None or cs.up is not None:
                return
            cs.up = state == "up"
            cs.since = since
            if not cs.up:
                cs.reason = _reason(reason)
                cs.failed_check = check or None
                if check in cs.checks:
                    judged_over_rounds = cs.reason in (Reason.FROZEN_IMAGE,)
                    cs.held = {check: self.inventory.settings.snapshot.frozen_after
                               if judged_over_rounds else 1}
        elif kind == "feed":
            cs = self.cameras.get(subject)
            fs = cs.feeds.get(integration) if cs is not None else None
            if fs is None or fs.up is not None:
                return
            fs.up = state == "up"
            fs.since = since
            fs.cause = Cause.of(cause) if cause else (Cause.OK if fs.up else Cause.UNKNOWN)
            fs.loud = fs.cause == Cause.FEED_MISSING
        elif kind == "link":
            centre, _, name = subject.partition("/")
            ls = self.links.get((centre, name))
            if ls is None or ls.result is not None:
                return
            ls.result = LinkResult(state=state, reason=_reason(reason) or Reason.OK,
                                   loss=0.0 if state == "up" else 1.0,
                                   message="as before the restart")
            ls.since = since

    # ------------------------------------------------------------------ write API

    def record_result(
        self, camera_id: str, check: str, result: Result, now: float | None = None
    ) -> None:
        cs = self.cameras.get(camera_id)
        if cs is None or check not in cs.checks:  # removed by a reload while in flight
            return
        now = time.time() if now is None else now
        result.body = None  # the picture is only for the snapshot analysis
        result.keyframes = None  # and the stream's keyframes for the picture analysis
        cs.results[check] = result
        cs.probes[check] = cs.probes.get(check, 0) + 1
        if cs.held:
            held = cs.held.get(check)
            if held is not None:  # restored down: a pass counts once the check can judge
                if not result.ok or held <= 1:
                    del cs.held[check]
                else:
                    cs.held[check] = held - 1
        if not result.ok:
            key = (check, result.reason.value)
            cs.failures[key] = cs.failures.get(key, 0) + 1
        self._evaluate(cs, now, check)
        for listener in self._listeners:
            listener.camera_check(cs, check)

    def memory(self, camera_id: str, check: str) -> dict[str, Any]:
        """The memory a check's post-step keeps for one camera between rounds: kept across
        reloads while the camera keeps the check, dropped with it.  The post-step owns what
        is inside; a camera that left the inventory gets a throwaway dict."""
        cs = self.cameras.get(camera_id)
        if cs is None or check not in cs.checks:
            return {}
        mem = cs.memory.get(check)
        if mem is None:
            mem = cs.memory[check] = {}
        return mem

    def record_skip(self, camera_id: str) -> None:
        cs = self.cameras.get(camera_id)
        if cs is not None:
            cs.skipped += 1

    def record_feed(
        self, camera_id: str, integration: str, result: Result, now: float | None = None
    ) -> None:
        cs = self.cameras.get(camera_id)
        if cs is None:
            return
        fs = cs.feeds.get(integration)
        if fs is None:  # not (or no longer) a configured feed of this camera
            return
        now = time.time() if now is None else now
        result.body = None
        fs.result = result
        self._update_feed(cs, fs, now, result.ok)
        for listener in self._listeners:
            listener.camera_feeds(cs)

    def record_link(
        self, centre: str, link: str, result: LinkResult, now: float | None = None
    ) -> None:
        ls = self.links.get((centre, link))
        if ls is None:
            return
        now = time.time() if now is None else now
        old = ls.result
        old_state = old.state if old is not None else None
        old_centre = self.centre_up(centre)
        ls.result = result
        self._pending_links.discard((centre, link))
        if old_state != result.state:
            was_for = now - ls.since
            ls.since = now
            if old_state is not None:
                ls.changes += 1
            self.generation += 1
            self._log_link(ls, old, result, was_for)
            if self._change_listeners:
                self._emit(Change("link", f"{centre}/{link}", "", result.state, now,
                                  result.reason.value, "", "", result.message))
        if self.centre_up(centre) != old_centre:
            self._recause_centre(centre, now)

    def plan(self, inventory: Inventory, now: float | None = None) -> "ReloadPlan":
        """The O(cameras) part of a reload, safe in a worker thread (monitor.reload_plan)."""
        from .reload_plan import make_plan

        return make_plan(self, inventory, time.time() if now is None else now)

    def apply(self, inventory: Inventory, now: float | None = None,
              plan: "ReloadPlan | None" = None,
              notify: bool = True) -> tuple[list[str], list[str], list[str]]:
        """Swap in a reloaded inventory.  Returns (added, removed, changed) camera ids.
        Kept cameras keep their results and counters (so counters stay monotonic); a changed
        camera keeps them too, minus the results of checks it no longer has.  `plan` (from
        plan(), built in a worker thread) makes this step short; with notify=False the
        caller tells the listeners (notify_inventory_changed), in slices if it likes."""
        if plan is None or plan.inventory is not inventory:
            plan = self.plan(inventory, now)
        now = plan.now
        self.inventory = inventory
        self._integration_centre, self._centre_feeds = plan.integration_centre, plan.centre_feeds
        if not self._ready:
            self._pending.update(plan.added)
        for cid in plan.removed:
            self._pending.discard(cid)
        changed: list[str] = []
        for cs, camera, checks in plan.changed:
            cs.camera = camera
            cs.checks = checks
            for check in list(cs.results):
                if check not in checks:
                    del cs.results[check]
            for check in list(cs.memory):
                if check not in checks:
                    del cs.memory[check]
            self._sync_feeds(cs, now)
            changed.append(camera.id)
        self.cameras = plan.cameras
        for cid in changed:
            self._evaluate(plan.cameras[cid], now, None)
        old_links = self.links
        self.links = {}
        for key in plan.links:
            self.links[key] = old_links.get(key) or LinkState(key[0], key[1], since=now)
        self._pending_links.difference_update(k for k in old_links if k not in self.links)
        self._pending_links.update(
            k for k, ls in self.links.items() if ls.result is None and not self._ready)
        # feed causes depend on links and integrations: all cameras when those changed
        recause = self.cameras.values() if plan.rewired else (self.cameras[c] for c in changed)
        for cs in recause:
            if cs.feeds:
                self._recause_feeds(cs, now, notify=False)
        self.generation += 1
        if notify:
            self.notify_inventory_changed(plan.added, plan.removed, changed)
        return plan.added, plan.removed, changed

    def notify_inventory_changed(self, added: list[str], removed: list[str],
                                 changed: list[str]) -> None:
        for listener in self._listeners:
            listener.inventory_changed(added, removed, changed)

    # ------------------------------------------------------------------ internals

    def _build_maps(self, inventory: Inventory) -> None:
        self._integration_centre, self._centre_feeds = self._maps(inventory)

    @staticmethod
    def _maps(inventory: Inventory) -> tuple[dict[str, str], dict[str, set[str]]]:
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

    def _new_camera_state(self, camera: Camera, now: float) -> CameraState:
        checks = active_checks(camera.checks, self.inventory.settings)
        cs = CameraState(camera=camera, checks=checks, since=now)
        self._sync_feeds(cs, now)
        return cs

    def _add_camera(self, camera: Camera, now: float) -> None:
        self.cameras[camera.id] = self._new_camera_state(camera, now)
        self._pending.add(camera.id)

    def _sync_feeds(self, cs: CameraState, now: float) -> None:
        wanted = [integration for integration, _ in cs.camera.feeds]
        cs.feeds = {
            name: cs.feeds.get(name) or FeedState(name, since=now) for name in wanted
        }

    def _evaluate(self, cs: CameraState, now: float, check: str | None) -> None:
        """Recompute up/reason from the last result of every check; log and bump on flips."""
        failed: str | None = None
        missing = False
        for name in cs.checks:
            r = cs.results.get(name)
            if name in cs.held:  # restored down and not yet judged again: still down
                failed = name
                break
            if r is None:
                if name not in _OWN_ROUND or not cs.results:
                    missing = True
            elif not r.ok:
                failed = name
                break
        if failed is not None:
            up: bool | None = False
            reason: Reason | None = cs.reason if failed in cs.held else cs.results[failed].reason
        elif missing:
            up, reason = None, None
        else:
            up, reason = True, Reason.OK
        old = cs.up
        old_failed = cs.failed_check
        cs.failed_check = failed
        cs.reason = reason
        if up:
            cs.last_up = now
        if up is None:
            return
        self._pending.discard(cs.camera.id)
        if old == up:
            if not up and failed != old_failed:
                self.generation += 1  # still down, for another reason: pages show it
            return
        if old is not None:
            cs.changes += 1
        down_for = now - cs.since
        cs.since = now
        cs.up = up
        self.generation += 1
        cam = cs.camera
        if not up:
            r = cs.results[failed]  # type: ignore[index]
            extra = _camera_fields(cam, "camera_down", failed, r.reason.value)
            if r.message and r.message != r.reason.value:
                log.warning("camera %s down: check %s failed: %s (%s)",
                            cam.id, failed, r.reason.value, r.message, extra=extra)
            else:
                log.warning("camera %s down: check %s failed: %s", cam.id, failed,
                            r.reason.value, extra=extra)
        elif old is False:
            extra = _camera_fields(cam, "camera_recovered", old_failed, Reason.OK.value)
            extra["down_seconds"] = round(down_for, 3)
            log.info("camera %s recovered after %s down", cam.id, _fmt_duration(down_for),
                     extra=extra)
        if self._change_listeners:
            if up:
                self._emit(Change("camera", cam.id, "", "up", now))
            else:
                r = cs.results[failed]  # type: ignore[index]
                self._emit(Change("camera", cam.id, "", "down", now, r.reason.value,
                                  failed or "", "", r.message))
        if cs.feeds:
            self._recause_feeds(cs, now, notify=True)

    def _feed_cause(self, cs: CameraState, fs: FeedState) -> Cause:
        if fs.up is None:
            return Cause.UNKNOWN
        if fs.up:
            return Cause.OK
        if cs.up is False:
            return Cause.CAMERA_DOWN
        centre = self._integration_centre.get(fs.integration)
        if centre is not None and self.centre_up(centre) is False:
            return Cause.LINK_DOWN
        return Cause.FEED_MISSING

    def _update_feed(self, cs: CameraState, fs: FeedState, now: float, up: bool) -> None:
        old = fs.up
        fs.up = up
        fs.cause = self._feed_cause(cs, fs)
        if old == up:
            return
        down_for = now - fs.since
        fs.since = now
        if old is not None:
            fs.changes += 1
        self.generation += 1
        cam_id = cs.camera.id
        r = fs.result
        if not up:
            msg = (r.message or r.reason.value) if r is not None else ""
            # a feed that is down because its camera or its centre's link is down adds
            # nothing to the line already logged for that camera or link: keep it quiet
            fs.loud = fs.cause == Cause.FEED_MISSING
            extra = _camera_fields(cs.camera, "feed_down", "feed",
                                   r.reason.value if r is not None else "")
            extra.update(integration=fs.integration, cause=fs.cause)
            log.log(
                logging.WARNING if fs.loud else logging.DEBUG,
                "feed %s of camera %s down (%s): %s", fs.integration, cam_id, fs.cause, msg,
                extra=extra,
            )
        elif old is False:
            extra = _camera_fields(cs.camera, "feed_recovered", "feed", Reason.OK.value)
            extra.update(integration=fs.integration, cause=fs.cause,
                         down_seconds=round(down_for, 3))
            log.log(
                logging.INFO if fs.loud else logging.DEBUG,
                "feed %s of camera %s recovered after %s down",
                fs.integration, cam_id, _fmt_duration(down_for), extra=extra,
            )
            fs.loud = False
        if self._change_listeners:
            r = fs.result
            self._emit(Change("feed", cam_id, fs.integration, "up" if up else "down", now,
                              r.reason.value if r is not None else "", "", fs.cause,
                              (r.message if r is not None else "") if not up else ""))

    def _recause_feeds(self, cs: CameraState, now: float, notify: bool) -> None:
        changed = False
        for fs in cs.feeds.values():
            cause = self._feed_cause(cs, fs)
            if cause != fs.cause:
                fs.cause = cause
                changed = True
                if fs.up is False and self._change_listeners:  # still down, for another cause
                    r = fs.result
                    self._emit(Change("feed", cs.camera.id, fs.integration, "down", now,
                                      r.reason.value if r is not None else "", "", cause,
                                      r.message if r is not None else ""))
        if changed and notify:
            for listener in self._listeners:
                listener.camera_feeds(cs)

    def _recause_centre(self, centre: str, now: float) -> None:
        for cid in self._centre_feeds.get(centre, ()):
            cs = self.cameras.get(cid)
            if cs is not None:
                self._recause_feeds(cs, now, notify=True)

    def _log_link(
        self, ls: LinkState, old: LinkResult | None, new: LinkResult, was_for: float
    ) -> None:
        name = f"{ls.centre}/{ls.link}"
        # links belong to no camera: their lines carry the centre and link instead
        extra: dict[str, Any] = {"event": f"link_{new.state}", "check": "link",
                                 "reason": new.reason.value, "centre": ls.centre,
                                 "link": ls.link}
        if new.state == "down":
            log.warning("link %s down: %s (%s)", name, new.reason.value,
                        new.message or "no target answered", extra=extra)
        elif new.state == "degraded":
            rtt = f"{new.rtt_avg * 1000:.0f}ms" if new.rtt_avg is not None else "n/a"
            extra.update(loss_ratio=round(new.loss, 4), rtt_seconds=new.rtt_avg)
            log.warning("link %s degraded: loss %.0f%%, rtt %s", name, new.loss * 100, rtt,
                        extra=extra)
        elif old is not None and old.state != "up":
            extra.update(event="link_recovered", was=old.state, down_seconds=round(was_for, 3))
            log.info("link %s recovered after %s %s", name, _fmt_duration(was_for), old.state,
                     extra=extra)


def _reason(value: str) -> Reason | None:
    try:
        return Reason(value) if value else None
    except ValueError:  # a reason a newer version wrote: keep the state, drop the reason
        return None
