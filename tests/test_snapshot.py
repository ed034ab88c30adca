"""Picture health: black and frozen pictures, told apart from live ones.

Pictures are built here with Pillow from seeded random data (deterministic): a textured
scene, a burnt-in clock like the OSD of real cameras, sensor noise.  The margin test at the
end measures what the module docstring of monitor.probes.snapshot quotes.
"""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFile, ImageFont

from monitor.model import Reason, SnapshotSettings
from monitor.probes import snapshot
from monitor.probes.snapshot import CHANGE_THRESHOLDS, SnapshotHistory, analyse, scale_for

SETTINGS = SnapshotSettings(frozen_after=3, black_below=16)


def scene(w: int, h: int, seed: int) -> Image.Image:
    """A textured street-ish scene: smooth blobs, hard-edged shapes, fine grain."""
    rnd = random.Random(seed)
    sw, sh = max(2, w // 16), max(2, h // 16)
    base = Image.frombytes("L", (sw, sh), rnd.randbytes(sw * sh)).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x, y = rnd.randrange(w), rnd.randrange(h)
        draw.rectangle([x, y, x + rnd.randrange(8, w // 4), y + rnd.randrange(8, h // 4)], fill=rnd.randrange(256))
    grain = Image.frombytes("L", (w, h), rnd.randbytes(w * h))
    return Image.blend(base, grain, 0.2).convert("RGB")


def noise(size: tuple[int, int], amplitude: int, rnd: random.Random) -> Image.Image:
    """Uniform sensor noise in [-amplitude, amplitude], centred on 128 for ImageChops.add."""
    raw = Image.frombytes("L", size, rnd.randbytes(size[0] * size[1]))
    return raw.point(lambda v: 128 + (v - 128) * amplitude // 128).convert("RGB")


def frame(bg: Image.Image, t: int, amplitude: int = 0, seed: int = 0, clock: bool = True) -> Image.Image:
    w, h = bg.size
    im = bg.copy()
    if amplitude:
        im = ImageChops.add(im, noise(bg.size, amplitude, random.Random(seed)), scale=1, offset=-128)
    if clock:
        draw = ImageDraw.Draw(im)
        font = ImageFont.load_default(size=max(12, h // 30))
        stamp = f"2026-11-28 {t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        draw.text((w // 40, h // 40), stamp, font=font, fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    return im


def jpeg(im: Image.Image, quality: int = 75) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def run(pictures: list[bytes], settings: SnapshotSettings = SETTINGS):
    history = SnapshotHistory()
    return [analyse(p, history, settings) for p in pictures], history


# --------------------------------------------------------------------------- black


def test_black_picture():
    bg = Image.new("RGB", (640, 360), (6, 6, 6))
    (result,), _ = run([jpeg(frame(bg, 0, amplitude=4, clock=False))])
    assert result.reason is Reason.BLACK_IMAGE
    assert result.detail["luminance"] < 16 / 255
    assert "black" in result.message


def test_dark_but_not_black_scene_is_ok():
    bg = scene(640, 360, seed=5).point(lambda v: 14 + v // 8)  # a night scene, mean ~ 30
    (result,), _ = run([jpeg(frame(bg, 0))])
    assert result.reason is Reason.OK, result.message
    assert 25 / 255 < result.detail["luminance"] < 40 / 255


def test_black_wins_over_frozen():
    picture = jpeg(Image.new("RGB", (320, 240), (0, 0, 0)))
    results, history = run([picture] * 4)
    assert [r.reason for r in results] == [Reason.BLACK_IMAGE] * 4
    assert history.unchanged == 3


# --------------------------------------------------------------------------- frozen


def test_same_bytes_frozen_on_the_frozen_after_th_fetch_not_before():
    picture = jpeg(frame(scene(640, 360, 1), 100, amplitude=8))
    results, _ = run([picture] * 4)
    assert [r.reason for r in results] == [Reason.OK, Reason.OK, Reason.FROZEN_IMAGE, Reason.FROZEN_IMAGE]
    assert [r.detail["unchanged"] for r in results] == [0, 1, 2, 3]
    assert results[2].message == "same picture 3 fetches in a row"


@pytest.mark.parametrize("frozen_after", [2, 5])
def test_frozen_after_setting(frozen_after):
    picture = jpeg(frame(scene(320, 240, 2), 100))
    results, _ = run([picture] * 6, SnapshotSettings(frozen_after=frozen_after, black_below=16))
    first = [r.reason for r in results].index(Reason.FROZEN_IMAGE)
    assert first == frozen_after - 1


@pytest.mark.parametrize("size", [(1920, 1080), (640, 360)])
def test_same_scene_reencoded_is_frozen(size):
    still = frame(scene(*size, seed=3), 100, amplitude=10, seed=3)
    pictures = [jpeg(still, q) for q in (95, 60, 80, 50)]
    assert len(set(pictures)) == 4  # different bytes every time
    results, _ = run(pictures)
    assert [r.reason for r in results] == [Reason.OK, Reason.OK, Reason.FROZEN_IMAGE, Reason.FROZEN_IMAGE]
    threshold = CHANGE_THRESHOLDS[scale_for(*size)]
    assert all(r.detail["difference"] < threshold for r in results[1:])


def test_decoded_and_reencoded_stuck_frame_is_frozen():
    """Generation loss: what an NVR re-serving a stuck frame produces."""
    first = jpeg(frame(scene(1280, 720, 4), 100, amplitude=8), 80)
    second = jpeg(Image.open(io.BytesIO(first)), 70)
    third = jpeg(Image.open(io.BytesIO(second)), 90)
    results, _ = run([first, second, third])
    assert results[-1].reason is Reason.FROZEN_IMAGE


# --------------------------------------------------------------------------- live


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (640, 360)])
@pytest.mark.parametrize("step", [1, 30, 60])
def test_live_scene_with_clock_and_noise_is_ok_every_time(size, step):
    bg = scene(*size, seed=5)
    pictures = [jpeg(frame(bg, 1000 + i * step, amplitude=6, seed=i)) for i in range(6)]
    results, _ = run(pictures)
    assert [r.reason for r in results] == [Reason.OK] * 6, [r.detail for r in results]
    assert all(r.detail["unchanged"] == 0 for r in results)


def test_live_clock_alone_on_a_clean_sensor_is_ok():
    bg = scene(1920, 1080, seed=6)
    results, _ = run([jpeg(frame(bg, 1000 + i * 30)) for i in range(5)])
    assert [r.reason for r in results] == [Reason.OK] * 5


def test_small_moving_rectangle_counts_as_change():
    bg = scene(1280, 720, seed=7)
    pictures = []
    for i in range(5):
        im = bg.copy()
        ImageDraw.Draw(im).rectangle([100 + 24 * i, 600, 124 + 24 * i, 624], fill=(250, 250, 250))
        pictures.append(jpeg(im))
    results, _ = run(pictures)
    assert [r.reason for r in results] == [Reason.OK] * 5


def test_history_resets_after_a_change():
    a = jpeg(frame(scene(640, 360, 8), 100))
    b = jpeg(frame(scene(640, 360, 9), 100))
    results, history = run([a, a, a, b, b])
    assert [r.reason for r in results] == [Reason.OK, Reason.OK, Reason.FROZEN_IMAGE, Reason.OK, Reason.OK]
    assert [r.detail["unchanged"] for r in results] == [0, 1, 2, 0, 1]
    assert history.unchanged == 1


def test_resolution_change_counts_as_change():
    still = frame(scene(640, 360, 10), 100)
    results, _ = run([jpeg(still), jpeg(still), jpeg(still.resize((320, 180)))])
    assert results[-1].reason is Reason.OK and results[-1].detail["unchanged"] == 0


# --------------------------------------------------------------------------- undecodable


def test_truncated_jpeg_is_bad_response_and_leaves_history_alone():
    picture = jpeg(frame(scene(640, 360, 11), 100))
    history = SnapshotHistory()
    assert analyse(picture, history, SETTINGS).reason is Reason.OK
    for cut in (len(picture) // 2, len(picture) - 2):
        result = analyse(picture[:cut], history, SETTINGS)
        assert result.reason is Reason.BAD_RESPONSE
        assert result.message == "truncated picture"
    assert history.unchanged == 0
    assert analyse(picture, history, SETTINGS).detail["unchanged"] == 1


def test_truncation_detected_even_if_someone_enabled_load_truncated_images():
    picture = jpeg(frame(scene(320, 240, 12), 100))
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        result = analyse(picture[: len(picture) // 2], SnapshotHistory(), SETTINGS)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    assert result.reason is Reason.BAD_RESPONSE


@pytest.mark.parametrize(
    "data, message",
    [
        (random.Random(13).randbytes(5000), "not a picture"),
        (b"<html><body>login</body></html>", "not a picture"),
        (b"", "empty picture"),
        (b"\xff\xd8\xff\xe0" + random.Random(14).randbytes(3000), None),  # JPEG magic, garbage inside
    ],
)
def test_not_a_picture_is_bad_response(data, message):
    (result,), history = run([data])
    assert result.reason is Reason.BAD_RESPONSE
    if message:
        assert result.message == message
    assert history.luminance is None


def test_png_is_analysed_too():
    out = io.BytesIO()
    frame(scene(320, 240, 15), 100).save(out, "PNG")
    results, _ = run([out.getvalue()] * 3)
    assert [r.reason for r in results] == [Reason.OK, Reason.OK, Reason.FROZEN_IMAGE]


def test_history_is_small():
    history = SnapshotHistory()
    analyse(jpeg(frame(scene(1920, 1080, 16), 100)), history, SETTINGS)
    assert history.size == (160, 90)
    assert len(history.fingerprint) == 160 * 90


# --------------------------------------------------------------------------- the margin


@pytest.mark.parametrize(
    "scale, sizes",
    [(8, [(1920, 1080), (1280, 720)]), (4, [(1024, 768), (704, 576), (640, 360), (352, 288)])],
)
def test_margin_between_reencoding_noise_and_live_change(scale, sizes):
    """What the module docstring quotes: how far re-encoding moves a fingerprint (quality
    30 to 95 against 75, and a decode/re-encode generation) and how far a live picture
    moves it (clock steps of 1 s to 1 h, with and without sensor noise), per decode scale,
    with the change threshold in between."""
    reencode, live = [], []
    for size in sizes:
        assert scale_for(*size) == scale
        for seed in range(3):
            bg = scene(*size, seed=100 + seed)
            still = frame(bg, 1000, amplitude=8, seed=seed)
            first = jpeg(still, 75)
            ref, _, _ = snapshot.fingerprint(first)
            others = [jpeg(still, q) for q in (30, 50, 60, 70, 85, 95)]
            others.append(jpeg(Image.open(io.BytesIO(first)), 60))
            for other in others:
                fp, _, _ = snapshot.fingerprint(other)
                reencode.append(snapshot.difference(ref.tobytes(), ref.size, fp))
            for amplitude in (0, 8):
                a, _, _ = snapshot.fingerprint(jpeg(frame(bg, 1000, amplitude, seed=1)))
                for step in (1, 30, 60, 3600):
                    b, _, _ = snapshot.fingerprint(jpeg(frame(bg, 1000 + step, amplitude, seed=2)))
                    live.append(snapshot.difference(a.tobytes(), a.size, b))
    threshold = CHANGE_THRESHOLDS[scale]
    print(f"1/{scale}: re-encode max {max(reencode)}, threshold {threshold}, live min {min(live)}, "
          f"live median {sorted(live)[len(live) // 2]}")
    assert max(reencode) < threshold <= min(live)


# --------------------------------------------------------------------------- uniform


@pytest.mark.parametrize("colour", [(20, 40, 170), (128, 128, 128), (250, 250, 250), (60, 50, 40)])
def test_one_colour_at_any_brightness_is_uniform(colour):
    bg = Image.new("RGB", (1280, 720), colour)
    # clock burnt in and ticking, sensor noise: still, as far as uniform is concerned; the
    # first picture alone cannot show that
    (first, result), _ = run([jpeg(frame(bg, 0, amplitude=6, seed=1)),
                              jpeg(frame(bg, 1, amplitude=6, seed=2))])
    assert first.reason is Reason.OK and "second picture" in first.message
    assert result.reason is Reason.UNIFORM_IMAGE, result.detail
    assert result.detail["uniform"] >= 0.9
    assert "uniform picture" in result.message


def test_textured_scene_is_not_uniform_and_uniform_can_be_off():
    (result,), _ = run([jpeg(frame(scene(1280, 720, seed=3), 0))])
    assert result.reason is Reason.OK and result.detail["uniform"] < 0.3
    blue = jpeg(frame(Image.new("RGB", (640, 360), (20, 40, 170)), 0))
    off = SnapshotSettings(frozen_after=3, black_below=16, uniform_above=0)
    (_, result), _ = run([blue, blue], off)
    assert result.reason is Reason.OK
