"""The `stream` check: proof that video flows, without decoding it.

DESCRIBE, SETUP of the first video track with RTP interleaved on the RTSP connection
(``RTP/AVP/TCP;unicast;interleaved=0-1``; on ``461 Unsupported Transport`` RTP over a UDP
port pair instead), PLAY, then media is read until
``min(start + ctx.stream_duration, ctx.deadline - 0.25 s)``, then a best-effort TEARDOWN
that never waits past the deadline.  RTP is validated (version 2, the SDP's payload type,
sequence numbers and timestamps advancing) and keyframes are recognised from NAL unit
types (`monitor.probes.rtp`).

Verdicts: ``ok`` when packets flowed, timestamps advanced and a keyframe was seen;
``no_video`` when no media packet came, no keyframe came, the timestamps stood still or
the stream stalled and stayed silent (no packet in the last ``STALL_AFTER`` seconds of the
window, or in its last half if that is shorter, and none in the ``STALL_GRACE`` seconds
the check then keeps watching) or the camera closed the session early; ``bad_response``
when packets came but none was valid RTP; any reason of the rtsp check for the exchanges.
Detail: packets, fps (marker-bit frames over the RTP timestamp span), bytes_per_second
(payload), keyframe_interval, transport, codec, width, height, lost, stalls (silences of
more than ``STALL_AFTER`` seconds between packets, the one that resumed in the grace
included) and longest_gap (seconds, the longest silence between packets).

A stalled stream is watched a little longer before it is called ``no_video``: real servers
pause about two seconds at the loop point of their source, relays while they reconnect
upstream, and a 4 s window ending in such a pause would declare a live camera down.  The
grace is bounded by ``STALL_GRACE`` and by the check's deadline.

Keyframes: H.264 and H.265 keyframes are reassembled as they pass
(`monitor.probes.keyframe`): the first of the window and the last three are handed back in
``Result.keyframes`` for the picture analysis that runs after the probe, off the event
loop (`monitor.probes.picture`: black, uniform and frozen pictures).

Decision: our own lean client rather than ``aiortsp`` (LGPL-3.0).  Reading aiortsp's
source (marss/aiortsp: rtsp/connection.py, rtsp/parser.py, rtsp/auth/digest.py) against
what this check needs:
(1) the caller's single deadline bounding every phase, the media window and TEARDOWN
included: in the version read, aiortsp wraps its connect and each request in its own ``wait_for`` (10 s by
default), a second clock to keep in step with ours;
(2) Digest with qop=auth, SHA-256 chosen over MD5, and one retry on ``stale=true``, shared
with the HTTP probe through `monitor.probes.auth`: aiortsp answers Digest in the RFC 2069
form without qop, takes the first Digest challenge offered, prefers Basic when both are
offered, and has no stale-nonce retry;
(3) bounded reads: aiortsp caps a body at 64 KiB but not the header block, and does not
reassemble a header line split across two reads, so a trickling camera reads as garbage;
(4) low CPU per check: the same Protocol-based parser serves the rtsp check thousands of
times a second (tests/bench/bench_rtsp_probe.py), and one client for both checks means one
set of reasons and one set of tests.
LGPL-3.0 would also have been a licence question for an Apache-2.0 package.  The cost is
ours to carry: RTSP is a small protocol, and the client is about 400 lines.
"""

from __future__ import annotations

import asyncio
import re
import time

from ..model import Detail, Endpoint, ProbeContext, Reason, Result
from .base import ProbeError
from .keyframe import KeyframeCollector, parameter_sets
from .rtp import RtpStats
from .rtsp import describe, video_detail
from .rtsp_client import RtspClient

#: Media reading stops this long before the caller's deadline, leaving time for TEARDOWN.
DEADLINE_MARGIN = 0.25
#: A window whose last packet is older than this (or half the window, if shorter) at its
#: end saw the stream stall.  1.5 s leaves room for 1 fps cameras.
STALL_AFTER = 1.5
#: A window ending in a stall keeps watching at most this long (and never past the
#: deadline) for the stream to resume; a pause of 2-3 s is not an outage.
STALL_GRACE = 3.0
#: Keyframes handed to the picture analysis: the window's first and its last three.  The
#: first is compared only with the previous check's first (a per-session encoder codes it
#: its own way), so the last three give the two comparisons that let one check already
#: see a frozen picture (frozen_after defaults to 3).
KEYFRAMES_KEPT = 4
#: TEARDOWN is polite, not needed: wait at most this long for its answer.
TEARDOWN_WAIT = 0.2

_INTERLEAVED = re.compile(r"interleaved=(\d+)(?:-(\d+))?")


def control_url(base: str, control: str | None) -> str:
    """RFC 2326 C.1.1 as cameras and players practise it: an absolute control URL is used
    as is, ``*`` or none means the base, anything else is appended to the base with a
    slash (urljoin would drop the base's last path segment, which cameras do not expect)."""
    if not control or control == "*":
        return base
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", control):
        return control
    return base + control if base.endswith("/") else f"{base}/{control}"


async def probe(endpoint: Endpoint, ctx: ProbeContext) -> Result:
    loop = asyncio.get_running_loop()
    start = loop.time()
    client = RtspClient(endpoint, ctx)
    try:
        return await _run(client, ctx, loop, start)
    finally:
        client.close()


async def _run(client: RtspClient, ctx: ProbeContext, loop: asyncio.AbstractEventLoop,
               start: float) -> Result:
    parsed, base = await describe(client)
    detail = video_detail(client, parsed)
    video = parsed.video
    if video is None:
        return Result(Reason.NO_VIDEO, message="SDP has no video track", detail=detail,
                      phases=client.phases)
    stats = RtpStats(video.payload_type, video.clock_rate, video.codec)
    collector = KeyframeCollector(video.codec, parameter_sets(video.codec, video.fmtp),
                                  KEYFRAMES_KEPT)
    if collector.supported:
        stats.collector = collector
    rtp_channel = 0
    gaps = Gaps()

    def on_frame(channel: int, packet: bytes) -> None:
        if channel == rtp_channel:
            gaps.arrived(loop.time())
            try:
                stats.feed(packet, loop.time())
            except (IndexError, ValueError):  # a mangled packet must not end the session
                stats.invalid += 1

    client.set_frame_sink(on_frame)
    track = control_url(base, video.control or parsed.control)
    transport = "tcp"
    try:
        resp = await client.request(
            "SETUP", track, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
    except ProbeError:
        if client.last_status != 461:
            raise
        transport = "udp"
        rtp_port, rtcp_port = await client.open_udp_pair()
        resp = await client.request(
            "SETUP", track, {"Transport": f"RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port}"}
        )
    session = resp.get("session")
    if session:
        client.session = session.split(";")[0].strip()
    if transport == "tcp":
        m = _INTERLEAVED.search(resp.get("transport") or "")
        if m:
            rtp_channel = int(m.group(1))
    play_url = control_url(base, parsed.control) if parsed.control else base
    await client.request("PLAY", play_url, {"Range": "npt=0.000-"})

    deadline = ctx.deadline
    if deadline <= start:
        # No deadline handed down (a caller outside run_probe): without this guard every
        # camera would read as no_video after a zero-length window.
        deadline = start + ctx.stream_duration + 2 * DEADLINE_MARGIN
    end = min(start + ctx.stream_duration, deadline - DEADLINE_MARGIN)
    proto = client.proto
    assert proto is not None
    remaining = end - loop.time()
    if remaining > 0:
        # A camera that ends the session early ends the window early: what came is judged.
        await asyncio.wait([proto.closed], timeout=remaining)
    window_end = loop.time()
    closed_early = proto.closed.done() and window_end < end - 0.05
    if gaps.last is not None and not proto.closed.done() \
            and window_end - gaps.last > min(STALL_AFTER, (window_end - start) / 2):
        # stalled at the end of the window: watch (bounded) whether it resumes
        grace_end = min(window_end + STALL_GRACE, deadline - DEADLINE_MARGIN)
        gaps.resumed = loop.create_future()
        if grace_end > window_end:
            await asyncio.wait([proto.closed, gaps.resumed], timeout=grace_end - window_end)
        window_end = loop.time()
    gaps.close(window_end)
    client.set_frame_sink(None)
    await _teardown(client, play_url, ctx, loop)

    detail.update({
        Detail.PACKETS: stats.packets,
        Detail.FPS: _round(stats.fps),
        Detail.BYTES_PER_SECOND: _round(stats.bytes_per_second),
        Detail.KEYFRAME_INTERVAL: _round(stats.keyframe_interval),
        Detail.TRANSPORT: transport,
        Detail.LOST: stats.lost,
        Detail.CLOCK_OFFSET: client.clock.offset,
        Detail.STALLS: gaps.stalls,
        Detail.LONGEST_GAP: None if gaps.last is None else round(gaps.longest, 3),
    })
    if client.trace is not None:
        client.trace.append(
            f"stream: {stats.packets} packets ({stats.lost} lost, {stats.invalid} invalid), "
            f"fps {_fmt(stats.fps)}, {_fmt_rate(stats.bytes_per_second)}, "
            f"keyframes {len(stats.keyframe_ts)} every {_fmt(stats.keyframe_interval)} s"
        )
    reason, message = _verdict(stats, window_end, window_end - start)
    if closed_early and reason is Reason.OK:
        reason, message = Reason.NO_VIDEO, (
            f"stream ended: the camera closed the connection after {window_end - start:.1f} s"
        )
    keyframes = collector.keyframes() if reason is Reason.OK and collector.supported else None
    if client.trace is not None and keyframes is not None:
        sizes = ", ".join(f"{len(k) // 1024} KiB" for k in keyframes) or "none"
        client.trace.append(f"keyframes kept for the picture: {len(keyframes)} ({sizes})")
    return Result(reason, message=message, detail=detail, phases=client.phases,
                  keyframes=keyframes)


class Gaps:
    """Silences between packets of the window: how many stalls, the longest gap, and the
    future the stall grace waits on."""

    __slots__ = ("last", "longest", "stalls", "resumed")

    def __init__(self) -> None:
        self.last: float | None = None
        self.longest = 0.0
        self.stalls = 0
        self.resumed: asyncio.Future | None = None

    def arrived(self, now: float) -> None:
        if self.last is not None:
            self._gap(now - self.last)
        self.last = now
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)

    def close(self, end: float) -> None:
        """The silence at the end of the window counts as a gap (a stall that never ended)."""
        if self.last is not None:
            self._gap(end - self.last)

    def _gap(self, gap: float) -> None:
        if gap > self.longest:
            self.longest = gap
        if gap > STALL_AFTER:
            self.stalls += 1


def _verdict(stats: RtpStats, window_end: float, window: float) -> tuple[Reason, str]:
    if stats.packets == 0:
        if stats.invalid:
            return Reason.BAD_RESPONSE, (
                f"{stats.invalid} RTP packets, none valid (version or payload type)"
            )
        return Reason.NO_VIDEO, f"no media packets in {window:.1f} s"
    if not stats.timestamps_advanced:
        return Reason.NO_VIDEO, f"RTP timestamps did not advance over {stats.packets} packets"
    assert stats.last_arrival is not None
    silent = window_end - stats.last_arrival
    if silent > min(STALL_AFTER, window / 2):
        return Reason.NO_VIDEO, f"stream stalled: no packet for the last {silent:.1f} s"
    if stats.keyframes_checked and not stats.keyframe_ts:
        return Reason.NO_VIDEO, f"no keyframe in {window:.1f} s ({stats.packets} packets)"
    if not stats.keyframes_checked:
        return Reason.OK, f"{stats.packets} packets; keyframes not checked for {stats.codec}"
    return Reason.OK, f"{stats.packets} packets, {_fmt(stats.fps)} fps"


async def _teardown(client: RtspClient, url: str, ctx: ProbeContext,
                    loop: asyncio.AbstractEventLoop) -> None:
    waiter = client.send_only("TEARDOWN", url)
    if waiter is None:
        return
    wait = TEARDOWN_WAIT
    if ctx.deadline > 0:
        wait = min(wait, ctx.deadline - loop.time() - 0.02)
    if wait <= 0:
        waiter.cancel()
        return
    sent = time.perf_counter()
    try:
        done, _ = await asyncio.wait([waiter], timeout=wait)
    finally:
        # cancelled here (shutdown, reload) or timed out: the answer no longer matters, and a
        # connection failing later must not leave "Future exception was never retrieved"
        if not waiter.done():
            waiter.cancel()
    if waiter.cancelled() or waiter.exception() is not None:
        return
    if client.trace is not None:
        resp = waiter.result()
        client.trace.append(
            f"< RTSP/1.0 {resp.status} {resp.phrase} ({(time.perf_counter() - sent) * 1000:.1f} ms)"
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _fmt_rate(bps: float | None) -> str:
    return "- bit/s" if bps is None else f"{bps * 8 / 1000:.0f} kbit/s"
