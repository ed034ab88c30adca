"""`cctv-monitor ledger verify`: check the ledger's hash chains against its tables.

Exit 0 when every chain is whole and every evidence row follows from its events, 1 naming
the first row (by time) that was edited, inserted or deleted, 2 for usage errors.
"""

from __future__ import annotations

import sys
from typing import Any

from .chain import Verdict, verify

#: Findings printed at most (the first one is the answer; the rest show the extent).
MAX_SHOWN = 20


def verify_target(target: str) -> Verdict:
    from .reader import Reader

    reader = Reader(target)
    try:
        if not reader.has_schema():
            raise RuntimeError("the ledger has no records yet")
        return verify(lambda statement: reader.select(statement))
    finally:
        reader.close()


def main(args: Any) -> int:
    target = args.ledger
    if not target:
        if not args.config:
            print("ledger verify: give -c/--config or --ledger", file=sys.stderr)
            return 2
        from ..config import load_for_command
        from . import target_of

        inventory = load_for_command(args.config)
        if inventory is None:
            return 2
        found = target_of(inventory, args.config)
        if found is None:
            print("ledger verify: the configuration has no history: (path or dsn); give --ledger",
                  file=sys.stderr)
            return 2
        target = found.target
    try:
        verdict = verify_target(target)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback or a DSN password
        from ..logsetup import redact

        print(f"ledger verify: {redact(str(exc))}", file=sys.stderr)
        return 2 if isinstance(exc, RuntimeError) else 1
    for inst, (seq, digest) in sorted(verdict.heads.items()):
        print(f"chain {inst}: {seq} events, head {digest}")
    if verdict.ok:
        print(f"ledger verify: intact ({verdict.rows_checked} rows checked)")
        return 0
    print(f"ledger verify: FIRST PROBLEM: {verdict.findings[0].text}")
    for f in verdict.findings[1:MAX_SHOWN]:
        print(f"ledger verify: also: {f.text}")
    if len(verdict.findings) > MAX_SHOWN:
        print(f"ledger verify: ... {len(verdict.findings) - MAX_SHOWN} more")
    return 1
