"""The ledger under bad luck, with the real daemon: a database down at the start, a stop
while it is away (the spool), a hung server (SIGSTOP), the SQLite file deleted, and the
wall clock stepped back during an outage (libfaketime in the monitor's process only).
One camera with a tcp check on a loopback port the test opens and closes: its outage's
true start and end are known to the test, and every row is compared with them."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require
from tests.factories import free_port, http_get, metric_values, wait_for

ROOT = Path(__file__).resolve().parent.parent
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
pytestmark = pytest.mark.integration


def rows(db: Path | str, sql: str) -> list[tuple]:
    if isinstance(db, str):  # a PostgreSQL DSN
        import psycopg

        try:
            with psycopg.connect(db, connect_timeout=5) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]
        except psycopg.Error:
            return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []


def config(tmp_path: Path, camera_port: int, history: str) -> Path:
    cfg = tmp_path / "monitor.yml"
    cfg.write_text(f"""
monitor:
  interval: 1s
  timeout: 500ms
providers:
  - name: pt-alpha
    target_cameras: 1
    sla: 0.98
cameras:
  - id: JKT-0001
    provider: pt-alpha
    rtsp: rtsp://127.0.0.1:{camera_port}/x
    checks: [tcp]
history:
  {history}
""")
    return cfg


class Monitor:
    def __init__(self, cfg: Path, log: Path, *flags: str, env: dict | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CCTV_MONITOR_INSTANCE": "faults",
               **(env or {})}
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "-c", str(cfg), "--listen",
                 f"127.0.0.1:{self.port}", *flags],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=fh)

    def text(self) -> str:
        return self.log.read_text()

    def ready(self) -> None:
        def up() -> bool:
            assert self.proc.poll() is None, self.text()[-3000:]
            try:
                return http_get(f"{self.base}/readyz", timeout=5)[0] == 200
            except OSError:
                return False
        wait_for(up, timeout=60, step=0.2)

    def metric(self, name: str) -> float:
        (value,) = metric_values(http_get(f"{self.base}/metrics", timeout=10)[1], name)
        return value

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def test_postgres_down_at_start_holds_writes_then_spools_at_a_stop_and_replays(tmp_path, own_postgres):
    pg = own_postgres  # not started: the database is down when the monitor starts
    cam = free_port()
    cfg = config(tmp_path, cam, f"dsn: {pg.dsn}")
    listener = None
    t_start = time.time()
    mon = Monitor(cfg, tmp_path / "first.log")
    try:
        mon.ready()
        wait_for(lambda: "camera JKT-0001 down" in mon.text(), timeout=30)
        # not "off": the metrics exist from the start and count what is held
        assert mon.metric("cctv_monitor_ledger_writing") == 0
        wait_for(lambda: mon.metric("cctv_monitor_ledger_rows_pending") >= 2, timeout=10)
        assert mon.metric("cctv_monitor_ledger_write_failures_total") >= 1
        status, body = http_get(f"{mon.base}/readyz")
        assert status == 200 and "ledger not writing" in body, body
        held = mon.metric("cctv_monitor_ledger_rows_pending")
        t_pg = time.time()
        pg.start()
        (start_ts, end_ts), = wait_for(lambda: rows(pg.dsn, "SELECT start_ts, end_ts FROM outages"),
                                       timeout=60)
        # written late, at its true time: the first probe, long before the database came back
        assert t_start <= start_ts < t_pg and end_ts is None
        wait_for(lambda: mon.metric("cctv_monitor_ledger_rows_pending") == 0, timeout=30)
        assert mon.metric("cctv_monitor_ledger_writing") == 1
        assert rows(pg.dsn, "SELECT COUNT(*) FROM monitor_down") == [(0,)]  # it never stopped
        assert rows(pg.dsn, "SELECT camera, action FROM inventory_changes") == [("JKT-0001", "added")]
        assert "ledger: opened after" in mon.text()

        # away again; the camera recovers; SIGTERM while the rows are held
        pg.stop()
        listener = socket.create_server(("127.0.0.1", cam))
        t_up = time.time()
        wait_for(lambda: "camera JKT-0001 recovered" in mon.text(), timeout=30)
        wait_for(lambda: mon.metric("cctv_monitor_ledger_rows_pending") >= 2, timeout=10)
        t_term = time.time()
        assert mon.stop() == 0
        t_stopped = time.time()
    finally:
        mon.kill()
    assert "kept in" in mon.text(), mon.text()[-2000:]
    (spool_file,) = glob.glob(str(tmp_path / ".cctv-ledger-*.spool"))
    time.sleep(2.0)
    pg.start()
    t_second = time.time()
    mon2 = Monitor(cfg, tmp_path / "second.log")
    try:
        mon2.ready()
        (end_ts,), = rows(pg.dsn, "SELECT end_ts FROM outages")
        assert t_up <= end_ts <= t_up + 2.5
        assert rows(pg.dsn, "SELECT COUNT(*) FROM outages") == [(1,)]
        (gap,), = [rows(pg.dsn, "SELECT start_ts, end_ts FROM monitor_down")]
        # the stop, and only the stop: the minutes with the database away were watched
        assert t_term <= gap[0] <= t_stopped and t_stopped <= gap[1] <= time.time()
        replayed = mon2.metric("cctv_monitor_ledger_rows_replayed_total")
        assert replayed >= 2
        assert not os.path.exists(spool_file)
        assert "camera JKT-0001 down" not in mon2.text()
    finally:
        assert mon2.stop() == 0
        if listener is not None:
            listener.close()
    print(f"ledger faults: {held:.0f} rows held with PostgreSQL down at the start, written "
          f"when it came back; {replayed:.0f} rows spooled at the SIGTERM and replayed; "
          f"monitor_down {gap[1] - gap[0]:.2f}s = from the stop ({gap[0] - t_term:.2f}s after "
          f"SIGTERM) to the next start ({gap[1] - t_second:.2f}s after launching it)")


def test_hung_postgres_is_cut_by_the_deadline_logged_counted_then_caught_up(tmp_path, own_postgres):
    pg = own_postgres
    pg.start()
    cam = free_port()
    cfg = config(tmp_path, cam, f"dsn: {pg.dsn}")
    listener = None
    mon = Monitor(cfg, tmp_path / "monitor.log")
    try:
        mon.ready()
        wait_for(lambda: rows(pg.dsn, "SELECT start_ts FROM outages"), timeout=30)
        frozen = pg.pids()
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, signal.SIGSTOP)
        try:
            listener = socket.create_server(("127.0.0.1", cam))
            t_up = time.time()
            wait_for(lambda: "did not answer within" in mon.text(), timeout=60)
            assert mon.metric("cctv_monitor_ledger_timeouts_total") >= 1
            assert mon.metric("cctv_monitor_ledger_write_failures_total") >= 1
            assert mon.metric("cctv_monitor_ledger_rows_pending") >= 2  # the close and the state
            assert mon.metric("cctv_monitor_ledger_writing") == 0
            assert "ledger not writing" in http_get(f"{mon.base}/readyz")[1]
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        (end_ts,), = wait_for(lambda: rows(pg.dsn, "SELECT end_ts FROM outages WHERE end_ts IS NOT NULL"),
                              timeout=90)
        assert t_up <= end_ts <= t_up + 2.5
        wait_for(lambda: mon.metric("cctv_monitor_ledger_rows_pending") == 0, timeout=60)
        assert mon.metric("cctv_monitor_ledger_rows_dropped_total") == 0
    finally:
        assert mon.stop() == 0
        if listener is not None:
            listener.close()
    assert sum("did not answer within" in line for line in mon.text().splitlines()) == 1
    assert "writing again after" in mon.text()


def test_sqlite_file_removed_is_seen_saved_and_not_silently_replaced(tmp_path):
    db = tmp_path / "ledger.sqlite"
    cam = free_port()
    cfg = config(tmp_path, cam, f"path: {db}")
    listener = None
    mon = Monitor(cfg, tmp_path / "first.log")
    try:
        mon.ready()
        (start_ts,), = wait_for(lambda: rows(db, "SELECT start_ts FROM outages"), timeout=30)
        for path in glob.glob(f"{db}*"):
            os.unlink(path)
        listener = socket.create_server(("127.0.0.1", cam))
        t_up = time.time()
        wait_for(lambda: "was removed" in mon.text(), timeout=30)
        assert mon.metric("cctv_monitor_ledger_file_replaced") == 1
        assert "was removed" in http_get(f"{mon.base}/readyz")[1]
        wait_for(lambda: "camera JKT-0001 recovered" in mon.text(), timeout=30)
        wait_for(lambda: mon.metric("cctv_monitor_ledger_rows_pending") >= 2, timeout=10)
    finally:
        assert mon.stop() == 0
    (saved,) = map(Path, glob.glob(f"{db}.removed-*"))
    assert rows(saved, "SELECT start_ts, end_ts FROM outages") == [(start_ts, None)]
    assert not db.exists()

    # a restart does not begin a new, empty ledger where the marker says one was
    refused = Monitor(cfg, tmp_path / "refused.log")
    assert refused.proc.wait(60) == 2
    assert "--ledger-new" in refused.text() and "Traceback" not in refused.text()
    assert not db.exists()

    # the operator puts the saved history back: the spool completes it
    os.rename(saved, db)
    mon2 = Monitor(cfg, tmp_path / "second.log")
    try:
        mon2.ready()
        (s, e), = rows(db, "SELECT start_ts, end_ts FROM outages")
        assert s == start_ts and t_up <= e <= t_up + 2.5
    finally:
        assert mon2.stop() == 0

    # or chooses a new ledger, said so
    for path in glob.glob(f"{db}*"):
        os.unlink(path)
    mon3 = Monitor(cfg, tmp_path / "third.log", "--ledger-new")
    try:
        mon3.ready()
        assert db.exists() and "created a new, empty ledger" in mon3.text()
    finally:
        assert mon3.stop() == 0
        listener.close()


def test_wall_clock_stepped_back_during_an_outage_changes_no_duration(tmp_path):
    require(FAKETIME)
    db = tmp_path / "ledger.sqlite"
    cam = free_port()
    cfg = config(tmp_path, cam, f"path: {db}")
    clock = tmp_path / "clock"
    clock.write_text("+0\n")
    faked = {"LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": str(clock),
             "FAKETIME_CACHE_DURATION": "1", "DONT_FAKE_MONOTONIC": "1"}
    # the camera answers first (time before a camera's first answer is not availability
    # time: the report would list nothing), then goes down
    listener = socket.create_server(("127.0.0.1", cam))
    mon = Monitor(cfg, tmp_path / "first.log", env=faked)
    try:
        mon.ready()
        wait_for(lambda: rows(db, "SELECT ts FROM first_answer"), timeout=30)
        listener.close()
        listener = None
        t_down = time.time()
        (start_ts,), = wait_for(lambda: rows(db, "SELECT start_ts FROM outages"), timeout=30)
        clock.write_text("-3600\n")
        wait_for(lambda: "wall clock stepped" in mon.text(), timeout=20)
        assert mon.metric("cctv_monitor_clock_steps_total") == 1
        assert -3610 < mon.metric("cctv_monitor_clock_offset_seconds") < -3590
        listener = socket.create_server(("127.0.0.1", cam))
        t_up = time.time()
        (end_ts,), = wait_for(lambda: rows(db, "SELECT end_ts FROM outages WHERE end_ts IS NOT NULL"),
                              timeout=30)
        t_term = time.time()
    finally:
        assert mon.stop() == 0
    t_stopped = time.time()
    # the real times, not the stepped wall clock's
    assert t_down - 3 <= start_ts <= t_down + 1 and t_up <= end_ts <= t_up + 2.5
    (step,), = rows(db, "SELECT step FROM clock_steps")
    assert -3610 < step < -3590

    m = re.search(r"camera JKT-0001 recovered after (\d+)s down", mon.text())
    assert m and int(m.group(1)) == int(end_ts - start_ts), mon.text()[-2000:]

    from monitor.history.reader import Reader

    reader = Reader(str(db))
    try:
        (found,) = reader.clock_steps(start_ts - 60, time.time() + 60)
    finally:
        reader.close()
    assert found.instance == "faults" and -3610 < found.step < -3590

    # the report lists the step (one line) and the outage with its true duration
    import datetime as dt
    from zoneinfo import ZoneInfo

    month = dt.datetime.fromtimestamp(start_ts, ZoneInfo("Asia/Jakarta")).strftime("%Y-%m")
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "monitor", "report", "-c", str(cfg), "--month",
                           month, "--out", str(out), "--no-pdf"], cwd=ROOT, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert "Steps of the monitor&#x27;s wall clock" in page or "Steps of the monitor's wall clock" in page
    assert "-3600 s (faults)" in page
    csv_text = (out / "outages.csv").read_text()
    assert "-" not in csv_text.splitlines()[1].split(",")[4]  # duration_s never negative

    # a restart with the right clock: the stop is a few seconds, not an hour
    time.sleep(1.0)
    mon2 = Monitor(cfg, tmp_path / "second.log")
    try:
        mon2.ready()
    finally:
        assert mon2.stop() == 0
    (gap,), = [rows(db, "SELECT start_ts, end_ts FROM monitor_down")]
    assert t_term <= gap[0] <= t_stopped and gap[1] - gap[0] < 30

    # a whole run an hour behind, then the right clock: the boot clock measures the stop
    clock.write_text("-3600\n")
    mon3 = Monitor(cfg, tmp_path / "third.log", env=faked)
    try:
        mon3.ready()
    finally:
        assert mon3.stop() == 0
    t3 = time.time()
    mon4 = Monitor(cfg, tmp_path / "fourth.log")
    try:
        mon4.ready()
    finally:
        assert mon4.stop() == 0
    gaps = rows(db, "SELECT start_ts, end_ts FROM monitor_down ORDER BY id")
    assert len(gaps) == 3 and all(0 <= e - s < 30 for s, e in gaps), gaps
    steps = [s for (s,) in rows(db, "SELECT step FROM clock_steps ORDER BY id")]
    assert len(steps) == 3 and 3590 < steps[-1] < 3610, (steps, t3)
    assert all(e >= s for s, e in rows(db, "SELECT start_ts, end_ts FROM outages"))
