"""The ledger's writer with a SQLite file out of reach (its directory gone): rows held and
bounded, a start reconciled when the ledger comes back, the spool at a stop and its replay
(once, even when replayed again after a crash), a clock stepped between two runs.  Times
are injected, so every row is compared with a value computed by hand."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3

from monitor import history
from monitor.history import spool
from monitor.history.verify import verify_target
from monitor.history.writer import Ledger
from monitor.model import Reason, Result
from monitor.state import State
from tests.factories import make_inventory, wait_for

OK = Result(Reason.OK)
DOWN = Result(Reason.TIMEOUT, message="no answer")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def rows(path, sql):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


OPEN = ("camera", "A", "", "p", 5.0, "timeout", "camera", "rtsp", "", "node-1")


def test_rows_past_the_bound_are_refused_counted_and_logged_once(tmp_path, caplog):
    where = tmp_path / "away"
    ledger = Ledger(str(where / "ledger.sqlite"), "node-1", clock=Clock(100.0), max_pending=3,
                    state_dir=str(tmp_path))
    ledger.retry_after = 0.05
    assert ledger.open() is None  # not there: held, not off
    try:
        assert ledger.problem.startswith("cannot open it")
        for i in range(5):
            ledger.put("open", OPEN[:1] + (f"C{i}",) + OPEN[2:])
        wait_for(lambda: ledger.rows_dropped == 2, timeout=10)
        assert ledger.pending() == 3
        refused = [r for r in caplog.records if "refusing newer ones" in r.getMessage()]
        assert len(refused) == 1
        assert sum("cannot open it" in r.getMessage() for r in caplog.records) == 1
        assert "ledger not writing: cannot open it" in ledger.note()
        where.mkdir()
        wait_for(lambda: ledger.pending() == 0 and not ledger.problem, timeout=10)
        # the oldest three are kept: a consistent beginning
        assert rows(where / "ledger.sqlite", "SELECT subject FROM outages ORDER BY id") == [
            ("C0",), ("C1",), ("C2",)]
        assert ledger.rows_written == 3 and ledger.note() == ""
    finally:
        ledger.close()


async def test_a_start_without_the_ledger_is_reconciled_at_its_true_time(tmp_path, monkeypatch):
    monkeypatch.setenv("CCTV_MONITOR_INSTANCE", "node-1")
    home = tmp_path / "ledger"
    home.mkdir()
    db = home / "ledger.sqlite"
    inv = make_inventory(2, feeds=False, checks=("rtsp",))
    # a first run: camera 1 goes down at 1001 and stays down; stopped at 1010
    clock = Clock(1000.0)
    state = State(inv, now=1000.0)
    rec = await history.start(state, history.HistoryTarget(str(db), None, str(tmp_path)), clock=clock)
    state.record_result("JKT-0001", "rtsp", DOWN, now=1001.0)
    state.record_result("JKT-0000", "rtsp", OK, now=1001.0)
    clock.t = 1010.0
    rec.ledger.close()

    # the next start at 1100 finds the directory gone (an unmounted volume)
    os.rename(home, tmp_path / "unmounted")
    clock = Clock(1100.0)
    state = State(inv, now=1100.0)
    rec = await history.start(state, history.HistoryTarget(str(db), None, str(tmp_path)), clock=clock)
    rec.ledger.retry_after = 0.05
    try:
        assert rec.restored is None and rec.ledger.pending() == 0
        state.record_result("JKT-0001", "rtsp", DOWN, now=1102.0)
        state.record_result("JKT-0000", "rtsp", OK, now=1102.0)
        state.record_result("JKT-0000", "rtsp", DOWN, now=1105.0)
        wait_for(lambda: rec.ledger.pending() == 6, timeout=10)  # 2 opens, first, 3 states
        clock.t = 1120.0
        os.rename(tmp_path / "unmounted", home)  # back at 1120
        wait_for(lambda: rec.ledger.opened and rec.ledger.pending() == 0, timeout=10)
        assert rec.ledger.flush()
    finally:
        rec.ledger.close()
    # the gap is up to this run's start, not to when the ledger came back
    assert rows(db, "SELECT start_ts, end_ts FROM monitor_down") == [(1010.0, 1100.0)]
    # the first run's episode ends at its last heartbeat; this run's start at its first probe
    assert rows(db, "SELECT subject, start_ts, end_ts FROM outages ORDER BY id") == [
        ("JKT-0001", 1001.0, 1010.0), ("JKT-0001", 1102.0, None), ("JKT-0000", 1105.0, None)]
    assert rows(db, "SELECT subject, state, since FROM subject_state ORDER BY subject") == [
        ("JKT-0000", "down", 1105.0), ("JKT-0001", "down", 1102.0)]
    assert rows(db, "SELECT COUNT(*) FROM inventory_changes") == [(2,)]  # nothing changed
    assert rows(db, "SELECT heartbeat FROM instances") == [(1120.0,)]
    # what the late start wrote (the gap, the closes at the last heartbeat) is on the chain
    assert verify_target(str(db)).ok
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE outages SET end_ts = 1005.0 WHERE start_ts = 1001.0")
    found = verify_target(str(db)).findings
    assert found and "was edited" in found[0].text and "end_ts" in found[0].text


def test_a_stop_spools_what_it_holds_and_the_next_start_replays_it_once(tmp_path, caplog):
    home = tmp_path / "ledger"
    home.mkdir()
    db = home / "ledger.sqlite"
    first = Ledger(str(db), "node-1", clock=Clock(1000.0), state_dir=str(tmp_path))
    assert first.open() is not None
    first.close()
    # the next run reaches the ledger, then loses it (its directory unmounted), holds a row
    # and is stopped at 1300
    clock = Clock(1200.0)
    second = Ledger(str(db), "node-1", clock=clock, state_dir=str(tmp_path))
    second.retry_after = 0.05
    assert second.open() is not None
    os.rename(home, tmp_path / "unmounted")
    second.put("open", OPEN)
    wait_for(lambda: second.problem, timeout=10)
    clock.t = 1300.0
    second.close()
    path = spool.spool_path(str(tmp_path), str(db), "node-1")
    assert [len(s.rows) for s in spool.read_spool(path)] == [1]
    assert second.rows_spooled == 1
    assert any("kept in" in r.getMessage() for r in caplog.records)
    kept = tmp_path / "spool-copy"
    shutil.copy(path, kept)

    os.rename(tmp_path / "unmounted", home)
    third = Ledger(str(db), "node-1", clock=Clock(1400.0), state_dir=str(tmp_path))
    restored = third.open()
    third.close()
    assert third.rows_replayed == 1 and not os.path.exists(path)
    # the run was running until 1300: monitor_down is the stop, 1300-1400 only
    assert restored.down_gap == (1300.0, 1400.0)
    assert rows(db, "SELECT start_ts, end_ts FROM monitor_down ORDER BY id") == [
        (1000.0, 1200.0), (1300.0, 1400.0)]
    assert rows(db, "SELECT subject, start_ts FROM outages") == [("A", 5.0)]

    # a crash between the commit and the removal of the spool: replayed again, changes nothing
    shutil.copy(kept, path)
    fourth = Ledger(str(db), "node-1", clock=Clock(1500.0), state_dir=str(tmp_path))
    fourth.open()
    fourth.close()
    assert fourth.rows_replayed == 0 and not os.path.exists(path)
    assert rows(db, "SELECT COUNT(*) FROM outages") == [(1,)]
    # the replayed rows and both gaps are on the chain, once
    assert verify_target(str(db)).ok


def test_a_close_never_ends_before_its_start(tmp_path):
    """A restart whose wall clock is behind the previous run's: the episode the previous run
    opened is closed no earlier than it started (GREATEST(end, start))."""
    db = tmp_path / "ledger.sqlite"
    ledger = Ledger(str(db), "node-1", clock=Clock(2000.0))
    ledger.open()
    ledger.put("open", OPEN[:4] + (2000.0,) + OPEN[5:])
    ledger.put("close", (1500.0, "node-1", "camera", "A", ""))
    assert ledger.flush()
    ledger.close()
    assert rows(db, "SELECT start_ts, end_ts FROM outages") == [(2000.0, 2000.0)]


def test_a_hung_sqlite_lock_is_cut_counted_and_logged_once(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    db = tmp_path / "ledger.sqlite"
    ledger = Ledger(str(db), "node-1", timeout=0.5)  # retries after 1 s, 2 s, 4 s
    ledger.open()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        ledger.put("open", OPEN)
        wait_for(lambda: ledger.timeouts_total >= 2, timeout=20)
        assert ledger.pending() == 1 and "did not answer within 0.5s" in ledger.note()
        # between attempts the writer sleeps: it spun (a core, and the GIL the event loop
        # needs) until the next retry after an attempt that used its whole deadline
        before = _cpu_ticks(ledger)
        wait_for(lambda: ledger.timeouts_total >= 4, timeout=30)
        assert _cpu_ticks(ledger) - before < os.sysconf("SC_CLK_TCK") // 4
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for(lambda: ledger.pending() == 0 and not ledger.problem, timeout=20)
    ledger.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("did not answer within" in m for m in messages) == 1
    assert sum("writing again after" in m for m in messages) == 1
    assert rows(db, "SELECT subject FROM outages") == [("A",)]


def _cpu_ticks(ledger: Ledger) -> int:
    """The writer thread's CPU time (user + system), in clock ticks."""
    tid = ledger._thread.native_id  # noqa: SLF001 - the thread to measure
    with open(f"/proc/self/task/{tid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_replaced_sqlite_file_is_seen_and_its_old_content_saved(tmp_path, caplog):
    from prometheus_client import CollectorRegistry

    from monitor.history.metrics import LedgerCollector

    db = tmp_path / "ledger.sqlite"
    ledger = Ledger(str(db), "node-1", clock=Clock(100.0))
    ledger.retry_after = 0.05
    ledger.open()
    registry = CollectorRegistry()
    LedgerCollector(ledger, None, registry)
    ledger.put("open", OPEN)
    assert ledger.flush()
    other = tmp_path / "restored-from-backup.sqlite"
    sqlite3.connect(other).close()
    os.replace(other, db)  # a restore done in place, under the running monitor
    ledger.put("open", OPEN[:1] + ("B",) + OPEN[2:])
    wait_for(lambda: ledger.file_problem, timeout=10)
    assert ledger.file_problem == f"the file {db} was replaced by another file"
    (saved,) = tmp_path.glob("ledger.sqlite.replaced-*")
    assert rows(saved, "SELECT subject FROM outages") == [("A",)]
    assert registry.get_sample_value("cctv_monitor_ledger_file_replaced") == 1
    assert registry.get_sample_value("cctv_monitor_ledger_writing") == 0
    assert registry.get_sample_value("cctv_monitor_ledger_rows_pending") == 1
    assert "was replaced by another file" in ledger.note()
    ledger.close()  # the held row goes to the spool, not into the replacement
    assert sum("was replaced" in r.getMessage() for r in caplog.records) == 1
    assert [len(s.rows) for s in spool.read_spool(spool.spool_path(str(tmp_path), str(db), "node-1"))] == [1]


def test_ledger_spool_must_be_a_directory(tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "monitor.yml"
    cfg.write_text("cameras:\n  - id: JKT-0001\n    provider: p\n    rtsp: rtsp://127.0.0.1:1/x\n"
                   "providers:\n  - name: p\n    target_cameras: 1\n")
    proc = subprocess.run([sys.executable, "-m", "monitor", "run", "-c", str(cfg),
                           "--listen", "127.0.0.1:0", "--ledger-spool", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("--ledger-spool " + str(tmp_path / "nowhere") + ": not a directory")
