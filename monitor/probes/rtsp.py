"""The `rtsp` check (also `feed`): OPTIONS, then DESCRIBE on the same connection, answered
200 with an SDP that has a video track.

Detail: codec, width/height (SDP attributes or the H.264/H.265 SPS), the auth scheme used
and the last status.  `describe()` is shared with the stream check.
"""

from __future__ import annotations

from ..model import Detail, Endpoint, ProbeContext, Reason, Result
from . import sdp as sdp_mod
from .base import ProbeError
from .rtsp_client import RtspClient

_ACCEPT_SDP = {"Accept": "application/sdp"}


async def describe(client: RtspClient) -> tuple[sdp_mod.Sdp, str]:
    """DESCRIBE and parse the SDP; returns (sdp, base URL for relative control URLs)."""
    resp = await client.request("DESCRIBE", headers=_ACCEPT_SDP)
    ctype = (resp.get("content-type") or "").split(";")[0].strip().lower()
    if ctype and ctype != "application/sdp":
        raise ProbeError(Reason.BAD_RESPONSE, f"DESCRIBE answered {ctype}, not application/sdp")
    try:
        text = resp.body.decode("utf-8", errors="replace")
        parsed = sdp_mod.parse(text)
    except sdp_mod.SdpError as exc:
        raise ProbeError(Reason.BAD_RESPONSE, f"DESCRIBE: {exc}") from None
    if client.trace is not None:
        client.trace.append(parsed.summary())
    base = resp.get("content-base") or resp.get("content-location") or client.url
    return parsed, base


def video_detail(client: RtspClient, parsed: sdp_mod.Sdp) -> dict:
    video = parsed.video
    return {
        Detail.CODEC: video.codec if video else None,
        Detail.WIDTH: video.width if video else None,
        Detail.HEIGHT: video.height if video else None,
        Detail.AUTH: client.auth.scheme,
        Detail.STATUS: client.last_status,
        Detail.CLOCK_OFFSET: client.clock.offset,
        Detail.TLS_CERT_EXPIRY: client.cert_expiry,
    }


async def probe(endpoint: Endpoint, ctx: ProbeContext) -> Result:
    client = RtspClient(endpoint, ctx)
    try:
        try:
            await client.request("OPTIONS")
        except ProbeError:
            # Some encoders and relays answer OPTIONS with 405 or 501 yet serve DESCRIBE:
            # OPTIONS is a courtesy in RFC 2326, DESCRIBE with its SDP is the proof.
            if client.last_status not in (405, 501):
                raise
            if client.trace is not None:
                client.trace.append(f"OPTIONS not supported ({client.last_status}); going on to DESCRIBE")
        parsed, _ = await describe(client)
    finally:
        client.close()
    detail = video_detail(client, parsed)
    if parsed.video is None:
        return Result(Reason.NO_VIDEO, message="SDP has no video track", detail=detail,
                      phases=client.phases)
    message = f"{detail[Detail.CODEC] or 'video'}"
    if detail[Detail.WIDTH] and detail[Detail.HEIGHT]:
        message += f" {detail[Detail.WIDTH]}x{detail[Detail.HEIGHT]}"
    return Result(Reason.OK, message=message, detail=detail, phases=client.phases)
