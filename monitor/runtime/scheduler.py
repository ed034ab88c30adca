"""When each check runs: the due-time heap, the concurrency budgets, deadlines and retries.

Measured (no-op probes, so the figure is the scheduling path itself: dispatch, probe task,
run_probe's deadline, lag histogram, State.record_result and the exporter's line
formatting): 100,000 cameras at a 30 s interval = 3,345 checks/s for ~17 % of one core,
~50 us per check; the same load as one sleeping task per camera (with a Semaphore, inline
probe) cost 55-75 us per check and ~40 % more memory, and makes a reload cancel and
recreate tasks.  So:

- One heap of ``(due, seq, job)`` driven by one ``loop.call_at`` timer: no task per camera,
  no sleeping coroutine per camera.  A job is one camera's round on one budget of the check
  catalogue (`monitor.checks.BUDGETS`): the fast round (camera checks and feeds, on the
  camera interval) or the stream round (on ``stream.interval``).  What runs, on which
  budget, with which prober, timeout and post-step is read from the catalogue: there is no
  list of checks here.  Due jobs are popped, re-armed at ``due + interval`` (fixed rate, no
  drift), and each of their checks becomes a short-lived probe task.
- Phases are stable per id: blake2b(id) -> a fraction of the interval, aligned to the wall
  clock, so restarts and reloads do not bunch cameras at the same second.
- One counter plus a FIFO backlog per budget (a semaphore without parked tasks):
  ``monitor.concurrency`` for camera and feed checks, ``stream.concurrency`` for stream
  checks, so a few long stream checks never starve the fast ones.  Links run on their own
  tasks (`monitor.runtime.links`) and are never queued behind cameras.
- Never two probes of one camera's check at once: a check still running (or still waiting
  for a slot) when it is due again is skipped and counted.
- Start lag (actual start - due) goes to ``cctv_monitor_probe_lag_seconds``; from its
  start on, a check is `monitor.runtime.checkrun`'s (deadline, retries, post-steps, verdict).
- A check the catalogue cannot run (an unknown name in a hand-built inventory) is never
  silently ignored: it is logged once as not scheduled.
- A reload is State's (`State.apply`, from the daemon): the scheduler is then told to
  `reschedule` the cameras it added, removed or changed.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from typing import Any, Mapping

from ..checks import BUDGETS, LINK, PostStep
from ..metrics.selfmetrics import SelfMetrics
from ..model import Camera, MonitorSettings
from ..resources import ResourceGuard
from ..state import State
from ..timebase import SYSTEM, Clock
from .checkrun import CheckRunner, ProbeLookup, camera_rounds, stream_coverage
from .links import LinkLoops, LinkProbe, phase

log = logging.getLogger("cctv.scheduler")

__all__ = ["Scheduler", "phase"]


async def _default_link_probe(link, settings):
    return await LINK.probe(link, settings)  # the prober is imported on first use


class _Job:
    """One camera's round of checks on one interval.  `dead` retires it lazily from the heap."""

    __slots__ = ("camera_id", "checks", "interval", "budget", "dead")

    def __init__(self, camera_id: str, checks: tuple[str, ...], interval: float,
                 budget: "_Budget"):
        self.camera_id = camera_id
        self.checks = checks  # scheduler keys: probed check names and "feed:<integration>"
        self.interval = interval
        self.budget = budget
        self.dead = False


class _Budget:
    """A semaphore as a counter and a FIFO backlog: no task exists until a slot is free."""

    __slots__ = ("limit", "in_flight", "backlog")

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.in_flight = 0
        self.backlog: deque[tuple[str, str, float]] = deque()


class Scheduler:
    """See the module docstring.

    `probe_lookup` (check name -> probe function), `link_probe` and `post_steps` (check
    name -> post-step) are injectable so that tests can run without real cameras, and
    `clock` (monitor.timebase) so that they can drive its time: due times and timers are
    on the running loop's clock, phases on the clock's wall time.
    """

    TICK = 0.002  # dispatcher wakeup granularity (seconds)
    MAX_BATCH = 256  # jobs dispatched per wakeup at most

    def __init__(
        self,
        state: State,
        *,
        metrics: SelfMetrics | None = None,
        probe_lookup: ProbeLookup | None = None,
        link_probe: LinkProbe | None = None,
        post_steps: Mapping[str, PostStep] | None = None,
        tick: float | None = None,
        guard: ResourceGuard | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        if tick is not None:
            self.TICK = tick
        self.clock = clock
        self.state = state
        self.metrics = metrics or SelfMetrics()
        # the monitor's own trouble (descriptors, a stalled loop) ends a probe without a
        # verdict: the check is dropped and runs again next round, the camera keeps its state
        self.guard = guard or ResourceGuard(registry=None, clock=clock)
        self.runner = CheckRunner(state, self.guard, lambda: self._loop.time(),  # type: ignore[union-attr]
                                  probe_lookup, post_steps)
        self._links = LinkLoops(state, link_probe or _default_link_probe, self.guard, clock)
        self._rejected: set[str] = set()
        s = state.inventory.settings
        self._budgets = {name: _Budget(b.limit(s)) for name, b in BUDGETS.items()}
        self._heap: list[tuple[float, int, _Job]] = []
        self._seq = 0
        self._jobs: dict[str, list[_Job]] = {}
        self._running: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task] = set()
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
            lambda: self.in_flight,
            lambda: sum(len(b.backlog) for b in self._budgets.values()),
        )
        self._stream_starts: dict[str, float] = {}  # camera -> loop time its stream check started
        self.metrics.stream_coverage.set_function(lambda: stream_coverage(
            self.state, self._stream_starts, self._loop.time() if self._loop else None))

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started = True
        self.guard.start(self._loop)
        inventory = self.state.inventory
        self._schedule_cameras(list(inventory.cameras))
        self._links.sync(inventory)
        s = inventory.settings
        longest = max([c.interval or s.interval for c in inventory.cameras] or [s.interval])
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
        for budget in self._budgets.values():
            budget.backlog.clear()
        await self._links.stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # the done callbacks (bookkeeping) run one step later
        self._heap.clear()
        self._running.clear()

    @property
    def in_flight(self) -> int:
        return sum(b.in_flight for b in self._budgets.values())

    # ------------------------------------------------------------------ reload

    #: cameras scheduled per loop step by reschedule
    SLICE = 500

    async def reschedule(self, old: MonitorSettings, added: list[str], removed: list[str],
                         changed: list[str]) -> None:
        """State.apply took a reloaded inventory (built with `old` settings): unchanged
        cameras keep their schedule, removed and changed ones retire (their in-flight
        probes finish and State drops the results), new and changed ones are scheduled in
        slices of SLICE with a yield between them, so that no step holds the loop for long
        (measured: tests/bench/bench_reload.py); all of them when a round's interval moved."""
        inventory = self.state.inventory
        s = inventory.settings
        for name, b in BUDGETS.items():
            self._budgets[name].limit = max(1, b.limit(s))
        if any(b.default_interval(s) != b.default_interval(old) for b in BUDGETS.values()):
            retire, cameras = list(self._jobs), list(inventory.cameras)
        else:
            retire = removed + changed
            cameras = [self.state.cameras[cid].camera for cid in (*added, *changed)]
        for cid in retire:
            for job in self._jobs.pop(cid, ()):
                job.dead = True
        for i in range(0, len(cameras), self.SLICE):
            if self._started and self.state.inventory is inventory:
                self._schedule_cameras(cameras[i:i + self.SLICE])
            await asyncio.sleep(0)
        if self._started:
            self._after_schedule(inventory)

    def _after_schedule(self, inventory: Any) -> None:
        self._links.sync(inventory)
        for budget in self._budgets.values():
            self._drain(budget)
        self._arm()
        if len(self._heap) > 4 * max(16, len(self._jobs) * 2):
            # many reloads leave many dead entries: compact once they dominate
            self._heap = [e for e in self._heap if not e[2].dead]
            heapq.heapify(self._heap)

    # ------------------------------------------------------------------ the heap

    def _schedule_cameras(self, cameras: list[Camera]) -> None:
        loop = self._loop
        assert loop is not None
        s = self.state.inventory.settings
        now_loop, now_wall = loop.time(), self.clock.wall()
        heap = self._heap
        fresh = len(heap) == 0
        for camera in cameras:
            jobs = []
            for bname, keys in camera_rounds(camera, s, self._reject).items():
                b = BUDGETS[bname]
                interval = b.interval(s, camera)
                jobs.append((_Job(camera.id, keys, interval, self._budgets[bname]),
                             phase(camera.id + b.phase)))
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

    def _reject(self, check: str, camera_id: str, why: str) -> None:
        if check not in self._rejected:  # once per check name, not once per camera
            self._rejected.add(check)
            log.error("check %s of camera %s not scheduled: %s", check, camera_id, why)

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
        # at most MAX_BATCH jobs per wakeup: after a stall (a reload, a scrape) the catch-up
        # is spread over a few loop iterations instead of one long one
        budget = self.MAX_BATCH
        try:
            while heap and heap[0][0] <= limit and budget > 0:
                due, seq, job = heap[0]
                if job.dead:
                    heapq.heappop(heap)
                    continue
                nxt = due + job.interval
                if nxt <= now:  # the loop stalled for a whole interval: skip missed rounds
                    nxt += ((now - nxt) // job.interval + 1) * job.interval
                heapq.heapreplace(heap, (nxt, seq, job))
                self._due(job, due)
                budget -= 1
        except Exception:  # noqa: BLE001 - a bug here must not silently stop all probing
            log.exception("scheduler dispatch failed")
        finally:
            self._arm()

    def _due(self, job: _Job, due: float) -> None:
        cid = job.camera_id
        running = self._running
        budget = job.budget
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
        now = self._loop.time()  # type: ignore[union-attr]
        lag = now - due
        self._observe_lag(lag if lag > 0 else 0.0)
        if check == "stream":
            self._stream_starts[cid] = now
            self.metrics.stream_lateness.set(lag if lag > 0 else 0.0)
        task = self._loop.create_task(self.runner.run(cid, check))  # type: ignore[union-attr]
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
