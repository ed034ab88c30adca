"""Result.detail keys: every probe writes only the keys `DETAIL_KEYS` allows its check, the
stream check writes every one of its keys, and every key the exporter's families read is
one its source checks write.  So a key cannot drift between a probe and its reader."""

from __future__ import annotations

import io

from aiohttp import web
from PIL import Image

from monitor.families import DETAIL, FAMILIES, families_for_check
from monitor.model import DETAIL_KEYS, Detail, Reason, SnapshotSettings, split_credentials
from monitor.probes import get_probe, run_probe
from monitor.probes.picture import PictureHistory, analyse_keyframes
from monitor.probes.snapshot import analyse
from tests.rtsp_fakes import FakeRtspServer


def jpeg(level: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (level, level, level)).save(out, "JPEG")
    return out.getvalue()


async def probe(check: str, url: str):
    return await run_probe(get_probe(check), split_credentials(url), 3.0, stream_duration=1.0)


def test_every_key_is_declared_once():
    keys = [v for k, v in vars(Detail).items() if k.isupper()]
    assert len(keys) == len(set(keys))
    assert set().union(*DETAIL_KEYS.values()) == set(keys)


async def test_rtsp_and_stream_write_their_declared_keys():
    async with FakeRtspServer(media="h264", fps=25, gop=10) as cam:
        rtsp = await probe("rtsp", cam.url)
        stream = await probe("stream", cam.url)
    assert rtsp.reason is Reason.OK and stream.reason is Reason.OK, (rtsp.message, stream.message)
    assert set(rtsp.detail) == DETAIL_KEYS["rtsp"]
    assert set(stream.detail) == DETAIL_KEYS["stream"]  # "lost" included
    assert stream.detail[Detail.LOST] == 0
    # the picture check's verdict on the stream's keyframes
    nothing = analyse_keyframes("H264", [], PictureHistory(), SnapshotSettings())
    assert set(nothing.detail) <= DETAIL_KEYS["picture"]


async def test_http_and_snapshot_write_their_declared_keys():
    picture = jpeg(120)

    async def handler(request):
        return web.Response(body=picture, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/picture", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        http = await probe("http", f"http://127.0.0.1:{port}/picture")
    finally:
        await runner.cleanup()
    assert http.reason is Reason.OK, http.message
    assert set(http.detail) == DETAIL_KEYS["http"]
    history = PictureHistory()
    for level in (120, 4):  # a first picture, then a black one
        snap = analyse(jpeg(level), history, SnapshotSettings())
        assert set(snap.detail) == DETAIL_KEYS["snapshot"], snap.reason


def test_exported_detail_keys_are_written_by_their_checks():
    detail_families = [f for f in FAMILIES if f.level == DETAIL]
    assert detail_families
    for fam in detail_families:
        for check in fam.checks:
            assert fam.key in DETAIL_KEYS[check], (fam.name, check, fam.key)
            assert fam in families_for_check(check)


def test_families_for_check():
    names = {f.name for f in families_for_check("stream")}
    assert {"cctv_probe_success", "cctv_probe_reason", "cctv_stream_frames_per_second",
            "cctv_stream_info"} <= names
    assert "cctv_snapshot_luminance_ratio" not in names
    assert {f.name for f in families_for_check("rtsp")} >= {"cctv_probe_success", "cctv_stream_info"}
    # a check nothing reads the detail of still has its per-check series
    assert {f.level for f in families_for_check("tcp")} == {"check"}
