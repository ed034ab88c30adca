"""`cctv-monitor demo`: a simulated Jakarta fleet and the monitor against it, in one command.

Owns the demo's life cycle: a temporary directory, the simulator as a child process (its own
session, so it and its workers can be stopped as one group and a Ctrl-C in the terminal
reaches only us), the monitor daemon in this process on the configuration that matches the
fleet, the URLs printed for the operator, and a clean stop after `--duration` or Ctrl-C:
monitor first, then the simulator (SIGTERM, SIGKILL after a grace period), then the
directory.  Nothing is left behind, also when the simulator or the monitor fails to start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from ..simulator import fleet as simfleet
from ..simulator.fleet import build_fleet, write_config

log = logging.getLogger("cctv.demo")

#: Short intervals so that the demo shows a full picture within seconds, not minutes.
DEMO_INTERVAL = "15s"
DEMO_TIMEOUT = "4s"
DEMO_STREAM_DURATION = 3  # seconds of video per stream check
DEMO_STREAM_CONCURRENCY = 100
#: Device identity and clocks through ONVIF: hourly in production, every 2 minutes in the
#: demo so that models, firmware and the duplicate device show within minutes.
DEMO_ONVIF_INTERVAL = "2m"


def demo_stream_interval(cameras: int) -> int:
    """60 s, or longer where the stream budget cannot see every camera that often (with a
    quarter to spare): 3,517 cameras take 140 s."""
    needed = cameras * DEMO_STREAM_DURATION * 1.25 / DEMO_STREAM_CONCURRENCY
    return max(60, math.ceil(needed / 10) * 10)

GRACE = 5.0  # seconds the simulator gets to exit after SIGTERM
MONITOR_START_TIMEOUT = 60.0  # plus a second per 1,000 cameras of YAML to read


class DemoError(Exception):
    """Something the operator must read: printed as one message, exit status 1."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bound(ip: str, port: int) -> bool:
    """Whether something already listens on ip:port (a bind with SO_REUSEADDR fails then)."""
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def pick_base_net(cameras: int) -> int:
    """A 127.<net>.0.0 range where no other simulator serves cameras right now, so a demo can
    run next to a test run or a benchmark.  The default (100) first."""
    need = (cameras - 1) // (simfleet.HOSTS_PER_NET * 256) + 1
    for net in range(simfleet.DEFAULT_BASE_NET, 256 - need + 1, 8):
        if simfleet.RESERVED_NETS.intersection(range(net, net + need)):
            continue
        probe = {simfleet.camera_address(i, net) for i in (0, 1, 2, 3, 4, cameras - 1) if i < cameras}
        busy = any(_bound(ip, port) for ip in probe for port in (8554, 8080))
        police = simfleet.police_integration(net)
        busy = busy or _bound(police.relay_ip, police.relay_port)
        busy = busy or any(_bound(link.ip, link.tcp_port) for link in police.links)
        busy = busy or _bound(simfleet.smart_city_integration(net).relay_ip, 8554)
        if not busy:
            return net
    return simfleet.DEFAULT_BASE_NET  # let the simulator say what is in the way


class Simulator:
    """The simulator child process: started, watched for READY, stopped as a process group."""

    def __init__(self, cameras: int, seed: int, config: Path, log_level: str, base_net: int) -> None:
        self.control = f"127.0.0.1:{_free_port()}"
        self.base_net = base_net
        self.argv = [
            sys.executable, "-m", "monitor", "simulate",
            "--cameras", str(cameras), "--seed", str(seed),
            "--write-config", str(config), "--control", self.control,
            "--log-level", log_level,
        ]
        self.stderr_path = config.with_name("simulator.log")
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=50)
        self.ready = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def start(self, timeout: float) -> None:
        env = dict(os.environ)
        # the child must import this very package, whether installed or run from a checkout
        root = str(Path(__file__).resolve().parent.parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env[simfleet.BASE_NET_ENV] = str(self.base_net)
        # the simulator dies with us even if we are killed -9: it asks for that itself
        env[simfleet.PARENT_ENV] = str(os.getpid())
        with open(self.stderr_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        self._reader = asyncio.create_task(self._read_stdout())
        waiter = asyncio.create_task(self.ready.wait())
        exited = asyncio.create_task(self.proc.wait())
        try:
            done, _ = await asyncio.wait({waiter, exited}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            exited.cancel()
        if self.ready.is_set():
            return
        if self.proc.returncode is not None:
            raise DemoError(f"the simulator exited with status {self.proc.returncode} before it was "
                            f"ready:\n{self.stderr_tail()}")
        raise DemoError(f"the simulator was not ready after {timeout:.0f} s:\n{self.stderr_tail()}")

    async def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        # keep draining after READY too: a full pipe would block the simulator
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if line.startswith("READY"):
                self.ready.set()
            else:
                log.debug("simulator: %s", line)

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            text = ""
        tail = text.strip().splitlines()[-lines:] or list(self.lines)[-lines:]
        return "\n".join("  | " + line for line in tail) or "  | (no output)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self) -> None:
        """SIGTERM to the simulator's process group, SIGKILL after GRACE seconds."""
        proc = self.proc
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: its pid is its group id
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), GRACE)
            except asyncio.TimeoutError:
                log.warning("the simulator did not stop within %.0f s; killing it", GRACE)
        # workers of the group may outlive their parent: kill whatever is left of it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(proc.wait(), GRACE)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


async def _wait_listening(listen: str, monitor: asyncio.Task, timeout: float) -> None:
    host, _, port = listen.rpartition(":")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if monitor.done():
            monitor.result()  # raises the monitor's error
            raise DemoError("the monitor stopped before it served anything")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1.0)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.2)
            continue
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return
    raise DemoError(f"the monitor did not listen on {listen} within {timeout:.0f} s")


def _banner(listen: str, control: str, cameras: int, config: Path, duration: float | None,
            first: str = "JKT-00001", stream_interval: int = 60) -> str:
    base = f"http://{listen}"
    ctl = f"http://{control}"
    until = f"for {duration:g} s" if duration else "until Ctrl-C"
    return "\n".join([
        "",
        f"CCTV monitor demo: {cameras:,} simulated Jakarta cameras, running {until}.",
        "",
        f"  status page     {base}/status",
        f"  metrics         {base}/metrics",
        f"  cameras (JSON)  {base}/api/cameras",
        f"  health          {base}/healthz   {base}/readyz",
        f"  config          {config}",
        "",
        f"Simulator control API: {ctl}/control/state",
        "  cut the police command centre's primary link, then the backup, and restore them:",
        f"    curl -X POST {ctl}/control/links/police-hq/primary/cut",
        f"    curl -X POST {ctl}/control/links/police-hq/backup/cut",
        f"    curl -X POST {ctl}/control/links/police-hq/primary/restore",
        f"    curl -X POST {ctl}/control/links/police-hq/backup/restore",
        "  take a camera down, and bring it back:",
        f"    curl -X POST {ctl}/control/cameras/{first}/fault/down",
        f"    curl -X POST {ctl}/control/cameras/{first}/fault/healthy",
        "",
        f"Probes run every {DEMO_INTERVAL} (video streams every {stream_interval} s); "
        "the first full picture is there after one interval.",
        "",
    ])


async def _demo(args) -> int:
    from ..runtime.daemon import run_until  # imported on use: `simulate` and `--help` do not load the monitor

    # the defaults are the parser's (monitor.commands.cli)
    duration: float | None = args.duration
    listen: str = args.listen
    cameras: int = args.cameras
    seed: int = args.seed
    log_level: str = args.log_level

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    host, _, port = listen.rpartition(":")
    if _bound(host.strip("[]"), int(port)):
        print(f"error: cannot listen on {listen}: the address is in use (another monitor or demo?); "
              "choose another with --listen HOST:PORT", file=sys.stderr, flush=True)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="cctv-demo-"))
    base_net = pick_base_net(cameras)
    simulator = Simulator(cameras, seed, tmp / "simulator.yml", log_level, base_net)
    monitor: asyncio.Task | None = None
    status = 0
    try:
        # The monitor's config: the same fleet (build_fleet is deterministic for a seed),
        # written with the demo's short intervals.
        fleet = build_fleet(cameras, seed, base_net=base_net)
        config = tmp / "demo.yml"
        stream_interval = demo_stream_interval(cameras)
        write_config(fleet, config, interval=DEMO_INTERVAL, timeout=DEMO_TIMEOUT,
                     stream_interval=f"{stream_interval}s", stream_duration=f"{DEMO_STREAM_DURATION}s",
                     stream_concurrency=DEMO_STREAM_CONCURRENCY,
                     onvif_interval=DEMO_ONVIF_INTERVAL)
        print(f"starting the simulator ({cameras:,} cameras on 127.{fleet.base_net}.x.y) ...", flush=True)
        await simulator.start(timeout=60 + cameras / 500)
        _check_same_fleet(config, tmp / "simulator.yml")
        if stop.is_set():
            return 0

        monitor = asyncio.create_task(_run_monitor(run_until, str(config), listen, stop, log_level,
                                                    args.log_format))
        await _wait_listening(listen, monitor, MONITOR_START_TIMEOUT + cameras / 1000)
        print(_banner(listen, simulator.control, cameras, config, duration, fleet.cameras[0].id,
                      stream_interval), flush=True)
        if duration:
            loop.call_later(duration, stop.set)
        announcer = asyncio.create_task(_announce_ready(listen, stop))

        sim_exit = asyncio.create_task(simulator.proc.wait())  # type: ignore[union-attr]
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({monitor, sim_exit, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        sim_exit.cancel()
        announcer.cancel()
        if sim_exit in done and not stop.is_set():
            print(f"error: the simulator exited unexpectedly:\n{simulator.stderr_tail()}",
                  file=sys.stderr, flush=True)
            status = 1
        elif monitor in done and not stop.is_set():
            monitor.result()  # raises the monitor's error, if any
            print("error: the monitor stopped unexpectedly", file=sys.stderr, flush=True)
            status = 1
        print("stopping ...", flush=True)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        status = 1
    except Exception as exc:  # noqa: BLE001 - report, then clean up like any other stop
        log.debug("demo failed", exc_info=True)
        print(f"error: {exc.__class__.__name__}: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        stop.set()
        if monitor is not None:
            await _finish_monitor(monitor)
        await simulator.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return status


async def _announce_ready(listen: str, stop: asyncio.Event) -> None:
    """Once the first round is done, say so with the status URL again: the state-change log
    of the first round has scrolled the banner away by then."""
    import aiohttp

    url = f"http://{listen}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            try:
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status != 200:
                        continue
                async with session.get(f"{url}/api/cameras") as resp:
                    cameras = await resp.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                continue
            if isinstance(cameras, dict):
                cameras = cameras.get("cameras", [])
            down = sum(1 for c in cameras if isinstance(c, dict) and c.get("up") is False)
            print(f"\nFirst round done: {len(cameras):,} cameras, {down:,} down.  "
                  f"Status page: {url}/status\n", flush=True)
            return


async def _run_monitor(run_until, config: str, listen: str, stop: asyncio.Event, log_level: str,
                       log_format: str = "text") -> None:
    # The daemon ends a bad config with SystemExit: inside a task that would escape the event
    # loop and skip the cleanup of the simulator, so it becomes an ordinary error here.
    try:
        await run_until(config, listen, stop, log_level, log_format=log_format)
    except SystemExit as exc:
        raise DemoError(f"the monitor could not start (exit status {exc.code})") from None


async def _finish_monitor(monitor: asyncio.Task) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(monitor), 15)
    except asyncio.TimeoutError:
        log.warning("the monitor did not stop within 15 s; cancelling it")
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await monitor
    except Exception:  # noqa: BLE001 - already reported, or reported by the daemon itself
        pass


def _check_same_fleet(ours: Path, theirs: Path) -> None:
    """Both configs must name the same camera addresses; otherwise the monitor would probe
    cameras the simulator does not serve, and the demo would show nothing but timeouts."""
    if not theirs.exists():
        return

    def endpoints(path: Path) -> list[str]:
        prefixes = ("    rtsp: ", "    feeds: ", "        targets: ")
        return [line for line in path.read_text().splitlines() if line.startswith(prefixes)]

    if endpoints(ours) != endpoints(theirs):
        raise DemoError(
            f"the simulator's fleet ({theirs}) differs from the demo's ({ours}); "
            "were they built by different versions?"
        )


def main(args) -> int:
    """`cctv-monitor demo`: exit 0 after a clean stop, 1 when something failed to start."""
    from .. import logsetup

    logsetup.setup(args.log_level, fmt=args.log_format)
    # The daemon's loop: the demo runs the daemon in-process.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_demo(args))
