"""A camera's cause (`model.Cause`), decided from State's links: a camera that is down while
the command-centre link it hangs off (`Camera.uplink`) is down is down because of the city's
network, not its provider.  One rule for the ledger's rows, /status and /api/cameras; the
report decides the same per second from the recorded link intervals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from ..model import Cause, uplink_is

if TYPE_CHECKING:
    from . import CameraState, LinkState


def camera_cause(cs: "CameraState", links: Mapping[tuple[str, str], "LinkState"]) -> Cause:
    if cs.up is None:
        return Cause.UNKNOWN
    if cs.up:
        return Cause.OK
    uplink = cs.camera.uplink
    if uplink:
        for (centre, link), ls in links.items():
            if ls.result is not None and ls.result.state == "down" and uplink_is(uplink, centre, link):
                return Cause.LINK_DOWN
    return Cause.CAMERA
