"""RTP (RFC 3550) accounting for the stream check: header validation, sequence and
timestamp progress, frame counting and keyframe detection without decoding.

Keyframes are found from NAL unit types alone: H.264 (RFC 6184) IDR, SPS or PPS, also
inside STAP-A aggregates and at the start of FU-A fragments; H.265 (RFC 7798) IRAP
pictures (types 16-21) or VPS/SPS/PPS, also inside AP aggregates and FU fragments.  In
MJPEG every frame stands alone.  Pure CPU, no I/O: the stream probe feeds packets in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_H264_KEY = frozenset({5, 7, 8})
_H265_KEY = frozenset({16, 17, 18, 19, 20, 21, 32, 33, 34})


def h264_is_key(p: bytes) -> bool:
    if not p:
        return False
    nal = p[0] & 0x1F
    if nal in _H264_KEY:
        return True
    if nal == 24:  # STAP-A: 16-bit size + NAL unit, repeated
        off, n = 1, len(p)
        while off + 2 < n:
            size = (p[off] << 8) | p[off + 1]
            if size == 0:
                break
            if p[off + 2] & 0x1F in _H264_KEY:
                return True
            off += 2 + size
        return False
    if nal == 28:  # FU-A: only the first fragment carries the NAL type worth counting
        return len(p) > 1 and bool(p[1] & 0x80) and (p[1] & 0x1F) in _H264_KEY
    return False


def h265_is_key(p: bytes) -> bool:
    if len(p) < 2:
        return False
    nal = (p[0] >> 1) & 0x3F
    if nal in _H265_KEY:
        return True
    if nal == 48:  # AP: 16-bit size + NAL unit, repeated (no DONL: sprop-max-don-diff=0)
        off, n = 2, len(p)
        while off + 2 < n:
            size = (p[off] << 8) | p[off + 1]
            if size == 0:
                break
            if (p[off + 2] >> 1) & 0x3F in _H265_KEY:
                return True
            off += 2 + size
        return False
    if nal == 49:  # FU: the FU header follows the 2-byte payload header
        return len(p) > 2 and bool(p[2] & 0x80) and (p[2] & 0x3F) in _H265_KEY
    return False


def _always(_p: bytes) -> bool:
    return True


#: codec name (SDP rtpmap) -> keyframe test on an RTP payload; absent: not checked.
KEYFRAME_TESTS = {"H264": h264_is_key, "H265": h265_is_key, "HEVC": h265_is_key, "JPEG": _always}


@dataclass(slots=True)
class RtpStats:
    """Counts what one stream check saw.  `feed(packet, now)` takes one RTP packet."""

    payload_type: int | None
    clock_rate: int = 90000
    codec: str | None = None
    packets: int = 0  # valid packets
    invalid: int = 0  # wrong version, wrong payload type, too short
    payload_bytes: int = 0
    lost: int = 0  # sequence numbers skipped
    reordered: int = 0  # late or duplicate sequence numbers
    frames: int = 0  # packets with the marker bit (one per video frame)
    first_ts: int | None = None
    last_ts: int | None = None  # extended (wrap-corrected) timestamps
    first_marker_ts: int | None = None
    last_marker_ts: int | None = None
    first_arrival: float | None = None
    last_arrival: float | None = None
    keyframe_ts: list[int] = field(default_factory=list)
    # monitor.probes.keyframe.KeyframeCollector when the caller wants the keyframes' bytes
    collector: Any = None
    _seq: int | None = None
    _ts32: int = 0

    def feed(self, pkt: bytes, now: float) -> None:
        n = len(pkt)
        if n < 12 or pkt[0] >> 6 != 2:
            self.invalid += 1
            return
        b0, b1 = pkt[0], pkt[1]
        pt = b1 & 0x7F
        if self.payload_type is not None and pt != self.payload_type:
            self.invalid += 1
            return
        off = 12 + 4 * (b0 & 0x0F)
        if b0 & 0x10:  # header extension
            if n < off + 4:
                self.invalid += 1
                return
            off += 4 + 4 * ((pkt[off + 2] << 8) | pkt[off + 3])
        end = n
        if b0 & 0x20 and n > off:  # padding: the last byte says how much
            end -= pkt[-1]
        if end < off:
            self.invalid += 1
            return
        seq = (pkt[2] << 8) | pkt[3]
        ts32 = int.from_bytes(pkt[4:8], "big")
        self.packets += 1
        self.payload_bytes += end - off
        if self.first_arrival is None:
            self.first_arrival = now
        self.last_arrival = now
        if self._seq is None:
            self._seq = seq
            self._ts32 = ts32
            ts = self.first_ts = self.last_ts = ts32
        else:
            delta = (seq - self._seq) & 0xFFFF
            if delta == 0 or delta >= 0x8000:
                self.reordered += 1
            else:
                self.lost += delta - 1
                self._seq = seq
            step = (ts32 - self._ts32) & 0xFFFFFFFF
            if step >= 0x80000000:
                step -= 0x100000000  # an older timestamp (B-frames, reordering)
            self._ts32 = ts32
            assert self.last_ts is not None
            ts = self.last_ts + step
            self.last_ts = ts
        if b1 & 0x80:
            self.frames += 1
            if self.first_marker_ts is None:
                self.first_marker_ts = ts
            self.last_marker_ts = ts
        test = KEYFRAME_TESTS.get(self.codec or "")
        payload = pkt[off:end] if test is not None and end > off else b""
        is_key = bool(payload) and test(payload)
        if is_key:
            if not self.keyframe_ts or self.keyframe_ts[-1] != ts:
                self.keyframe_ts.append(ts)
        if self.collector is not None and payload:
            self.collector.feed(payload, ts, bool(b1 & 0x80), is_key)

    # ----------------------------------------------------------------- measurements

    @property
    def keyframes_checked(self) -> bool:
        return (self.codec or "") in KEYFRAME_TESTS

    @property
    def timestamps_advanced(self) -> bool:
        return self.first_ts is not None and self.last_ts is not None and self.last_ts > self.first_ts

    @property
    def fps(self) -> float | None:
        if self.frames < 2 or self.first_marker_ts is None or self.last_marker_ts is None:
            return None
        span = (self.last_marker_ts - self.first_marker_ts) / self.clock_rate
        return (self.frames - 1) / span if span > 0 else None

    @property
    def bytes_per_second(self) -> float | None:
        if self.first_ts is None or self.last_ts is None or self.last_ts <= self.first_ts:
            return None
        return self.payload_bytes / ((self.last_ts - self.first_ts) / self.clock_rate)

    @property
    def keyframe_interval(self) -> float | None:
        ks = self.keyframe_ts
        if len(ks) < 2:
            return None
        return (ks[-1] - ks[0]) / (len(ks) - 1) / self.clock_rate
