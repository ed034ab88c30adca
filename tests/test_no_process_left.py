"""The suite leaves no process behind: the session's reaper (tests/conftest.py) kills the
process groups of every process the tests started that is still alive at the end, also when
the test that started it never reached its `finally` (pytest-timeout), also when its parent
is gone, and nothing else.

The reaper runs here on processes of this test only: a token of its own and a stand-in for
the pytest process as the root, so the session's own servers (PostgreSQL) are not touched.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

from tests.conftest import SESSION_ENV, SESSION_TOKEN, reap, session_processes


def _gone(pid: int) -> bool:
    """Exited: no longer in /proc, or a zombie waiting for its reaper."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except FileNotFoundError:
        return True


def _wait_gone(pids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds  # bounded: SIGKILL cannot be ignored
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if not _gone(p)]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def test_every_process_a_test_starts_carries_the_session_token():
    out = subprocess.run(["sh", "-c", f'echo "${SESSION_ENV}"'], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert out.strip() == SESSION_TOKEN


def test_the_reaper_kills_forgotten_groups_orphans_and_descendants_and_nothing_else():
    token = uuid.uuid4().hex
    tagged = {**os.environ, SESSION_ENV: token}
    untagged = {k: v for k, v in os.environ.items() if k != SESSION_ENV}
    started: list[subprocess.Popen] = []

    def start(argv: list[str], env: dict) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started.append(proc)
        return proc

    try:
        # the stand-in for pytest: its child has no token, only descent finds it
        root = start(["sh", "-c", "setsid sleep 303 & echo $!; wait"], untagged)
        descendant = int(root.stdout.readline())
        # a test's process group forgotten after a timeout: two processes
        group = start(["sh", "-c", "sleep 301 & echo $!; exec sleep 300"], tagged)
        group_pids = [group.pid, int(group.stdout.readline())]
        # an orphan: its parent exited, init inherited it; only the token finds it
        orphan = int(subprocess.run(
            ["sh", "-c", "setsid sleep 302 >/dev/null 2>&1 & echo $!"], env=tagged,
            capture_output=True, text=True, timeout=30, check=True).stdout)
        # not started from the root and without the token: not the reaper's
        bystander = start(["sleep", "304"], untagged)

        victims = [descendant, *group_pids, orphan]
        assert not any(_gone(p) for p in victims)
        assert _children(root.pid) == [descendant]
        found = session_processes(token, root.pid)
        assert set(victims) <= set(found), found
        assert bystander.pid not in found and root.pid not in found
        assert found[group_pids[1]] == group.pid  # the group, not just the process

        killed = reap(token, root.pid)
        assert len(killed) == len(victims), killed
        assert not _wait_gone(victims), "the reaper left a process behind"
        assert not _gone(bystander.pid), "the reaper killed a process that was not its"
        assert not session_processes(token, root.pid)
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
