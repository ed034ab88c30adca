"""The outage ledger on SQLite: rows for every flip, restart semantics (monitor_down, an
outage carried over or closed at the first probe, nothing logged twice), inventory changes,
first answers, migrations and retention."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from monitor import history
from monitor.history import schema
from monitor.history.writer import Ledger
from monitor.model import LinkResult, Reason, Result
from monitor.state import State
from tests.factories import make_camera, make_inventory

OK = Result(Reason.OK)


def down(reason=Reason.TIMEOUT, message="no answer in 5s"):
    return Result(reason, message=message)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def rows(path, sql):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


async def open_run(path, inventory, clock, monkeypatch, instance="node-1"):
    monkeypatch.setenv("CCTV_MONITOR_INSTANCE", instance)
    state = State(inventory, now=clock())
    rec = await history.start(state, history.HistoryTarget(str(path), None), clock=clock)
    return state, rec


def all_ok(state, cid, now):
    for check in state.cameras[cid].checks:
        state.record_result(cid, check, Result(Reason.OK), now=now)


async def test_outage_rows_and_first_answer(tmp_path, monkeypatch):
    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    inv = make_inventory(3, feeds=False, checks=("rtsp",))
    state, rec = await open_run(db, inv, clock, monkeypatch)
    for cs in state.cameras.values():
        state.record_result(cs.id, "rtsp", OK, now=1001.0)
    state.record_result("JKT-0001", "rtsp", down(), now=1100.0)
    state.record_result("JKT-0001", "rtsp", down(Reason.REFUSED), now=1130.0)  # same outage
    state.record_result("JKT-0001", "rtsp", OK, now=1160.0)
    assert rec.ledger.flush()
    assert rows(db, "SELECT subject, start_ts, end_ts, reason, cause, check_name, detail, provider "
                    "FROM outages") == [
        ("JKT-0001", 1100.0, 1160.0, "timeout", "camera", "rtsp", "no answer in 5s", "provider-b")]
    assert sorted(rows(db, "SELECT camera, ts FROM first_answer")) == [
        ("JKT-0000", 1001.0), ("JKT-0001", 1001.0), ("JKT-0002", 1001.0)]
    assert sorted(rows(db, "SELECT camera, action, ts FROM inventory_changes")) == [
        ("JKT-0000", "added", 1000.0), ("JKT-0001", "added", 1000.0), ("JKT-0002", "added", 1000.0)]
    assert rows(db, "SELECT value FROM ledger_meta") == [(str(schema.LATEST),)]
    rec.ledger.close()


async def test_restart_continues_the_outage_and_logs_nothing_twice(tmp_path, monkeypatch, caplog):
    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    inv = make_inventory(2, feeds=False, checks=("rtsp",))
    state, rec = await open_run(db, inv, clock, monkeypatch)
    state.record_result("JKT-0000", "rtsp", OK, now=1001.0)
    state.record_result("JKT-0001", "rtsp", down(), now=1001.0)
    clock.t = 1010.0
    assert rec.ledger.flush()
    # killed: no close, no final heartbeat; the writer's last commit carried t=1010
    rec.ledger._queue.put(history.writer._STOP)  # stop the thread without a goodbye
    rec.ledger._thread.join()

    clock.t = 1075.0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cctv.state"):
        state2, rec2 = await open_run(db, inv, clock, monkeypatch)
        assert state2.cameras["JKT-0001"].since == 1001.0
        state2.record_result("JKT-0001", "rtsp", down(), now=1080.0)  # still down: quiet
        state2.record_result("JKT-0000", "rtsp", OK, now=1080.0)  # still up: quiet
        assert [r.getMessage() for r in caplog.records] == []
        state2.record_result("JKT-0001", "rtsp", OK, now=1200.0)
    assert [r.getMessage() for r in caplog.records] == ["camera JKT-0001 recovered after 3m19s down"]
    assert rec2.ledger.flush()
    assert rows(db, "SELECT subject, start_ts, end_ts FROM outages") == [("JKT-0001", 1001.0, 1200.0)]
    assert rows(db, "SELECT instance, start_ts, end_ts FROM monitor_down") == [("node-1", 1010.0, 1075.0)]
    rec2.ledger.close()


async def test_outage_closed_at_first_probe_when_recovered_meanwhile(tmp_path, monkeypatch):
    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    inv = make_inventory(1, feeds=False, checks=("rtsp",))
    state, rec = await open_run(db, inv, clock, monkeypatch)
    state.record_result("JKT-0000", "rtsp", down(), now=1001.0)
    clock.t = 1002.0
    rec.ledger.close()  # a clean stop: the heartbeat says 1002
    clock.t = 1500.0
    state2, rec2 = await open_run(db, inv, clock, monkeypatch)
    state2.record_result("JKT-0000", "rtsp", OK, now=1503.0)
    assert rec2.ledger.flush()
    assert rows(db, "SELECT start_ts, end_ts FROM outages") == [(1001.0, 1503.0)]
    assert rows(db, "SELECT start_ts, end_ts FROM monitor_down") == [(1002.0, 1500.0)]
    rec2.ledger.close()


async def test_removed_while_stopped_closes_at_last_heartbeat(tmp_path, monkeypatch):
    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    state, rec = await open_run(db, make_inventory(2, feeds=False, checks=("rtsp",)), clock, monkeypatch)
    state.record_result("JKT-0001", "rtsp", down(), now=1001.0)
    clock.t = 1005.0
    rec.ledger.close()
    clock.t = 1100.0
    state2, rec2 = await open_run(db, make_inventory(1, feeds=False, checks=("rtsp",)), clock, monkeypatch)
    assert rec2.ledger.flush()
    assert rows(db, "SELECT subject, start_ts, end_ts FROM outages") == [("JKT-0001", 1001.0, 1005.0)]
    assert rows(db, "SELECT camera, action, ts FROM inventory_changes WHERE action = 'removed'") == [
        ("JKT-0001", "removed", 1100.0)]
    rec2.ledger.close()


async def test_feed_and_link_episodes_and_link_caused_camera(tmp_path, monkeypatch):
    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    cams = [make_camera(0, checks=("rtsp",), uplink="police-hq/primary")]
    state, rec = await open_run(db, make_inventory(cameras=cams), clock, monkeypatch)
    for link in ("primary", "backup"):
        state.record_link("police-hq", link, LinkResult("up", Reason.OK, 5, 5, 0.0), now=1001.0)
    state.record_result("JKT-0000", "rtsp", OK, now=1001.0)
    state.record_feed("JKT-0000", "police-hq", OK, now=1001.0)
    state.record_feed("JKT-0000", "police-hq", down(Reason.NO_VIDEO, "no packets"), now=1010.0)
    down_link = LinkResult("down", Reason.TIMEOUT, 5, 0, 1.0)
    state.record_link("police-hq", "primary", down_link, now=1020.0)
    state.record_link("police-hq", "backup", down_link, now=1020.0)  # the centre is cut off
    state.record_result("JKT-0000", "rtsp", down(), now=1030.0)
    for link in ("primary", "backup"):
        state.record_link("police-hq", link, LinkResult("up", Reason.OK, 5, 5, 0.0), now=1040.0)
    state.record_result("JKT-0000", "rtsp", OK, now=1050.0)
    state.record_feed("JKT-0000", "police-hq", OK, now=1060.0)
    assert rec.ledger.flush()
    got = rows(db, "SELECT kind, subject, integration, start_ts, end_ts, cause FROM outages ORDER BY id")
    assert got == [
        ("feed", "JKT-0000", "police-hq", 1010.0, 1020.0, "feed_missing"),
        ("link", "police-hq/primary", "", 1020.0, 1040.0, "down"),
        ("link", "police-hq/backup", "", 1020.0, 1040.0, "down"),
        ("feed", "JKT-0000", "police-hq", 1020.0, 1030.0, "link_down"),
        ("camera", "JKT-0000", "", 1030.0, 1050.0, "link_down"),
        ("feed", "JKT-0000", "police-hq", 1030.0, 1050.0, "camera_down"),
        ("feed", "JKT-0000", "police-hq", 1050.0, 1060.0, "feed_missing"),
    ], got
    rec.ledger.close()


async def test_reload_records_inventory_changes(tmp_path, monkeypatch):
    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    state, rec = await open_run(db, make_inventory(2, feeds=False, checks=("rtsp",)), clock, monkeypatch)
    state.record_result("JKT-0001", "rtsp", down(), now=1001.0)
    clock.t = 1200.0
    cams = [make_camera(0, feeds=False, checks=("rtsp",)), make_camera(7, feeds=False, checks=("rtsp",))]
    state.apply(make_inventory(cameras=cams), now=1200.0)
    assert rec.ledger.flush()
    assert rows(db, "SELECT camera, action, ts FROM inventory_changes WHERE ts = 1200.0 ORDER BY id") == [
        ("JKT-0001", "removed", 1200.0), ("JKT-0007", "added", 1200.0)]
    assert rows(db, "SELECT subject, end_ts FROM outages") == [("JKT-0001", 1200.0)]
    rec.ledger.close()


async def test_reload_closes_what_it_took_away_once(tmp_path, monkeypatch):
    """A reload that moves a camera to another provider, drops a down feed of a kept camera
    and a down link: the inventory says removed/added at the reload, and the feed and link
    episodes end at the reload, each once, however many slices the listeners are told in."""
    import dataclasses

    from monitor.model import CommandCentre, Link

    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    inv = make_inventory(2, checks=("rtsp",))  # both cameras feed police-hq
    state, rec = await open_run(db, inv, clock, monkeypatch)
    all_ok(state, "JKT-0000", 1001.0)
    all_ok(state, "JKT-0001", 1001.0)
    state.record_link("police-hq", "primary", LinkResult("up", Reason.OK, 5, 5, 0.0), now=1001.0)
    state.record_feed("JKT-0001", "police-hq", down(), now=1002.0)
    state.record_link("police-hq", "backup", LinkResult("down", Reason.TIMEOUT, 5, 0, 1.0), now=1003.0)
    clock.t = 1200.0
    moved = dataclasses.replace(inv.cameras[0], provider="provider-b")
    unfed = dataclasses.replace(inv.cameras[1], feeds=(), integrations=())
    centre = inv.command_centres[0]
    reloaded = dataclasses.replace(
        inv, cameras=(moved, unfed),
        command_centres=(CommandCentre(centre.name, (centre.links[0],)),))
    assert isinstance(reloaded.command_centres[0].links[0], Link)
    added, removed, changed = state.apply(reloaded, now=1200.0, notify=False)
    assert changed == ["JKT-0000", "JKT-0001"]
    for part in (["JKT-0000"], ["JKT-0001"]):  # told in two slices, as the daemon does
        state.notify_inventory_changed([], [], part)
    assert rec.ledger.flush()
    assert rows(db, "SELECT camera, provider, action FROM inventory_changes WHERE ts = 1200.0 "
                    "ORDER BY id") == [("JKT-0000", "provider-a", "removed"),
                                       ("JKT-0000", "provider-b", "added")]
    assert rows(db, "SELECT kind, subject, integration, start_ts, end_ts FROM outages "
                    "ORDER BY id") == [("feed", "JKT-0001", "police-hq", 1002.0, 1200.0),
                                       ("link", "police-hq/backup", "", 1003.0, 1200.0)]
    assert rows(db, "SELECT kind, subject, integration FROM subject_state "
                    "WHERE state != 'up' ORDER BY kind") == []
    rec.ledger.close()


def test_ledger_row_types_name_their_statements_placeholders():
    """Each row type's fields are the columns of its statement's placeholders, in order: a
    row built by name lands in the right column."""
    import re

    from monitor.history import writer

    types = {"open": writer.OutageOpen, "close": writer.OutageClose,
             "state": writer.SubjectState, "forget": writer.SubjectKey,
             "first": writer.FirstAnswer, "inventory": writer.InventoryChange,
             "clock_step": writer.ClockStep, "monitor_down": writer.MonitorDown,
             "close_all": writer.CloseAll}
    # "thumb" is history.thumbs's row (its own module, with its own tests)
    assert set(types) == set(writer.STATEMENTS) - {"heartbeat", "thumb"}
    for name, row in types.items():
        sql = writer.STATEMENTS[name].split(" ON CONFLICT")[0]
        insert = re.match(r"INSERT INTO \w+ \(([^)]*)\) VALUES", sql)
        if insert:
            columns = [c.strip() for c in insert.group(1).split(",")]
        else:
            columns = re.findall(r"(\w+) = (?:\w+\()?\?", sql)
        assert list(row._fields) == columns, name
    assert writer.RestoredState._fields == ("kind", "subject", "integration", "state", "since",
                                            "reason", "check_name", "cause")


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "ledger.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO ledger_meta VALUES ('schema_version', '999')")
    with pytest.raises(RuntimeError, match="version 999, newer than"):
        Ledger(str(db), "x").open()


def test_retention_prunes_closed_outages_only(tmp_path):
    db = tmp_path / "ledger.sqlite"
    clock = Clock(10 * 86400.0)
    ledger = Ledger(str(db), "x", retention=86400.0, clock=clock)
    ledger.open()
    ledger.put("open", ("camera", "old", "", "p", 1.0, "timeout", "camera", "rtsp", "", "x"))
    ledger.put("close", (2.0, "x", "camera", "old", ""))
    ledger.put("open", ("camera", "open-old", "", "p", 1.0, "timeout", "camera", "rtsp", "", "x"))
    ledger.put("open", ("camera", "new", "", "p", clock.t - 10, "timeout", "camera", "rtsp", "", "x"))
    assert ledger.flush()
    ledger._prune(clock.t)
    assert sorted(r[0] for r in rows(db, "SELECT subject FROM outages")) == ["new", "open-old"]
    ledger.close()


def test_retention_durations(tmp_path):
    """The configuration's duration is the retention (one duration parser: the config's)."""
    from monitor.config import load

    cfg = tmp_path / "c.yml"
    cfg.write_text("history:\n  path: x.db\n  retention: 400d\n"
                   "cameras:\n  - {id: A, rtsp: 'rtsp://10.0.0.1/x'}\n")
    assert history.target_of(load(str(cfg))) == history.HistoryTarget(str(tmp_path / "x.db"),
                                                                      400 * 86400.0)
    assert history.target_of(make_inventory(1)) is None  # no history section, no config path


def test_run_ledger_flag_wins_over_the_configuration(tmp_path):
    """`run --ledger` (a read-only configuration directory in a container) wins over
    history.path and history.dsn; without it the configuration decides."""
    from monitor.commands.cli import build_parser

    inv = type("I", (), {"history": type("H", (), {"path": "x.db", "dsn": "postgresql://db/x",
                                                   "retention": None})()})()
    args = build_parser().parse_args(["run", "-c", "c.yml", "--ledger", str(tmp_path / "l.db")])
    assert history.target_of(inv, "c.yml", args.ledger).target == str(tmp_path / "l.db")
    assert history.target_of(inv, "c.yml", None).target == "postgresql://db/x"


def test_refused_writes_are_kept_counted_and_retried(tmp_path, caplog):
    import time

    from prometheus_client import CollectorRegistry

    from monitor.history.metrics import LedgerCollector

    db = tmp_path / "ledger.sqlite"
    ledger = Ledger(str(db), "x")
    ledger.retry_after = 0.1
    ledger.open()
    registry = CollectorRegistry()
    LedgerCollector(ledger, (1000.0, 1030.0), registry)
    ledger._conn.close()  # the database goes away under the writer
    ledger.put("open", ("camera", "A", "", "p", 5.0, "timeout", "camera", "rtsp", "", "x"))
    deadline = time.monotonic() + 10
    while not rows(db, "SELECT subject FROM outages") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rows(db, "SELECT subject FROM outages") == [("A",)]
    assert registry.get_sample_value("cctv_monitor_ledger_write_failures_total") >= 1
    assert registry.get_sample_value("cctv_monitor_ledger_rows_written_total") == 1
    assert registry.get_sample_value("cctv_monitor_ledger_rows_dropped_total") == 0
    assert registry.get_sample_value("cctv_monitor_down_seconds") == 30
    assert sum("ledger: cannot write" in r.getMessage() for r in caplog.records) == 1
    ledger.close()


async def test_restart_holds_a_frozen_or_stream_verdict_until_the_check_can_judge(
        tmp_path, monkeypatch, caplog):
    """A frozen picture takes frozen_after fetches to see again, and the stream check runs
    minutes after the fast ones: after a restart neither is a recovery at the first round."""
    from monitor.model import MonitorSettings, StreamSettings

    db = tmp_path / "ledger.sqlite"
    clock = Clock(1000.0)
    settings = MonitorSettings(interval=1.0, timeout=0.5, stream=StreamSettings(interval=300))
    inv = make_inventory(2, feeds=False, checks=("rtsp", "stream", "http", "snapshot"),
                         settings=settings)
    state, rec = await open_run(db, inv, clock, monkeypatch)
    for cid in state.cameras:
        for check in ("rtsp", "stream", "http", "snapshot"):
            state.record_result(cid, check, OK, now=1001.0)
    state.record_result("JKT-0000", "snapshot", down(Reason.FROZEN_IMAGE, "same picture 3 fetches"), now=1010.0)
    state.record_result("JKT-0001", "stream", down(Reason.NO_VIDEO, "no keyframe"), now=1010.0)
    clock.t = 1011.0
    rec.ledger.close()
    clock.t = 1100.0
    state2, rec2 = await open_run(db, inv, clock, monkeypatch)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cctv.state"):
        for t in (1101.0, 1102.0):  # fast rounds: rtsp, http and a picture not judged yet
            for cid in state2.cameras:
                for check in ("rtsp", "http", "snapshot"):
                    state2.record_result(cid, check, OK, now=t)
        assert [r.getMessage() for r in caplog.records] == []
        assert state2.cameras["JKT-0000"].up is False and state2.cameras["JKT-0001"].up is False
        state2.record_result("JKT-0000", "snapshot", OK, now=1103.0)  # third fetch: judged
        state2.record_result("JKT-0001", "stream", OK, now=1130.0)  # the stream round
    assert [r.getMessage() for r in caplog.records] == [
        "camera JKT-0000 recovered after 1m33s down", "camera JKT-0001 recovered after 2m00s down"]
    assert rec2.ledger.flush()
    assert rows(db, "SELECT subject, start_ts, end_ts FROM outages ORDER BY subject") == [
        ("JKT-0000", 1010.0, 1103.0), ("JKT-0001", 1010.0, 1130.0)]
    rec2.ledger.close()
