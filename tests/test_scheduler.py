"""Scheduler: on time despite tarpits, retries inside the deadline, no duplicate probes,
stable evenly spread phases, separate stream budget, links on their own, reload.

The tests with fake probes run on a loop whose time they drive (tests/vclock.py): rounds,
deadlines and retries happen at their exact times without sleeping, so they assert exact
times and counts, whatever the load on the machine.  The tests with real sockets or worker
threads run on the ordinary loop and assert no duration."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time

import pytest

from monitor.metrics.selfmetrics import SelfMetrics
from monitor.model import (
    Endpoint,
    LinkResult,
    LinkSettings,
    MonitorSettings,
    ProbeContext,
    Reason,
    Result,
    StreamSettings,
)
from monitor.probes import ProbeError
from monitor.probes.snapshot import analysis_step
from monitor.runtime.scheduler import Scheduler, phase
from monitor.state import State
from tests.factories import make_camera, make_inventory
from tests.vclock import EPOCH, virtual_time


async def _up_link(link, settings):
    return LinkResult("up", Reason.OK, 1, 1, 0.0, 0.001, 0.001, 0.001, 0.0)


def settings(**kw) -> MonitorSettings:
    base = dict(interval=1.0, timeout=0.5, concurrency=50, retries=1,
                stream=StreamSettings(interval=0))
    base.update(kw)
    return MonitorSettings(**base)


def lag_fraction(metrics: SelfMetrics, le: str) -> float:
    reg = metrics.registry
    count = reg.get_sample_value("cctv_monitor_probe_lag_seconds_count")
    within = reg.get_sample_value("cctv_monitor_probe_lag_seconds_bucket", {"le": le})
    assert count, "no probe started"
    return within / count


def _due_count(camera_id: str, interval: float, start: float, end: float) -> int:
    """How many times a camera's check is due in [start, end) of a virtual loop's time: its
    phase of the interval, aligned to the wall clock (monitor.runtime.scheduler)."""
    first = start + (phase(camera_id) * interval - (EPOCH + start)) % interval
    return sum(1 for k in range(1000) if first + k * interval < end)


@virtual_time
async def test_tarpits_do_not_delay_healthy_cameras():
    """100 cameras, 20 of them behind a tarpit (a probe that never gets an answer): each
    healthy camera is probed at every due time, on time; each tarpit ends at its deadline."""
    loop = asyncio.get_running_loop()
    cut: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)

    async def options_probe(ep: Endpoint, ctx: ProbeContext) -> Result:
        if ep.port == 9:  # the tarpit: accepted, never answered
            start = loop.time()
            try:
                await asyncio.Event().wait()
            finally:
                cut[ep.url].append((start, loop.time()))
        return Result(Reason.OK)

    cams = [
        make_camera(i, checks=("rtsp",), feeds=False,
                    rtsp=Endpoint(f"rtsp://127.0.0.{i + 1}:{9 if i % 5 == 0 else 554}/x"))
        for i in range(100)
    ]
    st = State(make_inventory(cameras=cams, settings=settings(concurrency=40)))
    metrics = SelfMetrics()
    sc = Scheduler(st, metrics=metrics, probe_lookup=lambda c: options_probe,
                   link_probe=_up_link, clock=loop.clock)
    await sc.start()
    t0 = loop.time()
    await asyncio.sleep(3.6)
    await sc.stop()

    for i, cam in enumerate(cams):
        cs = st.cameras[cam.id]
        due = _due_count(cam.id, 1.0, t0, t0 + 3.6)
        if i % 5 == 0:
            assert cs.results["rtsp"].reason is Reason.TIMEOUT, (cam.id, cs.results["rtsp"])
            assert cs.up is False
            # probed at every due time, each probe cut at the one deadline (the timeout,
            # 0.5 s; the retry inside it never starts), but the last one if the stop came first
            tries = cut[cam.rtsp.url]
            assert len(tries) == due, (cam.id, tries, due)
            assert all(b - a == pytest.approx(0.5, abs=1e-9) or b == t0 + 3.6
                       for a, b in tries), (cam.id, tries)
        else:
            assert cs.results["rtsp"].ok, (cam.id, cs.results["rtsp"])
            assert cs.probes["rtsp"] == due, (cam.id, cs.probes, due)
    # every check started within the dispatcher's tick (2 ms) of its due time
    assert lag_fraction(metrics, "0.0025") == 1.0
    assert sc.in_flight == 0


class Scripted:
    """A fake probe answering a script of reasons (or raising exceptions), counting calls."""

    def __init__(self, *steps, delay: float = 0.0):
        self.steps = list(steps)
        self.calls = 0
        self.delay = delay

    async def __call__(self, ep: Endpoint, ctx: ProbeContext) -> Result:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(step, BaseException):
            raise step
        return Result(step, message=step.value)


@virtual_time
async def test_retries_only_transient_reasons_inside_one_deadline():
    loop = asyncio.get_running_loop()
    st = State(make_inventory(1))
    sc = Scheduler(st, probe_lookup=lambda c: None, link_probe=_up_link, clock=loop.clock)
    ep = Endpoint("rtsp://127.0.0.1:9/")

    async def run(fake, retries=1, timeout=2.0):
        t0 = loop.time()
        r = await sc.runner.probe_once(fake, ep, timeout, retries)
        return r, loop.time() - t0

    f = Scripted(Reason.REFUSED, Reason.OK)
    r, _ = await run(f)
    assert r.reason is Reason.OK and f.calls == 2

    for answer in (Reason.AUTH_FAILED, Reason.AUTH_REQUIRED, Reason.NOT_FOUND, Reason.WRONG_CONTENT,
                   Reason.FORBIDDEN, Reason.SERVER_ERROR):
        f = Scripted(answer, Reason.OK)
        r, _ = await run(f, retries=3)
        assert r.reason is answer and f.calls == 1, answer

    f = Scripted(ConnectionRefusedError())
    r, _ = await run(f, retries=3)
    assert r.reason is Reason.REFUSED and f.calls == 4

    f = Scripted(Reason.BAD_RESPONSE, Reason.BAD_RESPONSE, Reason.TIMEOUT, Reason.OK)
    r, _ = await run(f, retries=2)
    assert r.reason is Reason.TIMEOUT and f.calls == 3

    f = Scripted(Reason.REFUSED)
    r, _ = await run(f, retries=0)
    assert r.reason is Reason.REFUSED and f.calls == 1

    # slow transient failures: retries stop at the one deadline.  0.2 s per attempt, 0.01 s
    # between them (timeout / 50): attempts at 0, 0.21 and 0.42, the third cut at 0.5 s
    f = Scripted(Reason.TIMEOUT, delay=0.2)
    r, took = await run(f, retries=10, timeout=0.5)
    assert r.reason is Reason.TIMEOUT
    assert took == pytest.approx(0.5, abs=1e-9)
    assert f.calls == 3


@virtual_time
async def test_never_two_probes_of_one_check_at_once():
    running: collections.Counter = collections.Counter()
    peak: collections.Counter = collections.Counter()

    async def slow(ep: Endpoint, ctx: ProbeContext) -> Result:
        running[ep.url] += 1
        peak[ep.url] = max(peak[ep.url], running[ep.url])
        try:
            await asyncio.sleep(0.5)  # 2.5 intervals
        finally:
            running[ep.url] -= 1
        return Result(Reason.OK)

    cams = [make_camera(i, checks=("rtsp", "http"), feeds=False) for i in range(5)]
    st = State(make_inventory(cameras=cams, settings=settings(interval=0.2, timeout=1.0)))
    sc = Scheduler(st, probe_lookup=lambda c: slow, link_probe=_up_link,
                   clock=asyncio.get_running_loop().clock)
    await sc.start()
    await asyncio.sleep(1.5)
    await sc.stop()
    assert peak and max(peak.values()) == 1
    # a probe of 0.5 s on a 0.2 s interval: due at d, d+0.2, d+0.4 (both skipped), d+0.6 ...
    # so two rounds skipped out of every three, for each of the two checks
    for cs in st.cameras.values():
        due = _due_count(cs.camera.id, 0.2, 0.0, 1.5)
        assert cs.skipped == 2 * (due - (due + 2) // 3), (cs.camera.id, cs.skipped, due)
    assert sc.skipped == sum(cs.skipped for cs in st.cameras.values())
    reg = sc.metrics.registry
    assert reg.get_sample_value("cctv_monitor_probes_skipped_total") == sc.skipped


def test_phases_are_stable_and_even():
    ids = [f"JKT-{i:05d}" for i in range(20000)]
    fracs = [phase(i) for i in ids]
    assert fracs == [phase(i) for i in ids]
    assert all(0.0 <= f < 1.0 for f in fracs)
    bins = collections.Counter(int(f * 20) for f in fracs)
    assert len(bins) == 20
    assert all(800 <= n <= 1200 for n in bins.values()), bins  # expected 1000 each


async def test_first_round_due_times_spread_across_the_interval():
    cams = [make_camera(i, checks=("rtsp",), feeds=False) for i in range(2000)]
    st = State(make_inventory(cameras=cams, settings=settings(interval=10.0)))
    sc = Scheduler(st, probe_lookup=lambda c: Scripted(Reason.OK), link_probe=_up_link)
    await sc.start()
    now = asyncio.get_running_loop().time()
    offsets = [due - now for due, _seq, _job in sc._heap]
    await sc.stop()
    assert all(-0.1 <= o <= 10.0 for o in offsets)
    bins = collections.Counter(min(9, max(0, int(o))) for o in offsets)
    assert all(140 <= bins[b] <= 260 for b in range(10)), bins  # expected 200 per second


@virtual_time
async def test_stream_checks_have_their_own_budget_and_deadline():
    loop = asyncio.get_running_loop()
    fast_calls: collections.Counter = collections.Counter()
    streams: list[tuple[float, float]] = []  # (start, cut) of each stream check
    open_streams = peak_streams = 0

    async def fast(ep, ctx):
        fast_calls[ep.url] += 1
        return Result(Reason.OK)

    async def stream(ep, ctx):
        nonlocal open_streams, peak_streams
        start = loop.time()
        open_streams += 1
        peak_streams = max(peak_streams, open_streams)
        try:
            await asyncio.sleep(60)  # a stream that never ends: the deadline must end it
        finally:
            open_streams -= 1
            streams.append((start, loop.time()))
        return Result(Reason.OK)

    cams = [make_camera(i, checks=("rtsp", "stream"), feeds=False) for i in range(20)]
    s = settings(interval=0.2, timeout=0.3, concurrency=5,
                 stream=StreamSettings(interval=0.2, duration=0.2, concurrency=2))
    st = State(make_inventory(cameras=cams, settings=s))
    sc = Scheduler(st, probe_lookup=lambda c: stream if c == "stream" else fast,
                   link_probe=_up_link, clock=loop.clock)
    await sc.start()
    await asyncio.sleep(1.6)
    await sc.stop()
    # the fast checks ran at every due time although the two stream slots were always busy
    assert len(fast_calls) == 20
    for cam in cams:
        assert fast_calls[cam.rtsp.url] == _due_count(cam.id, 0.2, 0.0, 1.6), cam.id
    # two slots, each taken again the moment its stream check is cut at the deadline
    # (stream.duration + timeout = 0.5 s): from the first stream due time to the end
    assert peak_streams == 2
    ended = [(a, b) for a, b in streams if b < 1.6]
    assert ended and all(b - a == pytest.approx(0.5, abs=1e-9) for a, b in ended), streams
    starts = sorted(a for a, _ in streams)
    again = sorted(s + 0.5 * k for s in starts[:2] for k in range(4) if s + 0.5 * k < 1.6)
    assert starts == pytest.approx(again, abs=1e-9), streams
    done = [cs.results["stream"] for cs in st.cameras.values() if "stream" in cs.results]
    assert len(done) == len(ended) and all(r.reason is Reason.TIMEOUT for r in done)


@virtual_time
async def test_snapshot_analyses_the_http_picture_then_drops_it():
    seen = []

    async def http(ep, ctx):
        return Result(Reason.OK, body=b"\xff\xd8picture")

    def analyse(image, history, snap_settings):
        seen.append((image, history))
        history["n"] = history.get("n", 0) + 1
        return Result(Reason.FROZEN_IMAGE if history["n"] >= 2 else Reason.OK,
                      detail={"luminance": 0.5, "unchanged": history["n"] - 1})

    cams = [make_camera(0, checks=("http", "snapshot"), feeds=False)]
    st = State(make_inventory(cameras=cams, settings=settings(interval=0.2)))
    sc = Scheduler(st, probe_lookup=lambda c: http, link_probe=_up_link,
                   post_steps={"snapshot": analysis_step(analyse, dict)},
                   clock=asyncio.get_running_loop().clock)
    await sc.start()
    await asyncio.sleep(0.5)
    await sc.stop()
    cs = st.cameras["JKT-0000"]
    assert seen and seen[0][0] == b"\xff\xd8picture"
    assert cs.results["http"].body is None
    assert cs.results["snapshot"].reason is Reason.FROZEN_IMAGE
    assert cs.up is False and cs.failed_check == "snapshot"


@virtual_time
async def test_links_run_on_their_own_and_feeds_are_probed():
    link_calls = collections.Counter()

    async def slow_link(link, link_settings: LinkSettings):
        link_calls[link.name] += 1
        if link.name == "backup":
            await asyncio.sleep(60)  # hangs: must not hold anything else up
        return LinkResult("up", Reason.OK, 5, 5, 0.0, 0.001, 0.002, 0.003, 0.0)

    feed_urls = collections.Counter()

    async def fast(ep, ctx):
        if "/relay/" in ep.url:
            feed_urls[ep.url] += 1
        return Result(Reason.OK)

    inv = make_inventory(4, checks=("rtsp",))
    inv = dataclasses.replace(inv, settings=dataclasses.replace(
        settings(interval=0.2, concurrency=1), links=LinkSettings(interval=0.2, timeout=0.1, probes=1)))
    st = State(inv)
    sc = Scheduler(st, probe_lookup=lambda c: fast, link_probe=slow_link,
                   clock=asyncio.get_running_loop().clock)
    await sc.start()
    await asyncio.sleep(1.0)
    await sc.stop()
    assert link_calls["primary"] >= 3
    assert st.links[("police-hq", "primary")].result.state == "up"
    backup = st.links[("police-hq", "backup")].result
    assert backup is not None and backup.state == "down" and backup.reason is Reason.TIMEOUT
    assert len(feed_urls) == 4 and all(n >= 3 for n in feed_urls.values())
    assert all(cs.feeds["police-hq"].up for cs in st.cameras.values())


@virtual_time
async def test_reload_adds_removes_and_keeps_counters():
    loop = asyncio.get_running_loop()
    calls: list[tuple[float, str]] = []

    async def fast(ep, ctx):
        calls.append((loop.time(), ep.url))
        return Result(Reason.OK)

    cams = [make_camera(i, checks=("rtsp",), feeds=False) for i in range(10)]
    inv = make_inventory(cameras=cams, settings=settings(interval=0.2))
    st = State(inv)
    sc = Scheduler(st, probe_lookup=lambda c: fast, link_probe=_up_link, clock=loop.clock)
    await sc.start()
    await asyncio.sleep(0.7)
    before = {cid: cs.probes.get("rtsp", 0) for cid, cs in st.cameras.items()}
    kept = [c for c in cams if c.id not in ("JKT-0000", "JKT-0001", "JKT-0002")]
    kept[0] = dataclasses.replace(kept[0], name="renamed")
    new = kept + [make_camera(i, checks=("rtsp",), feeds=False) for i in (50, 51)]
    added, removed, changed = st.apply(dataclasses.replace(inv, cameras=tuple(new)))
    await sc.reschedule(inv.settings, added, removed, changed)
    t_apply = loop.time()
    assert sorted(added) == ["JKT-0050", "JKT-0051"]
    assert sorted(removed) == ["JKT-0000", "JKT-0001", "JKT-0002"]
    assert changed == ["JKT-0003"]
    await asyncio.sleep(0.7)
    await sc.stop()
    removed_urls = {c.rtsp.url for c in cams[:3]}
    late = [u for t, u in calls if t > t_apply and u in removed_urls]
    assert not late
    for cid in ("JKT-0050", "JKT-0051"):
        assert st.cameras[cid].probes["rtsp"] >= 2
    for c in kept:
        assert st.cameras[c.id].probes["rtsp"] > before[c.id] >= 2  # monotonic, not reset
    assert set(sc._jobs) == {c.id for c in new}


async def test_real_probes_against_a_tarpit_and_a_closed_port():
    """The real tcp and rtsp probes under the scheduler: the tarpit accepts (tcp ok) but never
    answers RTSP (timeout: the one deadline, measured exactly in the virtual-time tests
    above); a closed port is refused (re-tried once, still refused)."""
    try:
        from monitor.probes import get_probe

        get_probe("tcp"), get_probe("rtsp")
    except ImportError as exc:
        import pytest

        pytest.skip(f"real probes not available yet: {exc}")
    held: list[asyncio.StreamWriter] = []

    async def tarpit(reader, writer):
        held.append(writer)

    pit = await asyncio.start_server(tarpit, "127.0.0.1", 0)
    tport = pit.sockets[0].getsockname()[1]
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cams = [
        make_camera(0, checks=("tcp", "rtsp"), feeds=False, rtsp=Endpoint(f"rtsp://127.0.0.1:{tport}/x")),
        make_camera(1, checks=("tcp", "rtsp"), feeds=False, rtsp=Endpoint(f"rtsp://127.0.0.1:{closed}/x")),
    ]
    st = State(make_inventory(cameras=cams, settings=settings(interval=1.0, timeout=0.4)))
    sc = Scheduler(st, link_probe=_up_link)
    await sc.start()
    for _ in range(60):
        await asyncio.sleep(0.05)
        if all(len(cs.results) == 2 for cs in st.cameras.values()):
            break
    await sc.stop()
    pit.close()
    for w in held:
        w.close()
    tar, refused = st.cameras["JKT-0000"], st.cameras["JKT-0001"]
    assert tar.results["tcp"].ok
    assert tar.results["rtsp"].reason is Reason.TIMEOUT
    assert (tar.up, tar.failed_check) == (False, "rtsp")
    assert refused.results["tcp"].reason is Reason.REFUSED
    assert refused.results["rtsp"].reason is Reason.REFUSED
    assert refused.reason is Reason.REFUSED


async def test_large_snapshots_are_analysed_off_the_loop_with_the_real_analyser():
    """A large picture goes through a worker thread (the loop keeps ticking); the real
    monitor.probes.snapshot analyser says black for a black picture."""
    import io
    import threading

    import pytest

    try:
        from monitor.probes.snapshot import INLINE_BYTES, SnapshotHistory, analyse
    except ImportError as exc:
        pytest.skip(f"monitor.probes.snapshot not available yet: {exc}")
    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((1280, 720), 1).point(lambda v: 2).convert("RGB").save(buf, "JPEG", quality=95)
    black = buf.getvalue()
    if len(black) < INLINE_BYTES:
        black += b"\0" * INLINE_BYTES  # trailing bytes after EOI are ignored
    threads = []

    def spy(image, history, snap_settings):
        threads.append(threading.current_thread() is threading.main_thread())
        return analyse(image, history, snap_settings)

    async def http(ep, ctx):
        return Result(Reason.OK, body=black)

    cams = [make_camera(0, checks=("http", "snapshot"), feeds=False)]
    st = State(make_inventory(cameras=cams, settings=settings(interval=0.2)))
    sc = Scheduler(st, probe_lookup=lambda c: http, link_probe=_up_link,
                   post_steps={"snapshot": analysis_step(spy, SnapshotHistory)})
    await sc.start()
    for _ in range(40):
        await asyncio.sleep(0.05)
        if "snapshot" in st.cameras["JKT-0000"].results:
            break
    await sc.stop()
    assert threads and not any(threads)  # never on the loop's thread
    r = st.cameras["JKT-0000"].results["snapshot"]
    assert r.reason is Reason.BLACK_IMAGE, r
