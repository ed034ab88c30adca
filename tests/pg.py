"""A real PostgreSQL server for the ledger's tests, from Debian's packages.

`postgres_server` (session scope) runs initdb and pg_ctl on a temporary directory and a
free loopback port, and tears it all down afterwards.  PostgreSQL refuses to run as root
(CI runs as root): the server then runs as the `postgres` user through `runuser`.
`postgres_dsn` hands each test a fresh, empty database on it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from tests.conftest import IN_CI
from tests.factories import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@pytest.fixture(scope="session")
def postgres_server():
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        message = "PostgreSQL not installed (scripts/install-system-deps.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    base = tempfile.mkdtemp(prefix="cctv-pg-")
    data = os.path.join(base, "data")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        os.chmod(base, 0o700)
    port = free_port()
    run = dict(check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    subprocess.run(_as_server_user([initdb, "-D", data, "-U", "cctv", "-A", "trust", "-E", "UTF8",
                                    "--no-sync"]), **run)
    log = os.path.join(base, "server.log")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=50"
    try:
        subprocess.run(_as_server_user([pg_ctl, "-D", data, "-l", log, "-o", opts, "-w", "-t", "60",
                                        "start"]), **run)
    except subprocess.CalledProcessError as exc:
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r} {text[-2000:]}") from None
    try:
        yield f"postgresql://cctv@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def postgres_dsn(postgres_server):
    import psycopg

    name = "ledger_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield f"{postgres_server}/{name}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class OwnPostgres:
    """A PostgreSQL server of one test's own, to stop, start and freeze (SIGSTOP) without
    touching the session's shared one."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _bin("initdb"), _bin("pg_ctl")
        self.base = tempfile.mkdtemp(prefix="cctv-pg-own-")
        self.data = os.path.join(self.base, "data")
        self.log = os.path.join(self.base, "server.log")
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            os.chmod(self.base, 0o700)
        self.port = free_port()
        self.dsn = f"postgresql://cctv@127.0.0.1:{self.port}/postgres"
        subprocess.run(_as_server_user([self.initdb, "-D", self.data, "-U", "cctv", "-A", "trust",
                                        "-E", "UTF8", "--no-sync"]),
                       check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off "
                "-c max_connections=20")
        subprocess.run(_as_server_user([self.pg_ctl, "-D", self.data, "-l", self.log, "-o", opts,
                                        "-w", "-t", "60", "start"]),
                       check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=90)

    def stop(self) -> None:
        subprocess.run(_as_server_user([self.pg_ctl, "-D", self.data, "-m", "fast", "-w", "stop"]),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)

    def pids(self) -> list[int]:
        """The postmaster and every backend: all of them, for SIGSTOP/SIGCONT."""
        with open(os.path.join(self.data, "postmaster.pid")) as fh:
            master = int(fh.readline())
        pids = [master]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == master:
                    pids.append(int(entry))
        return pids

    def close(self) -> None:
        subprocess.run(_as_server_user([self.pg_ctl, "-D", self.data, "-m", "immediate", "-w",
                                        "stop"]),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture()
def own_postgres():
    if not _bin("initdb") or not _bin("pg_ctl"):
        message = "PostgreSQL not installed (scripts/install-system-deps.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    server = OwnPostgres()
    try:
        yield server
    finally:
        server.close()
