"""The onvif check: the real ONVIF client library (onvif-zeep-async) against the
simulator's device service (SOAP, WS-UsernameToken digest), through the real loader.

Healthy cameras tell their identity and a correct clock; a clock_skew camera its wrong
clock (also in the Date header of its RTSP and HTTP answers); a duplicate_device camera
the serial of another camera; wrong and missing credentials end in auth_failed and
auth_required; a camera that is down is refused.  `probe --check onvif -v` prints the
exchange without the password.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from monitor.model import Reason

FAULTS = ("healthy", "clock_skew", "duplicate_device", "wrong_credentials", "auth_required",
          "down")
PASSWORD = "sim-pass-4711"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
async def fleet_and_inventory(tmp_path, unused_tcp_port_factory):
    from monitor import config
    from monitor.simulator import fleet as simfleet
    from monitor.simulator.server import serve

    cameras = [
        simfleet.SimCamera(
            id=f"O-{i:03d}", name=f"{fault} camera", provider="pt-test", city="Jakarta Pusat",
            district="Menteng", zone="city", lat=-6.19, lon=106.83, ip=f"127.92.0.{i + 2}",
            fault=fault, rtsp_port=unused_tcp_port_factory(), http_port=unused_tcp_port_factory())
        for i, fault in enumerate(FAULTS)
    ]
    fleet = simfleet.SimFleet(cameras=cameras, providers=[simfleet.SimProvider("pt-test", 10, 0.98)],
                              integrations=[], password=PASSWORD, seed=3, slow_delay=0.5,
                              flap_period=3600.0)
    path = tmp_path / "fleet.yml"
    simfleet.write_config(fleet, path)
    inventory = config.load(path)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(fleet, control=("127.0.0.1", unused_tcp_port_factory()),
                                     ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    try:
        yield fleet, inventory, path
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _probe(check, endpoint):
    from monitor.probes import get_probe, run_probe

    return await run_probe(get_probe(check), endpoint, 5.0, trace=[])


async def test_identity_clock_and_faults(fleet_and_inventory):
    from monitor.simulator.fleet import twins
    from monitor.simulator.onvif import clock_skew, serial_of

    fleet, inventory, _ = fleet_and_inventory
    cams = {c.fault: c for c in fleet.cameras}
    conf = {c.id: c for c in inventory.cameras}
    assert all(c.onvif is not None and "onvif" in c.checks for c in inventory.cameras)
    results = dict(zip(FAULTS, await asyncio.gather(
        *(_probe("onvif", conf[cams[f].id].onvif) for f in FAULTS))))
    healthy = results["healthy"]
    assert healthy.reason is Reason.OK, (healthy.message, healthy.trace)
    d = healthy.detail
    assert d["serial"] == serial_of(cams["healthy"].id)
    assert d["manufacturer"] and d["model"] and d["firmware"] and d["hardware_id"]
    assert abs(d["clock_offset"]) <= 0.6  # a correct clock, within 1 s resolution
    skew = clock_skew(cams["clock_skew"])
    assert skew != 0
    assert results["clock_skew"].detail["clock_offset"] == pytest.approx(skew, abs=0.6)
    # the same skew in the Date header of its RTSP and HTTP answers
    for check in ("rtsp", "http"):
        r = await _probe(check, getattr(conf[cams["clock_skew"].id], check))
        assert r.detail["clock_offset"] == pytest.approx(skew, abs=0.6), (check, r.detail)
    dup = results["duplicate_device"]
    twin = twins(fleet.cameras)[cams["duplicate_device"].id]  # the camera before it
    assert dup.reason is Reason.OK and dup.detail["serial"] == serial_of(twin)
    assert twin == cams["clock_skew"].id and results["clock_skew"].detail["serial"] == serial_of(twin)
    assert results["wrong_credentials"].reason is Reason.AUTH_FAILED
    assert results["auth_required"].reason is Reason.AUTH_REQUIRED
    assert results["down"].reason is Reason.REFUSED
    for r in results.values():
        assert PASSWORD not in (r.message + "".join(r.trace or []))


async def test_probe_command_prints_the_exchange(fleet_and_inventory):
    fleet, inventory, _ = fleet_and_inventory
    cam = next(c for c in inventory.cameras if c.id == fleet.cameras[1].id)  # clock_skew
    url = cam.onvif.url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "probe", url, "--check", "onvif", "-v",
        "--user", cam.onvif.credentials.username,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": ROOT, "CCTV_PASSWORD": PASSWORD})
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "GetSystemDateAndTime" in text and "GetDeviceInformation" in text, text
    assert "serial SN" in text and "camera clock" in text, text
    assert PASSWORD not in text


async def test_daemon_exports_devices_clocks_and_the_duplicate(fleet_and_inventory):
    import dataclasses
    import time

    from monitor.metrics.exporter import Exporter
    from monitor.model import OnvifSettings
    from monitor.runtime.scheduler import Scheduler
    from monitor.simulator.onvif import clock_skew
    from monitor.state import State
    from monitor.web.status import render
    from monitor.web.app import camera_json

    fleet, inventory, _ = fleet_and_inventory
    settings = dataclasses.replace(inventory.settings, onvif=OnvifSettings(interval=1.0))
    inventory = dataclasses.replace(inventory, settings=settings)
    st = State(inventory)
    ex = Exporter(st)
    sc = Scheduler(st)
    await sc.start()
    try:
        for _ in range(100):  # bounded: the first onvif round is due within 1 s
            await asyncio.sleep(0.1)
            if all("onvif" in cs.results for cs in st.cameras.values()):
                break
    finally:
        await sc.stop()
    text = (await ex.render()).decode()
    by_fault = {c.fault: c.id for c in fleet.cameras}
    skewed, dup = by_fault["clock_skew"], by_fault["duplicate_device"]
    assert f'cctv_camera_device_info{{camera="{by_fault["healthy"]}",manufacturer=' in text
    line = next(x for x in text.splitlines()
                if x.startswith(f'cctv_camera_clock_offset_seconds{{camera="{skewed}"}}'))
    assert float(line.split()[-1]) == pytest.approx(clock_skew(fleet.cameras[1]), abs=0.6)
    assert 'cctv_inventory_duplicate_devices{provider="pt-test"} 2' in text
    assert st.devices.duplicates() == [(st.devices.identity(dup)["serial"], dup, skewed)] or \
        st.devices.duplicates() == [(st.devices.identity(dup)["serial"], skewed, dup)]
    page = render(st, time.time()).decode()
    assert "One device, two cameras" in page and dup in page
    assert camera_json(st.cameras[dup], st.devices)["duplicate_of"] == [skewed]
    assert PASSWORD not in text and PASSWORD not in page


def test_a_changed_serial_is_logged_once(caplog):
    from monitor.state.devices import DeviceIndex
    from monitor.model import Result
    from tests.factories import make_camera

    class CS:  # the two fields DeviceIndex reads of a CameraState
        def __init__(self):
            self.camera = make_camera(0)
            self.results = {}

    cs = CS()
    index = DeviceIndex({cs.camera.id: cs.camera.provider}.get)

    def answer(serial):
        cs.results["onvif"] = Result(Reason.OK, detail={"serial": serial, "model": "M"})
        index.camera_check(cs, "onvif")

    with caplog.at_level("WARNING", logger="monitor.state.devices"):
        for serial in ("SN1", "SN1", "SN2", "SN2", "SN2"):
            answer(serial)
    changed = [r for r in caplog.records if "serial changed" in r.getMessage()]
    assert len(changed) == 1 and "SN1 to SN2" in changed[0].getMessage()
    assert index.duplicates() == []
