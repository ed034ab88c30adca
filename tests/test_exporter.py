"""The /metrics exposition: every documented family, parseable by prometheus_client and promtool,
one reason series per camera and check, monotonic counters, escaping, no secrets."""

from __future__ import annotations

import dataclasses
import gzip
import subprocess

from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics.exporter import Exporter, escape, gzip_chunks
from monitor.model import LinkResult, Reason, Result, StreamSettings
from monitor.state import State
from tests.conftest import require
from tests.factories import CANARY, fail, link, make_camera, make_inventory, ok

SPEC_FAMILIES = {
    # name as parsed (counters lose _total): type
    "cctv_camera_info": "gauge",
    "cctv_camera_up": "gauge",
    "cctv_probe_success": "gauge",
    "cctv_probe_duration_seconds": "gauge",
    "cctv_probe_reason": "gauge",
    "cctv_probes": "counter",
    "cctv_probe_failures": "counter",
    "cctv_camera_last_up_timestamp_seconds": "gauge",
    "cctv_camera_state_changes": "counter",
    "cctv_feed_up": "gauge",
    "cctv_stream_frames_per_second": "gauge",
    "cctv_stream_bytes_per_second": "gauge",
    "cctv_stream_keyframe_interval_seconds": "gauge",
    "cctv_stream_info": "gauge",
    "cctv_snapshot_luminance_ratio": "gauge",
    "cctv_snapshot_unchanged_fetches": "gauge",
    "cctv_link_up": "gauge",
    "cctv_link_rtt_seconds": "gauge",
    "cctv_link_loss_ratio": "gauge",
    "cctv_provider_target_cameras": "gauge",
    "cctv_provider_sla_ratio": "gauge",
    "cctv_monitor_probe_lag_seconds": "histogram",
    "cctv_monitor_probes_in_flight": "gauge",
    "cctv_monitor_config_last_reload_successful": "gauge",
    # additions (monitor/metrics/exporter.py docstring)
    "cctv_feed_state": "gauge",
    "cctv_camera_integration_info": "gauge",
    "cctv_link_state": "gauge",
    "cctv_link_rtt_min_seconds": "gauge",
    "cctv_link_rtt_max_seconds": "gauge",
    "cctv_link_jitter_seconds": "gauge",
    "cctv_centre_up": "gauge",
    "cctv_provider_cameras": "gauge",
    "cctv_provider_feeds": "gauge",
    "cctv_monitor_cameras": "gauge",
    "cctv_monitor_config_last_reload_success_timestamp_seconds": "gauge",
}


def stream_result() -> Result:
    return Result(Reason.OK, duration=4.01, detail={
        "codec": "H264", "width": 1920, "height": 1080, "fps": 25.0,
        "bytes_per_second": 262144.5, "keyframe_interval": 2.0, "packets": 900})


def populated(n: int = 6) -> tuple[State, Exporter]:
    inv = make_inventory(n, checks=("tcp", "rtsp", "stream", "http", "snapshot"))
    inv = dataclasses.replace(inv, settings=dataclasses.replace(
        inv.settings, stream=StreamSettings(interval=60)))
    st = State(inv)
    ex = Exporter(st)
    for i, cam in enumerate(inv.cameras):
        cid = cam.id
        st.record_result(cid, "tcp", ok())
        st.record_result(cid, "rtsp", ok() if i % 3 else fail(Reason.AUTH_FAILED, "401"))
        st.record_result(cid, "stream", stream_result())
        st.record_result(cid, "http", ok())
        st.record_result(cid, "snapshot", Result(Reason.OK, detail={"luminance": 0.42, "unchanged": 1}))
        st.record_feed(cid, "police-hq", ok() if i % 2 else fail(Reason.NOT_FOUND))
    st.record_link("police-hq", "primary", link("up"))
    st.record_link("police-hq", "backup", link("down"))
    return st, ex


def parse(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(fams: dict, name: str, sample_name: str | None = None) -> list:
    return [s for s in fams[name].samples if s.name == (sample_name or name)]


async def test_every_family_parses_back_with_the_right_type():
    st, ex = populated()
    text = (await ex.render()).decode()
    fams = parse(text)
    for name, typ in SPEC_FAMILIES.items():
        assert name in fams, f"{name} missing"
        assert fams[name].type == typ, name
        assert fams[name].samples, f"{name} has no samples"
    # spot values
    up = {s.labels["camera"]: s.value for s in samples(fams, "cctv_camera_up")}
    assert up == {f"JKT-{i:04d}": (0.0 if i % 3 == 0 else 1.0) for i in range(6)}
    info = samples(fams, "cctv_camera_info")[1].labels
    assert info == {"camera": "JKT-0001", "name": "Camera 1", "provider": "provider-b",
                    "district": "Menteng", "zone": "city", "lat": "-6.189", "lon": "106.82",
                    "uplink": "sw-1"}
    stream_info = samples(fams, "cctv_stream_info")[0].labels
    assert stream_info == {"camera": "JKT-0000", "codec": "H264", "width": "1920", "height": "1080"}
    assert samples(fams, "cctv_stream_bytes_per_second")[0].value == 262144.5
    feed_state = {s.labels["camera"]: s.labels["cause"] for s in samples(fams, "cctv_feed_state")}
    assert feed_state["JKT-0001"] == "ok"
    assert feed_state["JKT-0002"] == "feed_missing"
    assert feed_state["JKT-0000"] == "camera_down"
    pc = {(s.labels["provider"], s.labels["zone"], s.labels["state"]): s.value
          for s in samples(fams, "cctv_provider_cameras")}
    assert pc[("provider-a", "ring-1", "configured")] == 2  # JKT-0000, JKT-0004
    assert pc[("provider-a", "ring-1", "down")] == 1
    pf = {(s.labels["provider"], s.labels["integration"], s.labels["state"]): s.value
          for s in samples(fams, "cctv_provider_feeds") if s.labels["zone"] == "city"}
    assert pf[("provider-b", "police-hq", "configured")] == 3  # JKT-0001, -0003, -0005
    assert pf[("provider-b", "police-hq", "up")] == 3
    assert pf[("provider-b", "smart-city", "configured")] == 3
    assert pf[("provider-b", "smart-city", "up")] == 0  # no feed endpoint: never claimed up
    links = {s.labels["link"]: s.value for s in samples(fams, "cctv_link_up")}
    assert links == {"primary": 1.0, "backup": 0.0}
    assert samples(fams, "cctv_centre_up")[0].value == 1.0


async def test_promtool_check_metrics_accepts_the_output():
    promtool = require("promtool")
    st, ex = populated()
    text = await ex.render()
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    # promtool lints warnings onto stdout/stderr with a zero exit as well: we want none
    assert not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


async def test_one_reason_series_per_camera_and_check_and_monotonic_counters():
    st, ex = populated(2)
    cid = "JKT-0001"
    previous = None
    for reason in (Reason.TIMEOUT, Reason.REFUSED, Reason.OK, Reason.TIMEOUT, Reason.NOT_FOUND):
        st.record_result(cid, "rtsp", Result(reason, duration=0.1))
        fams = parse((await ex.render()).decode())
        series = [s for s in samples(fams, "cctv_probe_reason")
                  if s.labels["camera"] == cid and s.labels["check"] == "rtsp"]
        assert len(series) == 1 and series[0].labels["reason"] == reason.value
        counters = {(s.name, tuple(sorted(s.labels.items()))): s.value
                    for fam in ("cctv_probes", "cctv_probe_failures", "cctv_camera_state_changes")
                    for s in fams[fam].samples if s.labels.get("camera") == cid}
        if previous is not None:
            for key, value in previous.items():
                assert counters[key] >= value, key
        previous = counters
    failures = {s.labels["reason"]: s.value for s in samples(fams, "cctv_probe_failures", "cctv_probe_failures_total")
                if s.labels["camera"] == cid and s.labels["check"] == "rtsp"}
    assert failures == {"timeout": 2, "refused": 1, "not_found": 1}
    # a reload keeps the counters of kept cameras
    inv2 = dataclasses.replace(st.inventory, cameras=st.inventory.cameras + (make_camera(9),))
    st.apply(inv2)
    fams = parse((await ex.render()).decode())
    for key, value in previous.items():
        now = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in ("cctv_probes", "cctv_probe_failures", "cctv_camera_state_changes")
               for s in fams[fam].samples}
        assert now[key] >= value
    assert any(s.labels["camera"] == "JKT-0009" for s in samples(fams, "cctv_camera_info"))


async def test_removed_camera_loses_every_series():
    st, ex = populated(3)
    inv = dataclasses.replace(st.inventory, cameras=st.inventory.cameras[1:])
    st.apply(inv)
    text = (await ex.render()).decode()
    assert 'camera="JKT-0000"' not in text
    assert 'camera="JKT-0001"' in text


async def test_label_values_are_escaped():
    nasty = 'Jl. "Thamrin" \\ north\nexit'
    cam = make_camera(1, name=nasty, district='a"b', id='JKT-"1"\\x')
    st = State(make_inventory(cameras=[cam]))
    ex = Exporter(st)
    st.record_result(cam.id, "rtsp", ok())
    text = (await ex.render()).decode()
    assert escape(nasty) == 'Jl. \\"Thamrin\\" \\\\ north\\nexit'
    fams = parse(text)
    info = samples(fams, "cctv_camera_info")[0].labels
    assert info["name"] == nasty and info["district"] == 'a"b' and info["camera"] == cam.id
    assert samples(fams, "cctv_probe_success")[0].labels["camera"] == cam.id
    assert all(line.count("\n") == 0 for line in text.split("\n"))  # trivially, one series a line


async def test_canary_password_never_exported():
    st, ex = populated()
    assert CANARY not in (await ex.render()).decode()


async def test_gzip_is_the_same_exposition():
    st, ex = populated()
    chunks = await ex.render_chunks()
    assert gzip.decompress(gzip_chunks(chunks)) == b"".join(chunks)
    body = await ex.render(gzip=True)
    fams = parse(gzip.decompress(body).decode())
    assert "cctv_camera_up" in fams


async def test_unknown_values_are_absent_not_zero():
    st = State(make_inventory(1))
    ex = Exporter(st)
    st.record_link("police-hq", "primary", LinkResult("down", Reason.TIMEOUT, 5, 0, 1.0))
    fams = parse((await ex.render()).decode())
    assert not fams["cctv_camera_up"].samples
    assert not fams["cctv_camera_last_up_timestamp_seconds"].samples
    assert not fams["cctv_link_rtt_seconds"].samples  # no answer: no RTT
    assert samples(fams, "cctv_link_loss_ratio")[0].value == 1.0
    assert len(samples(fams, "cctv_camera_info")) == 1
