"""The real daemon and its ledger: kill -9 during an outage, restart, recovery.  One outage
with its true start and end, the gap as monitor_down, no "down" line logged twice, the
recovery line with the true duration; then `cctv-monitor report` on the same configuration
lists the outage cut at the monitor's downtime."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.factories import free_port, wait_for


ROOT = Path(__file__).resolve().parent.parent


def rows(db: Path | str, sql: str) -> list[tuple]:
    if isinstance(db, str):  # a PostgreSQL DSN
        import psycopg

        try:
            with psycopg.connect(db) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]
        except psycopg.Error:
            return []  # not created yet
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []  # not created yet


def start(cfg: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CCTV_MONITOR_INSTANCE": "daemon-test"}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(cfg), "--listen", f"127.0.0.1:{free_port()}"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))


def test_daemon_kill_9_restart_and_report(tmp_path):
    run_daemon_kill_9(tmp_path, "path: ledger.sqlite", tmp_path / "ledger.sqlite")


@pytest.mark.integration
def test_daemon_kill_9_restart_and_report_on_postgresql(tmp_path, postgres_dsn):
    run_daemon_kill_9(tmp_path, f"dsn: {postgres_dsn}", postgres_dsn)


def run_daemon_kill_9(tmp_path: Path, history: str, db: Path | str) -> None:
    port = free_port()
    cfg = tmp_path / "monitor.yml"
    cfg.write_text(f"""
monitor:
  interval: 1s
  timeout: 500ms
providers:
  - name: pt-alpha
    target_cameras: 2
    sla: 0.98
cameras:
  - id: JKT-0001
    provider: pt-alpha
    rtsp: rtsp://127.0.0.1:{port}/x
    checks: [tcp]
history:
  {history}
""")
    # the camera answers first (time before a camera's first answer is not availability
    # time, and its outage would not be listed), then goes away
    answering = socket.create_server(("127.0.0.1", port))
    first = start(cfg, tmp_path / "first.log")
    try:
        wait_for(lambda: rows(db, "SELECT ts FROM first_answer"))
        answering.close()
        (start_ts,), = wait_for(lambda: rows(db, "SELECT start_ts FROM outages"))
        time.sleep(1.5)
        t_kill = time.time()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert "camera JKT-0001 down" in (tmp_path / "first.log").read_text()
    time.sleep(3.0)
    second = start(cfg, tmp_path / "second.log")
    listener = None
    try:
        (started,), = wait_for(lambda: rows(db, f"SELECT started FROM instances WHERE started > {t_kill}"))
        time.sleep(2.5)  # two rounds that still find the camera down
        assert rows(db, "SELECT start_ts, end_ts FROM outages") == [(start_ts, None)]
        (gap,), = [rows(db, "SELECT start_ts, end_ts FROM monitor_down")]
        assert t_kill - 1.2 <= gap[0] <= t_kill and gap[1] == started
        listener = socket.create_server(("127.0.0.1", port))
        t_up = time.time()
        (end_ts,), = wait_for(lambda: rows(db, "SELECT end_ts FROM outages WHERE end_ts IS NOT NULL"))
        assert t_up <= end_ts <= t_up + 2.5
        assert rows(db, "SELECT COUNT(*) FROM outages") == [(1,)]
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
        if listener is not None:
            listener.close()
    assert second.returncode == 0
    log = (tmp_path / "second.log").read_text()
    assert "camera JKT-0001 down" not in log, log
    assert "recorded as monitor_down" in log
    m = re.search(r"camera JKT-0001 recovered after (\d+)s down", log)
    assert m and int(m.group(1)) == int(end_ts - start_ts), log

    month = dt.datetime.fromtimestamp(start_ts, ZoneInfo("Asia/Jakarta")).strftime("%Y-%m")
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "monitor", "report", "-c", str(cfg), "--month", month,
                           "--out", str(out), "--no-pdf"], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar off a terminal
    with open(out / "outages.csv", newline="") as fh:
        pieces = list(csv.DictReader(fh))
    assert [p["excluded"] for p in pieces] == ["", "monitor_down", ""]
    total = sum(float(p["duration_s"]) for p in pieces)
    assert abs(total - (end_ts - start_ts)) < 0.01
    assert abs(float(pieces[1]["duration_s"]) - (gap[1] - gap[0])) < 0.01
