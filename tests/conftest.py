"""Shared test helpers.

`require(tool)` skips a test whose third-party witness is missing on a developer's machine,
but fails it in CI (CI=true), where scripts/install-system-deps.sh must have installed it:
a green CI must never hide a missing install step.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

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
