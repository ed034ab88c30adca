"""One provider's view of the State, for the pages and the API a provider user gets.

`ProviderView` answers the State read API (docs/ARCHITECTURE.md) with only that provider's
cameras and its own entry of the inventory's providers: no other provider's name, camera,
figure or total appears (monitor.web.access explains why not even totals).  The command-centre
links are the city's network, not a provider's, and stay visible: they explain the
link-caused exclusions in its report.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class _Devices:
    """The device registry limited to one provider's cameras: a serial shared with another
    provider's camera is not shown (it would name that camera)."""

    def __init__(self, devices: Any, mine: set[str]) -> None:
        self._devices = devices
        self._mine = mine

    def identity(self, camera_id: str) -> Any:
        return self._devices.identity(camera_id) if camera_id in self._mine else None

    def duplicates(self) -> list[tuple[str, str, str]]:
        return [d for d in self._devices.duplicates() if d[1] in self._mine and d[2] in self._mine]

    def duplicate_of(self, camera_id: str) -> list[str]:
        return [c for c in self._devices.duplicate_of(camera_id) if c in self._mine]


class ProviderView:
    def __init__(self, state: Any, provider: str) -> None:
        self._state = state
        self.provider = provider
        inv = state.inventory
        self.cameras = {cid: cs for cid, cs in state.cameras.items()
                        if cs.camera.provider == provider}
        self.inventory = dataclasses.replace(
            inv, providers=tuple(p for p in inv.providers if p.name == provider),
            cameras=tuple(c for c in inv.cameras if c.provider == provider))
        devices = getattr(state, "devices", None)
        self.devices = None if devices is None else _Devices(devices, set(self.cameras))

    @property
    def ready(self) -> bool:
        return self._state.ready

    @property
    def generation(self) -> int:
        return self._state.generation

    @property
    def links(self) -> Any:
        return self._state.links

    def centre_up(self, name: str) -> Any:
        return self._state.centre_up(name)
