"""What the fleet simulator costs: startup, memory, idle CPU, and CPU per request.

    .venv/bin/python tests/bench/bench_simulator.py                      # 10k and 50k cameras
    .venv/bin/python tests/bench/bench_simulator.py --sizes 10000 --load 10

For each fleet size it starts the simulator (`run_fleet`, the body of `cctv-monitor simulate`,
with a fault-free fleet on 127.150.0.0 and up) pinned to CPU 1 and

1. times the start until the READY line, then reads the RSS and open descriptors of the
   simulator and its workers;
2. measures idle CPU over `--idle` seconds;
3. runs a client on CPU 0 that opens a new connection to a random camera per probe and
   closes it after: OPTIONS only, first as fast as `--concurrency` connections allow, then
   paced at `--rate` per second (default: 50,000 cameras every 30 s); then, paced, the
   monitor's rtsp check exchange (OPTIONS, DESCRIBE, 401, DESCRIBE with Digest) and its
   http check (GET, 401, GET with Digest, the JPEG).  CPU comes from /proc (utime + stime
   of the simulator's process tree), so the client's cost is not counted.

Numbers are for this machine and noisy; compare ratios between runs, not seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


BASE_NET = 150
HTTP_OFFSET = 8080 - 8554  # the fleet's HTTP port relative to its RTSP port
# `cctv-monitor simulate` with the fleet on BASE_NET: the same code path after the fleet is built.
RUNNER = f"""
import logging, sys
from monitor.simulator.fleet import build_fleet
from monitor.simulator.server import run_fleet
logging.basicConfig(level=logging.WARNING)
fleet = build_fleet(cameras=int(sys.argv[1]), seed=7, faults={{}}, base_net={BASE_NET})
raise SystemExit(run_fleet(fleet, ("127.0.0.1", int(sys.argv[2])), None, "warning"))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int(Path(d, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d.name))
                out += children(int(d.name))
    return out


def tree(pid: int) -> list[int]:
    return [pid, *children(pid)]


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
        except (OSError, IndexError):
            pass
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError):
            pass
    return total / 2**20


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def exchange(loop, sock, request: str) -> bytes:
    await loop.sock_sendall(sock, request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await loop.sock_recv(sock, 8192)
        if not chunk:
            break
        data += chunk
    return data


def digest(answer: str, method: str, uri: str, username: str, password: str) -> str:
    """Answer the MD5 Digest challenge of a 401 (every simulated camera offers MD5)."""
    import hashlib

    ch = [line for line in answer.split("\r\n") if line.startswith("WWW-Authenticate: Digest")
          and "algorithm=MD5" in line]
    if not ch:  # a Basic-only camera
        import base64

        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', ch[0].split("Digest", 1)[1]))

    def h(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1, ha2 = h(f"{username}:{params['realm']}:{password}"), h(f"{method}:{uri}")
    resp = h(f"{ha1}:{params['nonce']}:00000001:abcdef:auth:{ha2}")
    return (f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{uri}", response="{resp}", algorithm=MD5, qop=auth, nc=00000001, cnonce="abcdef"')


async def options_client(targets: list[tuple[str, int]], seconds: float, concurrency: int,
                         rate: float | None, mode: str = "options", username: str = "",
                         password: str = "") -> dict:
    """Connection per probe: connect, OPTIONS (and in "describe" mode DESCRIBE, 401,
    DESCRIBE with Digest, as the monitor's rtsp check does; in "snapshot" mode the http
    check's GET, 401, GET with Digest and the JPEG instead), read the answers, close."""
    loop = asyncio.get_running_loop()
    done = failed = 0
    end = loop.time() + seconds
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def one(ip: str, port: int) -> None:
        nonlocal done, failed
        t0 = time.perf_counter()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            if mode == "snapshot":  # the http check: GET, 401, GET with Digest, the JPEG
                port += HTTP_OFFSET
                await loop.sock_connect(sock, (ip, port))
                path = "/ISAPI/Streaming/channels/101/picture"
                req = f"GET {path} HTTP/1.1\r\nHost: {ip}\r\n"
                data = await exchange(loop, sock, req + "\r\n")
                auth = digest(data.decode("latin-1"), "GET", path, username, password)
                data = await exchange(loop, sock, req + f"Authorization: {auth}\r\n\r\n")
                head, _, body = data.partition(b"\r\n\r\n")
                size = int(re.search(rb"Content-Length: (\d+)", head).group(1)) if head.startswith(b"HTTP/1.1 200") else 0
                while len(body) < size:
                    chunk = await loop.sock_recv(sock, 65536)
                    if not chunk:
                        break
                    body += chunk
                if size and len(body) == size:
                    done += 1
                    latencies.append(time.perf_counter() - t0)
                else:
                    failed += 1
                return
            await loop.sock_connect(sock, (ip, port))
            url = f"rtsp://{ip}:{port}/Streaming/Channels/101"
            data = await exchange(loop, sock, f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: bench\r\n\r\n")
            if mode == "describe" and data.startswith(b"RTSP/1.0 200"):
                # What the monitor's rtsp check does next: DESCRIBE, 401, DESCRIBE with Digest.
                data = await exchange(loop, sock, f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\n"
                                                  f"Accept: application/sdp\r\n\r\n")
                auth = digest(data.decode("latin-1"), "DESCRIBE", url, username, password)
                data = await exchange(loop, sock, f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 3\r\n"
                                                  f"Accept: application/sdp\r\nAuthorization: {auth}\r\n\r\n")
                if data.startswith(b"RTSP/1.0 200") and b"m=video" not in data:
                    data += await loop.sock_recv(sock, 4096)
                data = data if b"m=video" in data else b""
            if data.startswith(b"RTSP/1.0 200"):
                done += 1
                latencies.append(time.perf_counter() - t0)
            else:
                failed += 1
        except OSError as exc:
            failed += 1
            errors[exc.__class__.__name__] = errors.get(exc.__class__.__name__, 0) + 1
        finally:
            sock.close()

    if rate is None:
        async def worker() -> None:
            while loop.time() < end:
                await one(*random.choice(targets))

        t0 = loop.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    else:
        sem = asyncio.Semaphore(concurrency)
        tasks = set()
        t0 = loop.time()
        n = 0
        while loop.time() < end:
            due = t0 + n / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            await sem.acquire()
            task = asyncio.create_task(one(*random.choice(targets)))
            task.add_done_callback(lambda _t: sem.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
    elapsed = loop.time() - t0
    latencies.sort()
    p = (lambda q: latencies[int(q * (len(latencies) - 1))] if latencies else None)
    return {"ok": done, "failed": failed, "errors": errors, "elapsed": elapsed, "per_s": done / elapsed,
            "latency_p50_ms": p(0.5) and 1000 * p(0.5), "latency_p99_ms": p(0.99) and 1000 * p(0.99)}


def run_load(pid: int, targets, seconds, concurrency, rate, mode="options", fleet=None) -> dict:
    import uvloop

    pids = tree(pid)
    c0, t0 = cpu_seconds(pids), time.monotonic()
    result = uvloop.run(options_client(targets, seconds, concurrency, rate, mode,
                                       fleet.username if fleet else "", fleet.password if fleet else ""))
    cpu, wall = cpu_seconds(pids) - c0, time.monotonic() - t0
    result.update({"sim_cpu_s": cpu, "sim_cpu_share": cpu / wall,
                   "sim_cpu_ms_per_request": 1000 * cpu / result["ok"] if result["ok"] else None})
    return result


def bench(n: int, args) -> dict:
    sys.path.insert(0, str(ROOT))
    from monitor.simulator.fleet import build_fleet

    # Its own addresses (127.150.0.0 up), so that a demo or test running on this machine with
    # the default fleet (127.100.0.0 up) does not collide with it.
    fleet = build_fleet(cameras=n, seed=7, faults={}, base_net=BASE_NET)
    targets = [(c.ip, c.rtsp_port) for c in fleet.cameras]
    control = free_port()
    log = Path(f"/tmp/bench-sim-{n}.log")
    os.sched_setaffinity(0, {0})
    t0 = time.monotonic()
    # taskset pins the simulator (and the workers it forks) to the other core from its exec
    # on, without a Python pre-exec function (unsafe between fork and exec with threads)
    proc = subprocess.Popen(
        ["taskset", "--cpu-list", "1", PY, "-c", RUNNER, str(n), str(control)],
        stdout=subprocess.PIPE, stderr=open(log, "wb"), cwd=ROOT, start_new_session=True)
    try:
        line = proc.stdout.readline().decode()  # type: ignore[union-attr]
        startup = time.monotonic() - t0
        if not line.startswith("READY"):
            raise RuntimeError(f"simulator did not start: {line!r} {log.read_text()[-2000:]}")
        pids = tree(proc.pid)
        time.sleep(3)
        row: dict = {"cameras": n, "startup_s": round(startup, 2), "processes": len(pids),
                     "rss_mb": round(rss_mb(pids), 1),
                     "rss_kb_per_camera": round(1024 * rss_mb(pids) / n, 2),
                     "fds_max_process": max(fds(p) for p in pids)}
        c0 = cpu_seconds(pids)
        time.sleep(args.idle)
        row["idle_cpu_share"] = round((cpu_seconds(pids) - c0) / args.idle, 4)
        row["max"] = run_load(proc.pid, targets, args.load, args.concurrency, None)
        row["paced"] = run_load(proc.pid, targets, args.load, args.concurrency, args.rate)
        row["paced_describe"] = run_load(proc.pid, targets, args.load, args.concurrency, args.rate,
                                         "describe", fleet)
        row["paced_snapshot"] = run_load(proc.pid, targets, args.load, args.concurrency, args.rate,
                                         "snapshot", fleet)
        return row
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    ap.add_argument("--load", type=float, default=10.0, help="seconds per load window")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rate", type=float, default=50000 / 30, help="paced requests per second")
    args = ap.parse_args()
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        row = bench(n, args)
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    print()
    print("cameras | start s | procs | RSS MB | KB/camera | idle CPU | max OPTIONS/s | CPU-ms/req "
          "| paced/s | CPU share paced | p99 ms paced | CPU-ms/rtsp check | CPU share rtsp checks "
          "| CPU-ms/http check | CPU share http checks")
    for r in rows:
        m, p, d, h = r["max"], r["paced"], r["paced_describe"], r["paced_snapshot"]
        print(f"{r['cameras']} | {r['startup_s']} | {r['processes']} | {r['rss_mb']} | "
              f"{r['rss_kb_per_camera']} | {r['idle_cpu_share']:.3f} | {m['per_s']:.0f} | "
              f"{m['sim_cpu_ms_per_request']:.3f} | {p['per_s']:.0f} | {p['sim_cpu_share']:.3f} | "
              f"{p['latency_p99_ms']:.1f} | {d['sim_cpu_ms_per_request']:.3f} | {d['sim_cpu_share']:.3f} | "
              f"{h['sim_cpu_ms_per_request']:.3f} | {h['sim_cpu_share']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
