"""The monitor's own time, as the scheduler, the link loops and the resource guard read it.

`Clock.time()` is the event loop's clock, the one its timers (``call_at``, ``sleep``,
``asyncio.timeout``) run on, so that a due time and the timer armed for it always agree;
`Clock.wall()` is the epoch, for phases aligned to the wall clock and nothing else.  They
take a `Clock` as a parameter so that a test can run them on an event loop whose time it
drives (tests/vclock.py): a round of checks, a deadline, a hold or a stall is then a step
of that loop's time, exact and taken without sleeping, whatever the load on the machine.
"""

from __future__ import annotations

import asyncio
import time


class Clock:
    """The running loop's time, and the wall clock."""

    def time(self) -> float:
        """Seconds on the running event loop's clock (monotonic); outside a loop (a guard
        used by a synchronous caller), the monotonic clock every event loop here reads."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def wall(self) -> float:
        """Seconds since the epoch."""
        return time.time()


#: The clock of a process that does not drive its own time: the monitor's.
SYSTEM = Clock()
