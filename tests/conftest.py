"""Shared test helpers.

`require(tool)` skips a test whose third-party witness is missing on a developer's machine,
but fails it in CI (CI=true), where scripts/install-system-deps.sh must have installed it:
a green CI must never hide a missing install step.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
import uuid

import pytest

#: tests/pg.py's PostgreSQL server, one per session for every module that asks for it
pytest_plugins = ("tests.pg",)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(path_or_cmd: str) -> str:
    found = shutil.which(path_or_cmd) or (path_or_cmd if os.path.exists(path_or_cmd) else None)
    if found:
        return found
    message = f"{path_or_cmd} not installed (scripts/install-system-deps.sh installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def require_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI must run as root for network-namespace tests")
        pytest.skip("needs root (network namespaces)")


# ---------------------------------------------------------------- no process left behind
# A test that times out (pytest-timeout) or fails between starting a process and its
# `finally` leaves that process running: a simulator, a daemon, a server.  Every process a
# test starts inherits SESSION_ENV with this session's token, and descends from this
# process; at the end of the session the reaper kills the process groups of whatever of
# them is still alive (tests/test_no_process_left.py proves it).

SESSION_ENV = "CCTV_TEST_SESSION"
SESSION_TOKEN = uuid.uuid4().hex
os.environ[SESSION_ENV] = SESSION_TOKEN  # at import: before any fixture starts a process


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, process group, state letter) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[1]), int(fields[2]), fields[0].decode()


def _has_token(pid: int, token: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"{SESSION_ENV}={token}".encode() in f.read().split(b"\0")
    except OSError:  # gone, or not ours to read
        return False


#: Helpers Python's multiprocessing starts for `root` itself, which end when it does (they
#: read until its end of a pipe closes): not left behind by a test.
_ROOTS_OWN = (b"from multiprocessing.resource_tracker import main",
              b"from multiprocessing.forkserver import main")


def _roots_own(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ")
    except OSError:
        return False
    return any(helper in cmd for helper in _ROOTS_OWN)


def session_processes(token: str, root: int) -> dict[int, int]:
    """Live processes (pid -> process group) started from `root` (its descendants) or
    carrying `token` in their environment (also those whose parent died and left them to
    init), `root` itself and its own multiprocessing helpers excepted."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) is not None:
            stats[int(name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(children.get(root, ()))
    while todo and len(found) < len(stats):  # bounded by the process count
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    found.update(pid for pid in stats if pid != root and _has_token(pid, token))
    return {pid: stats[pid][1] for pid in found if stats[pid][2] not in "ZX"
            and not (stats[pid][0] == root and _roots_own(pid))}


def reap(token: str, root: int) -> list[str]:
    """SIGKILL to the process group of every process `session_processes` finds (to the
    process alone when it shares this process's group); what was killed, for the log."""
    own_group, me = os.getpgrp(), os.getpid()
    found = []
    for pid, group in sorted(session_processes(token, root).items()):
        try:  # read before any kill: a killed process has no command line
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
        except OSError:
            cmd = "?"
        found.append((pid, group, cmd, _stat(pid)))
    killed, groups, ours = [], set(), []
    for pid, group, cmd, st in found:
        try:
            if group in (own_group, 0):
                os.kill(pid, signal.SIGKILL)
            elif group not in groups:
                os.killpg(group, signal.SIGKILL)
                groups.add(group)
        except ProcessLookupError:
            continue
        killed.append(f"{pid} (group {group}): {cmd}")
        if st is not None and st[0] == me:
            ours.append(pid)
    # our own children stay zombies until collected; bounded: SIGKILL is not ignored
    deadline = time.monotonic() + 10
    while ours and time.monotonic() < deadline:
        for pid in list(ours):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            except ChildProcessError:
                pass
            ours.remove(pid)
        if ours:
            time.sleep(0.05)
    return killed


_REAPED: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """At the end of the session, the reaper (see above); what it killed goes in the summary.
    Set up first, so torn down last: after the session's own servers stopped."""
    yield
    _REAPED.extend(reap(SESSION_TOKEN, os.getpid()))


def pytest_terminal_summary(terminalreporter):
    if _REAPED:
        terminalreporter.section("processes the tests left behind (killed)")
        for line in _REAPED:
            terminalreporter.write_line(line)


# ---------------------------------------------------------------- GStreamer witness
# A third-party RTSP server (GStreamer's GstRtspServer, tests/witness/gst_rtsp_server.py, run
# under the system python3 where `gi` lives), shared by the tests that hold the rtsp, stream,
# clock and picture checks to a peer we did not write.

GST_PYTHON = "/usr/bin/python3"
GST_SCRIPT = os.path.join(os.path.dirname(__file__), "witness", "gst_rtsp_server.py")
GST_USER, GST_PASSWORD = "viewer", "witness-pass"


@pytest.fixture(scope="module")
def gst_server():
    require(GST_PYTHON)
    check = subprocess.run(
        [GST_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                       "from gi.repository import GstRtspServer"],
        capture_output=True, timeout=30,
    )
    if check.returncode != 0:
        message = "python3-gi with GstRtspServer not installed (scripts/install-system-deps.sh)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.Popen(  # port 0: the server binds a free port and prints it
        [GST_PYTHON, GST_SCRIPT, "0", GST_USER, GST_PASSWORD],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline:  # bounded: READY comes in well under a second
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = proc.stdout.readline()
            if line.startswith("READY") or not line:
                break
        if not line.startswith("READY"):
            pytest.fail(f"GStreamer RTSP server did not start (got {line!r})")
        yield f"127.0.0.1:{line.split()[1]}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
