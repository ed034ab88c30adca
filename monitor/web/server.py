"""The listening side of the web endpoints: connection limits in front of aiohttp.

aiohttp has an idle keep-alive timer but no bound on how long a client may take to send a
request head, and no cap on connections: a thousand slowloris clients, or a few thousand
idle ones, would each hold a descriptor the probes need.  ``GuardedSite`` serves the same
aiohttp application through a thin protocol wrapper that

- closes a connection whose request head is not complete ``header_timeout`` seconds after
  its first byte (slowloris), and one idle for ``idle_timeout`` seconds between requests
  (or before the first);
- caps open connections at ``max_connections`` (counted in the descriptor budget of
  ``monitor.resources``): a new connection over the cap evicts the oldest one that is not
  serving a request, so that a flood of idle clients never locks Prometheus out; a request
  still waiting for its credentials to be checked (``monitor.web.auth``) counts as not
  serving: once the idle ones are gone, the oldest of those goes, so verified clients keep
  a reserve that a wrong-password flood cannot fill;
- aborts a response still being written after ``response_timeout`` (a client that never
  reads a 100 MB exposition);
- bounds the TLS handshake (``ssl_handshake_timeout``).

Request bodies are capped by the application (``client_max_size``).  Closures are counted in
``cctv_monitor_web_connections_closed_total{why}``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

log = logging.getLogger("cctv.web")


class _ClientFault(logging.Filter):
    """Drops aiohttp's "Error handling request" records of a client's own fault (a
    malformed request, a client gone mid-answer): any client could otherwise write a
    traceback into the log per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, (HttpProcessingError, ConnectionError))


#: The logger to hand aiohttp's request handlers (web.AppRunner(..., logger=PROTOCOL_LOG)).
PROTOCOL_LOG = logging.getLogger("cctv.web.protocol")
PROTOCOL_LOG.addFilter(_ClientFault())


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    response_timeout: float = 120.0
    max_connections: int = 128
    handshake_timeout: float = 10.0


class _Conn(asyncio.Protocol):
    """Delegates to aiohttp's RequestHandler; records what the limiter needs."""

    __slots__ = ("inner", "limiter", "transport", "busy", "busy_since", "pending_since",
                 "idle_since", "opened", "auth_wait")

    def __init__(self, inner: asyncio.Protocol, limiter: "ConnectionLimiter") -> None:
        self.inner = inner
        self.limiter = limiter
        self.transport: asyncio.BaseTransport | None = None
        self.busy = 0
        self.busy_since = 0.0
        self.pending_since: float | None = None  # first byte of a request not yet handled
        self.idle_since = 0.0
        self.opened = 0.0
        self.auth_wait = 0  # requests of this connection waiting for a credentials check

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.opened = self.idle_since = self.limiter.now()
        self.limiter.opened(self)
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.limiter.closed(self)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.busy and self.pending_since is None:
            self.pending_since = self.limiter.now()
        self.inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionLimiter:
    """The open connections, their timers (one sweep a second) and the cap."""

    SWEEP = 1.0

    def __init__(self, factory: Callable[[], asyncio.Protocol], limits: Limits,
                 registry: Any = None) -> None:
        from prometheus_client import Counter, Gauge

        self.factory = factory
        self.limits = limits
        self.conns: dict[asyncio.BaseTransport, _Conn] = {}  # insertion order = age
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self.closed_total = Counter(
            "cctv_monitor_web_connections_closed",
            "Web connections closed by the monitor's limits, by why.",
            ["why"], registry=registry)
        for why in ("header_timeout", "idle_timeout", "response_timeout", "over_cap"):
            self.closed_total.labels(why)
        gauge = Gauge("cctv_monitor_web_connections", "Open web connections.", registry=registry)
        gauge.set_function(lambda: len(self.conns))

    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def protocol(self) -> asyncio.Protocol:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._sweeper = self._loop.call_later(self.SWEEP, self._sweep)
        return _Conn(self.factory(), self)

    def opened(self, conn: _Conn) -> None:
        assert conn.transport is not None
        if len(self.conns) >= self.limits.max_connections:
            victim = next((c for c in self.conns.values() if not c.busy), None)
            if victim is None:
                victim = next((c for c in self.conns.values() if c.auth_wait), None)
            if victim is None:  # every connection is serving a request: refuse the new one
                self.closed_total.labels("over_cap").inc()
                conn.transport.abort()
                return
            self._close(victim, "over_cap")
        self.conns[conn.transport] = conn

    def closed(self, conn: _Conn) -> None:
        if conn.transport is not None:
            self.conns.pop(conn.transport, None)

    def waiting(self, request: web.Request, on: bool) -> None:
        """The request is (on) or no longer (off) waiting for its credentials' check."""
        conn = self.conns.get(request.transport) if request.transport is not None else None
        if conn is not None:
            conn.auth_wait += 1 if on else -1

    def _close(self, conn: _Conn, why: str) -> None:
        self.closed_total.labels(why).inc()
        if conn.transport is not None:
            self.conns.pop(conn.transport, None)
            conn.transport.abort()  # an RST: no FIN_WAIT/TIME_WAIT held for a hostile client

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        lim = self.limits
        for conn in list(self.conns.values()):
            if conn.busy:
                if now - conn.busy_since > lim.response_timeout:
                    self._close(conn, "response_timeout")
            elif conn.pending_since is not None:
                if now - conn.pending_since > lim.header_timeout:
                    self._close(conn, "header_timeout")
            elif now - conn.idle_since > lim.idle_timeout:
                self._close(conn, "idle_timeout")
        self._sweeper = loop.call_later(self.SWEEP, self._sweep)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        conn = self.conns.get(request.transport) if request.transport is not None else None
        if conn is None:
            return await handler(request)
        conn.busy += 1
        conn.busy_since = self.now()
        conn.pending_since = None
        try:
            return await handler(request)
        finally:
            conn.busy -= 1
            conn.idle_since = self.now()


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections go through a ConnectionLimiter.  With start_serving=False
    start() only binds (a port in use fails before anything else starts) and serve() accepts."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int,
                 limiter: ConnectionLimiter, start_serving: bool = True, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.limiter = limiter
        self.start_serving = start_serving

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self.limiter.factory = server
        kwargs: dict[str, Any] = {}
        if self._ssl_context is not None:
            kwargs["ssl_handshake_timeout"] = self.limiter.limits.handshake_timeout
        self._server = await loop.create_server(
            self.limiter.protocol, self._host, self._port, ssl=self._ssl_context,
            backlog=self._backlog, reuse_address=self._reuse_address,
            reuse_port=self._reuse_port, start_serving=self.start_serving, **kwargs)
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]

    async def serve(self) -> None:
        """Accept connections on the socket start() bound."""
        assert self._server is not None
        await self._server.start_serving()

    async def stop(self) -> None:
        self.limiter.stop()
        await super().stop()
