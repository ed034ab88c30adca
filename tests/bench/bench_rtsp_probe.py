"""Benchmark: CPU per rtsp check (OPTIONS + DESCRIBE on one connection).

    .venv/bin/python tests/bench/bench_rtsp_probe.py [-n 20000] [-c 200] [--loop uvloop]
        [--auth none|basic|digest-md5|digest-sha256]

The fake camera (tests/rtsp_fakes.py) runs in a separate process, so that
``time.process_time()`` here counts the monitor's side only: connect, two exchanges, the SDP
and SPS parse, run_probe's deadline, close.  Prints CPU-ms per check and checks/s, both
wall-clock and as one core's CPU budget allows (the goal: ~3,333 rtsp checks/s on a core,
i.e. 0.3 CPU-ms per check at most, aiming well under 0.2).  ``--client streams`` runs the
same exchange written on asyncio streams, to check the Protocol-based design against the
obvious alternative.  Not collected by pytest (tests/bench is excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from monitor.model import Reason, Result, split_credentials  # noqa: E402
from monitor.probes import get_probe, run_probe  # noqa: E402
from tests.rtsp_fakes import PASSWORD, PASSWORD_USER, FakeRtspServer  # noqa: E402


def _serve(auth: str | None, conn) -> None:
    import uvloop

    async def main() -> None:
        server = await FakeRtspServer(auth=auth).start()
        conn.send(server.port)
        await asyncio.Event().wait()

    uvloop.run(main())


async def _streams_probe(endpoint, ctx):
    """The same OPTIONS + DESCRIBE written on asyncio streams (StreamReader.readuntil /
    readexactly), with the same header parser and SDP parse: the comparison behind the
    client's Protocol-based design."""
    from monitor.probes import sdp as sdp_mod
    from monitor.probes.rtsp_client import _Protocol

    parser = _Protocol.__new__(_Protocol)
    parser.max_body = 64 * 1024
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port, limit=ctx.max_header_bytes)
    try:
        body = b""
        for cseq, method in ((1, "OPTIONS"), (2, "DESCRIBE")):
            writer.write(f"{method} {endpoint.url} RTSP/1.0\r\nCSeq: {cseq}\r\n"
                         f"User-Agent: {ctx.user_agent}\r\nAccept: application/sdp\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            _, resp, length = parser._parse_head(head[:-4], len(head))
            body = await reader.readexactly(length) if length else b""
            if resp is None or resp.status != 200:
                raise ValueError("not 200")
        sdp = sdp_mod.parse(body.decode())
        return Result(Reason.OK if sdp.video else Reason.NO_VIDEO)
    finally:
        writer.transport.abort()


async def _bench(url: str, n: int, concurrency: int, timeout: float,
                 client: str = "protocol") -> tuple[float, float, dict]:
    probe = get_probe("rtsp") if client == "protocol" else _streams_probe
    endpoint = split_credentials(url)
    reasons: dict[str, int] = {}
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            result = await run_probe(probe, endpoint, timeout)
            reasons[result.reason.value] = reasons.get(result.reason.value, 0) + 1

    # warm-up: imports, SSL-free code paths, the loop's first connections
    await asyncio.gather(*(one() for _ in range(min(200, n))))
    reasons.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.process_time() - cpu0, time.perf_counter() - wall0, reasons


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20000, help="checks to run")
    ap.add_argument("-c", type=int, default=200, help="checks in flight")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--auth", default="none", choices=["none", "basic", "digest-md5", "digest-sha256"])
    ap.add_argument("--client", default="protocol", choices=["protocol", "streams"],
                    help="streams: the same exchange on asyncio streams, for comparison (no auth)")
    args = ap.parse_args()
    auth = None if args.auth == "none" else args.auth

    parent, child = mp.Pipe()
    server = mp.Process(target=_serve, args=(auth, child), daemon=True)
    server.start()
    try:
        port = parent.recv()
        url = f"rtsp://127.0.0.1:{port}/live"
        if auth:
            url = f"rtsp://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{port}/live"
        coro = _bench(url, args.n, args.c, 5.0, args.client)
        if args.loop == "uvloop":
            import uvloop

            cpu, wall, reasons = uvloop.run(coro)
        else:
            cpu, wall, reasons = asyncio.run(coro)
    finally:
        server.kill()
        server.join(5)
    ok = reasons.get(Reason.OK.value, 0)
    print(f"client={args.client} loop={args.loop} auth={args.auth} checks={args.n} in-flight={args.c}")
    print(f"reasons: {reasons}")
    print(f"CPU per check: {cpu / args.n * 1000:.3f} ms  (client process only)")
    print(f"checks/s: {args.n / wall:.0f} wall-clock (bounded by the fake camera's process), "
          f"{args.n / cpu:.0f} per CPU-second of the monitor")
    if ok != args.n:
        sys.exit(1)


if __name__ == "__main__":
    main()
