"""A third-party RTSP camera for the witness tests: GStreamer's RTSP server (GstRtspServer).

Runs under Debian's /usr/bin/python3 (the only interpreter with `gi`), as a subprocess of
tests/test_gstreamer_witness.py:

    /usr/bin/python3 tests/witness/gst_rtsp_server.py PORT [USER PASSWORD]

It serves on 127.0.0.1:PORT (0: any free port) and prints "READY <port>" once listening.  Mounts:

- /live   videotestsrc (live) -> x264enc (zerolatency, keyframe every 30 frames) -> rtph264pay
- /auth   the same, behind Digest authentication (USER / PASSWORD)
- /nokey  the same, but every keyframe buffer is dropped by a pad probe: only P-slices flow
- /stall  the same, but every buffer after the first second (30 buffers) is dropped

Pictures for the picture-health checks (10 fps, a keyframe every 5 frames: twice a second):

- /black   videotestsrc pattern=black -> x264
- /still   SMPTE bars, never changing -> x264 (a frozen camera: every keyframe re-encoded)
- /moving  SMPTE bars scrolling 4 pixels a frame -> x264
- /blue /grey /white   one flat colour -> x264 (a placard, a covered lens, a white-out)
- /h265    the scrolling bars -> x265enc -> rtph265pay
- /h265-still  the still bars -> x265

Mostly flat pictures, alive or not (an OSD clock ticking in the corner of each):

- /ball    a small ball crossing one flat colour (98 % of the picture): alive
- /night   a dark noisy field with a light crossing it (a street at night): alive
- /placard "NO VIDEO" over a blue field; /taped  a dark brown noisy field (a covered lens)

- /still-cbr  the still bars at 320x240 through a constant-bitrate x264: every session (the
  server builds a pipeline per client) starts with a keyframe coded at another quality
- /pause   the scrolling bars, silent from 1.8 s to 4.0 s of each session (a source
  looping, a relay reconnecting)
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 360, 30
PIPELINE = (
    f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={WIDTH},height={HEIGHT},"
    f"framerate={FPS}/1 ! x264enc name=enc tune=zerolatency key-int-max=30 speed-preset=ultrafast "
    "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


# 10 fps, a keyframe every 5 frames: two keyframes a second at a third of the encoding
# work, so that eight pictures served at once keep their pace on a busy machine
_X264 = "x264enc tune=zerolatency key-int-max=5 speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 config-interval=-1"
_X265 = ("x265enc tune=zerolatency key-int-max=5 speed-preset=ultrafast ! "
         "rtph265pay name=pay0 pt=96 config-interval=-1")
_CAPS = f"video/x-raw,width={WIDTH},height={HEIGHT},framerate=10/1"
# a camera's OSD clock, top left, ticking every second
_CLOCK = "clockoverlay halignment=left valignment=top font-desc=\"Sans 10\" time-format=\"%H:%M:%S\""
PICTURES = {
    "/black": f"videotestsrc is-live=true pattern=black ! {_CAPS} ! {_X264}",
    "/still": (f"videotestsrc pattern=smpte num-buffers=1 ! {_CAPS} ! imagefreeze is-live=true "
               f"! {_X264}"),
    "/moving": f"videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! {_CAPS} ! {_X264}",
    "/blue": f"videotestsrc is-live=true pattern=blue ! {_CAPS} ! {_X264}",
    "/grey": (f"videotestsrc is-live=true pattern=solid-color foreground-color=0xff808080 "
              f"! {_CAPS} ! {_X264}"),
    "/white": f"videotestsrc is-live=true pattern=white ! {_CAPS} ! {_X264}",
    "/h265": f"videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! {_CAPS} ! {_X265}",
    "/h265-still": (f"videotestsrc pattern=smpte num-buffers=1 ! {_CAPS} ! imagefreeze is-live=true "
                    f"! {_X265}"),
    "/ball": (f"videotestsrc is-live=true pattern=ball background-color=0xff406080 "
              f"foreground-color=0xffffffff ! {_CAPS} ! {_CLOCK} ! {_X264}"),
    "/night": (f"compositor name=mix sink_1::alpha=0.06 ! {_CAPS} ! {_CLOCK} ! {_X264} "
               f"videotestsrc is-live=true pattern=ball background-color=0xff141820 "
               f"foreground-color=0xfffff0c0 ! {_CAPS} ! mix.sink_0 "
               f"videotestsrc is-live=true pattern=snow ! {_CAPS} ! mix.sink_1"),
    "/placard": (f"videotestsrc is-live=true pattern=solid-color foreground-color=0xff1030a0 "
                 f"! {_CAPS} ! textoverlay text=\"NO VIDEO\" font-desc=\"Sans Bold 28\" "
                 f"valignment=center halignment=center ! {_CLOCK} ! {_X264}"),
    "/taped": (f"compositor name=mix sink_1::alpha=0.06 ! {_CAPS} ! {_CLOCK} ! {_X264} "
               f"videotestsrc is-live=true pattern=solid-color foreground-color=0xff302010 "
               f"! {_CAPS} ! mix.sink_0 videotestsrc is-live=true pattern=snow ! {_CAPS} "
               f"! mix.sink_1"),
    "/still-cbr": ("videotestsrc pattern=smpte num-buffers=1 ! video/x-raw,width=320,height=240,"
                   "framerate=10/1 ! imagefreeze is-live=true ! x264enc tune=zerolatency "
                   "pass=cbr bitrate=64 key-int-max=20 speed-preset=ultrafast ! "
                   "rtph264pay name=pay0 pt=96 config-interval=-1"),
}


_PAUSED = (f"videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! {_CAPS} ! "
           f"x264enc name=enc tune=zerolatency key-int-max=5 speed-preset=ultrafast ! "
           f"rtph264pay name=pay0 pt=96 config-interval=-1")


def _drop_keyframes(pad, info):
    buf = info.get_buffer()
    if not buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
        return Gst.PadProbeReturn.DROP
    return Gst.PadProbeReturn.OK


def _pause(start_s, end_s):
    """Drops the encoder's buffers whose timestamp falls in [start_s, end_s) of the session."""
    lo, hi = int(start_s * Gst.SECOND), int(end_s * Gst.SECOND)
    first = [None]

    def probe(pad, info):
        pts = info.get_buffer().pts
        if pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        if first[0] is None:
            first[0] = pts
        return Gst.PadProbeReturn.DROP if lo <= pts - first[0] < hi else Gst.PadProbeReturn.OK

    return probe


def _stall_after(n):
    seen = [0]

    def probe(pad, info):
        seen[0] += 1
        return Gst.PadProbeReturn.DROP if seen[0] > n else Gst.PadProbeReturn.OK

    return probe


class Factory(GstRtspServer.RTSPMediaFactory):
    """A factory that installs a pad probe on the encoder output of each new pipeline."""

    def __init__(self, probe_maker=None, pipeline=PIPELINE):
        super().__init__()
        self.probe_maker = probe_maker
        self.set_launch(pipeline if pipeline.startswith("(") else f"( {pipeline} )")
        self.set_shared(False)
        if probe_maker is not None:
            self.connect("media-configure", self._configure)

    def _configure(self, _factory, media):
        enc = media.get_element().get_by_name("enc")
        enc.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.probe_maker())


class MountAuth(GstRtspServer.RTSPAuth):
    """Digest authentication on /auth only.  RTSPAuth guards a whole server; with a default
    token for anonymous clients it answers 404 instead of 401 on a protected mount, so
    instead the checks of every other mount are waived here."""

    def do_check(self, ctx, check):
        uri = ctx.uri
        if uri is not None and not (uri.abspath or "").startswith("/auth"):
            return True
        return GstRtspServer.RTSPAuth.do_check(self, ctx, check)


def _permit(factory, *roles):
    for role in roles:
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{role}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )


def main() -> None:
    port = int(sys.argv[1])
    user, password = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ("viewer", "secret")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))

    auth = MountAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    user_token = GstRtspServer.RTSPToken()
    user_token.set_string("media.factory.role", "user")
    auth.add_digest(user, password, user_token)
    server.set_auth(auth)

    mounts = server.get_mount_points()
    for path, factory, roles in (
        ("/live", Factory(), ()),
        ("/auth", Factory(), ("user",)),
        ("/nokey", Factory(lambda: _drop_keyframes), ()),
        ("/stall", Factory(lambda: _stall_after(FPS)), ()),
        ("/pause", Factory(lambda: _pause(1.8, 4.0), _PAUSED), ()),
    ):
        _permit(factory, *roles)
        mounts.add_factory(path, factory)
    for path, pipeline in PICTURES.items():
        factory = Factory(pipeline=pipeline)
        _permit(factory)
        mounts.add_factory(path, factory)

    if server.attach(None) == 0:
        print("FAILED to attach", flush=True)
        sys.exit(1)
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
