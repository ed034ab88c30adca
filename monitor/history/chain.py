"""Tamper evidence for the ledger: a hash chain per instance over every change of record.

The evidence tables are changed in place (an outage row gets its `end_ts` when it closes, the
retention prune deletes old rows, `first_answer` is an upsert), so chaining the rows
themselves would either break at every legitimate close or have to be rewritten.  Instead
each instance's writer appends, in the same transaction as the change, one event to the
append-only table `ledger_chain`:

    (instance, seq, ts, event, body, hash)
    hash = SHA-256(previous hash | instance | seq | event | body)

where `event` is the writer's statement (`open`, `close`, `first`, `inventory`,
`monitor_down`, `prune`) and `body` its parameters as canonical JSON (floats as Python's
shortest round-trip repr, so a REAL read back compares equal).  `seq` counts from 1 per
instance, so an HA pair or the shards of one ledger each keep a chain of their own and never
contend for one head.

`verify` checks each chain (a recomputed hash that differs names an edited event; a gap in
`seq` deleted events) and then replays the events and compares the result with the tables:
a row that no event explains was inserted, a row whose content differs from its events was
edited, an event whose row is gone was deleted (unless a chained `prune` removed it).
Volatile tables (`instances` heartbeats, `subject_state`) are not evidence and not chained.

What it cannot see alone: someone with write access who rewrites an event and every later
hash of that chain, or cuts its tail.  The report prints each chain's head (seq and hash);
a head printed in a report sent earlier is the anchor that exposes such a rewrite.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

#: The writer's statements whose rows are evidence (the others are caches or heartbeats).
CHAINED = frozenset({"open", "close", "close_all", "first", "inventory", "monitor_down", "prune"})
GENESIS = "0" * 64
INSERT = "INSERT INTO ledger_chain (instance, seq, ts, event, body, hash) VALUES (?, ?, ?, ?, ?, ?)"


def _body(params: Iterable[Any]) -> str:
    # times are floats already; replay compares them as floats either way
    return json.dumps(params, separators=(",", ":"), ensure_ascii=False)


def link_hash(prev: str, instance: str, seq: int, event: str, body: str) -> str:
    return hashlib.sha256(f"{prev}|{instance}|{seq}|{event}|{body}".encode()).hexdigest()


class Chain:
    """One instance's chain head, owned by its writer thread."""

    def __init__(self, instance: str, seq: int = 0, head: str = GENESIS) -> None:
        self.instance = instance
        self.seq = seq
        self.head = head

    @classmethod
    def load(cls, cur: Any, instance: str, q: Any) -> "Chain":
        cur.execute(q("SELECT seq, hash FROM ledger_chain WHERE instance = ? ORDER BY seq DESC LIMIT 1"),
                    (instance,))
        row = cur.fetchone()
        return cls(instance, int(row[0]), str(row[1])) if row else cls(instance)

    def link(self, rows: Iterable[tuple[str, tuple]], now: float,
             after: tuple | None = None, extra: frozenset[str] | set[str] = frozenset()) -> list[tuple]:
        """The events for `rows` (statement, params), following the current head (or `after`,
        the last event of the same transaction so far); the head moves only with `advance`,
        once the transaction that carries them has committed."""
        seq, head, inst = self.seq, self.head, self.instance
        if after is not None:
            seq, head = after[1], after[5]
        out = []
        for key, params in rows:
            if key not in CHAINED and key not in extra:  # extra: monitor.history.disputes
                continue
            seq += 1
            body = _body(params)
            head = link_hash(head, inst, seq, key, body)
            out.append((inst, seq, now, key, body, head))
        return out

    def advance(self, events: list[tuple]) -> None:
        if events:
            self.seq, self.head = events[-1][1], events[-1][5]


# ---------------------------------------------------------------------- verification


@dataclass
class Finding:
    ts: float  # when the change happened (for ordering: "the first row")
    text: str


@dataclass
class Verdict:
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    chain_findings: list[Finding] = field(default_factory=list)
    rows_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def heads(reader_rows: Any) -> dict[str, tuple[int, str]]:
    """instance -> (seq, hash) of its chain's last event, from `SELECT instance, seq, hash`."""
    out: dict[str, tuple[int, str]] = {}
    for inst, seq, digest in reader_rows:
        if inst not in out or int(seq) > out[inst][0]:
            out[inst] = (int(seq), str(digest))
    return out


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def verify(rows: Any) -> Verdict:
    """Check the chains and the tables; `rows(statement)` runs a SELECT and returns its rows."""
    v = Verdict()
    meta = {k: val for k, val in rows("SELECT key, value FROM ledger_chain_baseline")}
    legacy = {t: int(meta.get(f"chain_from_{t}", "0") or 0)
              for t in ("outages", "monitor_down", "inventory_changes")}
    events: dict[str, list[tuple]] = defaultdict(list)
    for inst, seq, ts, event, body, digest in rows(
            "SELECT instance, seq, ts, event, body, hash FROM ledger_chain ORDER BY instance, seq"):
        events[inst].append((int(seq), float(ts), event, body, digest))

    # 1. each chain on its own
    good: list[tuple[str, int, float, str, list]] = []
    for inst, evs in events.items():
        prev, expect, broken = GENESIS, 1, False
        for seq, ts, event, body, digest in evs:
            if not broken and seq != expect:
                broken = True
                v.chain_findings.append(Finding(ts, f"chain {inst}: event(s) #{expect}..#{seq - 1} deleted "
                                                    f"(the sequence jumps from #{expect - 1} to #{seq})"))
            elif not broken and link_hash(prev, inst, seq, event, body) != digest:
                broken = True
                v.chain_findings.append(Finding(ts, f"chain {inst}: event #{seq} ({event}) was edited or "
                                                    "inserted: its hash does not follow from the one before"))
            # replayed even past a break, so that the tables are still compared with something
            good.append((inst, seq, ts, event, json.loads(body)))
            prev, expect = digest, seq + 1
        v.heads[inst] = (evs[-1][0], evs[-1][4]) if evs else (0, GENESIS)

    # 2. replay the events into what the tables must hold
    # one key may open twice (two changes in one clock tick): rows match events in order
    outages: dict[tuple, list[dict]] = defaultdict(list)
    open_now: dict[tuple, dict] = {}
    downs: dict[tuple, list[tuple[str, int, float]]] = defaultdict(list)
    inventory: dict[tuple, list[tuple[str, int, float]]] = defaultdict(list)
    firsts: dict[str, tuple[float, str, str, int]] = {}
    horizon = float("-inf")
    for inst, seq, ts, event, p in good:
        where = f"(chain {inst} #{seq})"
        if event == "open":
            kind, subject, integ, provider, start, reason, cause, check, detail, owner = p
            key = (owner, kind, subject, integ, float(start))
            want = {"provider": provider, "reason": reason, "cause": cause, "check_name": check,
                    "detail": detail, "end_ts": None, "ts": ts, "where": where,
                    "start": float(start)}
            outages[key].append(want)
            open_now[(owner, kind, subject, integ)] = want
        elif event == "close":
            end, owner, kind, subject, integ = p
            want = open_now.pop((owner, kind, subject, integ), None)
            if want is not None:  # GREATEST(end, start_ts), as the writer's statement
                want["end_ts"] = max(float(end), want["start"])
        elif event == "close_all":
            end, owner = p
            for k in [k for k in open_now if k[0] == owner]:
                want = open_now.pop(k)
                want["end_ts"] = max(float(end), want["start"])
        elif event == "monitor_down":
            owner, start, end = p
            downs[(owner, float(start), float(end))].append((where, seq, ts))
        elif event == "inventory":
            t, camera, provider, action, owner = p
            inventory[(float(t), camera, provider, action, owner)].append((where, seq, ts))
        elif event == "first":
            camera, provider, t = p
            if camera not in firsts or float(t) < firsts[camera][0]:
                firsts[camera] = (float(t), provider, where, seq)
        elif event == "prune":
            horizon = max(horizon, float(p[0]))

    # 3. the tables against the replay
    for row in rows("SELECT id, kind, subject, integration, provider, start_ts, end_ts, reason, "
                    "cause, check_name, detail, instance FROM outages ORDER BY id"):
        rid, kind, subject, integ, provider, start, end, reason, cause, check, detail, owner = row
        v.rows_checked += 1
        key = (owner, kind, subject, integ, float(start))
        queue = outages.get(key)
        want = queue.pop(0) if queue else None
        if want is None:
            if rid > legacy["outages"]:
                v.findings.append(Finding(float(start), f"outages row id {rid} ({kind} {subject}, "
                                                        "start " f"{float(start)!r}) was inserted: no chained event opened it"))
            continue
        got = {"provider": provider, "reason": reason, "cause": cause, "check_name": check,
               "detail": detail, "end_ts": _f(end)}
        changed = [k for k in got if got[k] != want[k]]
        if changed:
            v.findings.append(Finding(want["ts"], f"outages row id {rid} ({kind} {subject}) was edited: "
                                                  f"{', '.join(changed)} differ from its events {want['where']}"))
    for key, left in outages.items():
        for want in left:
            if want["end_ts"] is not None and want["end_ts"] < horizon:
                continue  # the retention prune removed it, and said so in a chained event
            v.findings.append(Finding(want["ts"], f"outages row ({key[1]} {key[2]}, start {key[4]!r}, "
                                                  f"instance {key[0]}) was deleted: opened by {want['where']}"))
    for table, columns, expected, tkey in (
            ("monitor_down", "id, instance, start_ts, end_ts", downs,
             lambda r: (r[1], float(r[2]), float(r[3]))),
            ("inventory_changes", "id, ts, camera, provider, action, instance", inventory,
             lambda r: (float(r[1]), r[2], r[3], r[4], r[5]))):
        for row in rows(f"SELECT {columns} FROM {table} ORDER BY id"):
            v.rows_checked += 1
            got = expected.get(tkey(row))
            if got:
                got.pop(0)
            elif row[0] > legacy[table]:
                v.findings.append(Finding(float(row[2] if table == "monitor_down" else row[1]),
                                          f"{table} row id {row[0]} {tuple(row[1:])} was inserted or "
                                          "edited: no chained event wrote it"))
        for key, left in expected.items():
            for where, _seq, ts in left:
                if table == "monitor_down" and key[2] < horizon:
                    continue
                v.findings.append(Finding(ts, f"{table} row {key} was deleted or edited: written by {where}"))
    for camera, provider, t in rows("SELECT camera, provider, ts FROM first_answer"):
        v.rows_checked += 1
        want = firsts.pop(camera, None)
        if want is None:
            if f"chain_legacy_first:{camera}" not in meta:
                v.findings.append(Finding(float(t), f"first_answer row {camera!r} was inserted: "
                                                    "no chained event recorded its first answer"))
        elif float(t) != want[0] and not (float(t) < want[0] and f"chain_legacy_first:{camera}" in meta):
            v.findings.append(Finding(float(t), f"first_answer row {camera!r} was edited: ts {float(t)!r}, "
                                                f"its events say {want[0]!r} {want[2]}"))
    for camera, (t, _p, where, _s) in firsts.items():
        v.findings.append(Finding(t, f"first_answer row {camera!r} was deleted: recorded by {where}"))
    _verify_disputes(rows, good, v)
    v.findings.sort(key=lambda f: f.ts)
    v.chain_findings.sort(key=lambda f: f.ts)
    v.findings[:0] = v.chain_findings  # a broken chain first: the rows after it are unproven
    return v


def _verify_disputes(rows: Any, good: list, v: Verdict) -> None:
    """The append-only `disputes` table (schema 5, monitor/history/disputes.py) against its
    `dispute` events: every row exactly as its event wrote it, no row without one, no event
    without its row (disputes are never pruned)."""
    want = {int(p[0]): (p, inst, seq, ts) for inst, seq, ts, event, p in good if event == "dispute"}
    try:
        table = rows("SELECT id, ts, action, dispute, outage, camera, provider, start_ts, end_ts, "
                     "reason, text, actor, form FROM disputes ORDER BY id")
    except Exception:  # noqa: BLE001 - a ledger from before disputes existed
        table = []
    for row in table:
        v.rows_checked += 1
        rid = int(row[0])
        got = want.pop(rid, None)
        if got is None:
            v.findings.append(Finding(float(row[1]), f"disputes row id {rid} was inserted: no "
                                                      "chained event wrote it"))
            continue
        p, inst, seq, ts = got
        mine = [rid, float(row[1]), row[2], None if row[3] is None else int(row[3]), int(row[4]),
                row[5], row[6], float(row[7]), float(row[8]), row[9], row[10], row[11], row[12]]
        theirs = [int(p[0]), float(p[1]), p[2], None if p[3] is None else int(p[3]), int(p[4]),
                  p[5], p[6], float(p[7]), float(p[8]), p[9], p[10], p[11], p[12]]
        if mine != theirs:
            v.findings.append(Finding(ts, f"disputes row id {rid} was edited: it differs from its "
                                          f"event (chain {inst} #{seq})"))
    for rid, (_p, inst, seq, ts) in want.items():
        v.findings.append(Finding(ts, f"disputes row id {rid} was deleted: written by chain "
                                      f"{inst} #{seq}"))
