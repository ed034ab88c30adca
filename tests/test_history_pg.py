"""The ledger on a real PostgreSQL: restart semantics as on SQLite, and two shards writing
into one database make one report with every camera exactly once."""

from __future__ import annotations

import csv
import datetime as dt
from zoneinfo import ZoneInfo

import psycopg
import pytest

from monitor import history
from monitor.model import Reason, Result
from monitor.report import build
from monitor.report.compute import period_of
from monitor.runtime.shard import select
from monitor.state import State
from tests.factories import make_inventory

pytestmark = pytest.mark.integration

JKT = ZoneInfo("Asia/Jakarta")


def t(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JKT).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rows(dsn, sql):
    with psycopg.connect(dsn) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


async def test_restart_on_postgresql(postgres_dsn, monkeypatch):
    monkeypatch.setenv("CCTV_MONITOR_INSTANCE", "pg-node")
    inv = make_inventory(2, feeds=False, checks=("rtsp",))
    clock = Clock(1000.0)
    state = State(inv, now=clock())
    rec = await history.start(state, history.HistoryTarget(postgres_dsn, None), clock=clock)
    state.record_result("JKT-0000", "rtsp", Result(Reason.OK), now=1001.0)
    state.record_result("JKT-0001", "rtsp", Result(Reason.REFUSED), now=1001.0)
    clock.now = 1003.0
    rec.ledger.close()
    clock.now = 1100.0
    state2 = State(inv, now=clock())
    rec2 = await history.start(state2, history.HistoryTarget(postgres_dsn, None), clock=clock)
    assert state2.cameras["JKT-0001"].up is False and state2.cameras["JKT-0001"].since == 1001.0
    state2.record_result("JKT-0001", "rtsp", Result(Reason.REFUSED), now=1101.0)
    state2.record_result("JKT-0001", "rtsp", Result(Reason.OK), now=1130.0)
    assert rec2.ledger.flush()
    assert rows(postgres_dsn, "SELECT subject, start_ts, end_ts, reason FROM outages") == [
        ("JKT-0001", 1001.0, 1130.0, "refused")]
    assert rows(postgres_dsn, "SELECT instance, start_ts, end_ts FROM monitor_down") == [
        ("pg-node", 1003.0, 1100.0)]
    rec2.ledger.close()


async def test_two_shards_into_one_postgresql_make_one_report(postgres_dsn, monkeypatch, tmp_path):
    monkeypatch.setenv("CCTV_MONITOR_INSTANCE", "jkt")
    full = make_inventory(12, feeds=False, checks=("rtsp",))
    clock = Clock(t("2026-10-05T00:00:00"))
    shards = []
    for k in (1, 2):
        inv = select(full, k, 2)
        assert 0 < len(inv.cameras) < 12
        state = State(inv, now=clock())
        rec = await history.start(state, history.HistoryTarget(postgres_dsn, None), shard=(k, 2), clock=clock)
        shards.append((state, rec))
    start = t("2026-10-05T00:00:10")
    for state, _rec in shards:
        for cid in state.cameras:
            state.record_result(cid, "rtsp", Result(Reason.OK), now=start)
    # every camera is down for (index + 1) minutes at 08:00
    for state, _rec in shards:
        for cid in state.cameras:
            i = int(cid.split("-")[1])
            state.record_result(cid, "rtsp", Result(Reason.TIMEOUT), now=t("2026-10-05T08:00:00"))
            state.record_result(cid, "rtsp", Result(Reason.OK), now=t("2026-10-05T08:00:00") + 60 * (i + 1))
    clock.now = t("2026-10-06T00:00:00")
    for _state, rec in shards:
        rec.ledger.close()
    assert sorted(r[0] for r in rows(postgres_dsn, "SELECT instance FROM instances")) == [
        "jkt#shard-1-of-2", "jkt#shard-2-of-2"]
    files = build(full, postgres_dsn, *period_of(None, "2026-10-05", "2026-10-05", JKT),
                  tmp_path / "out", pdf=False, now=t("2026-10-06T00:00:00"))
    with open(files["outages.csv"], newline="") as fh:
        outages = list(csv.DictReader(fh))
    assert sorted(r["camera"] for r in outages) == sorted(c.id for c in full.cameras)
    assert {r["camera"]: float(r["duration_s"]) for r in outages} == {
        c.id: 60.0 * (int(c.id.split("-")[1]) + 1) for c in full.cameras}
    with open(files["providers.csv"], newline="") as fh:
        providers = {r["provider"]: r for r in csv.DictReader(fh)}
    assert providers["total"]["configured"] == "12"
    assert providers["total"]["verified"] == "12"
    # measured from each camera's first answer, 10 s into the day
    assert int(providers["total"]["measured_s"]) == 12 * (86400 - 10)
    assert int(providers["total"]["down_s"]) == sum(60 * (i + 1) for i in range(12))
