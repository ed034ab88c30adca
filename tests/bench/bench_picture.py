#!/usr/bin/env python
"""CPU cost of the stream check's picture analysis per keyframe (not collected by pytest).

    .venv/bin/python tests/bench/bench_picture.py [--n 200]

For 1280x720 and 1920x1080, H.264 and H.265: ffmpeg encodes camera-like keyframes (SMPTE
bars under a moving test pattern, an OSD clock; CRF 23), then this measures
time.process_time() over N rounds of what the monitor does per keyframe: reassembling it
from RTP payloads (`KeyframeCollector`), decoding it (PyAV, one thread) and scaling it to
the fingerprint (swscale), measuring and comparing it (`PictureHistory.observe`, `judge`).
The baseline, in the same run: the snapshot analysis of a JPEG of the same scene and size.

"cameras per core" is what one core can check at the default stream interval (5 min), with
the default `KEYFRAMES_KEPT` keyframes collected per check and one decoded (a live camera;
a still or uniform one decodes them all), counting the picture analysis only (the
stream check itself: tests/bench/bench_stream.py).

Then, per check and in the same run, before and after the steps that decode only what the
verdict needs (1080p, the clock changing between keyframes, i.e. a live camera):

- "3 full decodes": what a check cost before: its three kept keyframes, each decoded with
  the loop filter;
- "no loop filter": the same three decodes without deblocking (`decode_keyframe` now);
- "check (live)": `analyse_keyframes` on the four kept keyframes with a warm history: the
  window's last keyframe alone settles a picture that moved;
- "check (still)": a still camera (the same keyframe four times), which decodes all four.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import cpu_ms  # noqa: E402

from monitor.model import SnapshotSettings  # noqa: E402
from monitor.probes.keyframe import KeyframeCollector  # noqa: E402
from monitor.probes.picture import PictureHistory, decode_keyframe, judge  # noqa: E402
from monitor.probes.rtp import h264_is_key, h265_is_key  # noqa: E402
from monitor.probes.snapshot import analyse  # noqa: E402
from monitor.probes.stream import KEYFRAMES_KEPT  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
INTERVAL = 300.0


def scene(w: int, h: int) -> str:
    return (f"testsrc2=s={w}x{h}:r=1,drawtext=fontfile={FONT}:text='2026-11-29 %{{pts\\:hms}}':"
            f"fontsize={h // 30}:x=20:y=20:fontcolor=white:borderw=1")


def encode(tmp: Path, codec: str, w: int, h: int) -> list[bytes]:
    import av

    encoder, fmt = {"H264": ("libx264", "h264"), "H265": ("libx265", "hevc")}[codec]
    out = tmp / f"{w}.{fmt}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", scene(w, h), "-frames:v",
                    "2", "-g", "1", "-crf", "23", "-c:v", encoder, "-f", fmt, str(out)],
                   check=True, capture_output=True, timeout=300)
    ctx = av.CodecContext.create(fmt, "r")
    return [bytes(p) for p in ctx.parse(out.read_bytes())] + [bytes(p) for p in ctx.parse(b"")]


def jpeg(tmp: Path, w: int, h: int) -> list[bytes]:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", scene(w, h), "-frames:v",
                    "2", "-q:v", "4", str(tmp / f"{w}-%d.jpg")],
                   check=True, capture_output=True, timeout=120)
    return [(tmp / f"{w}-{i}.jpg").read_bytes() for i in (1, 2)]


def payloads(codec: str, au: bytes, mtu: int = 1400) -> list[bytes]:
    """FU-A / FU fragments of each NAL unit, as a camera sends a keyframe."""
    out = []
    for nal in [n for n in au.split(b"\x00\x00\x01") if n]:
        nal = nal.rstrip(b"\x00")
        h265 = codec == "H265"
        if len(nal) <= mtu:
            out.append(nal)
            continue
        if h265:
            t, head, body = (nal[0] >> 1) & 0x3F, bytes([(nal[0] & 0x81) | 98, nal[1]]), nal[2:]
        else:
            t, head, body = nal[0] & 0x1F, bytes([(nal[0] & 0xE0) | 28]), nal[1:]
        chunks = [body[i:i + mtu] for i in range(0, len(body), mtu)]
        for i, c in enumerate(chunks):
            out.append(head + bytes([t | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)]) + c)
    return out



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    settings = SnapshotSettings()
    print(f"{'size':>9} {'codec':>5} {'KB':>5} {'collect ms':>10} {'decode+analyse ms':>17} "
          f"{'JPEG snapshot ms':>16} {'ratio':>6} {'cameras/core @5 min':>19}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for w, h in ((1280, 720), (1920, 1080)):
            jpegs = jpeg(tmp, w, h)
            jh = PictureHistory()
            jpeg_ms = cpu_ms(lambda i: analyse(jpegs[i % 2], jh, settings), args.n)
            for codec in ("H264", "H265"):
                aus = encode(tmp, codec, w, h)
                test = h264_is_key if codec == "H264" else h265_is_key
                packets = [payloads(codec, au) for au in aus]

                def collect(i: int) -> None:
                    c = KeyframeCollector(codec, keep=1)
                    ps = packets[i % 2]
                    for k, p in enumerate(ps):
                        c.feed(p, i, k == len(ps) - 1, test(p))
                    assert c.keyframes()

                history = PictureHistory()

                def decode(i: int) -> None:
                    diff = history.observe(decode_keyframe(codec, aus[i % 2]))
                    judge(history, settings, diff)

                collect_ms = cpu_ms(collect, args.n)
                decode(0)
                decode_ms = cpu_ms(decode, args.n)
                assert history.unchanged == 0  # the clock changed: every keyframe is new
                # a live camera: every kept keyframe collected, the last one decoded
                per_check = KEYFRAMES_KEPT * collect_ms + decode_ms
                per_core = INTERVAL * 1000 / per_check
                print(f"{w}x{h:<4} {codec:>5} {len(aus[0]) // 1024:>5} {collect_ms:>10.3f} "
                      f"{decode_ms:>17.2f} {jpeg_ms:>16.2f} {decode_ms / jpeg_ms:>5.1f}x "
                      f"{per_core:>19,.0f}")

    per_check_steps(args.n)


def _full_decode(codec: str, data: bytes) -> None:
    """A keyframe decoded as before: loop filter on, then the same fingerprint scaling."""
    import av

    ctx = av.CodecContext.create({"H264": "h264", "H265": "hevc"}[codec], "r")
    ctx.thread_count = 1
    frame = (list(ctx.decode(av.Packet(data))) + list(ctx.decode(None)))[0]
    frame.reformat(width=160, height=90, format="yuvj444p", interpolation="AREA")


def per_check_steps(n: int) -> None:
    from monitor.probes.picture import analyse_keyframes

    settings = SnapshotSettings()
    n = max(10, n // 4)
    print(f"\nper check, 1920x1080 ({n} rounds): CPU ms, ratio to before")
    print(f"{'codec':>5} {'3 full decodes':>14} {'no loop filter':>14} {'check (live)':>12} "
          f"{'check (still)':>13}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for codec in ("H264", "H265"):
            aus = encode(tmp, codec, 1920, 1080)
            before = cpu_ms(lambda i: [_full_decode(codec, aus[(i + k) % 2]) for k in range(3)],
                            n)
            nolf = cpu_ms(lambda i: [decode_keyframe(codec, aus[(i + k) % 2]) for k in range(3)],
                          n)
            live_history = PictureHistory()
            # the clock differs between the two keyframes: alternate so that each check's
            # last keyframe differs from the previous check's
            live = [[aus[0], aus[1], aus[0], aus[1]], [aus[1], aus[0], aus[1], aus[0]]]
            analyse_keyframes(codec, live[0], live_history, settings)
            live_ms = cpu_ms(lambda i: analyse_keyframes(codec, live[(i + 1) % 2], live_history,
                                                         settings), n)
            still_history = PictureHistory()
            still_ms = cpu_ms(lambda i: analyse_keyframes(codec, [aus[0]] * 4, still_history,
                                                          settings), n)
            print(f"{codec:>5} {before:>14.2f} {nolf:>8.2f} {nolf / before:>4.2f}x "
                  f"{live_ms:>6.2f} {live_ms / before:>4.2f}x {still_ms:>7.2f} "
                  f"{still_ms / before:>4.2f}x")


if __name__ == "__main__":
    main()
