"""Evidence thumbnails: made from a real encoder's keyframe and from a camera's JPEG,
bounded in size, free of what the camera's file carried, and kept with the outage a
picture verdict opens, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import sqlite3
import subprocess

import psycopg
import pytest
from PIL import Image

from monitor import history
from monitor.history import thumbs
from monitor.model import MonitorSettings, Reason, Result, StreamSettings
from monitor.probes import evidence
from monitor.state import State
from tests.conftest import require
from tests.factories import make_inventory

SECRET = "rtsp://admin:hunter2@10.1.2.3/stream"


def keyframe(tmp_path, source="testsrc2=s=1920x1080") -> bytes:
    require("ffmpeg")
    out = tmp_path / "k.h264"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", "1",
                    "-c:v", "libx264", "-f", "h264", str(out)], check=True, timeout=120)
    return out.read_bytes()


def test_thumbnail_of_a_1080p_keyframe_is_small_and_320_wide(tmp_path):
    jpeg = evidence.from_keyframe("H264", keyframe(tmp_path))
    im = Image.open(io.BytesIO(jpeg))
    assert im.format == "JPEG" and im.size == (320, 180)
    assert 1000 < len(jpeg) <= evidence.MAX_BYTES
    # the picture, not a grey square: testsrc2's colours survive
    assert len(im.convert("RGB").getcolors(1 << 20)) > 50


def test_thumbnail_of_a_snapshot_carries_nothing_of_the_file():
    im = Image.effect_noise((1280, 720), 60).convert("RGB")  # noise: the hardest to compress
    src = io.BytesIO()
    im.save(src, "JPEG", quality=95, comment=SECRET.encode(),
            exif=b"Exif\x00\x00" + SECRET.encode())
    assert SECRET.encode() in src.getvalue()
    jpeg = evidence.from_image(src.getvalue())
    assert b"hunter2" not in jpeg and b"admin" not in jpeg
    assert Image.open(io.BytesIO(jpeg)).size == (320, 180)
    assert len(jpeg) <= evidence.MAX_BYTES  # the quality stepped down to fit
    with pytest.raises(evidence.NoThumbnail):
        evidence.from_image(b"not a picture")
    with pytest.raises(evidence.NoThumbnail):
        evidence.from_keyframe("H264", b"\x00\x00\x00\x01\x65" + bytes(200))


def test_the_ledger_refuses_an_oversized_thumbnail():
    assert thumbs.row("i", "JKT-0001", 1.0, "black_image", b"x" * (thumbs.MAX_BYTES + 1)) is None
    assert thumbs.row("i", "JKT-0001", 1.0, "black_image", None) is None


SETTINGS = MonitorSettings(interval=1.0, timeout=0.5, stream=StreamSettings(interval=300))


async def _outage_with_thumbnail(target: str, jpeg: bytes, base: float = 0.0) -> None:
    inv = make_inventory(2, feeds=False, checks=("stream", "picture"), settings=SETTINGS)
    state = State(inv, now=base + 1000.0)
    rec = await history.start(state, history.HistoryTarget(target, None),
                              clock=lambda: base + 1000.0)
    try:
        state.record_result("JKT-0001", "stream", Result(Reason.OK), now=base + 1001.0)
        state.record_result("JKT-0001", "picture", Result(Reason.UNIFORM_IMAGE, evidence=jpeg),
                            now=base + 1001.0)
        # the next checks of the same spell make no second row
        state.record_result("JKT-0001", "picture", Result(Reason.UNIFORM_IMAGE, evidence=jpeg),
                            now=base + 1301.0)
        # a camera down for another reason keeps no picture
        state.record_result("JKT-0000", "stream", Result(Reason.REFUSED), now=base + 1001.0)
        if base:  # both back up: closed outages, as a monthly report lists them
            for cid, check in (("JKT-0001", "picture"), ("JKT-0000", "stream")):
                state.record_result(cid, check, Result(Reason.OK), now=base + 4601.0)
        assert rec.ledger.flush()
    finally:
        rec.ledger.close()


async def test_thumbnail_stored_with_the_outage_on_sqlite(tmp_path):
    jpeg = evidence.from_keyframe("H264", keyframe(tmp_path, "color=c=blue:s=1280x720"))
    db = tmp_path / "ledger.sqlite"
    await _outage_with_thumbnail(str(db), jpeg)
    conn = sqlite3.connect(db)
    assert int(conn.execute("SELECT value FROM ledger_meta").fetchone()[0]) >= 4
    assert conn.execute("SELECT subject, start_ts, reason FROM outages").fetchall() == [
        ("JKT-0001", 1001.0, "uniform_image"), ("JKT-0000", 1001.0, "refused")]
    assert conn.execute("SELECT instance IS NOT NULL, subject, start_ts, reason FROM "
                        "outage_thumbs").fetchall() == [(1, "JKT-0001", 1001.0, "uniform_image")]
    assert thumbs.read(conn, "sqlite", "JKT-0001", 1001.0) == jpeg


async def test_thumbnail_stored_with_the_outage_on_postgresql(tmp_path, postgres_dsn):
    jpeg = evidence.from_keyframe("H264", keyframe(tmp_path, "color=c=black:s=1280x720"))
    await _outage_with_thumbnail(postgres_dsn, jpeg)
    with psycopg.connect(postgres_dsn) as conn:
        got = conn.execute("SELECT subject, start_ts, reason, octet_length(jpeg) FROM "
                           "outage_thumbs WHERE subject = 'JKT-0001'").fetchall()
        assert got == [("JKT-0001", 1001.0, "uniform_image", len(jpeg))]
        assert thumbs.read(conn, "postgres", "JKT-0001", 1001.0) == jpeg


# ------------------------------------------------------------- shown: /status, /api, Chromium


def _chromium(argv: list[str], out) -> None:
    """Headless Chromium to completion, its output in a file (its helpers would hold a pipe
    open), in a session of its own so that a helper left over is stopped with it."""
    import os
    import signal

    with open(out, "wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=60)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


@pytest.mark.integration
async def test_status_page_shows_what_the_camera_showed(gst_server, tmp_path):
    """The scheduler checks two GStreamer cameras (a flat blue placard, a moving picture);
    /status shows the blue camera's thumbnail beside it in headless Chromium, the API links
    it, and the moving camera has none."""
    import asyncio
    import json
    import urllib.request

    from aiohttp import web as aioweb

    from monitor.metrics.exporter import Exporter
    from monitor.model import SnapshotSettings, split_credentials
    from monitor.runtime.scheduler import Scheduler
    from monitor.web.app import make_app
    from tests.factories import free_port, make_camera

    chromium = require("chromium")
    settings = MonitorSettings(interval=60, timeout=3.0,
                               stream=StreamSettings(interval=4, duration=3.0),
                               snapshot=SnapshotSettings(frozen_after=2))
    cams = [make_camera(i, checks=("stream", "picture"), feeds=False,
                        rtsp=split_credentials(f"rtsp://{gst_server}{path}"))
            for i, path in enumerate(("/blue", "/moving"))]
    state = State(make_inventory(cameras=cams, settings=settings))
    sched = Scheduler(state)
    runner = aioweb.AppRunner(make_app(state, Exporter(state)))
    await runner.setup()
    port = free_port()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    await sched.start()
    try:
        for _ in range(300):  # bounded: two stream rounds of 4 s, with room on a busy machine
            await asyncio.sleep(0.1)
            results = [state.cameras[c.id].results.get("picture") for c in cams]
            if state.cameras[cams[0].id].up is False and results[1] is not None:
                break
        blue, moving = (state.cameras[c.id] for c in cams)
        assert blue.up is False and blue.reason.value == "uniform_image", blue.results
        assert moving.results["picture"].reason.value == "ok"

        def get(path):
            with urllib.request.urlopen(base + path, timeout=10) as resp:
                return resp.status, resp.headers.get("Content-Type"), resp.read()

        _, _, body = await asyncio.to_thread(get, "/api/cameras")
        api = {c["id"]: c for c in json.loads(body)}
        link = api[cams[0].id]["evidence"]
        assert link == f"/api/cameras/{cams[0].id}/evidence.jpg" and api[cams[1].id]["evidence"] is None
        status, ctype, jpeg = await asyncio.to_thread(get, link)
        assert status == 200 and ctype == "image/jpeg" and len(jpeg) <= evidence.MAX_BYTES
        thumb = Image.open(io.BytesIO(jpeg)).convert("RGB")
        assert thumb.size == (320, 180)
        r, g, b = thumb.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        assert b > 150 and r < 60 and g < 60, (r, g, b)  # the blue the camera showed
        with pytest.raises(urllib.error.HTTPError):
            await asyncio.to_thread(get, f"/api/cameras/{cams[1].id}/evidence.jpg")

        profile, shot = tmp_path / "profile", tmp_path / "status.png"
        flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"]
        await asyncio.to_thread(_chromium, flags + ["--dump-dom", f"{base}/status"],
                                tmp_path / "dom.html")
        dom = (tmp_path / "dom.html").read_text(errors="replace")
        assert f'src="{link}"' in dom and f"what {cams[0].id} showed" in dom, dom[:3000]
        assert f"/api/cameras/{cams[1].id}/evidence.jpg" not in dom
        await asyncio.to_thread(_chromium, flags + [f"--screenshot={shot}",
                                                    "--window-size=1280,1600", f"{base}/status"],
                                tmp_path / "shot.out")
        # the thumbnail drawn on the page: a block of the camera's blue in the screenshot
        page = Image.open(shot).convert("RGB")
        blue_px = sum(n for n, (r, g, b) in page.getcolors(1 << 24)
                      if b > 150 and r < 60 and g < 60)
        assert blue_px > 100 * 50, blue_px  # the 160x90 thumbnail, most of it
    finally:
        await sched.stop()
        await runner.cleanup()


@pytest.mark.integration
async def test_report_prints_the_picture_of_a_picture_outage(tmp_path):
    import base64
    import os
    import shutil

    from monitor.report import build
    from monitor.report.compute import period_of
    from tests.report_fixture import JKT, t

    require("chromium")
    pdftoppm = require("pdftoppm")
    jpeg = evidence.from_keyframe("H264", keyframe(tmp_path, "color=c=blue:s=1280x720"))
    db = tmp_path / "ledger.sqlite"
    await _outage_with_thumbnail(str(db), jpeg, base=t("2026-10-05T02:13:00") - 1001.0)
    inv = make_inventory(2, feeds=False, checks=("stream", "picture"), settings=SETTINGS)
    files = build(inv, str(db), *period_of("2026-10", None, None, JKT), tmp_path / "out",
                  pdf=True, now=t("2026-11-02T00:00:00"))
    page = files["report.html"].read_text(encoding="utf-8")
    inline = f'src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}"'
    assert page.count(inline) == 1 and page.count('class="evidence"') == 1  # not the refusal
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    # printed: the camera's blue on the PDF page that lists the outages
    subprocess.run([pdftoppm, "-r", "60", "-png", str(files["report.pdf"]),
                    str(tmp_path / "page")], check=True, timeout=120, stdin=subprocess.DEVNULL)
    pages = sorted(tmp_path.glob("page*.png"))
    blue = [sum(n for n, (r, g, b) in Image.open(p).convert("RGB").getcolors(1 << 24)
                if b > 150 and r < 60 and g < 60) for p in pages]
    # 120 px wide at 96 dpi is 75 px at 60 dpi: about 75x42 of blue on one page
    assert max(blue) > 40 * 25 and sum(1 for n in blue if n > 40 * 25) == 1, blue
    if os.environ.get("REPORT_SCREENSHOT_DIR"):  # for people to look at
        for p in pages + [files["report.pdf"]]:
            shutil.copy(p, os.environ["REPORT_SCREENSHOT_DIR"])


async def test_a_thumbnail_that_cannot_be_made_is_logged_once_and_the_verdict_stands(caplog):
    from monitor.probes.picture import _LOGGED, attach_evidence

    _LOGGED.clear()
    results = [Result(Reason.FROZEN_IMAGE, message="same picture 3 fetches in a row")
               for _ in range(2)]
    with caplog.at_level("WARNING", logger="cctv.picture"):
        for result in results:  # two cameras, each with its own memory
            await attach_evidence(result, {}, lambda: evidence.from_image(b"\xff\xd8 cut short"))
    assert [r.reason for r in results] == [Reason.FROZEN_IMAGE] * 2
    assert all(r.evidence is None for r in results)
    lines = [r.getMessage() for r in caplog.records if "thumbnail" in r.getMessage()]
    assert len(lines) == 1 and "recorded without it" in lines[0], lines
    # and the ledger row for such an outage is simply absent
    assert thumbs.row("i", "JKT-0001", 1.0, "frozen_image", results[0].evidence) is None


def test_thumbnails_go_with_the_outages_retention(tmp_path):
    from monitor.history import schema

    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    schema.migrate(conn, "sqlite")
    cur = conn.cursor()
    outages = [("JKT-0001", 100.0, 200.0), ("JKT-0002", 100.0, None), ("JKT-0003", 900.0, 950.0)]
    for subject, start, end in outages:
        cur.execute("INSERT INTO outages (kind, subject, start_ts, end_ts, reason, instance) "
                    "VALUES ('camera', ?, ?, ?, 'black_image', 'i')", (subject, start, end))
        cur.execute("INSERT INTO outage_thumbs VALUES ('i', ?, ?, 'black_image', ?)",
                    (subject, start, b"\xff\xd8jpeg"))
    # horizon 500: the closed old outage's picture goes, the still open one's stays (its
    # outage is still being counted), the recent one stays
    thumbs.prune(cur, lambda q: q, 500.0)
    conn.commit()
    assert sorted(r[0] for r in cur.execute("SELECT subject FROM outage_thumbs")) == [
        "JKT-0002", "JKT-0003"]
