"""The ledger's writer: one background thread that owns the database connection.

The event loop only appends `(statement, params)` to a queue (`Ledger.put`, a few hundred
nanoseconds); the thread drains it, groups consecutive rows of one statement into
`executemany`, and commits at least every `flush_interval` seconds or every `batch_rows`
rows, whichever comes first.  Every commit also carries this instance's heartbeat, so a
`kill -9` loses at most the last second and the next start knows when the monitor stopped.

SQLite runs in WAL mode with `synchronous=NORMAL`: a commit survives a killed process (not a
power cut, which would lose the last commits, never corrupt the file).  PostgreSQL goes
through psycopg 3.  If the database is unreachable or the disk is full, the batch is kept
and retried every few seconds; probing never waits for the ledger.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import schema, thumbs

log = logging.getLogger("cctv.history")

STATEMENTS = {
    "close": "UPDATE outages SET end_ts = ? WHERE instance = ? AND kind = ? AND subject = ? "
             "AND integration = ? AND end_ts IS NULL",
    "open": "INSERT INTO outages (kind, subject, integration, provider, start_ts, reason, "
            "cause, check_name, detail, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "state": "INSERT INTO subject_state (instance, kind, subject, integration, state, since, "
             "reason, check_name, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
             "ON CONFLICT (instance, kind, subject, integration) DO UPDATE SET "
             "state = excluded.state, since = excluded.since, reason = excluded.reason, "
             "check_name = excluded.check_name, cause = excluded.cause",
    "forget": "DELETE FROM subject_state WHERE instance = ? AND kind = ? AND subject = ? "
              "AND integration = ?",
    "first": "INSERT INTO first_answer (camera, provider, ts) VALUES (?, ?, ?) "
             "ON CONFLICT (camera) DO UPDATE SET ts = excluded.ts, provider = excluded.provider "
             "WHERE excluded.ts < first_answer.ts",
    "inventory": "INSERT INTO inventory_changes (ts, camera, provider, action, instance) "
                 "VALUES (?, ?, ?, ?, ?)",
    "heartbeat": "UPDATE instances SET heartbeat = ? WHERE instance = ?",
    **thumbs.STATEMENTS,
}

_STOP = object()
#: Rows kept while the database refuses them (disk full, server gone): about 200 MB.
MAX_PENDING = 1_000_000


def connect(target: str) -> tuple[Any, str]:
    """A connection and its dialect: a postgresql:// DSN, or a SQLite file path."""
    if target.startswith(("postgresql://", "postgres://")) or "host=" in target:
        import psycopg

        return psycopg.connect(target, autocommit=False, connect_timeout=10), "postgres"
    conn = sqlite3.connect(target, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn, "sqlite"


@dataclass
class Restored:
    """What the ledger knew about this instance when it was opened."""

    last_heartbeat: float | None = None
    down_gap: tuple[float, float] | None = None  # the monitor_down row written at this start
    states: list[tuple] = field(default_factory=list)  # (kind, subject, integration, state, since, reason, check, cause)
    inventory: dict[str, str] = field(default_factory=dict)  # present camera -> provider
    answered: set[str] = field(default_factory=set)


class Ledger:
    """See the module docstring.  `open` and `close` block: call them off the event loop."""

    def __init__(self, target: str, instance: str, retention: float | None = None,
                 flush_interval: float = 1.0, batch_rows: int = 5000,
                 clock: Callable[[], float] = time.time) -> None:
        self.target = target
        self.instance = instance
        self.retention = retention
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.clock = clock
        self.dialect = ""
        self.rows_written = 0
        self.rows_dropped = 0
        self.write_errors = 0  # failed attempts in a row (for the log: one line per episode)
        self.failures_total = 0  # failed attempts ever (the self metric)
        self.last_commit = 0.0
        self.retry_after = 5.0  # seconds between attempts while the database refuses
        self._conn: Any = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> Restored:
        """Connect, migrate, record the downtime since the last heartbeat, read what a
        restart restores, and start the writer thread."""
        self._conn, self.dialect = connect(self.target)
        conn, q = self._conn, self._q
        now = self.clock()
        restored = Restored()
        cur = conn.cursor()
        schema.migrate(conn, self.dialect)
        cur.execute(q("SELECT heartbeat FROM instances WHERE instance = ?"), (self.instance,))
        row = cur.fetchone()
        if row is None:
            cur.execute(q("INSERT INTO instances (instance, started, heartbeat) VALUES (?, ?, ?)"),
                        (self.instance, now, now))
        else:
            restored.last_heartbeat = float(row[0])
            if restored.last_heartbeat < now:
                restored.down_gap = (restored.last_heartbeat, now)
                cur.execute(q("INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES (?, ?, ?)"),
                            (self.instance, restored.last_heartbeat, now))
            cur.execute(q("UPDATE instances SET started = ?, heartbeat = ? WHERE instance = ?"),
                        (now, now, self.instance))
        cur.execute(q("SELECT kind, subject, integration, state, since, reason, check_name, cause "
                      "FROM subject_state WHERE instance = ?"), (self.instance,))
        restored.states = [tuple(r) for r in cur.fetchall()]
        # the latest inventory action per camera of this instance (ids grow with time)
        cur.execute(q("SELECT camera, provider, action FROM inventory_changes WHERE instance = ? "
                      "ORDER BY id"), (self.instance,))
        for camera, provider, action in cur.fetchall():
            if action == "added":
                restored.inventory[camera] = provider
            else:
                restored.inventory.pop(camera, None)
        cur.execute("SELECT camera FROM first_answer")
        restored.answered = {r[0] for r in cur.fetchall()}
        conn.commit()
        self._thread = threading.Thread(target=self._run, name="cctv-ledger", daemon=True)
        self._thread.start()
        return restored

    def pending(self) -> int:
        """Rows queued and not yet committed (roughly: the thread's batch is not counted)."""
        return self._queue.qsize()

    def put(self, statement: str, params: tuple) -> None:
        """Queue one row (from the event loop): never blocks, never raises."""
        self._queue.put((statement, params))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued with a final heartbeat, then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass

    # ------------------------------------------------------------------ the thread

    def _q(self, statement: str) -> str:
        return schema.sql(statement, self.dialect)

    def _run(self) -> None:
        pending: list[tuple[str, tuple]] = []
        waiters: list[threading.Event] = []
        last_commit = self.clock()
        stopping = False
        retry_at = 0.0
        while True:
            wait = max(0.0, self.flush_interval - (self.clock() - last_commit))
            try:
                item = self._queue.get(timeout=wait)
                while True:
                    if item is _STOP:
                        stopping = True
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    else:
                        pending.append(item)
                    if len(pending) >= self.batch_rows:
                        break
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            now = self.clock()
            due = stopping or waiters or len(pending) >= self.batch_rows \
                or now - last_commit >= self.flush_interval
            if not due or (now < retry_at and not stopping):
                continue
            if self._commit(pending, now):
                self.rows_written += len(pending)
                pending = []
                retry_at = 0.0
            else:
                retry_at = now + self.retry_after
                if len(pending) > MAX_PENDING:
                    drop = len(pending) - MAX_PENDING
                    self.rows_dropped += drop
                    log.error("ledger: %d rows dropped, the database refused them too long", drop)
                    del pending[:drop]
            last_commit = now
            for w in waiters:
                w.set()
            waiters = []
            if stopping:
                return
            if self.retention and now - self._last_prune > 3600:
                self._prune(now)

    def _commit(self, rows: list[tuple[str, tuple]], now: float) -> bool:
        try:
            cur = self._conn.cursor()
            i = 0
            while i < len(rows):
                j = i
                key = rows[i][0]
                while j < len(rows) and rows[j][0] == key:
                    j += 1
                cur.executemany(self._q(STATEMENTS[key]), [r[1] for r in rows[i:j]])
                i = j
            cur.execute(self._q(STATEMENTS["heartbeat"]), (now, self.instance))
            self._conn.commit()
            self.last_commit = now
            if self.write_errors:
                log.info("ledger: writing again after %d failed attempt(s)", self.write_errors)
                self.write_errors = 0
            return True
        except Exception as exc:  # noqa: BLE001 - disk full, server gone: keep the rows, retry
            if self.write_errors == 0:
                log.error("ledger: cannot write (%s: %s); keeping %d rows and retrying",
                          exc.__class__.__name__, exc, len(rows))
            self.write_errors += 1
            self.failures_total += 1
            self._reconnect()
            return False

    def _reconnect(self) -> None:
        try:
            self._conn.rollback()
            if self.dialect == "postgres" and self._conn.closed:
                self._conn, _ = connect(self.target)
        except Exception:  # noqa: BLE001 - the server is still away; next attempt retries
            try:
                self._conn, _ = connect(self.target)
            except Exception:  # noqa: BLE001
                pass

    def _prune(self, now: float) -> None:
        self._last_prune = now
        horizon = now - float(self.retention or 0)
        try:
            cur = self._conn.cursor()
            cur.execute(self._q("DELETE FROM outages WHERE end_ts IS NOT NULL AND end_ts < ?"), (horizon,))
            cur.execute(self._q("DELETE FROM monitor_down WHERE end_ts < ?"), (horizon,))
            thumbs.prune(cur, self._q, horizon)
            self._conn.commit()
        except Exception as exc:  # noqa: BLE001 - retried at the next prune
            log.error("ledger: retention prune failed: %s", exc)
            self._reconnect()
