"""The tcp check against real listeners on loopback: ok, refused, timeout, dns_error,
unreachable (a faked connect error: loopback cannot produce one)."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from monitor.model import Endpoint, Reason
from monitor.probes import get_probe, run_probe


async def _run(url: str, timeout: float = 2.0, trace: bool = False):
    return await run_probe(get_probe("tcp"), Endpoint(url), timeout, trace=[] if trace else None)


async def test_ok_and_trace():
    accepted = asyncio.Event()

    async def handle(reader, writer):
        accepted.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await _run(f"tcp://127.0.0.1:{port}", trace=True)
        assert result.reason is Reason.OK, result.message
        assert result.phases["connect"] >= 0
        assert result.trace and result.trace[0] == f"> connect 127.0.0.1:{port}"
        await asyncio.wait_for(accepted.wait(), 2)
    finally:
        server.close()


async def test_ok_by_name_resolving_to_several_addresses():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await _run(f"tcp://localhost:{port}")
        assert result.reason is Reason.OK, result.message
    finally:
        server.close()


async def test_refused():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # bound then closed: nothing listens there
    result = await _run(f"tcp://127.0.0.1:{port}")
    assert result.reason is Reason.REFUSED
    # by name: ::1 and 127.0.0.1 both refuse, which must still read "refused"
    result = await _run(f"tcp://localhost:{port}")
    assert result.reason is Reason.REFUSED, result.message


async def test_timeout_on_full_backlog():
    # A listener that never accepts, with its backlog full: the kernel drops further SYNs,
    # so the connect hangs until the caller's deadline.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        result = await _run(f"tcp://127.0.0.1:{port}", timeout=0.5)
        assert result.reason is Reason.TIMEOUT, result.message
        assert loop.time() - t0 < 1.5
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_dns_error():
    # .invalid never resolves (RFC 6761); resolvers answer it locally.
    result = await _run("tcp://no-such-camera.invalid:554", timeout=3)
    assert result.reason is Reason.DNS_ERROR, result.message


@pytest.mark.parametrize("code", [errno.EHOSTUNREACH, errno.ENETUNREACH])
async def test_unreachable(monkeypatch, code):
    loop = asyncio.get_running_loop()

    async def fail(*args, **kwargs):
        raise OSError(code, "No route to host")

    monkeypatch.setattr(loop, "create_connection", fail)
    result = await _run("tcp://127.0.0.1:9")
    assert result.reason is Reason.UNREACHABLE


async def test_url_without_port():
    result = await _run("tcp://127.0.0.1")
    assert result.reason is Reason.BAD_RESPONSE
