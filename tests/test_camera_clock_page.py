"""The camera clock on the status page: cameras whose clock is off, the worst first."""

from __future__ import annotations

import time

from monitor.checks import camera_clock
from monitor.model import Reason, Result
from monitor.state import State
from monitor.web.status import render
from tests.factories import make_inventory


def test_camera_clock_prefers_onvif_then_rtsp_then_http():
    results = {"http": Result(Reason.OK, detail={"clock_offset": 3.0}),
               "rtsp": Result(Reason.OK, detail={"clock_offset": None})}
    assert camera_clock(results) == (3.0, "http")
    results["onvif"] = Result(Reason.OK, detail={"clock_offset": -7200.2})
    assert camera_clock(results) == (-7200.2, "onvif")
    assert camera_clock({}) is None
    # the stream's Date header is the last resort, the feed relay's clock is not the camera's
    assert camera_clock({"stream": Result(Reason.OK, detail={"clock_offset": 1.0}),
                         "feed:police-hq": Result(Reason.OK, detail={"clock_offset": 9.0})}) \
        == (1.0, "stream")


def test_status_page_lists_clocks_off_worst_first():
    st = State(make_inventory(4))
    offsets = {"JKT-0000": 0.4, "JKT-0001": -125.0, "JKT-0002": 3 * 86400.0}
    for cid, value in offsets.items():
        st.record_result(cid, "rtsp", Result(Reason.OK, detail={"clock_offset": value}))
    page = render(st, time.time()).decode()
    section = page[page.index('id="clocks"'):]
    assert "3 cameras told their time; 2 are more than 10 s off" in section
    assert section.index("JKT-0002") < section.index("JKT-0001")  # worst first
    assert "+3 days" in section and "-2 min" in section
    assert "JKT-0000" not in section[:section.index("</table>")]
