"""Picture health, whatever the picture came from: black, uniform and frozen verdicts.

Owns `Picture` (what is measured on one picture), `PictureHistory` (what one camera
remembers between pictures of one source), `judge` (the verdict) and the decoding of
stream keyframes with PyAV (`decode_keyframes`, `analyse_keyframes`).  The snapshot check
(`monitor.probes.snapshot`) turns a JPEG into a `Picture`; the stream check's post-step
turns the H.264/H.265 keyframes the stream probe kept (`monitor.probes.keyframe`) into
pictures here.  Both then go through the same `judge`, so ``black_image``,
``uniform_image`` and ``frozen_image`` mean the same from either source.

What is measured
----------------
A picture is reduced to its *fingerprint*: luma (full range, 0-255) box-averaged to at
most `FINGERPRINT_SIDE` pixels on its long side, each fingerprint pixel the mean of a
block of the picture (see `monitor.probes.snapshot` for why a block mean survives
re-encoding and still sees a clock digit change).  Chroma (Cb, Cr) is reduced the same
way.  From these:

- ``luminance``: the mean luma, 0..1;
- ``uniform``: the share of fingerprint pixels whose Y, Cb and Cr are all within
  `UNIFORM_TOLERANCE` levels of the picture's dominant value of each (the histogram
  mode).  A covered or sprayed lens, a grey or blue "no video" placard, a white-out: one
  colour at any brightness.  A share and not a standard deviation, so that the caption of
  a placard ("NO VIDEO" over a blue field: about 5 % of the picture, which alone lifts the
  luma standard deviation above 40) does not hide the placard.

Measured ``uniform`` (fingerprints of 160x90, tolerance 10) on 1280x720 keyframes encoded
by ffmpeg (libx264 / libx265) and decoded here, and on two JPEG photographs:

    picture                                                   H.264   H.265
    flat blue, grey, white (lavfi color)                      1.000   1.000
    dark brown field + noise of strength 20 (a taped lens)    0.998   0.999
    blue placard, "NO VIDEO" caption 60 px high               0.986   0.986
    blue placard, "NO SIGNAL" caption 120 px high             0.953   0.954
    grey field + noise of strength 30                         0.948   0.970
    mandelbrot                                                0.193   0.193
    testsrc2                                                  0.000   0.158
    smptebars                                                 0.000   0.001
    testsrc2 under a gaussian blur of sigma 60                0.000   0.010
    photographs (a circuit board; a terminal), JPEG           0.032 and 0.147

So ``uniform_above`` (default 0.9) sits between placards (0.95 and up) and scenes (0.2
and below).  A scene that is really almost one colour (fog, a dark night without
lights, a wall filling the view) is reported uniform: that is what the camera shows, and
what a covered lens looks like.  A lens sprayed so that the scene is only blurred, not
hidden, keeps its gradients and is not uniform (0.00-0.01 above).

Uniform is not enough: a dark street at night with a passing headlight, a test pattern's
ball crossing a flat field, a camera facing the sky are 90-99 % one colour and alive.  A
covered lens and a placard do not move, but their OSD clock ticks.  So a uniform picture
is ``uniform_image`` only when it is *still*: every comparison of the check (keyframes
of one stream window, or a snapshot with the previous one) changed less than
`MOVING_SHARE` of the fingerprint by the change threshold or more.  A first picture with
nothing to compare waits for the next.  Measured share changed between keyframes one
second apart (ffmpeg libx264, 10 fps; tests/test_picture.py, "LIVE_AND_DEAD"):

    scene (flat field, most of it one colour)              1280x720          320x240
    night: noise 20, a 60x30 px headlight crossing      0.47-0.51 %       3.6-4.3 %
    test pattern: a 40x40 px ball crossing                   0.35 %           4.2 %
    taped lens: noise 20, OSD clock (h/30) ticking      0.00-0.03 %     0.00-0.04 %
    "NO VIDEO" placard with the OSD clock               0.02-0.04 %     0.02-0.04 %
    flat blue; grey + noise 30                               0.00 %     0.00-0.04 %

`MOVING_SHARE` (0.15 %) sits between a clock (0.04 %; four digits rolling over at once
would be about 0.08 %) and the smallest light measured.  A light smaller than about
0.08 % of the picture (30x25 px at 720p) moving over a flat field is not seen moving.

Verdicts (`judge`), first match wins:

- ``black_image``: mean luminance * 255 below ``black_below`` (a black picture is also
  uniform and maybe frozen; black is the most specific);
- ``uniform_image``: ``uniform`` at or above ``uniform_above`` (0 or above 1 turns it off)
  and the picture still (above); a placard is also frozen, uniform is the more useful word;
- ``frozen_image``: ``frozen_after`` pictures in a row unchanged (below 2: off);
- ``ok``.

Stream keyframes
----------------
Decoded with PyAV (FFmpeg's libavcodec), one fresh single-threaded decoder per keyframe
(a keyframe needs no reference; one thread because frame threading would only add
latency to a single picture), then scaled by swscale with area averaging straight to the
fingerprint size in full-range YUV 4:4:4 (``yuvj444p``): the limited-range luma of video
(black is 16) becomes the same 0-255 scale as a JPEG's, so ``black_below`` means the same.
Keyframes are compared with `KEYFRAME_THRESHOLDS`, not the JPEG ones.  Largest
fingerprint difference (grey levels) between keyframes encoded by ffmpeg: a still
testsrc2 frame at CRF 23 against CRF 21 / 25 / 27 ("noise"), and SMPTE bars with a
burnt-in clock (text h/30 high) one second apart, all at CRF 23 ("clock"):

    size        codec   noise (21/25/27)   clock      threshold
    1920x1080   H.264   7 / 7 / 10         19 - 36    12
    1280x720    H.264   8 / 8 / 10         20 - 24    12
    640x360     H.264   11 / 11 / 19       31 - 43    24
    1920x1080   H.265   2 / 3 / 4          19 - 36    12
    1280x720    H.265   3 / 4 / 4          20 - 25    12
    640x360     H.265   5 / 7 / 10         31 - 41    24

A camera's own rate control on a frozen input moves much less than 4 CRF steps between
keyframes (GStreamer's x264enc on a frozen frame: 2-3 levels, tests/test_picture_witness.py).

Like with like: many relays, NVRs and servers build a new encoder for each client, and
a constant-bitrate encoder codes its first keyframe at another quality than the next ones
(GStreamer, x264 CBR, 320x240 still bars: 7 KiB, then 4 KiB).  Every stream check is a
new session, so the window's first keyframe is compared only with the previous check's
first, and the later keyframes with the previous later one
(tests/test_picture_witness.py, the "/still-cbr" mount).

Decoding runs in a small pool of threads (`DecodePool`, `DECODE_WORKERS` threads, owned by
the daemon or the probe command that runs the check); libavcodec and swscale
release the GIL, so the event loop keeps running while a keyframe decodes.  Cost per
keyframe: tests/bench/bench_picture.py (README table).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageChops

from ..model import Detail, MonitorSettings, Reason, Result, SnapshotSettings
from . import evidence

log = logging.getLogger("cctv.picture")

#: Smallest fingerprint difference that is a change between two *video keyframes*, by
#: the same scale classes.  Higher than for JPEG: an H.264 encoder's rate control moves the
#: quantiser of successive keyframes of one still frame, and block means at sharp edges
#: (text, like an OSD clock) move with it.  Measured (module docstring): still frame at
#: CRF 23 against 21/25/27, a clock-only change at CRF 23.
KEYFRAME_THRESHOLDS = {8: 12, 4: 24}
#: Longest side of the stored fingerprint (see `monitor.probes.snapshot` for the choice).
FINGERPRINT_SIDE = 160
#: Smallest fingerprint difference that counts as a change, by the picture's size: 4 grey
#: levels for pictures of 1280 pixels or more on the long side (fingerprint pixels of 8x8
#: or more), 13 below (measured in `monitor.probes.snapshot`).
CHANGE_THRESHOLDS = {8: 4, 4: 13}
#: Levels (0-255) around the dominant Y, Cb and Cr within which a pixel counts as "that
#: colour" for the uniform share.  Encoder noise on a flat field stays within 2-3.
UNIFORM_TOLERANCE = 10
#: Share of fingerprint pixels that must change (by the picture's change threshold) between
#: two pictures for the picture to be *moving*: a uniform picture is a placard or a covered
#: lens only when it is still.  Above what a burnt-in clock changes, below a passing light
#: (measured in the module docstring).
MOVING_SHARE = 0.0015
#: Threads decoding stream keyframes; the stream budget (`monitor.stream.concurrency`)
#: bounds how many wait.
DECODE_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: FFmpeg decoder names by SDP codec name.
DECODERS = evidence.DECODERS


def scale_for(w: int, h: int) -> int:
    """1/8 (DC only) when that still leaves FINGERPRINT_SIDE pixels, else 1/4."""
    return 8 if max(w, h) >= 8 * FINGERPRINT_SIDE else 4


def fingerprint_size(w: int, h: int) -> tuple[int, int]:
    if max(w, h) <= FINGERPRINT_SIDE:
        return max(1, w), max(1, h)
    ratio = FINGERPRINT_SIDE / max(w, h)
    return max(1, round(w * ratio)), max(1, round(h * ratio))


@dataclass(slots=True)
class Picture:
    fingerprint: Image.Image  # "L", at most FINGERPRINT_SIDE on a side
    luminance: float  # mean luma 0..1
    threshold: int  # smallest fingerprint difference that is a change
    uniform: float  # share of the picture near its dominant colour, 0..1


class PictureHistory:
    """What one camera remembers between pictures of one source (snapshot or stream)."""

    __slots__ = ("digest", "fingerprint", "size", "position", "first", "first_size", "luminance",
                 "uniform", "unchanged", "moved", "still")

    def __init__(self) -> None:
        self.digest: bytes | None = None  # BLAKE2b of the last decodable snapshot body
        self.fingerprint: bytes | None = None  # latest picture (stream: not a window's first)
        self.size: tuple[int, int] = (0, 0)  # of the fingerprint
        # stream only: the place of `fingerprint` in its check's window (0: the first
        # keyframe): a per-session encoder's later keyframes still differ with their place
        # (rate control settling), so a window's keyframe is compared with the previous
        # window's only at the same place
        self.position = -1
        # stream only: the previous check's first keyframe, compared with the next check's
        # first (a per-session encoder codes a session's first keyframe its own way); a
        # second fingerprint, so a stream camera keeps about 28 KB at 16:9
        self.first: bytes | None = None
        self.first_size: tuple[int, int] = (0, 0)
        self.luminance: float | None = None  # of the last picture, 0..1
        self.uniform: float | None = None
        self.unchanged = 0  # consecutive pictures unchanged from their predecessor
        self.moved: float | None = None  # largest share changed in the latest comparisons
        self.still = False  # the latest comparisons (at least one) saw no movement

    def __repr__(self) -> str:
        return f"PictureHistory(unchanged={self.unchanged}, luminance={self.luminance})"

    def observe(self, picture: Picture) -> int | None:
        """Take the next picture; returns the difference to the previous one (None when
        not comparable)."""
        diff, moved = change(self.fingerprint, self.size, picture)
        self.count(diff, picture.threshold, reset_on_none=True)
        self.moved = moved
        self.still = moved is not None and moved < MOVING_SHARE
        self.keep(picture)
        return diff

    def count(self, diff: int | None, threshold: int, reset_on_none: bool = False) -> None:
        if diff is None:
            if reset_on_none:
                self.unchanged = 0
        elif diff < threshold:
            self.unchanged += 1
        else:
            self.unchanged = 0

    def keep(self, picture: Picture, fingerprint: bool = True) -> None:
        if fingerprint:
            self.fingerprint = picture.fingerprint.tobytes()
            self.size = picture.fingerprint.size
        self.luminance = picture.luminance
        self.uniform = picture.uniform


def difference(previous: bytes | None, size: tuple[int, int], current: Image.Image) -> int | None:
    """Largest absolute difference between two fingerprints; None when not comparable."""
    if previous is None or size != current.size:
        return None
    before = Image.frombytes("L", size, previous)
    return ImageChops.difference(before, current).getextrema()[1]


def change(previous: bytes | None, size: tuple[int, int],
           current: Picture) -> tuple[int | None, float | None]:
    """(largest fingerprint difference, share of fingerprint pixels that changed by the
    picture's threshold or more); (None, None) when not comparable.  One histogram gives
    both."""
    if previous is None or size != current.fingerprint.size:
        return None, None
    before = Image.frombytes("L", size, previous)
    hist = ImageChops.difference(before, current.fingerprint).histogram()
    top = max((i for i, n in enumerate(hist) if n), default=0)
    count = size[0] * size[1]
    return top, (sum(hist[current.threshold:]) / count if count else 0.0)


def _near_mode(channel: Image.Image) -> Image.Image:
    hist = channel.histogram()
    mode = max(range(256), key=hist.__getitem__)
    lo, hi = mode - UNIFORM_TOLERANCE, mode + UNIFORM_TOLERANCE
    return channel.point([255 if lo <= v <= hi else 0 for v in range(256)], "1")


def uniform_share(y: Image.Image, cb: Image.Image | None, cr: Image.Image | None) -> float:
    """Share of pixels within UNIFORM_TOLERANCE of the dominant Y, Cb and Cr (module doc)."""
    mask = _near_mode(y)
    for c in (cb, cr):
        if c is not None:
            mask = ImageChops.logical_and(mask, _near_mode(c))
    count = mask.size[0] * mask.size[1]
    return mask.histogram()[255] / count if count else 0.0


def mean(channel: Image.Image) -> float:
    hist = channel.histogram()
    count = channel.size[0] * channel.size[1]
    return sum(i * n for i, n in enumerate(hist)) / (255.0 * count) if count else 0.0


def judge(history: PictureHistory, settings: SnapshotSettings, diff: int | None,
          unit: str = "fetches") -> tuple[Reason, str, dict[str, Any]]:
    """The verdict on the history's latest picture (module docstring)."""
    luminance = history.luminance or 0.0
    uniform = history.uniform
    detail: dict[str, Any] = {Detail.LUMINANCE: round(luminance, 4),
                              Detail.UNCHANGED: history.unchanged, Detail.DIFFERENCE: diff,
                              Detail.UNIFORM: None if uniform is None else round(uniform, 4)}
    level = luminance * 255.0
    if level < settings.black_below:
        return Reason.BLACK_IMAGE, f"black picture (mean luminance {level:.0f}/255)", detail
    above = settings.uniform_above
    if uniform is not None and 0 < above <= 1 and uniform >= above:
        if history.still:
            return Reason.UNIFORM_IMAGE, (
                f"uniform picture: {uniform:.0%} of it one colour, and still "
                f"(mean luminance {level:.0f}/255)"
            ), detail
        if history.moved is None:
            return Reason.OK, (f"{uniform:.0%} of the picture one colour: uniform once a "
                               "second picture shows it still"), detail
        return Reason.OK, (f"{uniform:.0%} of the picture one colour, but it moves "
                           f"({history.moved:.1%} changed)"), detail
    if settings.frozen_after >= 2 and history.unchanged >= settings.frozen_after - 1:
        return Reason.FROZEN_IMAGE, f"same picture {history.unchanged + 1} {unit} in a row", detail
    return Reason.OK, "", detail


# --------------------------------------------------------------------------- stream keyframes


class UndecodableKeyframe(Exception):
    pass


def decode_keyframe(codec: str, data: bytes) -> Picture:
    """One Annex B keyframe access unit -> Picture; raises UndecodableKeyframe."""
    import av  # imported here: only the stream post-step and the bench pay for it

    name = DECODERS.get(codec.upper())
    if name is None:
        raise UndecodableKeyframe(f"no decoder for {codec}")
    try:
        ctx = av.CodecContext.create(name, "r")
        ctx.thread_count = 1
        # no deblocking: the fingerprint averages blocks, the loop filter only smooths their
        # edges (fingerprints 0-1 level apart, 5-9 % less CPU: tests/bench/bench_picture.py)
        ctx.options = {"skip_loop_filter": "all"}
        frames = list(ctx.decode(av.Packet(data)))
        frames += ctx.decode(None)
    except Exception as exc:  # noqa: BLE001 - PyAV raises av.error.* (OSError/ValueError)
        raise UndecodableKeyframe(f"keyframe did not decode ({exc.__class__.__name__})") from None
    if not frames:
        raise UndecodableKeyframe("keyframe gave no picture")
    frame = frames[0]
    w, h = frame.width, frame.height
    fw, fh = fingerprint_size(w, h)
    small = frame.reformat(width=fw, height=fh, format="yuvj444p", interpolation="AREA")
    planes = [Image.frombuffer("L", (fw, fh), bytes(p), "raw", "L", p.line_size, 1)
              for p in small.planes[:3]]
    y, cb, cr = planes
    return Picture(y, mean(y), KEYFRAME_THRESHOLDS[scale_for(w, h)], uniform_share(y, cb, cr))


def analyse_keyframes(codec: str, keyframes: list[bytes], history: PictureHistory,
                      settings: SnapshotSettings) -> Result:
    """Judge a stream check's keyframes (oldest first) against this camera's stream history.

    Like is compared with like: the window's first keyframe (a per-session encoder's first
    of the session, often coded at another quality) with the previous check's first, the
    later ones with each other and the previous later one.  When the history holds a later
    keyframe, the
    window's last is decoded first: if the picture moved since, that one decode settles the
    check (only ``black_image`` could still apply, and it needs no comparison); a still or
    uniform camera pays for the rest (module docstring, "Stream keyframes")."""
    start = time.perf_counter()
    errors: list[str] = []
    seen = 0
    diffs: list[int] = []
    shares: list[float] = []

    def decode(data: bytes) -> Picture | None:
        nonlocal seen
        try:
            picture = decode_keyframe(codec, data)
        except UndecodableKeyframe as exc:
            errors.append(str(exc))
            return None
        seen += 1
        return picture

    firsts: list[float] = []  # shares moved by the window's first against the previous first

    def compare(previous: bytes | None, size: tuple[int, int], picture: Picture,
                into: list[float]) -> None:
        diff, share = change(previous, size, picture)
        history.count(diff, picture.threshold)
        if diff is not None and share is not None:
            diffs.append(diff)
            into.append(share)

    last: Picture | None = None
    n = len(keyframes)
    same_place = history.position == n - 1  # the previous window ended at the same place
    if n >= 2 and history.fingerprint is not None and same_place:
        last = decode(keyframes[-1])
        if last is not None:
            diff, share = change(history.fingerprint, history.size, last)
            above = settings.uniform_above
            # changed since: not frozen; and either not uniform at all or uniform but moving
            if diff is not None and share is not None and diff >= last.threshold and (
                    share >= MOVING_SHARE or not 0 < above <= 1 or last.uniform < above):
                history.unchanged = 0
                history.first = None  # stale now: the next check's first starts afresh
                history.keep(last)
                history.position = n - 1
                diffs, shares = [diff], [share]
                keyframes = []
    if keyframes:
        first = decode(keyframes[0])
        if first is not None:
            compare(history.first, history.first_size, first, firsts)
            history.first, history.first_size = first.fingerprint.tobytes(), first.fingerprint.size
            history.keep(first, fingerprint=False)
        previous: Picture | None = None  # this window's keyframe before, from the second on
        for i in range(1, len(keyframes)):
            picture = last if i == len(keyframes) - 1 and last is not None else decode(keyframes[i])
            if picture is None:
                previous = None
                continue
            if previous is not None:  # the window's later keyframes with each other
                compare(previous.fingerprint.tobytes(), previous.fingerprint.size, picture, shares)
            elif history.position == i:  # with the previous window's, at the same place only
                compare(history.fingerprint, history.size, picture, shares)
            history.keep(picture)
            history.position = i
            previous = picture
    elapsed = time.perf_counter() - start
    if not seen:
        detail = {Detail.KEYFRAMES_DECODED: 0}
        return Result(Reason.OK, elapsed, errors[0] if errors else "no keyframe kept",
                      detail, {"total": elapsed})
    # Still or moving: judged on the later keyframes, the steady state of the encoder; the
    # window's first (an encoder's warm-up picture, for a per-session one) only when alone.
    shares = shares or firsts
    history.moved = max(shares) if shares else None
    history.still = bool(shares) and max(shares) < MOVING_SHARE
    reason, message, detail = judge(history, settings, diffs[-1] if diffs else None, "keyframes")
    detail[Detail.KEYFRAMES_DECODED] = seen
    return Result(reason, elapsed, message, detail, {"total": elapsed})


class DecodePool:
    """The `DECODE_WORKERS` threads that decode stream keyframes off the event loop, owned by
    what runs the checks: the daemon makes one at start and closes it at stop, `cctv-monitor
    probe` for its one probe.  Not a module global: its threads would outlive their user
    (a test run or a demo that stopped its monitor kept them)."""

    def __init__(self, workers: int = DECODE_WORKERS) -> None:
        # the executor starts its threads on the first keyframe, not here
        self._executor = concurrent.futures.ThreadPoolExecutor(workers,
                                                               thread_name_prefix="keyframe")

    async def post_step(self, stream: Result, memory: dict,
                        settings: MonitorSettings) -> Result | None:
        """`post_step` decoding in this pool (the scheduler's post-step of the picture check)."""
        return await post_step(stream, memory, settings, self)

    def close(self) -> None:
        """Stop the threads: the keyframe being decoded finishes, the queued ones are dropped."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "DecodePool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def analyse_keyframes_async(codec: str, keyframes: list[bytes], history: PictureHistory,
                                  settings: SnapshotSettings,
                                  pool: DecodePool | None = None) -> Result:
    """`analyse_keyframes` off the event loop: in `pool`, or without one in the loop's default
    executor (which the loop's runner shuts down with the loop).  One stream check per
    camera at a time, so a history is never in two threads at once."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool._executor if pool is not None else None,
                                      analyse_keyframes, codec, keyframes, history, settings)


async def post_step(stream: Result, memory: dict, settings: MonitorSettings,
                    pool: DecodePool | None = None) -> Result | None:
    """The picture check's post-step on the stream check's answer (`monitor.checks`): its
    keyframes judged against this camera's stream picture history, kept in `memory`.

    None when the stream check failed (its own reason says why).  A stream that flowed but
    left nothing to decode (MJPEG, a keyframe over the size limit, a decoder error) is
    ``ok`` with a message saying the picture was not checked: our decoder's limits are
    not the camera's outage, and a check that never answers would leave the camera
    unknown."""
    if not stream.ok:
        return None
    keyframes, codec = stream.keyframes, stream.detail.get("codec")
    if not keyframes or not codec or codec.upper() not in DECODERS:
        why = (f"no keyframe decoding for {codec}" if codec and codec.upper() not in DECODERS
               else "no complete keyframe kept")
        return Result(Reason.OK, message=f"picture not checked: {why}",
                      detail={"keyframes_decoded": 0})
    history = memory.get("history")
    if history is None:
        history = memory["history"] = PictureHistory()
    result = await analyse_keyframes_async(codec, keyframes, history, settings.snapshot, pool)
    if not result.detail.get("keyframes_decoded"):
        result.message = f"picture not checked: {result.message}"
    await attach_evidence(result, memory, lambda: evidence.from_keyframe(codec, keyframes[-1]),
                          pool)
    return result


_LOGGED: set[str] = set()


async def attach_evidence(result: Result, memory: dict, make: Any,
                          pool: DecodePool | None = None) -> None:
    """A small JPEG of the picture on a failing picture verdict (`monitor.probes.evidence`),
    made once per failing spell (when the verdict changes), off the event loop (in `pool`,
    or the loop's default executor).  One that
    cannot be made is logged once and the verdict stands without it."""
    reason = result.reason.value
    if reason not in evidence.PICTURE_REASONS:
        memory.pop("evidence_for", None)
        memory.pop("evidence", None)
        return
    if memory.get("evidence_for") == reason:
        return  # the outage this verdict belongs to already has its picture
    memory["evidence_for"] = reason
    memory.pop("evidence", None)
    loop = asyncio.get_running_loop()
    try:
        # kept in the memory too: /status and the API show it while the camera is down
        result.evidence = memory["evidence"] = await loop.run_in_executor(
            pool._executor if pool is not None else None, make)
    except evidence.NoThumbnail as exc:
        if "thumbnail" not in _LOGGED:
            _LOGGED.add("thumbnail")
            log.warning("evidence thumbnail not made (%s); the outage is recorded without it "
                        "(logged once)", exc)
