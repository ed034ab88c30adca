"""The `tcp` check (the port accepts a connection) and the connect step every TCP probe shares.

`connect()` is the one place that resolves a name and opens a TCP (optionally TLS)
connection for a probe, so that refused / unreachable / dns_error / tls_error mean the same
thing for tcp, rtsp, rtsps, stream, http and https.  `ssl_context()` is the one TLS client
configuration of the monitor (https, rtsps and the command-centre link's https targets), with
one minimum protocol version, TLS_MINIMUM.  Neither sets a timer: the caller's deadline
bounds them.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from typing import Callable, TypeVar

from ..model import Endpoint, ProbeContext, Reason, Result
from .base import ProbeError

P = TypeVar("P", bound=asyncio.BaseProtocol)

#: The oldest TLS a probe accepts, verified or not.  TLS 1.0 and 1.1 are broken (RFC 8996)
#: and OpenSSL 3 refuses them at its default security level anyway; a camera that offers
#: nothing newer fails its https/rtsps checks with tls_error, which is the truth to report.
TLS_MINIMUM = ssl.TLSVersion.TLSv1_2

_SSL_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def ssl_context(verify: bool) -> ssl.SSLContext:
    """One context per verification mode for the whole process: building one loads the CA
    store, about a millisecond of CPU, more than a whole RTSP check."""
    ctx = _SSL_CONTEXTS.get(verify)
    if ctx is None:
        ctx = ssl.create_default_context()
        ctx.minimum_version = TLS_MINIMUM
        if not verify:
            # Cameras nearly always carry self-signed certificates (ProbeContext.tls_verify).
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _SSL_CONTEXTS[verify] = ctx
    return ctx


# Sized above the largest fleet: probed in round-robin order, an LRU smaller than the
# set of URLs misses on every lookup (seen at 100,000 cameras with 65,536).
@functools.lru_cache(maxsize=1 << 18)
def _is_ip_literal(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def _better(a: BaseException | None, b: BaseException) -> BaseException:
    """Of two connect errors, keep the more telling: refused beats unreachable, so that a
    name resolving to ::1 and 127.0.0.1 with nothing listening reads `refused`."""
    if a is None:
        return b
    if isinstance(b, ConnectionRefusedError) and not isinstance(a, ConnectionRefusedError):
        return b
    return a


async def connect(
    protocol_factory: Callable[[], P],
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    phases: dict[str, float] | None = None,
) -> tuple[asyncio.Transport, P]:
    """Open a connection to host:port (then its TLS session when ``tls`` is given).

    ``phases`` gets "connect" (TCP) and "tls" (the handshake) in seconds.  With TLS, the
    protocol's ``connection_made`` is called again with the TLS transport, so a protocol
    that keeps its transport writes through TLS.  A failed handshake is ``tls_error``.
    """
    started = time.perf_counter()
    if _is_ip_literal(host):  # the common case (cameras by address): no resolver, no extra frame
        transport, protocol = await asyncio.get_running_loop().create_connection(protocol_factory, host, port)
    else:
        transport, protocol = await _resolve_and_open(protocol_factory, host, port)
    if phases is not None:
        phases["connect"] = time.perf_counter() - started
    if tls is not None:
        started = time.perf_counter()
        transport = await _handshake(transport, protocol, tls, server_hostname or host)
        protocol.connection_made(transport)
        if phases is not None:
            phases["tls"] = time.perf_counter() - started
    return transport, protocol


async def _resolve_and_open(protocol_factory: Callable[[], P], host: str, port: int) -> tuple[asyncio.Transport, P]:
    """TCP connect to a name, trying each resolved address in turn.

    Python 3.11's create_connection folds different errors of several addresses into one
    errno-less OSError ("Multiple exceptions"), which would read as `unreachable`; trying the
    addresses ourselves keeps the real errno.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    error: BaseException | None = None
    for family, _type, _proto, _canon, addr in infos:
        try:
            return await loop.create_connection(protocol_factory, addr[0], addr[1], family=family)
        except OSError as exc:
            error = _better(error, exc)
    assert error is not None
    raise error


async def _handshake(
    transport: asyncio.Transport, protocol: asyncio.BaseProtocol, tls: ssl.SSLContext, server_hostname: str
) -> asyncio.Transport:
    loop = asyncio.get_running_loop()
    try:
        secured = await loop.start_tls(transport, protocol, tls, server_hostname=server_hostname)
    except asyncio.CancelledError:
        transport.abort()
        raise
    except Exception as exc:  # noqa: BLE001 - the TCP part worked: every failure here is the handshake's
        transport.abort()
        detail = getattr(exc, "reason", None) or getattr(exc, "verify_message", None) or exc.__class__.__name__
        raise ProbeError(Reason.TLS_ERROR, f"TLS handshake failed ({detail})") from None
    if secured is None:
        transport.abort()
        raise ProbeError(Reason.TLS_ERROR, "TLS handshake failed (connection closed)")
    return secured


async def probe(endpoint: Endpoint, ctx: ProbeContext) -> Result:
    """Connect, then close: nothing is sent."""
    host, port = endpoint.host, endpoint.port
    if not host or port is None:
        raise ProbeError(Reason.BAD_RESPONSE, "URL has no host or port")
    start = time.perf_counter()
    if ctx.trace is not None:
        ctx.trace.append(f"> connect {host}:{port}")
    transport, _ = await connect(asyncio.Protocol, host, port)
    elapsed = time.perf_counter() - start
    # A reset rather than a FIN: no TIME_WAIT left on our side per check, which matters
    # at thousands of checks a minute from one address.
    transport.abort()
    if ctx.trace is not None:
        ctx.trace.append(f"< connected ({elapsed * 1000:.1f} ms)")
    return Result(Reason.OK, message="port accepts connections", phases={"connect": elapsed})



def cert_not_after(transport: asyncio.BaseTransport) -> float | None:
    """The peer certificate's notAfter (epoch seconds) from the handshake just done, without
    a second connection; None without TLS or when the certificate does not parse.  Read
    from the DER (``getpeercert()`` returns nothing when verification is off, as it is for
    cameras' self-signed certificates)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    try:
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        return None
    return der_not_after(der) if der else None


def _tlv(buf: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `i`."""
    tag, length = buf[i], buf[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[i:i + n], "big")
        i += n
    if i + length > len(buf):
        raise ValueError("truncated DER")
    return tag, i, i + length


def der_not_after(der: bytes) -> float | None:
    """notAfter of an X.509 certificate (RFC 5280 4.1): Certificate ::= SEQUENCE {
    tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
    validity SEQUENCE { notBefore, notAfter }, ... }, ... }."""
    import datetime as dt

    try:
        _, s, _ = _tlv(der, 0)  # Certificate
        _, s, _ = _tlv(der, s)  # tbsCertificate
        tag, _, end = _tlv(der, s)
        if tag == 0xA0:  # explicit version
            s = end
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, s = _tlv(der, s)
        _, s, _ = _tlv(der, s)  # validity
        _, _, s = _tlv(der, s)  # notBefore
        tag, start, end = _tlv(der, s)  # notAfter
        text = der[start:end].decode("ascii")
        if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 50-99 are 19xx (RFC 5280 4.1.2.5.1)
            year = int(text[:2])
            text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
        elif tag != 0x18:  # GeneralizedTime
            return None
        when = dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        return when.timestamp()
    except (IndexError, ValueError, UnicodeDecodeError, OverflowError):
        return None
