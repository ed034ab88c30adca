"""How long a configuration reload holds the event loop, at fleet scale.

    .venv/bin/python tests/bench/bench_reload.py                  # 20,000 and 100,000 cameras
    .venv/bin/python tests/bench/bench_reload.py --sizes 20000 --reloads 5

For each size: the real loader and daemon reload path (Daemon.reload) with the real State,
Scheduler and Exporter, every check answered at once by a no-op probe (so the loop is busy
with the schedule, not with sockets), a 1 ms ticker measuring the loop's longest gap.  Each
reload alternates between the full fleet and the fleet with 5 % of cameras removed and 1 %
renamed, so that every reload adds, removes and changes cameras.  Reported: the longest
loop gap during a reload (the "hold") against the longest gap in an equal quiet window (the
baseline of this machine), the CPU this process spent within that gap (what was its own
work, as opposed to the OS running another process), and whether any camera changed state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor.model import Reason, Result  # noqa: E402


async def _ok(endpoint, ctx):
    return Result(Reason.OK)


def _configs(n: int, tmp: Path) -> tuple[Path, str, str]:
    from monitor.simulator.fleet import build_fleet, write_config

    fleet = build_fleet(cameras=n, seed=3, faults={}, base_net=60)
    cfg = tmp / "fleet.yml"
    write_config(fleet, cfg, interval="30s", timeout="5s", stream_interval="10m")
    full = cfg.read_text()
    head, _, cams = full.partition("cameras:\n")
    blocks = cams.split("  - id: ")[1:]
    kept = []
    for i, block in enumerate(blocks):
        if i % 20 == 7:
            continue  # 5 % removed
        if i % 100 == 3:
            block = block.replace("    name: ", "    name: Renamed ", 1)  # 1 % changed
        kept.append(block)
    other = head + "cameras:\n" + "".join("  - id: " + b for b in kept)
    return cfg, full, other


class Ticker:
    """The loop's longest gap between two 1 ms ticks, as wall time and as the CPU time the
    process used within that gap (all threads).  On a shared machine a gap can be the OS
    running someone else: the CPU figure is the part that was this process's own work (a
    worker thread holding the GIL counts, it is CPU of this process)."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.max_cpu = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last, last_cpu = loop.time(), time.process_time()
        while True:
            await asyncio.sleep(0.001)
            now, cpu = loop.time(), time.process_time()
            self.max_gap = max(self.max_gap, now - last)
            # a gap's own work: its CPU, at most its wall time (two threads can both run)
            self.max_cpu = max(self.max_cpu, min(now - last, cpu - last_cpu))
            last, last_cpu = now, cpu

    def start(self) -> None:
        self.max_gap = self.max_cpu = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> tuple[float, float]:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return self.max_gap, self.max_cpu


async def bench(n: int, reloads: int) -> dict:
    import logging

    logging.disable(logging.WARNING)  # a no-op probe on a fleet without servers: noise
    from monitor.config import load
    from monitor.runtime.daemon import Daemon, _freeze_heap

    with tempfile.TemporaryDirectory() as tmp:
        cfg, full, other = _configs(n, Path(tmp))
        t0 = time.perf_counter()
        inventory = load(str(cfg))
        load_s = time.perf_counter() - t0
        daemon = Daemon(str(cfg), inventory)
        daemon.scheduler.runner.lookup = lambda check: _ok
        await daemon.scheduler.start()
        _freeze_heap()
        ticker = Ticker()
        holds, own, quiet, durations = [], [], [], []
        try:
            await asyncio.sleep(3)  # the schedule running: a few thousand checks
            before = {cid: cs.changes for cid, cs in daemon.state.cameras.items()}
            for i in range(reloads):
                cfg.write_text(other if i % 2 == 0 else full)
                ticker.start()
                t0 = time.perf_counter()
                summary = await daemon.reload(force=True)
                durations.append(time.perf_counter() - t0)
                gap, cpu = await ticker.stop()
                holds.append(gap)
                own.append(cpu)
                ticker.start()
                await asyncio.sleep(durations[-1])
                quiet.append((await ticker.stop())[0])
                print(f"  {n}: reload {i + 1}: hold {gap * 1000:.1f} ms wall, {cpu * 1000:.1f} ms "
                      f"own CPU (quiet window: {quiet[-1] * 1000:.1f} ms), {durations[-1]:.2f} s, "
                      f"{summary}", flush=True)
            flips = sum(cs.changes - before.get(cid, 0)
                        for cid, cs in daemon.state.cameras.items() if cid in before)
            down = sum(1 for cs in daemon.state.cameras.values() if cs.up is False)
        finally:
            await daemon.scheduler.stop()
    return {
        "cameras": n,
        "load_seconds": round(load_s, 2),
        "reload_seconds": [round(d, 2) for d in durations],
        "hold_ms": [round(h * 1000, 1) for h in holds],
        "quiet_ms": [round(q * 1000, 1) for q in quiet],
        "hold_ms_max": round(max(holds) * 1000, 1),
        "own_cpu_ms": [round(c * 1000, 1) for c in own],
        "own_cpu_ms_max": round(max(own) * 1000, 1),
        "state_changes": flips,
        "down": down,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="20000,100000")
    p.add_argument("--reloads", type=int, default=4)
    args = p.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    out = []
    for n in (int(x) for x in args.sizes.split(",")):
        out.append(runner(bench(n, args.reloads)))
        print(json.dumps(out[-1]), flush=True)
    results = ROOT / "tests" / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"reload-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
