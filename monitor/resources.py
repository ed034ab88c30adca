"""The monitor's own resources: descriptors, memory, threads and the event loop.

A probe that cannot open a socket because *this process* ran out of descriptors (EMFILE),
the machine did (ENFILE), the kernel had no buffer (ENOBUFS) or memory (ENOMEM), or no
worker thread could be started, has learnt nothing about the camera.  Such a probe ends in
``LocalResourceError`` instead of a reason: the scheduler drops it (the check runs again on
its next round, the camera keeps its state) and reports it here.  This module owns:

- the classification (``local_resource_kind``), used by ``monitor.probes.base.run_probe``;
- ``ResourceGuard``: the self metrics ``cctv_monitor_resource_errors_total{kind}`` and
  ``cctv_monitor_resource_exhausted``, one log line when the condition starts and one when
  it ends, and the reason ``/readyz`` fails meanwhile;
- the loop-lag monitor: a stall of the event loop (a long reload step, a full collection, a
  swapped-out page) stretches every probe's clock; a failed probe that overlapped a stall is
  dropped like one that hit a resource error, never judged;
- the descriptor budget at start: the soft RLIMIT_NOFILE is raised to the hard limit and a
  configuration whose concurrency cannot fit in it is refused.
"""

from __future__ import annotations

import errno
import logging
import resource
from typing import TYPE_CHECKING, Any

from .timebase import SYSTEM, Clock

if TYPE_CHECKING:
    from .model import MonitorSettings

log = logging.getLogger("cctv.resources")

_ERRNO_KIND = {
    errno.EMFILE: "descriptors",
    errno.ENFILE: "descriptors",
    errno.ENOBUFS: "buffers",
    errno.ENOMEM: "memory",
}

KINDS = ("descriptors", "buffers", "memory", "threads")


class LocalResourceError(Exception):
    """A probe could not run for lack of a local resource; `kind` is one of KINDS."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"local {kind} exhausted" + (f" ({detail})" if detail else ""))
        self.kind = kind


def local_resource_kind(exc: BaseException | None) -> str | None:
    """The resource kind when `exc` (or an exception it was raised from) says this process
    or this machine ran out of something; None for anything the camera or network did."""
    seen = 0
    while exc is not None and seen < 8:  # bounded: a cause chain can be a cycle
        if isinstance(exc, LocalResourceError):
            return exc.kind
        if isinstance(exc, MemoryError):
            return "memory"
        if isinstance(exc, OSError) and exc.errno in _ERRNO_KIND:
            return _ERRNO_KIND[exc.errno]
        if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
            return "threads"
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class ResourceGuard:
    """The monitor condition "local resources exhausted" and the loop-lag monitor.

    The condition starts with the first reported error and ends `hold` seconds after the
    last one; it is one WARNING line at the start and one INFO line at the end, whatever
    the number of probes dropped in between.
    """

    LAG_PERIOD = 0.1  # seconds between two loop-lag samples
    STALL = 0.25  # a sample this late marks a stall (probe timeouts are seconds)

    def __init__(self, registry: Any = None, hold: float = 5.0, clock: Clock = SYSTEM) -> None:
        from prometheus_client import Counter, Gauge

        self.hold = hold
        self.clock = clock  # the hold and the stall log's pace, on the loop's time
        self.errors = Counter(
            "cctv_monitor_resource_errors",
            "Probes dropped (not judged) because the monitor itself ran out of a resource: "
            "descriptors, buffers, memory, threads, or the event loop stalled.",
            ["kind"],
            registry=registry,
        )
        for kind in (*KINDS, "loop_stall"):
            self.errors.labels(kind)
        self.exhausted = Gauge(
            "cctv_monitor_resource_exhausted",
            "1 while the monitor is short of a local resource (probes are postponed).",
            registry=registry,
        )
        self.loop_lag = Gauge(
            "cctv_monitor_event_loop_lag_seconds",
            "Largest event loop lag seen in the last second.",
            registry=registry,
        )
        self.stalls = Counter(
            "cctv_monitor_event_loop_stalls",
            "Event loop stalls longer than a quarter second.",
            registry=registry,
        )
        self.active: str | None = None
        self._since = 0.0
        self._last = 0.0
        self._dropped = 0
        self._timer: Any = None
        self._lag_timer: Any = None
        self._lag_expected = 0.0
        self._lag_max = 0.0
        self._lag_window = 0.0
        # (start, end) of recent stalls, on the loop clock; a few suffice (probes are short)
        self._stalls: list[tuple[float, float]] = []
        self._loop: Any = None
        self._stall_logged = -1e9

    # ------------------------------------------------------------------ the condition

    def report(self, kind: str) -> None:
        """A probe was dropped for lack of `kind`."""
        self.errors.labels(kind).inc()
        now = self.clock.time()
        self._last = now
        self._dropped += 1
        if self.active is None:
            self.active = kind
            self._since = now
            self.exhausted.set(1)
            log.warning(
                "monitor short of local %s: probes are postponed, not failed; "
                "camera states are kept until it recovers", kind)
            self._arm_clear()

    def report_stall(self) -> None:
        """A failed probe was dropped because the event loop stalled during it.  A stall is
        over by the time it is seen, so it is counted and logged (at most once a minute),
        not held as a condition."""
        self.errors.labels("loop_stall").inc()
        now = self.clock.time()
        if now - self._stall_logged >= 60.0:
            self._stall_logged = now
            log.warning("event loop stalled (lag up to %.2fs): failed probes that overlapped "
                        "the stall are dropped and re-run, not judged", self._worst_stall())

    def _worst_stall(self) -> float:
        return max((e - s for s, e in self._stalls), default=0.0)

    def _arm_clear(self, delay: float | None = None) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # reported outside the loop (a unit test): no timer
            return
        self._timer = loop.call_later(self.hold if delay is None else delay, self._maybe_clear)

    def _maybe_clear(self) -> None:
        self._timer = None
        if self.active is None:
            return
        now = self.clock.time()
        if now - self._last < self.hold:
            self._arm_clear(self.hold - (now - self._last) + 0.01)
            return
        log.info("monitor resources recovered after %.0fs (%s); %d probes were postponed",
                 now - self._since, self.active, self._dropped)
        self.active = None
        self._dropped = 0
        self.exhausted.set(0)

    def problems(self) -> list[str]:
        """Why the monitor is not ready right now (empty when it is)."""
        if self.active is None:
            return []
        return [f"short of local {self.active} since {self.clock.time() - self._since:.0f}s"]

    # ------------------------------------------------------------------ loop lag

    def start(self, loop: Any) -> None:
        self._loop = loop
        self._lag_expected = loop.time() + self.LAG_PERIOD
        self._lag_window = loop.time()
        self._lag_timer = loop.call_at(self._lag_expected, self._lag_tick)

    def stop(self) -> None:
        for handle in (self._lag_timer, self._timer):
            if handle is not None:
                handle.cancel()
        self._lag_timer = self._timer = None

    def _lag_tick(self) -> None:
        loop = self._loop
        now = loop.time()
        lag = now - self._lag_expected
        if lag > self._lag_max:
            self._lag_max = lag
        if lag >= self.STALL:
            self.stalls.inc()
            self._stalls.append((self._lag_expected - self.LAG_PERIOD, now))
            del self._stalls[:-32]
        if now - self._lag_window >= 1.0:
            self.loop_lag.set(self._lag_max)
            self._lag_max = 0.0
            self._lag_window = now
        self._lag_expected = now + self.LAG_PERIOD
        self._lag_timer = loop.call_at(self._lag_expected, self._lag_tick)

    def stalled_during(self, start: float, end: float) -> float:
        """Seconds of loop stall within [start, end] (loop clock), including a stall still
        going on when the probe ended (measured up to `end`)."""
        total = 0.0
        for s, e in self._stalls:
            lo, hi = max(s, start), min(e, end)
            if hi > lo:
                total += hi - lo
        if self._loop is not None:
            # a stall in progress: the lag timer has not run yet
            pending = end - self._lag_expected
            if pending >= self.STALL:
                total += min(pending, end - start)
        return total


# ---------------------------------------------------------------------- descriptors

#: Descriptors kept for everything that is not a probe: the event loop, logs, the config
#: files a reload reads, worker threads' files, the ICMP sockets of the links.
RESERVE = 64


def descriptors_needed(settings: MonitorSettings, web_connections: int) -> int:
    """Descriptors the configured concurrency may hold at once: one socket per camera or
    feed check, three per stream check (RTSP plus an RTP/RTCP pair), the web server's
    connection cap and a reserve."""
    stream = settings.stream.concurrency
    return int(settings.concurrency) + 3 * int(stream) + web_connections + RESERVE


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one; returns the (soft, hard) now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # e.g. above fs.nr_open: keep what we have
            pass
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def check_descriptor_budget(settings: MonitorSettings, web_connections: int) -> str | None:
    """None when the concurrency fits in the descriptor limit, else the reason it does not
    (a message for the operator, naming the keys to change)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = descriptors_needed(settings, web_connections)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return None
    stream = settings.stream.concurrency
    return (
        f"monitor.concurrency {settings.concurrency} and stream.concurrency {stream} need up "
        f"to {need} file descriptors (with {web_connections} web connections and {RESERVE} "
        f"reserved), but the limit is {soft} (RLIMIT_NOFILE, already raised to the hard "
        f"limit): lower the concurrency or raise the limit (ulimit -n, LimitNOFILE=, "
        f"docker --ulimit nofile=)")


# ---------------------------------------------------------------------- stream coverage

#: A stream check holds its slot for its window plus the RTSP exchanges around it (and,
#: rarely, the stall grace): one second over the window is what they take on a city LAN.
STREAM_OVERHEAD = 1.0


def stream_budget_needed(cameras: int, duration: float, interval: float) -> int:
    """Stream checks in flight needed for `cameras` stream checks of `duration` seconds
    (plus `STREAM_OVERHEAD`) to all start within `interval`."""
    if cameras <= 0 or interval <= 0:
        return 0
    return -(-int(cameras * (duration + STREAM_OVERHEAD) * 1000) // int(interval * 1000))


def check_stream_coverage(inventory: Any) -> str | None:
    """None when `stream.concurrency` lets every stream camera be checked within
    `stream.interval`, else the numbers (a warning for the operator, naming the key)."""
    s = inventory.settings.stream
    if s.interval <= 0:
        return None
    cameras = sum(1 for c in inventory.cameras if "stream" in c.checks)
    need = stream_budget_needed(cameras, s.duration, s.interval)
    if need <= s.concurrency:
        return None
    covered = int(s.concurrency * s.interval / (s.duration + STREAM_OVERHEAD))
    return (f"stream.concurrency {s.concurrency} checks about {covered:,} cameras per "
            f"stream.interval ({s.interval:g} s, {s.duration:g} s windows), fewer than the "
            f"{cameras:,} with a stream check: set stream.concurrency to at least {need} "
            f"(3 file descriptors each)")
