"""Device identity across the inventory: which physical device answers at each camera.

Owns `DeviceIndex`, a State listener fed by the onvif check's results: camera -> (serial,
manufacturer, model, firmware), serial -> cameras.  It answers

- `duplicates()`: pairs of configured cameras whose devices report the same serial
  number, i.e. one device counted twice in the inventory (two ids for one address, an
  NVR channel listed as two cameras, a provider's copy-paste);
- `duplicate_counts()`: per provider, the cameras that share their serial with another;
- `identity(camera_id)`: what the camera last said about itself.

A camera whose serial changed since its previous onvif check (a swapped or replaced
device) is logged once per change.  Serials are compared as the device reports them,
stripped; an empty serial never matches.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)


class DeviceIndex:
    def __init__(self, provider_of: Callable[[str], str | None]) -> None:
        # asked at read time, not a copy of the camera dict: a reload swaps that dict, and
        # a camera it adds (or moves to another provider) must count under its provider
        self._provider_of = provider_of
        self._identity: dict[str, dict[str, str | None]] = {}
        self._by_serial: dict[str, set[str]] = {}

    # ---------------------------------------------------------- listener protocol

    def camera_check(self, cs: Any, check: str) -> None:
        if check != "onvif":
            return
        r = cs.results.get("onvif")
        if r is None or not r.ok:
            return  # an unanswered check says nothing about the device
        cid = cs.camera.id
        d = r.detail
        serial = (d.get("serial") or "").strip() or None
        ident = {k: d.get(k) for k in ("manufacturer", "model", "firmware", "hardware_id")}
        ident["serial"] = serial
        old = self._identity.get(cid)
        if old is not None and old.get("serial") != serial:
            if old.get("serial") and serial:
                log.warning("camera %s: device serial changed from %s to %s (a replaced or "
                            "swapped device)", cid, old["serial"], serial,
                            extra={"camera": cid, "event": "device_changed"})
            self._unlink(cid, old.get("serial"))
        self._identity[cid] = ident
        if serial:
            self._by_serial.setdefault(serial, set()).add(cid)

    def camera_feeds(self, cs: Any) -> None:
        pass

    def inventory_changed(self, added: list[str], removed: list[str], changed: list[str]) -> None:
        for cid in removed:
            old = self._identity.pop(cid, None)
            if old is not None:
                self._unlink(cid, old.get("serial"))

    # ---------------------------------------------------------- read API

    def identity(self, camera_id: str) -> dict[str, str | None] | None:
        return self._identity.get(camera_id)

    def duplicates(self) -> list[tuple[str, str, str]]:
        """(serial, camera a, camera b) for every pair sharing a serial, sorted."""
        out = []
        for serial, cams in self._by_serial.items():
            if len(cams) > 1:
                ids = sorted(cams)
                out += [(serial, a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
        return sorted(out)

    def duplicate_of(self, camera_id: str) -> list[str]:
        serial = (self._identity.get(camera_id) or {}).get("serial")
        if not serial:
            return []
        return sorted(c for c in self._by_serial.get(serial, ()) if c != camera_id)

    def duplicate_counts(self) -> dict[str, int]:
        """provider -> cameras of that provider whose serial another configured camera
        shares (both cameras of a pair count)."""
        counts: dict[str, int] = {}
        for cams in self._by_serial.values():
            if len(cams) > 1:
                for cid in cams:
                    p = self._provider_of(cid)
                    if p is not None:
                        counts[p] = counts.get(p, 0) + 1
        return counts

    def _unlink(self, cid: str, serial: str | None) -> None:
        if serial and serial in self._by_serial:
            self._by_serial[serial].discard(cid)
            if not self._by_serial[serial]:
                del self._by_serial[serial]
