"""The /metrics text, byte for byte, for one fixed State: every per-camera, feed, link, centre
and provider family with its edge cases (unknown values absent, failed streams at rate 0,
stream info from rtsp when there is no stream check, escaping, a reload that removes a check
and a camera).  Self metrics (process figures, timings) are excluded: they vary per run.

A change to the exposition is deliberate only: regenerate the file with
``CCTV_UPDATE_GOLDEN=1 pytest tests/test_exporter_golden.py`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

from monitor.metrics.exporter import Exporter
from monitor.metrics.families import FAMILIES, KEEP
from monitor.model import (
    MaintenanceWindow,
    Camera,
    CommandCentre,
    Endpoint,
    Integration,
    Inventory,
    Link,
    LinkResult,
    MonitorSettings,
    Provider,
    Reason,
    Result,
    StreamSettings,
)
from monitor.state import State

GOLDEN = Path(__file__).parent / "data" / "metrics-golden.txt"
T0 = 1_795_836_000.0
ALL = ("tcp", "rtsp", "stream", "http", "snapshot")


def camera(i: int, checks=ALL, feeds=True, **kw) -> Camera:
    base = dict(
        id=f"JKT-{i:04d}",
        name=f"Camera {i}",
        provider=f"provider-{'ab'[i % 2]}",
        district="Menteng" if i % 3 else "Gambir",
        zone="ring-1" if i % 4 == 0 else "city",
        location=(-6.19 + i / 1000, 106.82) if i != 5 else None,
        uplink=f"sw-{i % 3}",
        rtsp=Endpoint(f"rtsp://127.0.0.1:{10000 + i}/Streaming/Channels/101"),
        http=Endpoint(f"http://127.0.0.1:{20000 + i}/picture"),
        checks=checks,
        integrations=("smart-city", "police-hq") if feeds else (),
        feeds=(("police-hq", Endpoint(f"rtsp://127.0.0.1:30000/relay/{i}")),) if feeds else (),
    )
    base.update(kw)
    return Camera(**base)


def inventory(cams) -> Inventory:
    return Inventory(
        settings=MonitorSettings(stream=StreamSettings(interval=300)),
        providers=(Provider("provider-a", 1500, 0.98), Provider("provider-b", 900, 0.955)),
        integrations=(Integration("smart-city"), Integration("police-hq", "police-hq")),
        command_centres=(
            CommandCentre("police-hq", (
                Link("primary", (Endpoint("tcp://127.0.0.1:9"),)),
                Link("backup", (Endpoint("tcp://127.0.0.1:10"),)),
                Link("satellite", (Endpoint("tcp://127.0.0.1:11"),)),
            )),
            CommandCentre("traffic", (Link("fibre", (Endpoint("tcp://127.0.0.1:12"),)),)),
        ),
        cameras=tuple(cams),
        # one window always on (the whole of every day) for camera 1, one long past for the
        # Gambir district: cctv_camera_in_maintenance 1 and 0, whatever the day of the run
        maintenance=(
            MaintenanceWindow("pole-works", weekdays=tuple(range(7)), between=(0, 1440),
                              cameras=("JKT-0001",)),
            MaintenanceWindow("gambir-2016", start=dt.datetime(2016, 1, 1, tzinfo=dt.timezone.utc),
                              end=dt.datetime(2016, 1, 2, tzinfo=dt.timezone.utc), districts=("Gambir",)),
        ),
    )


def stream(reason=Reason.OK, **detail) -> Result:
    d = {"codec": "H264", "width": 1920, "height": 1080, "auth": None, "status": 200,
         "packets": 900, "fps": 25.0, "bytes_per_second": 262144.5, "keyframe_interval": 2.0,
         "transport": "tcp", "lost": 0}
    d.update(detail)
    return Result(reason, duration=4.012345678, detail=d)


def build() -> tuple[State, Exporter]:
    cams = [
        camera(0),
        camera(1),
        camera(2, name='Jl. "Thamrin" \\ north\nexit', district='a"b'),
        camera(3, checks=("tcp", "rtsp", "http")),  # no stream: stream info from rtsp
        camera(4, feeds=False),
        camera(5, checks=("rtsp", "http", "snapshot")),
        camera(6),
        camera(7, checks=("rtsp",), feeds=False),  # never probed
    ]
    st = State(inventory(cams), now=T0)
    ex = Exporter(st)  # follows every change on the write path, as the daemon's does
    t = T0
    for _round in range(2):
        for cam in cams[:7]:
            t += 0.25
            for check in cam.checks:
                if check == "stream":
                    r = stream()
                elif check == "snapshot":
                    r = Result(Reason.OK, 0.0031, detail={"luminance": 0.4213, "unchanged": 0,
                                                          "difference": 3.5})
                elif check == "rtsp":
                    r = Result(Reason.OK, 0.0123, detail={"codec": "H265", "width": 1280,
                                                         "height": 720, "auth": "digest",
                                                         "status": 200,
                                                         "clock_offset": int(cam.id[-1]) - 2.5})
                else:
                    r = Result(Reason.OK, 0.01 + cam.checks.index(check) / 1000)
                st.record_result(cam.id, check, r, now=t)
            if cam.feeds:
                st.record_feed(cam.id, "police-hq", Result(Reason.OK, 0.02), now=t)
    t += 10
    # camera 1: rtsp fails by several reasons, stream has no media (no fps, rate 0)
    for reason in (Reason.TIMEOUT, Reason.AUTH_FAILED, Reason.TIMEOUT):
        st.record_result("JKT-0001", "rtsp", Result(reason, 5.0), now=t)
    st.record_result("JKT-0001", "stream", Result(Reason.NO_VIDEO, 4.1, detail={
        "codec": "H264", "width": None, "height": None, "packets": 0, "fps": None,
        "bytes_per_second": None, "keyframe_interval": None}), now=t)
    # camera 2: stream with one keyframe only (no interval), odd rates, no codec in a later answer
    st.record_result("JKT-0002", "stream", stream(keyframe_interval=None, fps=12.5,
                                                  bytes_per_second=1e-05), now=t)
    st.record_result("JKT-0002", "stream", stream(codec=None, width=None, height=None,
                                                  keyframe_interval=None, fps=7,
                                                  bytes_per_second=123456789.25), now=t)
    # camera 4: frozen picture, then a black one without luminance (undecodable)
    st.record_result("JKT-0004", "snapshot", Result(Reason.FROZEN_IMAGE, 0.002, detail={
        "luminance": 0.5, "unchanged": 3}), now=t)
    st.record_result("JKT-0004", "snapshot", Result(Reason.BAD_RESPONSE, 0.002), now=t)
    # camera 6: feed not found, http server error
    st.record_feed("JKT-0006", "police-hq", Result(Reason.NOT_FOUND, 0.02), now=t)
    st.record_result("JKT-0006", "http", Result(Reason.SERVER_ERROR, 0.2), now=t)
    st.record_result("JKT-0006", "http", Result(Reason.OK, 0.2), now=t + 1)
    st.record_link("police-hq", "primary", LinkResult("up", Reason.OK, 5, 5, 0.0, 0.0018, 0.0021,
                                                      0.0025, 0.0002), now=t)
    st.record_link("police-hq", "backup", LinkResult("degraded", Reason.OK, 5, 4, 0.2, 0.1,
                                                     0.16, 0.2, 0.03), now=t)
    st.record_link("police-hq", "satellite", LinkResult("down", Reason.TIMEOUT, 5, 0, 1.0,
                                                        message="no answer"), now=t)
    st.record_link("traffic", "fibre", LinkResult("down", Reason.REFUSED, 5, 0, 1.0), now=t)
    # a reload: camera 6 leaves, camera 0 loses its stream and snapshot checks and its feed,
    # camera 3 (no stream check) is renamed, camera 8 arrives
    inv = st.inventory
    kept = [c for c in inv.cameras if c.id != "JKT-0006"]
    kept[0] = dataclasses.replace(kept[0], checks=("tcp", "rtsp", "http"), feeds=(),
                                  integrations=("smart-city",))
    kept[3] = dataclasses.replace(kept[3], name="Camera 3 (moved)")
    st.apply(dataclasses.replace(inv, cameras=(*kept, camera(8))), now=t + 2)
    st.record_result("JKT-0000", "rtsp", Result(Reason.OK, 0.0125, detail={"codec": "H264"}),
                     now=t + 3)
    return st, ex


async def render_families(ex: Exporter) -> bytes:
    text = await ex.render()
    # the self metrics (process_*, cctv_monitor_*) follow the camera families and vary per run
    cut = min(i for i in (text.find(b"# HELP process_"), text.find(b"# HELP cctv_monitor_"))
              if i >= 0)
    return text[:cut]


async def test_exposition_is_byte_identical_to_the_golden_file():
    st, live = build()
    got = await render_families(live)
    if os.environ.get("CCTV_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(got)
    assert got == GOLDEN.read_bytes()
    # an exporter made after the fact formats the same lines, in its own order and without
    # what the live one kept from earlier answers (a stream info, a luminance)
    fresh = (await render_families(Exporter(st))).splitlines()
    assert len(fresh) == len(set(fresh))
    live_lines = set(got.splitlines())
    assert set(fresh) <= live_lines
    kept = {f.name.encode() for f in FAMILIES if f.absent == KEEP}
    only_live = live_lines - set(fresh)
    assert only_live and all(line.split(b"{")[0] in kept for line in only_live), only_live


async def test_an_edit_keeps_the_stream_info_read_from_rtsp():
    # the series of a camera without a stream check come from its rtsp answers: renaming
    # the camera must not blank them until the next rtsp result
    st, live = build()
    text = await render_families(live)
    assert b'cctv_stream_info{camera="JKT-0003",codec="H265",width="1280",height="720"} 1' in text


async def test_cameras_coming_and_going_during_a_render_never_break_the_exposition():
    import asyncio

    from prometheus_client.parser import text_string_to_metric_families

    st, live = build()
    live.SLICE = 2  # a yield every two lines: many chances to interleave
    before = await render_families(live)
    inv = st.inventory
    changes = 0

    async def churn() -> None:
        nonlocal changes
        for n in range(9, 40):
            extra = camera(n, checks=("rtsp",))
            st.apply(dataclasses.replace(inv, cameras=(*inv.cameras, extra)), now=T0 + 100)
            st.record_result(extra.id, "rtsp", Result(Reason.OK, 0.01), now=T0 + 100)
            changes += 1
            await asyncio.sleep(0)
            st.apply(inv, now=T0 + 100)  # and gone again
            await asyncio.sleep(0)

    task = asyncio.create_task(churn())
    text = b"".join(await live.render_chunks())
    await task
    assert changes
    samples = [(s.name, tuple(sorted(s.labels.items())))
               for f in text_string_to_metric_families(text.decode()) for s in f.samples]
    assert len(samples) == len(set(samples))  # no series twice
    # every series of the camera set before the churn is there, the extra ones come and go
    got = set(text.splitlines())
    assert all(line in got for line in before.splitlines()
               if b"cctv_provider" not in line and not line.startswith(b"cctv_monitor"))
