"""Command-centre link probes against real listeners on loopback (fast; no namespaces).

The lossy, delayed and cut links are in tests/test_link_netns.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from monitor.model import Credentials, Endpoint, Link, LinkSettings, Reason
from monitor.probes import icmp
from monitor.probes import link as link_mod
from monitor.probes.link import _Attempt, _summarise, _TargetRound, probe_link
from tests.conftest import require_root

FAST = LinkSettings(interval=2.0, timeout=0.5, probes=4)


def _link(*urls: str) -> Link:
    return Link("primary", tuple(Endpoint(u) for u in urls))


async def _tcp_listener():
    async def accept(reader, writer):
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _http_server(status: int = 200, delay: float = 0.0, raw: bytes | None = None):
    """A /health server: answers `status` `delay` seconds late, or `raw` bytes verbatim,
    or nothing at all when delay is negative."""

    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            if delay < 0:
                await asyncio.sleep(30)
            await asyncio.sleep(delay)
            writer.write(raw or f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_tcp_target_up():
    server, port = await _tcp_listener()
    async with server:
        result = await probe_link(_link(f"tcp://127.0.0.1:{port}"), FAST)
    assert result.state == "up", result
    assert result.reason is Reason.OK
    assert (result.sent, result.received, result.loss) == (4, 4, 0.0)
    assert 0 < result.rtt_min <= result.rtt_avg <= result.rtt_max < 0.5
    assert result.jitter is not None and result.jitter >= 0
    assert result.targets == [
        {
            "url": f"tcp://127.0.0.1:{port}",
            "sent": 4,
            "received": 4,
            "rtt_avg": result.rtt_avg,
            "reason": Reason.OK,
        }
    ]


async def test_closed_port_is_down_refused():
    result = await probe_link(_link(f"tcp://127.0.0.1:{_closed_port()}"), FAST)
    assert result.state == "down"
    assert result.reason is Reason.REFUSED
    assert (result.sent, result.received, result.loss) == (4, 0, 1.0)
    assert result.rtt_avg is None and result.jitter is None
    assert not result.up


async def test_http_health_up():
    server, port = await _http_server(200)
    async with server:
        result = await probe_link(_link(f"http://127.0.0.1:{port}/health"), FAST)
    assert result.state == "up", result
    assert result.received == 4 and result.rtt_avg > 0


async def test_http_redirect_counts_as_answered():
    server, port = await _http_server(302)
    async with server:
        result = await probe_link(_link(f"http://127.0.0.1:{port}/health"), FAST)
    assert result.state == "up", result


@pytest.mark.parametrize(
    "status,reason",
    [(500, Reason.SERVER_ERROR), (503, Reason.SERVER_ERROR), (404, Reason.NOT_FOUND),
     (401, Reason.AUTH_REQUIRED), (403, Reason.FORBIDDEN), (418, Reason.BAD_RESPONSE)],
)
async def test_http_error_status_is_a_lost_probe(status, reason):
    # The centre answered, but said it is unhealthy (or refused us): not a working link.
    server, port = await _http_server(status)
    async with server:
        result = await probe_link(_link(f"http://127.0.0.1:{port}/health"), FAST)
    assert result.state == "down", result
    assert result.reason is reason
    assert result.received == 0 and result.loss == 1.0


async def test_http_garbage_is_bad_response():
    server, port = await _http_server(raw=b"SSH-2.0-OpenSSH\r\n")
    async with server:
        result = await probe_link(_link(f"http://127.0.0.1:{port}/health"), FAST)
    assert result.state == "down" and result.reason is Reason.BAD_RESPONSE


async def test_http_silent_server_times_out_within_the_round_budget():
    server, port = await _http_server(delay=-1)
    settings = LinkSettings(interval=2.0, timeout=0.3, probes=3)
    async with server:
        start = time.monotonic()
        result = await probe_link(_link(f"http://127.0.0.1:{port}/health"), settings)
        elapsed = time.monotonic() - start
    assert result.state == "down" and result.reason is Reason.TIMEOUT
    # (probes - 1) * spacing + timeout, with slack: never the whole interval.
    assert elapsed < 2 * link_mod.spacing_for(settings) + 0.3 + 0.5


async def test_slow_http_is_degraded_by_rtt():
    server, port = await _http_server(200, delay=0.2)
    settings = LinkSettings(interval=4.0, timeout=1.0, probes=3, rtt_degraded=0.150)
    async with server:
        result = await probe_link(_link(f"http://127.0.0.1:{port}/health"), settings)
    assert result.state == "degraded", result
    assert result.reason is Reason.OK and result.loss == 0.0
    assert 0.18 <= result.rtt_avg <= 0.35
    assert "rtt" in result.message


async def test_one_dead_target_of_two_is_half_loss_and_degraded():
    server, port = await _tcp_listener()
    async with server:
        result = await probe_link(
            _link(f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{_closed_port()}"), FAST
        )
    assert result.state == "degraded", result
    assert result.reason is Reason.OK  # the link works, badly
    assert (result.sent, result.received, result.loss) == (8, 4, 0.5)
    assert [t["reason"] for t in result.targets] == [Reason.OK, Reason.REFUSED]
    assert "4/8 probes lost (refused" in result.message


async def test_icmp_loopback_up():
    require_root()
    result = await probe_link(_link("icmp://127.0.0.1"), FAST)
    assert result.state == "up", result
    assert result.received == 4 and 0 < result.rtt_avg < 0.5


async def test_icmp_without_permission_is_unreachable_and_logged_once(monkeypatch, caplog):
    monkeypatch.setattr(icmp, "_modes", {socket.AF_INET: None})
    monkeypatch.setattr(icmp, "_warned", set())
    with caplog.at_level(logging.ERROR, logger="monitor.probes.icmp"):
        first = await probe_link(_link("icmp://127.0.0.1"), FAST)
        second = await probe_link(_link("icmp://127.0.0.1"), FAST)
    for result in (first, second):
        assert result.state == "down" and result.reason is Reason.UNREACHABLE
        assert "net.ipv4.ping_group_range to include gid" in result.message
    assert len([r for r in caplog.records if "ping_group_range" in r.getMessage()]) == 1


async def test_dns_error_fails_every_probe_of_the_target(monkeypatch):
    async def no_such_name(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(link_mod, "_resolve", no_such_name)
    result = await probe_link(_link("tcp://centre.invalid:443"), FAST)
    assert result.state == "down" and result.reason is Reason.DNS_ERROR
    assert result.sent == 4


async def test_bad_targets_never_raise():
    result = await probe_link(_link("gopher://127.0.0.1/"), FAST)
    assert result.state == "down" and result.reason is Reason.BAD_RESPONSE
    result = await probe_link(Link("empty", ()), FAST)
    assert result.state == "down"


async def test_tcp_attempt_is_one_syn():
    server, port = await _tcp_listener()
    async with server:
        addr = (await asyncio.get_running_loop().getaddrinfo("127.0.0.1", port))[0]
        sock, rtt = await link_mod.connect_one_syn(addr, 5.0)
        try:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT) == 1
            assert not link_mod.syn_retransmitted(sock)
            assert 0 < rtt < 0.5
        finally:
            sock.close()


def test_spacing_keeps_a_round_within_half_the_interval():
    for settings in (
        LinkSettings(),
        LinkSettings(interval=10, timeout=2, probes=50),
        LinkSettings(interval=30, timeout=1, probes=10),
    ):
        spacing = link_mod.spacing_for(settings)
        assert link_mod.MIN_SPACING <= spacing <= link_mod.MAX_SPACING
        assert (settings.probes - 1) * spacing + settings.timeout <= settings.interval / 2


def test_summary_arithmetic():
    lost_t, lost_u = _Attempt(None, Reason.TIMEOUT, "t"), _Attempt(None, Reason.UNREACHABLE, "u")
    a = _TargetRound("tcp://a:1", [_Attempt(0.010), _Attempt(0.030), lost_t, _Attempt(0.020)])
    b = _TargetRound("icmp://b", [lost_u, lost_t, _Attempt(0.040), _Attempt(0.040)])
    result = _summarise([a, b], LinkSettings(loss_degraded=0.5, rtt_degraded=0.150))
    assert (result.sent, result.received) == (8, 5)
    assert result.loss == pytest.approx(3 / 8)
    assert result.rtt_min == pytest.approx(0.010) and result.rtt_max == pytest.approx(0.040)
    assert result.rtt_avg == pytest.approx(0.028)
    # per target, in send order: |30-10|, |20-30| and |40-40| -> mean 10 ms
    assert result.jitter == pytest.approx(0.010)
    assert result.state == "up" and result.reason is Reason.OK
    assert [t["reason"] for t in result.targets] == [Reason.TIMEOUT, Reason.UNREACHABLE]
    assert result.targets[1]["rtt_avg"] == pytest.approx(0.040)
    down = _summarise([_TargetRound("x", [_Attempt(None, Reason.REFUSED, "r"),
                                          _Attempt(None, Reason.TIMEOUT, "t"),
                                          _Attempt(None, Reason.TIMEOUT, "t")])], LinkSettings())
    assert down.state == "down" and down.reason is Reason.TIMEOUT and down.message == "t"
    assert down.loss == 1.0 and down.rtt_avg is None
    edge = _summarise([_TargetRound("x", [_Attempt(0.150)])], LinkSettings(rtt_degraded=0.150))
    assert edge.state == "degraded"  # thresholds are inclusive


async def test_http_credentials_are_sent_and_a_401_is_auth_failed():
    seen: list[bytes] = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = Endpoint(f"http://127.0.0.1:{port}/health", Credentials("ops", "s3cret"))
    async with server:
        result = await probe_link(Link("primary", (endpoint,)), FAST)
    assert result.state == "down" and result.reason is Reason.AUTH_FAILED
    assert b"Authorization: Basic b3BzOnMzY3JldA==" in seen[0]
    assert "s3cret" not in repr(result)
