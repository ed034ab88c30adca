#!/usr/bin/env python
"""CPU cost of one onvif check (not collected by pytest).

    .venv/bin/python tests/bench/bench_onvif.py [--n 200]

Serves one simulated camera's ONVIF device service (monitor.simulator) in this process and
runs the real onvif check (onvif-zeep-async: GetSystemDateAndTime, then
GetDeviceInformation with a WS-UsernameToken digest) N times after one warm-up (the WSDL
parse).  time.process_time() covers both ends, the simulator's SOAP answers included, so
the monitor's own share is below the figure.  Baseline in the same run: the http check
against the same camera's snapshot URL.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(n: int) -> None:
    from monitor import config
    from monitor.probes import get_probe, run_probe
    from monitor.simulator import fleet as simfleet
    from monitor.simulator.server import serve

    cam = simfleet.SimCamera(id="B-1", name="bench", provider="p", city="c", district="d",
                             zone="z", lat=0.0, lon=0.0, ip="127.0.0.1", rtsp_port=_port(),
                             http_port=_port())
    fleet = simfleet.SimFleet(cameras=[cam], providers=[simfleet.SimProvider("p", 1, 0.9)],
                              integrations=[], password="bench-pass", seed=1, slow_delay=0.5,
                              flap_period=3600.0)
    path = Path(tempfile.mkdtemp()) / "bench.yml"
    simfleet.write_config(fleet, path)
    camera = config.load(path).cameras[0]
    ready = asyncio.Event()
    task = asyncio.create_task(serve(fleet, control=("127.0.0.1", _port()), ready=ready))
    await ready.wait()
    try:
        results = {}
        for check, endpoint in (("http", camera.http), ("onvif", camera.onvif)):
            fn = get_probe(check)
            first = await run_probe(fn, endpoint, 10.0)  # warm-up: imports, WSDL
            assert first.ok, (check, first.message)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(n):
                r = await run_probe(fn, endpoint, 5.0)
                assert r.ok, r.message
            results[check] = ((time.process_time() - cpu) / n * 1000,
                              (time.perf_counter() - wall) / n * 1000)
        for check, (cpu_ms, wall_ms) in results.items():
            print(f"{check:>6}: {cpu_ms:6.2f} CPU-ms per check (both ends), {wall_ms:6.2f} ms wall")
        ratio = results["onvif"][0] / results["http"][0]
        per_core = 3600 * 1000 / results["onvif"][0]
        print(f"onvif / http: {ratio:.1f}x; one core: {per_core:,.0f} onvif checks an hour")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    asyncio.run(main(parser.parse_args().n))
