"""A monitor process reduced to State and the ledger, for the kill -9 tests.

    python -m tests.ledger_child TARGET FAULT_FILE

One camera, probed every 0.2 s: down (timeout) while FAULT_FILE exists, up otherwise.  Its
state-change log goes to stderr.  SIGTERM stops it cleanly; the tests also kill -9 it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from monitor import history
from monitor.model import Reason, Result
from monitor.state import State
from tests.factories import make_inventory


async def main(target: str, fault: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    state = State(make_inventory(1, feeds=False, checks=("rtsp",)))
    recorder = await history.start(state, history.HistoryTarget(target, None))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("started", flush=True)
    while not stop.is_set():
        failing = os.path.exists(fault)
        result = Result(Reason.TIMEOUT, message="no answer") if failing else Result(Reason.OK)
        state.record_result("JKT-0000", "rtsp", result)
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass
    await asyncio.get_running_loop().run_in_executor(None, recorder.ledger.close)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
