"""Keyframes out of an RTP video stream, as the decoder wants them: Annex B access units.

Owns `KeyframeCollector`: the stream check feeds it each valid RTP payload with its
timestamp and marker bit; it reassembles only the access units that start with a keyframe
NAL (H.264, RFC 6184: single NAL units, STAP-A, FU-A; H.265, RFC 7798: single, AP, FU),
prefixing each with the SDP's parameter sets (sprop-parameter-sets, sprop-vps/sps/pps)
so that a camera sending them only out of band still decodes.  Every other access unit is
skipped after one byte test, so the common packet costs nearly nothing.

It keeps the first complete keyframe of the window and the last ``keep - 1`` after it:
the first and last are the furthest apart in time, which is what a frozen-picture verdict
wants.  An access unit larger than ``max_bytes`` is dropped (memory bound per check).
Pure CPU, no I/O, no decoding (that is `monitor.probes.picture`).
"""

from __future__ import annotations

import base64
import binascii
from collections import deque

START = b"\x00\x00\x00\x01"
#: Big enough for a 4K intra frame at camera bitrates; beyond it the keyframe is not kept.
MAX_KEYFRAME_BYTES = 4 * 1024 * 1024


def parameter_sets(codec: str | None, fmtp: dict[str, str]) -> bytes:
    """The SDP's out-of-band parameter sets as Annex B, or b"" (bad base64 is ignored)."""
    if codec == "H264":
        names = ("sprop-parameter-sets",)
    elif codec in ("H265", "HEVC"):
        names = ("sprop-vps", "sprop-sps", "sprop-pps")
    else:
        return b""
    out = bytearray()
    for name in names:
        for part in (fmtp.get(name) or "").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                nal = base64.b64decode(part + "=" * (-len(part) % 4), validate=False)
            except (binascii.Error, ValueError):
                continue
            if nal:
                out += START + nal
    return bytes(out)


class KeyframeCollector:
    """Reassembles keyframe access units from RTP payloads (see the module docstring)."""

    __slots__ = ("codec", "prefix", "keep", "max_bytes", "first", "last", "dropped",
                 "_ts", "_au", "_fu", "_h265", "_slice", "_pending")

    def __init__(self, codec: str | None, prefix: bytes = b"", keep: int = 3,
                 max_bytes: int = MAX_KEYFRAME_BYTES) -> None:
        self.codec = codec
        self._h265 = codec in ("H265", "HEVC")
        self.prefix = prefix
        self.keep = max(1, keep)
        self.max_bytes = max_bytes
        self.first: bytes | None = None
        self.last: deque[bytes] = deque(maxlen=max(0, self.keep - 1))
        self.dropped = 0  # keyframes not kept: too large or cut short
        self._ts: int | None = None  # timestamp of the access unit being assembled
        self._au: bytearray | None = None
        self._fu = False  # inside a fragmented NAL unit
        self._slice = False  # the access unit holds a keyframe slice (not only parameter sets)
        self._pending = b""  # parameter sets that came in an access unit of their own

    @property
    def supported(self) -> bool:
        return self.codec in ("H264", "H265", "HEVC")

    def keyframes(self) -> list[bytes]:
        """The kept keyframes, oldest first."""
        out = [] if self.first is None else [self.first]
        out.extend(self.last)
        return out

    def feed(self, payload: bytes, ts: int, marker: bool, is_key: bool) -> None:
        au = self._au
        if au is not None and ts != self._ts:
            # A new timestamp without a marker on the previous packet: the camera did not
            # mark the end of the frame (or it was lost).  What came is complete NAL units
            # unless we are inside a fragment.
            self._finish()
            au = None
        if au is None:
            if not is_key:
                return
            au = self._au = bytearray(self.prefix)
            au += self._pending
            self._ts = ts
            self._fu = self._slice = False
        if self._h265:
            self._h265_payload(payload, au)
        else:
            self._h264_payload(payload, au)
        if len(au) > self.max_bytes:
            self.dropped += 1
            self._au = None
            return
        if marker:
            self._finish()

    def _finish(self) -> None:
        au, self._au = self._au, None
        if au is None:
            return
        if self._fu:  # the last fragment never came: the picture would decode half grey
            self.dropped += 1
            return
        if not self._slice:
            # Parameter sets sent under a timestamp of their own (some encoders do): they
            # belong to the keyframe that follows.
            self._pending = bytes(au[len(self.prefix):])[-65536:]
            return
        self._pending = b""
        frame = bytes(au)
        if self.first is None:
            self.first = frame
        elif self.keep > 1:
            self.last.append(frame)

    def _h264_payload(self, p: bytes, au: bytearray) -> None:
        if not p:
            return
        nal = p[0] & 0x1F
        if nal == 24:  # STAP-A
            self._aggregate(p, 1, au)
        elif nal == 28:  # FU-A
            if len(p) < 2:
                return
            fu = p[1]
            if fu & 0x80:
                au += START
                au.append((p[0] & 0xE0) | (fu & 0x1F))
                self._slice = self._slice or (fu & 0x1F) == 5
                self._fu = True
            elif not self._fu:
                return  # a middle fragment whose start we never saw
            au += p[2:]
            if fu & 0x40:
                self._fu = False
        elif 1 <= nal <= 23:
            au += START
            au += p
            self._slice = self._slice or nal == 5

    def _h265_payload(self, p: bytes, au: bytearray) -> None:
        if len(p) < 2:
            return
        nal = (p[0] >> 1) & 0x3F
        if nal == 48:  # AP
            self._aggregate(p, 2, au)
        elif nal == 49:  # FU
            if len(p) < 3:
                return
            fu = p[2]
            if fu & 0x80:
                au += START
                au.append((p[0] & 0x81) | ((fu & 0x3F) << 1))
                au.append(p[1])
                self._fu = True
                self._slice = self._slice or 16 <= (fu & 0x3F) <= 21
            elif not self._fu:
                return
            au += p[3:]
            if fu & 0x40:
                self._fu = False
        elif nal < 48:
            au += START
            au += p
            self._slice = self._slice or 16 <= nal <= 21

    def _aggregate(self, p: bytes, off: int, au: bytearray) -> None:
        n = len(p)
        while off + 2 <= n:
            size = (p[off] << 8) | p[off + 1]
            off += 2
            if size == 0 or off + size > n:
                break
            au += START
            au += p[off:off + size]
            if self._h265:
                self._slice = self._slice or 16 <= (p[off] >> 1) & 0x3F <= 21
            else:
                self._slice = self._slice or p[off] & 0x1F == 5
            off += size
