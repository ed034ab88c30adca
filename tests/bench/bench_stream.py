"""CPU cost of one stream check (DESCRIBE, SETUP, PLAY, RTP reading, TEARDOWN).

    .venv/bin/python tests/bench/bench_stream.py [--cameras 50] [--rounds 3] [--duration 4]

The simulator serves healthy cameras (10 fps H.264, 320x180, Digest auth) in its own
process pinned to CPU 1; this process, pinned to CPU 0, runs `rounds` rounds of stream
checks on every camera at once (as the scheduler's stream budget would) and reports CPU-ms
per check from time.process_time, with a same-process baseline of plain rtsp checks
(OPTIONS + DESCRIBE) on the same cameras for the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SIM = """
import sys
sys.path.insert(0, %r)
from monitor.simulator.fleet import build_fleet
from monitor.simulator.server import run_fleet
fleet = build_fleet(cameras=int(sys.argv[1]), seed=5, faults={}, base_net=160)
raise SystemExit(run_fleet(fleet, ("127.0.0.1", int(sys.argv[2])), log_level="warning"))
""" % str(ROOT)


async def run_checks(check: str, endpoints, duration: float, rounds: int) -> tuple[float, float, dict]:
    from monitor.probes import get_probe, run_probe

    fn = get_probe(check)
    loop = asyncio.get_running_loop()
    reasons: dict[str, int] = {}
    fps: list[float] = []
    timeout = duration + 5 if check == "stream" else 5
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        async def one(ep):
            r = await run_probe(fn, ep, timeout, stream_duration=duration)
            reasons[r.reason.value] = reasons.get(r.reason.value, 0) + 1
            if r.detail.get("fps"):
                fps.append(r.detail["fps"])
        await asyncio.gather(*(one(ep) for ep in endpoints))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if fps:
        reasons["mean_fps"] = round(sum(fps) / len(fps), 1)
    return cpu, wall, reasons


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4.0)
    args = ap.parse_args()

    import socket

    from monitor.config import load
    from monitor.simulator.fleet import build_fleet, write_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        control = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="cctv-bench-stream-"))
    fleet = build_fleet(cameras=args.cameras, seed=5, faults={}, base_net=160)
    write_config(fleet, tmp / "fleet.yml")
    inventory = load(tmp / "fleet.yml")
    endpoints = [c.rtsp for c in inventory.cameras]
    sim = subprocess.Popen([sys.executable, "-c", SIM, str(args.cameras), str(control)],
                           stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert sim.stdout.readline().startswith(b"READY")
        os.sched_setaffinity(sim.pid, {1})
        os.sched_setaffinity(0, {0})
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        base_cpu, base_wall, base_reasons = runner(run_checks("rtsp", endpoints, args.duration, args.rounds))
        cpu, wall, reasons = runner(run_checks("stream", endpoints, args.duration, args.rounds))
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait(10)
    n = args.cameras * args.rounds
    print(f"rtsp checks:   {n}, {1000 * base_cpu / n:.3f} CPU-ms each, results {base_reasons}")
    print(f"stream checks: {n} of {args.duration:.1f}s, {1000 * cpu / n:.2f} CPU-ms each "
          f"({wall:.1f}s wall), results {reasons}")
    print(f"ratio stream/rtsp CPU: {cpu / base_cpu:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
