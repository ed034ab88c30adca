"""Which cameras a maintenance window covers right now, for the exporter
(`cctv_camera_in_maintenance`), the status page's mark and nothing else.

The scope of each window is resolved once per inventory (a reload makes a new one); at a
given instant only the windows that are on are looked at (`monitor.maintenance.windows.is_on`, once
per window), so a scrape costs a dictionary per covered camera, not a scope test per camera.
"""

from __future__ import annotations

import time
from typing import Any

from .windows import is_on

# The last inventory and its resolved scopes.  The inventory itself is kept (not its id(),
# which a later inventory may reuse once this one is freed).
_scopes: tuple[Any, list[tuple[Any, tuple[str, ...]]], set[str]] | None = None


def _resolve(inventory: Any) -> tuple[list[tuple[Any, tuple[str, ...]]], set[str]]:
    global _scopes
    if _scopes is not None and _scopes[0] is inventory:
        return _scopes[1], _scopes[2]
    windows = inventory.maintenance
    resolved = [(w, tuple(c.id for c in inventory.cameras if w.covers(c))) for w in windows]
    every = {cid for _w, ids in resolved for cid in ids}
    _scopes = (inventory, resolved, every)
    return resolved, every


def covered(inventory: Any) -> set[str]:
    """Every camera some window covers (on or not): the cameras that get the gauge."""
    return _resolve(inventory)[1]


def in_maintenance_now(inventory: Any, now: float | None = None) -> dict[str, str]:
    """camera id -> the name of the first window on now that covers it."""
    now = time.time() if now is None else now
    tz = inventory.timezone
    out: dict[str, str] = {}
    for window, ids in _resolve(inventory)[0]:
        if ids and is_on(window, now, tz):
            for cid in ids:
                out.setdefault(cid, window.name)
    return out
