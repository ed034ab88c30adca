"""Basic authentication that a wrong-password flood cannot turn against Prometheus, and the
security headers of every answer.

Checking a bcrypt hash costs tens of milliseconds of CPU by design.  200 clients sending
wrong passwords used to keep every connection slot waiting for bcrypt, so Prometheus's
connections were refused.  As in the exporter toolkit's web handler, and with a reserve:

- a verdict is remembered per (user, hash, password), keyed by an HMAC of the three under a
  per-process random key (never the password itself): a success for ``OK_SECONDS`` after its
  last use, a failure for ``FAIL_SECONDS``; a verified client costs no bcrypt at all;
- bcrypt runs on its own small pool of daemon threads (``workers``, default one comparison at
  a time), never the default executor that gzip ``/metrics``, reloads and reports share, and
  shutdown never waits for it;
- comparisons not yet decided, and requests waiting for one, are each capped
  (``max_waiting``): a request over a cap, or over the optional token bucket (``rate_limit``
  of the web config file), is answered 429 at once and its connection closed; a connection
  waiting for a verdict is marked so that the connection cap evicts it before any
  connection serving a verified request;
- an unknown user is compared against a fixed hash of the same cost, so the time of the
  answer does not tell which user names exist.

The refusals are counted in ``cctv_monitor_web_auth_total{result}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from aiohttp import web

#: Answered on every page unless the web config file's http_server_config.headers says
#: otherwise.  The pages are self-contained: inline styles and inline SVG, no script, no
#: frame, no form posting elsewhere.
DEFAULT_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; "
                                "img-src 'self' data:; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
SERVER = "cctv-monitor"  # no version: it only helps an attacker pick an exploit
#: request[USER]: the user name whose password was verified (monitor.web.access's principal).
USER = web.RequestKey("user", str)


def install_headers(app: web.Application, configured: dict[str, str] | None = None) -> None:
    """Every answer (errors, 401 and 429 included) carries the security headers and a
    Server header without a version."""
    headers = {**DEFAULT_HEADERS, **(configured or {})}
    # aiohttp answers a malformed request itself, before any application hook runs, with
    # this default Server header (its version and Python's): make that one versionless too
    from aiohttp import web_response

    web_response.SERVER_SOFTWARE = SERVER

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        response.headers["Server"] = SERVER

    app.on_response_prepare.append(on_prepare)


class AuthPool:
    """bcrypt comparisons on `workers` daemon threads: a process that is stopping never
    waits for one (a daemon thread ends with the process)."""

    def __init__(self, workers: int = 1) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"web-auth-{i}", daemon=True)
                         for i in range(max(1, workers))]
        self._started = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        if not self._started:
            self._started = True
            for t in self._threads:
                t.start()
        future = loop.create_future()
        self._queue.put((loop, future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, future, fn, args = item
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting coroutine
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed while we computed
                loop.call_soon_threadsafe(_settle, future, *outcome)

    def stop(self) -> None:
        """Let idle threads end; one in the middle of a comparison is not waited for."""
        for _ in self._threads:
            self._queue.put(None)


def _settle(future: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


class TokenBucket:
    """The exporter toolkit's rate_limit: one request every `interval` seconds on average,
    bursts of up to `burst`."""

    def __init__(self, interval: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.burst = max(1, burst)
        self.clock = clock
        self.tokens = float(self.burst)
        self.at = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) / self.interval)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def bcrypt_cost(hashed: bytes) -> int | None:
    """The cost of a `$2y$NN$...` hash, None when it is not one."""
    parts = hashed.split(b"$")
    if len(parts) < 4 or parts[1] not in (b"2a", b"2b", b"2y") or not parts[2].isdigit():
        return None
    return int(parts[2])


def _user_of(header: str | None) -> str:
    """The user name of a Basic Authorization header already verified by `check`."""
    return base64.b64decode((header or "")[6:].strip()).decode("utf-8").partition(":")[0]


class BasicAuth:
    """The aiohttp middleware: 401 without valid credentials, for every path; 429 when the
    comparisons are saturated or the rate limit is reached."""

    OK_SECONDS = 300.0
    FAIL_SECONDS = 60.0
    CACHE_SIZE = 4096

    def __init__(self, users: dict[str, bytes], *, limiter: Any = None, registry: Any = None,
                 workers: int = 1, max_waiting: int = 16,
                 rate: tuple[float, int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import bcrypt

        self.users = users
        self.limiter = limiter
        self.pool = AuthPool(workers)
        self.max_waiting = max(1, max_waiting)
        self.bucket = TokenBucket(rate[0], rate[1], clock) if rate and rate[0] > 0 else None
        self.clock = clock
        self._key_secret = os.urandom(32)
        self._cache: OrderedDict[bytes, tuple[bool, float]] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future] = {}  # comparisons not yet decided
        self._waiters = 0  # requests waiting for one of them
        cost = max((bcrypt_cost(h) or 4 for h in users.values()), default=4)
        # what an unknown user is compared against: the same cost as the real hashes
        self._decoy = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(rounds=cost))
        from prometheus_client import Counter

        self.total = Counter("cctv_monitor_web_auth",
                             "Basic-auth verdicts on the web port, by result: ok and failed "
                             "(a bcrypt comparison), cached (remembered verdict), busy (too "
                             "many comparisons waiting) and rate_limited (429).",
                             ["result"], registry=registry)
        for result in ("ok", "failed", "cached", "busy", "rate_limited"):
            self.total.labels(result)

    def _key(self, user: str, password: str, hashed: bytes) -> bytes:
        return hmac.new(self._key_secret, b"\0".join((user.encode(), password.encode(), hashed)),
                        hashlib.sha256).digest()

    def _remember(self, key: bytes, ok: bool) -> None:
        self._cache[key] = (ok, self.clock() + (self.OK_SECONDS if ok else self.FAIL_SECONDS))
        self._cache.move_to_end(key)
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)

    async def check(self, header: str | None, request: web.Request | None = None) -> str:
        """"ok", "failed", "busy" or "rate_limited"."""
        if not header or not header[:6].lower() == "basic ":
            return "failed"
        try:
            user, sep, password = base64.b64decode(header[6:].strip(), validate=True) \
                .decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return "failed"
        if not sep:
            return "failed"
        known = self.users.get(user)
        hashed = known if known is not None else self._decoy
        key = self._key(user, password, hashed)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            self.total.labels("cached").inc()
            if cached[0]:  # a verified client keeps its place while it keeps coming
                self._remember(key, True)
                return "ok"
            return "failed"
        if self._waiters >= self.max_waiting:  # connections waiting: their own small cap
            self.total.labels("busy").inc()
            return "busy"
        future = self._pending.get(key)
        if future is None:
            if self.bucket is not None and not self.bucket.take():
                self.total.labels("rate_limited").inc()
                return "rate_limited"
            if len(self._pending) >= self.max_waiting:
                self.total.labels("busy").inc()
                return "busy"
            import bcrypt

            future = self.pool.submit(bcrypt.checkpw, password.encode(), hashed)
            self._pending[key] = future
            future.add_done_callback(lambda f: self._done(key, known is not None, f))
        self._waiters += 1
        if self.limiter is not None and request is not None:
            self.limiter.waiting(request, True)
        try:
            # shielded: a waiter whose connection is evicted does not cancel the comparison
            # others with the same credentials wait for
            await asyncio.shield(future)
        except Exception:  # noqa: BLE001 - a malformed hash (ValueError): never a match
            return "failed"
        finally:
            self._waiters -= 1
            if self.limiter is not None and request is not None:
                self.limiter.waiting(request, False)
        ok = self._cache.get(key, (False, 0.0))[0]
        return "ok" if ok else "failed"

    def _done(self, key: bytes, known: bool, future: asyncio.Future) -> None:
        self._pending.pop(key, None)
        ok = (not future.cancelled() and future.exception() is None and bool(future.result())
              and known)
        self._remember(key, ok)
        self.total.labels("ok" if ok else "failed").inc()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        verdict = await self.check(header, request)
        if verdict == "ok":
            request[USER] = _user_of(header)
            return await handler(request)
        if verdict in ("busy", "rate_limited"):
            response = web.Response(status=429, text="too many requests\n", headers={
                "Retry-After": "1", "Cache-Control": "no-store"})
            response.force_close()  # the slot goes back to the pool at once
            return response
        return web.Response(status=401, text="unauthorized\n", headers={
            "WWW-Authenticate": 'Basic realm="cctv-monitor", charset="UTF-8"',
            "Cache-Control": "no-store"})

    def stop(self) -> None:
        self.pool.stop()
