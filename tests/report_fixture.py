"""The hand-computed ledger the report tests share (Asia/Jakarta, October 2026): an outage
across the month boundary, maintenance over part of an outage, a link-caused outage, the
monitor's own downtime, and a camera added mid-month; and the configuration it goes with,
through the real loader."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as NS
from zoneinfo import ZoneInfo

import pytest

from monitor.history.writer import Ledger

JKT = ZoneInfo("Asia/Jakarta")
MONTH = 31 * 86400


def t(text: str) -> float:
    """A Jakarta wall-clock time as UNIX seconds."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=JKT).timestamp()


#: The fixture's configuration, through the real loader: a one-off maintenance window
#: (with its offset) on A2, A1 in ring one with a police feed, B1 hanging off the police
#: link, milestones and claimed installation dates.
CONFIG = """
timezone: Asia/Jakarta
integrations:
  - name: smart-city
command_centres:
  - name: police-hq
    links:
      - name: primary
        targets: [tcp://127.0.0.1:9]
providers:
  - name: pt-alpha
    target_cameras: 5
    sla: 0.995
    milestones:
      - {by: 2026-09-30, cameras: 2}
      - {by: 2026-12-31, cameras: 5}
  - name: pt-bima
    target_cameras: 1
    sla: 0.98
cameras:
  - id: A1
    provider: pt-alpha
    zone: ring-1
    rtsp: rtsp://127.0.0.1:554/a1
    integrations: [smart-city, police-hq]
    feeds:
      police-hq: rtsp://127.0.0.1:554/relay/a1
    claimed_installed: 2026-09-01
  - id: A2
    provider: pt-alpha
    rtsp: rtsp://127.0.0.1:554/a2
    claimed_installed: 2026-09-01
  - id: A3
    provider: pt-alpha
    rtsp: rtsp://127.0.0.1:554/a3
    claimed_installed: 2026-10-01
  - id: B1
    provider: pt-bima
    uplink: police-hq/primary
    rtsp: rtsp://127.0.0.1:554/b1
maintenance:
  - name: a2-pole-repair
    from: 2026-10-10T12:00+07:00
    to: 2026-10-10T16:00+07:00
    cameras: [A2]
"""


def _inventory():
    import tempfile
    from pathlib import Path

    from monitor.config import load

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fixture.yml"
        path.write_text(CONFIG)
        return load(str(path))


INVENTORY = _inventory()


def outage(ledger, cam, provider, start, end, cause="camera", reason="timeout"):
    ledger.put("open", ("camera", cam, "", provider, t(start), reason, cause, "rtsp", "", "node"))
    if end:
        ledger.put("close", (t(end), "node", "camera", cam, ""))


@pytest.fixture()
def ledger_path(tmp_path):
    path = tmp_path / "ledger.sqlite"
    clock = NS(now=t("2026-09-20T00:00:00"))
    ledger = Ledger(str(path), "node", clock=lambda: clock.now)
    ledger.open()
    for cam, prov in (("A1", "pt-alpha"), ("A2", "pt-alpha"), ("B1", "pt-bima")):
        ledger.put("inventory", (t("2026-09-20T00:00:00"), cam, prov, "added", "node"))
        ledger.put("first", (cam, prov, t("2026-09-20T00:01:00")))
    ledger.put("inventory", (t("2026-10-16T00:00:00"), "A3", "pt-alpha", "added", "node"))
    ledger.put("first", ("A3", "pt-alpha", t("2026-10-16T00:00:30")))
    outage(ledger, "A1", "pt-alpha", "2026-09-30T22:00:00", "2026-10-01T03:00:00")
    outage(ledger, "A2", "pt-alpha", "2026-10-10T10:00:00", "2026-10-10T14:00:00")
    outage(ledger, "B1", "pt-bima", "2026-10-20T08:00:00", "2026-10-20T09:30:00", cause="link")
    outage(ledger, "A1", "pt-alpha", "2026-10-24T23:00:00", "2026-10-25T01:00:00")
    outage(ledger, "A3", "pt-alpha", "2026-10-31T23:00:00", "2026-11-01T01:00:00")
    # the police link's recorded outage under B1's (B1 hangs off it): the city's network
    ledger.put("open", ("link", "police-hq/primary", "", "", t("2026-10-20T08:00:00"), "timeout",
                        "down", "link", "", "node"))
    ledger.put("close", (t("2026-10-20T09:30:00"), "node", "link", "police-hq/primary", ""))
    ledger.put("open", ("feed", "A1", "police-hq", "pt-alpha", t("2026-10-05T06:00:00"), "no_video",
                        "feed_missing", "", "", "node"))
    ledger.put("close", (t("2026-10-05T06:30:00"), "node", "feed", "A1", "police-hq"))
    assert ledger.flush()
    ledger.put("heartbeat", (t("2026-11-02T00:00:00"), "", None, "node"))
    assert ledger.flush()
    ledger.close()
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES ('node', ?, ?)",
                     (t("2026-10-25T00:00:00"), t("2026-10-25T02:00:00")))
        conn.execute("UPDATE instances SET heartbeat = ?", (t("2026-11-02T00:00:00"),))
    return path
