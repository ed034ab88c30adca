"""Prometheus-style durations (``500ms``, ``15s``, ``1h30m``): parsing and formatting."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
    r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
NUMBER_RE = re.compile(r"[+-]?(?:[0-9][0-9_]*)?(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_UNITS_MS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)


def parse_duration(text: str | int | float) -> float:
    """A Prometheus duration (``500ms``, ``15s``, ``5m``, ``1h30m``, units y w d h m s ms,
    largest first, whole numbers) in seconds.  ``0`` is allowed (it means "off" where a
    setting allows off).  Raises ValueError with a message fit for an operator."""
    if isinstance(text, bool):
        raise ValueError("durations need a unit, e.g. 30s")
    if isinstance(text, (int, float)):
        if text == 0:
            return 0.0
        raise ValueError(f"durations need a unit, e.g. 30s, got {text!r}")
    s = text.strip()
    if s == "0":
        return 0.0
    match = _DURATION_RE.fullmatch(s) if s else None
    if match is None:
        if s and NUMBER_RE.fullmatch(s):
            raise ValueError(f"durations need a unit, e.g. 30s, got {text!r}")
        raise ValueError(
            f"invalid duration {text!r}: use whole numbers with units, e.g. 500ms, 15s, 5m, 1h30m"
        )
    total_ms = 0
    for group, (_, size) in zip(match.groups(), _UNITS_MS):
        if group is not None:
            total_ms += int(group) * size
    return total_ms / 1000


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (the inverse of `parse_duration`, to the ms)."""
    ms = round(seconds * 1000)
    if ms < 0:
        raise ValueError("durations are not negative")
    if ms == 0:
        return "0s"
    out = []
    for unit, size in _UNITS_MS:
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)

