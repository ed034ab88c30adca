"""One vocabulary of causes (model.Cause): a camera down because the command-centre link it
hangs off is down shows `link_down` on /status, in /api/cameras and in the ledger's row; the
same camera down with its link up is the provider's (`camera`); feeds use the same words."""

from __future__ import annotations

from monitor.model import Cause
from monitor.state import FEED_CAUSES, State
from monitor.state.uplink_cause import camera_cause
from monitor.web.app import camera_json
from monitor.web.status import render
from tests.factories import fail, link, make_camera, make_inventory, ok


def _state():
    cams = [make_camera(0, checks=("rtsp",), uplink="police-hq/primary"),
            make_camera(1, checks=("rtsp",), uplink="backup"),
            make_camera(2, checks=("rtsp",), uplink="sw-9")]
    st = State(make_inventory(cameras=cams), now=1000.0)
    for name in ("primary", "backup"):
        st.record_link("police-hq", name, link("up"), now=1000.0)
    for cam in cams:
        st.record_result(cam.id, "rtsp", ok(), now=1000.0)
    return st


def test_a_camera_down_behind_a_down_uplink_shows_link_down():
    st = _state()
    st.record_link("police-hq", "primary", link("down"), now=1010.0)
    for i in range(3):
        st.record_result(f"JKT-{i:04d}", "rtsp", fail(), now=1011.0)
    causes = {cid: camera_cause(cs, st.links) for cid, cs in st.cameras.items()}
    # "police-hq/primary" by its full name; "backup" by the link's name alone (up); sw-9 is
    # no command-centre link at all
    assert causes == {"JKT-0000": Cause.LINK_DOWN, "JKT-0001": Cause.CAMERA, "JKT-0002": Cause.CAMERA}
    api = {cid: camera_json(cs, None, st.links)["cause"] for cid, cs in st.cameras.items()}
    assert api == {"JKT-0000": "link_down", "JKT-0001": "camera", "JKT-0002": "camera"}
    page = render(st, 1012.0).decode()
    row = page[page.index("<td>JKT-0000"):]
    row = row[:row.index("</tr>")]
    assert "police-hq/primary" in row and "link_down" in row
    other = page[page.index("<td>JKT-0001"):]
    assert "link_down" not in other[:other.index("</tr>")]
    # the link back, the camera still down: now its provider's
    st.record_link("police-hq", "primary", link("up"), now=1020.0)
    assert camera_cause(st.cameras["JKT-0000"], st.links) == Cause.CAMERA
    st.record_result("JKT-0000", "rtsp", ok(), now=1030.0)
    assert camera_cause(st.cameras["JKT-0000"], st.links) == Cause.OK


def test_feed_causes_are_the_model_vocabulary():
    assert all(isinstance(c, Cause) for c in FEED_CAUSES)
    st = _state()
    cs = st.cameras["JKT-0001"]
    st.record_feed("JKT-0001", "police-hq", fail(), now=1001.0)
    assert cs.feeds["police-hq"].cause is Cause.FEED_MISSING
    st.record_link("police-hq", "primary", link("down"), now=1002.0)
    st.record_link("police-hq", "backup", link("down"), now=1002.5)
    assert cs.feeds["police-hq"].cause is Cause.LINK_DOWN
    # older ledgers wrote "link" for a link-caused camera outage
    assert Cause.of("link") is Cause.LINK_DOWN and Cause.of("no-such") is Cause.UNKNOWN
