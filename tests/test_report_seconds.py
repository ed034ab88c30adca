"""The report's exclusions per second, against synthetic ledger rows (a real SQLite ledger,
the real loader) and a brute-force count of every second of the day: link cuts before,
during and after camera outages, maintenance over part of one, the monitor's own downtime,
feed pieces at the instant of a cut, an HA pair's doubled feed rows, a camera that never
answered, and the SLA verdict that the per-outage rule flipped."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from pathlib import Path

import pytest

from monitor.config import load
from monitor.history.reader import Reader
from monitor.history.writer import Ledger
from monitor.model import Cause
from monitor.report.compute import compute, period_of
from tests.report_fixture import JKT, t

DAY = "2026-10-10"
CONFIG = """
timezone: Asia/Jakarta
command_centres:
  - name: police-hq
    links:
      - {name: primary, targets: [tcp://127.0.0.1:9]}
      - {name: backup, targets: [tcp://127.0.0.1:10]}
providers:
  - {name: pt-cut, sla: 0.95, target_cameras: 4, milestones: [{by: 2026-09-01, cameras: 1}]}
cameras:
  - {id: C1, provider: pt-cut, uplink: police-hq/primary, rtsp: "rtsp://127.0.0.1:554/1",
     claimed_installed: 2026-09-15}
  - {id: C2, provider: pt-cut, uplink: primary, rtsp: "rtsp://127.0.0.1:554/2"}
  - {id: C3, provider: pt-cut, uplink: police-hq/primary, rtsp: "rtsp://127.0.0.1:554/3", integrations: [police-hq],
     feeds: {police-hq: "rtsp://127.0.0.1:554/relay/3"}}
  - {id: C4, provider: pt-cut, rtsp: "rtsp://127.0.0.1:554/4", claimed_installed: 2026-09-01}
maintenance:
  - {name: c3-works, from: "2026-10-10T12:00+07:00", to: "2026-10-10T12:01+07:00", cameras: [C3]}
"""


def _inventory():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seconds.yml"
        path.write_text(CONFIG)
        return load(str(path))


def at(hms: str) -> float:
    return t(f"{DAY}T{hms}")


# link rows: (link, start, end); camera rows: (camera, start, end, recorded cause);
# feed rows: (camera, start, end, recorded cause, instance)
LINKS = [("police-hq/primary", "10:00:00", "10:01:00"), ("police-hq/backup", "10:00:00.5", "10:01:00")]
CAMERAS = [
    ("C1", "10:00:30", "10:02:10", "link_down"),  # down during the cut, 70 s after it: 70 counted
    ("C2", "09:59:40", "10:00:30", "camera"),  # 50 s, 30 of them in the cut: 20 counted
    ("C1", "10:05:00", "10:06:00", "camera"),  # after the cut: 60 counted
    ("C3", "11:59:30", "12:02:00", "camera"),  # 30 s, then 60 s maintenance, then 60 s
    ("C3", "13:00:00", "13:10:00", "camera"),  # 5 min counted, 5 min monitor_down
]
FEEDS = [
    # the feed lost at the cut, judged missing before the second link's verdict
    ("C3", "10:00:00.2", "10:00:00.5", "feed_missing", "node"),
    ("C3", "10:00:00.5", "10:01:00", "link_down", "node"),
    ("C3", "10:01:00", "10:01:20", "feed_missing", "node"),  # 20 s after the cut: the provider's
    # an HA pair: the other instance saw the same feed outage
    ("C3", "10:00:00.4", "10:01:21", "feed_missing", "peer"),
]
MONITOR_DOWN = ("13:05:00", "13:15:00")


@pytest.fixture()
def ledger(tmp_path):
    path = tmp_path / "seconds.sqlite"
    began = t("2026-10-09T00:00:00")
    for inst in ("node", "peer"):
        led = Ledger(str(path), inst, clock=lambda: began)
        led.open()
        for cam in ("C1", "C2", "C3", "C4"):
            led.put("inventory", (began, cam, "pt-cut", "added", inst))
        for cam in ("C1", "C2", "C3"):
            led.put("first", (cam, "pt-cut", began + 5))
        assert led.flush()
        led.close()
    with sqlite3.connect(path) as conn:
        def row(kind, subject, integ, s, e, cause, inst="node"):
            conn.execute("INSERT INTO outages (kind, subject, integration, provider, start_ts, end_ts, "
                         "reason, cause, check_name, instance) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (kind, subject, integ, "" if kind == "link" else "pt-cut", at(s), at(e),
                          "timeout", cause, "rtsp", inst))
        for name, s, e in LINKS:
            for inst in ("node", "peer"):
                row("link", name, "", s, e, "down", inst)
        for cam, s, e, cause in CAMERAS:
            row("camera", cam, "", s, e, cause)
        for cam, s, e, cause, inst in FEEDS:
            row("feed", cam, "police-hq", s, e, cause, inst)
        for inst in ("node", "peer"):  # both stopped: nobody watched
            conn.execute("INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES (?, ?, ?)",
                         (inst, at(MONITOR_DOWN[0]), at(MONITOR_DOWN[1])))
        conn.execute("UPDATE instances SET heartbeat = ?", (t("2026-10-12T00:00:00"),))
    return path


def _report(path, **kw):
    reader = Reader(str(path))
    try:
        return compute(reader, _inventory(), *period_of(None, DAY, DAY, JKT),
                       now=t("2026-10-12T00:00:00"), **kw)
    finally:
        reader.close()


def _brute_force(camera: str, uplink_keys: list[str]) -> tuple[int, int, int]:
    """(counted, excluded, link-excluded) seconds of one camera, second by second."""
    def inside(ivs, s):
        return any(a <= s < b for a, b in ivs)
    outs = [(at(s), at(e)) for c, s, e, _ in CAMERAS if c == camera]
    links = [(at(s), at(e)) for n, s, e in LINKS if n in uplink_keys]
    maint = [(at("12:00:00"), at("12:01:00"))] if camera == "C3" else []
    mdown = [(at(MONITOR_DOWN[0]), at(MONITOR_DOWN[1]))]
    counted = excluded = linked = 0
    start = t(f"{DAY}T00:00:00")
    for s in range(int(start), int(start) + 86400):
        down = inside(outs, s)
        if inside(mdown, s) or inside(maint, s):
            excluded += 1
        elif down and inside(links, s):
            excluded += 1
            linked += 1
        elif down:
            counted += 1
    return counted, excluded, linked


def test_every_second_as_the_brute_force_count(ledger):
    report = _report(ledger)
    (f,) = report.providers
    expect = {"C1": _brute_force("C1", ["police-hq/primary"]),
              "C2": _brute_force("C2", ["police-hq/primary"]),
              "C3": _brute_force("C3", ["police-hq/primary"])}
    # the two examples and the hand count of each case
    assert expect["C1"] == (70 + 60, 600 + 30, 30)
    assert expect["C2"] == (20, 600 + 30, 30)
    assert expect["C3"] == (30 + 60 + 300, 600 + 60, 0)
    counted = {c: 0.0 for c in expect}
    for p in report.pieces:
        if p.kind == "camera" and not p.excluded:
            counted[p.camera] += p.end - p.start
    assert counted == {c: float(v[0]) for c, v in expect.items()}
    assert f.down_s == sum(v[0] for v in expect.values())
    assert f.by_cause[Cause.LINK_DOWN] == 30 + 30
    assert f.by_cause[Cause.MAINTENANCE] == 60
    assert f.by_cause[Cause.MONITOR_DOWN] == 300
    # C4 never answered: no measured time, listed, and not verified
    assert f.never_verified == ["C4"] and (f.configured, f.verified) == (4, 3)
    assert f.present_s == 3 * 86400
    assert f.eligible_s == 3 * 86400 - sum(v[1] for v in expect.values())
    assert f.availability == pytest.approx(1 - 540 / (3 * 86400 - 1920))


def test_outages_listed_cut_at_the_link_boundaries(ledger):
    report = _report(ledger)
    c1 = [(p.start - at("10:00:00"), p.end - at("10:00:00"), p.cause, p.excluded)
          for p in report.pieces if p.camera == "C1" and p.kind == "camera"]
    assert c1 == [(30, 60, Cause.LINK_DOWN, Cause.LINK_DOWN), (60, 130, Cause.CAMERA, ""),
                  (300, 360, Cause.CAMERA, "")]
    c2 = [(p.start - at("10:00:00"), p.end - at("10:00:00"), p.cause, p.excluded)
          for p in report.pieces if p.camera == "C2"]
    assert c2 == [(-20, 0, Cause.CAMERA, ""), (0, 30, Cause.LINK_DOWN, Cause.LINK_DOWN)]


def test_feeds_at_the_cut_merged_across_instances_and_apart_from_measured_time(ledger):
    report = _report(ledger)
    (f,) = report.providers
    feeds = [(round(p.start - at("10:00:00"), 3), round(p.end - at("10:00:00"), 3), p.cause, p.excluded)
             for p in report.pieces if p.kind == "feed"]
    # one outage (the pair's rows merged): the cut's from the first link's verdict on, no
    # piece blamed on the provider at the instant of the cut; 21 s after it the provider's
    assert feeds == [(0.2, 60, Cause.LINK_DOWN, Cause.LINK_DOWN), (60, 81, Cause.FEED_MISSING, "")]
    assert f.feed_s == {Cause.LINK_DOWN: pytest.approx(59.8), Cause.FEED_MISSING: 21}
    # excluded link time is camera time only: the feed's 59.8 s are not in it
    assert f.by_cause[Cause.LINK_DOWN] == 60


def test_per_camera_figures_and_the_unwatched_total(ledger):
    """The old rule (cause fixed at the outage's start, applied to all of it) counted C1's
    130 s as 60 and C2's 20 s as 50; per camera the figures are now the per-second ones, and
    the total monitor_down is the time neither instance watched."""
    report = _report(ledger)
    # C1: measured 86400 - 630 (600 unwatched, 30 s in the cut), down 130
    c1 = next(c for c in report.worst if c.camera == "C1")
    assert (c1.down_s, c1.eligible_s) == (130, 86400 - 630)
    assert report.monitor_down_s == 600


def test_as_of_cuts_every_figure_and_says_so(ledger):
    report = _report(ledger, as_of=at("10:01:00"))
    (f,) = report.providers
    assert not report.complete and report.as_of.timestamp() == at("10:01:00")
    assert f.down_s == 20  # C2's 20 s before the cut; C1's only during it
    assert f.present_s == 3 * (at("10:01:00") - t(f"{DAY}T00:00:00"))
    assert report.coverage.last == at("10:01:00")
    twice = _report(ledger, as_of=at("10:01:00"))
    assert twice.providers[0].availability == f.availability


def test_milestone_before_observation_is_not_observed(ledger):
    (f,) = _report(ledger).providers
    assert [(m.by.isoformat(), m.status, m.verified) for m in f.milestones] == [
        ("2026-09-01", "not_observed", None)]
    # the pace from the day observation began (2 days to the period's end): C2 and C3 are
    # new; C1 was claimed installed before observation began (not installed this week when
    # first seen), C4 never answered
    assert f.pace_from == dt.date(2026, 10, 9)
    assert f.pace_per_week == 2 * 7 / 2
    assert f.claimed == 2 and f.verified == 3


def test_measured_connections_beside_the_claims(ledger):
    (f,) = _report(ledger).providers
    # C3 claims a police feed; C4 (never answered) claims none; nobody a platform feed
    assert (f.police.configured, f.police.measured, f.police.at_end, f.police.sla_share) == (1, 1, 1, 1)
    assert (f.smart_city.configured, f.smart_city.measured) == (0, 0)
    # at 10:00:30 the feed was not reaching (the cut): measured, whatever the cause
    (cut,) = _report(ledger, as_of=at("10:00:30")).providers
    assert (cut.police.configured, cut.police.at_end) == (1, 0)
    # 30.3 s down of 36,030 s observed: still reaching for the SLA's 95 %
    assert cut.police.sla_share == 1


def test_the_page_says_what_the_figures_stand_on(ledger):
    from monitor.report.html import render

    report = _report(ledger, as_of=at("10:01:00"))
    for lang, words in (("en", ("As of 2026-10-10 10:01:00", "Claimed, never verified", "not observed",
                                "measured from 9 October 2026")),
                        ("id", ("Per 2026-10-10 10:01:00", "Diklaim, belum pernah terverifikasi",
                                "tidak teramati", "diukur sejak 9 Oktober 2026"))):
        page = render(report, lang)
        for text in words:
            assert text in page, (lang, text)
        assert 'id="coverage"' in page and 'id="never-verified"' in page


def test_a_feed_down_for_hours_reaches_at_the_end_but_not_for_the_sla_share(ledger):
    """Reaching is measured, whatever the cause: C3's feed down (its camera's cause) from
    10:02 to 20:00 is back at midnight but reached for 14 h of the 23.8 h observed, short of
    the SLA's 95 %."""
    with sqlite3.connect(ledger) as conn:
        conn.execute("INSERT INTO outages (kind, subject, integration, provider, start_ts, end_ts, reason, "
                      "cause, check_name, instance) VALUES ('feed', 'C3', 'police-hq', 'pt-cut', ?, ?, "
                      "'timeout', 'camera_down', '', 'node')", (at("10:02:00"), at("20:00:00")))
    (f,) = _report(ledger).providers
    assert (f.police.configured, f.police.measured, f.police.at_end, f.police.sla_share) == (1, 1, 1, 0)
    (evening,) = _report(ledger, as_of=at("19:00:00")).providers
    assert (evening.police.at_end, evening.police.sla_share) == (0, 0)
    # the camera_down piece is the camera's: not listed as a feed outage of its own
    feeds = [p for p in _report(ledger).pieces if p.kind == "feed"]
    assert all(p.end <= at("10:01:21") for p in feeds)
