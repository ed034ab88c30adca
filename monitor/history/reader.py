"""Reading the ledger back: what the report and the web pages need, by period.

Open episodes are cut at their instance's last heartbeat: an instance that died and never
came back does not leave an outage open forever in any report.  Gaps in an instance's
heartbeat are `monitor_down`; an instance silent now (its heartbeat older than
`STALE_AFTER`) is also down from its last heartbeat on.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterator, NamedTuple

from .schema import sql
from .writer import InventoryChange, connect, is_postgres

#: An instance whose heartbeat is older than this is not running (it beats about every second).
STALE_AFTER = 15.0


class Outage(NamedTuple):
    """One episode as the reports read it."""

    kind: str
    subject: str
    integration: str
    provider: str
    start: float
    end: float  # open episodes: the instance's last heartbeat
    reason: str
    cause: str
    check: str
    detail: str
    instance: str
    open: bool


@dataclass(slots=True)
class ClockStep:
    instance: str
    ts: float  # ledger time (the monitor's steady clock) when the step was seen
    wall_ts: float  # what the wall clock read then
    step: float  # seconds, negative when the wall clock went back


#: The name the report reads rows by (one type: `Outage`)
OutageRow = Outage


class Reader:
    """A read-only view of one ledger (a SQLite path or a PostgreSQL DSN)."""

    def __init__(self, target: str) -> None:
        if not is_postgres(target) and not os.path.exists(target):
            # reading never creates a ledger: a missing file is an empty past (and a start
            # must still see it missing, monitor/history/spool.py's marker)
            target = ":memory:"
        self.conn, self.dialect = connect(target)

    def close(self) -> None:
        self.conn.close()

    def _rows(self, statement: str, params: tuple = ()) -> list[tuple]:
        cur = self.conn.cursor()
        cur.execute(sql(statement, self.dialect), params)
        rows = cur.fetchall()
        if self.dialect == "postgres":
            self.conn.rollback()  # no transaction left open between reads
        return rows

    def has_schema(self) -> bool:
        try:
            # the version row is written last, once every table exists: before it, the
            # migration is still running (SQLite creates each table in its own commit)
            return bool(self._rows("SELECT value FROM ledger_meta WHERE key = 'schema_version'"))
        except Exception:  # noqa: BLE001 - an empty database: nothing on record yet
            if self.dialect == "postgres":
                self.conn.rollback()
            return False

    def heartbeats(self) -> dict[str, float]:
        return {r[0]: float(r[1]) for r in self._rows("SELECT instance, heartbeat FROM instances")}

    def outages(self, start: float, end: float, kinds: tuple[str, ...] = ("camera", "feed", "link"),
                batch: int = 50_000) -> Iterator[Outage]:
        """Every episode that overlaps [start, end), unclipped, in no particular order."""
        return self.outage_rows(start, end, kinds, batch)

    def outage_rows(self, start: float, end: float, kinds: tuple[str, ...] = ("camera", "feed", "link"),
                    batch: int = 50_000) -> Iterator[Outage]:
        """The episodes `outages` yields; a report reads a million of them, so each is built
        with tuple.__new__ (0.12 s per million over plain tuples, where Outage(...) costs
        0.28 s, measured)."""
        new = tuple.__new__
        beats = self.heartbeats()
        marks = ", ".join("?" for _ in kinds)
        # PostgreSQL: a server-side cursor, so a million rows are not all in memory at once
        cur = self.conn.cursor(name="ledger_outages") if self.dialect == "postgres" else self.conn.cursor()
        cur.execute(sql(
            "SELECT kind, subject, integration, provider, start_ts, end_ts, reason, cause, "
            "check_name, detail, instance FROM outages "
            f"WHERE start_ts < ? AND (end_ts IS NULL OR end_ts > ?) AND kind IN ({marks})",
            self.dialect), (end, start, *kinds))
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                break
            for kind, subject, integ, provider, s, e, reason, cause, check, detail, inst in rows:
                is_open = e is None
                if is_open:
                    e = beats.get(inst, s)
                    if e <= start:
                        continue
                yield new(Outage, (kind, subject, integ, provider, float(s), float(e), reason,
                                   cause, check, detail, inst, is_open))
        cur.close()
        if self.dialect == "postgres":
            self.conn.rollback()

    def monitor_down(self, start: float, end: float, now: float | None = None) -> dict[str, list[tuple[float, float]]]:
        """instance -> its down intervals overlapping [start, end), including a silence now."""
        now = time.time() if now is None else now
        out: dict[str, list[tuple[float, float]]] = {}
        for inst, s, e in self._rows(
                "SELECT instance, start_ts, end_ts FROM monitor_down WHERE start_ts < ? AND end_ts > ? "
                "ORDER BY start_ts", (end, start)):
            out.setdefault(inst, []).append((float(s), float(e)))
        for inst, beat in self.heartbeats().items():
            if now - beat > STALE_AFTER and beat < end:
                out.setdefault(inst, []).append((beat, max(beat, min(end, now))))
        return out

    def inventory_changes(self, until: float) -> list[InventoryChange]:
        """The inventory changes up to `until`, in order."""
        return [InventoryChange(float(ts), c, p, a, i) for ts, c, p, a, i in self._rows(
            "SELECT ts, camera, provider, action, instance FROM inventory_changes WHERE ts < ? "
            "ORDER BY ts, id", (until,))]

    def clock_steps(self, start: float, end: float) -> list[ClockStep]:
        """The wall-clock steps any instance saw in [start, end), in order (schema 3; an
        older ledger has none)."""
        try:
            return [ClockStep(i, float(ts), float(w), float(st)) for i, ts, w, st in self._rows(
                "SELECT instance, ts, wall_ts, step FROM clock_steps WHERE ts >= ? AND ts < ? "
                "ORDER BY ts, id", (start, end))]
        except Exception:  # noqa: BLE001 - a ledger from before clock_steps existed
            if self.dialect == "postgres":
                self.conn.rollback()
            return []

    def first_answers(self) -> dict[str, float]:
        return {c: float(ts) for c, ts in self._rows("SELECT camera, ts FROM first_answer")}

    def disputes(self, start: float, end: float, provider: str | None = None,
                 as_of: float | None = None) -> list:
        """The disputes (monitor/history/disputes.py) whose spans overlap [start, end), as
        they stood at `as_of`; a ledger from before disputes has none."""
        from . import disputes

        try:
            return disputes.load(self.conn, self.dialect, provider=provider, start=start,
                                 end=end, as_of=as_of)
        except Exception:  # noqa: BLE001 - no disputes table (schema < 5)
            if self.dialect == "postgres":
                self.conn.rollback()
            return []

    def select(self, statement: str, params: tuple = ()) -> list[tuple]:
        """Any read (`?` placeholders); the chain's verification reads whole tables."""
        return self._rows(statement, params)

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        """instance -> (seq, hash) of the last event of its hash chain (monitor/history/chain.py);
        empty for a ledger whose schema predates the chain."""
        try:
            rows = self._rows("SELECT c.instance, c.seq, c.hash FROM ledger_chain c JOIN "
                              "(SELECT instance, MAX(seq) AS seq FROM ledger_chain GROUP BY instance) h "
                              "ON c.instance = h.instance AND c.seq = h.seq")
        except Exception:  # noqa: BLE001 - no ledger_chain table yet
            if self.dialect == "postgres":
                self.conn.rollback()
            return {}
        return {inst: (int(seq), str(digest)) for inst, seq, digest in rows}

    def span(self) -> tuple[float, float] | None:
        """The first and last moment on record (inventory and heartbeats)."""
        rows = self._rows("SELECT MIN(ts) FROM inventory_changes")
        first = rows[0][0] if rows else None
        beats = self.heartbeats()
        if first is None or not beats:
            return None
        return float(first), max(beats.values())


def open_reader(target: str) -> Reader:
    return Reader(target)


