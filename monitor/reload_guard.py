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

from typing import Any

DEFAULT_MAX_REMOVED_RATIO = 0.1


def max_removed_ratio(settings: Any) -> float:
    reload = getattr(settings, "reload", None)
    value = getattr(reload, "max_removed_ratio", None)
    return DEFAULT_MAX_REMOVED_RATIO if value is None else float(value)


def refusal(old: Any, new: Any, removed: int) -> list[str]:
    """Why the reload from inventory `old` to `new` (removing `removed` cameras) must not
    be applied without force; empty when it may."""
    reasons = []
    before = len(old.cameras)
    ratio = max_removed_ratio(new.settings)
    if before and removed / before > ratio:
        reasons.append(
            f"the new configuration removes {removed} of {before} cameras "
            f"({removed / before:.0%}, more than monitor.reload.max_removed_ratio {ratio:g}); "
            "reload with force (POST /-/reload?force=1 or SIGUSR1) if that is intended")
    now_matches = dict(getattr(new, "includes", ()) or ())
    for pattern, files in getattr(old, "includes", ()) or ():
        if files and pattern in now_matches and not now_matches[pattern]:
            reasons.append(
                f"include pattern {pattern!r} matched {len(files)} file(s) before and "
                "matches none now; reload with force if the files were removed on purpose")
    return reasons
