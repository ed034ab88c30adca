"""Picture health on video keyframes made by real encoders (ffmpeg's libx264 and libx265).

- The keyframe collector rebuilds, from RTP payloads packetized as cameras do (single NAL
  units, STAP-A/AP aggregates of the parameter sets, FU-A/FU fragments of the slices), the
  exact access units the encoder wrote.
- Flat blue, grey and white pictures are `uniform_image` at any brightness, black is
  `black_image`, a placard with a caption is uniform, scenes are not.
- One scene re-encoded at several qualities (a frozen camera whose encoder keeps encoding
  the same frame) is `frozen_image` on the third keyframe; frames of a moving scene are ok.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from monitor.model import Reason, SnapshotSettings
from monitor.probes.keyframe import KeyframeCollector, parameter_sets
from monitor.probes.picture import (PictureHistory, UndecodableKeyframe, analyse_keyframes,
                                    decode_keyframe)
from monitor.probes.rtp import h264_is_key, h265_is_key
from tests.conftest import require

SETTINGS = SnapshotSettings()
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
ENCODERS = {"H264": ("libx264", "h264"), "H265": ("libx265", "hevc")}


def encode(tmp: Path, name: str, source: str, codec: str, *extra: str, frames: int = 1) -> bytes:
    require("ffmpeg")
    encoder, fmt = ENCODERS[codec]
    out = tmp / f"{name}.{fmt}"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", str(frames),
         "-c:v", encoder, *extra, "-f", fmt, str(out)],
        check=True, timeout=120, capture_output=True)
    return out.read_bytes()


def access_units(codec: str, data: bytes) -> list[bytes]:
    import av

    ctx = av.CodecContext.create("h264" if codec == "H264" else "hevc", "r")
    return [bytes(p) for p in ctx.parse(data)] + [bytes(p) for p in ctx.parse(b"")]


def nal_units(au: bytes) -> list[bytes]:
    out, i = [], 0
    starts = []
    while True:
        j = au.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(au)
        nal = au[s:end]
        while nal.endswith(b"\x00") and k + 1 < len(starts):
            nal = nal[:-1]  # the zero byte of the next 4-byte start code
        out.append(nal)
    return out


def packetize(codec: str, au: bytes, mtu: int = 1000) -> list[bytes]:
    """RTP payloads of one access unit, as a camera packs them."""
    nals = nal_units(au)
    h265 = codec == "H265"
    params = [n for n in nals if ((n[0] >> 1) & 0x3F if h265 else n[0] & 0x1F)
              in ((32, 33, 34) if h265 else (7, 8))]
    rest = [n for n in nals if n not in params]
    out = []
    if params:  # one aggregate packet for the parameter sets
        header = bytes([48 << 1, 1]) if h265 else bytes([24])
        out.append(header + b"".join(len(n).to_bytes(2, "big") + n for n in params))
    for n in rest:
        if len(n) <= mtu:
            out.append(n)
            continue
        if h265:
            ntype, head, body = (n[0] >> 1) & 0x3F, bytes([(n[0] & 0x81) | (49 << 1), n[1]]), n[2:]
        else:
            ntype, head, body = n[0] & 0x1F, bytes([(n[0] & 0xE0) | 28]), n[1:]
        chunks = [body[i:i + mtu] for i in range(0, len(body), mtu)]
        for i, chunk in enumerate(chunks):
            fu = ntype | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
            out.append(head + bytes([fu]) + chunk)
    return out


@pytest.mark.parametrize("codec", ["H264", "H265"])
def test_collector_rebuilds_the_encoders_keyframes(tmp_path, codec):
    data = encode(tmp_path, "scene", "testsrc2=s=640x360:r=10", codec, "-g", "4", frames=9)
    aus = access_units(codec, data)
    assert len(aus) == 9
    test = h265_is_key if codec == "H265" else h264_is_key
    collector = KeyframeCollector(codec, keep=3)
    for n, au in enumerate(aus):
        payloads = packetize(codec, au)
        for i, p in enumerate(payloads):
            collector.feed(p, 9000 * n, i == len(payloads) - 1, test(p))
    kept = collector.keyframes()
    assert len(kept) == 3  # frames 0, 4 and 8
    direct = [decode_keyframe(codec, aus[i]) for i in (0, 4, 8)]
    for got, want in zip(kept, direct):
        picture = decode_keyframe(codec, got)
        assert picture.fingerprint.tobytes() == want.fingerprint.tobytes()
    assert collector.dropped == 0


def test_collector_uses_sdp_parameter_sets_and_drops_oversized(tmp_path):
    import base64

    data = encode(tmp_path, "scene", "testsrc2=s=640x360", "H264")
    (au,) = access_units("H264", data)
    nals = nal_units(au)
    sps_pps = [n for n in nals if n[0] & 0x1F in (7, 8)]
    slices = [n for n in nals if n[0] & 0x1F == 5]
    fmtp = {"sprop-parameter-sets": ",".join(base64.b64encode(n).decode() for n in sps_pps)}
    collector = KeyframeCollector("H264", parameter_sets("H264", fmtp), keep=1)
    # the camera sends the parameter sets only in the SDP
    payloads = packetize("H264", b"".join(b"\x00\x00\x00\x01" + n for n in slices))
    for i, p in enumerate(payloads):
        collector.feed(p, 0, i == len(payloads) - 1, h264_is_key(p))
    (kept,) = collector.keyframes()
    assert decode_keyframe("H264", kept).fingerprint.tobytes() == \
        decode_keyframe("H264", au).fingerprint.tobytes()

    small = KeyframeCollector("H264", keep=2, max_bytes=len(au) // 2)
    for i, p in enumerate(packetize("H264", au)):
        small.feed(p, 0, i == len(packetize("H264", au)) - 1, h264_is_key(p))
    assert small.keyframes() == [] and small.dropped == 1


def test_garbage_is_undecodable_not_an_exception():
    with pytest.raises(UndecodableKeyframe):
        decode_keyframe("H264", b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 4)
    result = analyse_keyframes("H264", [b"\x00\x00\x00\x01\x67garbage"], PictureHistory(), SETTINGS)
    assert result.reason is Reason.OK and result.detail["keyframes_decoded"] == 0


@pytest.mark.parametrize("codec", ["H264", "H265"])
@pytest.mark.parametrize("colour", ["blue", "gray", "white", "0x302820"])
def test_flat_colours_are_uniform(tmp_path, codec, colour):
    data = encode(tmp_path, "flat", f"color=c={colour}:s=1280x720", codec)
    # one picture alone cannot say whether it is still: uniform needs a second
    first = analyse_keyframes(codec, [data], PictureHistory(), SETTINGS)
    assert first.reason is Reason.OK and "second picture" in first.message, first.message
    # the window's first and two later keyframes: the later ones show it still
    result = analyse_keyframes(codec, [data] * 3, PictureHistory(), SETTINGS)
    assert result.reason is Reason.UNIFORM_IMAGE, result.detail
    assert result.detail["uniform"] >= 0.99


@pytest.mark.parametrize("codec", ["H264", "H265"])
def test_black_and_placard(tmp_path, codec):
    black = encode(tmp_path, "black", "color=c=black:s=1280x720", codec)
    result = analyse_keyframes(codec, [black], PictureHistory(), SETTINGS)
    assert result.reason is Reason.BLACK_IMAGE
    assert result.detail["luminance"] < 16 / 255  # full range: video black (Y=16) reads 0
    caption = (f"color=c=0x1030a0:s=1280x720,drawtext=fontfile={FONT}:text='NO SIGNAL':"
               "fontsize=120:fontcolor=white:x=(w-tw)/2:y=(h-th)/2")
    placard = encode(tmp_path, "placard", caption, codec)
    result = analyse_keyframes(codec, [placard] * 3, PictureHistory(), SETTINGS)
    assert result.reason is Reason.UNIFORM_IMAGE, result.detail
    assert 0.9 <= result.detail["uniform"] < 0.99  # the caption is seen, and not enough


@pytest.mark.parametrize("codec", ["H264", "H265"])
@pytest.mark.parametrize("scene", ["testsrc2", "mandelbrot", "smptebars"])
def test_scenes_are_not_uniform(tmp_path, codec, scene):
    data = encode(tmp_path, scene, f"{scene}=s=1280x720", codec)
    result = analyse_keyframes(codec, [data], PictureHistory(), SETTINGS)
    assert result.reason is Reason.OK, result.message
    assert result.detail["uniform"] < 0.3


def test_uniform_verdict_can_be_turned_off(tmp_path):
    data = encode(tmp_path, "flat", "color=c=blue:s=640x360", "H264")
    result = analyse_keyframes("H264", [data], PictureHistory(), SnapshotSettings(uniform_above=0))
    assert result.reason is Reason.OK


@pytest.mark.parametrize("codec", ["H264", "H265"])
@pytest.mark.parametrize("size", ["1280x720", "640x360"])
def test_frozen_survives_encoder_noise_and_moving_scene_is_ok(tmp_path, codec, size):
    # one moment of the scene, encoded at three qualities: what a camera stuck on one frame
    # sends, keyframe after keyframe, while its rate control wanders
    still = [encode(tmp_path, f"still{q}", f"testsrc2=s={size}", codec, "-crf", str(q))
             for q in (21, 23, 25)]
    history = PictureHistory()
    results = [analyse_keyframes(codec, [k], history, SETTINGS) for k in still]
    assert [r.reason for r in results] == [Reason.OK, Reason.OK, Reason.FROZEN_IMAGE], \
        [r.detail for r in results]
    # by checks of three keyframes each (the window's first is compared only with the
    # previous check's first): frozen at the second check, the first one decoded in full
    history = PictureHistory()
    results = [analyse_keyframes(codec, still, history, SETTINGS) for _ in range(2)]
    assert [r.reason for r in results] == [Reason.OK, Reason.FROZEN_IMAGE], \
        [r.detail for r in results]
    assert results[0].detail["keyframes_decoded"] == 3
    # a moving scene: keyframes one second apart
    data = encode(tmp_path, "moving", f"testsrc2=s={size}:r=1", codec, "-g", "1", frames=3)
    result = analyse_keyframes(codec, access_units(codec, data), PictureHistory(), SETTINGS)
    assert result.reason is Reason.OK, result.detail
    assert result.detail["unchanged"] == 0
    # a still scene whose only change is the clock the camera burns into its picture
    h = int(size.split("x")[1])
    clock = (f"smptebars=s={size}:r=1,drawtext=fontfile={FONT}:text='2026-11-29 %{{pts\\:hms}}'"
             f":fontsize={h // 30}:x=20:y=20:fontcolor=white:borderw=1")
    data = encode(tmp_path, "clock", clock, codec, "-g", "1", frames=3)
    result = analyse_keyframes(codec, access_units(codec, data), PictureHistory(), SETTINGS)
    assert result.reason is Reason.OK, result.detail
    assert result.detail["unchanged"] == 0


# ------------------------------------------------------------------ moving content, flat field
CLOCK = (f"drawtext=fontfile={FONT}:text='12\\:00\\:%{{eif\\:t\\:d\\:2}}':fontsize=h/30:"
         "fontcolor=white:x=20:y=20")  # a camera's OSD clock, ticking every second
#: ten-second scenes at 10 fps; each a flat field, most of them over 90 % one colour
LIVE_AND_DEAD = {
    # a dark street at night, sensor noise, a passing headlight (60x30 px at 720p)
    "night": ("color=c=0x141820:s={s}:r=10[bg];color=c=0xfff0c0:s=60x30:r=10[l];"
              "[bg][l]overlay=x='mod(t*300\\,W)':y=H*2/3,noise=alls=12:allf=t+u," + CLOCK,
              Reason.OK),
    # the test pattern that read uniform: a small ball crossing one flat colour
    "ball": ("color=c=0x406080:s={s}:r=10[bg];color=c=white:s=40x40:r=10[l];"
             "[bg][l]overlay=x='mod(t*200\\,W)':y=H/2", Reason.OK),
    # tape over the lens: a dark brown field, sensor noise, the OSD clock still ticking
    "taped": ("color=c=0x302010:s={s}:r=10,noise=alls=12:allf=t+u," + CLOCK,
              Reason.UNIFORM_IMAGE),
    # an NVR's placard with its clock
    "placard": (f"color=c=0x1030a0:s={{s}}:r=10,drawtext=fontfile={FONT}:text='NO VIDEO':"
                "fontsize=h/12:fontcolor=white:x=(w-tw)/2:y=(h-th)/2," + CLOCK,
                Reason.UNIFORM_IMAGE),
    "blue": ("color=c=blue:s={s}:r=10", Reason.UNIFORM_IMAGE),
    "white": ("color=c=white:s={s}:r=10", Reason.UNIFORM_IMAGE),
}


@pytest.mark.parametrize("size", ["1280x720", "320x240"])
@pytest.mark.parametrize("name", list(LIVE_AND_DEAD))
def test_moving_content_on_a_flat_field_is_not_uniform(tmp_path, name, size):
    graph, expected = LIVE_AND_DEAD[name]
    data = encode(tmp_path, name, graph.replace("{s}", size), "H264", "-g", "10", "-sc_threshold", "0",
                  "-pix_fmt",
                  "yuv420p", frames=40)
    keyframes = [k for k in access_units("H264", data) if decode_is_key(k)]
    assert len(keyframes) == 4  # one a second
    history = PictureHistory()
    # two checks: the first and the last two keyframes of a window, as the stream check keeps
    first = analyse_keyframes("H264", keyframes[:3], history, SETTINGS)
    second = analyse_keyframes("H264", keyframes[-3:], history, SETTINGS)
    for result in (first, second):
        assert result.reason is expected, (result.message, result.detail)
    if expected is Reason.OK:
        assert first.detail["uniform"] >= 0.9 and "moves" in first.message, first.message
    else:
        assert "still" in second.message


def decode_is_key(au: bytes) -> bool:
    return any(n[0] & 0x1F == 5 for n in nal_units(au))


def test_a_moving_scene_costs_one_decode_per_check_once_the_history_has_a_picture(tmp_path):
    data = encode(tmp_path, "moving", "testsrc2=s=640x360:r=1", "H264", "-g", "1", frames=6)
    aus = access_units("H264", data)
    history = PictureHistory()
    first = analyse_keyframes("H264", aus[:3], history, SETTINGS)
    second = analyse_keyframes("H264", aus[3:], history, SETTINGS)
    assert (first.reason, second.reason) == (Reason.OK, Reason.OK)
    assert first.detail["keyframes_decoded"] == 3 and second.detail["keyframes_decoded"] == 1
    # a still one pays for all three, and is frozen
    still = [encode(tmp_path, "still", "testsrc2=s=640x360", "H264")] * 3
    history = PictureHistory()
    results = [analyse_keyframes("H264", still, history, SETTINGS) for _ in range(2)]
    assert [r.detail["keyframes_decoded"] for r in results] == [3, 3]
    assert results[1].reason is Reason.FROZEN_IMAGE
