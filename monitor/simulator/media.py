"""The simulator's media: H.264 RTP packets from a committed clip, and JPEG snapshots.

Owns `CLIP` (the H.264 access units of assets/clip.h264 parsed at import, packetized once
per RFC 6184 into RTP payloads: STAP-A for the small parameter sets, single NAL units, FU-A
for NAL units over `MTU_PAYLOAD`), `KEYFRAMES` (alternative IDR frames from
assets/keyframes.h264, so that a live camera's keyframes change like a real one's), the SDP a camera answers DESCRIBE with, and the JPEG
pools (`snapshots()`): live-looking frames, black frames and what a frozen camera serves.

Everything expensive is done once per process: serving is a dictionary lookup and a
struct.pack per RTP packet, never encoding or rendering per request.
"""

from __future__ import annotations

import base64
import io
import random
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ASSETS = Path(__file__).with_name("assets")
CLIP_PATH = ASSETS / "clip.h264"
MTU_PAYLOAD = 1400  # RTP payload bytes; larger NAL units are fragmented with FU-A
CLOCK_RATE = 90000
PAYLOAD_TYPE = 96

NAL_SLICE, NAL_IDR, NAL_SEI, NAL_SPS, NAL_PPS, NAL_AUD = 1, 5, 6, 7, 8, 9


def split_annexb(data: bytes) -> list[bytes]:
    """Annex-B byte stream -> NAL units without start codes."""
    nals: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        end = len(data) if j < 0 else j
        nal = data[start:end]
        if j >= 0 and nal.endswith(b"\x00"):  # the leading zero of a 4-byte start code
            nal = nal[:-1]
        if nal:
            nals.append(nal)
        i = j
    return nals


def access_units(nals: list[bytes]) -> list[list[bytes]]:
    """Group NAL units into access units (frames): a new frame starts at a parameter set,
    or at a slice whose first_mb_in_slice is 0 (the first bit of its ue(v) is 1)."""
    frames: list[list[bytes]] = []
    current: list[bytes] = []
    have_slice = False
    for nal in nals:
        kind = nal[0] & 0x1F
        if kind in (NAL_SEI, NAL_AUD):
            continue  # encoder banners and delimiters: cameras do not send them
        starts = kind in (NAL_SPS, NAL_PPS) or (kind in (NAL_SLICE, NAL_IDR) and nal[1] & 0x80)
        if starts and have_slice:
            frames.append(current)
            current, have_slice = [], False
        current.append(nal)
        if kind in (NAL_SLICE, NAL_IDR):
            have_slice = True
    if current and have_slice:
        frames.append(current)
    return frames


def packetize(nals: list[bytes], mtu: int = MTU_PAYLOAD) -> list[bytes]:
    """RFC 6184 payloads for one access unit (packetization-mode=1): consecutive small NAL
    units go together in a STAP-A, a NAL unit over `mtu` is split into FU-A fragments."""
    out: list[bytes] = []
    pending: list[bytes] = []

    def flush() -> None:
        if len(pending) == 1:
            out.append(pending[0])
        elif pending:
            nri = max(n[0] & 0x60 for n in pending)
            out.append(bytes([nri | 24]) + b"".join(struct.pack(">H", len(n)) + n for n in pending))
        pending.clear()

    for nal in nals:
        if len(nal) > mtu:
            flush()
            header, body = nal[0], nal[1:]
            indicator = bytes([(header & 0xE0) | 28])
            kind = header & 0x1F
            step = mtu - 2
            for pos in range(0, len(body), step):
                fu = kind
                if pos == 0:
                    fu |= 0x80
                if pos + step >= len(body):
                    fu |= 0x40
                out.append(indicator + bytes([fu]) + body[pos : pos + step])
        else:
            # Aggregate only while the STAP-A stays under the MTU.
            size = 1 + sum(2 + len(n) for n in pending) + 2 + len(nal)
            if pending and size > mtu:
                flush()
            pending.append(nal)
    flush()
    return out


@dataclass(frozen=True, slots=True)
class Clip:
    width: int
    height: int
    fps: int
    sps: bytes
    pps: bytes
    frames: tuple[tuple[bytes, ...], ...]  # RTP payloads per frame; frame 0 is SPS+PPS+IDR
    keyframe: tuple[bool, ...]  # per frame: carries an IDR
    raw_bytes: int

    @property
    def frame_ticks(self) -> int:
        return CLOCK_RATE // self.fps

    @property
    def profile_level_id(self) -> str:
        return self.sps[1:4].hex()

    @property
    def sprop(self) -> str:
        return ",".join(base64.b64encode(p).decode("ascii") for p in (self.sps, self.pps))

    def sdp(self, host: str, session_id: int) -> bytes:
        """The SDP a camera answers DESCRIBE with: one H.264 video track."""
        template = _SDP_TEMPLATES.get(id(self))
        if template is None:
            template = _SDP_TEMPLATES[id(self)] = self.sdp_template()
        return template.replace("@HOST@", host).replace("@SID@", str(session_id)).encode("ascii")

    def sdp_template(self) -> str:
        host, session_id = "@HOST@", "@SID@"
        lines = [
            "v=0",
            f"o=- {session_id} 1 IN IP4 {host}",
            "s=Media Presentation",
            "e=NONE",
            "b=AS:5050",
            "t=0 0",
            "a=control:*",
            "a=range:npt=now-",
            "m=video 0 RTP/AVP 96",
            f"c=IN IP4 {host}",
            "b=AS:5000",
            "a=recvonly",
            f"a=x-dimensions:{self.width},{self.height}",
            "a=control:trackID=1",
            f"a=rtpmap:{PAYLOAD_TYPE} H264/{CLOCK_RATE}",
            f"a=fmtp:{PAYLOAD_TYPE} profile-level-id={self.profile_level_id};"
            f"packetization-mode=1;sprop-parameter-sets={self.sprop}",
            f"a=framesize:{PAYLOAD_TYPE} {self.width}-{self.height}",
            f"a=framerate:{self.fps}",
        ]
        return "\r\n".join(lines) + "\r\n"


_SDP_TEMPLATES: dict[int, str] = {}  # id(clip) -> SDP with placeholders (one clip per process)


class _Bits:
    """Exp-Golomb reader, just enough of the SPS to learn the picture size."""

    def __init__(self, data: bytes) -> None:
        # Drop emulation-prevention bytes (00 00 03 -> 00 00).
        self.data = data.replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        v = self.ue()
        return (v + 1) // 2 if v & 1 else -(v // 2)


def sps_size(sps: bytes) -> tuple[int, int]:
    """(width, height) from an SPS, cropping applied."""
    r = _Bits(sps[1:])
    profile = r.bits(8)
    r.bits(16)  # constraint flags, level
    r.ue()  # seq_parameter_set_id
    chroma = 1
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma = r.ue()
        if chroma == 3:
            r.bit()
        r.ue()
        r.ue()
        r.bit()
        if r.bit():  # scaling matrices: not produced by our encoder settings
            raise ValueError("SPS scaling matrices not supported")
    r.ue()  # log2_max_frame_num
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.bit()
    mbs_w = r.ue() + 1
    map_units_h = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()
    r.bit()  # direct_8x8_inference
    width, height = mbs_w * 16, map_units_h * 16 * (2 - frame_mbs_only)
    if r.bit():  # frame cropping
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        cx = 2 if chroma in (1, 2) else 1
        cy = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
        width -= (left + right) * cx
        height -= (top + bottom) * cy
    return width, height


def load_clip(path: Path = CLIP_PATH, fps: int = 10) -> Clip:
    data = path.read_bytes()
    frames = access_units(split_annexb(data))
    sps = next(n for f in frames for n in f if n[0] & 0x1F == NAL_SPS)
    pps = next(n for f in frames for n in f if n[0] & 0x1F == NAL_PPS)
    payloads: list[tuple[bytes, ...]] = []
    keyframe: list[bool] = []
    for frame in frames:
        is_key = any(n[0] & 0x1F == NAL_IDR for n in frame)
        slices = [n for n in frame if n[0] & 0x1F in (NAL_SLICE, NAL_IDR)]
        # Every keyframe carries its parameter sets in-band, as cameras send them.
        nals = [sps, pps, *slices] if is_key else slices
        payloads.append(tuple(packetize(nals)))
        keyframe.append(is_key)
    if not keyframe or not keyframe[0]:
        raise ValueError(f"{path}: the clip must start with an IDR")
    width, height = sps_size(sps)
    return Clip(width, height, fps, sps, pps, tuple(payloads), tuple(keyframe), len(data))


CLIP = load_clip()

KEYFRAMES_PATH = ASSETS / "keyframes.h264"


def load_keyframes(clip: Clip = CLIP, path: Path = KEYFRAMES_PATH) -> tuple[tuple[bytes, ...], ...]:
    """RTP payloads of the alternative IDR frames (assets/keyframes.h264: the same test
    scene one second apart, encoded with the clip's parameter sets).  A live camera's
    keyframes differ (its clock, anything moving); a camera that restarted the clip at the
    same IDR every time would look frozen to the picture check.  Frames that do not share
    the clip's SPS/PPS are left out, so the P-frames that follow still parse."""
    out = []
    for frame in access_units(split_annexb(path.read_bytes())):
        sps = [n for n in frame if n[0] & 0x1F == NAL_SPS]
        pps = [n for n in frame if n[0] & 0x1F == NAL_PPS]
        idr = [n for n in frame if n[0] & 0x1F == NAL_IDR]
        if idr and sps == [clip.sps] and pps == [clip.pps]:
            out.append(tuple(packetize([clip.sps, clip.pps, *idr])))
    return tuple(out) or (clip.frames[0],)


KEYFRAMES = load_keyframes()


# --------------------------------------------------------------------------- snapshots

SNAPSHOT_SIZE = (640, 360)
LIVE_FRAMES = 12  # pool cycled once a second: consecutive fetches differ like a live camera


@dataclass(frozen=True, slots=True)
class Snapshots:
    live: tuple[bytes, ...]
    black: tuple[bytes, ...]


def _street(rng: random.Random, step: int):
    """A crude street scene: sky, buildings, road with lane marks, a few cars that move with
    `step`, sensor noise and a timestamp overlay, as a camera's OSD would show."""
    from PIL import Image, ImageDraw

    w, h = SNAPSHOT_SIZE
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    for y in range(h // 2):  # sky gradient
        c = 150 + y * 80 // (h // 2)
        draw.line([(0, y), (w, y)], fill=(c - 60, c - 20, min(255, c + 20)))
    brng = random.Random(7)  # buildings stay put between frames
    x = 0
    while x < w:
        bw = brng.randint(40, 110)
        bh = brng.randint(60, 150)
        shade = brng.randint(70, 160)
        draw.rectangle([x, h // 2 - bh, x + bw, h // 2], fill=(shade, shade - 10, shade - 20))
        for wy in range(h // 2 - bh + 8, h // 2 - 8, 18):
            for wx in range(x + 6, x + bw - 10, 16):
                lit = brng.random() < 0.4
                draw.rectangle([wx, wy, wx + 7, wy + 9], fill=(230, 210, 120) if lit else (40, 50, 60))
        x += bw + brng.randint(2, 12)
    draw.rectangle([0, h // 2, w, h], fill=(70, 72, 75))  # road
    for lx in range(-40 + (step * 23) % 80, w, 80):
        draw.rectangle([lx, h * 3 // 4 - 3, lx + 40, h * 3 // 4 + 3], fill=(230, 230, 230))
    crng = random.Random(11)
    for lane in range(4):
        speed = crng.randint(15, 45) * (1 if lane % 2 else -1)
        base = crng.randint(0, w)
        cx = (base + speed * step) % (w + 120) - 60
        cy = h // 2 + 20 + lane * 40
        colour = tuple(crng.randint(30, 230) for _ in range(3))
        draw.rounded_rectangle([cx, cy, cx + 70, cy + 28], radius=6, fill=colour)
        draw.rectangle([cx + 12, cy + 4, cx + 55, cy + 12], fill=(40, 60, 80))
    noise = Image.effect_noise((w, h), 12).convert("RGB")  # sensor grain: no two frames alike
    img = Image.blend(img, noise, 0.06 + rng.random() * 0.02)
    draw = ImageDraw.Draw(img)
    draw.rectangle([8, 8, 228, 28], fill=(0, 0, 0))
    draw.text((14, 12), f"2026-11-28 08:00:{step:02d}  CAM", fill=(255, 255, 255))
    return img


def _jpeg(img, quality: int, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


@lru_cache(maxsize=1)
def snapshots(seed: int = 1) -> Snapshots:
    """Render the JPEG pools once per process (a fraction of a second)."""
    from PIL import Image

    rng = random.Random(seed)
    live = tuple(_jpeg(_street(rng, i), 70) for i in range(LIVE_FRAMES))
    black_img = Image.new("RGB", SNAPSHOT_SIZE, (0, 0, 0))
    # A dead sensor's black still carries a little noise, and cameras re-encode it, so the
    # bytes differ between fetches while the picture stays black.
    dim = Image.blend(black_img, Image.effect_noise(SNAPSHOT_SIZE, 40).convert("RGB"), 0.03)
    black = (
        _jpeg(black_img, 70),
        _jpeg(dim, 70),
        _jpeg(dim, 50, optimize=True),
        _jpeg(black_img, 90, progressive=True),
    )
    return Snapshots(live, black)
