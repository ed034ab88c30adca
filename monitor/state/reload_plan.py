"""The part of a reload that is proportional to the fleet, computed off the event loop.

``make_plan`` compares a freshly loaded Inventory with the running State in a worker thread:
which cameras are new (their CameraState built here), removed, or changed (new camera
definition or checks), and the maps State keeps for feed causes.  It only reads the State
(the reload lock makes sure nothing else swaps it meanwhile) and builds new objects;
``State.apply`` then swaps the plan in with work proportional to the changes, not to the
fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..checks import active_checks
from ..model import Camera, Inventory, LinkKey, link_keys
from .records import CameraState, feed_maps, new_record


@dataclass
class ReloadPlan:
    inventory: Inventory
    now: float
    cameras: dict[str, CameraState]
    added: list[str]
    removed: list[str]
    changed: list[tuple[CameraState, Camera, tuple[str, ...]]]  # (state, new camera, checks)
    integration_centre: dict[str, str]
    centre_feeds: dict[str, set[str]]
    links: list[LinkKey]
    rewired: bool  # the integration -> centre map or the set of links changed


def make_plan(old_cameras: dict[str, CameraState], old_links: set[LinkKey],
              old_integration_centre: dict[str, str], inventory: Inventory,
              now: float) -> ReloadPlan:
    """The plan from the running cameras, links and integration -> centre map to
    `inventory`; reads them, changes nothing."""
    new_cameras: dict[str, CameraState] = {}
    added: list[str] = []
    changed: list[tuple[CameraState, Camera, tuple[str, ...]]] = []
    settings = inventory.settings
    for camera in inventory.cameras:
        checks = active_checks(camera.checks, settings)
        cs = old_cameras.get(camera.id)
        if cs is None:
            new_cameras[camera.id] = new_record(camera, settings, now)
            added.append(camera.id)
            continue
        # `is`: the reloader hands back the running object for an unchanged camera
        if cs.checks != checks or (cs.camera is not camera and cs.camera != camera):
            changed.append((cs, camera, checks))
        new_cameras[camera.id] = cs
    removed = [cid for cid in old_cameras if cid not in new_cameras]
    integration_centre, centre_feeds = feed_maps(inventory)
    links = link_keys(inventory)
    rewired = integration_centre != old_integration_centre or set(links) != old_links
    return ReloadPlan(inventory, now, new_cameras, added, removed, changed,
                      integration_centre, centre_feeds, links, rewired)
