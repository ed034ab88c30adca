"""Result.detail keys: every check of the catalogue, probed for real against a healthy
simulated camera on loopback, writes exactly the keys its entry declares (`Check.detail`);
and every key the exporter's families read is one their checks write.  So a key cannot
drift between a probe and its reader, and a new check is covered here without an edit:
the test takes the list of checks, their probers and post-steps from the catalogue."""

from __future__ import annotations

import asyncio

import pytest

from monitor.checks import CHECKS, FEED, ICMP, judge
from monitor.metrics.families import DETAIL, FAMILIES, families_for_check
from monitor.model import Detail, MonitorSettings, Reason, split_credentials

#: Every check with a prober or a post-step: the camera checks, the feed and the one echo.
EVERY = (*CHECKS.values(), FEED, ICMP)
STREAM_DURATION = 1.5


def test_every_key_is_declared_and_written_by_some_check():
    keys = [v for k, v in vars(Detail).items() if k.isupper()]
    assert len(keys) == len(set(keys))
    assert set().union(*(c.detail for c in EVERY)) == set(keys)


@pytest.fixture
async def camera(tmp_path, unused_tcp_port_factory):
    """One healthy simulated camera (RTSP with H.264 keyframes, HTTP picture, ONVIF) on its
    own loopback address, as the config loader sees it."""
    from monitor import config
    from monitor.simulator import fleet as simfleet
    from monitor.simulator.server import serve

    sim = simfleet.SimCamera(
        id="K-000", name="keys camera", provider="pt-test", city="Jakarta Pusat",
        district="Menteng", zone="city", lat=-6.19, lon=106.83, ip="127.93.0.2",
        rtsp_port=unused_tcp_port_factory(), http_port=unused_tcp_port_factory(),
        keyframe_interval=0.25)  # several keyframes in one short stream check
    fleet = simfleet.SimFleet(cameras=[sim], providers=[simfleet.SimProvider("pt-test", 1, 0.98)],
                              integrations=[], password="keys-pass-1", seed=5, slow_delay=0.5,
                              flap_period=3600.0)
    path = tmp_path / "fleet.yml"
    simfleet.write_config(fleet, path)
    (cam,) = config.load(path).cameras
    ready = asyncio.Event()
    task = asyncio.create_task(serve(fleet, control=None, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    try:
        yield cam
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _endpoint(check, cam):
    if check.kind == "feed":
        return cam.rtsp  # an integration point's relay answers as the camera does
    if not check.fields:  # the echo of a link target
        return split_credentials(f"{sorted(check.schemes)[0]}://127.0.0.1")
    endpoint = check.endpoint(cam)
    assert endpoint is not None, (
        f"{check.name}: the test camera has none of {check.fields}; give it one in the fixture")
    return endpoint


async def test_every_check_writes_exactly_its_declared_keys(camera):
    from monitor.probes import run_probe
    from monitor.probes.icmp import icmp_mode

    settings = MonitorSettings()
    answers, wrong, probed = {}, [], []
    for check in EVERY:
        if check.probe is None:
            continue
        if check is ICMP and icmp_mode() is None:
            pytest.fail("no ICMP socket here (root or net.ipv4.ping_group_range needed)")
        result = await run_probe(check.probe, _endpoint(check, camera), 5.0,
                                 stream_duration=STREAM_DURATION)
        answers[check.name] = result
        probed.append(check.name)
        if result.reason is not Reason.OK or set(result.detail) != check.detail:
            wrong.append((check.name, result.reason.value, result.message,
                          sorted(set(result.detail) ^ check.detail)))
    for check in EVERY:
        if check.after is None:
            continue
        verdict = await judge(check, answers[check.after], {}, settings)
        probed.append(check.name)
        if verdict is None or verdict.reason is not Reason.OK or set(verdict.detail) != check.detail:
            wrong.append((check.name, verdict and verdict.reason.value, verdict and verdict.message,
                          verdict and sorted(set(verdict.detail) ^ check.detail)))
    assert not wrong, "(check, reason, message, keys written xor declared): " + repr(wrong)
    assert probed == [c.name for c in EVERY if c.probe] + [c.name for c in EVERY if c.after]
    assert {"tcp", "rtsp", "stream", "picture", "http", "snapshot", "onvif", "feed",
            "icmp"} <= set(probed)


def test_exported_detail_keys_are_written_by_their_checks():
    detail_families = [f for f in FAMILIES if f.level == DETAIL]
    assert detail_families
    for fam in detail_families:
        for check in fam.checks:
            assert fam.key in CHECKS[check].detail, (fam.name, check, fam.key)
            assert fam in families_for_check(check)


def test_families_for_check():
    names = {f.name for f in families_for_check("stream")}
    assert {"cctv_probe_success", "cctv_probe_reason", "cctv_stream_frames_per_second",
            "cctv_stream_info"} <= names
    assert "cctv_snapshot_luminance_ratio" not in names
    assert {f.name for f in families_for_check("rtsp")} >= {"cctv_probe_success", "cctv_stream_info"}
    # a check nothing reads the detail of still has its per-check series
    assert {f.level for f in families_for_check("tcp")} == {"check"}
