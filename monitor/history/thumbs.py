"""Evidence thumbnails in the outage ledger (schema version 4, table ``outage_thumbs``).

One small JPEG (`monitor.probes.evidence`) per picture outage, keyed like the outage it
belongs to: (instance, camera, start of the outage).  Written through the ledger's queue
like every other row (`STATEMENTS`, merged into the writer's), pruned with the outages'
retention, and capped in size at the door (`MAX_BYTES`): a row over it is not written.
"""

from __future__ import annotations

from typing import Any, Callable

#: Refused above this, whatever made it (the maker caps at 24 KiB).
MAX_BYTES = 64 * 1024

MIGRATION = (4, [
    """CREATE TABLE outage_thumbs (
        instance TEXT NOT NULL,
        subject TEXT NOT NULL,
        start_ts DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        jpeg {blob} NOT NULL,
        PRIMARY KEY (instance, subject, start_ts))""",
])

STATEMENTS = {
    "thumb": "INSERT INTO outage_thumbs (instance, subject, start_ts, reason, jpeg) "
             "VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance, subject, start_ts) DO NOTHING",
}


def row(instance: str, camera: str, start: float, reason: str,
        jpeg: bytes | None) -> tuple | None:
    """The "thumb" row for an outage, or None when there is nothing (or too much) to keep."""
    if not jpeg or len(jpeg) > MAX_BYTES:
        return None
    return (instance, camera, start, reason, bytes(jpeg))


def prune(cur: Any, q: Callable[[str], str], horizon: float) -> None:
    """Thumbnails of outages started before the retention horizon and since closed."""
    cur.execute(q("DELETE FROM outage_thumbs WHERE start_ts < ? AND NOT EXISTS (SELECT 1 FROM "
                  "outages o WHERE o.instance = outage_thumbs.instance AND o.kind = 'camera' "
                  "AND o.subject = outage_thumbs.subject AND o.start_ts = outage_thumbs.start_ts "
                  "AND o.end_ts IS NULL)"), (horizon,))


def read(conn: Any, dialect: str, camera: str, start: float) -> bytes | None:
    """The thumbnail of a camera's outage started at `start` (any instance), or None."""
    cur = conn.cursor()
    mark = "%s" if dialect == "postgres" else "?"
    cur.execute(f"SELECT jpeg FROM outage_thumbs WHERE subject = {mark} AND start_ts = {mark}",
                (camera, start))
    got = cur.fetchone()
    return None if got is None else bytes(got[0])


#: Picture outages of one report with their thumbnail printed; the rest say nothing more
#: (bounds the report's size: 200 x 24 KiB).
REPORT_MAX = 200
PICTURE_REASONS = ("black_image", "uniform_image", "frozen_image")


def for_period(conn: Any, dialect: str, start: float, end: float) -> list[tuple]:
    """(camera, reason, outage start, outage end or None, jpeg) of the camera outages with a
    thumbnail that overlap [start, end); [] for a ledger older than schema version 4."""
    mark = "%s" if dialect == "postgres" else "?"
    cur = conn.cursor()
    try:
        cur.execute(
            "SELECT t.subject, t.reason, t.start_ts, o.end_ts, t.jpeg FROM outage_thumbs t "
            "JOIN outages o ON o.instance = t.instance AND o.kind = 'camera' "
            "AND o.subject = t.subject AND o.start_ts = t.start_ts "
            f"WHERE t.start_ts < {mark} AND (o.end_ts IS NULL OR o.end_ts > {mark}) "
            "ORDER BY t.start_ts", (end, start))
        rows = [(r[0], r[1], float(r[2]), None if r[3] is None else float(r[3]), bytes(r[4]))
                for r in cur.fetchall()]
    except Exception:  # noqa: BLE001 - no such table: a ledger no monitor of version 4 opened
        rows = []
    if dialect == "postgres":
        conn.rollback()  # no transaction left open between reads
    return rows


def match(pieces: list[Any], rows: list[tuple], limit: int) -> dict[int, bytes]:
    """Index of a listed outage piece (the first `limit`) -> the thumbnail of the outage it
    is part of: same camera and reason, within that outage's span."""
    by_camera: dict[str, list[tuple]] = {}
    for row in rows:
        by_camera.setdefault(row[0], []).append(row)
    out: dict[int, bytes] = {}
    for i, p in enumerate(pieces[:limit]):
        if p.kind != "camera" or p.reason not in PICTURE_REASONS or len(out) >= REPORT_MAX:
            continue
        for camera, reason, start, end, jpeg in by_camera.get(p.camera, ()):
            if reason == p.reason and start <= p.start and (end is None or p.start < end):
                out[i] = jpeg
                break
    return out
