"""The web server's limits: slow request heads and idle connections are closed, the
connection cap evicts idle clients (never a request in progress), a body over the limit is
refused, and a scrape still gets through a flood."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from monitor.web.server import ConnectionLimiter, GuardedSite, Limits


async def _serve(limits: Limits):
    registry = CollectorRegistry()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello\n")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "1")))
        return web.Response(text="slow\n")

    async def post(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(text=f"{len(body)}\n")

    app = web.Application(client_max_size=64 * 1024)
    limiter = ConnectionLimiter(lambda: None, limits, registry)  # type: ignore[arg-type,return-value]
    app.middlewares.insert(0, limiter.middleware)
    app.router.add_get("/", hello)
    app.router.add_get("/slow", slow)
    app.router.add_post("/post", post)
    # aiohttp's own keep-alive timer left at its default: the limiter is what is tested
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, limiter)
    await site.start()
    return runner, site.port, limiter, registry


async def _closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1024), within)
    except (asyncio.TimeoutError, ConnectionError):
        return False
    return data == b""


async def _get(port: int, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _count(registry, why: str) -> float:
    text = generate_latest(registry).decode()
    m = re.search(rf'cctv_monitor_web_connections_closed_total{{why="{why}"}} (\S+)', text)
    return float(m.group(1)) if m else 0.0


async def test_slowloris_connections_are_closed_and_service_goes_on():
    runner, port, limiter, registry = await _serve(Limits(header_timeout=1.0, idle_timeout=30.0))
    conns = []
    try:
        for _ in range(100):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the end of the head
            conns.append((reader, writer))

        async def drip(writer):
            for i in range(4):
                await asyncio.sleep(0.5)
                if writer.is_closing():
                    return
                try:
                    writer.write(f"X-Slow-{i}: a\r\n".encode())
                except ConnectionError:
                    return

        drips = [asyncio.create_task(drip(w)) for _r, w in conns]
        assert (await _get(port)).endswith(b"hello\n")
        closed = await asyncio.gather(*(_closed(r, 5.0) for r, _w in conns))
        assert all(closed), f"{closed.count(False)} slow connections still open"
        await asyncio.gather(*drips, return_exceptions=True)
        assert _count(registry, "header_timeout") == 100
        assert len(limiter.conns) == 0
    finally:
        for _r, w in conns:
            w.close()
        await runner.cleanup()


async def test_idle_connections_are_closed():
    runner, port, limiter, registry = await _serve(Limits(idle_timeout=1.0))
    try:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        # a kept-alive connection after a request is idle too
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"hello" in await asyncio.wait_for(reader.read(1024), 5)
        idle.append((reader, writer))
        closed = await asyncio.gather(*(_closed(r, 5.0) for r, _w in idle))
        assert all(closed)
        assert _count(registry, "idle_timeout") == 21
        for _r, w in idle:
            w.close()
    finally:
        await runner.cleanup()


async def test_the_cap_evicts_idle_connections_never_a_request_in_progress():
    runner, port, limiter, registry = await _serve(Limits(max_connections=10, idle_timeout=60))
    try:
        busy = asyncio.create_task(_get(port, "/slow?s=1.5"))
        await asyncio.sleep(0.3)
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(50)]
        await asyncio.sleep(0.2)
        assert len(limiter.conns) <= 10
        # a scrape gets through the flood, and the request in progress finished
        assert (await _get(port)).endswith(b"hello\n")
        assert (await busy).endswith(b"slow\n")
        assert _count(registry, "over_cap") >= 41
        for _r, w in idle:
            w.close()
    finally:
        await runner.cleanup()


async def test_a_body_over_the_limit_is_refused():
    runner, port, limiter, registry = await _serve(Limits())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b"x" * (1 << 20)
        writer.write(b"POST /post HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        data = await asyncio.wait_for(reader.read(), 10)
        assert data.startswith(b"HTTP/1.1 413"), data[:100]
        writer.close()
    finally:
        await runner.cleanup()
