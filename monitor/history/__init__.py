"""The outage ledger: the monitor's durable record of its past.

- `schema`: tables and migrations (SQLite and PostgreSQL);
- `writer`: the writer thread (batched commits, heartbeat, retention);
- `recorder`: State changes -> rows, and the ledger -> State at a start;
- `reader`: what reports and the web pages read back.

`start(state, inventory, shard)` is what the daemon calls: it returns a running `Recorder`
(or None when the configuration has no `history:` target).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .recorder import Recorder
from .writer import Ledger, Restored

if TYPE_CHECKING:
    from ..model import Inventory

__all__ = ["HistoryTarget", "Ledger", "Recorder", "Restored", "instance_name", "start", "target_of"]


@dataclass(frozen=True, slots=True)
class HistoryTarget:
    target: str  # a PostgreSQL DSN or a SQLite path
    retention: float | None  # seconds; None keeps everything


#: The ledger's file when `history:` names neither a path nor a dsn: next to the main
#: configuration file, so that every restart of one deployment finds its own past.
DEFAULT_FILE = "cctv-history.sqlite"


def target_of(inventory: Inventory, config_path: str | None = None,
              override: str | None = None) -> HistoryTarget | None:
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
    return HistoryTarget(str(target), history.retention or None)


def instance_name(shard: tuple[int, int] | None = None) -> str:
    """Who writes: $CCTV_MONITOR_INSTANCE, else the host name, plus the shard.  Restarts of
    one instance must keep its name (its heartbeat and open outages are found by it)."""
    base = os.environ.get("CCTV_MONITOR_INSTANCE") or socket.gethostname() or "monitor"
    return f"{base}#shard-{shard[0]}-of-{shard[1]}" if shard else base


async def start(state: Any, target: HistoryTarget, shard: tuple[int, int] | None = None,
                clock: Any = None) -> Recorder:
    """Open the ledger (in a worker thread: a migration or a large restore takes a moment),
    then restore State from it and attach the recorder, on the event loop, before the first
    round."""
    import asyncio

    kwargs = {"clock": clock} if clock is not None else {}
    ledger = Ledger(target.target, instance_name(shard), target.retention, **kwargs)
    restored = await asyncio.get_running_loop().run_in_executor(None, ledger.open)
    recorder = Recorder(state, ledger)
    recorder.restore(restored)
    return recorder
