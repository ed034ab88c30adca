"""Disputes: a provider's objection to an outage (or a piece of one) and the city's answer.

The `disputes` table (schema version 5) is append-only, like the rest of the ledger: a
filing is a row (`action` = filed, `dispute` NULL: the dispute's id is the row's id); a
decision is a new row (`action` accepted or rejected, `dispute` = the filing's id) that
supersedes any earlier decision of the same dispute.  No row is ever updated or deleted, so
each one can be hash-chained with the ledger's other rows as it is; every row carries the
dispute's camera, provider and span, so that it reads (and hashes) on its own.

Each row is also an event of the ledger's hash chain (monitor/history/chain.py), in the
same transaction: the chain of its own instance name `CHAIN` (the daemon's web pages and
`cctv-monitor disputes` both write disputes; one lock per transaction, SQLite's write lock
or a PostgreSQL advisory lock, keeps its sequence whole), event `dispute`, body the row with
its id.  `ledger verify` replays those events against the table.

Only camera outages can be disputed (feed outages do not count against availability).  A
filing's span must lie within its outage (an open outage: up to its instance's last
heartbeat) and must not overlap another pending or accepted dispute of the same outage.
Texts are bounded (`MAX_TEXT` characters); a form's one-time nonce (`form`) is UNIQUE, so a
replayed form stores nothing even across a restart.

The functions take an open connection (`writer.connect`) and commit what they write; the
web pages call them in a worker thread, `cctv-monitor disputes` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import chain
from .schema import sql

#: Reasons a provider may give, in the order of the form.
REASONS = ("power_cut", "road_works", "access_denied", "monitor_error", "other")
ACTIONS = ("filed", "accepted", "rejected")
MAX_TEXT = 2000  # characters of a reason's text or a decision's note
#: The hash chain's instance name for dispute rows (never a monitor instance's name: those
#: are host names, optionally with "#shard-K-of-N").
CHAIN = "disputes"
#: The columns of a row as its chain event's body holds them, in this order.
COLUMNS = ("id", "ts", "action", "dispute", "outage", "camera", "provider", "start_ts", "end_ts",
           "reason", "text", "actor", "form")
_LOCK = 724012  # PostgreSQL advisory lock of the disputes chain (schema.migrate uses 724011)


class DisputeError(Exception):
    """A refused filing or decision: `status` is the HTTP answer (400, 404, 409), the
    message is safe to show to the user who asked."""

    def __init__(self, status: int, message: str, key: str = "", **fmt: object) -> None:
        super().__init__(message)
        self.status = status
        self.key = key  # the page's words for it (monitor.report.i18n: "err_" + key)
        self.fmt = fmt


@dataclass
class Dispute:
    id: int
    outage: int
    camera: str
    provider: str
    start: float
    end: float
    reason: str
    text: str
    filed_by: str
    filed_at: float
    status: str = "pending"  # pending | accepted | rejected (the latest decision)
    decided_by: str = ""
    decided_at: float | None = None
    note: str = ""
    decisions: list[tuple[float, str, str, str]] = field(default_factory=list)  # ts, action, actor, note

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class OutageRow:
    id: int
    kind: str
    camera: str
    integration: str
    provider: str
    start: float
    end: float  # an open one: its instance's last heartbeat
    open: bool
    reason: str
    cause: str
    check: str


def _rows(conn: Any, dialect: str, statement: str, params: tuple = ()) -> list[tuple]:
    cur = conn.cursor()
    cur.execute(sql(statement, dialect), params)
    rows = cur.fetchall()
    if dialect == "postgres":
        conn.rollback()
    return rows


def clean_text(value: str, what: str, required: bool) -> str:
    """A bounded text: at most MAX_TEXT characters, no control characters but newlines."""
    value = (value or "").replace("\r\n", "\n").strip()
    if required and not value:
        raise DisputeError(400, f"{what}: required", "required", what=what)
    if len(value) > MAX_TEXT:
        raise DisputeError(400, f"{what}: {len(value):,} characters, at most {MAX_TEXT:,}",
                           "too_long", what=what, n=len(value), max=MAX_TEXT)
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise DisputeError(400, f"{what}: control characters are not allowed", "control",
                           what=what)
    return value


def outage(conn: Any, dialect: str, outage_id: int) -> OutageRow | None:
    rows = _rows(conn, dialect,
                 "SELECT o.id, o.kind, o.subject, o.integration, o.provider, o.start_ts, o.end_ts, "
                 "o.reason, o.cause, o.check_name, i.heartbeat FROM outages o "
                 "LEFT JOIN instances i ON i.instance = o.instance WHERE o.id = ?", (outage_id,))
    if not rows:
        return None
    oid, kind, subject, integ, prov, s, e, reason, cause, check, beat = rows[0]
    is_open = e is None
    end = float(e) if e is not None else float(beat if beat is not None else s)
    return OutageRow(int(oid), kind, subject, integ, prov, float(s), max(float(s), end), is_open,
                     reason, cause, check)


def outages(conn: Any, dialect: str, start: float, end: float, provider: str | None = None,
            limit: int = 2000) -> list[OutageRow]:
    """Camera outages overlapping [start, end), newest first, at most `limit`."""
    where = "o.kind = 'camera' AND o.start_ts < ? AND (o.end_ts IS NULL OR o.end_ts > ?)"
    params: tuple = (end, start)
    if provider is not None:
        where += " AND o.provider = ?"
        params += (provider,)
    rows = _rows(conn, dialect,
                 "SELECT o.id, o.kind, o.subject, o.integration, o.provider, o.start_ts, o.end_ts, "
                 "o.reason, o.cause, o.check_name, i.heartbeat FROM outages o "
                 f"LEFT JOIN instances i ON i.instance = o.instance WHERE {where} "
                 f"ORDER BY o.start_ts DESC, o.id DESC LIMIT {int(limit)}", params)
    out = []
    for oid, kind, subject, integ, prov, s, e, reason, cause, check, beat in rows:
        end_ = float(e) if e is not None else float(beat if beat is not None else s)
        out.append(OutageRow(int(oid), kind, subject, integ, prov, float(s), max(float(s), end_),
                             e is None, reason, cause, check))
    return out


def load(conn: Any, dialect: str, provider: str | None = None, start: float | None = None,
         end: float | None = None, dispute_id: int | None = None,
         as_of: float | None = None) -> list[Dispute]:
    """Disputes (filings with their latest decision), oldest first; limited to a provider,
    to spans overlapping [start, end), or to one id; with `as_of`, as they stood then (rows
    written later are left out: a report made again at its as-of instant is the same)."""
    where, params = ["action = 'filed'"], []
    if as_of is not None:
        where.append("ts <= ?")
        params.append(as_of)
    if provider is not None:
        where.append("provider = ?")
        params.append(provider)
    if start is not None and end is not None:
        where.append("start_ts < ? AND end_ts > ?")
        params += [end, start]
    if dispute_id is not None:
        where.append("id = ?")
        params.append(dispute_id)
    filed = _rows(conn, dialect,
                  "SELECT id, outage, camera, provider, start_ts, end_ts, reason, text, actor, ts "
                  f"FROM disputes WHERE {' AND '.join(where)} ORDER BY id", tuple(params))
    out = {int(r[0]): Dispute(int(r[0]), int(r[1]), r[2], r[3], float(r[4]), float(r[5]), r[6],
                              r[7], r[8], float(r[9])) for r in filed}
    if not out:
        return []
    if dispute_id is not None:
        decided = _rows(conn, dialect, "SELECT dispute, ts, action, actor, text FROM disputes "
                        "WHERE dispute = ? ORDER BY id", (dispute_id,))
    else:
        decided = _rows(conn, dialect, "SELECT dispute, ts, action, actor, text FROM disputes "
                        "WHERE dispute IS NOT NULL ORDER BY id")
    for did, ts, action, actor, note in decided:
        d = out.get(int(did))
        if d is None or (as_of is not None and float(ts) > as_of):
            continue
        d.decisions.append((float(ts), action, actor, note))
        d.status, d.decided_by, d.decided_at, d.note = action, actor, float(ts), note
    return list(out.values())


def decisions(conn: Any, dialect: str, provider: str | None = None,
              limit: int = 1000) -> list[tuple[int, float, str, int, str, str, str]]:
    """The audit list: (row id, ts, action, dispute id, provider, actor, note), newest first."""
    where, params = "dispute IS NOT NULL", ()
    if provider is not None:
        where += " AND provider = ?"
        params = (provider,)
    return [(int(i), float(ts), a, int(d), p, actor, note) for i, ts, a, d, p, actor, note in _rows(
        conn, dialect, "SELECT id, ts, action, dispute, provider, actor, text FROM disputes "
        f"WHERE {where} ORDER BY id DESC LIMIT {int(limit)}", params)]


def _insert(conn: Any, dialect: str, row: tuple) -> int:
    """The row and its chain event, in one transaction under the chain's lock."""
    cur = conn.cursor()
    statement = ("INSERT INTO disputes (ts, action, dispute, outage, camera, provider, start_ts, "
                 "end_ts, reason, text, actor, form) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    try:
        if dialect == "postgres":
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            cur.execute(sql(statement + " RETURNING id", dialect), row)
            new_id = int(cur.fetchone()[0])
        else:
            if not conn.in_transaction:
                cur.execute("BEGIN IMMEDIATE")  # the write lock first: one chain head at a time
            cur.execute(statement, row)
            new_id = int(cur.lastrowid)
        head = chain.Chain.load(cur, CHAIN, lambda q: sql(q, dialect))
        body = (new_id, *row)
        event = head.link([("dispute", body)], float(row[0]), extra={"dispute"})
        cur.execute(sql(chain.INSERT, dialect), event[0])
        conn.commit()
    except Exception as exc:
        conn.rollback()
        if "unique" in str(exc).lower() and "form" in str(exc).lower():
            raise DisputeError(409, "this form was already sent: nothing stored again",
                               "replayed") from None
        raise
    return new_id


def file(conn: Any, dialect: str, outage_id: int, provider: str, reason: str, text: str,
         actor: str, now: float, start: float | None = None, end: float | None = None,
         form: str | None = None) -> int:
    """File a dispute for `provider` (its user `actor`); returns its id.  An outage of
    another provider is answered as one that does not exist."""
    if reason not in REASONS:
        raise DisputeError(400, f"reason: one of {', '.join(REASONS)}", "reason")
    text = clean_text(text, "text", required=reason == "other")
    o = outage(conn, dialect, outage_id)
    if o is None or o.provider != provider:
        raise DisputeError(404, f"no outage {outage_id} of {provider}", "no_outage")
    if o.kind != "camera":
        raise DisputeError(400, f"outage {outage_id} is a {o.kind} outage: only camera "
                                "outages count against availability and can be disputed",
                           "not_camera")
    s = o.start if start is None else float(start)
    e = o.end if end is None else float(end)
    if not (o.start <= s < e <= o.end):
        raise DisputeError(400, f"the disputed span must lie within the outage "
                                f"({o.start:.0f} to {o.end:.0f}) and end after it starts", "span")
    for d in load(conn, dialect, provider=provider):
        if d.outage == outage_id and d.status != "rejected" and d.start < e and s < d.end:
            raise DisputeError(409, f"dispute {d.id} ({d.status}) already covers part of this span",
                               "overlap", id=d.id)
    return _insert(conn, dialect, (now, "filed", None, outage_id, o.camera, provider, s, e,
                                   reason, text, actor, form))


def decide(conn: Any, dialect: str, dispute_id: int, accept: bool, note: str, actor: str,
           now: float, form: str | None = None) -> int:
    """Accept or reject a dispute with a note (a new row superseding any earlier decision);
    returns the decision's row id."""
    note = clean_text(note, "note", required=True)
    found = load(conn, dialect, dispute_id=dispute_id)
    if not found:
        raise DisputeError(404, f"no dispute {dispute_id}", "no_dispute")
    d = found[0]
    return _insert(conn, dialect, (now, "accepted" if accept else "rejected", d.id, d.outage,
                                   d.camera, d.provider, d.start, d.end, "", note, actor, form))


def last_row(conn: Any, dialect: str) -> int:
    """The newest row's id (0 for none, or a ledger from before disputes): a report made
    before a later row may be out of date."""
    try:
        return int(_rows(conn, dialect, "SELECT MAX(id) FROM disputes")[0][0] or 0)
    except Exception:  # noqa: BLE001 - no disputes table yet
        if dialect == "postgres":
            conn.rollback()
        return 0


def accepted_spans(conn: Any, dialect: str, start: float, end: float) -> dict[str, list[tuple[float, float]]]:
    """camera -> the spans of its accepted disputes overlapping [start, end) (what the
    report excludes with excluded=dispute); an older ledger has none."""
    try:
        found = load(conn, dialect, start=start, end=end)
    except Exception:  # noqa: BLE001 - a ledger from before disputes existed
        if dialect == "postgres":
            conn.rollback()
        return {}
    out: dict[str, list[tuple[float, float]]] = {}
    for d in found:
        if d.status == "accepted":
            out.setdefault(d.camera, []).append((d.start, d.end))
    return out
