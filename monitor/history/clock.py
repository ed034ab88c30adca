"""The ledger's clock: wall time that advances with the monotonic clock.

An outage's duration must not depend on someone stepping the wall clock: stepped back an
hour during an outage, a wall-clock end came before its start and the report showed the
camera 100 % available.  `SteadyClock` reads the wall clock once, at the start of the run,
and from then on adds monotonic seconds to it, so every time this run writes (outage starts
and ends, heartbeats) is in one frame and every interval is as long as it really was.

A step of the wall clock is still worth knowing about (the operator's NTP is broken, or
someone set the date): `check` compares the wall clock with the steady one and returns a
step once, when their difference moved by more than `threshold` since the last check.  The
writer logs it, exports it and records it in the ledger (`clock_steps`), and the report
lists it.  The run keeps its start's frame (a restart takes the wall clock again): if the
wall clock was wrong when the monitor started, that run's times are off by the recorded step.

Across a restart on the same boot, `boot_clock` (CLOCK_BOOTTIME, which counts suspend too and
is never stepped) tells how long the monitor was really stopped, whatever the wall clock did.
"""

from __future__ import annotations

import time
from typing import Callable


def boot_id() -> str:
    """This boot of the machine (a restart on another boot cannot compare boot clocks)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def boot_clock() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class SteadyClock:
    """Callable like time.time; see the module docstring."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic, threshold: float = 2.0) -> None:
        self._wall = wall
        self._mono = mono
        self._anchor = wall() - mono()
        self.threshold = threshold
        self.offset = 0.0  # wall minus steady at the last step seen
        self.steps = 0

    def __call__(self) -> float:
        return self._anchor + self._mono()

    def wall(self) -> float:
        return self._wall()

    def check(self) -> float | None:
        """The wall clock's step in seconds (negative: back) since the last one seen, when
        larger than `threshold`; None otherwise.  NTP's slewing moves both clocks alike
        (CLOCK_MONOTONIC is slewed too), so only steps show here."""
        offset = self._wall() - self()
        step = offset - self.offset
        if abs(step) < self.threshold:
            return None
        self.offset = offset
        self.steps += 1
        return step
