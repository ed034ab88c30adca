"""Benchmark of the outage ledger and the monthly report (a script, not a test).

    .venv/bin/python tests/bench/bench_ledger.py [--cameras 100000] [--outages 1000000]
                                                 [--part changes,burst,report]

- changes: the CPU a state change costs with the ledger attached, against State alone in
  the same process (event-loop thread, and the whole process including the writer thread's
  SQLite commits), and what that is at 1% of the cameras changing state per minute;
- burst: 10,000 cameras flipping at once (a district switch dies) while a 10 ms ticker
  stands in for the probe schedule: its lag with and without the ledger;
- report: a month's report (HTML + CSV, no PDF) for `--cameras` cameras and `--outages`
  outage rows on SQLite, in a child process: wall time and peak RSS; and the ledger's size
  per million outage rows.
- pgsize (with --dsn): the same size on PostgreSQL.
- chain: what the hash chain (monitor/history/chain.py) adds to a change: the ledger with
  and without it in one process, rounds alternated, whole-process CPU per change including
  the writer thread's commits; the ratio is the figure (the machine's load cancels out).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor import history  # noqa: E402
from monitor.model import (  # noqa: E402
    Camera, Endpoint, Inventory, MaintenanceWindow, MonitorSettings, Provider, Reason, Result,
    StreamSettings,
)
from monitor.state import State  # noqa: E402

JKT = ZoneInfo("Asia/Jakarta")
DOWN = Result(Reason.TIMEOUT, message="no answer in 5s")
UP = Result(Reason.OK)


def inventory(n: int) -> Inventory:
    cams = tuple(
        Camera(id=f"JKT-{i:06d}", name=f"Jl. Sudirman {i}", provider=f"provider-{'abcd'[i % 4]}",
               district=f"district-{i % 44}", zone="ring-1" if i % 20 == 0 else "city",
               uplink=f"sw-{i // 40}", rtsp=Endpoint(f"rtsp://10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/1"),
               checks=("rtsp",), integrations=("smart-city",))
        for i in range(n))
    windows = (
        MaintenanceWindow("provider-b-weekly", weekdays=(6,), between=(23 * 60, 2 * 60), providers=("provider-b",)),
        MaintenanceWindow("district-7-works", start=dt.datetime(2026, 10, 14, 22, tzinfo=JKT),
                          end=dt.datetime(2026, 10, 15, 4, tzinfo=JKT), districts=("district-7",)),
    )
    return Inventory(settings=MonitorSettings(stream=StreamSettings(interval=0)),
                     providers=tuple(Provider(f"provider-{c}", n // 4 + 500, 0.98) for c in "abcd"),
                     integrations=(), command_centres=(), cameras=cams, maintenance=windows)


async def with_state(n: int, ledger_path: str | None) -> tuple[State, object]:
    state = State(inventory(n))
    rec = None
    if ledger_path:
        os.environ["CCTV_MONITOR_INSTANCE"] = "bench"
        rec = await history.start(state, history.HistoryTarget(ledger_path, None))
    for cid in state.cameras:
        state.record_result(cid, "rtsp", UP)
    if rec is not None:
        rec.ledger.flush(120)
    from monitor.runtime.daemon import _freeze_heap

    _freeze_heap()  # as the daemon does after its start: the same collector settings
    return state, rec


def flip_cost(state: State, ids: list[str]) -> tuple[float, float]:
    """(thread CPU, process CPU) seconds per change for len(ids) downs and ups."""
    t0, p0 = time.thread_time(), time.process_time()
    for cid in ids:
        state.record_result(cid, "rtsp", DOWN)
    for cid in ids:
        state.record_result(cid, "rtsp", UP)
    return time.thread_time() - t0, time.process_time() - p0


async def part_changes(n: int, tmp: Path) -> None:
    ids = random.Random(1).sample(range(n), 10_000)
    names = [f"JKT-{i:06d}" for i in ids]
    base_state, _ = await with_state(n, None)
    base = [flip_cost(base_state, names) for _ in range(3)]
    del base_state
    state, rec = await with_state(n, str(tmp / "changes.sqlite"))
    runs = []
    for _ in range(3):
        t_thread, _p = flip_cost(state, names)
        p0 = time.process_time()
        rec.ledger.flush(120)  # include the writer thread's commits of these rows
        runs.append((t_thread, _p + time.process_time() - p0))
    rec.ledger.close()
    changes = 2 * len(names)
    b_thread = statistics.median(b[0] for b in base) / changes
    l_thread = statistics.median(r[0] for r in runs) / changes
    b_proc = statistics.median(b[1] for b in base) / changes
    l_proc = statistics.median(r[1] for r in runs) / changes
    rate = n * 0.01 / 60  # changes per second at 1% per minute
    print(f"changes @ {n:,} cameras: State alone {b_thread * 1e6:.1f} us/change; with the ledger "
          f"{l_thread * 1e6:.1f} us on the loop (+{(l_thread - b_thread) * 1e6:.1f} us), "
          f"{l_proc * 1e6:.1f} us whole process incl. writer (+{(l_proc - b_proc) * 1e6:.1f} us)")
    print(f"  at 1%/min ({rate:.1f} changes/s): +{(l_proc - b_proc) * rate * 100:.4f}% of one core")


async def part_chain(n: int, tmp: Path, rounds: int = 5) -> None:
    from monitor.history.writer import Ledger

    names = [f"JKT-{i:06d}" for i in random.Random(5).sample(range(n), 10_000)]
    setups = {}
    for label, chained in (("without chain", False), ("with chain", True)):
        Ledger.chain_enabled = chained
        os.environ["CCTV_MONITOR_INSTANCE"] = "bench"
        setups[label] = await with_state(n, str(tmp / f"chain-{chained}.sqlite"))
    Ledger.chain_enabled = True
    cost: dict[str, list[float]] = {k: [] for k in setups}
    for _ in range(rounds):
        for label, (state, rec) in setups.items():
            _t, p = flip_cost(state, names)
            p0 = time.process_time()
            rec.ledger.flush(120)
            cost[label].append((p + time.process_time() - p0) / (2 * len(names)))
    for _label, (_state, rec) in setups.items():
        rec.ledger.close()
    base, chained = (statistics.median(cost[k]) for k in ("without chain", "with chain"))
    print(f"chain @ {n:,} cameras: {base * 1e6:.1f} us/change without the chain, {chained * 1e6:.1f} us "
          f"with it (whole process incl. writer), ratio {chained / base:.2f} "
          f"(rounds: {', '.join(f'{a * 1e6:.0f}/{b * 1e6:.0f}' for a, b in zip(cost['without chain'], cost['with chain']))} us)")


async def burst(state: State, names: list[str]) -> list[float]:
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while running:
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    lags.clear()
    for i in range(0, len(names), 100):  # as probe results arrive: a hundred per loop turn
        for cid in names[i:i + 100]:
            state.record_result(cid, "rtsp", DOWN)
        await asyncio.sleep(0)
    await asyncio.sleep(2.5)  # the writer commits the burst meanwhile
    running = False
    await task
    for cid in names:
        state.record_result(cid, "rtsp", UP)
    return lags


async def part_burst(n: int, tmp: Path, rounds: int = 3) -> None:
    """Both set-ups side by side, bursts alternated: on a shared machine the spread between
    runs is larger than the ledger's effect, so each figure is a median of rounds."""
    names = [f"JKT-{i:06d}" for i in random.Random(2).sample(range(n), 10_000)]
    setups = {"without ledger": await with_state(n, None),
              "with ledger": await with_state(n, str(tmp / "burst.sqlite"))}
    p99: dict[str, list[float]] = {k: [] for k in setups}
    worst: dict[str, list[float]] = {k: [] for k in setups}
    for _ in range(rounds):
        for label, (state, _rec) in setups.items():
            lags = sorted(await burst(state, names))
            p99[label].append(lags[int(len(lags) * 0.99)])
            worst[label].append(lags[-1])
    for label, (_state, rec) in setups.items():
        if rec is not None:
            rec.ledger.close()
        print(f"burst of 10,000 @ {n:,}: 10 ms ticker lag {label}: p99 median "
              f"{statistics.median(p99[label]) * 1000:.1f} ms, max median {statistics.median(worst[label]) * 1000:.1f} ms "
              f"(max per round: {', '.join(f'{w * 1000:.0f}' for w in worst[label])} ms)")


def fill(path: Path, n: int, outages: int) -> None:
    """A month's ledger written directly (the recorder's row shapes), fast."""
    from monitor.history.writer import Ledger

    ledger = Ledger(str(path), "bench", clock=lambda: dt.datetime(2026, 9, 20, tzinfo=JKT).timestamp())
    ledger.open()
    ledger.close()
    rnd = random.Random(3)
    t0 = dt.datetime(2026, 10, 1, tzinfo=JKT).timestamp()
    month = 31 * 86400
    added = dt.datetime(2026, 9, 20, tzinfo=JKT).timestamp()
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO inventory_changes (ts, camera, provider, action, instance) VALUES (?,?,?,?,?)",
                         ((added, f"JKT-{i:06d}", f"provider-{'abcd'[i % 4]}", "added", "bench") for i in range(n)))
        conn.executemany("INSERT INTO first_answer (camera, provider, ts) VALUES (?,?,?)",
                         ((f"JKT-{i:06d}", f"provider-{'abcd'[i % 4]}", added + 60 + i) for i in range(n)))
        reasons = ("timeout", "refused", "no_video", "auth_failed", "frozen_image")

        def rows():
            for _ in range(outages):
                i = rnd.randrange(n)
                s = t0 - 3600 + rnd.random() * (month + 3600)
                d = min(rnd.expovariate(1 / 1800), 86400 * 3)
                yield ("camera", f"JKT-{i:06d}", "", f"provider-{'abcd'[i % 4]}", s, s + d,
                       reasons[i % 5], "link" if rnd.random() < 0.05 else "camera", "rtsp",
                       "no answer in 5s", "bench")

        conn.executemany("INSERT INTO outages (kind, subject, integration, provider, start_ts, end_ts, reason, "
                         "cause, check_name, detail, instance) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows())
        conn.execute("INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES ('bench', ?, ?)",
                     (t0 + 10 * 86400, t0 + 10 * 86400 + 1800))
        conn.execute("UPDATE instances SET heartbeat = ?", (t0 + month + 86400,))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


CHILD = """
import sys, time, resource
sys.path.insert(0, {root!r})
sys.argv = ["bench"]
from pathlib import Path
from tests.bench.bench_ledger import inventory, JKT
from monitor.report import build
from monitor.report.compute import period_of
inv = inventory({n})
t0 = time.perf_counter()
files = build(inv, {db!r}, *period_of("2026-10", None, None, JKT), Path({out!r}), pdf=False,
              now=period_of("2026-11", None, None, JKT)[1].timestamp())
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, Path(files["outages.csv"]).stat().st_size,
      Path(files["report.html"]).stat().st_size)
"""


def part_report(n: int, outages: int, tmp: Path, runs: int = 3) -> None:
    db = tmp / "month.sqlite"
    t0 = time.perf_counter()
    fill(db, n, outages)
    print(f"report: ledger of {n:,} cameras and {outages:,} outages written in {time.perf_counter() - t0:.0f} s; "
          f"{db.stat().st_size / 2**20:.0f} MiB = {db.stat().st_size / 2**20 / (outages / 1e6):.0f} MiB per million outage rows")
    code = CHILD.format(root=str(ROOT), n=n, db=str(db), out=str(tmp / "out"))
    walls, cpus, rss = [], [], []
    for _ in range(runs):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             stdin=subprocess.DEVNULL)
        wall, cpu, maxrss, csv_size, html_size = res.stdout.split()
        walls.append(float(wall))
        cpus.append(float(cpu))
        rss.append(int(maxrss) / 1024)
    print(f"report: month of {n:,} cameras, {outages:,} outages on SQLite: wall {statistics.median(walls):.1f} s "
          f"(runs {', '.join(f'{w:.1f}' for w in walls)}), CPU {statistics.median(cpus):.1f} s "
          f"(the whole child: imports, inventory, report), peak RSS {max(rss):.0f} MiB; "
          f"outages.csv {int(csv_size) / 2**20:.0f} MiB, report.html {int(html_size) / 2**20:.1f} MiB")


def part_pg_size(dsn: str, outages: int) -> None:
    """The ledger's size on PostgreSQL per million outage rows (table and indexes)."""
    import psycopg

    from monitor.history.writer import Ledger

    ledger = Ledger(dsn, "bench")
    ledger.open()
    ledger.close()
    rnd = random.Random(4)
    t0 = dt.datetime(2026, 10, 1, tzinfo=JKT).timestamp()
    with psycopg.connect(dsn) as conn:
        with conn.cursor().copy("COPY outages (kind, subject, integration, provider, start_ts, end_ts, "
                                "reason, cause, check_name, detail, instance) FROM STDIN") as copy:
            for _ in range(outages):
                i = rnd.randrange(100_000)
                s = t0 + rnd.random() * 31 * 86400
                copy.write_row(("camera", f"JKT-{i:06d}", "", f"provider-{'abcd'[i % 4]}", s,
                                s + rnd.expovariate(1 / 1800), "timeout", "camera", "rtsp",
                                "no answer in 5s", "bench"))
        conn.commit()
        size = conn.execute("SELECT pg_total_relation_size('outages')").fetchone()[0]
    print(f"PostgreSQL: {outages:,} outage rows take {size / 2**20:.0f} MiB "
          f"= {size / 2**20 / (outages / 1e6):.0f} MiB per million (table and indexes)")


def main() -> None:
    # the state-change log is the same with and without the ledger; off, it does not drown
    # the difference (10,000 lines to a terminal take longer than the ledger's rows)
    import logging

    logging.disable(logging.CRITICAL)
    p = argparse.ArgumentParser()
    p.add_argument("--cameras", type=int, default=100_000)
    p.add_argument("--outages", type=int, default=1_000_000)
    p.add_argument("--part", default="changes,burst,report")
    p.add_argument("--runs", type=int, default=3, help="report runs (median)")
    p.add_argument("--dsn", help="part pgsize: an empty PostgreSQL database to fill")
    args = p.parse_args()
    parts = set(args.part.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as d:
        tmp = Path(d)
        if "changes" in parts:
            asyncio.run(part_changes(args.cameras, tmp))
        if "chain" in parts:
            asyncio.run(part_chain(args.cameras, tmp))
        if "burst" in parts:
            asyncio.run(part_burst(args.cameras, tmp))
        if "report" in parts:
            part_report(args.cameras, args.outages, tmp, args.runs)
        if "pgsize" in parts and args.dsn:
            part_pg_size(args.dsn, args.outages)



if __name__ == "__main__":
    main()
