"""Command-centre link probes over a real network path: a veth into a namespace that plays
the command centre (tests/netns.py), with the link cut, lossy (nftables) and slow.

Needs root, iproute2 and nftables (scripts/install-system-deps.sh); skipped elsewhere
outside CI.  Every loop is bounded in rounds and time; every namespace, veth, route and nft
table is removed in the fixture finalizer, also when a test fails.
"""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest

from monitor.model import Endpoint, Link, LinkSettings, Reason
from monitor.probes import link as link_mod
from monitor.probes.link import probe_link
from tests.conftest import require, require_root
from tests.netns import CommandCentreHost

pytestmark = pytest.mark.netns

TCP_PORT, HTTP_PORT, SLOW_HTTP_PORT = 7000, 8080, 8081


@pytest.fixture
def centre():
    """A fresh command centre: TCP on 7000, /health on 8080, /health 200 ms late on 8081."""
    require_root()
    require("ip")
    require("nft")
    host = CommandCentreHost()
    try:
        host.run(
            "--tcp", str(TCP_PORT), "--http", str(HTTP_PORT), "--http", f"{SLOW_HTTP_PORT}:0.2"
        )
        yield host
    finally:
        host.close()


def _link(*urls: str) -> Link:
    return Link("primary", tuple(Endpoint(u) for u in urls))


async def _rounds_until(link: Link, settings: LinkSettings, want: str, budget: float):
    """Probe on the link interval until a round's state is `want` or `budget` seconds pass;
    returns (seconds until that round ended, results)."""
    start = time.monotonic()
    results = []
    for _ in range(int(budget / settings.interval) + 2):
        round_start = time.monotonic()
        result = await probe_link(link, settings)
        results.append(result)
        if result.state == want:
            return time.monotonic() - start, results
        if time.monotonic() - start > budget:
            break
        await asyncio.sleep(max(0.0, settings.interval - (time.monotonic() - round_start)))
    return None, results


def _cut(centre: CommandCentreHost, how: str) -> None:
    if how == "veth_down":
        centre.cut()  # veth down; the guard route keeps every probe on this machine
    else:
        # A failure further along the path: packets vanish and nothing says so.
        centre.nft(
            "cctvcut",
            "table inet cctvcut {\n"
            " chain input { type filter hook input priority 0; policy drop; }\n"
            "}\n",
        )


def _restore(centre: CommandCentreHost, how: str) -> None:
    if how == "veth_down":
        centre.restore()
    else:
        centre.nft_delete("cctvcut")


@pytest.mark.parametrize("cut", ["veth_down", "silent_drop"])
async def test_cut_link_goes_down_within_two_intervals_and_recovers(centre, cut):
    link = _link(
        f"tcp://{centre.address}:{TCP_PORT}",
        f"http://{centre.address}:{HTTP_PORT}/health",
        f"icmp://{centre.address}",
    )
    settings = LinkSettings(interval=1.0, timeout=0.5, probes=3)
    first = await probe_link(link, settings)
    assert first.state == "up", first
    assert first.received == 9

    _cut(centre, cut)
    expected = Reason.UNREACHABLE if cut == "veth_down" else Reason.TIMEOUT
    took, results = await _rounds_until(link, settings, "down", budget=2 * settings.interval)
    assert took is not None, results
    down = results[-1]
    assert down.reason is expected, down
    assert {t["reason"] for t in down.targets} == {expected}

    _restore(centre, cut)
    took, results = await _rounds_until(link, settings, "up", budget=2 * settings.interval)
    assert took is not None, results
    assert results[-1].loss == 0.0


async def _naive_loss(address: str, port: int, count: int, timeout: float) -> float:
    """What a plain connect() with a timeout would report: the kernel's SYN retransmission
    after 1 s hides most losses."""
    answered = 0

    async def one(i: int) -> None:
        nonlocal answered
        await asyncio.sleep(i * 0.01)
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(address, port)
            writer.close()
            answered += 1
        except (OSError, TimeoutError):
            pass

    await asyncio.gather(*(one(i) for i in range(count)))
    return 1 - answered / count


async def test_tcp_and_http_syn_loss_is_counted_per_syn(centre):
    # 30 % of the SYNs into the centre are dropped; data segments are not touched.
    centre.nft(
        "cctvtest",
        "table inet cctvtest {\n"
        " chain input {\n"
        "  type filter hook input priority 0; policy accept;\n"
        "  tcp flags & (syn | ack) == syn numgen random mod 100 < 30 drop\n"
        " }\n"
        "}\n",
    )
    link = _link(
        f"tcp://{centre.address}:{TCP_PORT}", f"http://{centre.address}:{HTTP_PORT}/health"
    )
    # timeout 2 s > the 1 s initial RTO: exactly the case where a naive connect hides loss.
    settings = LinkSettings(interval=6.0, timeout=2.0, probes=100)
    rounds = [await probe_link(link, settings) for _ in range(2)]
    for r in rounds:
        assert r.state == "degraded", r
        assert r.reason is Reason.OK
        assert r.rtt_max < link_mod.INITIAL_RTO  # no answer to a retransmitted SYN counted
    sent = sum(r.sent for r in rounds)
    received = sum(r.received for r in rounds)
    assert sent == 400
    assert 0.2 <= 1 - received / sent <= 0.4, [r.loss for r in rounds]
    for i in range(2):
        t_sent = sum(r.targets[i]["sent"] for r in rounds)
        t_received = sum(r.targets[i]["received"] for r in rounds)
        assert 0.17 <= 1 - t_received / t_sent <= 0.43, (rounds[0].targets[i]["url"], t_received)
        assert rounds[0].targets[i]["reason"] is Reason.TIMEOUT
    # The control: the same path through a plain connect shows about 0.3 squared.
    assert await _naive_loss(centre.address, TCP_PORT, 200, 2.0) < 0.2


async def test_icmp_loss(centre):
    centre.nft(
        "cctvtest",
        "table inet cctvtest {\n"
        " chain input {\n"
        "  type filter hook input priority 0; policy accept;\n"
        "  icmp type echo-request numgen random mod 100 < 30 drop\n"
        " }\n"
        "}\n",
    )
    link = _link(f"icmp://{centre.address}")
    settings = LinkSettings(interval=4.0, timeout=0.5, probes=100)
    rounds = [await probe_link(link, settings) for _ in range(2)]
    for r in rounds:
        assert r.state == "degraded", r
        assert r.targets[0]["reason"] is Reason.TIMEOUT
    sent = sum(r.sent for r in rounds)
    loss = 1 - sum(r.received for r in rounds) / sent
    assert sent == 200
    assert 0.2 <= loss <= 0.4, [r.loss for r in rounds]

    centre.nft_delete("cctvtest")
    clean = await probe_link(link, LinkSettings(interval=4.0, timeout=0.5, probes=20))
    assert clean.state == "up" and clean.loss == 0.0, clean


async def test_icmp_delay_from_user_space_responder(centre):
    # The kernel stays silent; the witness answers every echo 200 ms late from user space.
    centre.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
    link = _link(f"icmp://{centre.address}")
    settings = LinkSettings(interval=4.0, timeout=1.0, probes=5, rtt_degraded=0.150)
    silent = await probe_link(link, LinkSettings(interval=2.0, timeout=0.3, probes=2))
    assert silent.state == "down" and silent.reason is Reason.TIMEOUT, silent

    centre.run("--icmp-delay", "0.2")
    result = await probe_link(link, settings)
    assert result.state == "degraded", result
    assert result.loss == 0.0 and result.received == 5
    assert 0.18 <= result.rtt_avg <= 0.35, result
    assert result.jitter < 0.05


async def test_http_delay(centre):
    link = _link(f"http://{centre.address}:{SLOW_HTTP_PORT}/health")
    settings = LinkSettings(interval=4.0, timeout=1.0, probes=5, rtt_degraded=0.150)
    result = await probe_link(link, settings)
    assert result.state == "degraded", result
    assert result.loss == 0.0
    assert 0.18 <= result.rtt_avg <= 0.35, result
    fast = await probe_link(_link(f"http://{centre.address}:{HTTP_PORT}/health"), settings)
    assert fast.state == "up" and fast.rtt_avg < 0.15, fast


async def _metric_lines(session, url: str, name: str) -> list[str]:
    async with session.get(url) as response:
        text = await response.text()
    return [line for line in text.splitlines() if line.startswith(name + "{")]


@pytest.mark.parametrize("cut", ["veth_down", "silent_drop"])
async def test_daemon_reports_a_cut_link_within_two_intervals(centre, tmp_path, cut):
    """Through the whole daemon (monitor.runtime.daemon.run_until): config -> scheduler -> link probe
    -> state -> /metrics, with the link cut and restored under it."""
    from monitor.runtime.daemon import run_until

    config = tmp_path / "monitor.yml"
    config.write_text(
        "monitor:\n"
        "  links: {interval: 1s, timeout: 500ms, probes: 3}\n"
        "command_centres:\n"
        "  - name: police-hq\n"
        "    links:\n"
        "      - name: primary\n"
        f"        targets: [tcp://{centre.address}:{TCP_PORT}, icmp://{centre.address}]\n"
        "cameras: []\n"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/metrics"
    series = 'cctv_link_up{centre="police-hq",link="primary"}'
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_until(str(config), f"127.0.0.1:{port}", stop, "warning"))

    async def wait_for(value: str, budget: float) -> float | None:
        start = time.monotonic()
        for _ in range(int(budget / 0.1) + 1):
            if daemon.done():
                daemon.result()  # surface the daemon's own failure
            try:
                lines = await _metric_lines(session, url, "cctv_link_up")
            except aiohttp.ClientError:
                lines = []
            if f"{series} {value}" in lines:
                return time.monotonic() - start
            if time.monotonic() - start > budget:
                return None
            await asyncio.sleep(0.1)
        return None

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            assert await wait_for("1", budget=5.0) is not None, "link never reported up"
            _cut(centre, cut)
            took = await wait_for("0", budget=2 * 1.0 + 0.5)  # two link intervals (+ a scrape)
            assert took is not None, "cut link not reported down within two intervals"
            _restore(centre, cut)
            took = await wait_for("1", budget=2 * 1.0 + 0.5)
            assert took is not None, "restored link not reported up within two intervals"
    finally:
        stop.set()
        await asyncio.wait_for(daemon, 10)
