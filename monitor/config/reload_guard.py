"""Reload guards: a reload that would silently drop a large part of the fleet is refused.

Moving one provider's include file away, or a glob that no longer matches, used to answer
"ok" and remove hundreds of cameras; their series vanished, so no alert could fire for
them.  A reload is refused (the old configuration stays, the reload metric goes to 0, the
log and the HTTP answer say why) when

- it removes more than ``monitor.reload.max_removed_ratio`` of the cameras (default 0.1), or
- it changes the address (rtsp, http or onvif URL) of more than that share of the cameras
  (a template typo, port 8554 -> 18554, would make every camera an outage charged to its
  provider), or
- an include pattern that matched a file before matches none now (a pattern the new
  configuration no longer names at all was removed on purpose and is not checked).

``POST /-/reload?force=1`` (or SIGUSR1, or ``cctv-monitor reload --force``-style tooling
sending it) applies such a reload anyway.  A forced reload that changed cameras' addresses
is recorded in the ledger (``inventory_changes``, action ``FORCED_ACTION``, one row per
camera) so that the report says so beside the outages that follow it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from ..model import Camera, Inventory

if TYPE_CHECKING:
    from ..history.recorder import Recorder
    from ..state import State

#: The inventory_changes action of a camera whose address a forced reload changed.
FORCED_ACTION = "endpoint_forced"


def _urls(camera: Camera) -> tuple:
    return tuple(ep.url if ep is not None else None
                 for ep in (camera.rtsp, camera.http, camera.onvif))


def endpoint_changes(old: Inventory, new: Inventory) -> list[str]:
    """Ids of the cameras in both inventories whose rtsp, http or onvif URL differs (a
    password alone is not an address)."""
    before = {c.id: c for c in old.cameras}
    out = []
    for cam in new.cameras:
        prev = before.get(cam.id)
        if prev is not None and prev is not cam and _urls(prev) != _urls(cam):
            out.append(cam.id)
    return out


def refusal(old: Inventory, new: Inventory, removed: int, moved: int = 0) -> list[str]:
    """Why the reload from inventory `old` to `new` (removing `removed` cameras, changing
    the address of `moved`) must not be applied without force; empty when it may."""
    reasons = []
    before = len(old.cameras)
    ratio = new.settings.reload.max_removed_ratio
    if before and removed / before > ratio:
        reasons.append(
            f"the new configuration removes {removed} of {before} cameras "
            f"({removed / before:.0%}, more than monitor.reload.max_removed_ratio {ratio:g}); "
            "reload with force (POST /-/reload?force=1 or SIGUSR1) if that is intended")
    if before and moved / before > ratio:
        reasons.append(
            f"the new configuration changes the address (URL) of {moved} of {before} cameras "
            f"({moved / before:.0%}, more than monitor.reload.max_removed_ratio {ratio:g}); "
            "reload with force if the cameras really moved (the report will say so)")
    now_matches = dict(new.includes)
    for pattern, files in old.includes:
        if files and pattern in now_matches and not now_matches[pattern]:
            reasons.append(
                f"include pattern {pattern!r} matched {len(files)} file(s) before and "
                "matches none now; reload with force if the files were removed on purpose")
    return reasons


def ledger_hook(recorder: "Recorder", state: "State",
                clock: Callable[[], float] = time.time) -> Callable[[list[str]], None]:
    """What a forced reload calls with the cameras whose address it changed: one
    inventory_changes row each, so the report can say their next outages may be the
    configuration's, not the provider's."""
    from ..history.writer import InventoryChange

    def record(ids: list[str]) -> None:
        now = clock()
        for cid in ids:
            cs = state.cameras.get(cid)
            provider = cs.camera.provider if cs is not None else ""
            recorder.ledger.put("inventory", InventoryChange(now, cid, provider, FORCED_ACTION,
                                                             recorder.instance))
    return record
