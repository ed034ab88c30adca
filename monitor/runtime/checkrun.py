"""One check of one camera, from its due time to the verdict in State.

The Scheduler decides when; what a camera's rounds hold is read from the catalogue here
(`camera_rounds`), and `CheckRunner.run` does the rest:

- the catalogue says which prober, endpoint, timeout and judges (post-steps) a scheduler key
  has ("feed:<integration>" included), looked up once per key;
- one hard deadline per check (``run_probe``; the catalogue's timeout rule), with tenacity
  re-tries of ``TRANSIENT_REASONS`` *inside* that deadline (`probe_once`); answers (auth,
  404, content) are never re-tried;
- a check that judges another check's answer (the snapshot check on the http check's
  picture) runs as that check's post-step right after the probe, with the memory State
  keeps for it; the probe runs when either check is configured, and each result is
  recorded only for a configured check;
- the monitor's own trouble ends a probe without a verdict: running out of descriptors is
  reported to the ResourceGuard, and a failure that overlapped a stall of the event loop is
  dropped (`disturbed`), up to MAX_DROPPED rounds in a row; the camera keeps its state.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Mapping

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_fixed

from .. import checks as catalogue
from ..checks import CHECKS, FEED, PostStep
from ..model import TRANSIENT_REASONS, Camera, Endpoint, ProbeContext, Reason, Result
from ..probes.base import ProbeFn, classify_exception, run_probe
from ..resources import LocalResourceError, ResourceGuard, local_resource_kind
from ..state import State

log = logging.getLogger("cctv.scheduler")

ProbeLookup = Callable[[str], ProbeFn]


def default_lookup(check: str) -> ProbeFn:
    """The catalogue's prober of a check ("feed" included), imported on first use."""
    probe = catalogue.check_for(check).probe
    if probe is None:
        raise KeyError(f"check {check!r} has no prober of its own")
    return probe.resolve() if hasattr(probe, "resolve") else probe


def stream_coverage(state: State, starts: Mapping[str, float], now: float | None) -> float:
    """Share of the stream cameras whose stream check started within the last stream
    interval (`starts`: camera -> loop time of its last start; read at scrape time: one
    pass over the cameras)."""
    s = state.inventory.settings.stream
    cameras = [c.id for c in state.inventory.cameras if "stream" in c.checks]
    if s.interval <= 0 or not cameras or now is None:
        return 0.0
    since = now - s.interval
    return sum(1 for cid in cameras if starts.get(cid, -1e18) >= since) / len(cameras)


def camera_rounds(camera: Camera, s: Any,
              reject: Callable[[str, str, str], None]) -> dict[str, tuple[str, ...]]:
    """budget name -> the scheduler keys of one camera on it, from the catalogue: each
    configured check's prober (the http probe for the snapshot check), then the feeds.  A
    check it cannot run goes to `reject(check, camera id, why)`."""
    rounds: dict[str, list[str]] = {}
    for name in camera.checks:
        check = CHECKS.get(name)
        if check is None:
            reject(name, camera.id, "not in the check catalogue")
            continue
        if not catalogue.enabled(name, s):
            continue  # its round is switched off (stream.interval: 0)
        probed = catalogue.source(check)
        if probed.endpoint(camera) is None:
            reject(name, camera.id, f"needs {' or '.join(probed.fields)}:")
            continue
        keys = rounds.setdefault(probed.budget, [])
        if probed.name not in keys:
            keys.append(probed.name)
    if camera.feeds:
        keys = rounds.setdefault(FEED.budget, [])
        keys.extend(catalogue.feed_key(integration) for integration, _ in camera.feeds)
    order = {n: i for i, n in enumerate(CHECKS)}
    return {b: tuple(sorted(k, key=lambda n: order.get(n, len(order))))
            for b, k in rounds.items() if k}


class CheckRunner:
    """See the module docstring.  `lookup` (check name -> probe function) and `post_steps`
    (check name -> post-step) are injectable so that tests can run without real cameras;
    `clock` is the event loop's (what the guard's stall samples are in)."""

    def __init__(self, state: State, guard: ResourceGuard, clock: Callable[[], float],
                 lookup: ProbeLookup | None = None,
                 post_steps: Mapping[str, PostStep] | None = None) -> None:
        self.state = state
        self.guard = guard
        self.lookup = lookup or default_lookup
        self._clock = clock
        self._dropped: dict[tuple[str, str], int] = {}
        self._probe_cache: dict[str, ProbeFn] = {}
        self._post = {c.name: c.post for c in CHECKS.values() if c.post is not None}
        self._post.update(post_steps or {})
        self._plans: dict[str, tuple[Any, tuple]] = {}

    def probe_fn(self, check: str) -> ProbeFn:
        fn = self._probe_cache.get(check)
        if fn is None:
            fn = self._probe_cache[check] = self.lookup(check)
        return fn

    async def run(self, cid: str, key: str) -> None:
        """Probe one check of one camera and record the verdict in State."""
        try:
            cs = self.state.cameras.get(cid)
            if cs is None:
                return
            camera = cs.camera
            s = self.state.inventory.settings
            plan = self._plans.get(key)
            if plan is None:  # once per key: the hot path does no catalogue look-ups
                plan = self._plans[key] = (catalogue.check_for(key), catalogue.JUDGES.get(key, ()))
            check, judges = plan
            if check is FEED:
                endpoint = dict(camera.feeds).get(catalogue.feed_integration(key))
            else:
                endpoint = check.endpoint(camera)
            if endpoint is None:
                result = Result(Reason.BAD_RESPONSE, message=f"no endpoint for the {check.name} check")
            else:
                try:
                    fn = self.probe_fn(check.name)
                except Exception as exc:  # noqa: BLE001 - a missing probe module is a verdict
                    log.error("no probe for check %s: %s", check.name, exc.__class__.__name__)
                    result = Result(Reason.BAD_RESPONSE, message=f"probe {check.name} unavailable")
                else:
                    timeout = check.timeout(s)
                    started = self._clock()
                    result = await self.probe_once(fn, endpoint, timeout, s.retries,
                                                   stream_duration=s.stream.duration)
                    if not result.ok and self.disturbed(cid, key, started):
                        return
                    self._dropped.pop((cid, key), None)
            if check is FEED:
                self.state.record_feed(cid, catalogue.feed_integration(key), result)
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

    def disturbed(self, cid: str, check: str, started: float) -> bool:
        """Whether a failed probe overlapped a stall of the event loop (ResourceGuard.STALL)
        that may have cut its media window or eaten its deadline; such a verdict is not the
        camera's and is dropped, up to MAX_DROPPED rounds in a row."""
        stalled = self.guard.stalled_during(started, self._clock())
        if stalled < self.guard.STALL:
            return False
        key = (cid, check)
        n = self._dropped.get(key, 0)
        if n >= self.MAX_DROPPED:
            return False
        self._dropped[key] = n + 1
        self.guard.report_stall()
        return True

    @staticmethod
    async def probe_once(fn: ProbeFn, endpoint: Endpoint, timeout: float, retries: int,
                         **options: Any) -> Result:
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
