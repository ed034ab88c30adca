"""`cctv-monitor disputes list|show|decide`: the disputes of the ledger from the command line.

The same rules as the web pages (monitor/history/disputes.py): a decision is a new row that
supersedes the earlier one, never an edit; `--by` names who decided (recorded with the row).
Exit 0 done, 1 a refused decision (no such dispute, a note too long), 2 usage errors.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys
import time
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("-c", "--config", required=True, metavar="FILE")
        q.add_argument("--ledger", metavar="PATH|DSN",
                       help="this ledger instead of the configuration's history:")

    q = sub.add_parser("list", help="every dispute, oldest first")
    common(q)
    q.add_argument("--provider", metavar="NAME", help="only this provider's")
    q.add_argument("--status", choices=("pending", "accepted", "rejected"))
    q = sub.add_parser("show", help="one dispute with its text and every decision")
    common(q)
    q.add_argument("id", type=int)
    q = sub.add_parser("decide", help="accept or reject a dispute with a note")
    common(q)
    q.add_argument("id", type=int)
    how = q.add_mutually_exclusive_group(required=True)
    how.add_argument("--accept", action="store_true")
    how.add_argument("--reject", action="store_true")
    q.add_argument("--note", required=True, help="the city's note (recorded, shown to the provider)")
    q.add_argument("--by", default=None, metavar="NAME",
                   help="who decides (default: the login name)")


def _target(args: Any) -> tuple[str | None, Any]:
    from ..config import load_for_command
    from ..history import is_postgres, target_of

    inventory = load_for_command(args.config)
    if inventory is None:
        return None, None
    ledger = args.ledger
    if not ledger:
        target = target_of(inventory, args.config)
        if target is None:
            print("disputes: the configuration has no history: (path or dsn); give --ledger",
                  file=sys.stderr)
            return None, None
        ledger = target.target
    if not is_postgres(ledger) and not os.path.isfile(ledger):  # reading would create one
        where = "--ledger" if args.ledger else "history: of the configuration"
        print(f"disputes: {where}: {ledger} does not exist (nothing was created)", file=sys.stderr)
        return None, None
    return ledger, inventory


def main(args: Any) -> int:
    from ..history import disputes as store
    from ..history.writer import connect
    from ..logsetup import redact
    from ..report import timezone_of

    ledger, inventory = _target(args)
    if ledger is None:
        return 2
    tz = timezone_of(inventory)

    def when(ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")

    try:
        conn, dialect = connect(ledger)
    except Exception as exc:  # noqa: BLE001 - one line, never a DSN password
        print(f"disputes: cannot open the ledger: {redact(str(exc))}", file=sys.stderr)
        return 1
    try:
        if args.action == "decide":
            by = args.by or getpass.getuser()
            try:
                row = store.decide(conn, dialect, args.id, bool(args.accept), args.note, by, time.time())
            except store.DisputeError as exc:
                print(f"disputes: {exc}; nothing stored", file=sys.stderr)
                return 1
            print(f"dispute {args.id} {'accepted' if args.accept else 'rejected'} by {by} (row {row})")
            return 0
        found = store.load(conn, dialect, provider=getattr(args, "provider", None),
                           dispute_id=getattr(args, "id", None))
    except Exception as exc:  # noqa: BLE001 - e.g. a ledger from before disputes existed
        print(f"disputes: {redact(str(exc))}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if args.action == "show":
        if not found:
            print(f"disputes: no dispute {args.id}", file=sys.stderr)
            return 1
        d = found[0]
        print(f"dispute {d.id}: {d.status}\noutage {d.outage}, camera {d.camera}, provider {d.provider}\n"
              f"span {when(d.start)} - {when(d.end)} ({d.seconds:.0f} s)\nreason {d.reason}\n"
              f"filed {when(d.filed_at)} by {d.filed_by}\ntext: {d.text}")
        for ts, action, actor, note in d.decisions:
            print(f"{when(ts)} {action} by {actor}: {note}")
        return 0
    if args.status:
        found = [d for d in found if d.status == args.status]
    print("id\tstatus\tprovider\tcamera\toutage\tstart\tend\tseconds\treason\tfiled_by\tdecided_by")
    for d in found:
        print(f"{d.id}\t{d.status}\t{d.provider}\t{d.camera}\t{d.outage}\t{when(d.start)}\t"
              f"{when(d.end)}\t{d.seconds:.0f}\t{d.reason}\t{d.filed_by}\t{d.decided_by}")
    return 0
