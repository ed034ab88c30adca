"""The ledger's local files: the spool of rows a stop could not commit, and the marker that
says a ledger exists.

Spool: when the monitor stops (SIGTERM) while the database is away, hung or its file gone,
the rows it holds are written here (fsynced, then renamed into place) together with what the
next start needs to keep the record honest: when that run started, whether it ever reached
the database (if not, its start still has to be reconciled: the monitor_down gap before it,
the previous run's open episodes, the inventory it started with), and its last heartbeat,
the time it stopped.  The next start replays every segment, in order, in the transaction
that opens the ledger, before anything else; a spool id recorded in `ledger_meta` in that
same transaction makes a replay that crashed before removing the file harmless.

Marker: written the first time a ledger is created, next to the spool.  A start that finds
the database empty (a deleted SQLite file, a dropped PostgreSQL database) where the marker
says a ledger existed refuses to begin a new, empty one unless told to (`run --ledger-new`).

Both are named by a hash of the target and instance: a DSN (it may hold a password) is never
part of a file name.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Segment:
    """One run's rows that never reached the database."""

    id: str
    instance: str
    started: float  # the run's start, in its ledger clock
    opened: bool  # the run reached the database at its start (restored, monitor_down written)
    heartbeat: float  # the run's last moment: when it stopped
    boot_id: str = ""
    boot_clock: float | None = None  # CLOCK_BOOTTIME at `heartbeat`
    started_boot_clock: float | None = None  # CLOCK_BOOTTIME at `started`
    inventory: dict[str, str] = field(default_factory=dict)  # camera -> provider at the start
    rows: list[tuple[str, tuple]] = field(default_factory=list)


def _name(state_dir: str, target: str, instance: str, suffix: str) -> str:
    digest = hashlib.sha256(f"{target}\0{instance}".encode()).hexdigest()[:16]
    return os.path.join(state_dir, f".cctv-ledger-{digest}.{suffix}")


def spool_path(state_dir: str, target: str, instance: str) -> str:
    return _name(state_dir, target, instance, "spool")


def marker_path(state_dir: str, target: str) -> str:
    return _name(state_dir, target, "", "marker")


def read_spool(path: str) -> list[Segment]:
    """The segments of a spool file, oldest first; [] when there is none.  A torn last line
    (a crash while writing is impossible, the file is renamed complete, but a disk may lie)
    ends the reading there."""
    segments: list[Segment] = []
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return segments
    with fh:
        for line in fh:
            try:
                item = json.loads(line)
            except ValueError:
                break
            if "segment" in item:
                segments.append(Segment(**item["segment"], rows=[]))
            elif segments and "row" in item:
                statement, params = item["row"]
                segments[-1].rows.append((statement, tuple(params)))
    return segments


def write_spool(path: str, segments: list[Segment]) -> int:
    """Write (replace) the spool durably; the number of rows written.  Raises OSError."""
    tmp = f"{path}.tmp"
    rows = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for seg in segments:
            head = asdict(seg)
            del head["rows"]
            fh.write(json.dumps({"segment": head}) + "\n")
            for statement, params in seg.rows:
                fh.write(json.dumps({"row": [statement, list(params)]}) + "\n")
                rows += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(os.path.dirname(path))
    return rows


def remove(path: str) -> None:
    try:
        os.unlink(path)
        _sync_dir(os.path.dirname(path))
    except FileNotFoundError:
        pass


def _sync_dir(directory: str) -> None:
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_marker(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except ValueError:
        return {"created": None}  # damaged, but it says a ledger existed


def write_marker(path: str, instance: str) -> None:
    """Best effort: a read-only directory only loses the protection, and says so once."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"created": time.time(), "instance": instance}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(os.path.dirname(path))
