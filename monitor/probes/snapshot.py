"""Picture health of a camera snapshot: black, uniform and frozen pictures (the `snapshot` check).

Owns the JPEG side of picture health: `fingerprint`/`measure` (a snapshot's bytes to a
`monitor.probes.picture.Picture`) and `analyse(image, history, settings) -> Result`.  The
verdicts and the per-camera memory (`SnapshotHistory`, i.e. `PictureHistory`: a digest, a
fingerprint of at most 160x160 bytes, a counter) are shared with the stream check's
keyframes in `monitor.probes.picture`.  Pure CPU, no I/O: the `http` check fetches the
picture (`Result.body`) and `post_step`, the snapshot check's post-step in the check
catalogue (`monitor.checks`), runs `analyse` on it, in a worker thread for large pictures
(Pillow releases the GIL while decoding).

How a picture is looked at
--------------------------
Identical bytes short-circuit: a BLAKE2b digest equal to the previous one means
"unchanged" without decoding (the common frozen case: firmware serving one cached JPEG).

Otherwise the JPEG is decoded scaled down by libjpeg (``Image.draft("YCbCr", ...)``): no
colour conversion, no full IDCT; chroma only for the uniform share.  Pictures of 1280 pixels or more on the long side are
decoded at 1/8: each pixel is then the DC coefficient of one 8x8 block, i.e. the block's
mean.  Smaller pictures are decoded at 1/4 so that enough pixels remain.  This is the
cheapest decode there is (tests/bench/bench_snapshot.py) and the right signal:

- re-encoding the same scene (another quality, another pass through an encoder) changes
  the high-frequency coefficients a lot and the lowest ones very little: the DC quantiser
  step is small at any usable quality;
- a live camera changes some block means a lot: the clock that nearly every camera burns
  into its picture (one changed digit moves a few block means by 10 to 80 levels), sensor
  grain, anything that moves.

The fingerprint is that scaled luma image box-reduced to at most 160 pixels on its long
side (160x90 = 14 KB for 16:9; 80x45 for a 320x180 picture).  Two pictures are unchanged
when the LARGEST absolute difference between their fingerprints is below the threshold of
their scale: 4 grey levels at 1/8, 13 at 1/4 (`CHANGE_THRESHOLDS`).  A maximum and not a
mean on purpose: a clock digit is a tiny share of the picture and vanishes in any mean
(measured mean difference 0.00-0.01 for a clock-only change).  For the same reason the
fingerprint is this large: at 64x64, or with block-averaged differences, a 1080p clock
digit change fell to 1-2 levels, inside re-encoding noise; 32x32 or 16x16 thumbnails
cannot see a clock at all.

Measured by tests/test_snapshot.py::test_margin_between_reencoding_noise_and_live_change
(textured synthetic scenes, OSD clock height/30 pixels, 3 scenes per size):

    decode scale  sizes tried                    re-encoded  threshold  live
    1/8           1920x1080, 1280x720            <= 2        4          >= 11 (median 34)
    1/4           1024x768, 704x576, 640x360,    <= 9        13         >= 16 (median 40)
                  352x288

("re-encoded": quality 30 to 95 against 75, and a decode/re-encode generation; "live":
clock steps of 1 s, 30 s, 60 s and 1 h, sensor noise of amplitude 0 and 8.)

Sensor noise alone (no clock, still scene; uniform noise of amplitude 4/8/16/32, sigma
A/1.7): 2/3/7/13 at 1/8 (1080p), 5/7/14/26 at 1/4 (640x360).  So a clock-less camera on
a still scene counts as live only with a noisy sensor (sigma above ~5 at 1/8, ~9 at 1/4).

Limits: a camera without an OSD clock looking at a perfectly still scene with a clean
sensor cannot be told from a frozen one by its pictures (it *is* showing the same
picture): raise `frozen_after` for it or drop its snapshot check.  A stuck frame re-served
with a live clock drawn on top (by an NVR, say) looks live.  Luminance only: a colour-only
change is not seen.  A change smaller than one 8x8 block and of little contrast may stay
under the threshold.  Since `frozen_after` (default 3) pictures must match in a row, one
fetch pair that happens to fall below the threshold (a "0" to "1" digit step on a tiny
font) does not make a live camera frozen.  Memory: about 14 KB per 16:9 camera (75 MB for
5,500 cameras); lower `FINGERPRINT_SIDE` trades clock sensitivity for memory.

Verdicts (`monitor.probes.picture.judge`)
--------
- ``black_image`` when the mean luminance * 255 is below ``settings.black_below``; black
  wins over uniform and frozen (a black frozen picture is reported black);
- ``uniform_image`` when at least ``settings.uniform_above`` of the picture is one colour
  and the picture is still against the previous one (measurements in
  `monitor.probes.picture`; a first picture waits for the second); uniform wins over frozen;
- ``frozen_image`` when ``settings.frozen_after`` pictures in a row were unchanged, i.e.
  after ``frozen_after - 1`` unchanged fetches (``frozen_after`` below 2 disables it);
- ``bad_response`` for anything that does not decode completely (truncated or corrupt
  JPEG, not a picture at all); the history is then left as it was;
- otherwise ``ok``.  ``detail``: "luminance" (0..1), "unchanged" (consecutive unchanged
  fetches), "difference" (largest fingerprint difference to the previous picture; None
  for the first picture and for byte-identical ones), "uniform" (share near the dominant
  colour).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from typing import Any, Awaitable, Callable

from PIL import Image, ImageFile, UnidentifiedImageError

from ..model import MonitorSettings, Reason, Result, SnapshotSettings
from ..resources import LocalResourceError, local_resource_kind
from .base import classify_exception
from . import evidence
from .picture import (CHANGE_THRESHOLDS, FINGERPRINT_SIDE, Picture, PictureHistory,
                      attach_evidence, difference, judge, mean, scale_for, uniform_share)

#: Pictures we decode; others are not a camera snapshot.  Naming them keeps Pillow's rarer
#: parsers away from bytes that came off the network.
FORMATS = ("JPEG", "PNG", "BMP", "GIF")
#: Non-JPEG pictures are decoded in full; refuse the absurd before allocating for it.
MAX_FULL_DECODE_PIXELS = 40_000_000
#: Large JPEGs are decoded at 1/8 scale, so only 1/64 of this is allocated.
MAX_JPEG_PIXELS = 1_000_000_000

# A truncated JPEG must be an error, not a picture with a grey bottom half.
ImageFile.LOAD_TRUNCATED_IMAGES = False

#: One camera's memory between snapshots (shared with the stream check's pictures).
SnapshotHistory = PictureHistory

__all__ = ["CHANGE_THRESHOLDS", "FINGERPRINT_SIDE", "SnapshotHistory", "analyse", "difference",
           "fingerprint", "measure", "scale_for"]


class _Undecodable(Exception):
    pass


def measure(image: bytes) -> Picture:
    """A snapshot's bytes -> Picture; raises _Undecodable."""
    try:
        im = Image.open(io.BytesIO(image), formats=FORMATS)
        w, h = im.size
        scale = scale_for(w, h)
        if im.format == "JPEG":
            if w * h > MAX_JPEG_PIXELS:
                raise _Undecodable(f"picture too large ({w}x{h})")
            # Scaled decode without colour conversion: see the module docstring.
            im.draft("YCbCr", (max(1, w // scale), max(1, h // scale)))
            im.load()  # a full load, so that truncation raises here
        else:
            if w * h > MAX_FULL_DECODE_PIXELS:
                raise _Undecodable(f"picture too large ({w}x{h})")
            im.load()
            if im.mode not in ("L", "RGB", "YCbCr"):
                im = im.convert("RGB")
            if w >= scale and h >= scale:
                im = im.reduce(scale)
        if im.mode == "L":
            y, cb, cr = im, None, None
        else:
            if im.mode != "YCbCr":
                im = im.convert("YCbCr")
            y, cb, cr = im.split()
    except _Undecodable:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError...
        raise _Undecodable(_describe(exc)) from None
    luminance = mean(y)
    w, h = y.size
    if max(w, h) > FINGERPRINT_SIDE:
        ratio = FINGERPRINT_SIDE / max(w, h)
        size = (max(1, round(w * ratio)), max(1, round(h * ratio)))
        y = y.resize(size, Image.Resampling.BOX)
        cb = None if cb is None else cb.resize(size, Image.Resampling.BOX)
        cr = None if cr is None else cr.resize(size, Image.Resampling.BOX)
    return Picture(y, luminance, CHANGE_THRESHOLDS[scale], uniform_share(y, cb, cr))


def fingerprint(image: bytes) -> tuple[Image.Image, float, int]:
    """(fingerprint as an "L" image, mean luminance 0..1, its change threshold);
    raises _Undecodable."""
    p = measure(image)
    return p.fingerprint, p.luminance, p.threshold


def _describe(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not a picture"
    text = str(exc).split("\n", 1)[0][:80]
    if "truncated" in text.lower():
        return "truncated picture"
    return f"undecodable picture ({exc.__class__.__name__}: {text})"


def analyse(image: bytes, history: PictureHistory, settings: SnapshotSettings) -> Result:
    """Judge one snapshot against this camera's history (updated in place)."""
    start = time.perf_counter()
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone in the process turned it on; truncated pictures must stay errors here.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    if not image:
        return _result(Reason.BAD_RESPONSE, start, "empty picture")
    digest = hashlib.blake2b(image, digest_size=16).digest()
    diff: int | None
    if digest == history.digest and history.luminance is not None:
        history.unchanged += 1
        history.moved, history.still = 0.0, True  # the very same bytes: nothing moved
        diff = None
    else:
        try:
            picture = measure(image)
        except _Undecodable as exc:
            return _result(Reason.BAD_RESPONSE, start, str(exc))
        diff = history.observe(picture)
        history.digest = digest
    reason, message, detail = judge(history, settings, diff)
    return _result(reason, start, message, detail)


def _result(reason: Reason, start: float, message: str, detail: dict | None = None) -> Result:
    elapsed = time.perf_counter() - start
    return Result(reason, duration=elapsed, message=message, detail=detail or {}, phases={"total": elapsed})


#: Smaller pictures are analysed on the event loop (well under 1 ms).
INLINE_BYTES = 64 * 1024

PostStep = Callable[[Result, dict, MonitorSettings], Awaitable["Result | None"]]


def analysis_step(analyse_fn: Callable[[bytes, Any, SnapshotSettings], Result] = analyse,
                  history: Callable[[], Any] = SnapshotHistory) -> PostStep:
    """The snapshot check's post-step on the http check's answer, built around an analyser
    (tests hand in a spy).  `memory` is this camera's memory for the snapshot check, kept
    by State across rounds and reloads; the step keeps its history in it."""

    async def step(http: Result, memory: dict, settings: MonitorSettings) -> Result | None:
        if not http.ok:
            return None  # no picture: the http check's own failure already says why
        hist = memory.get("history")
        if hist is None:
            hist = memory["history"] = history()
        start = time.perf_counter()
        body = http.body or b""
        try:
            if len(body) < INLINE_BYTES:
                result = analyse_fn(body, hist, settings.snapshot)
            else:
                # measured: analyse() takes ~2 ms on a 220 KB 704x576 JPEG and ~12 ms on a
                # 1.1 MB 1080p one, time the probe schedule must not stall for; Pillow
                # decodes with the GIL released, so a worker thread really runs beside
                # the loop.  One http check per camera at a time: the history is never
                # shared between two threads.
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(None, analyse_fn, body, hist, settings.snapshot)
        except Exception as exc:  # noqa: BLE001 - an undecodable picture is a verdict
            kind = local_resource_kind(exc)
            if kind is not None:  # a full thread pool or no memory says nothing of the picture
                raise LocalResourceError(kind, exc.__class__.__name__) from None
            reason, message = classify_exception(exc)
            result = Result(reason, message=message)
        result.duration = time.perf_counter() - start
        await attach_evidence(result, memory, lambda: evidence.from_image(body))
        return result

    return step


post_step = analysis_step()
