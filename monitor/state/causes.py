"""Why a feed is down, and whether a command centre is reachable.

A feed's cause (`FEED_CAUSES`) depends on its camera and on the links of the command centre
that carries it: `FeedCauses` owns the two maps that say which (integration -> centre, and
centre -> the cameras with a feed through it, to re-cause them when a link flips) and
answers `centre_up` from the link records State keeps.
"""

from __future__ import annotations

from typing import Callable, Mapping

from ..model import Cause, Inventory, LinkKey
from .records import CameraState, FeedState, LinkState, feed_maps


class FeedCauses:
    def __init__(self, links: Callable[[], Mapping[LinkKey, LinkState]],
                 inventory: Inventory) -> None:
        self._links = links
        # integration name -> command centre name, for feed causes
        self._integration_centre: dict[str, str] = {}
        # centre -> camera ids that have a feed through that centre (re-cause on link flips)
        self._centre_feeds: dict[str, set[str]] = {}
        self.rewire(*feed_maps(inventory))

    @property
    def links(self) -> Mapping[LinkKey, LinkState]:
        return self._links()

    @property
    def integration_centre(self) -> Mapping[str, str]:
        return self._integration_centre

    def rewire(self, integration_centre: dict[str, str],
               centre_feeds: dict[str, set[str]]) -> None:
        """Take the maps of a (reloaded) inventory (`records.feed_maps`)."""
        self._integration_centre, self._centre_feeds = integration_centre, centre_feeds

    def cameras_through(self, centre: str) -> set[str] | tuple[()]:
        """The cameras with a feed through `centre`."""
        return self._centre_feeds.get(centre, ())

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

    def feed_cause(self, cs: CameraState, fs: FeedState) -> Cause:
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
