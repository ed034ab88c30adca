"""The latest known health of every camera, feed and command-centre link.

State owns:

- the read API of docs/ARCHITECTURE.md ("Scheduler and State"), which the exporter, the
  status page and /api/cameras use and nothing else: `State.inventory`, `State.ready`,
  `State.generation`, `State.cameras` (`CameraState`, `FeedState`), `State.links`
  (`LinkState`, keyed by `model.LinkKey`) and `State.centre_up`;
- the write API the scheduler calls: `record_result`, `record_feed`, `record_link`; and the
  reload the daemon applies: `plan` (in a worker thread, `reload_plan`) then `apply` (keep
  unchanged cameras with their counters, add new, drop removed).

Next to it: the records (`records`), a camera's verdict (`verdict`), feed causes and centre
reachability (`causes`), and the state-change log (`statelog`).  Listeners (the exporter)
are told about every change through a small hook interface so they can keep pre-formatted
exposition lines current on the write path; State knows nothing about metrics.  Change
listeners (the state-change log, the outage ledger) get one `Change` per flip of a camera,
feed or link; `restore` puts back the state a previous run left (its "since" included) so
that a restart neither logs a down camera again nor forgets since when it is down.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ..model import Cause, Inventory, LinkKey, LinkResult, Result, link_keys
from .causes import FeedCauses
from .records import (FEED_CAUSES, CameraState, Change, ChangeListener, FeedState, LinkState,
                      Replaced, StateListener, new_record, redefine, restore_camera,
                      restore_feed, restore_link)
from .statelog import StateLog
from .verdict import camera_verdict

if TYPE_CHECKING:
    from .reload_plan import ReloadPlan

__all__ = ["FEED_CAUSES", "CameraState", "Change", "ChangeListener", "FeedState", "LinkState",
           "State", "StateListener"]


class State:
    """See the module docstring.  Not thread-safe: used from the event loop only."""

    def __init__(self, inventory: Inventory, now: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        # the daemon's steady clock (monitor/history/clock.py): monotonic durations
        self.clock: Callable[[], float] = clock or time.time
        self.inventory = inventory
        self.generation = 0
        self.cameras: dict[str, CameraState] = {}
        self.links: dict[LinkKey, LinkState] = {}
        self.started = self.clock() if now is None else now
        #: what the last reload took away, for the listeners of inventory_changed: removed
        #: and changed cameras as they were before, and the dropped links
        self.replaced: dict[str, Replaced] = {}
        self.dropped_links: list[LinkState] = []
        self._ready = False
        self._pending: set[str] = set()  # cameras whose up is still unknown
        self._pending_links: set[LinkKey] = set()
        self._listeners: list[StateListener] = []
        # the log first: its line comes before the ledger's row of the same change
        self._change_listeners: list[ChangeListener] = [
            StateLog(lambda: self.cameras, lambda: self.links)]
        self.causes = FeedCauses(lambda: self.links, inventory)
        for camera in inventory.cameras:
            self.cameras[camera.id] = new_record(camera, inventory.settings, self.started)
            self._pending.add(camera.id)
        for key in link_keys(inventory):
            self.links[key] = LinkState(key.centre, key.link, since=self.started)
            self._pending_links.add(key)
        # which device answers at each camera (the onvif check), duplicates across cameras
        from .devices import DeviceIndex

        # asks self.cameras at read time: a reload replaces that dict
        self.devices = DeviceIndex(lambda cid: (cs := self.cameras.get(cid)) and cs.camera.provider)
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
        return self.causes.centre_up(name)

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        self._listeners.remove(listener)

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
            if cs is not None and cs.up is None:
                restore_camera(cs, state, since, reason, check,
                               self.inventory.settings.snapshot.frozen_after)
        elif kind == "feed":
            cs = self.cameras.get(subject)
            fs = cs.feeds.get(integration) if cs is not None else None
            if fs is not None and fs.up is None:
                restore_feed(fs, state, since, cause)
        elif kind == "link":
            ls = self.links.get(LinkKey.parse(subject))
            if ls is not None and ls.result is None:
                restore_link(ls, state, since, reason)

    # ------------------------------------------------------------------ write API

    def record_result(
        self, camera_id: str, check: str, result: Result, now: float | None = None
    ) -> None:
        cs = self.cameras.get(camera_id)
        if cs is None or check not in cs.checks:  # removed by a reload while in flight
            return
        now = self.clock() if now is None else now
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
        self._evaluate(cs, now)
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
        now = self.clock() if now is None else now
        result.body = None
        fs.result = result
        self._update_feed(cs, fs, now, result.ok)
        for listener in self._listeners:
            listener.camera_feeds(cs)

    def record_link(
        self, centre: str, link: str, result: LinkResult, now: float | None = None
    ) -> None:
        key = LinkKey(centre, link)
        ls = self.links.get(key)
        if ls is None:
            return
        now = self.clock() if now is None else now
        old = ls.result
        old_state = old.state if old is not None else None
        old_centre = self.centre_up(centre)
        ls.result = result
        self._pending_links.discard(key)
        if old_state != result.state:
            was_for = now - ls.since
            ls.since = now
            if old_state is not None:
                ls.changes += 1
            self.generation += 1
            self._emit(Change("link", str(key), "", result.state, now, result.reason.value,
                              "", "", result.message, old_state or "", was_for))
        if self.centre_up(centre) != old_centre:
            for cid in self.causes.cameras_through(centre):
                cs = self.cameras.get(cid)
                if cs is not None:
                    self._recause_feeds(cs, now, notify=True)

    # ------------------------------------------------------------------ reload

    def plan(self, inventory: Inventory, now: float | None = None) -> "ReloadPlan":
        """The O(cameras) part of a reload, safe in a worker thread (monitor.reload_plan)."""
        from .reload_plan import make_plan

        return make_plan(self.cameras, set(self.links), self.causes.integration_centre,
                         inventory, self.clock() if now is None else now)

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
        self.causes.rewire(plan.integration_centre, plan.centre_feeds)
        if not self._ready:
            self._pending.update(plan.added)
        self.replaced = {cid: Replaced((cs := self.cameras[cid]).camera, cs.up, cs.feeds)
                         for cid in plan.removed}
        for cid in plan.removed:
            self._pending.discard(cid)
        changed: list[str] = []
        for cs, camera, checks in plan.changed:
            self.replaced[camera.id] = Replaced(cs.camera, cs.up, cs.feeds)  # redefine swaps both
            redefine(cs, camera, checks, now)
            changed.append(camera.id)
        self.cameras = plan.cameras
        for cid in changed:
            self._evaluate(plan.cameras[cid], now)
        old_links = self.links
        self.links = {}
        for key in plan.links:
            self.links[key] = old_links.get(key) or LinkState(key.centre, key.link, since=now)
        self.dropped_links = [ls for k, ls in old_links.items() if k not in self.links]
        self._pending_links.difference_update(ls.key for ls in self.dropped_links)
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

    def _evaluate(self, cs: CameraState, now: float) -> None:
        """Recompute up/reason from the last result of every check; bump and emit on flips."""
        up, reason, failed = camera_verdict(cs)
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
        was = "" if old is None else "up" if old else "down"
        if up:
            self._emit(Change("camera", cs.camera.id, "", "up", now, "", old_failed or "",
                              was=was, was_for=down_for))
        else:
            r = cs.results[failed]  # type: ignore[index]
            self._emit(Change("camera", cs.camera.id, "", "down", now, r.reason.value,
                              failed or "", "", r.message, was, down_for))
        if cs.feeds:
            self._recause_feeds(cs, now, notify=True)

    def _update_feed(self, cs: CameraState, fs: FeedState, now: float, up: bool) -> None:
        old = fs.up
        fs.up = up
        fs.cause = self.causes.feed_cause(cs, fs)
        if old == up:
            return
        down_for = now - fs.since
        fs.since = now
        if old is not None:
            fs.changes += 1
        self.generation += 1
        r = fs.result
        if not up:
            # a feed down because its camera or its centre's link is down is logged quietly
            fs.loud = fs.cause == Cause.FEED_MISSING
        was = "" if old is None else "up" if old else "down"
        self._emit(Change("feed", cs.camera.id, fs.integration, "up" if up else "down", now,
                          r.reason.value if r is not None else "", "", fs.cause,
                          (r.message if r is not None else "") if not up else "", was, down_for))
        if up:
            fs.loud = False

    def _recause_feeds(self, cs: CameraState, now: float, notify: bool) -> None:
        changed = False
        for fs in cs.feeds.values():
            cause = self.causes.feed_cause(cs, fs)
            if cause != fs.cause:
                fs.cause = cause
                changed = True
                if fs.up is False:  # still down, for another cause
                    r = fs.result
                    self._emit(Change("feed", cs.camera.id, fs.integration, "down", now,
                                      r.reason.value if r is not None else "", "", cause,
                                      r.message if r is not None else "", "down",
                                      now - fs.since))
        if changed and notify:
            for listener in self._listeners:
                listener.camera_feeds(cs)
