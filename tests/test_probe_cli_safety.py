"""`cctv-monitor probe`: a malformed URL is a usage error (exit 2, no traceback); a password
given in the URL is scrubbed from the process's visible command line while the probe runs,
with a note recommending --password-file / $CCTV_PASSWORD."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("url", ["rtsp://[::1", "rtsp://127.0.0.1:99999/x", "rtsp://:554/x",
                                 "http://[fe80::1/x", "rtsp://u:secretpw@[::1"])
def test_malformed_url_is_a_usage_error(url):
    proc = subprocess.run([sys.executable, "-m", "monitor", "probe", url], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "usage" in proc.stderr
    assert "secretpw" not in proc.stderr + proc.stdout


def test_password_in_url_is_scrubbed_from_the_command_line():
    with socket.socket() as srv:  # accepts (backlog) and never answers: the probe waits
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "probe", f"rtsp://viewer:hunter2secret@127.0.0.1:{port}/s",
             "--timeout", "4"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                break
            seen.append(cmdline)
            if b"probe" in cmdline and b"hunter2secret" not in cmdline and b"127.0.0.1" in cmdline:
                break
            time.sleep(0.01)
        out, err = proc.communicate(timeout=30)
    assert seen and b"hunter2secret" not in seen[-1], seen[-1]
    assert b"rtsp://viewer:" in seen[-1] or b"rtsp://127.0.0.1" in seen[-1] or b"***" in seen[-1]
    assert "--password-file" in err and "hunter2secret" not in out + err
