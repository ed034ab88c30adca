"""State: up/down semantics, feed causes, links, readiness, reload, and the state-change log."""

from __future__ import annotations

import dataclasses
import logging

from monitor.model import MonitorSettings, Reason, Result, StreamSettings
from monitor.state import State
from tests.factories import CANARY, fail, link, make_camera, make_inventory, ok


def test_up_is_unknown_until_every_check_ran_then_down_at_first_failure():
    st = State(make_inventory(1))
    cid = "JKT-0000"
    cs = st.cameras[cid]
    assert cs.up is None
    st.record_result(cid, "rtsp", ok())
    assert cs.up is None  # http and snapshot not known yet
    st.record_result(cid, "http", ok())
    assert cs.up is None
    st.record_result(cid, "snapshot", ok())
    assert cs.up is True and cs.reason is Reason.OK and cs.failed_check is None
    assert cs.last_up is not None
    st.record_result(cid, "http", fail(Reason.NOT_FOUND))
    assert cs.up is False and cs.failed_check == "http" and cs.reason is Reason.NOT_FOUND
    assert cs.changes == 1

    st2 = State(make_inventory(1))
    st2.record_result(cid, "rtsp", fail(Reason.REFUSED))
    assert st2.cameras[cid].up is False  # down at once, other checks still unknown
    assert st2.cameras[cid].changes == 0  # unknown -> down is not a flip


def test_stream_check_is_not_awaited_for_up():
    inv = make_inventory(1, checks=("rtsp", "stream"))
    st = State(inv)
    st.record_result("JKT-0000", "rtsp", ok())
    assert st.cameras["JKT-0000"].up is True
    on = dataclasses.replace(inv, settings=MonitorSettings(stream=StreamSettings(interval=60)))
    st2 = State(on)
    assert st2.cameras["JKT-0000"].up is None
    # The stream check comes on its own long interval: the fast checks decide meanwhile.
    st2.record_result("JKT-0000", "rtsp", ok())
    assert st2.cameras["JKT-0000"].up is True
    st2.record_result("JKT-0000", "stream", fail(Reason.NO_VIDEO, "no keyframe"))
    assert st2.cameras["JKT-0000"].up is False
    assert st2.cameras["JKT-0000"].reason is Reason.NO_VIDEO


def test_one_log_line_per_flip_never_per_probe(caplog):
    caplog.set_level(logging.DEBUG, logger="cctv.state")
    st = State(make_inventory(1, feeds=False), now=1000.0)
    cid = "JKT-0000"
    for check in ("rtsp", "http", "snapshot"):
        st.record_result(cid, check, ok(), now=1000.0)
    assert not [r for r in caplog.records if r.name == "cctv.state"]
    for t in range(5):
        st.record_result(cid, "rtsp", fail(Reason.AUTH_FAILED, "401 with the configured credentials"),
                         now=1010.0 + t)
    down = [r.getMessage() for r in caplog.records if "down" in r.getMessage()]
    assert down == ["camera JKT-0000 down: check rtsp failed: auth_failed "
                    "(401 with the configured credentials)"]
    st.record_result(cid, "rtsp", ok(), now=1135.0)
    st.record_result(cid, "rtsp", ok(), now=1140.0)
    rec = [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()]
    assert rec == ["camera JKT-0000 recovered after 2m05s down"]
    assert all(CANARY not in r.getMessage() for r in caplog.records)


def test_generation_bumps_on_flips_only():
    st = State(make_inventory(1, feeds=False))
    cid = "JKT-0000"
    for check in ("rtsp", "http", "snapshot"):
        st.record_result(cid, check, ok())
    g = st.generation
    st.record_result(cid, "rtsp", ok())
    assert st.generation == g
    st.record_result(cid, "rtsp", fail())
    assert st.generation == g + 1
    st.record_result(cid, "rtsp", fail())
    assert st.generation == g + 1


def test_feed_causes():
    st = State(make_inventory(1))
    cid = "JKT-0000"
    cs = st.cameras[cid]
    fs = cs.feeds["police-hq"]
    assert fs.up is None and fs.cause == "unknown"
    for check in ("rtsp", "http", "snapshot"):
        st.record_result(cid, check, ok())
    st.record_link("police-hq", "primary", link("up"))
    st.record_feed(cid, "police-hq", ok())
    assert (fs.up, fs.cause) == (True, "ok")
    st.record_feed(cid, "police-hq", fail(Reason.NOT_FOUND))
    assert (fs.up, fs.cause) == (False, "feed_missing")
    # the only known link goes down: the centre is unreachable, the feed cause follows
    st.record_link("police-hq", "primary", link("down"))
    assert st.centre_up("police-hq") is False
    assert fs.cause == "link_down"
    # the camera itself goes down: that explains the feed first
    st.record_result(cid, "rtsp", fail(Reason.REFUSED))
    assert fs.cause == "camera_down"
    st.record_result(cid, "rtsp", ok())
    assert fs.cause == "link_down"
    st.record_link("police-hq", "backup", link("degraded"))
    assert st.centre_up("police-hq") is True  # degraded still carries traffic
    assert fs.cause == "feed_missing"


def test_links_log_transitions_and_centre_up(caplog):
    caplog.set_level(logging.INFO, logger="cctv.state")
    st = State(make_inventory(0), now=0.0)
    assert st.centre_up("police-hq") is None
    g = st.generation
    st.record_link("police-hq", "primary", link("up"), now=1.0)
    st.record_link("police-hq", "primary", link("up"), now=2.0)
    st.record_link("police-hq", "primary", link("degraded"), now=3.0)
    st.record_link("police-hq", "primary", link("down"), now=4.0)
    st.record_link("police-hq", "primary", link("down"), now=5.0)
    st.record_link("police-hq", "primary", link("up"), now=64.0)
    msgs = [r.getMessage() for r in caplog.records if r.name == "cctv.state"]
    assert len(msgs) == 3, msgs
    assert msgs[0].startswith("link police-hq/primary degraded: loss 20%")
    assert msgs[1].startswith("link police-hq/primary down: timeout")
    assert msgs[2] == "link police-hq/primary recovered after 60s down"
    assert st.generation == g + 4
    assert st.links[("police-hq", "primary")].changes == 3
    assert st.centre_up("police-hq") is True


def test_ready_after_every_camera_and_link_had_a_verdict():
    st = State(make_inventory(2))
    assert not st.ready
    st.record_result("JKT-0000", "rtsp", fail())
    st.record_result("JKT-0001", "http", fail())
    assert not st.ready  # links still unknown
    st.record_link("police-hq", "primary", link("up"))
    st.record_link("police-hq", "backup", link("up"))
    assert st.ready
    st2 = State(make_inventory(2))
    st2.mark_ready()
    assert st2.ready


def test_apply_keeps_counters_adds_and_removes():
    inv = make_inventory(3, feeds=False)
    st = State(inv)
    for _ in range(3):
        st.record_result("JKT-0001", "rtsp", fail(Reason.REFUSED))
    kept_before = st.cameras["JKT-0001"]
    cams = [c for c in inv.cameras if c.id != "JKT-0000"]
    cams[0] = dataclasses.replace(cams[0], name="renamed")  # JKT-0001 changed
    cams.append(make_camera(7, feeds=False))
    added, removed, changed = st.apply(dataclasses.replace(inv, cameras=tuple(cams)))
    assert (added, removed, changed) == (["JKT-0007"], ["JKT-0000"], ["JKT-0001"])
    cs = st.cameras["JKT-0001"]
    assert cs is kept_before and cs.camera.name == "renamed"
    assert cs.probes["rtsp"] == 3 and cs.failures[("rtsp", "refused")] == 3
    assert "JKT-0000" not in st.cameras
    st.record_result("JKT-0000", "rtsp", ok())  # a late result of a removed camera: ignored
    assert "JKT-0000" not in st.cameras


def test_result_body_is_dropped():
    st = State(make_inventory(1))
    r = Result(Reason.OK, body=b"\xff\xd8 picture")
    st.record_result("JKT-0000", "http", r)
    assert st.cameras["JKT-0000"].results["http"].body is None


def test_feed_log_lines_follow_their_cause(caplog):
    caplog.set_level(logging.INFO, logger="cctv.state")
    st = State(make_inventory(1), now=0.0)
    cid = "JKT-0000"
    for check in ("rtsp", "http", "snapshot"):
        st.record_result(cid, check, ok(), now=1.0)
    st.record_link("police-hq", "primary", link("up"), now=1.0)
    st.record_feed(cid, "police-hq", ok(), now=1.0)
    st.record_feed(cid, "police-hq", fail(Reason.NOT_FOUND, "404 on DESCRIBE"), now=2.0)
    st.record_feed(cid, "police-hq", fail(Reason.NOT_FOUND, "404 on DESCRIBE"), now=3.0)
    st.record_feed(cid, "police-hq", ok(), now=12.0)
    msgs = [r.getMessage() for r in caplog.records if "feed" in r.getMessage()]
    assert msgs == ["feed police-hq of camera JKT-0000 down (feed_missing): 404 on DESCRIBE",
                    "feed police-hq of camera JKT-0000 recovered after 10s down"]
    caplog.clear()
    # down because the camera is down: the camera's own line says it all
    st.record_result(cid, "rtsp", fail(Reason.REFUSED), now=20.0)
    st.record_feed(cid, "police-hq", fail(Reason.REFUSED), now=20.5)
    st.record_result(cid, "rtsp", ok(), now=30.0)
    st.record_feed(cid, "police-hq", ok(), now=30.5)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["camera JKT-0000 down: check rtsp failed: refused (deadline passed)",
                    "camera JKT-0000 recovered after 10s down"], msgs


def test_duplicate_device_counts_follow_a_reload_that_adds_the_twin():
    """A reload that adds a camera answering with the serial of an existing one: both
    cameras of the pair count for their provider, the new one included."""
    checks = ("rtsp", "onvif")
    inv = make_inventory(1, checks=checks, feeds=False)  # JKT-0000 of provider-a
    st = State(inv)

    def onvif(camera_id: str, serial: str) -> None:
        st.record_result(camera_id, "onvif",
                         Result(Reason.OK, detail={"serial": serial, "model": "M"}))

    onvif("JKT-0000", "SN-1")
    assert st.devices.duplicate_counts() == {}
    twin = make_camera(1, checks=checks, feeds=False)  # provider-b
    st.apply(dataclasses.replace(inv, cameras=(*inv.cameras, twin)))
    onvif("JKT-0001", "SN-1")
    assert st.devices.duplicates() == [("SN-1", "JKT-0000", "JKT-0001")]
    assert st.devices.duplicate_counts() == {"provider-a": 1, "provider-b": 1}
    # the twin leaves with the next reload: no pair, no count
    st.apply(inv)
    assert st.devices.duplicates() == [] and st.devices.duplicate_counts() == {}
