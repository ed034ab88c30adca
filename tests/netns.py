"""A "command centre" host in a network namespace, for tests that need a real network path.

`CommandCentreHost` builds, and always tears down:

- a namespace ``cctv-cc-<random>``;
- a veth pair: host side ``ccH<random>`` with ``A.1/30``, namespace side ``ccN<random>``
  with ``A.2/30``, the /30 chosen at random in 198.18.0.0/15 (the benchmark range, RFC 2544)
  so that parallel runs and real networks do not clash;
- a guard route ``unreachable A.0/30 metric 4000`` on the host: while the veth is up its
  connected route (metric 0) wins; when a test cuts the link, the guard answers "no route"
  at once, so a probe to the namespace's address can never follow the default route out of
  the machine;
- processes started in the namespace (`run`), nftables tables (`nft`) and sysctls.

Everything is undone by `close()` (use it as a context manager or from a fixture finalizer),
in reverse order, even after a failed test; every step of the teardown is attempted.

Needs root, iproute2 (`ip`) and, for `nft`, nftables; tests call ``require_root()``,
``require("ip")`` and ``require("nft")`` first.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

WITNESS = Path(__file__).parent / "witness" / "delay_responder.py"
BENCHMARK_NET = ipaddress.ip_network("198.18.0.0/15")


def _run(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        list(args), input=stdin, capture_output=True, text=True, timeout=20, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _free_subnet() -> ipaddress.IPv4Network:
    used = _run("ip", "-4", "-o", "route", "show", "table", "all").stdout
    used += _run("ip", "-4", "-o", "addr", "show").stdout
    for _ in range(64):
        offset = random.randrange(BENCHMARK_NET.num_addresses // 4) * 4
        subnet = ipaddress.ip_network(f"{BENCHMARK_NET.network_address + offset}/30")
        if str(subnet.network_address) not in used and str(subnet[1]) not in used:
            return subnet
    raise RuntimeError("no free /30 found in 198.18.0.0/15")


class CommandCentreHost:
    """A namespace reachable from the test process at `address` over a veth pair."""

    def __init__(self) -> None:
        token = secrets.token_hex(3)
        self.name = f"cctv-cc-{token}"
        self.host_if = f"ccH{token}"
        self.ns_if = f"ccN{token}"
        self.subnet = _free_subnet()
        self.host_address = str(self.subnet[1])
        self.address = str(self.subnet[2])
        self._procs: list[subprocess.Popen] = []
        self._tables: list[str] = []
        self._undo: list[tuple[str, ...]] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ building

    def _step(self, do: tuple[str, ...], undo: tuple[str, ...] | None = None) -> None:
        _run(*do)
        if undo is not None:
            self._undo.append(undo)

    def _build(self) -> None:
        net = str(self.subnet)
        self._step(("ip", "netns", "add", self.name), ("ip", "netns", "del", self.name))
        self._step(
            ("ip", "route", "add", "unreachable", net, "metric", "4000"),
            ("ip", "route", "del", "unreachable", net, "metric", "4000"),
        )
        self._step(
            ("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if),
            ("ip", "link", "del", self.host_if),
        )
        self._step(("ip", "link", "set", self.ns_if, "netns", self.name))
        self._step(("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_if))
        self._step(("ip", "-n", self.name, "addr", "add", f"{self.address}/30", "dev", self.ns_if))
        self._step(("ip", "-n", self.name, "link", "set", "lo", "up"))
        self._step(("ip", "-n", self.name, "link", "set", self.ns_if, "up"))
        self._step(("ip", "link", "set", self.host_if, "up"))
        self.wait_reachable()

    def wait_reachable(self, timeout: float = 5.0) -> None:
        """Wait until the kernel has a working route to the namespace (carrier up)."""
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            route = _run("ip", "route", "get", self.address, check=False).stdout
            if f"dev {self.host_if}" in route and "unreachable" not in route:
                return
            time.sleep(0.05)
        raise RuntimeError(f"no route to {self.address} via {self.host_if} after {timeout}s")

    # ------------------------------------------------------------------ inside

    def exec(self, *args: str, check: bool = True, stdin: str | None = None):
        return _run("ip", "netns", "exec", self.name, *args, check=check, stdin=stdin)

    def sysctl(self, key: str, value: str) -> None:
        # Per-namespace sysctls (net.ipv4.icmp_echo_ignore_all, ...) vanish with the namespace.
        self.exec("sysctl", "-q", "-w", f"{key}={value}")

    def nft(self, table: str, script: str) -> None:
        """Load an nftables script that creates ``table inet <table>`` inside the namespace."""
        self.exec("nft", "-f", "-", stdin=script)
        self._tables.append(table)

    def nft_delete(self, table: str) -> None:
        self.exec("nft", "delete", "table", "inet", table, check=False)
        if table in self._tables:
            self._tables.remove(table)

    def run(self, *args: str, python: str = sys.executable, ready_timeout: float = 10.0):
        """Start the witness (tests/witness/delay_responder.py ARGS) inside the namespace and
        wait for its ``ready`` line."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, python, str(WITNESS), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._procs.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], ready_timeout)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            proc.kill()
            _, err = proc.communicate(timeout=5)
            raise RuntimeError(f"witness did not start: {line!r} {err.strip()}")
        return proc

    # ------------------------------------------------------------------ faults

    def cut(self) -> None:
        """Take the link down on the host side.  The guard route keeps the subnet from
        falling through to the default route, so nothing leaves the machine."""
        _run("ip", "link", "set", self.host_if, "down")
        route = _run("ip", "route", "get", self.address, check=False)
        if "unreachable" not in route.stdout + route.stderr and route.returncode == 0:
            raise RuntimeError(f"guard route missing: {route.stdout.strip()}")

    def restore(self) -> None:
        _run("ip", "link", "set", self.host_if, "up")
        # An IPv4 address survives an admin-down; re-add it only if something removed it.
        addresses = _run("ip", "-4", "-o", "addr", "show", "dev", self.host_if).stdout
        if self.host_address not in addresses:
            _run("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_if)
        self.wait_reachable()

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: ip netns exec + python
                except ProcessLookupError:
                    pass
            try:
                proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._procs.clear()
        for table in list(self._tables):
            self.nft_delete(table)
        while self._undo:
            _run(*self._undo.pop(), check=False)

    def __enter__(self) -> "CommandCentreHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
