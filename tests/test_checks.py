"""The check catalogue: every declared check can be scheduled, probed, exported and is
documented; docs/checks.md is what the catalogue generates."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import checks
from monitor.checks import BUDGETS, CAMERA_CHECKS, CHECKS, FEED, ICMP, LINK, PROBE_COMMAND
from monitor.model import Endpoint, MonitorSettings, OnvifSettings, Reason, Result, StreamSettings
from monitor.state import State
from tests.factories import make_camera, make_inventory

ROOT = Path(__file__).resolve().parent.parent
EVERY = (*CHECKS.values(), FEED, ICMP)


def test_every_check_is_probed_by_a_real_probe_or_judges_another_check():
    for c in EVERY:
        if c.after is not None:
            assert c.probe is None, c.name
            assert c.after in CHECKS and CHECKS[c.after].probe is not None, c.name
            assert callable(c.post) and inspect.iscoroutinefunction(c.post.resolve()), c.name
        else:
            assert c.post is None, c.name
            fn = c.probe.resolve()
            assert inspect.iscoroutinefunction(fn), c.name
            assert list(inspect.signature(fn).parameters) == ["endpoint", "ctx"], c.name
        assert c.budget in BUDGETS, c.name
        assert Reason.OK in c.reasons and c.doc, c.name
        assert c.fields or c.kind == "link", c.name
        assert c.timeout(MonitorSettings()) > 0
    assert inspect.iscoroutinefunction(LINK.probe.resolve())


def test_checks_are_listed_in_catalogue_order_and_resolve_from_any_key():
    assert CAMERA_CHECKS == tuple(CHECKS)
    assert checks.check_for("feed:police-hq") is FEED
    assert checks.feed_key("police-hq") == "feed:police-hq"
    assert checks.feed_integration(checks.feed_key("police-hq")) == "police-hq"
    assert checks.feed_integration("rtsp") is None and checks.feed_integration("feed") is None
    assert checks.check_for("stream") is CHECKS["stream"]
    with pytest.raises(KeyError, match="unknown check 'ptz'"):
        checks.check_for("ptz")
    assert checks.needs("tcp") == ("rtsp", "http")
    assert checks.needs("snapshot") == ("http",)
    assert "rtsps" in checks.schemes("stream") and "icmp" in checks.schemes("icmp")


def test_the_stream_switch_is_decided_once():
    on = MonitorSettings(stream=StreamSettings(interval=300))
    off = MonitorSettings(stream=StreamSettings(interval=0))
    assert checks.default_checks({"rtsp", "http"}, on) == ("rtsp", "stream", "picture", "http",
                                                           "snapshot")
    assert checks.default_checks({"rtsp", "http"}, off) == ("rtsp", "http", "snapshot")
    assert checks.default_checks({"http"}, on) == ("http", "snapshot")
    assert checks.active_checks(("snapshot", "stream", "tcp", "bogus"), off) == ("tcp", "snapshot")
    assert checks.active_checks(("picture", "stream"), off) == ()  # judges the stream's answer
    assert checks.enabled("stream", on) and not checks.enabled("stream", off)
    assert checks.enabled("feed:x", off)


def test_every_reason_has_a_meaning_and_every_check_reason_is_a_reason():
    assert set(checks.REASON_DOCS) == set(Reason)
    assert all(checks.REASON_DOCS[r].strip() for r in Reason)


async def test_every_declared_check_is_scheduled_and_recorded():
    """A check in the catalogue that the scheduler does not run would leave its cameras
    "unknown" forever: run each check alone on a camera and see its result recorded."""
    from monitor.runtime.scheduler import Scheduler

    async def answer(endpoint, ctx):
        return Result(Reason.OK, body=b"not a picture")

    async def up_link(link, settings):
        from monitor.model import LinkResult

        return LinkResult("up", Reason.OK, 1, 1, 0.0)

    for name in CAMERA_CHECKS:
        settings = MonitorSettings(interval=0.2, timeout=0.5,
                                   stream=StreamSettings(interval=0.2, duration=0.1),
                                   onvif=OnvifSettings(interval=0.2))
        onvif = Endpoint("http://127.0.0.1:9/onvif/device_service")
        st = State(make_inventory(cameras=[make_camera(0, checks=(name,), onvif=onvif)],
                                  settings=settings))
        sc = Scheduler(st, probe_lookup=lambda check: answer, link_probe=up_link)
        await sc.start()
        try:
            for _ in range(60):
                await asyncio.sleep(0.05)
                cs = st.cameras["JKT-0000"]
                if name in cs.results and cs.feeds["police-hq"].result is not None:
                    break
        finally:
            await sc.stop()
        assert name in cs.results, f"check {name} declared but never scheduled"
        assert cs.up is not None, name
        assert cs.feeds["police-hq"].result is not None


def test_the_scheduler_finds_the_real_prober_of_every_scheduled_check():
    from monitor.runtime.scheduler import Scheduler

    sc = Scheduler(State(make_inventory(1)))
    for c in (*CHECKS.values(), FEED):
        probed = checks.source(c)
        fn = sc.runner.probe_fn(probed.name)
        assert fn is probed.probe.resolve(), c.name
        assert inspect.iscoroutinefunction(fn), c.name


def test_every_check_is_exported():
    """The exporter knows every family a check declares, and gives each camera check its
    per-check series."""
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.metrics.exporter import Exporter
    from monitor.metrics.families import families_for_check

    settings = MonitorSettings(stream=StreamSettings(interval=60))
    inv = make_inventory(cameras=[make_camera(0, checks=CAMERA_CHECKS)], settings=settings)
    st = State(inv)
    ex = Exporter(st)
    for name in CAMERA_CHECKS:
        st.record_result("JKT-0000", name, Result(Reason.TIMEOUT))
    st.record_feed("JKT-0000", "police-hq", Result(Reason.OK))
    text = asyncio.run(ex.render()).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    for c in (*CHECKS.values(), FEED, LINK):
        for fam in families_for_check(c.name):
            assert fam.name in declared, f"{c.name}: exporter lacks {fam.name}"
    success = {s.labels["check"] for s in families["cctv_probe_success"].samples}
    assert success == set(CAMERA_CHECKS)


def test_probe_command_choices_come_from_the_catalogue():
    from monitor.commands.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["probe"]
    choices = next(a for a in sub._actions if a.dest == "check").choices
    assert tuple(choices) == tuple(PROBE_COMMAND)
    assert "snapshot" not in PROBE_COMMAND and "icmp" in PROBE_COMMAND


def test_docs_checks_md_is_generated_from_the_catalogue():
    out = subprocess.run([sys.executable, "-m", "monitor.checks", "--markdown"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    committed = (ROOT / "docs" / "checks.md").read_text()
    assert out == committed, "docs/checks.md drifted: python -m monitor.checks --markdown > docs/checks.md"
    for c in EVERY:
        assert f"`{c.name}`" in committed
    for r in Reason:
        assert f"| `{r.value}` |" in committed


async def test_a_check_the_catalogue_cannot_run_is_rejected_loudly(caplog):
    """A name outside the catalogue (a hand-built inventory) is logged once as not
    scheduled, and the camera's known checks still decide whether it is up."""
    from monitor.runtime.scheduler import Scheduler

    async def answer(endpoint, ctx):
        return Result(Reason.OK)

    cams = [make_camera(i, checks=("rtsp", "ptz"), feeds=False) for i in range(3)]
    st = State(make_inventory(cameras=cams, settings=MonitorSettings(interval=0.2, timeout=0.5)))
    sc = Scheduler(st, probe_lookup=lambda check: answer)
    await sc.start()
    try:
        for _ in range(40):
            await asyncio.sleep(0.05)
            if all(cs.up for cs in st.cameras.values()):
                break
    finally:
        await sc.stop()
    rejected = [r for r in caplog.records if "not scheduled" in r.getMessage()]
    assert len(rejected) == 1 and "ptz" in rejected[0].getMessage()
    assert all(cs.up is True and cs.checks == ("rtsp",) for cs in st.cameras.values())
