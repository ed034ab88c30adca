"""Benchmark of the /metrics render (a script, not a test).

    .venv/bin/python tests/bench/bench_exporter.py [--cameras 10000,50000] [--mix all,default]
        [--baseline GIT-REV] [--reference]

For each fleet size and check mix:

- ``all``: every camera with all five checks, two integrations (one feed), a mix of
  failure reasons;
- ``default``: the default check mix of a city (rtsp, stream with the picture check on its
  keyframes, http with snapshot analysis; no tcp, no onvif), feeds at both integration
  points for nine cameras in ten, realistic details (camera clocks included) and a few per
  cent of failures;

it reports

- the cost of keeping lines current on the write path (us per recorded result, the
  exporter's part only: State's own bookkeeping is not counted),
- render CPU time and wall time, plain and gzip (gzip deflates in a worker thread),
- the longest event-loop stall during a render, measured by a 1 ms ticker task: the probe
  schedule is never held for longer than that,
- the exposition size and series count,
- with --reference, prometheus_client's generic renderer on the same series for a ratio;
- with --baseline, the same figures for monitor/metrics/exporter.py as of that git revision,
  loaded into this process, measured on the same State, and the ratios current/baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor.metrics.exporter import Exporter  # noqa: E402
from monitor.metrics.families import FAMILIES  # noqa: E402
from monitor.model import (  # noqa: E402
    Camera,
    CommandCentre,
    Endpoint,
    Integration,
    Inventory,
    Link,
    LinkResult,
    MonitorSettings,
    Provider,
    Reason,
    Result,
    StreamSettings,
)
from monitor.state import State  # noqa: E402

CHECKS = ("tcp", "rtsp", "stream", "http", "snapshot")
FAILS = (Reason.TIMEOUT, Reason.REFUSED, Reason.AUTH_FAILED, Reason.NOT_FOUND)


def build(n: int, mix: str) -> State:
    """A State with every camera's results recorded (no exporter attached yet)."""
    default = mix == "default"
    checks = ("rtsp", "stream", "picture", "http", "snapshot") if default else CHECKS
    cams = tuple(
        Camera(
            id=f"JKT-{i:06d}",
            name=f"Jl. Sudirman {i} arah utara",
            provider=f"provider-{'abcd'[i % 4]}",
            district=f"district-{i % 44}",
            zone="ring-1" if i % 20 == 0 else "city",
            location=(-6.2 + i * 1e-5, 106.8 + i * 1e-5),
            uplink=f"sw-{i // 40}",
            rtsp=Endpoint(f"rtsp://10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:554/Streaming/Channels/101"),
            http=Endpoint(f"http://10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/picture"),
            checks=checks,
            integrations=("smart-city", "police-hq"),
            feeds=(
                (("police-hq", Endpoint(f"rtsp://10.20.0.5/relay/{i}")),
                 ("smart-city", Endpoint(f"rtsp://10.21.0.5/relay/{i}")))
                if i % 10 else ()
            ) if default else (("police-hq", Endpoint(f"rtsp://10.20.0.5/relay/{i}")),),
        )
        for i in range(n)
    )
    inv = Inventory(
        settings=MonitorSettings(stream=StreamSettings(interval=300)),
        providers=tuple(Provider(f"provider-{c}", 1500, 0.98) for c in "abcd"),
        integrations=(Integration("smart-city"), Integration("police-hq", "police-hq")),
        command_centres=(CommandCentre("police-hq", (Link("primary", (Endpoint("tcp://10.20.0.1:443"),)),)),),
        cameras=cams,
    )
    st = State(inv)
    st.record_link("police-hq", "primary", LinkResult("up", Reason.OK, 5, 5, 0.0, 0.001, 0.002, 0.003, 0.0002))
    stream_detail = {"codec": "H264", "width": 1920, "height": 1080, "auth": "digest", "status": 200,
                     "packets": 2400, "lost": 0, "fps": 25.0, "bytes_per_second": 250000.0,
                     "keyframe_interval": 2.0, "transport": "tcp"}
    rtsp_detail = {"codec": "H264", "width": 1920, "height": 1080, "auth": "digest", "status": 200,
                   "clock_offset": 0.4}
    for i, cam in enumerate(cams):
        for check in checks:
            if check == "stream":
                r = Result(Reason.OK, 4.0, detail=dict(stream_detail, fps=25.0 - i % 7 * 0.01))
            elif check in ("snapshot", "picture"):
                r = Result(Reason.OK, 0.001, detail={"luminance": 0.41 + i % 50 * 0.001,
                                                     "unchanged": 0, "difference": 4.2,
                                                     "uniform": 0.2})
            elif check == "rtsp":
                reason = FAILS[i % 4] if i % (33 if default else 10) == 0 else Reason.OK
                r = Result(reason, 0.0123 + i % 13 * 1e-4, detail=dict(rtsp_detail) if default else {})
            else:
                r = Result(Reason.OK, 0.0123)
            st.record_result(cam.id, check, r)
        for integration, _ in cam.feeds:
            st.record_feed(cam.id, integration, Result(Reason.OK if i % 7 else Reason.NOT_FOUND, 0.02))
    return st


def write_path(st: State, exporter_class, rounds: int = 3) -> tuple:
    """Attach a new exporter, then replay every recorded result through its write path;
    the best of `rounds` replays (the machine is shared: the minimum is the cost)."""
    ex = exporter_class(st)
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        t0 = time.process_time()
        n = 0
        for cs in st.cameras.values():
            for check in cs.results:
                ex.camera_check(cs, check)
                n += 1
            if cs.feeds:
                ex.camera_feeds(cs)
                n += 1
        best = min(best, (time.process_time() - t0) / n)
        gc.enable()
    return ex, best


def load_baseline(rev: str):
    """monitor/metrics/exporter.py as of `rev`, as a module of this process's monitor package."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:monitor/metrics/exporter.py"],
                         check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("monitor._baseline_exporter", loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "monitor"
    sys.modules[spec.name] = mod
    exec(compile(src, f"{rev}:monitor/metrics/exporter.py", "exec"), mod.__dict__)
    return mod.Exporter


async def measure(ex: Exporter, use_gzip: bool, rounds: int = 5) -> dict:
    stalls: list[float] = []
    running = True

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while running:
            await asyncio.sleep(0.001)
            now = loop.time()
            stalls.append(now - last - 0.001)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    cpu, wall, size = [], [], 0
    for _ in range(rounds):
        gc.collect()
        await asyncio.sleep(0.01)  # let the ticker step over the collection first
        stalls.clear()
        c0, w0 = time.process_time(), time.perf_counter()
        if use_gzip:
            size = len(await ex.render(gzip=True))
        else:  # what /metrics does: stream the chunks, never join them into one buffer
            size = sum(len(c) for c in await ex.render_chunks_locked())
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        await asyncio.sleep(0.02)
    max_stall = max(stalls) if stalls else 0.0
    running = False
    await tick
    return {"cpu": statistics.median(cpu), "cpu_best": min(cpu), "wall": statistics.median(wall),
            "stall": max_stall, "size": size}


def reference(st: State, ex: Exporter) -> float:
    """prometheus_client's generic renderer over the same per-camera samples."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    text = "".join(
        f"# HELP {f.name} x\n# TYPE {f.name} {f.type}\n" + b"".join(d.values()).decode()
        for f, d in zip(FAMILIES, ex._lines) if d is not None
    )
    families: list[Metric] = list(text_string_to_metric_families(text))

    class Collector:
        def collect(self):
            return iter(families)

    reg = CollectorRegistry()
    reg.register(Collector())
    t0 = time.process_time()
    generate_latest(reg)
    return time.process_time() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", default="10000,50000")
    ap.add_argument("--mix", default="all", help="all, default, or both comma-separated")
    ap.add_argument("--baseline", metavar="GIT-REV", help="also measure exporter.py of that revision")
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    logging.getLogger("cctv.state").setLevel(logging.ERROR)  # the fleet's faults, not news
    factory = None
    if args.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    variants = [("current", Exporter)]
    if args.baseline:
        variants.insert(0, (f"baseline {args.baseline}", load_baseline(args.baseline)))
    for mix in args.mix.split(","):
        for n in (int(x) for x in args.cameras.split(",")):
            st = build(n, mix)
            figures = {}
            for label, cls in variants:
                ex, per_result = write_path(st, cls)
                with asyncio.Runner(loop_factory=factory) as runner:
                    plain = runner.run(measure(ex, False))
                    gz = runner.run(measure(ex, True))
                    text = runner.run(ex.render())
                series = sum(1 for line in text.split(b"\n") if line and not line.startswith(b"#"))
                print(f"{n:>6} cameras, mix {mix}, {label}: {series:,} series, "
                      f"write path {per_result * 1e6:.2f} us/result")
                for name, m in (("plain", plain), ("gzip", gz)):
                    print(f"    {name:5s}: render CPU {m['cpu'] * 1000:7.1f} ms (best {m['cpu_best'] * 1000:.1f}), "
                          f"wall {m['wall'] * 1000:7.1f} ms, "
                          f"max loop stall {m['stall'] * 1000:5.1f} ms, {m['size'] / 1e6:6.1f} MB")
                figures[label] = (per_result, plain["cpu"], gz["cpu"])
                if args.reference:
                    ref = reference(st, ex)
                    print(f"    prometheus_client generate_latest on the same series: {ref * 1000:.0f} ms CPU "
                          f"({ref / plain['cpu']:.0f}x the plain render)")
                st.remove_listener(ex)
                del ex, text
                gc.collect()
            if len(figures) == 2:
                (_, base), (_, cur) = figures.items()
                print(f"    current/baseline: write path {cur[0] / base[0]:.2f}, "
                      f"plain render {cur[1] / base[1]:.2f}, gzip render {cur[2] / base[2]:.2f}")
            del st
            gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
