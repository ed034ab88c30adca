"""Picture health of a camera snapshot: black and frozen pictures (the `snapshot` check).

Owns `SnapshotHistory` (what one camera remembers between fetches: a digest, a fingerprint
of at most 160x160 bytes, a counter) and `analyse(image, history, settings) -> Result`.
Pure CPU, no I/O: the `http` check fetches the picture (`Result.body`) and `post_step`, the
snapshot check's post-step in the check catalogue (`monitor.checks`), runs `analyse` on it,
in a worker thread for large pictures (Pillow releases the GIL while decoding).

How a picture is looked at
--------------------------
Identical bytes short-circuit: a BLAKE2b digest equal to the previous one means
"unchanged" without decoding (the common frozen case: firmware serving one cached JPEG).

Otherwise the JPEG is decoded scaled down by libjpeg (``Image.draft("L", ...)``): luma
only, no chroma, no full IDCT.  Pictures of 1280 pixels or more on the long side are
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

Verdicts
--------
- ``black_image`` when the mean luminance * 255 is below ``settings.black_below``; black
  wins over frozen (a black frozen picture is reported black);
- ``frozen_image`` when ``settings.frozen_after`` pictures in a row were unchanged, i.e.
  after ``frozen_after - 1`` unchanged fetches (``frozen_after`` below 2 disables it);
- ``bad_response`` for anything that does not decode completely (truncated or corrupt
  JPEG, not a picture at all); the history is then left as it was;
- otherwise ``ok``.  ``detail``: "luminance" (0..1), "unchanged" (consecutive unchanged
  fetches), "difference" (largest fingerprint difference to the previous picture; None
  for the first picture and for byte-identical ones).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from typing import Any, Awaitable, Callable

from PIL import Image, ImageChops, ImageFile, UnidentifiedImageError

from ..model import MonitorSettings, Reason, Result, SnapshotSettings
from .base import classify_exception

#: Smallest fingerprint difference (grey levels, 0-255) that counts as a change, by decode
#: scale.  Measured (module docstring): re-encoding moves a 1/8-scale fingerprint by at
#: most 2 and a 1/4-scale one by at most 9; live pictures by at least 11 and 16.
CHANGE_THRESHOLDS = {8: 4, 4: 13}
#: Longest side of the stored fingerprint.  160 keeps a 1080p clock digit well above the
#: threshold (at 128 the quietest digit step measured 4, at 64 it fell to 1-2 levels).
FINGERPRINT_SIDE = 160
#: Pictures we decode; others are not a camera snapshot.  Naming them keeps Pillow's rarer
#: parsers away from bytes that came off the network.
FORMATS = ("JPEG", "PNG", "BMP", "GIF")
#: Non-JPEG pictures are decoded in full; refuse the absurd before allocating for it.
MAX_FULL_DECODE_PIXELS = 40_000_000
#: Large JPEGs are decoded at 1/8 scale, so only 1/64 of this is allocated.
MAX_JPEG_PIXELS = 1_000_000_000

# A truncated JPEG must be an error, not a picture with a grey bottom half.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class SnapshotHistory:
    """What one camera's snapshot check remembers between fetches."""

    __slots__ = ("digest", "fingerprint", "size", "luminance", "unchanged")

    def __init__(self) -> None:
        self.digest: bytes | None = None  # BLAKE2b of the last decodable body
        self.fingerprint: bytes | None = None  # scaled luma, at most 160 on a side
        self.size: tuple[int, int] = (0, 0)  # of the fingerprint
        self.luminance: float | None = None  # of the last decodable picture, 0..1
        self.unchanged = 0  # consecutive fetches unchanged from their predecessor

    def __repr__(self) -> str:
        return f"SnapshotHistory(unchanged={self.unchanged}, luminance={self.luminance})"


class _Undecodable(Exception):
    pass


def scale_for(w: int, h: int) -> int:
    """1/8 (DC only) when that still leaves FINGERPRINT_SIDE pixels, else 1/4."""
    return 8 if max(w, h) >= 8 * FINGERPRINT_SIDE else 4


def fingerprint(image: bytes) -> tuple[Image.Image, float, int]:
    """(fingerprint as an "L" image, mean luminance 0..1, its change threshold);
    raises _Undecodable."""
    try:
        im = Image.open(io.BytesIO(image), formats=FORMATS)
        w, h = im.size
        scale = scale_for(w, h)
        if im.format == "JPEG":
            if w * h > MAX_JPEG_PIXELS:
                raise _Undecodable(f"picture too large ({w}x{h})")
            # Scaled decode of the luma plane only: see the module docstring.
            im.draft("L", (max(1, w // scale), max(1, h // scale)))
            im.load()  # a full load, so that truncation raises here
        else:
            if w * h > MAX_FULL_DECODE_PIXELS:
                raise _Undecodable(f"picture too large ({w}x{h})")
            im.load()
            if im.mode not in ("L", "RGB", "RGBA"):
                im = im.convert("L")
            if w >= scale and h >= scale:
                im = im.reduce(scale)
        if im.mode != "L":
            im = im.convert("L")
    except _Undecodable:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError...
        raise _Undecodable(_describe(exc)) from None
    hist = im.histogram()
    count = im.size[0] * im.size[1]
    luminance = sum(i * n for i, n in enumerate(hist)) / (255.0 * count) if count else 0.0
    w, h = im.size
    if max(w, h) > FINGERPRINT_SIDE:
        ratio = FINGERPRINT_SIDE / max(w, h)
        im = im.resize((max(1, round(w * ratio)), max(1, round(h * ratio))), Image.Resampling.BOX)
    return im, luminance, CHANGE_THRESHOLDS[scale]


def _describe(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not a picture"
    text = str(exc).split("\n", 1)[0][:80]
    if "truncated" in text.lower():
        return "truncated picture"
    return f"undecodable picture ({exc.__class__.__name__}: {text})"


def difference(previous: bytes | None, size: tuple[int, int], current: Image.Image) -> int | None:
    """Largest absolute difference between two fingerprints; None when not comparable."""
    if previous is None or size != current.size:
        return None
    before = Image.frombytes("L", size, previous)
    return ImageChops.difference(before, current).getextrema()[1]


def analyse(image: bytes, history: SnapshotHistory, settings: SnapshotSettings) -> Result:
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
        diff = None
    else:
        try:
            thumb, luminance, threshold = fingerprint(image)
        except _Undecodable as exc:
            return _result(Reason.BAD_RESPONSE, start, str(exc))
        diff = difference(history.fingerprint, history.size, thumb)
        history.unchanged = history.unchanged + 1 if diff is not None and diff < threshold else 0
        history.digest = digest
        history.fingerprint = thumb.tobytes()
        history.size = thumb.size
        history.luminance = luminance
    luminance = history.luminance
    assert luminance is not None
    detail = {"luminance": round(luminance, 4), "unchanged": history.unchanged, "difference": diff}
    level = luminance * 255.0
    if level < settings.black_below:
        return _result(Reason.BLACK_IMAGE, start, f"black picture (mean luminance {level:.0f}/255)", detail)
    if settings.frozen_after >= 2 and history.unchanged >= settings.frozen_after - 1:
        return _result(
            Reason.FROZEN_IMAGE, start, f"same picture {history.unchanged + 1} fetches in a row", detail
        )
    return _result(Reason.OK, start, "", detail)


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
            reason, message = classify_exception(exc)
            result = Result(reason, message=message)
        result.duration = time.perf_counter() - start
        return result

    return step


post_step = analysis_step()
