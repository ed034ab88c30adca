"""kill -9 during an outage, restart, recovery: one outage with its true start and end, the
gap recorded as monitor_down, nothing logged twice, the recovery line with the true
duration; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import wait_for


ROOT = Path(__file__).resolve().parent.parent


def query(target: str, sql: str) -> list[tuple]:
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    with sqlite3.connect(target) as conn:
        return conn.execute(sql).fetchall()


def spawn(target: str, fault: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CCTV_MONITOR_INSTANCE": "kill-test"}
    return subprocess.Popen([sys.executable, "-m", "tests.ledger_child", target, str(fault)],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"))


def run_kill_test(target: str, tmp_path: Path) -> None:
    fault = tmp_path / "fault"
    first = spawn(target, fault, tmp_path / "first.log")
    try:
        wait_for(lambda: _safe(target, "SELECT camera FROM first_answer"))
        t_fault = time.time()
        fault.touch()
        (start,), = wait_for(lambda: _safe(target, "SELECT start_ts FROM outages"))
        assert t_fault <= start <= t_fault + 1.0
        time.sleep(1.5)  # a heartbeat after the outage opened
        t_kill = time.time()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    time.sleep(3.0)
    second = spawn(target, fault, tmp_path / "second.log")
    try:
        (started,), = wait_for(lambda: _safe(target, f"SELECT started FROM instances WHERE started > {t_kill}"))
        time.sleep(1.0)  # several probes of the still-down camera after the restart
        assert query(target, "SELECT COUNT(*) FROM outages") == [(1,)]
        assert query(target, "SELECT end_ts FROM outages") == [(None,)]
        (gap_start, gap_end), = query(target, "SELECT start_ts, end_ts FROM monitor_down")
        assert t_kill - 1.2 <= gap_start <= t_kill  # kill -9 loses at most the last second
        assert gap_end == started
        t_recover = time.time()
        fault.unlink()
        (end,), = wait_for(lambda: _safe(target, "SELECT end_ts FROM outages WHERE end_ts IS NOT NULL"))
        assert t_recover <= end <= t_recover + 1.0
        assert query(target, "SELECT COUNT(*) FROM outages") == [(1,)]
        assert query(target, "SELECT start_ts FROM outages") == [(start,)]
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    log = (tmp_path / "second.log").read_text()
    assert "down:" not in log, log  # the outage was logged once, by the first run
    m = re.search(r"camera JKT-0000 recovered after (\d+)s down", log)
    assert m, log
    assert int(m.group(1)) == int(end - start)  # the true duration, not since the restart
    assert int(m.group(1)) >= 5


def _safe(target: str, sql: str) -> list[tuple]:
    try:
        return query(target, sql)
    except Exception:  # noqa: BLE001 - the tables are not created yet
        return []


def test_kill_9_on_sqlite(tmp_path):
    run_kill_test(str(tmp_path / "ledger.sqlite"), tmp_path)


@pytest.mark.integration
def test_kill_9_on_postgresql(postgres_dsn, tmp_path):
    run_kill_test(postgres_dsn, tmp_path)
