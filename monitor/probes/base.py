"""What every probe shares: the signature, the error-to-reason map and the deadline wrapper.

A probe is ``async def probe(endpoint: Endpoint, ctx: ProbeContext) -> Result``.  It may
raise (any ``Exception``); ``run_probe`` is the single place that turns an exception or an
expired deadline into a reason, so every probe maps errors the same way.  A probe never sets
its own overall timer: the caller's deadline is the only one (the blackbox_exporter model).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from typing import Any, Awaitable, Callable

from ..model import Endpoint, ProbeContext, Reason, Result
from ..resources import LocalResourceError, local_resource_kind

ProbeFn = Callable[[Endpoint, ProbeContext], Awaitable[Result]]


class ProbeError(Exception):
    """Raised inside a probe to end it with a given reason and a human message."""

    def __init__(self, reason: Reason, message: str = "") -> None:
        super().__init__(message or reason.value)
        self.reason = reason
        self.message = message or reason.value


_UNREACHABLE_ERRNOS = {
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EADDRNOTAVAIL,
}


def classify_exception(exc: BaseException) -> tuple[Reason, str]:
    """Map an exception raised by a probe to (reason, message).  Never raises."""
    if isinstance(exc, ProbeError):
        return exc.reason, exc.message
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return Reason.TIMEOUT, "deadline passed"
    if isinstance(exc, ConnectionRefusedError):
        return Reason.REFUSED, "connection refused"
    if isinstance(exc, socket.gaierror):
        return Reason.DNS_ERROR, f"name did not resolve ({exc.strerror or exc})"
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return Reason.TLS_ERROR, f"TLS: {getattr(exc, 'reason', None) or exc.__class__.__name__}"
    if isinstance(exc, asyncio.IncompleteReadError):
        return Reason.BAD_RESPONSE, "connection closed before the answer was complete"
    if isinstance(exc, asyncio.LimitOverrunError):
        return Reason.BAD_RESPONSE, "answer too large"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return Reason.BAD_RESPONSE, "connection reset before the answer was complete"
    if isinstance(exc, OSError):
        if exc.errno in _UNREACHABLE_ERRNOS:
            return Reason.UNREACHABLE, exc.strerror or "unreachable"
        if exc.errno == errno.ECONNREFUSED:
            return Reason.REFUSED, "connection refused"
        if exc.errno == errno.ETIMEDOUT:
            return Reason.TIMEOUT, "connect timed out"
        return Reason.UNREACHABLE, exc.strerror or exc.__class__.__name__
    if isinstance(exc, (ValueError, UnicodeError, EOFError)):
        return Reason.BAD_RESPONSE, f"invalid answer ({exc.__class__.__name__})"
    return Reason.BAD_RESPONSE, f"unexpected {exc.__class__.__name__}"


async def run_probe(fn: ProbeFn, endpoint: Endpoint, timeout: float, **options: Any) -> Result:
    """Run one probe under one hard deadline; always return a Result, never raise
    (except CancelledError, so that shutdown and reload still work, and LocalResourceError:
    a probe that could not open a socket for lack of descriptors, buffers, memory or a
    thread of this process has no verdict about the camera).

    The deadline is made here, with the context: `options` are the other ProbeContext
    fields (``trace=[]`` for the exchanges, ``stream_duration``, ...)."""
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    ctx = ProbeContext(deadline=loop.time() + timeout, **options)
    try:
        async with asyncio.timeout(timeout):
            result = await fn(endpoint, ctx)
    except Exception as exc:  # noqa: BLE001 - the probe contract: every error is a reason
        kind = local_resource_kind(exc)
        if kind is not None:
            raise LocalResourceError(kind, exc.__class__.__name__) from None
        reason, message = classify_exception(exc)
        result = Result(reason, message=message)
        if ctx.trace is not None:
            ctx.trace.append(f"! {reason.value}: {message}")
    result.duration = time.perf_counter() - start
    result.phases.setdefault("total", result.duration)
    if ctx.trace is not None and result.trace is None:
        result.trace = ctx.trace
    return result
