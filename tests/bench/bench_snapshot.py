#!/usr/bin/env python
"""CPU cost of the snapshot check per picture analysed (not collected by pytest).

    .venv/bin/python tests/bench/bench_snapshot.py [--n 500]

Measures time.process_time() over N analyses of a 1920x1080 and a 640x360 JPEG, in the
three cases the check meets: a live camera (a new picture each time: full scaled decode and
compare), a frozen camera serving identical bytes (digest only), and, for comparison, what
a full-size decode of the same picture would cost (what the draft decode saves).
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import cpu_ms  # noqa: E402

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from monitor.model import SnapshotSettings  # noqa: E402
from monitor.probes.snapshot import SnapshotHistory, analyse  # noqa: E402


def camera_picture(w: int, h: int, t: int, seed: int = 1) -> bytes:
    """A street-like picture: smooth shapes, mild grain, an OSD clock; ~camera-sized JPEG."""
    rnd = random.Random(seed)
    sw, sh = w // 16, h // 16
    im = Image.frombytes("L", (sw, sh), rnd.randbytes(sw * sh)).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(60):
        x, y = rnd.randrange(w), rnd.randrange(h)
        draw.rectangle([x, y, x + rnd.randrange(8, w // 5), y + rnd.randrange(8, h // 5)], fill=rnd.randrange(256))
    grain = Image.frombytes("L", (w, h), random.Random(t).randbytes(w * h))
    im = Image.blend(im, grain, 0.06).convert("RGB")
    font = ImageFont.load_default(size=max(12, h // 30))
    ImageDraw.Draw(im).text((w // 40, h // 40), f"2026-11-28 02:15:{t % 60:02d}", font=font, fill=(255, 255, 255))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80)
    return out.getvalue()



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    settings = SnapshotSettings()
    print(f"{'picture':>10} {'bytes':>8} {'live ms':>8} {'frozen ms':>9} {'full decode ms':>14} {'ratio':>6}")
    for w, h in [(1920, 1080), (640, 360)]:
        pictures = [camera_picture(w, h, t) for t in range(2)]
        history = SnapshotHistory()
        live = cpu_ms(lambda i: analyse(pictures[i % 2], history, settings), args.n)
        assert history.unchanged == 0
        frozen = cpu_ms(lambda i: analyse(pictures[0], history, settings), args.n)

        def full(i: int) -> None:
            im = Image.open(io.BytesIO(pictures[i % 2]))
            im.convert("L").resize((160, 90), Image.Resampling.BOX)

        full_ms = cpu_ms(full, max(20, args.n // 5))
        print(f"{w}x{h:<5} {len(pictures[0]):>8} {live:>8.3f} {frozen:>9.3f} {full_ms:>14.3f} {full_ms / live:>5.1f}x")


if __name__ == "__main__":
    main()
