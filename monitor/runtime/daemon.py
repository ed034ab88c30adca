"""`cctv-monitor run`: the daemon.  Loads the config, runs the scheduler and the web
endpoints, reloads on SIGHUP and POST /-/reload (SIGUSR1 and ?force=1: past the reload
guards), and stops cleanly on SIGINT/SIGTERM.

A reload reads and validates the files in a worker thread (a 100,000-camera inventory takes
seconds of YAML), then hands the scheduler the new Inventory; an invalid config keeps the
old one and sets cctv_monitor_config_last_reload_successful to 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from typing import Any, Callable

import uvloop
from aiohttp import web

from .. import logsetup
from ..config.reload_guard import endpoint_changes, ledger_hook, refusal
from ..history.clock import SteadyClock
from ..metrics.exporter import Exporter
from ..model import Inventory
from .reloader import issues_of, load_inventory
from ..resources import (ResourceGuard, check_descriptor_budget, check_stream_coverage,
                        raise_nofile_limit)
from ..metrics.selfmetrics import SelfMetrics
from ..state import State
from ..web.app import ReloadFailed, make_app
from ..web.auth import BasicAuth, install_headers
from ..web.config import WebConfig, WebConfigError, load_web_config
from ..web.server import PROTOCOL_LOG, ConnectionLimiter, GuardedSite, Limits
from .scheduler import Scheduler

log = logging.getLogger("cctv.daemon")


def _freeze_heap() -> None:
    """Move everything alive now (the inventory, camera states, pre-formatted lines) out of
    the cyclic collector's reach.  Measured at 50,000 cameras: a full collection takes
    ~0.7 s with the inventory in the heap, ~0 ms right after gc.freeze(); objects frozen
    here are still freed by reference counting when a reload drops them."""
    gc.collect()
    gc.freeze()
    # Every probe leaves results, detail dicts and exposition lines behind for one round:
    # with the default thresholds their promotion triggers a full collection every quarter
    # round, each a long stall over every live camera's state.  Measured at 100,000
    # cameras / 30 s (tests/bench/bench_scale.py): 0.43 CPU-ms per check and a 87,000-probe
    # backlog with the defaults, 0.22 CPU-ms and no backlog with the collector off.  These
    # thresholds keep cheap young collections (cyclic garbage from failed probes' exception
    # tracebacks is reclaimed there) and make full ones rare (about every 25 min at full load).
    gc.set_threshold(10_000, 10, 10_000)


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class Daemon:
    """The running pieces and the one reload procedure that SIGHUP and the web share."""

    def __init__(self, config_path: str, inventory: Inventory,
                 shard: tuple[int, int] | None = None, limits: Limits | None = None,
                 ledger: str | None = None, ledger_new: bool = False,
                 ledger_spool: str | None = None) -> None:
        self.config_path = config_path
        self.ledger = ledger  # `run --ledger`: wins over the configuration's history:
        self.ledger_new = ledger_new  # `run --ledger-new`: an empty ledger where one was
        self.ledger_spool = ledger_spool  # `run --ledger-spool`: the spool's directory
        self.recorder: Any = None
        self.shard = shard
        self.limits = limits or Limits()
        self.metrics = SelfMetrics(f"{shard[0]}/{shard[1]}" if shard else None)
        # one clock for State and the ledger: wall time at the start plus monotonic seconds
        self.clock = SteadyClock()
        self.state = State(inventory, clock=self.clock)
        self.exporter = Exporter(self.state, self.metrics)
        self.guard = ResourceGuard(self.metrics.registry)
        from ..probes.picture import DecodePool  # PIL on use: `check` and `--help` stay quick

        # the keyframe decode threads live and die with this daemon (closed by run_until)
        self.decoder = DecodePool()
        self.scheduler = Scheduler(self.state, metrics=self.metrics, guard=self.guard,
                                   post_steps={"picture": self.decoder.post_step})
        self._reload_lock = asyncio.Lock()
        # called with the ids of the cameras whose address a forced reload changed (the
        # ledger records them: monitor.config.reload_guard.ledger_hook)
        self.on_forced_move: Callable[[list[str]], None] | None = None

    def _prepare(self) -> tuple[Inventory, Any]:
        from .reloader import load_isolated

        # the running cameras, read in this thread: only a reload changes them, and this
        # one holds the reload lock
        running = {cid: cs.camera for cid, cs in list(self.state.cameras.items())}
        inventory = load_isolated(self.config_path, self.shard, running)
        return inventory, self.state.plan(inventory)

    #: cameras told to State's listeners (the exporter) per loop step after a reload
    SLICE = 500

    async def _tell_listeners(self, added: list[str], removed: list[str],
                              changed: list[str]) -> None:
        """The listeners learn of a reload in slices of SLICE cameras with a yield between
        them, so that no step holds the loop for long (tests/bench/bench_reload.py); at
        least once, so that a reload of links alone is heard too."""
        longest = max(len(added), len(removed), len(changed), 1)
        for i in range(0, longest, self.SLICE):
            part = slice(i, i + self.SLICE)
            self.state.notify_inventory_changed(added[part], removed[part], changed[part])
            await asyncio.sleep(0)

    async def reload(self, force: bool = False) -> dict[str, Any]:
        """Reload the configuration; `force` skips the guards of monitor.config.reload_guard."""
        async with self._reload_lock:
            loop = asyncio.get_running_loop()
            try:
                # parse, validate and diff against the running state in a worker thread:
                # the loop only swaps the result in (State.plan, State.apply)
                inventory, plan = await loop.run_in_executor(None, self._prepare)
            except Exception as exc:  # noqa: BLE001 - ConfigError, a missing file, bad YAML
                errors = issues_of(exc)
                self.metrics.reload_ok.set(0)
                log.error("reload failed, keeping the old configuration: %d error(s)", len(errors))
                for line in errors[:50]:
                    log.error("  %s", line)
                raise ReloadFailed(errors) from None
            too_many = check_descriptor_budget(inventory.settings, self.limits.max_connections)
            if too_many is not None:
                self.metrics.reload_ok.set(0)
                log.error("reload refused, keeping the old configuration: %s", too_many)
                raise ReloadFailed([too_many])
            old = self.state.inventory
            short = check_stream_coverage(inventory)
            if short is not None and short != check_stream_coverage(old):
                log.warning("%s", short)
            moved = await loop.run_in_executor(None, endpoint_changes, old, inventory)
            refused = [] if force else refusal(old, inventory, len(plan.removed), len(moved))
            if refused:
                self.metrics.reload_ok.set(0)
                for line in refused:
                    log.error("reload refused, keeping the old configuration: %s", line)
                raise ReloadFailed(refused)
            old = self.state.inventory.settings
            added, removed, changed = self.state.apply(inventory, plan=plan, notify=False)
            await self.scheduler.reschedule(old, added, removed, changed)
            await self._tell_listeners(added, removed, changed)
            if force and moved:
                log.warning("forced reload changed the address of %d camera(s)%s", len(moved),
                            "; recorded in the ledger" if self.on_forced_move else "")
                if self.on_forced_move is not None:
                    self.on_forced_move(moved)
            # out of the collector's reach like at start; no gc.collect() first: a full
            # collection over a 100,000-camera heap holds the loop for a second
            gc.freeze()
            self.metrics.reload_ok.set(1)
            self.metrics.reload_ts.set(time.time())
            summary = {
                "cameras": len(inventory.cameras),
                "added": len(added),
                "removed": len(removed),
                "changed": len(changed),
            }
            log.info(
                "configuration reloaded: %d cameras (%d added, %d removed, %d changed)",
                summary["cameras"], summary["added"], summary["removed"], summary["changed"],
            )
            return summary


async def run_until(
    config_path: str,
    listen: str,
    stop: asyncio.Event,
    log_level: str = "info",
    shard: tuple[int, int] | None = None,
    log_format: str = "text",
    web_config_file: str | None = None,
    enable_reload: bool = True,
    max_connections: int = 128,
    ledger: str | None = None,
    ledger_new: bool = False,
    ledger_spool: str | None = None,
) -> None:
    """Run the daemon until `stop` is set.  Config errors and a --listen address that cannot
    be bound: printed, then SystemExit(2)."""
    logsetup.setup(log_level, fmt=log_format)
    loop = asyncio.get_running_loop()
    web_config = WebConfig()
    if web_config_file:
        try:
            web_config = load_web_config(web_config_file)
        except WebConfigError as exc:
            print(f"cctv-monitor: --web.config.file {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    try:
        inventory = await loop.run_in_executor(None, load_inventory, config_path, shard)
    except Exception as exc:  # noqa: BLE001 - every config problem ends the same way
        for line in issues_of(exc):
            print(logsetup.redact(line), file=sys.stderr)
        raise SystemExit(2) from None

    if ledger_spool is not None and not os.path.isdir(ledger_spool):
        print(f"cctv-monitor: --ledger-spool {ledger_spool}: not a directory", file=sys.stderr)
        raise SystemExit(2)
    limits = Limits(max_connections=max(1, max_connections))
    raise_nofile_limit()
    too_many = check_descriptor_budget(inventory.settings, limits.max_connections)
    if too_many is not None:
        print(f"cctv-monitor: {too_many}", file=sys.stderr)
        raise SystemExit(2)
    short = check_stream_coverage(inventory)
    if short is not None:
        log.warning("%s", short)

    daemon = Daemon(config_path, inventory, shard, limits, ledger, ledger_new, ledger_spool)
    app = make_app(daemon.state, daemon.exporter, daemon.reload if enable_reload else None,
                   problems=daemon.guard.problems,
                   notes=lambda: [daemon.recorder.ledger.note()] if daemon.recorder else [])
    limiter = ConnectionLimiter(lambda: None, limits, daemon.metrics.registry)  # type: ignore[arg-type,return-value]
    if web_config.users:
        # checks waiting for bcrypt get their own cap, an eighth of the connections: the
        # rest is the reserve of clients whose credentials are already verified
        auth = BasicAuth(web_config.users, limiter=limiter, registry=daemon.metrics.registry,
                         max_waiting=max(2, limits.max_connections // 8), rate=web_config.rate)
        app.middlewares.insert(0, auth.middleware)
    app.middlewares.insert(0, limiter.middleware)
    install_headers(app, web_config.headers)
    pages = _ledger_pages(daemon, inventory)
    pages.install(app)
    from ..web.portal import Portal

    Portal(daemon.state, pages.target).install(app)
    if web_config.users and inventory.access.configured:
        unknown = sorted({u for u in (*inventory.access.admins, *inventory.access.viewers,
                                      *inventory.access.prometheus)} | {
            u for _p, users in inventory.access.providers for u in users} - set(web_config.users))
        if unknown:
            log.warning("access: %d user(s) named in access: are not in --web.config.file: %s",
                        len(unknown), ", ".join(unknown))
    elif web_config.users:
        log.info("no access: section: every user of --web.config.file is an admin")
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
                           keepalive_timeout=limits.idle_timeout, logger=PROTOCOL_LOG)
    await runner.setup()
    host, port = _split_listen(listen)
    site = GuardedSite(runner, host, port, limiter, start_serving=False,
                       ssl_context=web_config.ssl_context)
    hup_tasks: set[asyncio.Task] = set()

    def on_hup(force: bool = False) -> None:
        async def go() -> None:
            with contextlib.suppress(ReloadFailed):
                await daemon.reload(force=force)

        task = loop.create_task(go())
        hup_tasks.add(task)
        task.add_done_callback(hup_tasks.discard)

    recorder = None
    try:
        try:
            await site.start()
        except OSError as exc:
            # A port in use or an address not on this host is the operator's to fix: one line
            # naming the address, not a traceback out of the event loop.  Bound (not yet
            # serving) before the ledger opens, so a start that fails here records nothing.
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            print(f"cctv-monitor: cannot listen on {listen}: {why}", file=sys.stderr)
            raise SystemExit(2) from None
        recorder = daemon.recorder = await _start_ledger(daemon, inventory, shard)
        if recorder is not None:
            daemon.on_forced_move = ledger_hook(recorder, daemon.state)
        await daemon.scheduler.start()
        _freeze_heap()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, on_hup)
            # SIGUSR1: a reload past the guards of monitor.config.reload_guard (the operator's "yes")
            loop.add_signal_handler(signal.SIGUSR1, on_hup, True)
        # Served once the state is restored and SIGHUP is handled: a client that sees the
        # endpoints up may reload at once.
        await site.serve()
        log.info(
            "monitoring %d cameras and %d links; listening on %s://%s:%d/",
            len(inventory.cameras), len(daemon.state.links), web_config.scheme, host, port,
        )
        await stop.wait()
        log.info("stopping")
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
            loop.remove_signal_handler(signal.SIGUSR1)
        for task in list(hup_tasks):
            task.cancel()
        await daemon.scheduler.stop()
        # after the scheduler: no check is left to queue a keyframe; the one decoding ends
        await loop.run_in_executor(None, daemon.decoder.close)
        if recorder is not None:
            await loop.run_in_executor(None, recorder.ledger.close)
        await runner.cleanup()


def _ledger_pages(daemon: Daemon, inventory: Inventory) -> Any:
    """/reports and the status page's availability strip, read from the ledger."""
    from ..history import target_of
    from ..report.pages import LedgerPages

    try:
        target = target_of(inventory, daemon.config_path, daemon.ledger)
    except ValueError:
        target = None
    return LedgerPages(daemon.state, target.target if target else None)


async def _start_ledger(daemon: Daemon, inventory: Inventory,
                        shard: tuple[int, int] | None) -> Any:
    """Open the outage ledger and restore each camera's state from it before the first
    round; without a `history:` target there is no ledger.  A database out of reach at the
    start is not "off": the writer holds the rows and keeps trying, the self metrics exist
    from now on and /readyz says it.  A refusal (an empty database where the marker says a
    ledger was, a schema newer than this monitor) ends the start: exit 2."""
    from .. import history
    from ..history.metrics import LedgerCollector
    from ..history.schema import SchemaTooNew

    try:
        target = history.target_of(inventory, daemon.config_path, daemon.ledger,
                                   daemon.ledger_spool)
    except ValueError as exc:
        log.error("ledger off: %s", exc)
        return None
    if target is None:
        return None
    try:
        recorder = await history.start(daemon.state, target, shard, clock=daemon.clock,
                                       ledger_new=daemon.ledger_new)
    except (history.LedgerMissing, SchemaTooNew) as exc:
        print(f"cctv-monitor: {logsetup.redact(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None
    LedgerCollector(recorder.ledger, None, daemon.metrics.registry)
    gap = recorder.restored.down_gap if recorder.restored else None
    if gap is not None:
        log.info("monitor was down for %.0fs before this start (recorded as monitor_down)",
                 gap[1] - gap[0])
    return recorder


async def _main(args: Any) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await run_until(
        args.config,
        args.listen,  # the defaults are the parser's (monitor.commands.cli)
        stop,
        args.log_level,
        args.shard,
        args.log_format,
        args.web_config_file,
        not args.web_disable_reload,
        args.web_max_connections,
        args.ledger,
        args.ledger_new,
        args.ledger_spool,
    )
    return 0


def main(args: argparse.Namespace) -> int:
    """`cctv-monitor run` with the arguments monitor.commands.cli parsed; exit 0 on a
    signal-initiated stop, 2 on config errors or a --listen address that cannot be bound."""
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_main(args))
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        return 0
