"""The web endpoints: /metrics, /healthz and /readyz (also as /-/healthy and /-/ready, the
Prometheus components' names), /status, /api/cameras and POST /-/reload, as one aiohttp
application.

It owns HTTP concerns only (routing, query validation, caching of the status page, gzip
negotiation, error pages without tracebacks); the data comes from the State read API, the
exposition from `monitor.metrics.exporter`, the page from `monitor.web.status`, and a reload from the
`reload` callable the daemon hands in (the same one SIGHUP uses).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from ..checks import camera_clock
from ..metrics.exporter import CONTENT_TYPE, Exporter
from ..probes import evidence
from ..state import State
from ..state.uplink_cause import camera_cause
from .access import LOCAL, Principal, decide, principal_of
from .auth import USER
from .scoped import ProviderView
from .status import render as render_status

log = logging.getLogger("cctv.web")

#: reload() returns a JSON-able summary, or raises ReloadFailed with the config's errors.
Reload = Callable[[], Awaitable[dict[str, Any]]]

NO_STORE = {"Cache-Control": "no-store"}

STATE_KEY = web.AppKey("state", object)
EXPORTER_KEY = web.AppKey("exporter", object)
RELOAD_KEY = web.AppKey("reload", object)
STATUS_CACHE_KEY = web.AppKey("status_cache", dict)
PROBLEMS_KEY = web.AppKey("problems", object)
#: An optional callable returning lines /readyz reports without failing (the ledger's trouble).
NOTES_KEY = web.AppKey("notes", object)
#: An optional callable returning an HTML section for /status (the ledger's availability).
STATUS_EXTRA_KEY = web.AppKey("status_extra", object)


class ReloadFailed(Exception):
    """A reload that kept the old configuration; `errors` are safe to show to a client."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ConnectionResetError:
        # the client went away mid-answer: its business, not an error (aiohttp drops this
        # answer on the closed connection without a word)
        return web.Response(status=500, text="client gone\n", headers=NO_STORE)
    except Exception:  # noqa: BLE001 - the client gets a plain 500, the log gets the detail
        log.exception("%s %s failed", request.method, request.path)
        return web.Response(status=500, text="internal error\n", headers=NO_STORE)


async def metrics(request: web.Request) -> web.StreamResponse:
    exporter: Exporter = request.app[EXPORTER_KEY]  # type: ignore[assignment]
    gzip = "gzip" in request.headers.get("Accept-Encoding", "").lower()
    headers = {"Content-Type": CONTENT_TYPE, **NO_STORE}
    if gzip:
        body = await exporter.render(gzip=True)
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)
    chunks = await exporter.render_chunks_locked()
    # stream the chunks: joining a 100 MB exposition into one buffer first would hold the
    # event loop for a copy of all of it
    response = web.StreamResponse(headers=headers)
    response.content_length = sum(len(c) for c in chunks)
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n", headers=NO_STORE)


async def readyz(request: web.Request) -> web.Response:
    state: State = request.app[STATE_KEY]  # type: ignore[assignment]
    problems_fn = request.app[PROBLEMS_KEY]
    # the monitor's own trouble (descriptors run out): its probes are postponed, so what it
    # exports is not current; it is not a camera's outage either, so only readiness says so
    problems = problems_fn() if problems_fn is not None else []  # type: ignore[operator]
    if problems:
        return web.Response(status=503, text="not ready: " + "; ".join(problems) + "\n",
                            headers=NO_STORE)
    if state.ready:
        # The ledger not writing is said here but does not fail readiness: probing and
        # /metrics are intact, the rows are held, and an orchestrator taking the monitor out
        # of service (or restarting it) would not bring the database back.  The alerts on
        # the ledger's own metrics page someone (docs/runbooks/MonitorLedgerNotWriting.md).
        notes_fn = request.app.get(NOTES_KEY)
        notes = [n for n in notes_fn() if n] if notes_fn is not None else []  # type: ignore[operator]
        return web.Response(text="".join(f"{line}\n" for line in ["ready", *notes]),
                            headers=NO_STORE)
    return web.Response(status=503, text="not ready: first round in progress\n", headers=NO_STORE)


async def status(request: web.Request) -> web.Response:
    state: State = request.app[STATE_KEY]  # type: ignore[assignment]
    cache: dict = request.app[STATUS_CACHE_KEY]
    now = time.time()
    scope = principal(request).scope
    key = (id(state.inventory), state.generation, int(now // 5), scope)
    body = cache.get(key)
    if body is None:
        extra = request.app.get(STATUS_EXTRA_KEY)
        if scope is None:
            body = render_status(state, now, extra() if extra is not None else "")
        else:
            # a provider's page: its cameras only, no other provider's name or figure
            body = render_status(ProviderView(state, scope), now,
                                 extra(scope) if extra is not None else "")
        if len(cache) > 64:
            cache.clear()
        cache[key] = body
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=NO_STORE)


_API_PARAMS = ("provider", "district", "zone", "down")
_BOOL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400, headers=NO_STORE)


def camera_json(cs: Any, devices: Any = None, links: Any = None) -> dict[str, Any]:
    """One camera of /api/cameras; `links` (State.links) decides its cause (model.Cause)."""
    cam = cs.camera
    clock = camera_clock(cs.results)
    out = {
        "id": cam.id,
        "name": cam.name,
        "provider": cam.provider,
        "district": cam.district,
        "zone": cam.zone,
        "up": cs.up,
        "reason": cs.reason.value if cs.reason is not None else None,
        "failed_check": cs.failed_check,
        "cause": camera_cause(cs, links or {}),
        "since": round(cs.since, 3),
        "checks": {
            check: {"reason": r.reason.value, "duration": round(r.duration, 6)}
            for check, r in cs.results.items()
        },
        "feeds": {
            name: {"up": fs.up, "cause": fs.cause, "since": round(fs.since, 3)}
            for name, fs in cs.feeds.items()
        },
        # camera minus monitor (seconds) and where it was read: onvif, rtsp, http, stream
        "clock_offset": None if clock is None else clock[0],
        "clock_source": None if clock is None else clock[1],
        # what the camera showed when a picture verdict failed it (a small JPEG)
        "evidence": evidence.url(cam.id) if evidence.current(cs) is not None else None,
    }
    if devices is not None:
        identity = devices.identity(cam.id)
        if identity is not None:
            out["device"] = identity
            # other configured cameras whose device reports the same serial: one device
            # counted twice in the inventory
            out["duplicate_of"] = devices.duplicate_of(cam.id)
    return out


async def api_cameras(request: web.Request) -> web.Response:
    state: State = request.app[STATE_KEY]  # type: ignore[assignment]
    query = request.query
    for name in query:
        if name not in _API_PARAMS:
            return _bad_request(
                f"unknown query parameter {name!r}; allowed: {', '.join(_API_PARAMS)}"
            )
        if len(query.getall(name)) > 1:
            return _bad_request(f"query parameter {name!r} given more than once")
    down: bool | None = None
    if "down" in query:
        text = query["down"].strip().lower()
        if text not in _BOOL:
            return _bad_request("query parameter 'down' must be 1 or 0 (or true/false)")
        down = _BOOL[text]
    provider = query.get("provider")
    scope = principal(request).scope
    if scope is not None:
        if provider is not None and provider != scope:
            provider = "\0"  # another provider's cameras: none, as for an unknown name
        else:
            provider = scope
    district = query.get("district")
    zone = query.get("zone")
    parts: list[str] = []
    batch: list[dict[str, Any]] = []
    devices = state.devices
    if scope is not None and devices is not None:
        devices = ProviderView(state, scope).devices
    # encode in slices with a yield between them: 50,000 cameras are ~0.3 s of dict and JSON
    # work that must not hold the probe schedule in one piece
    for n, cs in enumerate(list(state.cameras.values()), 1):
        cam = cs.camera
        if (
            (provider is None or cam.provider == provider)
            and (district is None or cam.district == district)
            and (zone is None or cam.zone == zone)
            and (down is None or (cs.up is False) == down)
        ):
            batch.append(camera_json(cs, devices, state.links))
        if n % 2000 == 0:
            if batch:
                parts.append(json.dumps(batch, separators=(",", ":"))[1:-1])
                batch = []
            await asyncio.sleep(0)
    if batch:
        parts.append(json.dumps(batch, separators=(",", ":"))[1:-1])
    return web.Response(
        text="[" + ",".join(parts) + "]",
        content_type="application/json",
        headers=NO_STORE,
    )


async def api_evidence(request: web.Request) -> web.Response:
    """The evidence thumbnail of a camera down for a picture verdict (`evidence.current`)."""
    state: State = request.app[STATE_KEY]  # type: ignore[assignment]
    cs = state.cameras.get(request.match_info["camera"])
    if cs is not None and not principal(request).sees(cs.camera.provider):
        cs = None  # another provider's camera: answered as one without a picture
    jpeg = evidence.current(cs) if cs is not None else None
    if jpeg is None:
        return web.Response(status=404, text="no evidence picture for this camera now\n",
                            headers=NO_STORE)
    return web.Response(body=jpeg, content_type="image/jpeg", headers=NO_STORE)


async def api_camera(request: web.Request) -> web.Response:
    """One camera by id; another provider's camera is answered as one that does not exist."""
    state: State = request.app[STATE_KEY]  # type: ignore[assignment]
    cs = state.cameras.get(request.match_info["camera"])
    if cs is None or not principal(request).sees(cs.camera.provider):
        return web.json_response({"error": "no such camera"}, status=404, headers=NO_STORE)
    scope = principal(request).scope
    devices = getattr(state, "devices", None) if scope is None else ProviderView(state, scope).devices
    return web.json_response(camera_json(cs, devices), headers=NO_STORE)


#: Content types a browser may send cross-origin without a preflight ("simple requests"):
#: a reload carrying one of them may come from a hostile page, so it is refused.
_SIMPLE_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


def _cross_origin(request: web.Request) -> str | None:
    """Why a reload request looks like it came from a web page of another site, if it does."""
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("Origin")
    if origin is not None:
        host = request.headers.get("Host", "")
        if origin.lower() == "null" or origin.split("://", 1)[-1].lower() != host.lower():
            return "Origin is not this server"
    ctype = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if ctype in _SIMPLE_TYPES:
        return f"Content-Type {ctype} (send none, or application/json)"
    return None


async def reload(request: web.Request) -> web.Response:
    reload_fn: Reload | None = request.app[RELOAD_KEY]  # type: ignore[assignment]
    if reload_fn is None:
        return web.json_response({"status": "error", "errors": ["reload is disabled"]},
                                 status=403, headers=NO_STORE)
    why = _cross_origin(request)
    if why is not None:
        log.warning("reload request refused: looks cross-origin (%s)", why)
        return web.json_response({"status": "error", "errors": [f"refused: {why}"]},
                                 status=403, headers=NO_STORE)
    force = request.query.get("force", "").strip().lower() in ("1", "true", "yes")
    try:
        summary = await (reload_fn(force=True) if force else reload_fn())  # type: ignore[call-arg]
    except ReloadFailed as exc:
        return web.json_response({"status": "error", "errors": exc.errors}, status=400,
                                 headers=NO_STORE)
    return web.json_response({"status": "ok", **summary}, headers=NO_STORE)


def make_app(state: State, exporter: Exporter, reload_fn: Reload | None = None,
             problems: Callable[[], list[str]] | None = None,
             notes: Callable[[], list[str]] | None = None) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
    app[PROBLEMS_KEY] = problems
    app[NOTES_KEY] = notes
    app[STATE_KEY] = state
    app[EXPORTER_KEY] = exporter
    app[RELOAD_KEY] = reload_fn
    app[STATUS_CACHE_KEY] = {}
    # every route is named: the name is what monitor.web.access.decide answers for
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="ready")
    # the same two answers where Prometheus, Alertmanager and their probes look for them
    app.router.add_get("/-/healthy", healthz, name="healthy")
    app.router.add_get("/-/ready", readyz, name="ready_prom")
    app.router.add_get("/status", status, name="status")
    app.router.add_get("/api/cameras", api_cameras, name="api_cameras")
    app.router.add_get("/api/cameras/{camera}", api_camera, name="api_camera")
    app.router.add_get("/api/cameras/{camera}/evidence.jpg", api_evidence, name="api_evidence")
    app.router.add_post("/-/reload", reload, name="reload")
    app.router.add_get("/", _index, name="index")
    app.middlewares.append(_access)
    return app


def principal(request: web.Request) -> Principal:
    """Who is asking (set by the access middleware; LOCAL without authentication)."""
    return request.get(PRINCIPAL, LOCAL)


PRINCIPAL = web.RequestKey("principal", Principal)


@web.middleware
async def _access(request: web.Request, handler):
    """Every request's one access decision (monitor.web.access.decide), by route name."""
    route = request.match_info.route
    name = getattr(route, "name", None)
    if name is None:  # aiohttp's own 404/405 answers: nothing to decide
        return await handler(request)
    state: State = request.app[STATE_KEY]  # type: ignore[assignment]
    who = principal_of(request.get(USER), state.inventory.access)
    status = decide(who, name)
    if status:
        return web.Response(status=status, text="forbidden\n" if status == 403 else "not found\n",
                            headers=NO_STORE)
    request[PRINCIPAL] = who
    return await handler(request)


async def _index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/status")

