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
  tasks (`monitor.links`) and are never queued behind cameras.
- One hard deadline per check (``run_probe``; the catalogue's timeout rule), with
  tenacity re-tries of ``TRANSIENT_REASONS`` *inside* that deadline; answers (auth, 404,
  content) are never re-tried.
- Never two probes of one camera's check at once: a check still running (or still waiting
  for a slot) when it is due again is skipped and counted.
- Start lag (actual start - due) goes to ``cctv_monitor_probe_lag_seconds``.
- A check that judges another check's answer (the snapshot check on the http check's
  picture) runs as that check's post-step right after the probe, with the memory State
  keeps for it; then the body is dropped (State.record_result clears it).  The probe runs
  when either check is configured; each result is recorded only for a configured check.
- A check the catalogue cannot run (an unknown name in a hand-built inventory) is never
  silently ignored: it is logged once as not scheduled.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from typing import Any, Callable, Mapping

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_fixed

from . import checks as catalogue
from .checks import BUDGETS, CHECKS, FEED, PostStep
from .links import LinkLoops, LinkProbe, phase
from .model import TRANSIENT_REASONS, Camera, Endpoint, Inventory, ProbeContext, Reason, Result
from .probes.base import ProbeFn, classify_exception, run_probe
from .resources import LocalResourceError, ResourceGuard, local_resource_kind
from .selfmetrics import SelfMetrics
from .state import State

log = logging.getLogger("cctv.scheduler")

ProbeLookup = Callable[[str], ProbeFn]

__all__ = ["Scheduler", "phase"]


def _default_lookup(check: str) -> ProbeFn:
    """The catalogue's prober of a check ("feed" included), imported on first use."""
    probe = catalogue.check_for(check).probe
    if probe is None:
        raise KeyError(f"check {check!r} has no prober of its own")
    return probe.resolve() if hasattr(probe, "resolve") else probe


async def _default_link_probe(link, settings):
    from .probes import LINK

    return await LINK(link, settings)


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
    name -> post-step) are injectable so that tests can run without real cameras.
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
    ) -> None:
        if tick is not None:
            self.TICK = tick
        self.state = state
        self.inventory = state.inventory
        self.metrics = metrics or SelfMetrics()
        self._lookup = probe_lookup or _default_lookup
        # the monitor's own trouble (descriptors, a stalled loop) ends a probe without a
        # verdict: the check is dropped and runs again next round, the camera keeps its state
        self.guard = guard or ResourceGuard(registry=None)
        self._dropped: dict[tuple[str, str], int] = {}
        self._links = LinkLoops(state, link_probe or _default_link_probe, self.guard)
        self._probe_cache: dict[str, ProbeFn] = {}
        self._post = {c.name: c.post for c in CHECKS.values() if c.post is not None}
        self._post.update(post_steps or {})
        self._rejected: set[str] = set()
        self._plans: dict[str, tuple[Any, tuple]] = {}
        s = self.inventory.settings
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
        self.metrics.stream_coverage.set_function(self.stream_coverage)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started = True
        self.guard.start(self._loop)
        self._schedule_cameras(list(self.inventory.cameras))
        self._links.sync(self.inventory)
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

    def apply(self, inventory: Inventory) -> tuple[list[str], list[str], list[str]]:
        """Hand the scheduler a reloaded inventory: unchanged cameras keep their schedule and
        state, new ones are added, removed ones retire (their in-flight probes finish and
        their results are dropped by State)."""
        added, removed, changed, reschedule = self._swap(inventory, None, True)
        if self._started:
            self._schedule_cameras(reschedule)
            self._after_schedule(inventory)
        return added, removed, changed

    #: cameras scheduled (or told to the listeners) per loop step by apply_async
    SLICE = 500

    async def apply_async(self, inventory: Inventory,
                          plan: Any = None) -> tuple[list[str], list[str], list[str]]:
        """apply() for a large fleet: `plan` (State.plan, built in a worker thread) is swapped
        in in one short step, then the new and changed cameras are scheduled and the
        listeners (exporter) told in slices of SLICE cameras with a yield between them, so
        that no step holds the loop for long (measured: tests/bench/bench_reload.py)."""
        added, removed, changed, reschedule = self._swap(inventory, plan, False)
        for i in range(0, len(reschedule), self.SLICE):
            if self._started and self.inventory is inventory:
                self._schedule_cameras(reschedule[i:i + self.SLICE])
            await asyncio.sleep(0)
        if self._started:
            self._after_schedule(inventory)
        longest = max(len(added), len(removed), len(changed))
        for i in range(0, longest, self.SLICE):
            part = slice(i, i + self.SLICE)
            self.state.notify_inventory_changed(added[part], removed[part], changed[part])
            await asyncio.sleep(0)
        return added, removed, changed

    def _swap(self, inventory: Inventory, plan: Any,
              notify: bool) -> tuple[list[str], list[str], list[str], list[Camera]]:
        old = self.inventory
        added, removed, changed = self.state.apply(inventory, plan=plan, notify=notify)
        self.inventory = inventory
        s, os_ = inventory.settings, old.settings
        for name, b in BUDGETS.items():
            self._budgets[name].limit = max(1, b.limit(s))
        timing_changed = any(b.default_interval(s) != b.default_interval(os_)
                             for b in BUDGETS.values())
        if timing_changed:
            retire = list(self._jobs)
            reschedule = list(inventory.cameras)
        else:
            retire = removed + changed
            cameras = self.state.cameras
            reschedule = [cameras[cid].camera for cid in (*added, *changed)]
        for cid in retire:
            for job in self._jobs.pop(cid, ()):
                job.dead = True
        return added, removed, changed, reschedule

    def _after_schedule(self, inventory: Inventory) -> None:
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
        s = self.inventory.settings
        now_loop, now_wall = loop.time(), time.time()
        heap = self._heap
        fresh = len(heap) == 0
        for camera in cameras:
            jobs = []
            for bname, keys in self._rounds(camera, s).items():
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

    def _rounds(self, camera: Camera, s: Any) -> dict[str, tuple[str, ...]]:
        """budget name -> the scheduler keys of one camera on it, from the catalogue: each
        configured check's prober (the http probe for the snapshot check), then the feeds."""
        rounds: dict[str, list[str]] = {}
        for name in camera.checks:
            check = CHECKS.get(name)
            if check is None:
                self._reject(name, camera.id, "not in the check catalogue")
                continue
            if not catalogue.enabled(name, s):
                continue  # its round is switched off (stream.interval: 0)
            probed = catalogue.source(check)
            if probed.endpoint(camera) is None:
                self._reject(name, camera.id, f"needs {' or '.join(probed.fields)}:")
                continue
            keys = rounds.setdefault(probed.budget, [])
            if probed.name not in keys:
                keys.append(probed.name)
        if camera.feeds:
            keys = rounds.setdefault(FEED.budget, [])
            keys.extend(f"feed:{integration}" for integration, _ in camera.feeds)
        order = {n: i for i, n in enumerate(CHECKS)}
        return {b: tuple(sorted(k, key=lambda n: order.get(n, len(order))))
                for b, k in rounds.items() if k}

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

    def stream_coverage(self) -> float:
        """Share of the stream cameras whose stream check started within the last stream
        interval (read at scrape time: one pass over the cameras)."""
        s = self.state.inventory.settings.stream
        cameras = [c.id for c in self.state.inventory.cameras if "stream" in c.checks]
        if s.interval <= 0 or not cameras or self._loop is None:
            return 0.0
        since = self._loop.time() - s.interval
        starts = self._stream_starts
        return sum(1 for cid in cameras if starts.get(cid, -1e18) >= since) / len(cameras)

    def _probe_fn(self, check: str) -> ProbeFn:
        fn = self._probe_cache.get(check)
        if fn is None:
            fn = self._probe_cache[check] = self._lookup(check)
        return fn

    async def _run(self, cid: str, key: str) -> None:
        try:
            cs = self.state.cameras.get(cid)
            if cs is None:
                return
            camera = cs.camera
            s = self.inventory.settings
            plan = self._plans.get(key)
            if plan is None:  # once per key: the hot path does no catalogue look-ups
                plan = self._plans[key] = (catalogue.check_for(key), catalogue.JUDGES.get(key, ()))
            check, judges = plan
            if check is FEED:
                endpoint = dict(camera.feeds).get(key[5:])
            else:
                endpoint = check.endpoint(camera)
            if endpoint is None:
                result = Result(Reason.BAD_RESPONSE, message=f"no endpoint for the {check.name} check")
            else:
                try:
                    fn = self._probe_fn(check.name)
                except Exception as exc:  # noqa: BLE001 - a missing probe module is a verdict
                    log.error("no probe for check %s: %s", check.name, exc.__class__.__name__)
                    result = Result(Reason.BAD_RESPONSE, message=f"probe {check.name} unavailable")
                else:
                    timeout = check.timeout(s)
                    started = self._loop.time()  # type: ignore[union-attr]
                    result = await self.probe_once(fn, endpoint, timeout, s.retries,
                                                   stream_duration=s.stream.duration)
                    if not result.ok and self._disturbed(cid, key, started, timeout):
                        return
                    self._dropped.pop((cid, key), None)
            if check is FEED:
                self.state.record_feed(cid, key[5:], result)
                return
            judged = [(c, await catalogue.judge(c, result, self.state.memory(cid, c.name), s,
                                                self._post.get(c.name)))
                      for c in judges if c.name in cs.checks] if judges else ()
            self.state.record_result(cid, key, result)  # a check not configured is dropped
            for c, verdict in judged:
                if verdict is not None:
                    self.state.record_result(cid, c.name, verdict)
        except LocalResourceError as exc:
            self.guard.report(exc.kind)
        except Exception:  # noqa: BLE001 - one broken check must not stop the schedule
            log.exception("check %s of camera %s crashed", key, cid)

    #: A check is dropped for a loop stall at most this many rounds in a row: a monitor that
    #: stalls all the time must still see a camera that is really down.
    MAX_DROPPED = 3

    def _disturbed(self, cid: str, check: str, started: float, timeout: float) -> bool:
        """Whether a failed probe overlapped a stall of the event loop (ResourceGuard.STALL)
        that may have cut its media window or eaten its deadline; such a verdict is not the
        camera's and is dropped, up to MAX_DROPPED rounds in a row."""
        stalled = self.guard.stalled_during(started, self._loop.time())  # type: ignore[union-attr]
        if stalled < self.guard.STALL:
            return False
        key = (cid, check)
        n = self._dropped.get(key, 0)
        if n >= self.MAX_DROPPED:
            return False
        self._dropped[key] = n + 1
        self.guard.report_stall()
        return True

    async def probe_once(
        self, fn: ProbeFn, endpoint: Endpoint, timeout: float, retries: int, **options: Any
    ) -> Result:
        """One check: one deadline; transient failures re-tried inside it.  `options` are
        the ProbeContext fields besides the deadline (run_probe makes the context)."""
        if retries <= 0:
            return await run_probe(fn, endpoint, timeout, **options)

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

        return await run_probe(with_retries, endpoint, timeout, **options)
