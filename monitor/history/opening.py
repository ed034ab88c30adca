"""What a run writes when it reaches the ledger: its start (the monitor_down gap before it,
what a restart restores) and the runs a spool carried over.  All in the caller's transaction.

A run that reached the ledger at its start reads back what the previous run knew and State
continues from it.  A run that did not (the database away, hung, or its file gone when the
monitor started) probed without that knowledge; when it reaches the ledger later, or when
the next start replays its spool, its start is reconciled in the ledger instead: the gap
before it is monitor_down, the previous run's open episodes are closed at that run's last
heartbeat (what the reader shows for them anyway), the previous subject states are dropped
(this run's rows rebuild them) and the inventory is compared with the one it started with.

The monitor_down gap is measured with CLOCK_BOOTTIME when the last heartbeat was on this
boot: a wall clock stepped while the monitor was stopped (or during the previous run) then
neither makes nor hides downtime, and the step is recorded in `clock_steps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from .rows import CloseAll, InventoryChange, MonitorDown
from .spool import Segment

#: Smaller differences between the wall-clock and the boot-clock gap are not a step.
STEP_THRESHOLD = 2.0


class RestoredState(NamedTuple):
    """A subject's last state as the previous run left it (subject_state)."""

    kind: str
    subject: str
    integration: str
    state: str
    since: float
    reason: str
    check_name: str
    cause: str


#: Executes the writer's statements of record in the caller's transaction, hash-chained
#: (monitor/history/writer.py `Ledger._write_chained`).
Write = Callable[[Any, list], None]


@dataclass
class Restored:
    """What the ledger knew about this instance when it was opened."""

    last_heartbeat: float | None = None
    down_gap: tuple[float, float] | None = None  # the monitor_down row written at this start
    states: list[RestoredState] = field(default_factory=list)
    inventory: dict[str, str] = field(default_factory=dict)  # present camera -> provider
    answered: set[str] = field(default_factory=set)


def begin(cur: Any, q: Callable[[str], str], instance: str, started: float,
          boot: tuple[str, float | None], write: Write,
          inventory: dict[str, str] | None = None) -> Restored:
    """Record a run's start at `started`; `inventory` (camera -> provider at the start) for
    a run that did not read the ledger then (see the module docstring).  Rows of record go
    through `write` (the writer's statements, hash-chained)."""
    restored = Restored()
    boot_id, boot_clock = boot
    cur.execute(q("SELECT heartbeat, boot_id, boot_clock FROM instances WHERE instance = ?"),
                (instance,))
    row = cur.fetchone()
    if row is None:
        cur.execute(q("INSERT INTO instances (instance, started, heartbeat, boot_id, boot_clock) "
                      "VALUES (?, ?, ?, ?, ?)"), (instance, started, started, boot_id, boot_clock))
    else:
        last = float(row[0])
        restored.last_heartbeat = last
        gap_start = last
        if boot_id and row[1] == boot_id and row[2] is not None and boot_clock is not None:
            really = max(0.0, boot_clock - float(row[2]))
            step = (started - last) - really
            if abs(step) > STEP_THRESHOLD:
                # the wall clock moved while the monitor was stopped or in its last run's
                # frame: the gap is what the boot clock says, the step is on record
                cur.execute(q("INSERT INTO clock_steps (instance, ts, wall_ts, step) "
                              "VALUES (?, ?, ?, ?)"), (instance, started, started, step))
                gap_start = started - really
        if gap_start < started:
            restored.down_gap = (gap_start, started)
            write(cur, [("monitor_down", MonitorDown(instance, gap_start, started))])
        cur.execute(q("UPDATE instances SET started = ?, heartbeat = ?, boot_id = ?, boot_clock = ? "
                      "WHERE instance = ?"), (started, started, boot_id, boot_clock, instance))
    # the latest inventory action per camera of this instance (ids grow with time)
    cur.execute(q("SELECT camera, provider, action FROM inventory_changes WHERE instance = ? "
                  "ORDER BY id"), (instance,))
    for camera, provider, action in cur.fetchall():
        if action == "added":
            restored.inventory[camera] = provider
        elif action == "removed":  # not endpoint_forced (monitor.config.reload_guard)
            restored.inventory.pop(camera, None)
    if inventory is not None:
        _reconcile(cur, q, instance, started, restored, inventory, write)
        return restored
    cur.execute(q("SELECT kind, subject, integration, state, since, reason, check_name, cause "
                  "FROM subject_state WHERE instance = ?"), (instance,))
    restored.states = [RestoredState(*r) for r in cur.fetchall()]
    cur.execute("SELECT camera FROM first_answer")
    restored.answered = {r[0] for r in cur.fetchall()}
    return restored


def _reconcile(cur: Any, q: Callable[[str], str], instance: str, started: float,
               restored: Restored, inventory: dict[str, str], write: Write) -> None:
    end = restored.last_heartbeat if restored.last_heartbeat is not None else started
    write(cur, [("close_all", CloseAll(end, instance))])
    cur.execute(q("DELETE FROM subject_state WHERE instance = ?"), (instance,))
    rows = []
    for camera, provider in restored.inventory.items():
        if inventory.get(camera) != provider:
            rows.append(InventoryChange(started, camera, provider, "removed", instance))
    for camera, provider in inventory.items():
        if restored.inventory.get(camera) != provider:
            rows.append(InventoryChange(started, camera, provider, "added", instance))
    if rows:
        write(cur, [("inventory", row) for row in rows])


def replay(cur: Any, q: Callable[[str], str], seg: Segment, write: Write) -> bool:
    """Apply one spooled run; False when this spool was replayed already."""
    key = f"spool:{seg.id}"
    cur.execute(q("SELECT value FROM ledger_meta WHERE key = ?"), (key,))
    if cur.fetchone() is not None:
        return False
    if not seg.opened:
        begin(cur, q, seg.instance, seg.started, (seg.boot_id, seg.started_boot_clock), write,
              seg.inventory)
    write(cur, seg.rows)
    # the run's true last moment: it was running (and probing) until then
    cur.execute(q("UPDATE instances SET heartbeat = ?, boot_id = ?, boot_clock = ? "
                  "WHERE instance = ? AND heartbeat < ?"),
                (seg.heartbeat, seg.boot_id, seg.boot_clock, seg.instance, seg.heartbeat))
    cur.execute(q("INSERT INTO ledger_meta (key, value) VALUES (?, ?)"), (key, str(len(seg.rows))))
    return True
