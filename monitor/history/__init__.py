"""The outage ledger: the monitor's durable record of its past.

- `schema`: tables and migrations (SQLite and PostgreSQL);
- `writer`: the writer thread (batched commits, heartbeat, retention);
- `recorder`: State changes -> rows, and the ledger -> State at a start;
- `reader`: what reports and the web pages read back.

`start(state, target, shard)` is what the daemon calls: it returns a running `Recorder`,
restored from the ledger, or recording without a restore when the database cannot be
reached at the start (the writer keeps trying); it raises `LedgerMissing` when the
database is empty where the marker says a ledger was.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .recorder import Recorder
from .clock import SteadyClock
from .writer import Ledger, LedgerMissing, Restored, is_postgres

if TYPE_CHECKING:
    from ..model import Inventory

__all__ = ["HistoryTarget", "Ledger", "LedgerMissing", "Recorder", "Restored", "SteadyClock",
           "instance_name", "start", "target_of"]


@dataclass(frozen=True, slots=True)
class HistoryTarget:
    target: str  # a PostgreSQL DSN or a SQLite path
    retention: float | None  # seconds; None keeps everything
    # where the spool and the marker live (monitor/history/spool.py): the SQLite file's
    # directory, else the configuration's; `run --ledger-spool` wins
    state_dir: str | None = field(default=None, compare=False)


#: The ledger's file when `history:` names neither a path nor a dsn: next to the main
#: configuration file, so that every restart of one deployment finds its own past.
DEFAULT_FILE = "cctv-history.sqlite"


def target_of(inventory: Inventory, config_path: str | None = None,
              override: str | None = None, state_dir: str | None = None) -> HistoryTarget | None:
    """Where the ledger is: `override` (`run --ledger`), else `history.dsn`, else
    `history.path`, else DEFAULT_FILE in the directory of `config_path`; None when there is
    none of these.  The override exists for deployments whose configuration directory is
    read-only (a container's mounted /etc): the ledger then lives on a volume of its own
    without editing the shared configuration.  The retention is the configuration's, in
    seconds already (monitor.config parses durations)."""
    history = inventory.history
    target = override or history.dsn or history.path
    if not target:
        if config_path is None:
            return None
        target = os.path.join(os.path.dirname(os.path.abspath(config_path)), DEFAULT_FILE)
    target = str(target)
    if state_dir is None:
        if not is_postgres(target):
            state_dir = os.path.dirname(os.path.abspath(target))
        elif config_path is not None:
            state_dir = os.path.dirname(os.path.abspath(config_path))
    return HistoryTarget(target, history.retention or None, state_dir)


def instance_name(shard: tuple[int, int] | None = None) -> str:
    """Who writes: $CCTV_MONITOR_INSTANCE, else the host name, plus the shard.  Restarts of
    one instance must keep its name (its heartbeat and open outages are found by it)."""
    base = os.environ.get("CCTV_MONITOR_INSTANCE") or socket.gethostname() or "monitor"
    return f"{base}#shard-{shard[0]}-of-{shard[1]}" if shard else base


async def start(state: Any, target: HistoryTarget, shard: tuple[int, int] | None = None,
                clock: Any = None, ledger_new: bool = False) -> Recorder:
    """Open the ledger (in a worker thread: a migration or a large restore takes a moment),
    then restore State from it and attach the recorder, on the event loop, before the first
    round.  A ledger out of reach is not off: the recorder records, the writer holds."""
    import asyncio

    kwargs = {"clock": clock} if clock is not None else {}
    ledger = Ledger(target.target, instance_name(shard), target.retention,
                    state_dir=target.state_dir, ledger_new=ledger_new, **kwargs)
    # before the writer thread exists: a late open reconciles the start with it
    ledger.initial_inventory = {c.id: c.provider for c in state.inventory.cameras}
    restored = await asyncio.get_running_loop().run_in_executor(None, ledger.open)
    recorder = Recorder(state, ledger)
    if restored is None:
        recorder.listen()
    else:
        recorder.restore(restored)
    return recorder
