"""The command-centre link loops: one task per link, on `links.interval`.

Links are few and critical, so they never queue behind cameras: each has its own task,
probed at once on start, then on a stable phase of the interval (so restarts do not bunch
them).  A round is bounded by its own deadline; whatever happens, the loop goes on and the
result goes to `State.record_link`.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Awaitable, Callable

from ..model import Inventory, Link, LinkKey, LinkResult, LinkSettings, Reason
from ..resources import LocalResourceError, ResourceGuard
from ..state import State
from ..timebase import SYSTEM, Clock

LinkProbe = Callable[[Link, LinkSettings], Awaitable[LinkResult]]


def phase(key: str) -> float:
    """A stable fraction in [0, 1) for an id: the same after every restart."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _classify(exc: Exception) -> tuple[Reason, str]:
    from ..probes.base import classify_exception

    return classify_exception(exc)


class LinkLoops:
    """One task per (centre, link) of the inventory; `sync` after every reload."""

    def __init__(self, state: State, link_probe: LinkProbe, guard: ResourceGuard,
                 clock: Clock = SYSTEM) -> None:
        self.state = state
        self._clock = clock  # phases on its wall time; sleeps and deadlines on the loop's
        self._probe = link_probe
        self._guard = guard
        self._tasks: dict[LinkKey, tuple[Link, asyncio.Task]] = {}

    def sync(self, inventory: Inventory) -> None:
        """Start loops for new or changed links, cancel those of removed or changed ones."""
        wanted: dict[LinkKey, Link] = {}
        for centre in inventory.command_centres:
            for link in centre.links:
                wanted[LinkKey(centre.name, link.name)] = link
        for key, (link, task) in list(self._tasks.items()):
            if wanted.get(key) != link:
                task.cancel()
                del self._tasks[key]
        loop = asyncio.get_running_loop()
        for key, link in wanted.items():
            if key not in self._tasks:
                self._tasks[key] = (link, loop.create_task(self._loop(key.centre, link)))

    def tasks(self) -> list[asyncio.Task]:
        return [t for _l, t in self._tasks.values()]

    async def stop(self) -> None:
        tasks = self.tasks()
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, centre: str, link: Link) -> None:
        loop = asyncio.get_running_loop()
        first = True
        while True:
            ls = self.state.inventory.settings.links
            interval = max(0.1, ls.interval)
            if first:
                # links are few and critical: probe at once, then on a stable phase
                first = False
            else:
                offset = (phase(f"{centre}\x00{link.name}") * interval
                          - self._clock.wall()) % interval
                next_due = loop.time() + (offset or interval)
                await asyncio.sleep(next_due - loop.time())
            budget = max(interval, ls.timeout * ls.probes * max(1, len(link.targets))) + ls.timeout
            try:
                async with asyncio.timeout(budget):
                    result = await self._probe(link, ls)
            except LocalResourceError as exc:
                self._guard.report(exc.kind)  # no verdict on the link: try next round
                continue
            except Exception as exc:  # noqa: BLE001 - a link probe never stops the loop
                reason, message = _classify(exc)
                result = LinkResult("down", reason, message=message)
            self.state.record_link(centre, link.name, result)
