"""From State's changes to ledger rows, and back from the ledger into State at a start.

`Recorder` is a State change listener (and a StateListener for inventory reloads).  Per
camera, feed and link it keeps whether an episode is open, so a flip costs one or two queued
rows and no database read:

- down/degraded: close the open episode of that subject (if any, e.g. a feed whose cause
  changed), open a new one, and remember the subject's state and since;
- up: close the open episode; the first time a camera ever answers, record it.

A camera outage is `link`-caused when the camera's `uplink` names a command-centre link
("centre/link", or the link's name) that is down when the camera goes down: the city's
network, not the provider.  Feed episodes carry State's feed cause (camera_down,
link_down, feed_missing).

At a start, `restore` hands State what the previous run knew (`State.restore`): a camera
that was down stays down quietly if the first probe still finds it down (same episode, no
new log line), and its recovery line states the true duration.  Episodes of subjects that
left the inventory while the monitor was stopped are closed at the last heartbeat.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..logsetup import redact
from ..state import Change, CameraState, State
from .thumbs import row
from .writer import Ledger, Restored

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
        # (kind, subject, integration) -> "down"/"degraded" for every open episode
        self._open: dict[tuple[str, str, str], str] = {}
        self._answered: set[str] = set()
        self._providers: dict[str, str] = {}  # camera -> provider, as last recorded
        self.restored: Restored | None = None

    # ------------------------------------------------------------------ start

    def restore(self, restored: Restored) -> None:
        """Apply what the ledger knew to State, record inventory differences, listen."""
        state, put, inst = self.state, self.ledger.put, self.instance
        now = self._clock()
        self.restored = restored
        self._answered = set(restored.answered)
        end = restored.last_heartbeat if restored.last_heartbeat is not None else now
        for kind, subject, integration, st, since, reason, check, cause in restored.states:
            if not self._present(kind, subject, integration):
                if st != "up":
                    put("close", (end, inst, kind, subject, integration))
                put("forget", (inst, kind, subject, integration))
                continue
            state.restore(kind, subject, integration, st, float(since), reason, check, cause)
            if st != "up":
                self._open[(kind, subject, integration)] = st
        current = {c.id: c.provider for c in state.inventory.cameras}
        for camera, provider in restored.inventory.items():
            if camera not in current:
                put("inventory", (now, camera, provider, "removed", inst))
            elif current[camera] != provider:
                put("inventory", (now, camera, provider, "removed", inst))
                put("inventory", (now, camera, current[camera], "added", inst))
        for camera, provider in current.items():
            if camera not in restored.inventory:
                put("inventory", (now, camera, provider, "added", inst))
        self._providers = current
        state.add_change_listener(self.on_change)
        state.add_listener(self)

    def _present(self, kind: str, subject: str, integration: str) -> bool:
        if kind == "link":
            centre, _, link = subject.partition("/")
            return (centre, link) in self.state.links
        cs = self.state.cameras.get(subject)
        if cs is None:
            return False
        return kind == "camera" or integration in cs.feeds

    # ------------------------------------------------------------------ changes

    def on_change(self, ch: Change) -> None:
        key = (ch.kind, ch.subject, ch.integration)
        put, inst = self.ledger.put, self.instance
        was = self._open.pop(key, None)
        if was is not None:
            put("close", (ch.at, inst, ch.kind, ch.subject, ch.integration))
        cause = ch.cause
        provider = ""
        if ch.kind != "link":
            cs = self.state.cameras.get(ch.subject)
            provider = cs.camera.provider if cs is not None else ""
            if ch.kind == "camera":
                cause = self._camera_cause(cs) if ch.state != "up" else ""
        if ch.state == "up":
            if ch.kind == "camera" and ch.subject not in self._answered:
                self._answered.add(ch.subject)
                put("first", (ch.subject, provider, ch.at))
        else:
            self._open[key] = ch.state
            detail = redact(ch.message)[:_DETAIL_MAX] if ch.message else ""
            if ch.kind == "link":
                cause = ch.state  # down or degraded
            put("open", (ch.kind, ch.subject, ch.integration, provider, ch.at, ch.reason,
                         cause, ch.check, detail, inst))
            if ch.kind == "camera":
                self._thumb(ch)
        put("state", (inst, ch.kind, ch.subject, ch.integration, ch.state, ch.at,
                      ch.reason if ch.state != "up" else "", ch.check, cause))

    def _thumb(self, ch: Change) -> None:
        """The evidence thumbnail the failing picture check left, kept with the outage."""
        cs = self.state.cameras.get(ch.subject)
        result = cs.results.get(ch.check) if cs is not None else None
        data = row(self.instance, ch.subject, ch.at, str(ch.reason),
                   getattr(result, "evidence", None))
        if data is not None:
            self.ledger.put("thumb", data)

    def _camera_cause(self, cs: CameraState | None) -> str:
        uplink = cs.camera.uplink if cs is not None else ""
        if uplink:
            for (centre, link), ls in self.state.links.items():
                if uplink in (link, f"{centre}/{link}") and ls.result is not None \
                        and ls.result.state == "down":
                    return "link"
        return "camera"

    # ------------------------------------------------------------------ StateListener

    def camera_check(self, cs: CameraState, check: str) -> None:
        pass

    def camera_feeds(self, cs: CameraState) -> None:
        pass

    def inventory_changed(self, added: list[str], removed: list[str], changed: list[str]) -> None:
        now = self._clock()
        put, inst = self.ledger.put, self.instance
        cameras = self.state.cameras
        for cid in removed:
            put("inventory", (now, cid, self._providers.pop(cid, ""), "removed", inst))
            for key in [k for k in self._open if k[0] != "link" and k[1] == cid]:
                del self._open[key]
                put("close", (now, inst) + key)
                put("forget", (inst,) + key)
            put("forget", (inst, "camera", cid, ""))
        for cid in added:
            provider = cameras[cid].camera.provider
            self._providers[cid] = provider
            put("inventory", (now, cid, provider, "added", inst))
        for cid in changed:
            provider = cameras[cid].camera.provider
            old = self._providers.get(cid)
            if old != provider:
                put("inventory", (now, cid, old or "", "removed", inst))
                put("inventory", (now, cid, provider, "added", inst))
                self._providers[cid] = provider
            feeds = cameras[cid].feeds
            for key in [k for k in self._open if k[0] == "feed" and k[1] == cid
                        and k[2] not in feeds]:
                del self._open[key]
                put("close", (now, inst) + key)
                put("forget", (inst,) + key)
        links = self.state.links
        for key in [k for k in self._open if k[0] == "link"]:
            centre, _, link = key[1].partition("/")
            if (centre, link) not in links:
                del self._open[key]
                put("close", (now, inst) + key)
                put("forget", (inst,) + key)
