"""Evidence thumbnails: what a camera showed when a picture verdict failed it.

`from_keyframe(codec, data)` and `from_image(data)` make a small JPEG (`WIDTH` pixels wide,
at most `MAX_BYTES`) of the picture a ``black_image``, ``uniform_image`` or
``frozen_image`` verdict was given on; the outage ledger keeps it with the outage it opens
(`monitor.history.thumbs`).  The JPEG is encoded here from pixels only: nothing of the
camera's file (EXIF, comments, which may hold a URL with a password) is carried over.
Made only for failing pictures, so its cost (one keyframe decode at 1080p, about 10 ms)
is paid by the few cameras that are down, not the fleet.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

#: Thumbnail width in pixels (height from the picture's aspect ratio).
WIDTH = 320
#: Size cap: the quality steps down until the JPEG fits, else no thumbnail.
MAX_BYTES = 24 * 1024
QUALITIES = (70, 50, 35)
#: FFmpeg decoder names by SDP codec name (the picture check's too).
DECODERS = {"H264": "h264", "H265": "hevc", "HEVC": "hevc"}
#: Verdicts an evidence thumbnail is made for.
PICTURE_REASONS = frozenset({"black_image", "uniform_image", "frozen_image"})


class NoThumbnail(Exception):
    pass


def encode(image: Image.Image) -> bytes:
    """An RGB picture -> a JPEG of WIDTH pixels wide, at most MAX_BYTES, no metadata."""
    w, h = image.size
    if w < 1 or h < 1:
        raise NoThumbnail("empty picture")
    size = (WIDTH, max(1, round(h * WIDTH / w))) if w > WIDTH else (w, h)
    small = image.convert("RGB").resize(size, Image.Resampling.BOX)
    # a fresh image of the pixels alone: Pillow would write the source's JPEG comment
    # (and keep its info) into the thumbnail otherwise
    small = Image.frombytes("RGB", small.size, small.tobytes())
    for quality in QUALITIES:
        out = io.BytesIO()
        small.save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= MAX_BYTES:
            return out.getvalue()
    raise NoThumbnail(f"thumbnail over {MAX_BYTES} bytes")


def from_image(data: bytes) -> bytes:
    """A snapshot (JPEG, PNG...) -> thumbnail; raises NoThumbnail."""
    try:
        im = Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "BMP", "GIF"))
        if im.format == "JPEG":
            im.draft("RGB", (WIDTH, WIDTH))  # libjpeg's scaled decode: only what is shown
        im.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError...
        raise NoThumbnail(f"undecodable picture ({exc.__class__.__name__})") from None
    return encode(im)


def from_keyframe(codec: str, data: bytes) -> bytes:
    """One H.264/H.265 keyframe access unit -> thumbnail; raises NoThumbnail."""
    import av  # only failing stream pictures pay for the import

    name = DECODERS.get(codec.upper())
    if name is None:
        raise NoThumbnail(f"no decoder for {codec}")
    try:
        ctx = av.CodecContext.create(name, "r")
        ctx.thread_count = 1
        frames = list(ctx.decode(av.Packet(data))) + list(ctx.decode(None))
        if not frames:
            raise NoThumbnail("keyframe gave no picture")
        frame = frames[0]
        height = max(1, round(frame.height * WIDTH / max(1, frame.width)))
        image = frame.reformat(width=WIDTH, height=height, format="rgb24",
                               interpolation="AREA").to_image()
    except NoThumbnail:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises av.error.* (OSError/ValueError)
        raise NoThumbnail(f"keyframe did not decode ({exc.__class__.__name__})") from None
    return encode(image)


#: Checks whose post-step keeps an evidence thumbnail in its memory (key "evidence").
CHECKS = ("picture", "snapshot")


def current(cs: Any) -> bytes | None:
    """The thumbnail of what a camera (a `monitor.state.CameraState`) showed when its
    current picture verdict failed it; None when it is not down for a picture."""
    if cs.failed_check not in CHECKS or cs.reason is None \
            or cs.reason.value not in PICTURE_REASONS:
        return None
    memory = cs.memory.get(cs.failed_check)
    return None if memory is None else memory.get("evidence")


def url(camera_id: str) -> str:
    from urllib.parse import quote

    return f"/api/cameras/{quote(camera_id, safe='')}/evidence.jpg"
