"""What the benchmarks share: a free port, a process's CPU and memory from /proc, and the
CPU cost of a call.  Benchmarks import it as `tests.bench.common` (each puts the repository
root on sys.path first)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Callable

CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_ms(fn: Callable[[int], object], n: int) -> float:
    """Process CPU milliseconds per call of fn(i), over n calls."""
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1000
