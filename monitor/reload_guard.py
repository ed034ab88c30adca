"""Reload guards: a reload that would silently drop a large part of the fleet is refused.

Moving one provider's include file away, or a glob that no longer matches, used to answer
"ok" and remove hundreds of cameras; their series vanished, so no alert could fire for
them.  A reload is refused (the old configuration stays, the reload metric goes to 0, the
log and the HTTP answer say why) when

- it removes more than ``monitor.reload.max_removed_ratio`` of the cameras (default 0.1), or
- an include pattern that matched a file before matches none now (a pattern the new
  configuration no longer names at all was removed on purpose and is not checked).

``POST /-/reload?force=1`` (or SIGUSR1, or ``cctv-monitor reload --force``-style tooling
sending it) applies such a reload anyway.
"""

from __future__ import annotations

from .model import Inventory


def refusal(old: Inventory, new: Inventory, removed: int) -> list[str]:
    """Why the reload from inventory `old` to `new` (removing `removed` cameras) must not
    be applied without force; empty when it may."""
    reasons = []
    before = len(old.cameras)
    ratio = new.settings.reload.max_removed_ratio
    if before and removed / before > ratio:
        reasons.append(
            f"the new configuration removes {removed} of {before} cameras "
            f"({removed / before:.0%}, more than monitor.reload.max_removed_ratio {ratio:g}); "
            "reload with force (POST /-/reload?force=1 or SIGUSR1) if that is intended")
    now_matches = dict(new.includes)
    for pattern, files in old.includes:
        if files and pattern in now_matches and not now_matches[pattern]:
            reasons.append(
                f"include pattern {pattern!r} matched {len(files)} file(s) before and "
                "matches none now; reload with force if the files were removed on purpose")
    return reasons
