"""Soak: at least a million probes over a mixed simulated fleet, with the daemon's open
descriptors and resident memory sampled all along.

    .venv/bin/python tests/bench/bench_soak.py                      # 2,000 cameras, 1,000,000 probes
    .venv/bin/python tests/bench/bench_soak.py --cameras 1000 --probes 200000

The simulator serves the default fault mix (down, tarpit, slow, flapping, auth, 404, 503,
garbage, frozen, black, no keyframe, stall, ...), so every error path of every probe runs
many times.  Every SAMPLE seconds: probes done so far (the sum of cctv_probes_total), open
descriptors (/proc/PID/fd) and RSS (/proc/PID/status).  "Flat" compares the second half of
the run with the first: descriptors within 10 % and RSS growth under 10 % once warmed up
(the first 10 % of the probes are the warm-up: caches, pools, heap).  Bounded by --max-minutes.
Results: printed and saved as tests/bench/results/soak-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = 10.0
BASE_NET = 170


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) if m else 0


def probes_done(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(r"^cctv_probes_total\{[^}]*\} (\S+)$", text, re.M))


def _stop(_signum, _frame):
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)  # stopped early: still clean up and report
    p = argparse.ArgumentParser()
    p.add_argument("--cameras", type=int, default=2000)
    p.add_argument("--probes", type=int, default=1_000_000)
    p.add_argument("--interval", default="5s")
    p.add_argument("--max-minutes", type=float, default=40.0)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from monitor.simulator.fleet import build_fleet, write_config

    tmp = Path(tempfile.mkdtemp(prefix="cctv-soak-"))
    fleet = build_fleet(cameras=args.cameras, seed=4, base_net=BASE_NET)
    config = tmp / "soak.yml"
    write_config(fleet, config, interval=args.interval, timeout="3s", stream_interval="30s",
                 stream_duration="2s", stream_concurrency=50)
    # tarpit and slow cameras hold a slot for the whole timeout: room for them and the rest
    config.write_text(config.read_text().replace("monitor:\n", "monitor:\n  concurrency: 1000\n", 1))
    env = {**os.environ, "CCTV_SIM_BASE_NET": str(BASE_NET), "PYTHONPATH": str(ROOT)}
    sim = subprocess.Popen(
        [sys.executable, "-m", "monitor", "simulate", "--cameras", str(args.cameras), "--seed", "4",
         "--control", f"127.0.0.1:{free_port()}", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    port = free_port()
    mon = None
    samples = []
    try:
        assert sim.stdout.readline().startswith(b"READY")
        mon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), "--listen",
             f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "monitor.log", "wb"),
            start_new_session=True)
        start = time.monotonic()
        time.sleep(5)
        while time.monotonic() - start < args.max_minutes * 60:
            assert mon.poll() is None, "monitor died"
            done = probes_done(port)
            sample = {"t": round(time.monotonic() - start, 1), "probes": int(done),
                      "fds": len(os.listdir(f"/proc/{mon.pid}/fd")), "rss_kib": rss_kib(mon.pid)}
            samples.append(sample)
            print(json.dumps(sample), flush=True)
            if done >= args.probes:
                break
            time.sleep(SAMPLE)
    except KeyboardInterrupt:
        print("stopped early", flush=True)
    finally:
        for proc in (mon, sim):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
    warm = [s for s in samples if s["probes"] >= 0.1 * samples[-1]["probes"]]
    half = len(warm) // 2
    first, second = warm[:half] or warm, warm[half:] or warm

    def avg(rows, key):
        return sum(r[key] for r in rows) / len(rows)

    fd_ratio = avg(second, "fds") / max(1.0, avg(first, "fds"))
    rss_ratio = avg(second, "rss_kib") / max(1.0, avg(first, "rss_kib"))
    result = {
        "cameras": args.cameras, "interval": args.interval, "probes": samples[-1]["probes"],
        "minutes": round(samples[-1]["t"] / 60, 1),
        "fds": {"min": min(s["fds"] for s in warm), "max": max(s["fds"] for s in warm),
                "first_half_avg": round(avg(first, "fds")), "second_half_avg": round(avg(second, "fds"))},
        "rss_mib": {"min": round(min(s["rss_kib"] for s in warm) / 1024, 1),
                    "max": round(max(s["rss_kib"] for s in warm) / 1024, 1),
                    "first_half_avg": round(avg(first, "rss_kib") / 1024, 1),
                    "second_half_avg": round(avg(second, "rss_kib") / 1024, 1)},
        "flat": bool(0.9 <= fd_ratio <= 1.1 and rss_ratio < 1.1),
        "samples": samples,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    results = ROOT / "tests" / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
