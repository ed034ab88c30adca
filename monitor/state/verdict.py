"""A camera's verdict from the last result of each of its checks."""

from __future__ import annotations

from ..checks import CHECKS, source
from ..model import Reason
from .records import CameraState

#: Checks on a round of their own (the stream check, every few minutes): a camera whose
#: fast checks all passed is up meanwhile, not unknown for minutes.
OWN_ROUND = frozenset(n for n, c in CHECKS.items() if source(c).budget != "fast")


def camera_verdict(cs: CameraState) -> tuple[bool | None, Reason | None, str | None]:
    """(up, reason, failed check): down at the first failing check in catalogue order (or a
    check still held down since a restart), unknown while a check has not answered yet (a
    check on a round of its own only until anything answered), else up."""
    failed: str | None = None
    missing = False
    for name in cs.checks:
        r = cs.results.get(name)
        if name in cs.held:  # restored down and not yet judged again: still down
            failed = name
            break
        if r is None:
            if name not in OWN_ROUND or not cs.results:
                missing = True
        elif not r.ok:
            failed = name
            break
    if failed is not None:
        reason = cs.reason if failed in cs.held else cs.results[failed].reason
        return False, reason, failed
    if missing:
        return None, None, None
    return True, Reason.OK, None
