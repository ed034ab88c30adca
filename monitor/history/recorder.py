"""From State's changes to ledger rows, and back from the ledger into State at a start.

`Recorder` is a State change listener (and a StateListener for inventory reloads).  An
episode is open while State has its subject down or degraded (`Change.was` says what it was),
so a flip costs one or two queued rows and no database read:

- down/degraded: close the open episode of that subject (if any, e.g. a feed whose cause
  changed), open a new one, and remember the subject's state and since;
- up: close the open episode; the first time a camera ever answers, record it.

After a reload, what the reload took away (`State.replaced`, `State.dropped_links`) says
which episodes to close and which provider a removed or moved camera had.

A camera outage's row carries `link_down` when the camera's `uplink` names a command-centre
link ("centre/link", or the link's name) that is down when the camera goes down, `camera`
otherwise (`state.uplink_cause`): what the monitor knew then.  The report does not trust it:
it re-decides every second from the link's own rows.  Feed episodes carry State's feed
cause (camera_down, link_down, feed_missing); all are `model.Cause` words.

Times are State's (the daemon gives State the ledger's steady clock, so a wall-clock step
changes no duration).  At a start, `restore` hands State what the previous run knew (`State.restore`): a camera
that was down stays down quietly if the first probe still finds it down (same episode, no
new log line), and its recovery line states the true duration.  Episodes of subjects that
left the inventory while the monitor was stopped are closed at the last heartbeat.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..logsetup import redact
from ..model import Cause, LinkKey
from ..state import Change, CameraState, State
from ..state.uplink_cause import camera_cause
from .writer import (FirstAnswer, InventoryChange, Ledger, OutageClose, OutageOpen, Restored,
                     SubjectKey, SubjectState)
from .thumbs import row

if TYPE_CHECKING:
    from ..model import Inventory

log = logging.getLogger("cctv.history")

_DETAIL_MAX = 300  # a probe message is a short sentence; keep rows small


class Recorder:
    def __init__(self, state: State, ledger: Ledger, clock=None) -> None:
        self.state = state
        self.ledger = ledger
        self.instance = ledger.instance
        self._clock = clock or ledger.clock
        self._answered: set[str] = set()
        self._links_closed: list = []  # State.dropped_links of the reload already told
        self.restored: Restored | None = None

    # ------------------------------------------------------------------ start

    def listen(self) -> None:
        """Record without restoring: the ledger was not reachable at the start.  The ledger
        reconciles this run's start when it gets there (monitor/history/opening.py), with
        the inventory the run started with (`Ledger.initial_inventory`, set by `start`)."""
        self._providers = {c.id: c.provider for c in self.state.inventory.cameras}
        self.state.add_change_listener(self.on_change)
        self.state.add_listener(self)

    def restore(self, restored: Restored) -> None:
        """Apply what the ledger knew to State, record inventory differences, listen."""
        state, put, inst = self.state, self.ledger.put, self.instance
        now = self._clock()
        self.restored = restored
        self._answered = set(restored.answered)
        end = restored.last_heartbeat if restored.last_heartbeat is not None else now
        for r in restored.states:
            if not self._present(r.kind, r.subject, r.integration):
                if r.state != "up":
                    put("close", OutageClose(end, inst, r.kind, r.subject, r.integration))
                put("forget", SubjectKey(inst, r.kind, r.subject, r.integration))
                continue
            state.restore(r.kind, r.subject, r.integration, r.state, float(r.since), r.reason,
                          r.check_name, r.cause)
        current = {c.id: c.provider for c in state.inventory.cameras}
        for camera, provider in restored.inventory.items():
            if camera not in current:
                put("inventory", InventoryChange(now, camera, provider, "removed", inst))
            elif current[camera] != provider:
                put("inventory", InventoryChange(now, camera, provider, "removed", inst))
                put("inventory", InventoryChange(now, camera, current[camera], "added", inst))
        for camera, provider in current.items():
            if camera not in restored.inventory:
                put("inventory", InventoryChange(now, camera, provider, "added", inst))
        state.add_change_listener(self.on_change)
        state.add_listener(self)

    def _present(self, kind: str, subject: str, integration: str) -> bool:
        if kind == "link":
            return LinkKey.parse(subject) in self.state.links
        cs = self.state.cameras.get(subject)
        if cs is None:
            return False
        return kind == "camera" or integration in cs.feeds

    # ------------------------------------------------------------------ changes

    def on_change(self, ch: Change) -> None:
        put, inst = self.ledger.put, self.instance
        if ch.was in ("down", "degraded"):  # its open episode ends here
            put("close", OutageClose(ch.at, inst, ch.kind, ch.subject, ch.integration))
        cause = ch.cause
        provider = ""
        if ch.kind != "link":
            cs = self.state.cameras.get(ch.subject)
            provider = cs.camera.provider if cs is not None else ""
            if ch.kind == "camera":
                if ch.state == "up":
                    cause = ""
                else:
                    cause = camera_cause(cs, self.state.links) if cs is not None else Cause.CAMERA
        if ch.state == "up":
            if ch.kind == "camera" and ch.subject not in self._answered:
                self._answered.add(ch.subject)
                put("first", FirstAnswer(ch.subject, provider, ch.at))
        else:
            detail = redact(ch.message)[:_DETAIL_MAX] if ch.message else ""
            if ch.kind == "link":
                cause = ch.state  # down or degraded
            put("open", OutageOpen(ch.kind, ch.subject, ch.integration, provider, ch.at,
                                   ch.reason, str(cause), ch.check, detail, inst))
            if ch.kind == "camera":
                self._thumb(ch)
        down = ch.state != "up"
        put("state", SubjectState(inst, ch.kind, ch.subject, ch.integration, ch.state, ch.at,
                                  ch.reason if down else "", ch.check if down else "", str(cause)))

    def _thumb(self, ch: Change) -> None:
        """The evidence thumbnail the failing picture check left, kept with the outage."""
        cs = self.state.cameras.get(ch.subject)
        result = cs.results.get(ch.check) if cs is not None else None
        data = row(self.instance, ch.subject, ch.at, str(ch.reason),
                   result.evidence if result is not None else None)
        if data is not None:
            self.ledger.put("thumb", data)

    # ------------------------------------------------------------------ StateListener

    def camera_check(self, cs: CameraState, check: str) -> None:
        pass

    def camera_feeds(self, cs: CameraState) -> None:
        pass

    def inventory_changed(self, added: list[str], removed: list[str], changed: list[str]) -> None:
        now = self._clock()
        put, inst = self.ledger.put, self.instance
        cameras, before = self.state.cameras, self.state.replaced

        def close(kind: str, subject: str, integration: str) -> None:
            put("close", OutageClose(now, inst, kind, subject, integration))
            put("forget", SubjectKey(inst, kind, subject, integration))

        for cid in removed:
            old = before.get(cid)
            put("inventory", InventoryChange(now, cid, old.camera.provider if old else "",
                                             "removed", inst))
            if old is not None:
                if old.up is False:
                    close("camera", cid, "")
                for name, fs in old.feeds.items():
                    if fs.up is False:
                        close("feed", cid, name)
            put("forget", SubjectKey(inst, "camera", cid, ""))
        for cid in added:
            put("inventory", InventoryChange(now, cid, cameras[cid].camera.provider, "added", inst))
        for cid in changed:
            cs, old = cameras[cid], before.get(cid)
            provider = cs.camera.provider
            was = old.camera.provider if old is not None else provider
            if was != provider:
                put("inventory", InventoryChange(now, cid, was, "removed", inst))
                put("inventory", InventoryChange(now, cid, provider, "added", inst))
            for name, fs in (old.feeds.items() if old is not None else ()):
                if fs.up is False and name not in cs.feeds:
                    close("feed", cid, name)
        dropped = self.state.dropped_links
        if dropped is not self._links_closed:  # once per reload, not once per slice told
            self._links_closed = dropped
            for ls in dropped:
                if ls.result is not None and ls.result.state != "up":
                    close("link", str(ls.key), "")
