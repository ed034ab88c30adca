"""When each check runs: the due-time heap, the concurrency budgets, deadlines and retries.

Measured (no-op probes, so the figure is the scheduling path itself: dispatch, probe task,
run_probe's deadline, lag histogram, State.record_result and the exporter's line
formatting): 100,000 cameras at a 30 s interval = 3,345 checks/s for ~17 % of one core,
~50 us per check; the same load as one sleeping task per camera (with a Semaphore, inline
probe) cost 55-75 us per check and ~40 % more memory, and makes a reload cancel and
recreate tasks.  So:

- One heap of ``(due, seq, job)`` driven by one ``loop.call_at`` timer: no task per camera,
  no sleeping coroutine per camera.  A job is one camera's fast round (its tcp/rtsp/http
  checks and its feeds, on the camera interval) or its stream round (on
  ``stream.interval``).  Due jobs are popped, re-armed at ``due + interval`` (fixed rate, no
  drift), and each of their checks becomes a short-lived probe task.
- Phases are stable per id: blake2b(id) -> a fraction of the interval, aligned to the wall
  clock, so restarts and reloads do not bunch cameras at the same second.
- Two budgets, each a counter plus a FIFO backlog (a semaphore without parked tasks):
  ``monitor.concurrency`` for camera and feed checks, ``stream.concurrency`` for stream
  checks, so a few long stream checks never starve the fast ones.  Links run on their own
  tasks and are never queued behind cameras.
- One hard deadline per check (``run_probe``; stream: ``stream.duration + timeout``), with
  tenacity re-tries of ``TRANSIENT_REASONS`` *inside* that deadline; answers (auth, 404,
  content) are never re-tried.
- Never two probes of one camera's check at once: a check still running (or still waiting
  for a slot) when it is due again is skipped and counted.
- Start lag (actual start - due) goes to ``cctv_monitor_probe_lag_seconds``.
- The snapshot check analyses the http check's picture right after the fetch (in a worker
  thread for pictures over 64 KB), then the body is dropped (State.record_result clears it).
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import time
from collections import deque
from typing import Any, Awaitable, Callable

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_fixed

from .selfmetrics import SelfMetrics
from .model import (
    TRANSIENT_REASONS,
    Camera,
    Endpoint,
    Inventory,
    Link,
    LinkResult,
    LinkSettings,
    ProbeContext,
    Reason,
    Result,
)
from .probes.base import ProbeFn, classify_exception, run_probe
from .resources import LocalResourceError, ResourceGuard, local_resource_kind
from .state import State, effective_checks

log = logging.getLogger("cctv.scheduler")

ProbeLookup = Callable[[str], ProbeFn]
LinkProbe = Callable[[Link, LinkSettings], Awaitable[LinkResult]]
Analyse = Callable[[bytes, Any, Any], Result]


def phase(key: str) -> float:
    """A stable fraction in [0, 1) for an id: the same after every restart."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _default_lookup(check: str) -> ProbeFn:
    from .probes import get_probe

    return get_probe(check)


async def _default_link_probe(link: Link, settings: LinkSettings) -> LinkResult:
    from .probes.link import probe_link

    return await probe_link(link, settings)


class _Job:
    """One camera's round of checks on one interval.  `dead` retires it lazily from the heap."""

    __slots__ = ("camera_id", "checks", "interval", "stream", "dead")

    def __init__(self, camera_id: str, checks: tuple[str, ...], interval: float, stream: bool):
        self.camera_id = camera_id
        self.checks = checks
        self.interval = interval
        self.stream = stream
        self.dead = False


class _Budget:
    """A semaphore as a counter and a FIFO backlog: no task exists until a slot is free."""

    __slots__ = ("limit", "in_flight", "backlog")

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.in_flight = 0
        self.backlog: deque[tuple[str, str, float]] = deque()


def _fast_checks(camera: Camera, checks: tuple[str, ...]) -> tuple[str, ...]:
    out = [c for c in ("tcp", "rtsp") if c in checks]
    if "http" in checks or "snapshot" in checks:
        out.append("http")  # the snapshot check looks at the http check's picture
    out.extend(f"feed:{integration}" for integration, _ in camera.feeds)
    return tuple(out)


class Scheduler:
    """See the module docstring.

    `probe_lookup`, `link_probe`, `analyse` and `history_factory` are injectable so that
    tests (and a partial build) can run without the real probe modules.
    """

    TICK = 0.002  # dispatcher wakeup granularity (seconds)
    SNAPSHOT_INLINE_BYTES = 64 * 1024  # smaller pictures are analysed on the loop (< 1 ms)

    def __init__(
        self,
        state: State,
        *,
        metrics: SelfMetrics | None = None,
        probe_lookup: ProbeLookup | None = None,
        link_probe: LinkProbe | None = None,
        analyse: Analyse | None = None,
        history_factory: Callable[[], Any] | None = None,
        tick: float | None = None,
        guard: ResourceGuard | None = None,
    ) -> None:
        if tick is not None:
            self.TICK = tick
        self.state = state
        self.inventory = state.inventory
        self.metrics = metrics or SelfMetrics()
        self._lookup = probe_lookup or _default_lookup
        self._link_probe = link_probe or _default_link_probe
        self._analyse = analyse
        self._history_factory = history_factory
        self._probe_cache: dict[str, ProbeFn] = {}
        s = self.inventory.settings
        self._fast = _Budget(s.concurrency)
        self._stream = _Budget(s.stream.concurrency)
        self._heap: list[tuple[float, int, _Job]] = []
        self._seq = 0
        self._jobs: dict[str, list[_Job]] = {}
        self._running: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task] = set()
        self._link_tasks: dict[tuple[str, str], tuple[Link, asyncio.Task]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._last_fire = 0.0
        self._ready_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self.skipped = 0
        self.dispatched = 0
        self._observe_lag = self.metrics.probe_lag.observe
        self.metrics.bind_gauges(
            lambda: self._fast.in_flight + self._stream.in_flight,
            lambda: len(self._fast.backlog) + len(self._stream.backlog),
        )
        self._snapshot_warned = False
        # the monitor's own trouble (descriptors, a stalled loop) ends a probe without a
        # verdict: the check is dropped and runs again next round, the camera keeps its state
        self.guard = guard or ResourceGuard(registry=None)
        self._dropped: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started = True
        self.guard.start(self._loop)
        self._schedule_cameras(list(self.inventory.cameras))
        self._sync_links()
        s = self.inventory.settings
        longest = max([c.interval or s.interval for c in self.inventory.cameras] or [s.interval])
        # "ready" also after the first full interval: a camera whose checks never all
        # complete (a stream check minutes away) must not hold readiness hostage
        self._ready_timer = self._loop.call_later(
            max(longest, s.links.interval) + s.timeout, self.state.mark_ready
        )
        self._arm()

    async def stop(self) -> None:
        self._started = False
        self.guard.stop()
        for handle in (self._timer, self._ready_timer):
            if handle is not None:
                handle.cancel()
        self._timer = None
        # no backlog left to drain: a cancelled probe's `finally` must not start another
        self._fast.backlog.clear()
        self._stream.backlog.clear()
        tasks = list(self._tasks) + [t for _l, t in self._link_tasks.values()]
        self._link_tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # the done callbacks (bookkeeping) run one step later
        self._heap.clear()
        self._running.clear()

    @property
    def in_flight(self) -> int:
        return self._fast.in_flight + self._stream.in_flight

    # ------------------------------------------------------------------ reload

    def apply(self, inventory: Inventory) -> tuple[list[str], list[str], list[str]]:
        """Hand the scheduler a reloaded inventory: unchanged cameras keep their schedule and
        state, new ones are added, removed ones retire (their in-flight probes finish and
        their results are dropped by State)."""
        old = self.inventory
        added, removed, changed = self.state.apply(inventory)
        self.inventory = inventory
        s, os_ = inventory.settings, old.settings
        self._fast.limit = max(1, s.concurrency)
        self._stream.limit = max(1, s.stream.concurrency)
        timing_changed = (s.interval, s.stream.interval) != (os_.interval, os_.stream.interval)
        if timing_changed:
            retire = list(self._jobs)
            reschedule = [c for c in inventory.cameras]
        else:
            retire = removed + changed
            cmap = inventory.camera_map()
            reschedule = [cmap[cid] for cid in (*added, *changed)]
        for cid in retire:
            for job in self._jobs.pop(cid, ()):
                job.dead = True
        if self._started:
            self._schedule_cameras(reschedule)
            self._sync_links()
            self._drain(self._fast)
            self._drain(self._stream)
            self._arm()
        if len(self._heap) > 4 * max(16, len(self._jobs) * 2):
            # many reloads leave many dead entries: compact once they dominate
            self._heap = [e for e in self._heap if not e[2].dead]
            heapq.heapify(self._heap)
        return added, removed, changed

    # ------------------------------------------------------------------ the heap

    def _schedule_cameras(self, cameras: list[Camera]) -> None:
        loop = self._loop
        assert loop is not None
        s = self.inventory.settings
        now_loop, now_wall = loop.time(), time.time()
        heap = self._heap
        fresh = len(heap) == 0
        for camera in cameras:
            checks = effective_checks(camera, self.inventory)
            jobs = []
            interval = camera.interval or s.interval
            fast = _fast_checks(camera, checks)
            if fast:
                jobs.append((_Job(camera.id, fast, interval, False), phase(camera.id)))
            if "stream" in checks and camera.rtsp is not None and s.stream.interval > 0:
                jobs.append((_Job(camera.id, ("stream",), s.stream.interval, True),
                             phase(camera.id + "\x00stream")))
            self._jobs[camera.id] = [j for j, _p in jobs]
            for job, frac in jobs:
                # the next wall-clock instant t with t = frac*interval (mod interval)
                offset = (frac * job.interval - now_wall) % job.interval
                self._seq += 1
                entry = (now_loop + offset, self._seq, job)
                if fresh:
                    heap.append(entry)
                else:
                    heapq.heappush(heap, entry)
        if fresh:
            heapq.heapify(heap)

    def _arm(self) -> None:
        if not self._heap or self._loop is None or not self._started:
            return
        # wake at most every TICK: at thousands of checks a second one wakeup per check
        # costs more in epoll round trips than the few milliseconds of lag it saves
        when = max(self._heap[0][0], self._last_fire + self.TICK)
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        self._timer_when = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        heap = self._heap
        now = self._last_fire = loop.time()
        limit = now + 0.0005  # call_at may wake within the clock resolution of the due time
        try:
            while heap and heap[0][0] <= limit:
                due, seq, job = heap[0]
                if job.dead:
                    heapq.heappop(heap)
                    continue
                nxt = due + job.interval
                if nxt <= now:  # the loop stalled for a whole interval: skip missed rounds
                    nxt += ((now - nxt) // job.interval + 1) * job.interval
                heapq.heapreplace(heap, (nxt, seq, job))
                self._due(job, due)
        except Exception:  # noqa: BLE001 - a bug here must not silently stop all probing
            log.exception("scheduler dispatch failed")
        finally:
            self._arm()

    def _due(self, job: _Job, due: float) -> None:
        cid = job.camera_id
        running = self._running
        budget = self._stream if job.stream else self._fast
        for check in job.checks:
            key = (cid, check)
            if key in running:
                self.skipped += 1
                self.metrics.skipped.inc()
                self.state.record_skip(cid)
                continue
            running.add(key)
            if budget.in_flight < budget.limit:
                self._start(budget, cid, check, due)
            else:
                budget.backlog.append((cid, check, due))

    def _start(self, budget: _Budget, cid: str, check: str, due: float) -> None:
        budget.in_flight += 1
        self.dispatched += 1
        lag = self._loop.time() - due  # type: ignore[union-attr]
        self._observe_lag(lag if lag > 0 else 0.0)
        task = self._loop.create_task(self._run(cid, check))  # type: ignore[union-attr]
        self._tasks.add(task)
        # the bookkeeping lives in a done callback, not in the coroutine's `finally`: a task
        # cancelled before its first step (stop, reload) never runs its body at all
        task.add_done_callback(lambda t: self._finished(t, budget, cid, check))

    def _finished(self, task: asyncio.Task, budget: _Budget, cid: str, check: str) -> None:
        self._tasks.discard(task)
        self._running.discard((cid, check))
        budget.in_flight -= 1
        if budget.backlog:
            self._drain(budget)

    def _drain(self, budget: _Budget) -> None:
        if not self._started:
            return
        backlog = budget.backlog
        while backlog and budget.in_flight < budget.limit:
            cid, check, due = backlog.popleft()
            if cid not in self._jobs:  # removed by a reload while it waited
                self._running.discard((cid, check))
                continue
            self._start(budget, cid, check, due)

    # ------------------------------------------------------------------ one check

    def _probe_fn(self, check: str) -> ProbeFn:
        fn = self._probe_cache.get(check)
        if fn is None:
            fn = self._probe_cache[check] = self._lookup(check)
        return fn

    async def _run(self, cid: str, check: str) -> None:
        try:
            cs = self.state.cameras.get(cid)
            if cs is None:
                return
            camera = cs.camera
            s = self.inventory.settings
            timeout = s.timeout
            endpoint: Endpoint | None
            if check.startswith("feed:"):
                integration = check[5:]
                endpoint = dict(camera.feeds).get(integration)
                kind = "feed"
            elif check == "tcp":
                endpoint = camera.rtsp or camera.http
                kind = "tcp"
            elif check == "stream":
                endpoint = camera.rtsp
                kind = "stream"
                timeout = s.stream.duration + s.timeout
            else:
                endpoint = getattr(camera, check)
                kind = check
            if endpoint is None:
                result = Result(Reason.BAD_RESPONSE, message=f"no endpoint for the {kind} check")
            else:
                try:
                    fn = self._probe_fn(kind)
                except Exception as exc:  # noqa: BLE001 - a missing probe module is a verdict
                    log.error("no probe for check %s: %s", kind, exc.__class__.__name__)
                    result = Result(Reason.BAD_RESPONSE, message=f"probe {kind} unavailable")
                else:
                    ctx = ProbeContext(deadline=0.0, stream_duration=s.stream.duration)
                    started = self._loop.time()  # type: ignore[union-attr]
                    result = await self.probe_once(fn, endpoint, ctx, timeout, s.retries)
                    if not result.ok and self._disturbed(cid, check, started, timeout):
                        return
                    self._dropped.pop((cid, check), None)
            if kind == "feed":
                self.state.record_feed(cid, check[5:], result)
            elif check == "http":
                snap = await self._snapshot(cs, result) if "snapshot" in cs.checks else None
                if "http" in cs.checks:
                    self.state.record_result(cid, "http", result)
                if snap is not None:
                    self.state.record_result(cid, "snapshot", snap)
            else:
                self.state.record_result(cid, check, result)
        except LocalResourceError as exc:
            self.guard.report(exc.kind)
        except Exception:  # noqa: BLE001 - one broken check must not stop the schedule
            log.exception("check %s of camera %s crashed", check, cid)

    #: A check is dropped for a loop stall at most this many rounds in a row: a monitor that
    #: stalls all the time must still see a camera that is really down.
    MAX_DROPPED = 3

    def _disturbed(self, cid: str, check: str, started: float, timeout: float) -> bool:
        """Whether a failed probe overlapped a stall of the event loop long enough to have
        cut its window or deadline (a tenth of its timeout); such a verdict is not the
        camera's and is dropped, up to MAX_DROPPED rounds in a row."""
        stalled = self.guard.stalled_during(started, self._loop.time())  # type: ignore[union-attr]
        if stalled < max(self.guard.STALL, timeout / 10):
            return False
        key = (cid, check)
        n = self._dropped.get(key, 0)
        if n >= self.MAX_DROPPED:
            return False
        self._dropped[key] = n + 1
        self.guard.report_stall()
        return True

    async def probe_once(
        self, fn: ProbeFn, endpoint: Endpoint, ctx: ProbeContext, timeout: float, retries: int
    ) -> Result:
        """One check: one deadline; transient failures re-tried inside it."""
        if retries <= 0:
            return await run_probe(fn, endpoint, ctx, timeout)

        async def attempt(ep: Endpoint, c: ProbeContext) -> Result:
            try:
                return await fn(ep, c)
            except Exception as exc:  # noqa: BLE001 - the probe contract
                if local_resource_kind(exc) is not None:
                    raise  # no verdict: run_probe turns it into LocalResourceError
                reason, message = classify_exception(exc)
                return Result(reason, message=message)

        async def with_retries(ep: Endpoint, c: ProbeContext) -> Result:
            first = await attempt(ep, c)
            if first.reason not in TRANSIENT_REASONS:
                return first  # the common path pays nothing for tenacity
            loop = asyncio.get_running_loop()
            gap = min(0.1, timeout / 50)
            reserve = timeout / 10  # a retry that cannot finish would only hide the verdict

            def out_of_budget(_state: Any) -> bool:
                return loop.time() + gap + reserve >= c.deadline

            retrying = AsyncRetrying(
                stop=stop_after_attempt(retries) | out_of_budget,
                wait=wait_fixed(gap),
                retry=retry_if_result(lambda r: r.reason in TRANSIENT_REASONS),
                retry_error_callback=lambda rs: rs.outcome.result(),
                reraise=True,
            )
            if out_of_budget(None):
                return first
            return await retrying(attempt, ep, c)

        return await run_probe(with_retries, endpoint, ctx, timeout)

    async def _snapshot(self, cs: Any, http: Result) -> Result | None:
        if not http.ok:
            return None  # no picture: the http check's own failure already says why
        if self._analyse is None:
            try:
                from .probes.snapshot import SnapshotHistory, analyse
            except ImportError:
                if not self._snapshot_warned:
                    log.error("snapshot analysis unavailable (monitor.probes.snapshot missing)")
                    self._snapshot_warned = True
                return Result(Reason.BAD_RESPONSE, message="snapshot analysis unavailable")
            self._analyse = analyse
            self._history_factory = self._history_factory or SnapshotHistory
        if cs.snapshot_history is None and self._history_factory is not None:
            cs.snapshot_history = self._history_factory()
        start = time.perf_counter()
        body = http.body or b""
        settings = self.inventory.settings.snapshot
        try:
            if len(body) < self.SNAPSHOT_INLINE_BYTES:
                result = self._analyse(body, cs.snapshot_history, settings)
            else:
                # measured: analyse() takes ~2 ms on a 220 KB 704x576 JPEG and ~12 ms on a
                # 1.1 MB 1080p one, time the probe schedule must not stall for; Pillow
                # decodes with the GIL released, so a worker thread really runs beside
                # the loop.  One http check per camera at a time: the history is never
                # shared between two threads.
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    None, self._analyse, body, cs.snapshot_history, settings)
        except Exception as exc:  # noqa: BLE001 - an undecodable picture is a verdict
            reason, message = classify_exception(exc)
            result = Result(reason, message=message)
        result.duration = time.perf_counter() - start
        return result

    # ------------------------------------------------------------------ links

    def _sync_links(self) -> None:
        wanted: dict[tuple[str, str], Link] = {}
        for centre in self.inventory.command_centres:
            for link in centre.links:
                wanted[(centre.name, link.name)] = link
        for key, (link, task) in list(self._link_tasks.items()):
            if wanted.get(key) != link:
                task.cancel()
                del self._link_tasks[key]
        loop = self._loop
        assert loop is not None
        for key, link in wanted.items():
            if key not in self._link_tasks:
                task = loop.create_task(self._link_loop(key[0], link))
                self._link_tasks[key] = (link, task)

    async def _link_loop(self, centre: str, link: Link) -> None:
        loop = asyncio.get_running_loop()
        first = True
        while True:
            ls = self.inventory.settings.links
            interval = max(0.1, ls.interval)
            if first:
                # links are few and critical: probe at once, then on a stable phase
                first = False
                next_due = loop.time()
            else:
                offset = (phase(f"{centre}\x00{link.name}") * interval - time.time()) % interval
                next_due = loop.time() + (offset or interval)
                await asyncio.sleep(next_due - loop.time())
            budget = max(interval, ls.timeout * ls.probes * max(1, len(link.targets))) + ls.timeout
            try:
                async with asyncio.timeout(budget):
                    result = await self._link_probe(link, ls)
            except LocalResourceError as exc:
                self.guard.report(exc.kind)  # no verdict on the link: try next round
                continue
            except Exception as exc:  # noqa: BLE001 - a link probe never stops the loop
                reason, message = classify_exception(exc)
                result = LinkResult("down", reason, message=message)
            self.state.record_link(centre, link.name, result)
