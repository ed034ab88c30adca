"""The daemon: run_until serves and stops, SIGHUP reloads, config errors exit 2, the
`cctv-monitor run` process stops cleanly on SIGTERM, and logs never carry a password."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from monitor import logsetup
from tests.factories import CANARY, free_port, run_daemon_briefly, wait_http, write_config

ROOT = Path(__file__).resolve().parent.parent


async def test_run_until_serves_reloads_on_sighup_and_stops(tmp_path):
    from monitor.runtime.daemon import run_until

    cfg = tmp_path / "monitor.yml"
    write_config(cfg, 2)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run_until(str(cfg), f"127.0.0.1:{port}", stop, "warning"))
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{base}/healthz")
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/api/cameras") as r:
                assert len(await r.json()) == 2
            write_config(cfg, 4)
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(100):
                async with s.get(f"{base}/api/cameras") as r:
                    if len(await r.json()) == 4:
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("SIGHUP did not reload")
            async with s.get(f"{base}/metrics") as r:
                text = await r.text()
            assert "cctv_monitor_config_last_reload_successful 1.0" in text
            assert CANARY not in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    # the port is free again: everything was closed
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


async def test_config_errors_exit_2_and_are_printed(tmp_path, capsys):
    from monitor.runtime.daemon import run_until

    cfg = tmp_path / "bad.yml"
    write_config(cfg, 1, extra="colour: red\n")
    with pytest.raises(SystemExit) as exc:
        await run_until(str(cfg), f"127.0.0.1:{free_port()}", asyncio.Event())
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "bad.yml" in err and "colour" in err
    assert CANARY not in err


def test_run_command_stops_cleanly_on_sigterm_and_logs_no_secret(tmp_path):
    code, out, log = run_daemon_briefly(tmp_path, 3, "--log-level", "debug")
    assert code == 0, log
    assert "camera JKT-0000 down: check rtsp failed: refused" in log
    assert log.count("camera JKT-0000 down") == 1  # state changes only, not every probe
    assert CANARY not in log and CANARY not in out
    assert " INFO cctv.daemon: stopping" in log


def test_log_format_and_redaction():
    buf = io.StringIO()
    handler = logsetup.setup("info", stream=buf)
    try:
        log = logging.getLogger("cctv.test")
        log.info("probing %s", f"rtsp://admin:{CANARY}@10.0.0.1:554/x")
        log.debug("hidden")
        try:
            raise ValueError(f"http://u:{CANARY}@h/")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    text = buf.getvalue()
    assert CANARY not in text
    assert "rtsp://admin:xxxxx@10.0.0.1:554/x" in text
    assert "hidden" not in text
    first = text.splitlines()[0]
    ts, level, rest = first.split(" ", 2)
    assert level == "INFO" and rest.startswith("cctv.test: probing ")
    assert ts[:4].isdigit() and "T" in ts
    assert logsetup.redact("no userinfo here rtsp://10.0.0.1/x") == "no userinfo here rtsp://10.0.0.1/x"


def test_run_on_a_port_in_use_is_one_line_and_exit_2(tmp_path):
    """A --listen address already taken: one line naming it, no traceback, a non-zero exit,
    and nothing written to the ledger by a monitor that never started."""
    cfg = tmp_path / "monitor.yml"
    write_config(cfg, 1, extra="history:\n  path: ledger.sqlite\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        proc = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "-c", str(cfg), "--listen", listen],
            cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"cctv-monitor: cannot listen on {listen}: Address already in use"], proc.stderr
    ledger = tmp_path / "ledger.sqlite"
    if ledger.exists():  # the /reports strip may have looked for it; no start was recorded
        with contextlib.closing(sqlite3.connect(ledger)) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
            assert "instances" not in tables or not db.execute("SELECT * FROM instances").fetchall()
