"""The virtual-time loop the scheduler and resource tests run on (tests/vclock.py) keeps
asyncio's meaning of time: timers in order at their exact times, deadlines, a stall as a
step of time, and real waits where only I/O or a thread can wake it."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from tests.vclock import EPOCH, VirtualTimeLoop, run, virtual_time


@virtual_time
async def test_sleeps_and_timers_happen_at_their_exact_times_in_order():
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    fired: list[tuple[str, float]] = []
    loop.call_at(2.5, lambda: fired.append(("b", loop.time())))
    loop.call_later(0.25, lambda: fired.append(("a", loop.time())))
    await asyncio.sleep(3000)
    assert loop.time() == 3000.0
    assert fired == [("a", 0.25), ("b", 2.5)]
    assert loop.clock.time() == 3000.0 and loop.clock.wall() == EPOCH + 3000.0


@virtual_time
async def test_a_deadline_cuts_at_its_time():
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await asyncio.sleep(60)
    assert loop.time() == 0.5


@virtual_time
async def test_a_stall_delays_the_timers_due_meanwhile():
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    loop.call_later(0.1, lambda: fired.append(loop.time()))
    loop.call_soon(loop.advance, 0.6)  # one callback that held the loop for 0.6 s
    await asyncio.sleep(1)
    assert fired == [0.6]
    with pytest.raises(ValueError):
        loop.advance(-1)


@virtual_time
async def test_with_no_timer_it_really_waits_for_io_and_threads():
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        threading.Timer(0.05, b.send, (b"x",)).start()
        assert await loop.sock_recv(a, 1) == b"x"
        assert await loop.run_in_executor(None, sum, [1, 2]) == 3
        assert loop.time() == 0.0  # nothing jumped: there was no timer to jump to
    finally:
        a.close()
        b.close()


def test_a_run_that_never_ends_is_cut_at_its_limit():
    async def forever():
        while True:
            await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        run(forever, limit=100)
