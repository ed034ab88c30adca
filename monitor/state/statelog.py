"""The state-change log (logger "cctv.state"), a change listener of State.

Exactly one line when a camera, a feed or a link goes down or degrades, and one when it
recovers, with how long it was down: it hears the same `Change` events as the outage ledger,
so the log and the ledger never disagree.  Never a line per failed probe, never a password
(Endpoint.url is already clean; messages from probes go through `redact_url`-safe text by
contract and the log filter in logsetup).

Each line also carries structured fields (`extra=`, emitted as keys by --log-format
logfmt|json): `event` (camera_down, camera_recovered, feed_down, feed_recovered, link_down,
link_degraded, link_recovered), the camera's `camera`, `provider`, `district` and `zone`,
the `check` and the `reason`; feeds add `integration` and `cause`, links `centre` and
`link`; recoveries add `down_seconds`.

A feed that is down because its camera or its centre's link is down adds nothing to the line
already logged for that camera or link: it is logged at debug level, and so is its recovery
(`FeedState.loud`, which State keeps).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from ..model import Camera, LinkKey, Reason
from .records import CameraState, Change, LinkState

log = logging.getLogger("cctv.state")


def camera_fields(cam: Camera, event: str, check: str | None, reason: str) -> dict[str, Any]:
    """The structured fields of a state-change line about a camera (see the docstring)."""
    return {"event": event, "camera": cam.id, "provider": cam.provider,
            "district": cam.district, "zone": cam.zone, "check": check, "reason": reason}


def fmt_duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 5400:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


class StateLog:
    """A change listener: call it with each `Change`.  It reads the camera and link records
    (State's read API) for the labels a change does not carry."""

    def __init__(self, cameras: Callable[[], Mapping[str, CameraState]],
                 links: Callable[[], Mapping[LinkKey, LinkState]]) -> None:
        self._cameras = cameras
        self._links = links

    def __call__(self, ch: Change) -> None:
        if ch.kind == "camera":
            self.camera(ch)
        elif ch.kind == "feed":
            self.feed(ch)
        elif ch.kind == "link":
            self.link(ch)

    def camera(self, ch: Change) -> None:
        cam = self._cameras()[ch.subject].camera
        if ch.state == "down":
            extra = camera_fields(cam, "camera_down", ch.check, ch.reason)
            if ch.message and ch.message != ch.reason:
                log.warning("camera %s down: check %s failed: %s (%s)",
                            cam.id, ch.check, ch.reason, ch.message, extra=extra)
            else:
                log.warning("camera %s down: check %s failed: %s", cam.id, ch.check,
                            ch.reason, extra=extra)
        elif ch.was == "down":
            extra = camera_fields(cam, "camera_recovered", ch.check or None, Reason.OK.value)
            extra["down_seconds"] = round(ch.was_for, 3)
            log.info("camera %s recovered after %s down", cam.id, fmt_duration(ch.was_for),
                     extra=extra)

    def feed(self, ch: Change) -> None:
        if ch.state == ch.was:
            return  # still down, for another cause: its camera's or link's line said it
        cs = self._cameras()[ch.subject]
        loud = cs.feeds[ch.integration].loud
        if ch.state == "down":
            extra = camera_fields(cs.camera, "feed_down", "feed", ch.reason)
            extra.update(integration=ch.integration, cause=ch.cause)
            log.log(
                logging.WARNING if loud else logging.DEBUG,
                "feed %s of camera %s down (%s): %s", ch.integration, ch.subject, ch.cause,
                ch.message or ch.reason, extra=extra,
            )
        elif ch.was == "down":
            extra = camera_fields(cs.camera, "feed_recovered", "feed", Reason.OK.value)
            extra.update(integration=ch.integration, cause=ch.cause,
                         down_seconds=round(ch.was_for, 3))
            log.log(
                logging.INFO if loud else logging.DEBUG,
                "feed %s of camera %s recovered after %s down",
                ch.integration, ch.subject, fmt_duration(ch.was_for), extra=extra,
            )

    def link(self, ch: Change) -> None:
        key = LinkKey.parse(ch.subject)
        name = str(key)
        # links belong to no camera: their lines carry the centre and link instead
        extra: dict[str, Any] = {"event": f"link_{ch.state}", "check": "link",
                                 "reason": ch.reason, "centre": key.centre, "link": key.link}
        if ch.state == "down":
            log.warning("link %s down: %s (%s)", name, ch.reason,
                        ch.message or "no target answered", extra=extra)
        elif ch.state == "degraded":
            new = self._links()[key].result
            assert new is not None  # a link changes state with a result
            rtt = f"{new.rtt_avg * 1000:.0f}ms" if new.rtt_avg is not None else "n/a"
            extra.update(loss_ratio=round(new.loss, 4), rtt_seconds=new.rtt_avg)
            log.warning("link %s degraded: loss %.0f%%, rtt %s", name, new.loss * 100, rtt,
                        extra=extra)
        elif ch.was and ch.was != "up":
            extra.update(event="link_recovered", was=ch.was, down_seconds=round(ch.was_for, 3))
            log.info("link %s recovered after %s %s", name, fmt_duration(ch.was_for), ch.was,
                     extra=extra)
