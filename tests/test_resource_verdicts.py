"""Checks that judge or identify rather than connect (the picture and snapshot post-steps,
the onvif check) never turn the monitor's own lack of descriptors, threads or memory into a
camera's verdict: they raise LocalResourceError like every connecting probe, and the
scheduler drops the round instead of recording a reason."""

from __future__ import annotations

import errno

import pytest

from monitor import checks
from monitor.model import Endpoint, MonitorSettings, Reason, Result
from monitor.probes.base import run_probe
from monitor.resources import LocalResourceError


@pytest.mark.parametrize("exc, kind", [
    (OSError(errno.EMFILE, "Too many open files"), "descriptors"),
    (RuntimeError("can't start new thread"), "threads"),
    (MemoryError(), "memory"),
])
async def test_a_post_step_out_of_local_resources_has_no_verdict(exc, kind):
    async def step(answer, memory, settings):
        raise exc

    with pytest.raises(LocalResourceError) as info:
        await checks.judge(checks.SNAPSHOT, Result(Reason.OK, body=b"x"), {}, MonitorSettings(), step)
    assert info.value.kind == kind


async def test_a_broken_picture_is_still_a_verdict():
    async def step(answer, memory, settings):
        raise ValueError("not a JPEG")

    verdict = await checks.judge(checks.SNAPSHOT, Result(Reason.OK, body=b"x"), {}, MonitorSettings(), step)
    assert verdict is not None and verdict.reason is Reason.BAD_RESPONSE


async def test_onvif_out_of_descriptors_is_the_monitors_condition(monkeypatch):
    from onvif import ONVIFService

    from monitor.probes import onvif

    async def setup(self):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(ONVIFService, "setup", setup)
    with pytest.raises(LocalResourceError) as info:
        await run_probe(onvif.probe, Endpoint("http://127.0.0.1:9/onvif/device_service"), 2.0)
    assert info.value.kind == "descriptors"


async def test_onvif_refused_is_still_the_cameras(monkeypatch):
    from onvif import ONVIFService

    from monitor.probes import onvif

    async def setup(self):
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")

    monkeypatch.setattr(ONVIFService, "setup", setup)
    result = await run_probe(onvif.probe, Endpoint("http://127.0.0.1:9/onvif/device_service"), 2.0)
    assert result.reason is not Reason.OK
