"""The fleet simulator's process: `cctv-monitor simulate` and `serve()` for in-process use.

Owns the listeners of the simulated cameras (`CameraHost`: per camera an RTSP and an HTTP
listening socket on the camera's own loopback address, opened and closed as `down` and
`flapping` faults require), the worker processes that share a large fleet (the file
descriptor hard limit here is 20,000 and each camera holds two), the integration relays
and command-centre links (centre.py) and the control API (aiohttp, low traffic):

    GET  /control/state                                  cameras, fault counts, links, relays
    GET  /control/cameras/{id}                           one camera's address and fault
    POST /control/cameras/{id}/fault/{fault}             set a camera's fault at run time
    POST /control/cameras/{id}/fault   {"fault": ...}    the same, with a JSON body
    POST /control/links/{integration}/{link}/cut         the link stops answering
    POST /control/links/{integration}/{link}/restore     and comes back

Up to `threshold` cameras are served by this process; above it, by `spawn`ed worker
processes, each with a slice of the cameras and its own event loop.  The main process keeps
the centre, the relays and the control API, and forwards run-time fault changes to the
worker serving the camera over its pipe.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import multiprocessing
import os
import resource
import signal
import socket
import sys
import time
from dataclasses import replace
from typing import Any

import uvloop

from .base import SimContext, camera_down
from .centre import IntegrationServer
from .fleet import FAULTS, SimCamera, SimFleet
from .http_server import HttpProtocol
from .rtsp_server import RtspProtocol

log = logging.getLogger("monitor.simulator")

#: Cameras one process serves at most: two listening sockets each, plus room for the
#: connections of a monitor probing them, under the 20,000 descriptor hard limit.
PER_PROCESS = 8000
BACKLOG = 64
FLAP_CHECK = 1.0  # seconds between checks of flapping cameras' listeners
SWEEP_EVERY = 15.0  # seconds between idle-connection sweeps
WORKER_START_TIMEOUT = 300.0


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


async def listen(ip: str, port: int, factory) -> asyncio.AbstractServer:
    """A listener on (ip, port).  The socket is made here, not by create_server, so that a
    literal address costs no resolver round trip (a hundred thousand of them at start)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
        return await asyncio.get_running_loop().create_server(factory, sock=sock)
    except BaseException:
        sock.close()
        raise


class CameraHost:
    """The cameras served by this process: their listeners, flapping, idle sweeps."""

    def __init__(self, cameras: list[SimCamera], ctx: SimContext) -> None:
        self.ctx = ctx
        self.cameras = {c.id: c for c in cameras}
        self.servers: dict[str, list[asyncio.AbstractServer]] = {}
        self.lock = asyncio.Lock()
        self.task: asyncio.Task | None = None
        self.failing: set[str] = set()  # cameras whose listeners could not be reopened

    async def start(self) -> None:
        async with self.lock:
            for cam in self.cameras.values():
                if not camera_down(cam, self.ctx.flap_period):
                    await self._open(cam)
        self.task = asyncio.create_task(self._housekeeping())

    async def _open(self, cam: SimCamera) -> None:
        ctx = self.ctx
        rtsp = await listen(cam.ip, cam.rtsp_port, functools.partial(RtspProtocol, ctx, cam))
        try:
            http = await listen(cam.ip, cam.http_port, functools.partial(HttpProtocol, ctx, cam))
        except BaseException:
            rtsp.close()
            raise
        self.servers[cam.id] = [rtsp, http]

    def _close(self, cam: SimCamera) -> None:
        for s in self.servers.pop(cam.id, ()):
            s.close()
        self.ctx.abort_where(lambda c: c.owner is cam)

    async def reconcile(self, cam: SimCamera) -> None:
        """Open or close the camera's listeners to match its fault now."""
        want = not camera_down(cam, self.ctx.flap_period)
        have = cam.id in self.servers
        if want and not have:
            try:
                await self._open(cam)
            except OSError as exc:
                if cam.id not in self.failing:  # log on change only: this is retried each second
                    self.failing.add(cam.id)
                    log.error("camera %s: cannot listen on %s: %s", cam.id, cam.ip, exc.strerror)
            else:
                if cam.id in self.failing:
                    self.failing.discard(cam.id)
                    log.info("camera %s: listening again", cam.id)
        elif have and not want:
            self._close(cam)

    async def set_fault(self, camera_id: str, fault: str) -> None:
        cam = self.cameras[camera_id]
        async with self.lock:
            cam.fault = fault
            # Connections opened under the old behaviour would keep it: drop them.
            self.ctx.abort_where(lambda c: c.owner is cam)
            await self.reconcile(cam)

    async def _housekeeping(self) -> None:
        last_sweep = time.monotonic()
        while True:
            await asyncio.sleep(FLAP_CHECK)
            async with self.lock:
                for cam in self.cameras.values():
                    if cam.fault == "flapping" or (cam.fault != "down") != (cam.id in self.servers):
                        await self.reconcile(cam)
            now = time.monotonic()
            if now - last_sweep >= SWEEP_EVERY:
                last_sweep = now
                self.ctx.sweep_idle(now)

    def listening(self) -> int:
        return len(self.servers)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for cam_id in list(self.servers):
            for s in self.servers.pop(cam_id):
                s.close()
        self.ctx.abort_where(lambda c: True)
        self.ctx.streamer.close()


# --------------------------------------------------------------------------- workers


def _worker_main(fleet: SimFleet, conn, log_level: str) -> None:
    """Entry point of a worker process (multiprocessing spawn)."""
    # Ctrl-C and a group-wide SIGTERM reach us too: the parent stops us over the pipe, and
    # its end of the pipe closing (the parent killed outright) stops us as well.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s simulator-worker: %(message)s")
    raise_fd_limit()
    _run(_worker(fleet, conn))


async def _worker(fleet: SimFleet, conn) -> None:
    loop = asyncio.get_running_loop()
    ctx = SimContext.for_fleet(fleet)
    host = CameraHost(fleet.cameras, ctx)
    try:
        await host.start()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails loudly
        conn.send(("error", f"{exc.__class__.__name__}: {exc}"))
        return
    from . import media

    media.snapshots()  # render before the first request, not during it
    stop = asyncio.Event()

    def on_command() -> None:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            stop.set()  # the parent is gone
            return
        if msg[0] == "fault":
            loop.create_task(host.set_fault(msg[1], msg[2]))
        elif msg[0] == "stop":
            stop.set()

    loop.add_reader(conn.fileno(), on_command)
    conn.send(("ready", len(fleet.cameras)))
    try:
        await stop.wait()
    finally:
        loop.remove_reader(conn.fileno())
        host.close()


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, index: int, fleet: SimFleet, log_level: str) -> None:
        mp = multiprocessing.get_context("spawn")
        self.index = index
        self.camera_ids = {c.id for c in fleet.cameras}
        self.conn, child = mp.Pipe()
        self.process = mp.Process(target=_worker_main, args=(fleet, child, log_level),
                                  name=f"cctv-sim-worker-{index}", daemon=True)
        self.process.start()
        child.close()
        self.died = asyncio.Event()

    async def ready(self) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def on_message() -> None:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                loop.remove_reader(self.conn.fileno())
                if not fut.done():
                    fut.set_exception(RuntimeError(f"simulator worker {self.index} exited"))
                self.died.set()
                return
            if not fut.done():
                if msg[0] == "ready":
                    fut.set_result(msg[1])
                else:
                    fut.set_exception(RuntimeError(f"simulator worker {self.index}: {msg[1]}"))

        loop.add_reader(self.conn.fileno(), on_message)
        await asyncio.wait_for(fut, WORKER_START_TIMEOUT)

    def send(self, *msg: Any) -> None:
        try:
            self.conn.send(msg)
        except (OSError, ValueError):
            pass

    def stop(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
        except (RuntimeError, ValueError, OSError):
            pass
        self.send("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()  # it ignores SIGTERM (see _worker_main)
            self.process.join(2)
        self.conn.close()


# --------------------------------------------------------------------------- the simulator


class Simulator:
    """Everything one `simulate` serves.  `start()`, then `stop()`."""

    def __init__(self, fleet: SimFleet, control: tuple[str, int] | None = ("127.0.0.1", 9880),
                 threshold: int = PER_PROCESS, workers: int | None = None, log_level: str = "info") -> None:
        self.fleet = fleet
        self.control = control
        self.threshold = max(1, threshold)
        self.workers_wanted = workers
        self.log_level = log_level
        self.cameras = {c.id: c for c in fleet.cameras}
        if len(self.cameras) != len(fleet.cameras):
            raise ValueError("camera ids are not unique")
        self.ctx = SimContext.for_fleet(fleet)
        self.host: CameraHost | None = None
        self.workers: list[Worker] = []
        self.worker_of: dict[str, Worker] = {}
        self.integrations: dict[str, IntegrationServer] = {}
        self.runner = None
        self.control_url = ""
        self.started = 0.0

    def _worker_count(self) -> int:
        n = len(self.fleet.cameras)
        if self.workers_wanted is not None:
            return max(0, min(self.workers_wanted, n))
        return 0 if n <= self.threshold else math.ceil(n / self.threshold)

    async def start(self) -> None:
        t0 = time.monotonic()
        raise_fd_limit()
        count = self._worker_count()
        try:
            if count == 0:
                self.host = CameraHost(self.fleet.cameras, self.ctx)
                await self.host.start()
            else:
                await self._start_workers(count)
            for integration in self.fleet.integrations:
                server = IntegrationServer(integration, self.cameras, self.ctx, listen)
                await server.start()
                self.integrations[integration.name] = server
            if self.control is not None:
                await self._start_control()
        except BaseException:
            await self.stop()
            raise
        from . import media

        media.snapshots()
        self.started = time.monotonic() - t0
        log.info("serving %d cameras (%d worker processes) in %.1f s", len(self.cameras),
                 len(self.workers), self.started)

    async def _start_workers(self, count: int) -> None:
        # Worker copies are separate objects: the main process keeps its own for the relays
        # and the control API, and forwards fault changes.
        for k in range(count):
            part = [replace(c) for c in self.fleet.cameras[k::count]]
            sub = replace(self.fleet, cameras=part, providers=[], integrations=[])
            worker = Worker(k, sub, self.log_level)
            self.workers.append(worker)
            for cam in part:
                self.worker_of[cam.id] = worker
        await asyncio.gather(*(w.ready() for w in self.workers))

    async def wait(self) -> None:
        """Until cancelled, or a worker dies (then raise: half a fleet is no fleet)."""
        if not self.workers:
            await asyncio.Event().wait()
        waits = [asyncio.create_task(w.died.wait()) for w in self.workers]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waits:
                t.cancel()
        dead = [w.index for w in self.workers if w.died.is_set()]
        raise RuntimeError(f"simulator worker(s) {dead} exited")

    async def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()
        for server in self.integrations.values():
            server.close()
        self.integrations.clear()
        if self.host is not None:
            self.host.close()
            self.host = None
        workers, self.workers = self.workers, []
        if workers:
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(None, w.stop) for w in workers))
        self.ctx.abort_where(lambda c: True)
        self.ctx.streamer.close()

    # -- run-time changes

    async def set_fault(self, camera_id: str, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        cam = self.cameras[camera_id]
        old = cam.fault
        if self.host is not None:
            await self.host.set_fault(camera_id, fault)
        else:
            cam.fault = fault
            self.worker_of[camera_id].send("fault", camera_id, fault)
        if old != fault:
            log.info("camera %s: fault %s -> %s", camera_id, old, fault)

    async def set_link(self, integration: str, link: str, cut: bool) -> bool:
        server = self.integrations.get(integration)
        if server is None:
            return False
        return await server.set_link(link, cut)

    def state(self) -> dict[str, Any]:
        faults: dict[str, int] = {}
        for cam in self.cameras.values():
            faults[cam.fault] = faults.get(cam.fault, 0) + 1
        return {
            "cameras": len(self.cameras),
            "faults": faults,
            "workers": len(self.workers),
            "listening": self.host.listening() if self.host is not None else None,
            "startup_seconds": round(self.started, 3),
            "integrations": [s.state() for s in self.integrations.values()],
            "links": [
                {"integration": s.name, **link}
                for s in self.integrations.values() for link in s.state()["links"]
            ],
        }

    # -- control API

    async def _start_control(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/control/state", self._h_state)
        app.router.add_get("/control/cameras/{id}", self._h_camera)
        app.router.add_post("/control/cameras/{id}/fault/{fault}", self._h_fault)
        app.router.add_post("/control/cameras/{id}/fault", self._h_fault)
        app.router.add_post("/control/links/{integration}/{link}/{action}", self._h_link)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = self.control  # type: ignore[misc]
        site = web.TCPSite(runner, host, port)
        await site.start()
        self.runner = runner
        bound = runner.addresses[0]
        self.control_url = f"http://{bound[0]}:{bound[1]}"

    async def _h_state(self, request):
        from aiohttp import web

        return web.json_response(self.state())

    async def _h_camera(self, request):
        from aiohttp import web

        cam = self.cameras.get(request.match_info["id"])
        if cam is None:
            return web.json_response({"error": "no such camera"}, status=404)
        return web.json_response({
            "id": cam.id, "ip": cam.ip, "rtsp_port": cam.rtsp_port, "http_port": cam.http_port,
            "fault": cam.fault, "integrations": list(cam.integrations),
            "down_now": camera_down(cam, self.fleet.flap_period),
        })

    async def _h_fault(self, request):
        from aiohttp import web

        camera_id = request.match_info["id"]
        fault = request.match_info.get("fault")
        if fault is None:
            try:
                body = await request.json()
                fault = body["fault"]
            except (ValueError, KeyError, TypeError):
                return web.json_response({"error": 'expected JSON {"fault": NAME}'}, status=400)
        if camera_id not in self.cameras:
            return web.json_response({"error": "no such camera"}, status=404)
        if fault not in FAULTS:
            return web.json_response({"error": f"unknown fault {fault!r}", "faults": list(FAULTS)}, status=400)
        await self.set_fault(camera_id, fault)
        return web.json_response({"id": camera_id, "fault": fault})

    async def _h_link(self, request):
        from aiohttp import web

        action = request.match_info["action"]
        if action not in ("cut", "restore"):
            return web.json_response({"error": "action is cut or restore"}, status=404)
        integration, link = request.match_info["integration"], request.match_info["link"]
        if not await self.set_link(integration, link, action == "cut"):
            return web.json_response({"error": "no such integration or link"}, status=404)
        return web.json_response({"integration": integration, "link": link,
                                  "state": "cut" if action == "cut" else "up"})


async def serve(fleet: SimFleet, control: tuple[str, int] | None = ("127.0.0.1", 9880),
                ready: asyncio.Event | None = None, threshold: int = PER_PROCESS,
                workers: int | None = None, simulator: list | None = None) -> None:
    """Serve `fleet` until cancelled.  `ready` is set when every listener is up; pass a list
    as `simulator` to get the running `Simulator` appended to it (cut links, set faults)."""
    sim = Simulator(fleet, control, threshold=threshold, workers=workers)
    await sim.start()
    if simulator is not None:
        simulator.append(sim)
    try:
        if ready is not None:
            ready.set()
        await sim.wait()
    finally:
        await sim.stop()


# --------------------------------------------------------------------------- command line


def _run(coro) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--control: expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def die_with_parent(pid_text: str | None) -> None:
    """SIGTERM to this process when the parent named by `PARENT_ENV` dies, even by kill -9
    (Linux's parent-death signal).  Set here, at start, and not by the parent between fork
    and exec: Python code there hangs when the parent has threads.  A parent that is
    already gone before the signal was asked for is seen through getppid, and ends us too."""
    if not pid_text or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no libc prctl: best effort, as on other systems
        return
    if str(os.getppid()) != pid_text.strip():
        os.kill(os.getpid(), signal.SIGTERM)


def main(args) -> int:
    """`cctv-monitor simulate`: build the fleet, write its config if asked, serve until
    SIGINT/SIGTERM.  Prints `READY cameras=N control=URL` once every listener is up."""
    from . import fleet as simfleet

    die_with_parent(os.environ.get(simfleet.PARENT_ENV))
    level = str(getattr(args, "log_level", "info") or "info")
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s simulator: %(message)s")
    try:
        control = _parse_hostport(getattr(args, "control", None) or "127.0.0.1:9880")
        fleet = simfleet.build_fleet(cameras=args.cameras, seed=args.seed,
                                     faults=simfleet.parse_fault_mix(getattr(args, "faults", None)))
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "write_config", None):
        simfleet.write_config(fleet, args.write_config)
        log.info("wrote the monitor configuration to %s", args.write_config)
    return run_fleet(fleet, control, getattr(args, "workers", None), level)


def run_fleet(fleet: SimFleet, control: tuple[str, int], workers: int | None = None,
              log_level: str = "info") -> int:
    """Serve an already built fleet until SIGINT/SIGTERM (the body of `simulate`; the
    benchmarks call it with fleets on other addresses)."""
    limit = raise_fd_limit()
    log.debug("file descriptor limit %d", limit)

    async def run() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sim = Simulator(fleet, control, workers=workers, log_level=log_level)
        try:
            await sim.start()
        except (OSError, RuntimeError) as exc:
            print(f"simulate: cannot serve the fleet: {exc}", file=sys.stderr)
            return 1
        print(f"READY cameras={len(fleet.cameras)} control={sim.control_url}", flush=True)
        waiter = asyncio.create_task(sim.wait())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()
            await sim.stop()
        if not stop.is_set() and waiter.done() and not waiter.cancelled() and waiter.exception() is not None:
            log.error("%s", waiter.exception())
            return 1
        return 0

    return _run(run())
