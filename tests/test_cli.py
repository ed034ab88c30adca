"""`cctv-monitor probe` as an operator runs it: a real process against real listeners.

Exit codes (0 ok, 1 probe failed, 2 usage), what -v shows (every exchange, the auth
scheme, the SDP summary, the reason) and what it must never show (the password).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

from aiohttp import web
from PIL import Image

from tests.conftest import require_root
from tests.rtsp_fakes import FakeRtspServer

ROOT = Path(__file__).resolve().parents[1]
CANARY = "CANARY-cli-7781"


async def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args, cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode()


async def test_probe_rtsp_verbose_shows_exchanges_not_the_password():
    async with FakeRtspServer(auth="digest-sha256", password=CANARY) as cam:
        code, out = await _cli("probe", cam.url_with("viewer", CANARY), "-v")
    assert code == 0, out
    assert "> OPTIONS" in out and "> DESCRIBE" in out and "401" in out
    assert "Digest SHA-256" in out
    assert "OK: ok" in out and "H264 1920x1080" in out
    assert CANARY not in out


async def test_probe_rtsp_wrong_password_exits_1_with_the_reason():
    async with FakeRtspServer(auth="digest-md5", password=CANARY) as cam:
        code, out = await _cli("probe", cam.url_with("viewer", "not-" + CANARY), "-v")
    assert code == 1, out
    assert "FAILED: auth_failed" in out
    assert CANARY not in out


async def test_probe_password_from_environment_with_user_flag():
    async with FakeRtspServer(auth="basic", password=CANARY) as cam:
        code, out = await _cli("probe", cam.url, "--user", "viewer", "-v",
                               env={"CCTV_PASSWORD": CANARY})
    assert code == 0, out
    assert CANARY not in out


async def test_probe_stream_prints_the_media_figures():
    async with FakeRtspServer() as cam:
        code, out = await _cli("probe", cam.url, "--check", "stream", "--duration", "1", "-v")
    assert code == 0, out
    assert "> PLAY" in out and "> TEARDOWN" in out
    assert "fps" in out and "kbit/s" in out and "keyframe every" in out


async def test_probe_http_snapshot_reports_luminance():
    buf = io.BytesIO()
    # a scene, not one flat colour (that would be uniform_image): a grey ramp, mean ~0.5
    Image.linear_gradient("L").resize((320, 180)).convert("RGB").save(buf, "JPEG")

    async def picture(_request: web.Request) -> web.Response:
        return web.Response(body=buf.getvalue(), content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/pic", picture)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the bound port
    try:
        code, out = await _cli("probe", f"http://127.0.0.1:{port}/pic", "-v")
    finally:
        await runner.cleanup()
    assert code == 0, out
    assert "image/jpeg" in out and "luminance 0.5" in out


async def test_probe_refused_and_usage_errors():
    code, out = await _cli("probe", "tcp://127.0.0.1:1")
    assert code == 1 and "refused" in out
    code, out = await _cli("probe", f"ftp://u:{CANARY}@127.0.0.1/x")
    assert code == 2 and CANARY not in out
    code, out = await _cli("probe", "rtsp://127.0.0.1/x", "--check", "http")
    assert code == 2
    code, out = await _cli("run", "-c", "x.yml", "--shard", "3/2")
    assert code == 2 and "K/N" in out


async def test_probe_icmp_link_target():
    require_root()
    code, out = await _cli("probe", "icmp://127.0.0.1", "-v")
    assert code == 0, out
    assert "echo reply from 127.0.0.1" in out


async def test_version_prints_the_project_version_and_exits_0():
    import tomllib

    want = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    code, out = await _cli("--version")
    assert code == 0, out
    first, *rest = out.splitlines()
    assert first == f"cctv-monitor, version {want}"
    assert any(l.split() == ["python:", sys.implementation.name.replace("cpython", "CPython"),
                             ".".join(map(str, sys.version_info[:3]))] for l in rest), out
    # --version wins over a missing command, a command still needs to be named otherwise
    code, out = await _cli()
    assert code == 2 and "required: COMMAND" in out
