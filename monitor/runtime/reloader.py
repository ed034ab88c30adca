"""Reading a configuration for a reload without holding the event loop.

A worker thread is not enough: PyYAML's C parser composes a whole file in one call that
never lets go of the GIL, so at 20,000 cameras the loop stood still for up to half a second
while a thread parsed (measured, tests/bench/bench_reload.py).  So the files are read,
validated and sharded in a child process of the same interpreter
(``python -m monitor.runtime.reloader``), which sends the Inventory back on its stdout pickled in
slices of SLICE cameras; a worker thread here
unpickles slice after slice, each a few milliseconds of held GIL, and the loop runs between
them.  Errors come back as the list of lines ``cctv-monitor check`` would print.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
from typing import Any, Mapping

from ..model import Inventory

SLICE = 500


def load_inventory(path: str, shard: tuple[int, int] | None) -> Inventory:
    """The configuration at `path`, only this shard's cameras when `shard` is given."""
    from ..config import load

    inventory = load(path)
    if shard is not None:
        from .shard import select

        inventory = select(inventory, shard[0], shard[1])
    return inventory


def issues_of(exc: Exception) -> list[str]:
    """The lines `cctv-monitor check` prints for a configuration error."""
    issues = getattr(exc, "issues", None)
    if issues:
        return [str(i) for i in issues]
    return [str(exc) or exc.__class__.__name__]


class LoadFailed(Exception):
    def __init__(self, issues: list[str]) -> None:
        super().__init__("\n".join(issues))
        self.issues = issues


def _child(path: str, shard: tuple[int, int] | None) -> tuple[str, Any]:
    """In the child: load and shard, then pickle the cameras in slices."""
    try:
        inventory = load_inventory(path, shard)
    except Exception as exc:  # noqa: BLE001 - every config problem goes back as text
        return "error", issues_of(exc)
    cameras = inventory.cameras
    head = pickle.dumps(dataclasses.replace(inventory, cameras=()), pickle.HIGHEST_PROTOCOL)
    parts = [pickle.dumps(cameras[i:i + SLICE], pickle.HIGHEST_PROTOCOL)
             for i in range(0, len(cameras), SLICE)]
    return "ok", (head, parts)


def _assemble(head: bytes, parts: list[bytes], running: Mapping[str, Any]) -> Any:
    """In a worker thread of the daemon: one slice per unpickle call.  A camera equal to
    the running one is replaced by the running object, so that an unchanged camera is not
    held twice and State.plan sees it unchanged at a glance; the duplicates are freed a
    slice at a time (freeing 100,000 at once is one long hold of the GIL)."""
    inventory = pickle.loads(head)
    cameras: list[Any] = []
    for part in parts:
        for camera in pickle.loads(part):
            old = running.get(camera.id)
            cameras.append(old if old is not None and old == camera else camera)
    return dataclasses.replace(inventory, cameras=tuple(cameras))


def load_isolated(path: str, shard: tuple[int, int] | None,
                  running: Mapping[str, Any] | None = None, timeout: float = 600.0) -> Any:
    """Load the configuration in a child process; blocking (call it from a worker thread).
    Raises LoadFailed with the configuration's errors."""
    argv = [sys.executable, "-m", "monitor.runtime.reloader", os.fspath(path)]
    if shard is not None:
        argv.append(f"{shard[0]}/{shard[1]}")
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LoadFailed([f"reading the configuration took over {timeout:.0f}s"]) from None
    if proc.returncode != 0 or not proc.stdout:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise LoadFailed([f"the configuration reader failed (exit {proc.returncode}): {tail[0]}"])
    status, payload = pickle.loads(proc.stdout)
    if status == "error":
        raise LoadFailed(payload)
    head, parts = payload
    return _assemble(head, parts, running or {})


def _main(argv: list[str]) -> int:
    shard = None
    if len(argv) > 1:
        k, _, n = argv[1].partition("/")
        shard = (int(k), int(n))
    out = pickle.dumps(_child(argv[0], shard), pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
