"""Command-centre link probes: several probes per target per round, loss and RTT over it.

This module owns `probe_link`, the check that pages on-call when the network to the police
command centre fails, so it counts packets, not connections:

- every target of a link gets ``settings.probes`` probes per round, sent ``spacing`` apart
  (10 to 100 ms, chosen so a round ends within half the link interval) and each bounded by
  its own timeout; targets are probed concurrently;
- ``tcp://host:port``: one probe is one SYN; its RTT is the connect time (SYN -> SYN/ACK);
- ``http(s)://host/path``: one GET on a fresh connection (``Connection: close``), so a lost
  SYN shows as a lost probe; 2xx/3xx is an answer; any other status is a lost probe with its
  reason (401 auth_required/auth_failed, 403 forbidden, 404 not_found, 5xx server_error,
  else bad_response): a centre that says it is unhealthy is not a working link.  Its RTT is
  the time from writing the request to reading the status line: one network round trip plus
  the server's time to answer; the TCP (and TLS) handshake before it is excluded, so an
  http target's RTT is comparable to the tcp and icmp targets on the same path.  The body
  is not read;
- ``icmp://host``: one echo request (monitor.probes.icmp).

The TCP SYN-retransmission problem.  Linux retransmits an unanswered SYN after the initial
RTO (1 s, ``TCP_TIMEOUT_INIT``).  A naive ``connect()`` with a 2 s timeout therefore
succeeds when the first SYN was lost and the retransmission was answered: a 30 % SYN loss
would show as about 9 % (0.3 squared).  So every TCP attempt (the tcp check and the connect
of the http check) is counted as exactly one SYN:

1. the connect is abandoned after ``min(timeout, INITIAL_RTO)``: an answer can only come
   from the first SYN, since a retransmission's answer arrives after ``INITIAL_RTO + RTT``.
   Closing the socket stops the kernel from sending more SYNs; ``TCP_SYNCNT=1`` bounds them
   anyway should the socket outlive us;
2. after a successful connect, ``TCP_INFO.tcpi_total_retrans`` must be 0: if the kernel
   retransmitted the SYN (an initial RTO lowered by a BPF program or a route), the
   connection came from a second packet and the probe counts as lost.

The consequence, documented for operators: a path whose RTT exceeds 1 s reads as 100 %
loss on tcp and http targets (it does on icmp only past ``timeout``).  For a link to a
police command centre, a 1 s RTT is an outage anyway.

The round: ``loss = lost / sent`` over every probe of every target; RTT min/avg/max over the
answered probes; jitter is the mean absolute difference of consecutive RTTs of each target,
pooled.  State: "down" when nothing answered, "degraded" when loss >= loss_degraded or
rtt_avg >= rtt_degraded, else "up".  `probe_link` never raises (cancellation aside).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..model import Endpoint, Link, LinkResult, LinkSettings, Reason
from . import icmp
from .auth import basic_header
from ..resources import LocalResourceError, local_resource_kind
from .base import ProbeError, classify_exception
from .status_codes import reason_for_status
from .tcp import ssl_context

#: Linux's TCP_TIMEOUT_INIT: when the first SYN retransmission is sent.
INITIAL_RTO = 1.0
MIN_SPACING = 0.010
MAX_SPACING = 0.100
#: Share of the link interval a round may take at most (the rest is idle time).
ROUND_SHARE = 0.5

_TCP_INFO_SIZE = 104  # up to and including tcpi_total_retrans (Linux >= 2.6.x layout)
_TOTAL_RETRANS_OFFSET = 100  # 8 bytes of u8 fields, then 23 u32 before total_retrans
_MAX_STATUS_LINE = 8192


@dataclass(slots=True)
class _Attempt:
    rtt: float | None  # None: lost
    reason: Reason = Reason.OK
    message: str = ""


@dataclass(slots=True)
class _TargetRound:
    url: str
    attempts: list[_Attempt] = field(default_factory=list)

    @property
    def rtts(self) -> list[float]:
        return [a.rtt for a in self.attempts if a.rtt is not None]

    def failures(self) -> Counter[Reason]:
        return Counter(a.reason for a in self.attempts if a.rtt is None)


def spacing_for(settings: LinkSettings) -> float:
    """Gap between two probes of one target, so the round ends within ROUND_SHARE of the
    interval: ``(probes - 1) * spacing + timeout``."""
    if settings.probes <= 1:
        return 0.0
    budget = settings.interval * ROUND_SHARE - settings.timeout
    return min(MAX_SPACING, max(MIN_SPACING, budget / (settings.probes - 1)))


def syn_retransmitted(sock: socket.socket) -> bool:
    """True when the kernel sent more than one SYN for this connection (Linux TCP_INFO)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    except (OSError, AttributeError):
        return False  # not Linux: rule 1 (the INITIAL_RTO bound) still holds
    if len(info) < _TCP_INFO_SIZE:
        return False
    (total_retrans,) = struct.unpack_from("=I", info, _TOTAL_RETRANS_OFFSET)
    return total_retrans > 0


async def _resolve(host: str, port: int | None) -> tuple:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return infos[0]


async def connect_one_syn(addrinfo: tuple, timeout: float) -> tuple[socket.socket, float]:
    """Connect with exactly one SYN counted; returns (socket, SYN -> SYN/ACK seconds).

    See the module docstring for why the wait is capped at INITIAL_RTO.
    """
    family, _, proto, _, sockaddr = addrinfo
    wait = min(timeout, INITIAL_RTO)
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        sock.setblocking(False)
        if hasattr(socket, "TCP_SYNCNT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(wait):
                await loop.sock_connect(sock, sockaddr)
        except TimeoutError:
            raise ProbeError(Reason.TIMEOUT, f"no SYN/ACK within {wait * 1000:.0f} ms") from None
        rtt = time.perf_counter() - start
        if syn_retransmitted(sock):
            raise ProbeError(Reason.TIMEOUT, "the first SYN went unanswered (retransmitted)")
    except BaseException:
        sock.close()
        raise
    return sock, rtt


async def _tcp_attempt(addrinfo: tuple, settings: LinkSettings) -> float:
    sock, rtt = await connect_one_syn(addrinfo, settings.timeout)
    sock.close()
    return rtt


async def _http_attempt(endpoint: Endpoint, addrinfo: tuple, settings: LinkSettings) -> float:
    loop = asyncio.get_running_loop()
    end = loop.time() + settings.timeout
    parts = urlsplit(endpoint.url)
    secure = parts.scheme.lower() == "https"
    sock, _ = await connect_one_syn(addrinfo, settings.timeout)
    writer = None
    try:
        async with asyncio.timeout_at(end):
            reader, writer = await asyncio.open_connection(
                sock=sock,
                # Like the camera probes (ProbeContext.tls_verify defaults to False): centre
                # gateways carry private certificates; the link proves reachability, not identity.
                ssl=ssl_context(False) if secure else None,
                server_hostname=(parts.hostname or "") if secure else None,
                limit=_MAX_STATUS_LINE,
            )
            host = parts.netloc.rsplit("@", 1)[-1]
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            lines = [
                f"GET {target} HTTP/1.1",
                f"Host: {host}",
                "User-Agent: cctv-monitor",
                "Accept: */*",
                "Connection: close",
            ]
            if endpoint.credentials is not None:
                lines.append(f"Authorization: {basic_header(endpoint.credentials)}")
            start = time.perf_counter()
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            status_line = await reader.readuntil(b"\n")
            rtt = time.perf_counter() - start
    except TimeoutError:
        raise ProbeError(
            Reason.TIMEOUT, f"no status line within {settings.timeout * 1000:.0f} ms"
        ) from None
    finally:
        if writer is not None:
            writer.transport.abort()  # the body is not wanted; do not linger
        else:
            sock.close()
    fields = status_line.decode("latin-1").split(None, 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise ProbeError(Reason.BAD_RESPONSE, "not an HTTP status line")
    status = int(fields[1])
    if 200 <= status < 400:
        return rtt
    reason = reason_for_status(status, credentials=endpoint.credentials is not None)
    if reason is Reason.AUTH_FAILED:
        raise ProbeError(reason, "HTTP 401 with the configured credentials")
    if reason is Reason.SERVER_ERROR:
        raise ProbeError(reason, f"HTTP {status}: the centre answered unhealthy")
    raise ProbeError(reason, f"HTTP {status}")


async def _one(kind: str, endpoint: Endpoint, addr, settings: LinkSettings, seq: int) -> _Attempt:
    try:
        if kind == "tcp":
            rtt = await _tcp_attempt(addr, settings)
        elif kind == "http":
            rtt = await _http_attempt(endpoint, addr, settings)
        else:
            address, family = addr
            rtt = await icmp.echo(address, family, settings.timeout, seq)
    except Exception as exc:  # noqa: BLE001 - every error of a probe is a lost packet
        _reraise_local(exc)
        reason, message = classify_exception(exc)
        return _Attempt(None, reason, message)
    return _Attempt(rtt)


async def _probe_target(endpoint: Endpoint, settings: LinkSettings, spacing: float) -> _TargetRound:
    out = _TargetRound(endpoint.url)
    count = max(1, settings.probes)
    try:
        scheme = endpoint.scheme
        if scheme == "tcp":
            kind = "tcp"
            if endpoint.port is None:
                raise ProbeError(Reason.BAD_RESPONSE, "tcp:// link target without a port")
        elif scheme in ("http", "https"):
            kind = "http"
        elif scheme == "icmp":
            kind = "icmp"
        else:
            raise ProbeError(Reason.BAD_RESPONSE, f"unsupported link target scheme {scheme!r}")
        # One lookup per round: a name that does not resolve fails every probe of it.
        async with asyncio.timeout(settings.timeout):
            if kind == "icmp":
                addr = await icmp.resolve(endpoint.host)
            else:
                addr = await _resolve(endpoint.host, endpoint.port)
    except Exception as exc:  # noqa: BLE001
        _reraise_local(exc)
        reason, message = classify_exception(exc)
        out.attempts = [_Attempt(None, reason, message) for _ in range(count)]
        return out

    async def paced(i: int) -> _Attempt:
        await asyncio.sleep(i * spacing)
        return await _one(kind, endpoint, addr, settings, i)

    out.attempts = list(await asyncio.gather(*(paced(i) for i in range(count))))
    return out


def _most_common(counter: Counter[Reason]) -> Reason:
    # Ties go to the reason seen first: Counter keeps insertion order.
    return counter.most_common(1)[0][0]


def _summarise(rounds: list[_TargetRound], settings: LinkSettings) -> LinkResult:
    sent = sum(len(r.attempts) for r in rounds)
    rtts = [rtt for r in rounds for rtt in r.rtts]
    failures: Counter[Reason] = Counter()
    messages: dict[Reason, str] = {}
    diffs: list[float] = []
    targets = []
    for r in rounds:
        failures.update(r.failures())
        for a in r.attempts:
            if a.rtt is None:
                messages.setdefault(a.reason, a.message)
        own = r.rtts
        diffs += [abs(b - a) for a, b in zip(own, own[1:])]
        lost = r.failures()
        targets.append(
            {
                "url": r.url,
                "sent": len(r.attempts),
                "received": len(own),
                "rtt_avg": sum(own) / len(own) if own else None,
                "reason": _most_common(lost) if lost else Reason.OK,
            }
        )
    received = len(rtts)
    loss = (sent - received) / sent if sent else 1.0
    result = LinkResult(
        state="down", reason=Reason.OK, sent=sent, received=received, loss=loss, targets=targets
    )
    if rtts:
        result.rtt_min = min(rtts)
        result.rtt_max = max(rtts)
        result.rtt_avg = sum(rtts) / len(rtts)
        result.jitter = sum(diffs) / len(diffs) if diffs else 0.0
    if not received:
        result.reason = _most_common(failures) if failures else Reason.UNREACHABLE
        result.message = messages.get(result.reason, "no target answered")
        return result
    assert result.rtt_avg is not None
    slow = result.rtt_avg >= settings.rtt_degraded
    lossy = loss >= settings.loss_degraded
    result.state = "degraded" if (slow or lossy) else "up"
    notes = []
    if lossy:
        top = _most_common(failures)
        notes.append(f"{sent - received}/{sent} probes lost ({top}: {messages.get(top, '')})")
    if slow:
        notes.append(f"rtt {result.rtt_avg * 1000:.0f} ms >= {settings.rtt_degraded * 1000:.0f} ms")
    result.message = "; ".join(notes)
    return result


async def probe_link(link: Link, settings: LinkSettings) -> LinkResult:
    """Probe every target of `link` for one round; never raises (cancellation aside)."""
    try:
        if not link.targets:
            return LinkResult("down", Reason.UNREACHABLE, message="link has no targets")
        spacing = spacing_for(settings)
        rounds = await asyncio.gather(
            *(_probe_target(t, settings, spacing) for t in link.targets)
        )
        return _summarise(list(rounds), settings)
    except Exception as exc:  # noqa: BLE001 - the contract: a link round always has a result
        _reraise_local(exc)
        reason, message = classify_exception(exc)
        return LinkResult("down", reason, message=f"link probe failed: {message}")


def _reraise_local(exc: Exception) -> None:
    """A packet not sent for lack of a local descriptor or buffer was not lost by the link:
    the whole round has no verdict (LocalResourceError, the scheduler skips it)."""
    kind = local_resource_kind(exc)
    if kind is not None:
        raise LocalResourceError(kind, exc.__class__.__name__) from None
