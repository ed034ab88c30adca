"""The ledger's writer: one background thread that owns the database connection.

The event loop only appends `(statement, params)` to a queue (`Ledger.put`, a few hundred
nanoseconds); the thread drains it, groups consecutive rows of one statement into
`executemany`, and commits at least every `flush_interval` seconds or every `batch_rows`
rows, whichever comes first.  Every commit also carries this instance's heartbeat, so a
`kill -9` loses at most the last second and the next start knows when the monitor stopped.

SQLite runs in WAL mode with `synchronous=NORMAL`: a commit survives a killed process (not a
power cut, which would lose the last commits, never corrupt the file).  PostgreSQL goes
through psycopg 3.  If the database is unreachable, hung or the disk full (at the start too), the rows are held
and retried with a growing pause; probing never waits for the ledger.  Holding is bounded:
past `max_pending` rows the newest are refused (counted, logged once): what is held stays
a consistent beginning (every close after its open), where dropping the oldest would leave
closes of episodes never opened.  Every statement runs under a deadline (`timeout`: SQLite's
busy timeout, PostgreSQL's connect_timeout and statement_timeout, and a watchdog that
interrupts a connection whose server stopped answering altogether).  On a stop, rows that
cannot be committed go to the spool (monitor/history/spool.py) that the next start replays
first.  A SQLite file removed or replaced under the writer is seen at the next batch (its
device and inode): the rows are held, the old content is saved next to it, and the log, the
self metrics and /readyz say so.  Times come from the ledger's clock
(monitor/history/clock.py): a wall-clock step changes no duration and is recorded.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sqlite3
import threading
import time
import uuid
from typing import Any, Callable, NamedTuple

from ..logsetup import redact
from . import opening, schema, spool, thumbs
from .chain import INSERT as CHAIN_INSERT, Chain
from .clock import SteadyClock, boot_clock, boot_id
from .opening import Restored, RestoredState
from .rows import (ClockStep, CloseAll, FirstAnswer, InventoryChange, MonitorDown, OutageClose,
                   OutageOpen, SubjectKey, SubjectState)

__all__ = ["ClockStep", "CloseAll", "FirstAnswer", "InventoryChange", "Ledger", "LedgerMissing", "MonitorDown", "OutageClose",
           "OutageOpen", "Restored", "RestoredState", "STATEMENTS", "SubjectKey", "SubjectState",
           "connect"]

log = logging.getLogger("cctv.history")

STATEMENTS = {
    # never before the start: a clock stepped back between two runs must not invert a row
    "close": "UPDATE outages SET end_ts = GREATEST(?, start_ts) WHERE instance = ? AND kind = ? "
             "AND subject = ? AND integration = ? AND end_ts IS NULL",
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
    "heartbeat": "UPDATE instances SET heartbeat = ?, boot_id = ?, boot_clock = ? "
                 "WHERE instance = ?",
    "clock_step": "INSERT INTO clock_steps (instance, ts, wall_ts, step) VALUES (?, ?, ?, ?)",
    "monitor_down": "INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES (?, ?, ?)",
    # a run that opened the ledger late closes what its previous run left open at that
    # run's last heartbeat (monitor/history/opening.py)
    "close_all": "UPDATE outages SET end_ts = GREATEST(?, start_ts) WHERE instance = ? "
                 "AND end_ts IS NULL",
    **thumbs.STATEMENTS,
}




_STOP = object()
#: Rows held while the database refuses them (disk full, server gone): about 200 MB.
MAX_PENDING = 1_000_000


class LedgerMissing(Exception):
    """The database is empty where the marker says a ledger existed: refused, not created."""


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://")) or "host=" in target


def connect(target: str, timeout: float = 10.0) -> tuple[Any, str]:
    """A connection and its dialect: a postgresql:// DSN, or a SQLite file path.  `timeout`
    bounds connecting and every statement (SQLite: waiting for another writer's lock)."""
    if is_postgres(target):
        import psycopg

        return psycopg.connect(target, autocommit=False, connect_timeout=max(2, int(timeout)),
                               options=f"-c statement_timeout={int(timeout * 1000)}"), "postgres"
    conn = sqlite3.connect(target, check_same_thread=False, timeout=timeout)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except Exception:
        conn.close()
        raise
    return conn, "sqlite"


class Ledger:
    """See the module docstring.  `open` and `close` block: call them off the event loop."""

    #: Every change of record also appends a hash-chained event (monitor/history/chain.py);
    #: off only where a benchmark measures what the chain costs.
    chain_enabled = True

    def __init__(self, target: str, instance: str, retention: float | None = None,
                 flush_interval: float = 1.0, batch_rows: int = 5000,
                 clock: Callable[[], float] | None = None, state_dir: str | None = None,
                 ledger_new: bool = False, max_pending: int = MAX_PENDING,
                 timeout: float = 10.0) -> None:
        self.target = target
        self.instance = instance
        self.retention = retention
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.clock: Callable[[], float] = clock if clock is not None else SteadyClock()
        self.max_pending = max_pending
        self.timeout = timeout
        self.ledger_new = ledger_new
        self.dialect = "postgres" if is_postgres(target) else "sqlite"
        self.started = self.clock()
        # the boot clock measures a restart's gap only against a real clock (tests inject
        # made-up times)
        self._real = isinstance(self.clock, SteadyClock)
        self._boot = (boot_id(), boot_clock()) if self._real else ("", None)
        self.rows_written = 0
        self.rows_dropped = 0
        self.rows_replayed = 0  # rows of an earlier run's spool written at the open
        self.rows_spooled = 0  # rows this run left in the spool at its stop
        self.write_errors = 0  # failed attempts in a row (for the log: one line per episode)
        self.failures_total = 0  # failed attempts ever (the self metric)
        self.timeouts_total = 0  # attempts the deadline cut
        self.clock_steps = 0
        self.clock_offset = 0.0  # wall clock minus the ledger's, after the last step
        self.last_commit = 0.0
        self.retry_after = 1.0  # first pause between attempts; doubles up to retry_max
        self.retry_max = 30.0
        self.opened = False
        self.problem = ""  # why the ledger is not writing now; "" while it writes
        self.file_problem = ""  # the SQLite file was removed or replaced under the writer
        self.down_gap: tuple[float, float] | None = None
        self.initial_inventory: dict[str, str] = {}  # for a run that opens late (Recorder)
        self._conn: Any = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._held = 0
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        self._ident: tuple[int, int] | None = None
        self._timed_out = False
        self.chain: Chain | None = None
        self._prune_lock = threading.Lock()
        if state_dir is None and self.dialect == "sqlite" and target:
            state_dir = os.path.dirname(os.path.abspath(target))
        self._spool = spool.spool_path(state_dir, target, instance) if state_dir else None
        self._marker = spool.marker_path(state_dir, target) if state_dir else None
        self._carried = spool.read_spool(self._spool) if self._spool else []

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> Restored | None:
        """Reach the database once: replay a spool, record the downtime since the last
        heartbeat, read what a restart restores, and start the writer thread.  When the
        database is not there, None: the thread holds the rows and keeps trying (the run
        then reconciles its start when it gets there).  A refusal (LedgerMissing, a newer
        schema) is raised: no retry can mend it."""
        restored = None
        try:
            restored = self._open_db(None)
        except (LedgerMissing, schema.SchemaTooNew):
            raise
        except Exception as exc:  # noqa: BLE001 - away, hung, read-only: retried by the thread
            self._failed(exc, "cannot open it")
        self._thread = threading.Thread(target=self._run, name="cctv-ledger", daemon=True)
        self._thread.start()
        return restored

    def pending(self) -> int:
        """Rows held: queued, and in the writer's hands not yet committed."""
        return self._queue.qsize() + self._held

    def put(self, statement: str, params: tuple) -> None:
        """Queue one row (from the event loop): never blocks, never raises."""
        self._queue.put((statement, params))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far had its commit attempt (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Commit what is held with a final heartbeat, or spool it; then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        # a last attempt (a deadline of its own) and a reconnect (another), then the spool
        self._thread.join(timeout if timeout is not None else 3 * self.timeout + 10)
        if self._thread.is_alive():
            log.error("ledger: the writer did not stop in time; %d rows not kept", self.pending())
        self._thread = None
        try:
            if self._conn is not None:
                self._conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass

    def note(self) -> str:
        """One line for /readyz when the ledger is not writing; "" while it is."""
        if not self.problem:
            return ""
        return f"ledger not writing: {self.problem}; {self.pending()} rows held"

    # ------------------------------------------------------------------ opening

    def _q(self, statement: str) -> str:
        return schema.sql(statement, self.dialect)

    def _open_db(self, inventory: dict[str, str] | None) -> Restored:
        marker = spool.read_marker(self._marker) if self._marker else None
        if self.dialect == "sqlite" and marker is not None and not self.ledger_new \
                and not (os.path.exists(self.target) and os.path.getsize(self.target) > 0):
            if not os.path.isdir(os.path.dirname(os.path.abspath(self.target))):
                # its volume not there (yet): out of reach, retried; an empty mount point
                # is a missing ledger (a new one there would be the silent fresh start)
                raise FileNotFoundError(f"no directory for {self.target}")
            raise self._missing(marker)
        conn, self.dialect = connect(self.target, self.timeout)
        try:
            with self._deadline(conn):
                found = schema.migrate(conn, self.dialect)
                if found == 0 and marker is not None and not self.ledger_new:
                    conn.rollback()
                    raise self._missing(marker)
                cur = conn.cursor()
                self.chain = Chain.load(cur, self.instance, self._q) if self.chain_enabled else None
                events: list[tuple] = []

                def write(cur: Any, rows: list[tuple[str, tuple]]) -> None:
                    self._write_chained(cur, rows, self.started, events)

                replayed = 0
                for seg in self._carried:
                    if opening.replay(cur, self._q, seg, write):
                        replayed += len(seg.rows)
                restored = opening.begin(cur, self._q, self.instance, self.started,
                                         (self._boot[0], self._boot[1]), write, inventory)
                conn.commit()
                if self.chain is not None:
                    self.chain.advance(events)
        except BaseException:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            raise
        self._conn = conn
        self.down_gap = restored.down_gap
        self.opened = True
        self.last_commit = self.clock()
        self._remember_file()
        if self._carried:
            self.rows_replayed += replayed
            log.warning("ledger: replayed %d rows of %d stopped run(s) from %s", replayed,
                        len(self._carried), self._spool)
            spool.remove(self._spool)  # type: ignore[arg-type]
            self._carried = []
        if found == 0:
            log.warning("ledger: created a new, empty ledger at %s", redact(self.target))
        if self._marker and (found == 0 or marker is None):
            try:
                spool.write_marker(self._marker, self.instance)
            except OSError as exc:
                log.warning("ledger: cannot write the marker %s (%s): a lost ledger would not "
                            "be noticed at a start", self._marker, exc.strerror)
        return restored

    def _missing(self, marker: dict) -> LedgerMissing:
        created = marker.get("created")
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(created)) if created else "earlier"
        return LedgerMissing(
            f"the ledger {redact(self.target)} is missing or empty, but {self._marker} says one "
            f"was created there ({when}): restore it, or start with --ledger-new to begin a "
            "new, empty one")

    def _remember_file(self) -> None:
        if self.dialect == "sqlite":
            try:
                st = os.stat(self.target)
                self._ident = (st.st_dev, st.st_ino)
            except OSError:
                self._ident = None

    def _same_file(self, now: float) -> bool:
        """Is the file we write still the one at the path?  Checked before every batch."""
        if self.dialect != "sqlite" or self._ident is None:
            return True
        try:
            st = os.stat(self.target)
            what = "" if (st.st_dev, st.st_ino) == self._ident else "replaced by another file"
        except FileNotFoundError:
            what = "removed"
        except OSError:
            return True  # unreadable directory: the commit itself will say
        if not what:
            if self.file_problem:
                log.warning("ledger: %s is back; writing again", self.target)
                self.file_problem = ""
            return True
        if not self.file_problem:
            saved = f"{self.target}.{what.split()[0]}-{int(now)}"
            try:  # the handle still reaches the old content: keep it, it is the history
                self._conn.execute("VACUUM INTO ?", (saved,))
                kept = f"its content up to now is saved as {saved}"
            except Exception as exc:  # noqa: BLE001
                kept = f"its content could not be saved ({exc})"
            self.file_problem = f"the file {self.target} was {what}"
            log.error("ledger: %s while the monitor was writing it; %s; holding rows (they "
                      "go to the spool at the stop) until the file is back or the monitor "
                      "restarts", self.file_problem, kept)
        self.problem = self.file_problem
        return False

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        pending: list[tuple[str, tuple]] = []
        waiters: list[threading.Event] = []
        last = time.monotonic()
        stopping = False
        full = False
        retry_at = 0.0
        while True:
            mono = time.monotonic()
            # sleep until the next batch is due, or the next retry: never spin (an attempt
            # that took its whole deadline must not leave a zero wait behind it)
            wait = max(0.0, self.flush_interval - (mono - last), retry_at - mono)
            try:
                item = self._queue.get(timeout=wait)
                while True:
                    if item is _STOP:
                        stopping = True
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    elif len(pending) < self.max_pending:
                        pending.append(item)
                        self._held += 1  # counted as it leaves the queue (rows_pending)
                    else:
                        self.rows_dropped += 1
                        if not full:
                            full = True
                            log.error("ledger: %d rows held, refusing newer ones (counted in "
                                      "cctv_monitor_ledger_rows_dropped_total)", len(pending))
                    if len(pending) >= self.batch_rows and self.opened and not self.problem:
                        break
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            self._held = len(pending)
            mono = time.monotonic()
            due = stopping or waiters or mono - last >= self.flush_interval \
                or (len(pending) >= self.batch_rows and not self.problem)
            if not due or (mono < retry_at and not stopping):
                continue
            now = self.clock()
            self._check_clock(pending, now)
            if self._attempt(pending, now):
                self.rows_written += len(pending)
                pending = []
                retry_at = 0.0
                full = False
            else:
                pause = self.retry_after * 2 ** min(self.write_errors - 1, 16)
                retry_at = time.monotonic() + min(self.retry_max, pause)
            self._held = len(pending)
            last = time.monotonic()
            if stopping and (pending or self.problem):
                self._spool_out(pending, now)
                self._held = 0
            for w in waiters:
                w.set()
            waiters = []
            if stopping:
                return
            if self.retention and self.opened and not self.problem \
                    and now - self._last_prune > 3600:
                self._prune(now)

    def _check_clock(self, pending: list, now: float) -> None:
        check = getattr(self.clock, "check", None)
        step = check() if check is not None else None
        if step is None:
            return
        self.clock_steps += 1
        self.clock_offset = float(getattr(self.clock, "offset", 0.0))
        wall = self.clock.wall() if hasattr(self.clock, "wall") else now  # type: ignore[attr-defined]
        log.warning("wall clock stepped %+.1fs (it reads %s UTC); outage times and durations "
                    "keep this run's monotonic clock, the step is recorded in the ledger",
                    step, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall)))
        pending.append(("clock_step", ClockStep(self.instance, now, wall, step)))

    def _attempt(self, rows: list[tuple[str, tuple]], now: float) -> bool:
        if not self.opened:
            try:
                self._open_db(dict(self.initial_inventory))
            except Exception as exc:  # noqa: BLE001 - still away; LedgerMissing included
                return self._failed(exc, "cannot open it")
            log.warning("ledger: opened after %d failed attempt(s); this run's start is "
                        "recorded at its true time and its held rows follow", self.write_errors)
        if not self._same_file(now):
            self.write_errors += 1
            self.failures_total += 1
            return False
        try:
            with self._deadline(self._conn):
                cur = self._conn.cursor()
                events: list[tuple] = []
                self._write_chained(cur, rows, now, events)
                cur.execute(self._q(STATEMENTS["heartbeat"]),
                            (now, self._boot[0], self._boot_now(), self.instance))
                self._conn.commit()
            if self.chain is not None:
                self.chain.advance(events)  # only now: a refused batch is linked again
        except Exception as exc:  # noqa: BLE001 - disk full, server gone: keep the rows, retry
            self._failed(exc, "cannot write")
            self._reconnect()
            return False
        self.last_commit = now
        if self.write_errors:
            log.warning("ledger: writing again after %d failed attempt(s); %d held rows "
                        "written", self.write_errors, len(rows))
            self.write_errors = 0
        self.problem = ""
        return True

    def _failed(self, exc: BaseException, what: str) -> bool:
        text = str(exc)
        if self._timed_out or "database is locked" in text or "timeout expired" in text \
                or exc.__class__.__name__ in ("QueryCanceled", "ConnectionTimeout"):
            self.timeouts_total += 1
            why = f"the database did not answer within {self.timeout:g}s"
        else:
            why = f"{exc.__class__.__name__}: {redact(text).strip()}"
        self._timed_out = False
        if self.write_errors == 0:
            log.error("ledger: %s (%s); holding %d rows and retrying", what, why, self.pending())
        self.problem = f"{what} ({why})"
        self.write_errors += 1
        self.failures_total += 1
        return False

    def _execute_rows(self, cur: Any, rows: list[tuple[str, tuple]]) -> None:
        i = 0
        while i < len(rows):
            j = i
            key = rows[i][0]
            while j < len(rows) and rows[j][0] == key:
                j += 1
            cur.executemany(self._q(STATEMENTS[key]), [r[1] for r in rows[i:j]])
            i = j

    def _boot_now(self) -> float | None:
        return boot_clock() if self._real else None

    def _deadline(self, conn: Any) -> "_Deadline":
        return _Deadline(self, conn)

    def _spool_out(self, rows: list[tuple[str, tuple]], now: float) -> None:
        if not self._spool:
            self.rows_dropped += len(rows)
            log.error("ledger: stopping with %d rows not written and no spool directory: "
                      "they are lost", len(rows))
            return
        seg = spool.Segment(
            id=uuid.uuid4().hex, instance=self.instance, started=self.started,
            opened=self.opened, heartbeat=now, boot_id=self._boot[0], boot_clock=self._boot_now(),
            started_boot_clock=self._boot[1],
            inventory={} if self.opened else dict(self.initial_inventory), rows=list(rows))
        try:
            spool.write_spool(self._spool, self._carried + [seg])
        except OSError as exc:
            self.rows_dropped += len(rows)
            log.error("ledger: stopping with %d rows not written, and the spool %s cannot be "
                      "written (%s): they are lost", len(rows), self._spool, exc.strerror)
            return
        self.rows_spooled = len(rows)
        log.warning("ledger: stopping with %d rows not written: kept in %s with the stop time; "
                    "the next start writes them first", len(rows), self._spool)

    def _write_chained(self, cur: Any, rows: list[tuple[str, tuple]], now: float,
                       events: list[tuple]) -> None:
        """Execute `rows` and append their chained events, following those of this
        transaction so far (`events`, extended), in the caller's transaction."""
        self._execute_rows(cur, rows)
        if self.chain is None:
            return
        new = self.chain.link(rows, now, after=events[-1] if events else None)
        if new:
            cur.executemany(self._q(CHAIN_INSERT), new)
            events.extend(new)

    def _reconnect(self) -> None:
        if self.file_problem:
            return
        try:
            self._conn.rollback()
            if self.dialect == "postgres" and self._conn.closed:
                self._conn, _ = connect(self.target, self.timeout)
        except Exception:  # noqa: BLE001 - the server is still away; next attempt retries
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
            try:
                self._conn, _ = connect(self.target, self.timeout)
            except Exception:  # noqa: BLE001
                pass

    def _prune(self, now: float) -> None:
        with self._prune_lock:  # one prune at a time: each links one event to the chain's head
            self.__prune(now)

    def __prune(self, now: float) -> None:
        self._last_prune = now
        horizon = now - float(self.retention or 0)
        try:
            with self._deadline(self._conn):
                cur = self._conn.cursor()
                cur.execute(self._q("DELETE FROM outages WHERE end_ts IS NOT NULL AND end_ts < ?"),
                            (horizon,))
                cur.execute(self._q("DELETE FROM monitor_down WHERE end_ts < ?"), (horizon,))
                thumbs.prune(cur, self._q, horizon)
                events: list[tuple] = []
                if self.chain is not None:  # the prune itself is on record
                    events = self.chain.link([("prune", (horizon,))], now)
                    cur.executemany(self._q(CHAIN_INSERT), events)
                self._conn.commit()
            if self.chain is not None:
                self.chain.advance(events)
        except Exception as exc:  # noqa: BLE001 - retried at the next prune
            log.error("ledger: retention prune failed: %s", redact(str(exc)))
            self._timed_out = False
            self._reconnect()


class _Deadline:
    """Interrupt `conn` when a block runs longer than the ledger's timeout (plus a margin
    for the database's own timeouts to speak first).  A stopped PostgreSQL server never
    answers and its kernel still acknowledges: only closing our end of the socket wakes the
    blocked read.  SQLite: sqlite3's interrupt."""

    def __init__(self, ledger: Ledger, conn: Any) -> None:
        self.ledger = ledger
        self.conn = conn
        self.timer: threading.Timer | None = None

    def __enter__(self) -> "_Deadline":
        self.timer = threading.Timer(self.ledger.timeout * 1.5 + 1.0, self._fire)
        self.timer.daemon = True
        self.timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _fire(self) -> None:
        self.ledger._timed_out = True
        try:
            if self.ledger.dialect == "sqlite":
                self.conn.interrupt()
            else:
                fd = self.conn.pgconn.socket
                sock = socket.socket(fileno=os.dup(fd))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()
        except Exception:  # noqa: BLE001 - the connection is gone already
            pass
