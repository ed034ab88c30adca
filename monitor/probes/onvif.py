"""The `onvif` check: which device answers at a camera's address, and its clock.

Through onvif-zeep-async (the ONVIF client Home Assistant uses: zeep's SOAP stack on
aiohttp, the ONVIF WSDLs bundled) against the camera's device service (its ``onvif:``
URL, e.g. ``http://host:80/onvif/device_service``):

1. ``GetSystemDateAndTime``, without authentication as the ONVIF core specification
   allows: the camera's UTC clock.  ``clock_offset`` is camera minus monitor at the
   midpoint of the round trip, plus 0.5 s for the one-second resolution of the answer
   (as `monitor.probes.clock` does for Date headers).
2. ``GetDeviceInformation`` with a WS-Security UsernameToken (PasswordDigest) from the
   camera's credentials: manufacturer, model, firmware version, serial number and
   hardware id, in ``detail``.

Reasons: ``auth_required`` / ``auth_failed`` for the ``ter:NotAuthorized`` fault or an
HTTP 401 (without / with credentials), other HTTP statuses as every probe reads them
(`monitor.probes.status_codes`: 403 ``forbidden``, 404 ``not_found``, 5xx ``server_error``),
``bad_response`` for another SOAP fault or an answer that is not the device service's;
connection errors as every probe (`monitor.probes.base`).  The library keeps its own
aiohttp session per service: it is closed before the probe returns, whatever happens.

The WSDL is parsed once per process (about 0.1 s of CPU, in a worker thread, on the
first onvif check, which the others wait for); the checks run on their own hourly round
(``monitor.onvif.interval``).  CPU per check, both ends on one machine (the simulator's
device service included): 4.5 ms, 4.8x an http check (tests/bench/bench_onvif.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from typing import Any

from ..model import Endpoint, ProbeContext, Reason, Result
from ..resources import LocalResourceError, local_resource_kind
from .base import ProbeError, classify_exception
from .status_codes import reason_for_status
from .tcp import ssl_context

DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
#: Identity fields of GetDeviceInformation -> detail keys.
FIELDS = {"Manufacturer": "manufacturer", "Model": "model", "FirmwareVersion": "firmware",
          "SerialNumber": "serial", "HardwareId": "hardware_id"}
_MAX_FIELD = 128  # a label value from a device: bounded
# The library parses the WSDL on a service's first setup and caches it, but does not stop
# concurrent first setups from each parsing it: a thousand onvif checks due at once would
# each spend 0.1 s of CPU on it.  The first setup runs alone; the others wait for it.
_first_setup = asyncio.Lock()
_warm = False


def _quiet_library() -> None:
    # onvif.client calls logging.basicConfig at import and logs every retry at INFO; the
    # monitor logs state changes only.
    for name in ("onvif", "zeep", "zeep.client", "zeep.transports", "zeep.wsdl"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = "".join(ch for ch in str(value).strip() if ch.isprintable())
    return text[:_MAX_FIELD] or None


def _utc(answer: Any) -> float | None:
    """Epoch seconds of a GetSystemDateAndTime answer's UTCDateTime, or None."""
    try:
        utc = answer.UTCDateTime
        d, t = utc.Date, utc.Time
        return dt.datetime(int(d.Year), int(d.Month), int(d.Day), int(t.Hour), int(t.Minute),
                           int(t.Second), tzinfo=dt.timezone.utc).timestamp()
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def _map_error(exc: BaseException, has_credentials: bool) -> tuple[Reason, str]:
    from zeep.exceptions import Fault, TransportError

    if isinstance(exc, Fault):
        words = " ".join(str(x) for x in (exc.message, exc.code, exc.subcodes) if x)
        if "notauthorized" in words.replace(" ", "").lower() or "not authorized" in words.lower():
            if has_credentials:
                return Reason.AUTH_FAILED, "ONVIF: credentials refused (ter:NotAuthorized)"
            return Reason.AUTH_REQUIRED, "ONVIF: credentials required, none configured"
        return Reason.BAD_RESPONSE, f"ONVIF SOAP fault: {_text(exc.message) or 'unknown'}"
    if isinstance(exc, TransportError):
        status = exc.status_code
        if not status:
            return Reason.BAD_RESPONSE, "ONVIF: HTTP answer without a status"
        reason = reason_for_status(status, credentials=has_credentials)
        if reason is Reason.OK:  # a 2xx the SOAP layer could not read
            reason = Reason.BAD_RESPONSE
        if status == 401:
            message = ("ONVIF: 401 with the configured credentials" if has_credentials
                       else "ONVIF: 401, no credentials")
        elif reason is Reason.NOT_FOUND:
            message = "ONVIF: 404, no device service at this URL"
        else:
            message = f"ONVIF: HTTP {status}"
        return reason, message
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if isinstance(cause, OSError):
        return classify_exception(cause)
    reason, message = classify_exception(exc)
    if reason is Reason.BAD_RESPONSE and message == exc.__class__.__name__:
        message = f"ONVIF: not a device service answer ({exc.__class__.__name__})"
    return reason, message


def _load_library() -> Any:
    _quiet_library()
    import onvif.client

    return onvif.client


async def probe(endpoint: Endpoint, ctx: ProbeContext) -> Result:
    global _warm
    if not _warm:
        async with _first_setup:
            # importing zeep, lxml and the client takes about a second of CPU: in a thread,
            # so that the first onvif check does not stall every other check's schedule
            await asyncio.to_thread(_load_library)
    import onvif
    import onvif.client
    from onvif import ONVIFService

    wsdl = os.path.join(os.path.dirname(onvif.__file__), "wsdl", "devicemgmt.wsdl")
    creds = endpoint.credentials
    trace = ctx.trace
    start = time.perf_counter()
    # The library takes no TLS context of ours (onvif-zeep-async 4.3): it builds each
    # service's connector with its module's own no-verify context, which also allows legacy
    # renegotiation and every cipher of OpenSSL's DEFAULT list.  It reads that module global
    # when the service is built, just below: hand it the context every probe uses (TLS 1.2
    # minimum, ProbeContext.tls_verify; tests/test_probe_tls.py holds the library to it).
    onvif.client._NO_VERIFY_SSL_CONTEXT = ssl_context(ctx.tls_verify)
    service = ONVIFService(endpoint.url, creds.username if creds else None,
                           creds.password if creds else None, wsdl, encrypt=True,
                           no_cache=True, binding_name=DEVICE_BINDING)
    detail: dict[str, Any] = {"clock_offset": None}
    phases: dict[str, float] = {}
    try:
        if _warm:
            await service.setup()
        else:
            async with _first_setup:
                await service.setup()
                _warm = True
        if trace is not None:
            trace.append(f"> POST {endpoint.url} GetSystemDateAndTime (no authentication)")
        sent = time.time()
        t0 = time.perf_counter()
        answer = await service.authless_GetSystemDateAndTime()
        received = time.time()
        phases["first_byte"] = time.perf_counter() - t0
        camera = _utc(answer)
        if camera is not None:
            detail["clock_offset"] = round(camera + 0.5 - (sent + received) / 2, 3)
        if trace is not None:
            shown = ("no UTC time in the answer" if camera is None else
                     time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(camera)) +
                     f" (camera clock {detail['clock_offset']:+.1f} s, 1 s resolution)")
            trace.append(f"< {shown} ({(received - sent) * 1000:.1f} ms)")
            who = f"as {creds.username!r}" if creds else "without credentials"
            trace.append(f"> POST {endpoint.url} GetDeviceInformation "
                         f"(WS-UsernameToken digest {who})")
        if creds is not None:
            info = await service.GetDeviceInformation()
        else:  # no UsernameToken at all: the library's token needs a user
            info = await service.authless_GetDeviceInformation()
        for field, key in FIELDS.items():
            detail[key] = _text(getattr(info, field, None))
        if trace is not None:
            trace.append(f"< {detail['manufacturer']} {detail['model']}, firmware "
                         f"{detail['firmware']}, serial {detail['serial']}, hardware "
                         f"{detail['hardware_id']}")
    except ProbeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the probe contract: every error is a reason
        kind = local_resource_kind(exc)
        if kind is not None:  # out of descriptors here says nothing of the camera
            raise LocalResourceError(kind, exc.__class__.__name__) from None
        reason, message = _map_error(exc, creds is not None)
        if trace is not None:
            trace.append(f"< {reason.value}: {message}")
        phases["total"] = time.perf_counter() - start
        return Result(reason, message=message, detail=detail, phases=phases, trace=trace)
    finally:
        try:
            await service.close()
        except Exception:  # noqa: BLE001 - closing a broken session must not hide the verdict
            pass
    phases["total"] = time.perf_counter() - start
    if not detail.get("serial") and not detail.get("model"):
        return Result(Reason.BAD_RESPONSE, message="ONVIF: GetDeviceInformation without a "
                      "model or serial", detail=detail, phases=phases, trace=trace)
    message = f"{detail['manufacturer'] or '?'} {detail['model'] or '?'} ({detail['firmware'] or '?'})"
    return Result(Reason.OK, message=message, detail=detail, phases=phases, trace=trace)
