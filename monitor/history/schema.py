"""The ledger's tables and their migrations, one list for SQLite and PostgreSQL.

Times are UNIX seconds (double precision): both engines compare and index them cheaply and
the report turns them into the report's time zone itself.  The schema version lives in
`ledger_meta`; `migrate` applies, in one transaction, every step above the stored version
(PostgreSQL: under an advisory lock, so several instances starting together migrate once).

Tables:

- `outages`: one row per episode of a camera, feed or link not being up: kind, subject,
  integration (feeds), provider, start, end (NULL while open), reason, cause, check,
  detail (the probe's message, never a password) and the instance that wrote it.
- `subject_state`: per instance, the last known state of every camera, feed and link and
  since when: what a restart restores.
- `first_answer`: the first time each camera ever answered (its verified installation date).
- `inventory_changes`: every camera added to or removed from an instance's inventory.
- `instances`: each monitor instance's start and heartbeat (updated about every second).
- `monitor_down`: the gaps between an instance's last heartbeat and its next start.
- `ledger_chain` (version 2): per instance, the hash-chained events of every change to the
  tables above but `subject_state` and `instances` (monitor/history/chain.py);
  `ledger_chain_baseline`: what was on record before the chain began (not chained).
- `clock_steps` (version 3): every step of the wall clock an instance saw (`step` seconds,
  negative when back) at ledger time `ts`, the wall clock then reading `wall_ts`; and each
  instance's boot id and CLOCK_BOOTTIME at its heartbeat, which measure a restart's gap.

- `disputes` (version 5): providers' disputes of outages and the city's decisions,
  append-only (monitor/history/disputes.py).

Statements are written with `?` and `GREATEST(a, b)`; `sql` gives each engine its spelling.
"""

from __future__ import annotations

from typing import Any

from . import thumbs as _thumbs

#: (version, statements).  Append new steps; never edit a released one.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE outages (
            id {id_column},
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            integration TEXT NOT NULL DEFAULT '',
            provider TEXT NOT NULL DEFAULT '',
            start_ts DOUBLE PRECISION NOT NULL,
            end_ts DOUBLE PRECISION,
            reason TEXT NOT NULL DEFAULT '',
            cause TEXT NOT NULL DEFAULT '',
            check_name TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '',
            instance TEXT NOT NULL)""",
        "CREATE INDEX outages_start ON outages (start_ts)",
        # the open episodes: closing one is an index lookup even with millions of rows
        """CREATE INDEX outages_open ON outages (instance, kind, subject, integration)
            WHERE end_ts IS NULL""",
        """CREATE TABLE subject_state (
            instance TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            integration TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            since DOUBLE PRECISION NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            check_name TEXT NOT NULL DEFAULT '',
            cause TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (instance, kind, subject, integration))""",
        """CREATE TABLE first_answer (
            camera TEXT PRIMARY KEY,
            provider TEXT NOT NULL DEFAULT '',
            ts DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE inventory_changes (
            id {id_column},
            ts DOUBLE PRECISION NOT NULL,
            camera TEXT NOT NULL,
            provider TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            instance TEXT NOT NULL)""",
        "CREATE INDEX inventory_changes_ts ON inventory_changes (ts)",
        """CREATE TABLE instances (
            instance TEXT PRIMARY KEY,
            started DOUBLE PRECISION NOT NULL,
            heartbeat DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE monitor_down (
            id {id_column},
            instance TEXT NOT NULL,
            start_ts DOUBLE PRECISION NOT NULL,
            end_ts DOUBLE PRECISION NOT NULL)""",
    ]),
    # the hash chain (monitor/history/chain.py): one append-only event per change of record;
    # rows already on record when it begins are marked as older than the chain
    (2, [
        """CREATE TABLE ledger_chain (
            instance TEXT NOT NULL,
            seq BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (instance, seq))""",
        "CREATE TABLE ledger_chain_baseline (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO ledger_chain_baseline (key, value) SELECT 'chain_from_outages', "
        "CAST(COALESCE(MAX(id), 0) AS TEXT) FROM outages",
        "INSERT INTO ledger_chain_baseline (key, value) SELECT 'chain_from_monitor_down', "
        "CAST(COALESCE(MAX(id), 0) AS TEXT) FROM monitor_down",
        "INSERT INTO ledger_chain_baseline (key, value) SELECT 'chain_from_inventory_changes', "
        "CAST(COALESCE(MAX(id), 0) AS TEXT) FROM inventory_changes",
        "INSERT INTO ledger_chain_baseline (key, value) SELECT 'chain_legacy_first:' || camera, '1' "
        "FROM first_answer",
    ]),
    # wall-clock steps, and what measures a restart's gap on the same boot
    (3, [
        """CREATE TABLE clock_steps (
            id {id_column},
            instance TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            wall_ts DOUBLE PRECISION NOT NULL,
            step DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX clock_steps_ts ON clock_steps (ts)",
        "ALTER TABLE instances ADD COLUMN boot_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE instances ADD COLUMN boot_clock DOUBLE PRECISION",
    ]),
]

# version 4: evidence thumbnails (monitor.history.thumbs)
MIGRATIONS.append(_thumbs.MIGRATION)
# disputes and their decisions, append-only: monitor/history/disputes.py
MIGRATIONS.append((5, [
    """CREATE TABLE disputes (
        id {id_column},
        ts DOUBLE PRECISION NOT NULL,
        action TEXT NOT NULL,
        dispute BIGINT,
        outage BIGINT NOT NULL,
        camera TEXT NOT NULL,
        provider TEXT NOT NULL,
        start_ts DOUBLE PRECISION NOT NULL,
        end_ts DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        actor TEXT NOT NULL,
        form TEXT UNIQUE)""",
    "CREATE INDEX disputes_start ON disputes (start_ts)",
    "CREATE INDEX disputes_dispute ON disputes (dispute)",
]))
MIGRATIONS.sort(key=lambda step: step[0])  # steps of other branches merge in any order

LATEST = MIGRATIONS[-1][0]

_ID = {"sqlite": "INTEGER PRIMARY KEY", "postgres": "BIGSERIAL PRIMARY KEY"}
_BLOB = {"sqlite": "BLOB", "postgres": "BYTEA"}


class SchemaTooNew(RuntimeError):
    """A newer monitor wrote this ledger: refused at the start, never retried."""


def sql(statement: str, dialect: str) -> str:
    """Our statements use `?` placeholders; psycopg wants `%s`.  SQLite spells the
    two-argument GREATEST as the scalar MAX."""
    if dialect == "postgres":
        return statement.replace("?", "%s")
    return statement.replace("GREATEST(", "MAX(")


def migrate(conn: Any, dialect: str) -> int:
    """Bring the schema to LATEST; returns the version found before.  The caller commits."""
    cur = conn.cursor()
    if dialect == "postgres":
        cur.execute("SELECT pg_advisory_xact_lock(724011)")  # one migrator at a time
    cur.execute("CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    cur.execute(sql("SELECT value FROM ledger_meta WHERE key = ?", dialect), ("schema_version",))
    row = cur.fetchone()
    found = int(row[0]) if row else 0
    if found > LATEST:
        raise SchemaTooNew(
            f"the ledger's schema is version {found}, newer than this monitor's {LATEST}: "
            "upgrade the monitor")
    for version, statements in MIGRATIONS:
        if version <= found:
            continue
        for statement in statements:
            cur.execute(statement.format(id_column=_ID[dialect], blob=_BLOB[dialect]))
    if found < LATEST:
        cur.execute(
            sql("INSERT INTO ledger_meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                "DO UPDATE SET value = excluded.value", dialect),
            ("schema_version", str(LATEST)))
    return found
