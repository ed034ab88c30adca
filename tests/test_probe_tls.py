"""What the http and RTSP probes share: one reading of status codes and one TLS client.

The https and rtsps checks (and a link's https targets) connect through
monitor.probes.tcp.connect with monitor.probes.tcp.ssl_context: these tests hold both
protocols to the same answers, against real TLS servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings

import pytest
from aiohttp import web

from monitor.model import Credentials, Reason, split_credentials
from monitor.probes import get_probe, run_probe
from monitor.probes import http as http_probe
from monitor.probes import link as link_probe
from monitor.probes import rtsp_client
from monitor.probes.status_codes import reason_for_status
from monitor.probes.tcp import TLS_MINIMUM, ssl_context
from tests.rtsp_fakes import FakeRtspServer, self_signed_tls

OLD_TLS = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)


async def probe(check: str, url: str, creds: Credentials | None = None, **ctx_kw):
    return await run_probe(get_probe(check), split_credentials(url, creds), 3.0, trace=[],
                           **ctx_kw)


# --------------------------------------------------------------------------- status codes


@pytest.mark.parametrize(
    "status, credentials, reason",
    [
        (200, False, Reason.OK),
        (204, True, Reason.OK),
        (401, False, Reason.AUTH_REQUIRED),
        (401, True, Reason.AUTH_FAILED),
        (403, False, Reason.FORBIDDEN),
        (404, True, Reason.NOT_FOUND),
        (500, False, Reason.SERVER_ERROR),
        (599, False, Reason.SERVER_ERROR),
        (301, False, Reason.BAD_RESPONSE),
        (100, False, Reason.BAD_RESPONSE),
        (418, False, Reason.BAD_RESPONSE),
        (454, False, Reason.BAD_RESPONSE),  # RTSP "Session Not Found"
        (600, False, Reason.BAD_RESPONSE),
    ],
)
def test_reason_for_status(status, credentials, reason):
    assert reason_for_status(status, credentials=credentials) is reason


@contextlib.asynccontextmanager
async def http_answering(status: int):
    async def handler(request):
        return web.Response(status=status, text="no")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("status", [403, 404, 405, 418, 500, 503])
async def test_http_and_rtsp_read_a_status_the_same_way(status):
    """The same status from a camera's web server and from its RTSP server ends the http
    and the rtsp check in the same reason: the one of reason_for_status."""
    async with http_answering(status) as port:
        http_result = await probe("http", f"http://127.0.0.1:{port}/snap")
    async with FakeRtspServer(behaviour="status", status=status, status_on="DESCRIBE") as cam:
        rtsp_result = await probe("rtsp", cam.url)
    expected = reason_for_status(status, credentials=False)
    assert http_result.reason is expected, http_result.message
    assert rtsp_result.reason is expected, rtsp_result.message
    assert str(status) in http_result.message and str(status) in rtsp_result.message


def test_the_probes_use_the_one_mapping():
    """No probe decides on its own that a status means forbidden, not_found or server_error
    (the three tables that existed drifted apart): those reasons come out of
    reason_for_status only, and other modules may merely compare against them."""
    import ast
    from pathlib import Path

    status_reasons = {"FORBIDDEN", "NOT_FOUND", "SERVER_ERROR"}
    probes_dir = Path(http_probe.__file__).parent
    offenders = []
    for path in sorted(probes_dir.glob("*.py")):
        if path.name == "status_codes.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        compared = {
            id(node)
            for cmp in ast.walk(tree) if isinstance(cmp, ast.Compare)
            for node in ast.walk(cmp)
        }
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in status_reasons
                    and isinstance(node.value, ast.Name) and node.value.id == "Reason"
                    and id(node) not in compared):
                offenders.append(f"{path.name}:{node.lineno} Reason.{node.attr}")
    assert not offenders, offenders
    for name in ("http", "rtsp_client", "link", "onvif"):
        assert "reason_for_status(" in (probes_dir / f"{name}.py").read_text(encoding="utf-8"), name


# --------------------------------------------------------------------------- TLS


def test_one_context_with_one_minimum_version():
    for verify in (False, True):
        ctx = ssl_context(verify)
        assert ctx is ssl_context(verify)  # built once per process
        assert ctx.minimum_version is TLS_MINIMUM
        assert ctx.verify_mode is (ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    assert TLS_MINIMUM >= ssl.TLSVersion.TLSv1_2


def _server_context(directory: str, versions: tuple[ssl.TLSVersion, ssl.TLSVersion]) -> ssl.SSLContext:
    ctx = self_signed_tls(directory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated: the point
        ctx.minimum_version, ctx.maximum_version = versions
        if versions[1] < ssl.TLSVersion.TLSv1_2:
            # OpenSSL 3 signs TLS < 1.2 handshakes with SHA-1, allowed at security level 0 only.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def _permissive_client() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


async def _old_tls_server(directory: str):
    """A TLS server offering only TLS 1.0 and 1.1, and the version an old client got from it
    (None when this OpenSSL cannot speak those versions at all)."""

    async def handle(reader, writer):
        with contextlib.suppress(Exception):
            await reader.read(100)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=_server_context(directory, OLD_TLS))
    port = server.sockets[0].getsockname()[1]
    version = None
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=_permissive_client(), server_hostname="camera.test"), 3
        )
        version = writer.get_extra_info("ssl_object").version()
        writer.close()
    return server, port, version


async def _refuses_old_tls(directory: str) -> None:
    server, port, version = await _old_tls_server(directory)
    try:
        if version is None:
            # This OpenSSL cannot serve TLS 1.0/1.1 even to a client that asks for it, so
            # no camera could be reached that way either: the context's floor says the rest.
            assert ssl_context(False).minimum_version >= ssl.TLSVersion.TLSv1_2
            return
        assert version in ("TLSv1", "TLSv1.1")  # the server works, for an old client
        https = await probe("http", f"https://127.0.0.1:{port}/snap")
        rtsps = await probe("rtsp", f"rtsps://127.0.0.1:{port}/live")
    finally:
        server.close()
    for result in (https, rtsps):
        assert result.reason is Reason.TLS_ERROR, result.message
        assert result.message.startswith("TLS handshake failed"), result.message
    assert https.message == rtsps.message  # one connect path, one wording


async def test_https_and_rtsps_refuse_tls_older_than_1_2(tmp_path):
    await _refuses_old_tls(str(tmp_path))


def test_https_and_rtsps_refuse_old_tls_on_uvloop(tmp_path):
    """The daemon runs uvloop, whose TLS transport is its own code."""
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_refuses_old_tls(str(tmp_path)))


async def test_https_and_rtsps_accept_tls_1_2_and_time_the_handshake(tmp_path):
    tls12 = _server_context(str(tmp_path), (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))

    async def handler(request):
        return web.Response(body=b"\xff\xd8\xff\xe0jpeg", content_type="image/jpeg")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls12)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        https = await probe("http", f"https://127.0.0.1:{port}/snap")
    finally:
        await runner.cleanup()
    async with FakeRtspServer(tls=tls12) as cam:
        rtsps = await probe("rtsp", cam.url)
    for result in (https, rtsps):
        assert result.reason is Reason.OK, result.message
        assert {"connect", "tls"} <= set(result.phases), result.phases
    assert "tls: TLSv1.2 (" in "\n".join(https.trace)


async def _text_handler(request):
    return web.Response(text="x")


async def test_certificate_refused_the_same_way_when_verifying(tmp_path):
    ctx = self_signed_tls(str(tmp_path))
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", _text_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        https = await probe("http", f"https://127.0.0.1:{port}/snap", tls_verify=True)
    finally:
        await runner.cleanup()
    async with FakeRtspServer(tls=ctx) as cam:
        rtsps = await probe("rtsp", cam.url, tls_verify=True)
    for result in (https, rtsps):
        assert result.reason is Reason.TLS_ERROR, result.message
        assert "CERTIFICATE_VERIFY_FAILED" in result.message


def test_link_https_targets_use_the_same_context():
    source = open(link_probe.__file__, encoding="utf-8").read()
    assert "ssl_context(False)" in source and "SSLContext(" not in source
    assert "create_default_context" not in source


async def test_the_onvif_check_connects_through_the_same_context(tmp_path):
    """The ONVIF library builds its own connectors with its own no-verify context; the
    check hands it the monitor's: a camera's self-signed certificate passes as for the
    other checks, is refused when
    verifying like theirs (the library's own context never verifies), and the library
    holds the monitor's context afterwards."""
    import onvif.client

    ctx = self_signed_tls(str(tmp_path))
    requests: list[str] = []

    async def not_a_device_service(request):
        requests.append(request.method)
        return web.Response(status=404, text="no such service")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_a_device_service)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"https://127.0.0.1:{port}/onvif/device_service"
        plain = await probe("onvif", url)
        answered = len(requests)
        verified = await probe("onvif", url, tls_verify=True)
    finally:
        await runner.cleanup()
    # TLS passed and the SOAP request was answered, by something that is no device service
    assert answered >= 1 and plain.reason is Reason.BAD_RESPONSE, plain.message
    assert len(requests) == answered  # the verifying check never got past the handshake
    assert verified.reason is Reason.TLS_ERROR, verified.message
    assert "CERTIFICATE_VERIFY_FAILED" in verified.message
    assert onvif.client._NO_VERIFY_SSL_CONTEXT is ssl_context(True)  # the last check's
