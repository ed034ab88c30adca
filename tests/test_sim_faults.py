"""Every simulated fault ends in the reason docs/checks.md names, through the monitor's own probes.

The simulator and the monitor share nothing but the configuration the simulator writes:
this test serves one camera per fault, loads that configuration with the real loader, and
runs the real probes, so it checks both sides of the wire at once.
"""

from __future__ import annotations

import asyncio

import pytest

from monitor.model import Reason

FAULT_EXPECTATIONS = {
    # fault: {check: expected reason}
    "healthy": {"rtsp": Reason.OK, "http": Reason.OK, "stream": Reason.OK, "snapshot": Reason.OK},
    "down": {"rtsp": Reason.REFUSED, "http": Reason.REFUSED},
    "tarpit": {"rtsp": Reason.TIMEOUT, "http": Reason.TIMEOUT},
    "slow": {"rtsp": Reason.OK, "http": Reason.OK},
    "auth_required": {"rtsp": Reason.AUTH_REQUIRED, "http": Reason.AUTH_REQUIRED},
    "wrong_credentials": {"rtsp": Reason.AUTH_FAILED, "http": Reason.AUTH_FAILED},
    "not_found": {"rtsp": Reason.NOT_FOUND, "http": Reason.NOT_FOUND},
    "server_error": {"rtsp": Reason.SERVER_ERROR, "http": Reason.SERVER_ERROR},
    "garbage": {"rtsp": Reason.BAD_RESPONSE, "http": Reason.BAD_RESPONSE},
    "frozen": {"rtsp": Reason.OK, "http": Reason.OK, "snapshot": Reason.FROZEN_IMAGE},
    "black": {"rtsp": Reason.OK, "http": Reason.OK, "snapshot": Reason.BLACK_IMAGE},
    "no_keyframe": {"rtsp": Reason.OK, "stream": Reason.NO_VIDEO},
    "stall": {"rtsp": Reason.OK, "stream": Reason.NO_VIDEO},
    "feed_missing": {"rtsp": Reason.OK, "feed": Reason.NOT_FOUND},
}

TIMEOUT = 2.5
STREAM_DURATION = 2.5


@pytest.fixture
async def fleet_and_inventory(tmp_path, unused_tcp_port_factory):
    from monitor import config
    from monitor.simulator import fleet as simfleet
    from monitor.simulator.server import serve

    cameras = []
    for i, fault in enumerate(FAULT_EXPECTATIONS):
        cameras.append(simfleet.SimCamera(
            id=f"T-{i:03d}", name=f"{fault} camera", provider="pt-test", city="Jakarta Pusat",
            district="Menteng", zone="ring-1", lat=-6.19, lon=106.83, ip=f"127.91.0.{i + 2}",
            fault=fault, integrations=("police-hq",),
            rtsp_port=unused_tcp_port_factory(), http_port=unused_tcp_port_factory(),
            keyframe_interval=1.0,
        ))
    fleet = simfleet.SimFleet(
        cameras=cameras,
        providers=[simfleet.SimProvider("pt-test", 20, 0.98)],
        integrations=[simfleet.SimIntegration(
            "police-hq", relay_ip="127.91.1.5", relay_port=unused_tcp_port_factory(), centre=True,
            links=[simfleet.SimLink("primary", "127.91.1.1", tcp_port=unused_tcp_port_factory(),
                                    http_port=unused_tcp_port_factory())])],
        password="sim-pass-4711", seed=3, slow_delay=0.5, flap_period=3600.0,
    )
    path = tmp_path / "fleet.yml"
    simfleet.write_config(fleet, path)
    inventory = config.load(path)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(fleet, control=("127.0.0.1", unused_tcp_port_factory()), ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    try:
        yield fleet, inventory
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _probe(check: str, endpoint) -> object:
    from monitor.probes import get_probe, run_probe

    timeout = TIMEOUT + STREAM_DURATION if check == "stream" else TIMEOUT
    return await run_probe(get_probe(check), endpoint, timeout, stream_duration=STREAM_DURATION)


async def test_every_fault_gives_its_reason(fleet_and_inventory):
    from monitor.model import SnapshotSettings
    from monitor.probes.snapshot import SnapshotHistory, analyse

    fleet, inventory = fleet_and_inventory
    faults = {c.id: c.fault for c in fleet.cameras}
    got: dict[tuple[str, str], Reason] = {}

    async def camera_checks(cam):
        fault = faults[cam.id]
        expected = FAULT_EXPECTATIONS[fault]
        for check in expected:
            if check == "rtsp":
                got[fault, check] = (await _probe("rtsp", cam.rtsp)).reason
            elif check == "stream":
                got[fault, check] = (await _probe("stream", cam.rtsp)).reason
            elif check == "http":
                got[fault, check] = (await _probe("http", cam.http)).reason
            elif check == "snapshot":
                history = SnapshotHistory()
                settings = SnapshotSettings(frozen_after=3)
                reason = None
                for _ in range(3):
                    r = await _probe("http", cam.http)
                    assert r.ok, (fault, r.reason, r.message)
                    reason = analyse(r.body, history, settings).reason
                    await asyncio.sleep(1.1)  # a live camera's clock overlay moves on
                got[fault, check] = reason
            elif check == "feed":
                [(name, endpoint)] = [f for f in cam.feeds if f[0] == "police-hq"]
                got[fault, check] = (await _probe("rtsp", endpoint)).reason

    await asyncio.gather(*(camera_checks(c) for c in inventory.cameras))
    expected = {(f, c): r for f, checks in FAULT_EXPECTATIONS.items() for c, r in checks.items()}
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not wrong, f"(fault, check): (got, expected): {wrong}"


async def test_picture_check_on_the_simulated_stream(fleet_and_inventory):
    """The simulator's keyframes change like a live camera's (alternative IDR frames), so
    the picture check finds a healthy camera ok and a frozen one frozen."""
    from monitor.model import MonitorSettings
    from monitor.probes.picture import post_step

    fleet, inventory = fleet_and_inventory
    by_fault = {c.fault: c.id for c in fleet.cameras}
    cams = {c.id: c for c in inventory.cameras}
    settings = MonitorSettings()
    got = {}
    for fault in ("healthy", "frozen"):
        memory: dict = {}
        verdict = None
        for _ in range(3):  # three stream checks: at least three keyframes judged
            stream = await _probe("stream", cams[by_fault[fault]].rtsp)
            assert stream.reason is Reason.OK, (fault, stream.message)
            verdict = await post_step(stream, memory, settings)
        assert verdict is not None and verdict.detail["keyframes_decoded"] >= 1, (fault, verdict)
        got[fault] = verdict.reason
    assert got == {"healthy": Reason.OK, "frozen": Reason.FROZEN_IMAGE}
