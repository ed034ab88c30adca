"""City- and national-scale benchmark: the monitor against blackbox_exporter on one fleet.

    sudo tests/bench/setup.sh                       # once: blackbox_exporter, py-spy
    .venv/bin/python tests/bench/bench_scale.py     # 1k, 10k, 50k, 100k cameras
    .venv/bin/python tests/bench/bench_scale.py --sizes 1000,10000 --window 40

For each fleet size it starts the simulator (all cameras healthy), then

1. the monitor (`cctv-monitor run`) with only the `rtsp` check (OPTIONS + DESCRIBE) at a
   30 s interval, pinned to CPU 0, measured over a window without scrapes and a window
   with a Prometheus-like scrape every 15 s;
2. blackbox_exporter (Debian) pinned to CPU 0, with a `tcp` module whose query_response
   sends one RTSP OPTIONS, driven like Prometheus drives it (`GET /probe?target=...`) at
   the same probe rate, by a driver on the other CPU.

3. with ``--baseline REV``: the monitor of git revision REV (its ``monitor/`` package from
   ``git archive``) on the same simulator, right before this checkout's, so a change is
   measured before and after in one run (ratio current / baseline);
4. with ``--mix-sizes N,N``: the default Jakarta mix (the simulator's own configuration:
   rtsp, http with snapshot analysis, the feeds at the smart-city and police integration
   points, a stream check every 5 min), built up one check at a time so that the CPU per
   camera per round is broken down by check (the difference between two steps), then the
   full mix from REV, then the full mix as 2 and 4 shards (``--shards``) on the same core.
   From the CPU per camera per round: the cameras one core holds at 30 s (at 85 % of it).

    .venv/bin/python tests/bench/bench_scale.py --sizes 20000,100000 --baseline REV \
        --mix-sizes 5518,20000 --no-blackbox --window 30

5. with ``--video 1080p``: the simulated cameras stream a 1080p H.264 clip (made with
   ffmpeg at the start), so the picture check decodes what a city camera sends; with
   ``--full-mix-only`` and a window of at least the stream interval (300 s), the full mix
   over a whole stream round.

CPU comes from /proc/PID/stat of each process (utime + stime), so the driver's and the
simulator's own costs are not counted against either prober.  Ratios are computed within
the same run, because these machines are noisy: compare ratios between runs, not seconds.
The table is printed and saved as JSON (tests/bench/results/scale-<time>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.common import cpu_seconds, free_port, rss_bytes  # noqa: E402

PY = sys.executable
BLACKBOX = shutil.which("prometheus-blackbox-exporter")




def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its live descendants (the simulator has workers)."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            total += cpu_seconds(p)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def descendants(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int(Path(d, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d.name))
                out += descendants(int(d.name))
    return out



def pin(pid: int, cpu: int) -> None:
    try:
        os.sched_setaffinity(pid, {cpu})
    except OSError:
        pass


def start(cmd: list[str], log: Path, cpu: int | None = None, cwd: Path = ROOT,
          **kw) -> subprocess.Popen:
    fh = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd,
                            start_new_session=True, **kw)
    if cpu is not None:
        pin(proc.pid, cpu)
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def wait_for_line(log: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if re.search(pattern, log.read_text(errors="replace")):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"process died: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"no {pattern!r} after {timeout}s in {log}")


# ------------------------------------------------------------------ metrics parsing

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', re.M)


def scrape_sums(text: str) -> dict[str, float]:
    """Sum of every sample per metric name, plus histogram buckets keyed by le."""
    out: dict[str, float] = {}
    for m in _SAMPLE.finditer(text):
        name, labels, value = m.groups()
        if name == "cctv_monitor_probe_lag_seconds_bucket":
            le = re.search(r'le="([^"]+)"', labels or "").group(1)
            name = f"lag_bucket:{le}"
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            pass
    return out


def quantile(before: dict, after: dict, q: float) -> float | None:
    buckets = sorted(
        ((float("inf") if k.split(":", 1)[1] == "+Inf" else float(k.split(":", 1)[1]),
          after[k] - before.get(k, 0.0)) for k in after if k.startswith("lag_bucket:")),
    )
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            span = c - prev_c
            return prev_le + (le - prev_le) * ((rank - prev_c) / span if span else 1.0)
        prev_le, prev_c = le, c
    return None


async def fetch(session: aiohttp.ClientSession, url: str, gz: bool = False) -> tuple[bytes, float]:
    t0 = time.perf_counter()
    headers = {"Accept-Encoding": "gzip" if gz else "identity"}
    async with session.get(url, headers=headers, auto_decompress=False) as r:
        body = await r.read()
    return body, time.perf_counter() - t0


# ------------------------------------------------------------------ the monitor


def write_monitor_config(fleet, path: Path, interval: str) -> None:
    lines = [
        "monitor:",
        f"  interval: {interval}",
        "  timeout: 5s",
        "  concurrency: 2000",
        "  retries: 0",
        "  stream: {interval: 0}",
        "providers:",
    ]
    for p in fleet.providers:
        lines.append(f"  - {{name: {p.name}, target_cameras: {p.target_cameras}, sla: {p.sla}}}")
    lines.append("cameras:")
    for c in fleet.cameras:
        lines.append(
            f"  - {{id: {c.id}, provider: {c.provider}, district: \"{c.district}\", zone: {c.zone}, "
            f"rtsp: \"rtsp://{c.ip}:{c.rtsp_port}{c.rtsp_path}\", checks: [rtsp]}}"
        )
    path.write_text("\n".join(lines) + "\n")


async def measure_monitor(port: int, pid: int, window: float, scrape_every: float | None) -> dict:
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as s:
        before_text, _ = await fetch(s, url)
        before = scrape_sums(before_text.decode())
        cpu0 = cpu_seconds(pid)
        t0 = time.monotonic()
        scrapes = 0
        scrape_cpu = 0.0
        while time.monotonic() - t0 < window:
            if scrape_every:
                c = cpu_seconds(pid)
                await fetch(s, url, gz=True)
                scrape_cpu += cpu_seconds(pid) - c
                scrapes += 1
                await asyncio.sleep(max(0.0, scrape_every - 0.0))
            else:
                await asyncio.sleep(min(1.0, window))
        elapsed = time.monotonic() - t0
        cpu1 = cpu_seconds(pid)
        after_text, _ = await fetch(s, url)
        after = scrape_sums(after_text.decode())
    probes = after.get("cctv_probes_total", 0) - before.get("cctv_probes_total", 0)
    cpu = cpu1 - cpu0
    return {
        "probes": probes,
        "checks_per_s": probes / elapsed,
        "cpu_s": cpu,
        "cpu_ms_per_check": 1000 * (cpu - scrape_cpu) / probes if probes else None,
        "cpu_ms_per_check_incl_scrapes": 1000 * cpu / probes if probes else None,
        "lag_p50": quantile(before, after, 0.5),
        "lag_p99": quantile(before, after, 0.99),
        "scrapes": scrapes,
        "failures": after.get("cctv_probe_failures_total", 0) - before.get("cctv_probe_failures_total", 0),
    }


async def measure_render(port: int, pid: int) -> dict:
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as s:
        out = {}
        for gz in (False, True):
            c0 = cpu_seconds(pid)
            body, wall = await fetch(s, url, gz=gz)
            c1 = cpu_seconds(pid)
            key = "gzip" if gz else "plain"
            out[f"render_{key}_wall_s"] = wall
            out[f"render_{key}_cpu_s"] = c1 - c0
            out[f"size_{key}_bytes"] = len(body)
        return out


def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                if r.status == 200:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None:
                raise RuntimeError(log.read_text()[-3000:])
        time.sleep(1)
    raise RuntimeError(f"monitor not ready after {timeout:.0f}s: {log.read_text()[-2000:]}")


def monitor_env(tree: Path) -> dict:
    """Run the monitor from `tree` (this checkout, or an older revision for a baseline):
    `python -m` puts its working directory first on the path, so it runs in `tree` too."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    where = subprocess.run([PY, "-c", "import monitor; print(monitor.__file__)"], cwd=tree,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(tree)):
        raise RuntimeError(f"the monitor from {tree} would import {where}")
    return env


def start_monitors(cfg: Path, tmp: Path, tree: Path, shards: int, tag: str):
    procs = []
    for k in range(1, shards + 1):
        port = free_port()
        log = tmp / f"monitor-{tag}-{k}.log"
        cmd = [PY, "-m", "monitor", "run", "-c", str(cfg), "--listen", f"127.0.0.1:{port}",
               "--log-level", "warning"]
        if shards > 1:
            cmd += ["--shard", f"{k}/{shards}"]
        procs.append((start(cmd, log, cpu=0, cwd=tree, env=monitor_env(tree)), port, log))
    return procs


def run_monitor(fleet, n: int, tmp: Path, window: float, interval: str, tree: Path = ROOT,
                tag: str = "current") -> dict:
    cfg = tmp / "bench.yml"
    write_monitor_config(fleet, cfg, interval)
    [(proc, port, log)] = start_monitors(cfg, tmp, tree, 1, tag)
    try:
        # ready = first round done; give it the first interval plus margin
        wait_ready(port, proc, log, 60 + n / 2000 + float(interval.rstrip("s")) * 2)
        time.sleep(3)
        quiet = asyncio.run(measure_monitor(port, proc.pid, window, None))
        scraped = asyncio.run(measure_monitor(port, proc.pid, window, 15.0))
        render = asyncio.run(measure_render(port, proc.pid))
        rss = rss_bytes(proc.pid)
    finally:
        stop(proc)
    return {"quiet": quiet, "scraped": scraped, **render, "rss_bytes": rss,
            "rss_per_camera_bytes": rss / n}


# ------------------------------------------------------------------ blackbox_exporter

BLACKBOX_CONFIG = """\
modules:
  rtsp_options:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - send: "OPTIONS * RTSP/1.0\\r\\nCSeq: 1\\r\\nUser-Agent: blackbox\\r\\n\\r\\n"
        - expect: "^RTSP/1.0 200"
"""


async def drive_blackbox(port: int, targets: list[str], rate: float, duration: float) -> dict:
    """GET /probe at `rate` per second, round-robin over targets, like Prometheus would."""
    sem = asyncio.Semaphore(2000)
    ok = failed = 0
    conn = aiohttp.TCPConnector(limit=2000)
    async with aiohttp.ClientSession(connector=conn) as s:
        async def one(target: str) -> None:
            nonlocal ok, failed
            async with sem:
                try:
                    async with s.get(f"http://127.0.0.1:{port}/probe",
                                     params={"module": "rtsp_options", "target": target}) as r:
                        body = await r.text()
                    if "probe_success 1" in body:
                        ok += 1
                    else:
                        failed += 1
                except Exception:  # noqa: BLE001 - counted
                    failed += 1

        tasks = set()
        t0 = time.monotonic()
        i = 0
        while (now := time.monotonic()) - t0 < duration:
            due = int((now - t0) * rate)
            while i < due:
                t = asyncio.create_task(one(targets[i % len(targets)]))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                i += 1
            await asyncio.sleep(0.01)
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        return {"sent": i, "ok": ok, "failed": failed, "elapsed": time.monotonic() - t0}


def run_blackbox(fleet, rate: float, tmp: Path, window: float) -> dict | None:
    if not BLACKBOX:
        return None
    cfg = tmp / "blackbox.yml"
    cfg.write_text(BLACKBOX_CONFIG)
    port = free_port()
    log = tmp / "blackbox.log"
    proc = start([BLACKBOX, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                  "--log.level=warn"], log, cpu=0)
    try:
        time.sleep(1.5)
        pin(os.getpid(), 1)
        targets = [f"{c.ip}:{c.rtsp_port}" for c in fleet.cameras]
        asyncio.run(drive_blackbox(port, targets, min(rate, 200), 3))  # warm up
        c0 = cpu_seconds(proc.pid)
        drv = asyncio.run(drive_blackbox(port, targets, rate, window))
        cpu = cpu_seconds(proc.pid) - c0
    finally:
        stop(proc)
        os.sched_setaffinity(os.getpid(), set(range(os.cpu_count() or 1)))
    done = drv["ok"] + drv["failed"]
    return {**drv, "probes_per_s": done / drv["elapsed"], "cpu_s": cpu,
            "cpu_ms_per_probe": 1000 * cpu / done if done else None}


# ------------------------------------------------------------------ the scheduling path alone

#: One process, no network: no-op probes for rtsp-only cameras, so the CPU per check is the
#: scheduling path itself (dispatch, probe task, run_probe's deadline, lag histogram,
#: State.record_result, the exporter's lines).  Far less noisy than the end-to-end figure on
#: a busy machine, and run for both revisions back to back.
PATH_SCRIPT = """
import asyncio, gc, json, sys, time
from monitor.model import (Camera, Endpoint, Inventory, MonitorSettings, Provider, Reason,
                           Result, StreamSettings)
from monitor.metrics.exporter import Exporter
from monitor.runtime.scheduler import Scheduler
from monitor.state import State
n, interval, window = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
cams = tuple(Camera(id=f"C{i:06d}", provider="p", rtsp=Endpoint(f"rtsp://127.0.0.1:{1024 + i % 60000}/x"),
                    checks=("rtsp",)) for i in range(n))
inv = Inventory(settings=MonitorSettings(interval=interval, timeout=1.0, retries=1,
                                         stream=StreamSettings(interval=0)),
                providers=(Provider("p"),), integrations=(), command_centres=(), cameras=cams)
async def ok(ep, ctx):
    return Result(Reason.OK)
async def main():
    st = State(inv)
    Exporter(st)
    sc = Scheduler(st, probe_lookup=lambda c: ok)
    lags = []
    sc._observe_lag = lags.append
    await sc.start()
    await asyncio.sleep(interval + 0.5)
    d0, c0, t0 = sc.dispatched, time.process_time(), time.monotonic()
    lags.clear()
    await asyncio.sleep(window)
    cpu, d, el = time.process_time() - c0, sc.dispatched - d0, time.monotonic() - t0
    await sc.stop()
    lags.sort()
    print(json.dumps({"checks_per_s": d / el, "us_per_check": 1e6 * cpu / d,
                      "core_share": cpu / el, "lag_p99": lags[int(0.99 * len(lags))]}))
gc.freeze()
asyncio.run(main())
"""


def run_path(trees: dict[str, Path], sizes: list[int], window: float, repeat: int = 2) -> list[dict]:
    rows = []
    for n in sizes:
        for i in range(repeat):  # interleaved: baseline, current, baseline, current
            for tag, tree in trees.items():
                out = subprocess.run([PY, "-c", PATH_SCRIPT, str(n), "30", str(window)], cwd=tree,
                                     env=monitor_env(tree), capture_output=True, text=True,
                                     timeout=120 + n / 1000 + window)
                if out.returncode:
                    raise RuntimeError(out.stderr[-2000:])
                row = {"cameras": n, "tree": tag, "run": i, **json.loads(out.stdout)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


# ------------------------------------------------------------------ the default Jakarta mix

#: The default mix built up one check at a time; CPU per check is the difference between
#: two consecutive steps (same simulator, same fleet, same run).  The last step is the
#: simulator's own configuration (`simulate --write-config`): default checks (rtsp, stream
#: every 5 min, http, snapshot) and the feeds at the smart-city and police integration points.
MIX_STEPS = (
    # (name, checks (None: the defaults), feeds, stream check on)
    ("rtsp", ["rtsp"], False, False),
    ("http", ["rtsp", "http"], False, False),
    ("snapshot", ["rtsp", "http", "snapshot"], False, False),
    ("feeds", ["rtsp", "http", "snapshot"], True, False),
    ("stream", None, True, True),
)
STREAM_INTERVAL = 300.0
ROUND = 30.0


def stream_concurrency(n: int) -> int:
    """Enough stream slots for n cameras every 5 min at 4 s each, twice over: the simulator's
    default (50) holds ~3,000 cameras; a bigger city must raise it (docs/configuration.md)."""
    return max(50, int(n / STREAM_INTERVAL * 5.0 * 2))


def write_mix_config(fleet, path: Path, checks: list[str] | None, feeds: bool, stream: bool) -> None:
    from monitor.simulator.fleet import write_config

    n = len(fleet.cameras)
    write_config(fleet, path, interval=f"{ROUND:.0f}s",
                 stream_interval=f"{STREAM_INTERVAL:.0f}s" if stream else "0",
                 stream_concurrency=stream_concurrency(n))
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("    feeds:") and not feeds:
            continue
        out.append(line)
        if checks is not None and line.startswith("    http: "):
            out.append(f"    checks: [{', '.join(checks)}]")
    path.write_text("\n".join(out) + "\n")


async def measure_many(ports_pids: list[tuple[int, int]], window: float) -> dict:
    """CPU (summed over the processes) and probe-start lag (merged) over one window."""
    async with aiohttp.ClientSession() as s:
        async def sums(port: int) -> dict:
            text, _ = await fetch(s, f"http://127.0.0.1:{port}/metrics")
            return scrape_sums(text.decode())

        before = [await sums(p) for p, _ in ports_pids]
        cpu0 = [cpu_seconds(pid) for _, pid in ports_pids]
        t0 = time.monotonic()
        await asyncio.sleep(window)
        elapsed = time.monotonic() - t0
        cpu = sum(cpu_seconds(pid) - c for (_, pid), c in zip(ports_pids, cpu0))
        after = [await sums(p) for p, _ in ports_pids]
        render_cpu = 0.0
        render_wall = 0.0
        for p, pid in ports_pids:
            c = cpu_seconds(pid)
            _, wall = await fetch(s, f"http://127.0.0.1:{p}/metrics", gz=True)
            render_cpu += cpu_seconds(pid) - c
            render_wall = max(render_wall, wall)

    def merged(rows: list[dict]) -> dict:
        out: dict[str, float] = {}
        for r in rows:
            for k, v in r.items():
                out[k] = out.get(k, 0.0) + v
        return out

    b, a = merged(before), merged(after)
    return {
        "elapsed": elapsed, "cpu_s": cpu,
        "probes": a.get("cctv_probes_total", 0) - b.get("cctv_probes_total", 0),
        "lag_p50": quantile(b, a, 0.5), "lag_p99": quantile(b, a, 0.99),
        "backlog_end": a.get("cctv_monitor_probes_backlog", 0.0),
        "skipped": a.get("cctv_monitor_probes_skipped_total", 0) - b.get("cctv_monitor_probes_skipped_total", 0),
        "render_gzip_cpu_s": render_cpu, "render_gzip_wall_s": render_wall,
    }


def run_mix_step(fleet, n: int, tmp: Path, window: float, step: tuple, tree: Path,
                 tag: str, shards: int = 1) -> dict:
    name, checks, feeds, stream = step
    cfg = tmp / f"mix-{name}.yml"
    write_mix_config(fleet, cfg, checks, feeds, stream)
    procs = start_monitors(cfg, tmp, tree, shards, f"{tag}-{name}")
    try:
        for proc, port, log in procs:
            wait_ready(port, proc, log, 90 + n / 2000)
        # the first round is bunched by the start (every check due at once on a cold
        # connection table): measure from the second round on
        time.sleep(max(3.0, ROUND - 20))
        m = asyncio.run(measure_many([(port, proc.pid) for proc, port, _ in procs], window))
        rss = sum(rss_bytes(proc.pid) for proc, _, _ in procs)
    finally:
        for proc, _, _ in procs:
            stop(proc)
    rounds = n * m["elapsed"] / ROUND
    # checks counted by cctv_probes_total per camera per round (feeds are not counted there)
    per_round = len(checks or ("rtsp", "http", "snapshot")) + (ROUND / STREAM_INTERVAL if stream else 0)
    done = m["probes"] / (rounds * per_round) if rounds else 0.0
    m.update(step=name, tree=tag, shards=shards, cameras=n, rss_bytes=rss,
             cpu_ms_per_camera_round=1000 * m["cpu_s"] / rounds,
             core_share=m["cpu_s"] / m["elapsed"],
             # a monitor that falls behind (a starved core) does less than a round's work:
             # the CPU of a full round is then the CPU spent over the share of checks done
             checks_done_share=done,
             cpu_ms_per_full_round=1000 * m["cpu_s"] / rounds / done if done else None)
    # cameras one core holds at 30 s: the CPU a camera costs per round, up to 85 % of the
    # core (the rest: scrapes, reloads, bursts); the measured lag p99 says whether the
    # measured load itself was held
    m["cameras_per_core_30s"] = int(0.85 * ROUND * 1000 / (m["cpu_ms_per_full_round"]
                                                            or m["cpu_ms_per_camera_round"]))
    print(json.dumps(m), flush=True)
    return m


def make_1080p_clip(tmp: Path) -> Path:
    """A city camera's 1080p H.264 (10 fps, a keyframe every 2 s, a moving scene with an
    OSD clock), ten seconds of it: the simulator loops it and serves its keyframes in turn
    (one encode, so they share the clip's parameter sets)."""
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
    out = tmp / "clip-1080p.h264"
    scene = (f"testsrc2=s=1920x1080:r=10,drawtext=fontfile={font}:"
             "text='2026-12-08 %{pts\\:hms}':fontsize=36:x=20:y=20:fontcolor=white")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", scene, "-frames:v", "100",
                    "-g", "20", "-bf", "0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28",
                    "-f", "h264", str(out)], check=True, capture_output=True, timeout=600)
    return out


def start_simulator(n: int, tmp: Path, clip: Path | None = None) -> subprocess.Popen:
    control = free_port()
    sim_log = tmp / "sim.log"
    # The simulator runs the same fleet, built by the same function in its own process.
    argv = [PY, "-c", SIM_SCRIPT, str(n), str(control)] + ([str(clip)] if clip else [])
    sim = start(argv, sim_log, cpu=1)
    wait_for_line(sim_log, r"READY", sim, timeout=60 + n / 500)
    for p in [sim.pid, *descendants(sim.pid)]:
        pin(p, 1)
    return sim


def baseline_tree(rev: str, tmp: Path) -> Path:
    """The monitor package of an older revision, to measure before and after in one run
    (REV may also name a directory holding that revision's ``monitor/``)."""
    if Path(rev, "monitor").is_dir():
        return Path(rev).resolve()
    dest = tmp / f"tree-{rev}"
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "monitor"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def mix_main(args, trees: dict[str, Path]) -> list[dict]:
    rows = []
    for n in [int(x) for x in args.mix_sizes.split(",") if x]:
        tmp = Path(tempfile.mkdtemp(prefix=f"cctv-mix-{n}-"))
        fleet = bench_fleet(n)
        clip = make_1080p_clip(tmp) if args.video == "1080p" else None
        sim = start_simulator(n, tmp, clip)
        try:
            for tag, tree in trees.items():
                steps = MIX_STEPS if tag == "current" else MIX_STEPS[-1:]
                if args.full_mix_only:
                    steps = MIX_STEPS[-1:]
                for step in steps:
                    rows.append(run_mix_step(fleet, n, tmp, args.window, step, tree, tag))
            for shards in [int(x) for x in args.shards.split(",") if x]:
                rows.append(run_mix_step(fleet, n, tmp, args.window, MIX_STEPS[-1], ROOT,
                                         "current", shards))
        finally:
            stop(sim)
            shutil.rmtree(tmp, ignore_errors=True)
    return rows


def print_mix(rows: list[dict]) -> None:
    print("\ncameras | revision | shards | mix up to | CPU-ms/camera/round | added by the step | "
          "checks done | lag p50 | lag p99 | core share | cameras/core at 30 s")
    prev: dict = {}
    for r in rows:
        key = (r["cameras"], r["tree"], r["shards"])
        step_ms = r.get("cpu_ms_per_full_round") or r["cpu_ms_per_camera_round"]
        added = step_ms - prev[key] if key in prev and r["step"] != "rtsp" else None
        prev[key] = step_ms

        def f(x, fmt="{:.3f}"):
            return "-" if x is None else fmt.format(x)

        print(" | ".join([
            str(r["cameras"]), r["tree"], str(r["shards"]), r["step"], f(step_ms),
            f(added), f(r.get("checks_done_share"), "{:.0%}"), f(r["lag_p50"]), f(r["lag_p99"]),
            f(r["core_share"], "{:.2f}"), str(r["cameras_per_core_30s"]),
        ]))


# ------------------------------------------------------------------ main

# Open cameras (no password): blackbox_exporter cannot answer a Digest challenge, so the
# comparison is OPTIONS (blackbox, one exchange) against OPTIONS + DESCRIBE (ours, two).
# Addresses on 127.150.x so that a running demo (127.100.x) does not collide.
SIM_SCRIPT = """
import sys
sys.path.insert(0, %r)
from tests.bench.bench_scale import bench_fleet
from monitor.simulator.server import run_fleet
n, control = int(sys.argv[1]), int(sys.argv[2])
if len(sys.argv) > 3:  # another clip (--video 1080p): the cameras serve it and its keyframes
    from pathlib import Path
    from monitor.simulator import media
    media.CLIP = media.load_clip(Path(sys.argv[3]))
    media.KEYFRAMES = media.load_keyframes(media.CLIP, Path(sys.argv[3]))
raise SystemExit(run_fleet(bench_fleet(n), ("127.0.0.1", control), log_level="warning"))
""" % str(ROOT)


def bench_fleet(n: int):
    from monitor.simulator.fleet import build_fleet

    # the base net main() picked free (the simulator process inherits it): another
    # simulator on this machine may serve the usual one
    fleet = build_fleet(cameras=n, seed=7, faults={},
                        base_net=int(os.environ.get("CCTV_SIM_BASE_NET", "150")))
    fleet.password = ""
    return fleet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,50000,100000")
    ap.add_argument("--window", type=float, default=45.0, help="seconds per measurement window")
    ap.add_argument("--interval", default="30s")
    ap.add_argument("--no-blackbox", action="store_true")
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also run the monitor of git revision REV, in the same run, for ratios")
    ap.add_argument("--mix-sizes", default="", metavar="N,N",
                    help="also run the default Jakarta check mix at these fleet sizes")
    ap.add_argument("--shards", default="2,4", help="shard counts for the mix (on one core)")
    ap.add_argument("--video", choices=("clip", "1080p"), default="clip",
                    help="what the simulated cameras stream: the simulator's own small clip, "
                         "or a 1080p H.264 clip made with ffmpeg (the picture check's cost)")
    ap.add_argument("--full-mix-only", action="store_true",
                    help="run only the full mix (no step-by-step breakdown)")
    ap.add_argument("--path-sizes", default="", metavar="N,N",
                    help="also measure the scheduling path alone (no-op probes, in-process)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if "CCTV_SIM_BASE_NET" not in os.environ:
        from tests.factories import free_base_net

        os.environ["CCTV_SIM_BASE_NET"] = str(free_base_net())
    work = Path(tempfile.mkdtemp(prefix="cctv-bench-trees-"))
    trees = {"current": ROOT}
    if args.baseline:
        trees = {"baseline": baseline_tree(args.baseline, work), "current": ROOT}
    rows = []
    for n in [int(x) for x in args.sizes.split(",") if x]:
        tmp = Path(tempfile.mkdtemp(prefix=f"cctv-bench-{n}-"))
        fleet = bench_fleet(n)
        sim = start_simulator(n, tmp)
        try:
            sim_cpu0 = tree_cpu_seconds(sim.pid)
            t0 = time.monotonic()
            mons = {tag: run_monitor(fleet, n, tmp, args.window, args.interval, tree, tag)
                    for tag, tree in trees.items()}
            sim_cpu = tree_cpu_seconds(sim.pid) - sim_cpu0
            sim_elapsed = time.monotonic() - t0
            mon = mons["current"]
            rate = mon["quiet"]["checks_per_s"]
            bb = None if args.no_blackbox else run_blackbox(fleet, rate, tmp, min(args.window, 30))
        finally:
            stop(sim)
        for tag, mon in mons.items():
            row = {"cameras": n, "revision": args.baseline if tag == "baseline" else "current",
                   "monitor": mon, "blackbox": bb, "simulator_cpu_share": sim_cpu / sim_elapsed}
            if bb and bb.get("cpu_ms_per_probe") and mon["quiet"]["cpu_ms_per_check"]:
                row["ratio_cpu_monitor_over_blackbox"] = mon["quiet"]["cpu_ms_per_check"] / bb["cpu_ms_per_probe"]
            if tag == "current" and "baseline" in mons and mons["baseline"]["quiet"]["cpu_ms_per_check"]:
                row["ratio_cpu_current_over_baseline"] = (
                    mon["quiet"]["cpu_ms_per_check"] / mons["baseline"]["quiet"]["cpu_ms_per_check"])
            rows.append(row)
            print(json.dumps(row, indent=1), flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    mix = mix_main(args, trees)
    path_rows = run_path(trees, [int(x) for x in args.path_sizes.split(",") if x], args.window)

    print()
    hdr = ("cameras", "revision", "checks/s", "CPU-ms/check", "blackbox CPU-ms/probe", "ratio", "lag p50", "lag p99",
           "p99 w/ scrapes", "render s (CPU)", "size MB", "gzip MB", "RSS/camera KB")
    print(" | ".join(hdr))
    for r in rows:
        m, q, s, b = r["monitor"], r["monitor"]["quiet"], r["monitor"]["scraped"], r["blackbox"] or {}

        def f(x, fmt="{:.3f}"):
            return "-" if x is None else fmt.format(x)

        print(" | ".join([
            str(r["cameras"]), r["revision"], f(q["checks_per_s"], "{:.0f}"), f(q["cpu_ms_per_check"]),
            f(b.get("cpu_ms_per_probe")), f(r.get("ratio_cpu_monitor_over_blackbox"), "{:.2f}"),
            f(q["lag_p50"]), f(q["lag_p99"]), f(s["lag_p99"]), f(m["render_plain_cpu_s"]),
            f(m["size_plain_bytes"] / 1e6, "{:.1f}"), f(m["size_gzip_bytes"] / 1e6, "{:.1f}"),
            f(m["rss_per_camera_bytes"] / 1024, "{:.1f}"),
        ]))
    if mix:
        print_mix(mix)
    if path_rows:
        print("\nscheduling path alone: cameras | revision | checks/s | CPU-us per check | lag p99")
        for r in path_rows:
            print(f"{r['cameras']} | {r['tree']} | {r['checks_per_s']:.0f} | "
                  f"{r['us_per_check']:.1f} | {r['lag_p99'] * 1000:.1f} ms")
    out = ROOT / "tests" / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"baseline": args.baseline, "rtsp": rows, "mix": mix,
                                "path": path_rows}, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
