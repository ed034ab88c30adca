"""ICMP echo for command-centre links: one echo request is one packet, one probe.

This module owns the choice of ICMP socket and the single echo exchange.  Linux offers two
ways to send an echo:

- a datagram ICMP socket (``SOCK_DGRAM, IPPROTO_ICMP``), allowed to any process whose group
  is inside ``net.ipv4.ping_group_range``; the kernel demultiplexes replies by identifier;
- a raw socket (``SOCK_RAW``), which needs root or CAP_NET_RAW and sees every ICMP packet
  the host receives, so replies are matched by identifier and sequence here.

`icmp_mode` tries them once per address family, the unprivileged one first, and remembers
the answer.  When neither works every probe ends with reason ``unreachable`` and a message
saying what to change, logged once.  Packets are built and parsed by icmplib.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time

from icmplib import ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import (
    DestinationUnreachable,
    ICMPError,
    ICMPSocketError,
    SocketPermissionError,
    TimeExceeded,
    TimeoutExceeded,
)
from icmplib.sockets import AsyncSocket

from ..model import Endpoint, ProbeContext, Reason, Result
from .base import ProbeError

log = logging.getLogger(__name__)

_ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
_SOCKET_CLASS = {socket.AF_INET: ICMPv4Socket, socket.AF_INET6: ICMPv6Socket}
_PROTO = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}

#: family -> True (raw), False (datagram) or None (neither works); filled at first use.
_modes: dict[int, bool | None] = {}
_warned: set[int] = set()

# Raw sockets see every reply on the host, so identifiers must not repeat among the probes
# in flight in this process; a counter from a per-process start does that.
_ids = itertools.count(os.getpid() & 0xFFFF)


def _can_open(family: int, kind: int) -> bool:
    try:
        socket.socket(family, kind, _PROTO[family]).close()
    except OSError:
        return False
    return True


def icmp_mode(family: int = socket.AF_INET) -> bool | None:
    """True: raw (privileged) sockets; False: datagram sockets; None: no ICMP allowed."""
    if family not in _modes:
        if _can_open(family, socket.SOCK_DGRAM):
            _modes[family] = False
        elif _can_open(family, socket.SOCK_RAW):
            _modes[family] = True
        else:
            _modes[family] = None
    return _modes[family]


def permission_message() -> str:
    return (
        "ICMP needs root (CAP_NET_RAW) or net.ipv4.ping_group_range to include "
        f"gid {os.getgid()}"
    )


def _no_permission(family: int) -> ProbeError:
    message = permission_message()
    if family not in _warned:
        _warned.add(family)
        log.error("icmp link probes disabled: %s", message)
    return ProbeError(Reason.UNREACHABLE, message)


async def echo(address: str, family: int, timeout: float, sequence: int = 0) -> float:
    """Send one echo request to `address` (a literal IP) and return the RTT in seconds.

    Raises ProbeError (timeout, unreachable) or an OSError; never retries: a lost echo is a
    lost probe.
    """
    privileged = icmp_mode(family)
    if privileged is None:
        raise _no_permission(family)
    try:
        sock = AsyncSocket(_SOCKET_CLASS[family](privileged=privileged))
    except SocketPermissionError:
        _modes[family] = None  # the capability went away (dropped privileges)
        raise _no_permission(family) from None
    try:
        request = ICMPRequest(
            destination=address, id=next(_ids) & 0xFFFF, sequence=sequence & 0xFFFF
        )
        sent_at = time.perf_counter()
        try:
            sock.send(request)
        except ICMPSocketError as exc:
            # sendto failed at once: no route, interface down (icmplib keeps only the text).
            raise ProbeError(Reason.UNREACHABLE, f"echo not sent: {exc}") from None
        limit = time.monotonic() + timeout
        while True:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise ProbeError(Reason.TIMEOUT, f"no echo reply within {timeout * 1000:.0f} ms")
            try:
                reply = await sock.receive(request, remaining)
            except TimeoutExceeded:
                continue  # the loop head turns it into the timeout verdict
            if reply.type == _ECHO_REPLY[family]:
                # Our own monotonic clock: icmplib stamps with time.time(), which NTP steps.
                return time.perf_counter() - sent_at
            try:
                reply.raise_for_status()
            except (DestinationUnreachable, TimeExceeded) as exc:
                raise ProbeError(Reason.UNREACHABLE, str(exc)) from None
            except ICMPError:
                pass
            # Anything else carrying our id and sequence (our own request seen on a raw
            # socket over loopback) is not an answer: keep waiting.
    finally:
        sock.close()


async def resolve(host: str) -> tuple[str, int]:
    """(address, family) of `host`, without blocking the loop."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_RAW, proto=socket.IPPROTO_ICMP)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    family, _, _, _, sockaddr = infos[0]
    return sockaddr[0], family


async def probe(endpoint: Endpoint, ctx: ProbeContext) -> Result:
    """One echo to an ``icmp://host`` endpoint (for `cctv-monitor probe` and tests)."""
    loop = asyncio.get_running_loop()
    address, family = await resolve(endpoint.host)
    rtt = await echo(address, family, max(ctx.deadline - loop.time(), 0.001))
    if ctx.trace is not None:
        ctx.trace.append(f"echo reply from {address} in {rtt * 1000:.1f} ms")
    return Result(Reason.OK, duration=rtt, phases={"rtt": rtt})
