"""The camera clock from the Date header of answers the probes already get."""

from __future__ import annotations

import email.utils

import pytest

from monitor.model import Reason, split_credentials
from monitor.probes import get_probe, run_probe
from monitor.probes.clock import ClockReading, offset

NOW = 1_795_939_207.25  # a wall-clock moment, .25 into its second


def test_offset_is_camera_minus_the_round_trip_midpoint():
    date = email.utils.formatdate(NOW + 600, usegmt=True)  # camera 10 minutes fast
    # sent at NOW - 0.1, received at NOW + 0.1: midpoint NOW; camera second + 0.5
    assert offset(date, NOW - 0.1, NOW + 0.1) == pytest.approx(600 + 0.25, abs=0.001)
    slow = email.utils.formatdate(NOW - 3 * 3600, usegmt=True)
    assert offset(slow, NOW, NOW) == pytest.approx(-3 * 3600 + 0.25, abs=0.001)


@pytest.mark.parametrize("date", [
    "Sun, 29 Nov 2026 08:00:07 GMT",      # RFC 7231 IMF-fixdate
    "Sunday, 29-Nov-26 08:00:07 GMT",     # RFC 850
    "Sun Nov 29 08:00:07 2026",           # asctime: GMT by definition
    "Sun, 29 Nov 2026 15:00:07 +0700",    # numeric zone (Jakarta)
])
def test_date_forms(date):
    at = 1_795_939_207.0  # 2026-11-29 08:00:07 UTC
    assert offset(date, at, at) == pytest.approx(0.5)


@pytest.mark.parametrize("date", [None, "", "garbage", "Sun, 29 Nov 2026 08:00:07",
                                  "Sun, 32 Foo 2026 99:00:07 GMT", "Sun, 29 Nov 99999 08:00:07 GMT"])
def test_unusable_dates_give_none(date):
    assert offset(date, NOW, NOW) is None


def test_reading_keeps_the_shortest_round_trip():
    r = ClockReading()
    r.take(email.utils.formatdate(NOW + 5, usegmt=True), NOW - 1.0, NOW + 1.0)
    r.take("garbage", NOW, NOW)  # unusable: ignored even with the shortest trip
    r.take(email.utils.formatdate(NOW + 7, usegmt=True), NOW - 0.01, NOW + 0.01)
    r.take(email.utils.formatdate(NOW + 9, usegmt=True), NOW - 0.5, NOW + 0.5)
    assert r.offset == pytest.approx(7 + 0.25, abs=0.001)


@pytest.mark.integration
async def test_gstreamer_answers_carry_the_clock(gst_server):
    for check in ("rtsp", "stream"):
        result = await run_probe(get_probe(check), split_credentials(f"rtsp://{gst_server}/live"),
                                 5.0, stream_duration=1.0)
        assert result.reason is Reason.OK, result.message
        # same machine: within the Date header's one-second resolution
        assert abs(result.detail["clock_offset"]) <= 0.6, result.detail
