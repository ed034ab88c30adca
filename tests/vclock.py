"""An event loop whose time the test drives: no sleeping, no window of seconds to hope for.

`VirtualTimeLoop` is asyncio's selector loop with its own clock: whenever it would wait
(nothing ready, the next timer some time away), it does not wait but moves its time to that
timer.  So ``await asyncio.sleep(60)``, ``asyncio.timeout(0.5)``, the scheduler's due times,
the link loops' phases and the resource guard's hold all happen in order, at their exact
times, in no real time at all; a step that took long (a stall of the loop) is
`advance(seconds)` inside a callback.  `clock` is the `monitor.timebase.Clock` on this time
(wall time = a fixed epoch plus the loop's time) to hand to the Scheduler and the
ResourceGuard.

Only for code that waits on the loop's timers: real sockets and worker threads take real
time, which this loop does not wait for (it would run ahead of them), so tests with real
I/O stay on the ordinary loop.

    @virtual_time
    async def test_...():
        loop = asyncio.get_running_loop()   # a VirtualTimeLoop
        sched = Scheduler(state, clock=loop.clock, ...)
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import selectors
from typing import Any, Awaitable, Callable

from monitor.timebase import Clock

#: The wall-clock time at a virtual loop's time 0 (2026-10-01 00:00:00 UTC): fixed, so
#: that phases aligned to the wall clock are the same on every run.
EPOCH = 1_790_812_800.0


class _Jumping:
    """The loop's selector, but a wait with a timeout becomes a jump of the loop's time."""

    def __init__(self, selector: selectors.BaseSelector, loop: "VirtualTimeLoop") -> None:
        self._selector = selector
        self._loop = loop

    def select(self, timeout: float | None = None) -> list:
        ready = self._selector.select(0)
        if ready or timeout is None or timeout <= 0:
            # None: no timer at all, only I/O or a thread can wake the loop: really wait
            return ready or (self._selector.select(timeout) if timeout is None else ready)
        if self._loop.time() + timeout > self._loop.limit:
            raise TimeoutError(f"virtual time would pass its limit ({self._loop.limit:.0f} s): "
                               "something waited for a condition that never came")
        self._loop.advance(timeout)
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class VirtualClock(Clock):
    def __init__(self, loop: "VirtualTimeLoop") -> None:
        self._loop = loop

    def time(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return EPOCH + self._loop.time()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, limit: float = 3600.0) -> None:
        self._now = 0.0  # before the base class, which may read the time
        #: virtual seconds after which a jump fails the run: a timer re-armed for ever (a
        #: scheduler) never lets a test that waits for the wrong thing block
        self.limit = limit
        super().__init__()
        self._selector = _Jumping(self._selector, self)  # type: ignore[has-type]
        self.clock = VirtualClock(self)

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward: from a callback or a coroutine, a step that took `seconds`
        (a stall); the timers due meanwhile run late, as they would."""
        if seconds < 0:
            raise ValueError("time does not go back")
        self._now += seconds


def run(main: Callable[[], Awaitable[Any]], limit: float = 3600.0) -> Any:
    """Run `main()` on a fresh virtual loop whose time may not pass `limit` seconds."""
    loop = VirtualTimeLoop(limit)
    try:
        return loop.run_until_complete(main())
    finally:
        try:
            # what asyncio.run does: the tasks left (a run cut at its limit) are cancelled
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def virtual_time(test: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Decorate an async test to run on a VirtualTimeLoop (pytest sees a plain test)."""
    assert inspect.iscoroutinefunction(test)

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run(lambda: test(*args, **kwargs))

    return wrapper
