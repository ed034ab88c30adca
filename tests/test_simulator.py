"""The fleet simulator's network side, seen from real clients and raw sockets.

Each test serves a small fleet in-process (`Simulator`, or `serve()`), one camera per fault,
on its own random 127.77.x.0/24 addresses, and checks what a client on the wire sees:
ffprobe as the third-party witness for RTSP/H.264, raw sockets for every fault, RTP over
TCP for keyframes, Pillow for snapshots, the control API for links and run-time faults, and
worker processes for large fleets (threshold set low).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import random
import re
import time

import aiohttp
import pytest

from monitor.simulator.fleet import SimCamera, SimFleet, SimIntegration, SimLink
from monitor.simulator.server import Simulator, serve
from tests.conftest import require
from tests.factories import free_port

PASSWORD = "s3cret-pass"
PATH = "/Streaming/Channels/101"
SNAP = "/ISAPI/Streaming/channels/101/picture"
FAULTS = [
    "healthy", "down", "tarpit", "slow", "auth_required", "wrong_credentials", "not_found",
    "server_error", "garbage", "frozen", "black", "no_keyframe", "stall", "feed_missing",
]


def make_fleet(faults: list[str], net: int | None = None, slow_delay: float = 0.3,
               flap_period: float = 3600.0) -> SimFleet:
    net = random.randint(1, 250) if net is None else net
    first = f"127.77.{net}.1"
    rtsp_port, http_port = free_port(first), free_port(first)
    cameras = [
        SimCamera(id=f"CAM-{i:03d}", name=f"{fault} camera", provider="pt-test", city="Jakarta Pusat",
                  district="Menteng", zone="city", lat=-6.19, lon=106.83,
                  ip=f"127.77.{net}.{i + 1}", fault=fault, integrations=("police-hq",),
                  rtsp_port=rtsp_port, http_port=http_port, keyframe_interval=1.0)
        for i, fault in enumerate(faults)
    ]
    base = f"127.78.{net}"
    links = [SimLink("primary", f"{base}.1", free_port(f"{base}.1"), free_port(f"{base}.1")),
             SimLink("backup", f"{base}.2", free_port(f"{base}.2"), free_port(f"{base}.2"))]
    police = SimIntegration("police-hq", f"{base}.5", free_port(f"{base}.5"), centre=True, links=links)
    return SimFleet(cameras=cameras, providers=[], integrations=[police], password=PASSWORD,
                    slow_delay=slow_delay, flap_period=flap_period)


@pytest.fixture
async def sim():
    fleet = make_fleet(FAULTS)
    simulator = Simulator(fleet, ("127.0.0.1", 0))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def cam(sim: Simulator, fault: str) -> SimCamera:
    return next(c for c in sim.fleet.cameras if c.fault == fault)


def rtsp_url(c: SimCamera, creds: bool = True) -> str:
    auth = f"viewer:{PASSWORD}@" if creds else ""
    return f"rtsp://{auth}{c.ip}:{c.rtsp_port}{PATH}"


# --------------------------------------------------------------------------- a tiny client


class Conn:
    """A raw RTSP/HTTP client over one TCP connection, with its own Digest implementation
    (independent of the monitor's) so that it witnesses the simulator's verification."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.cseq = 0

    @classmethod
    async def open(cls, ip: str, port: int) -> Conn:
        r, w = await asyncio.wait_for(asyncio.open_connection(ip, port), 2)
        return cls(r, w)

    async def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                      proto: str = "RTSP/1.0", timeout: float = 2.0):
        self.cseq += 1
        lines = [f"{method} {url} {proto}"]
        if proto.startswith("RTSP"):
            lines.append(f"CSeq: {self.cseq}")
        else:
            lines.append("Host: camera")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await asyncio.wait_for(self.read_response(), timeout)

    async def read_response(self):
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *rest = head.split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in rest:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.setdefault(k.strip().lower(), []).append(v.strip())
        body = b""
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"][0]))
        return int(status_line.split(" ")[1]), headers, body

    def close(self) -> None:
        self.writer.close()


def digest_header(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.partition(" ")[2]))
    alg = params.get("algorithm", "MD5")
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[alg]

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    cnonce, nc = "0a4f113b", "00000001"
    ha1 = hx(f"{user}:{params['realm']}:{password}")
    ha2 = hx(f"{method}:{uri}")
    response = hx(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm={alg}, qop=auth, nc={nc}, cnonce="{cnonce}"')


async def authorized(conn: Conn, method: str, url: str, headers: dict[str, str] | None = None,
                     password: str = PASSWORD, want: str = "SHA-256", proto: str = "RTSP/1.0"):
    """Request; on 401 answer the `want` challenge (or Basic when that is all there is)."""
    status, h, body = await conn.request(method, url, headers, proto=proto)
    if status != 401:
        return status, h, body
    challenges = h.get("www-authenticate", [])
    digest = [c for c in challenges if c.startswith("Digest") and f"algorithm={want}" in c]
    digest = digest or [c for c in challenges if c.startswith("Digest")]
    uri = url if proto.startswith("RTSP") else url
    if digest:
        auth = digest_header(digest[0], method, uri, "viewer", password)
    else:
        auth = "Basic " + base64.b64encode(f"viewer:{password}".encode()).decode()
    return await conn.request(method, url, {**(headers or {}), "Authorization": auth}, proto=proto)


# --------------------------------------------------------------------------- ffprobe


async def ffprobe(url: str, timeout: float = 15.0) -> tuple[int, dict]:
    exe = require("ffprobe")
    proc = await asyncio.create_subprocess_exec(
        exe, "-v", "error", "-rw_timeout", "5000000", "-rtsp_transport", "tcp",
        "-show_streams", "-of", "json", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, (json.loads(out) if out.strip() else {})


async def test_ffprobe_sees_h264_with_credentials(sim):
    code, info = await ffprobe(rtsp_url(cam(sim, "healthy")))
    assert code == 0
    [stream] = info["streams"]
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (320, 180)


async def test_ffprobe_fails_without_credentials(sim):
    code, _ = await ffprobe(rtsp_url(cam(sim, "healthy"), creds=False))
    assert code != 0
    code, _ = await ffprobe(rtsp_url(cam(sim, "auth_required"), creds=False))
    assert code != 0


async def test_ffprobe_through_the_relay(sim):
    police = sim.fleet.integrations[0]
    c = cam(sim, "healthy")
    code, info = await ffprobe(f"rtsp://{police.relay_ip}:{police.relay_port}/relay/{c.id}")
    assert code == 0 and info["streams"][0]["codec_name"] == "h264"


async def test_gstreamer_falls_back_from_udp_to_tcp(sim):
    """GStreamer's rtspsrc asks for UDP first: the camera's 461 must send it to TCP."""
    exe = require("gst-launch-1.0")
    c = cam(sim, "healthy")
    proc = await asyncio.create_subprocess_exec(
        exe, "-q", "rtspsrc", f"location=rtsp://{c.ip}:{c.rtsp_port}{PATH}", "user-id=viewer",
        f"user-pw={PASSWORD}", "!", "rtph264depay", "!", "h264parse", "!", "fakesink", "num-buffers=30",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-500:]


# --------------------------------------------------------------------------- faults, raw


async def test_down_is_refused(sim):
    c = cam(sim, "down")
    for port in (c.rtsp_port, c.http_port):
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection(c.ip, port), 2)


async def test_tarpit_accepts_and_never_answers(sim):
    c = cam(sim, "tarpit")
    conn = await Conn.open(c.ip, c.rtsp_port)
    with pytest.raises(TimeoutError):
        await conn.request("OPTIONS", rtsp_url(c, False), timeout=1.0)
    conn.close()
    conn = await Conn.open(c.ip, c.http_port)
    with pytest.raises(TimeoutError):
        await conn.request("GET", SNAP, proto="HTTP/1.1", timeout=1.0)
    conn.close()


@pytest.mark.parametrize("fault,status", [("not_found", 404), ("server_error", 503)])
async def test_status_faults(sim, fault, status):
    c = cam(sim, fault)
    conn = await Conn.open(c.ip, c.rtsp_port)
    assert (await conn.request("OPTIONS", rtsp_url(c, False)))[0] == 200
    assert (await authorized(conn, "DESCRIBE", rtsp_url(c, False)))[0] == status
    conn.close()
    conn = await Conn.open(c.ip, c.http_port)
    assert (await authorized(conn, "GET", SNAP, proto="HTTP/1.1"))[0] == status
    conn.close()


async def test_garbage_answers_non_protocol_bytes_then_closes(sim):
    c = cam(sim, "garbage")
    for port, req in ((c.rtsp_port, f"OPTIONS {rtsp_url(c, False)} RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
                      (c.http_port, f"GET {SNAP} HTTP/1.1\r\nHost: x\r\n\r\n")):
        r, w = await asyncio.open_connection(c.ip, port)
        w.write(req.encode())
        data = await asyncio.wait_for(r.read(), 2)  # read() to EOF: the camera closes
        assert data and not data.startswith((b"RTSP/", b"HTTP/"))
        w.close()


async def test_slow_answers_late(sim):
    c = cam(sim, "slow")
    conn = await Conn.open(c.ip, c.rtsp_port)
    t0 = time.monotonic()
    assert (await conn.request("OPTIONS", rtsp_url(c, False)))[0] == 200
    assert time.monotonic() - t0 >= sim.fleet.slow_delay * 0.9
    conn.close()


async def test_digest_and_basic_auth(sim):
    c = cam(sim, "healthy")
    conn = await Conn.open(c.ip, c.rtsp_port)
    status, h, _ = await conn.request("DESCRIBE", rtsp_url(c, False))
    assert status == 401
    challenges = h["www-authenticate"]
    assert any(x.startswith("Digest") for x in challenges)
    for want in ("SHA-256", "MD5"):
        if any(f"algorithm={want}" in x for x in challenges):
            status, h, body = await authorized(conn, "DESCRIBE", rtsp_url(c, False), want=want)
            assert status == 200, want
            assert h["content-type"] == ["application/sdp"]
            sdp = body.decode()
            assert "a=rtpmap:96 H264/90000" in sdp and "packetization-mode=1" in sdp
            assert "sprop-parameter-sets=" in sdp and "a=control:trackID=1" in sdp
            assert "a=framesize:96 320-180" in sdp
    # The right scheme with the wrong password is refused again.
    status, _, _ = await authorized(conn, "DESCRIBE", rtsp_url(c, False), password="wrong")
    assert status == 401
    # A made-up nonce is refused too.
    forged = digest_header('Digest realm="IP Camera", nonce="00000000deadbeefdeadbeefdeadbeef", '
                           'algorithm=MD5', "DESCRIBE", rtsp_url(c, False), "viewer", PASSWORD)
    assert (await conn.request("DESCRIBE", rtsp_url(c, False), {"Authorization": forged}))[0] == 401
    conn.close()
    # HTTP snapshots use the same policy.
    conn = await Conn.open(c.ip, c.http_port)
    assert (await conn.request("GET", SNAP, proto="HTTP/1.1"))[0] == 401
    assert (await authorized(conn, "GET", SNAP, proto="HTTP/1.1"))[0] == 200
    conn.close()


async def test_basic_only_camera():
    # Camera ids whose stable auth choice is Basic: find one by the policy's own hash.
    from monitor.simulator.base import auth_schemes

    fleet = make_fleet(["healthy"])
    c = fleet.cameras[0]
    c.id = next(f"B-{i}" for i in range(1000)
                if auth_schemes(SimCamera(f"B-{i}", "", "", "", "", "", 0, 0, ""), PASSWORD) == ("basic",))
    simulator = Simulator(fleet, None)
    await simulator.start()
    try:
        conn = await Conn.open(c.ip, c.rtsp_port)
        status, h, _ = await conn.request("DESCRIBE", rtsp_url(c, False))
        assert status == 401 and h["www-authenticate"][0].startswith("Basic")
        assert (await authorized(conn, "DESCRIBE", rtsp_url(c, False)))[0] == 200
        assert (await authorized(conn, "DESCRIBE", rtsp_url(c, False), password="nope"))[0] == 401
        conn.close()
    finally:
        await simulator.stop()


@pytest.mark.parametrize("fault", ["auth_required", "wrong_credentials"])
async def test_auth_faults_demand_credentials(sim, fault):
    c = cam(sim, fault)
    conn = await Conn.open(c.ip, c.rtsp_port)
    assert (await conn.request("DESCRIBE", rtsp_url(c, False)))[0] == 401
    assert (await authorized(conn, "DESCRIBE", rtsp_url(c, False), password="not-it"))[0] == 401
    conn.close()


# --------------------------------------------------------------------------- RTP


async def play(c: SimCamera, seconds: float, ip: str | None = None, port: int | None = None,
               path: str | None = None, creds: bool = True) -> dict:
    """SETUP + PLAY over TCP interleaved; collect NAL types and RTP facts for `seconds`."""
    ip, port = ip or c.ip, port or c.rtsp_port
    url = f"rtsp://{ip}:{port}{path or PATH}"
    conn = await Conn.open(ip, port)
    do = authorized if creds else (lambda cn, m, u, h=None: cn.request(m, u, h))
    status, _, _ = await do(conn, "DESCRIBE", url, {"Accept": "application/sdp"})
    assert status == 200
    status, h, _ = await do(conn, "SETUP", url + "/trackID=1",
                            {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
    assert status == 200
    session = h["session"][0].split(";")[0]
    status, _, _ = await do(conn, "PLAY", url + "/", {"Session": session})
    assert status == 200
    facts = {"types": set(), "packets": 0, "markers": 0, "seqs": [], "stamps": [], "times": []}
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    r = conn.reader
    try:
        while True:
            left = end - loop.time()
            if left <= 0:
                break
            head = await asyncio.wait_for(r.readexactly(4), left)
            assert head[0] == 0x24
            pkt = await asyncio.wait_for(r.readexactly(int.from_bytes(head[2:4], "big")), left + 1)
            if head[1] != 0:
                continue
            assert pkt[0] >> 6 == 2 and pkt[1] & 0x7F == 96
            facts["packets"] += 1
            facts["markers"] += pkt[1] >> 7
            facts["seqs"].append(int.from_bytes(pkt[2:4], "big"))
            facts["stamps"].append(int.from_bytes(pkt[4:8], "big"))
            facts["times"].append(loop.time())
            nal = pkt[12] & 0x1F
            if nal == 24:  # STAP-A
                pos = 13
                while pos + 2 <= len(pkt):
                    size = int.from_bytes(pkt[pos:pos + 2], "big")
                    facts["types"].add(pkt[pos + 2] & 0x1F)
                    pos += 2 + size
            elif nal == 28:  # FU-A
                facts["types"].add(pkt[13] & 0x1F)
            else:
                facts["types"].add(nal)
    except TimeoutError:
        pass
    conn.close()
    return facts


async def test_healthy_stream_carries_an_idr_within_2s(sim):
    facts = await play(cam(sim, "healthy"), 2.0)
    assert {5, 7, 8} <= facts["types"]  # IDR with SPS and PPS
    assert facts["markers"] >= 10  # 10 fps
    seqs = facts["seqs"]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    assert facts["stamps"][-1] - facts["stamps"][0] >= 9000 * 10


async def test_no_keyframe_stream_has_video_but_no_idr(sim):
    facts = await play(cam(sim, "no_keyframe"), 2.0)
    assert facts["packets"] > 10
    assert 1 in facts["types"] and not facts["types"] & {5, 7, 8}


async def test_stall_stream_stops_but_stays_open(sim):
    c = cam(sim, "stall")
    facts = await play(c, 2.0)
    assert facts["packets"] > 0
    assert facts["times"][-1] - facts["times"][0] < 1.0


async def test_udp_transport_is_answered_461(sim):
    c = cam(sim, "healthy")
    conn = await Conn.open(c.ip, c.rtsp_port)
    status, _, _ = await authorized(conn, "SETUP", rtsp_url(c, False) + "/trackID=1",
                                    {"Transport": "RTP/AVP;unicast;client_port=5000-5001"})
    assert status == 461
    conn.close()


# --------------------------------------------------------------------------- snapshots


async def snapshot(c: SimCamera) -> tuple[int, str, bytes]:
    conn = await Conn.open(c.ip, c.http_port)
    status, h, body = await authorized(conn, "GET", SNAP, proto="HTTP/1.1")
    conn.close()
    return status, h.get("content-type", [""])[0], body


async def test_snapshots_live_frozen_black(sim):
    from PIL import Image, ImageStat

    pictures = {}
    for fault in ("healthy", "frozen", "black"):
        status, ctype, first = await snapshot(cam(sim, fault))
        assert status == 200 and ctype == "image/jpeg"
        pictures[fault] = [first]
    await asyncio.sleep(1.05)
    for fault in pictures:
        pictures[fault].append((await snapshot(cam(sim, fault)))[2])

    live = pictures["healthy"]
    img = Image.open(io.BytesIO(live[0]))
    img.load()
    assert img.size == (640, 360)
    assert ImageStat.Stat(img.convert("L")).mean[0] > 40
    assert live[0] != live[1]
    # Whatever the fetch interval (a pool cycled by the clock would repeat for intervals that
    # are a multiple of its length), consecutive fetches of a live camera differ.
    quick = [(await snapshot(cam(sim, "healthy")))[2] for _ in range(15)]
    assert all(a != b for a, b in zip(quick, quick[1:]))
    assert pictures["frozen"][0] == pictures["frozen"][1]
    for data in pictures["black"]:
        assert ImageStat.Stat(Image.open(io.BytesIO(data)).convert("L")).mean[0] < 16


# --------------------------------------------------------------------------- relay, links, control


async def describe_status(ip: str, port: int, path: str) -> int:
    conn = await Conn.open(ip, port)
    try:
        return (await conn.request("DESCRIBE", f"rtsp://{ip}:{port}{path}"))[0]
    finally:
        conn.close()


async def test_relay_answers_per_camera_state(sim):
    police = sim.fleet.integrations[0]
    ip, port = police.relay_ip, police.relay_port
    assert await describe_status(ip, port, f"/relay/{cam(sim, 'healthy').id}") == 200
    assert await describe_status(ip, port, f"/relay/{cam(sim, 'frozen').id}") == 200
    assert await describe_status(ip, port, f"/relay/{cam(sim, 'feed_missing').id}") == 404
    assert await describe_status(ip, port, "/relay/NO-SUCH-CAMERA") == 404
    for fault in ("down", "tarpit", "not_found", "server_error", "garbage", "no_keyframe", "stall"):
        assert await describe_status(ip, port, f"/relay/{cam(sim, fault).id}") == 503, fault
    facts = await play(cam(sim, "healthy"), 1.5, ip, port, f"/relay/{cam(sim, 'healthy').id}", creds=False)
    assert 5 in facts["types"]


async def _refused(ip: str, port: int) -> bool:
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(ip, port), 2)
    except ConnectionRefusedError:
        return True
    w.close()
    return False


async def test_links_cut_and_restore_through_control_api(sim):
    police = sim.fleet.integrations[0]
    primary, backup = police.links
    base = sim.control_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{primary.ip}:{primary.http_port}/health") as r:
            assert r.status == 200
        async with http.post(f"{base}/control/links/police-hq/primary/cut") as r:
            assert r.status == 200
        assert await _refused(primary.ip, primary.tcp_port)
        assert await _refused(primary.ip, primary.http_port)
        assert not await _refused(backup.ip, backup.tcp_port)
        # One link left: the relay still carries feeds.
        assert await describe_status(police.relay_ip, police.relay_port, f"/relay/{cam(sim, 'healthy').id}") == 200
        async with http.post(f"{base}/control/links/police-hq/backup/cut") as r:
            assert r.status == 200
        assert await _refused(police.relay_ip, police.relay_port)
        async with http.get(f"{base}/control/state") as r:
            state = await r.json()
        assert {link["name"]: link["state"] for link in state["links"]} == {
            "primary": "cut", "backup": "cut"}
        assert state["cameras"] == len(FAULTS) and state["faults"]["down"] == 1
        async with http.post(f"{base}/control/links/police-hq/backup/restore") as r:
            assert r.status == 200
        assert not await _refused(backup.ip, backup.tcp_port)
        assert await describe_status(police.relay_ip, police.relay_port, f"/relay/{cam(sim, 'healthy').id}") == 200
        async with http.post(f"{base}/control/links/police-hq/nope/cut") as r:
            assert r.status == 404


async def test_fault_set_at_run_time(sim):
    c = cam(sim, "healthy")
    base = sim.control_url
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/control/cameras/{c.id}/fault/down") as r:
            assert r.status == 200
        assert await _refused(c.ip, c.rtsp_port)
        police = sim.fleet.integrations[0]
        assert await describe_status(police.relay_ip, police.relay_port, f"/relay/{c.id}") == 503
        async with http.post(f"{base}/control/cameras/{c.id}/fault", json={"fault": "not_found"}) as r:
            assert r.status == 200
        conn = await Conn.open(c.ip, c.rtsp_port)
        assert (await conn.request("DESCRIBE", rtsp_url(c, False)))[0] == 404
        conn.close()
        async with http.post(f"{base}/control/cameras/{c.id}/fault/bogus") as r:
            assert r.status == 400
        async with http.post(f"{base}/control/cameras/NOPE/fault/down") as r:
            assert r.status == 404


async def test_flapping_goes_down_and_comes_back():
    fleet = make_fleet(["flapping"], flap_period=2.0)
    c = fleet.cameras[0]
    simulator = Simulator(fleet, None)
    await simulator.start()
    try:
        seen = set()
        for _ in range(40):  # bounded: 40 x 0.1 s, two full periods
            seen.add(await _refused(c.ip, c.rtsp_port))
            if len(seen) == 2:
                break
            await asyncio.sleep(0.1)
        assert seen == {True, False}
    finally:
        await simulator.stop()


async def test_serve_and_workers():
    """serve() with a fleet above the per-process threshold: worker processes serve it."""
    fleet = make_fleet(["healthy"] * 30 + ["down"] * 5)
    ready = asyncio.Event()
    holder: list[Simulator] = []
    control = ("127.0.0.1", free_port("127.0.0.1"))
    task = asyncio.create_task(serve(fleet, control=control, ready=ready, threshold=20, simulator=holder))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        [simulator] = holder
        assert len(simulator.workers) == 2
        processes = [w.process for w in simulator.workers]
        assert all(p.is_alive() and p.pid != os.getpid() for p in processes)
        for c in fleet.cameras[::7]:
            if c.fault == "down":
                assert await _refused(c.ip, c.rtsp_port)
                continue
            conn = await Conn.open(c.ip, c.rtsp_port)
            assert (await conn.request("OPTIONS", rtsp_url(c, False)))[0] == 200
            conn.close()
        target = fleet.cameras[3]
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{control[1]}/control/cameras/{target.id}/fault/down") as r:
                assert r.status == 200
            for _ in range(50):  # the worker applies it asynchronously: bounded wait
                if await _refused(target.ip, target.rtsp_port):
                    break
                await asyncio.sleep(0.05)
            assert await _refused(target.ip, target.rtsp_port)
            async with http.get(f"http://127.0.0.1:{control[1]}/control/state") as r:
                state = await r.json()
            assert state["workers"] == 2 and state["faults"]["down"] == 6
        # Relays live in the main process and follow the forwarded fault.
        police = fleet.integrations[0]
        assert await describe_status(police.relay_ip, police.relay_port, f"/relay/{target.id}") == 503
        code, info = await ffprobe(rtsp_url(fleet.cameras[0]))
        assert code == 0 and info["streams"][0]["codec_name"] == "h264"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not any(p.is_alive() for p in processes)  # stopped and reaped with serve()


async def test_command_line_ready_line_and_clean_exit_on_sigterm():
    """The body of `simulate` in a child process: READY on stdout, exit 0 on SIGTERM sent to
    its whole process group (as the demo and the benchmarks stop it), workers included."""
    import signal
    import sys

    base_net = random.randint(160, 199)  # its own addresses: never the default fleet's
    code = (
        "from monitor.simulator.fleet import build_fleet\n"
        "from monitor.simulator.server import run_fleet\n"
        f"fleet = build_fleet(cameras=60, seed=3, base_net={base_net})\n"
        f"raise SystemExit(run_fleet(fleet, ('127.0.0.1', {free_port('127.0.0.1')}), workers=2))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert re.fullmatch(r"READY cameras=60 control=http://127\.0\.0\.1:\d+\n", line), line
        url = line.split("control=")[1].strip()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/control/state") as r:
                state = await r.json()
        assert state["cameras"] == 60 and state["workers"] == 2
        os.killpg(proc.pid, signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


def _gone(pid: int) -> bool:
    """Whether `pid` has exited (no longer in /proc, or a zombie waiting for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_simulator_dies_with_the_parent_that_named_itself_even_by_kill_9():
    """What `cctv-monitor demo` relies on: the simulator sets its own parent-death signal at
    start (no code between fork and exec in the demo).  A middle process starts a child that
    arms it exactly as `simulate` does, then the middle process is killed -9."""
    import signal
    import subprocess
    import sys

    child = ("import os, time\n"
             "from monitor.simulator.fleet import PARENT_ENV\n"
             "from monitor.simulator.server import die_with_parent\n"
             "die_with_parent(os.environ[PARENT_ENV])\n"
             "print('armed', flush=True)\n"
             "time.sleep(120)\n")
    parent = ("import os, subprocess, sys, time\n"
              "from monitor.simulator.fleet import PARENT_ENV\n"
              "env = {**os.environ, PARENT_ENV: str(os.getpid())}\n"
              f"p = subprocess.Popen([sys.executable, '-c', {child!r}], env=env)\n"
              "print(p.pid, flush=True)\n"
              "time.sleep(120)\n")
    middle = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        pid = int(middle.stdout.readline())
        assert middle.stdout.readline().strip() == "armed"
        assert not _gone(pid)
        middle.kill()
        middle.wait(timeout=30)
        deadline = time.monotonic() + 30  # bounded: the signal is immediate, the exit quick
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), "the child outlived the parent that named itself"
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(timeout=30)
        try:
            os.killpg(middle.pid, signal.SIGKILL)  # the child is in that group too
        except ProcessLookupError:
            pass


def test_the_simulator_exits_at_once_when_its_parent_is_already_gone():
    """A parent killed before the child could ask for the signal: getppid tells, SIGTERM."""
    import signal
    import subprocess
    import sys

    code = ("from monitor.simulator.server import die_with_parent\n"
            "die_with_parent('1' if __import__('os').getppid() != 1 else '2')\n"
            "import time; time.sleep(60)\n")
    proc = subprocess.run([sys.executable, "-c", code], timeout=60, start_new_session=True)
    assert proc.returncode == -signal.SIGTERM
