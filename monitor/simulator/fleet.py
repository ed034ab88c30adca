"""The simulated fleet: what cameras exist, where they are, and what is wrong with each.

This module is pure data (no sockets): the servers in this package serve a `SimFleet`, and
`write_config` writes the monitor configuration that matches it, so the monitor needs
nothing else.  The simulator shares no state with the monitor: only this file's config.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from . import jakarta

#: Every fault the simulator can play.  "healthy" plays none.
FAULTS = (
    "healthy",
    "down",  # refused: nothing listens
    "tarpit",  # accepts and never answers
    "slow",  # answers, but each answer `slow_delay` late
    "flapping",  # down for a while, then back, on a per-camera phase
    "auth_required",  # camera wants credentials; the config has none
    "wrong_credentials",  # camera wants credentials; the config has the wrong ones
    "not_found",  # 404 on DESCRIBE and on the snapshot
    "server_error",  # 503
    "garbage",  # answers with bytes that are not RTSP/HTTP
    "frozen",  # snapshot is the same picture every time; stream is fine
    "black",  # snapshot is black
    "no_keyframe",  # stream sends RTP but never an IDR/SPS/PPS
    "stall",  # stream sends a few packets after PLAY, then nothing
    "feed_missing",  # camera fine, but the integration relay does not carry its feed
    "clock_skew",  # camera fine, but its clock is minutes to hours off (Date headers, ONVIF)
    "duplicate_device",  # camera fine, but its ONVIF serial is another camera's: one device twice
)


@dataclass(slots=True)
class SimCamera:
    id: str
    name: str
    provider: str
    city: str  # administrative city (kota), e.g. "Jakarta Pusat"
    district: str  # kecamatan
    zone: str  # "ring-1" or "city"
    lat: float
    lon: float
    ip: str  # its own loopback address, 127.x.y.z
    uplink: str = ""  # the district switch / PoP it hangs off
    fault: str = "healthy"
    integrations: tuple[str, ...] = ()  # e.g. ("smart-city", "police-hq")
    rtsp_port: int = 8554
    http_port: int = 8080
    keyframe_interval: float = 2.0  # seconds between IDRs in its stream

    @property
    def rtsp_path(self) -> str:
        return "/Streaming/Channels/101"

    @property
    def http_path(self) -> str:
        return "/ISAPI/Streaming/channels/101/picture"


@dataclass(slots=True)
class SimLink:
    name: str  # "primary", "backup"
    ip: str  # the centre's address on this link
    tcp_port: int = 9443
    http_port: int = 9080  # GET /health -> 200


@dataclass(slots=True)
class SimIntegration:
    """A platform that receives feeds: re-serves cameras' streams through a relay.

    `centre` is set for a police command centre, whose relay is reached over its links:
    cutting all links makes the relayed feeds fail too.
    """

    name: str  # "police-hq", "smart-city"
    relay_ip: str
    relay_port: int = 8554
    centre: bool = False
    links: list[SimLink] = field(default_factory=list)

    def feed_path(self, camera_id: str) -> str:
        return f"/relay/{camera_id}"


@dataclass(slots=True)
class SimProvider:
    name: str
    target_cameras: int
    sla: float


@dataclass(slots=True)
class SimFleet:
    cameras: list[SimCamera]
    providers: list[SimProvider]
    integrations: list[SimIntegration]
    username: str = "viewer"
    password: str = field(default="", repr=False)  # the real one; "wrong_credentials" cameras get another in config
    seed: int = 1
    slow_delay: float = 1.5
    flap_period: float = 120.0  # flapping cameras are down for half of each period
    wrong_password: str = field(default="", repr=False)  # what the config gives "wrong_credentials" cameras
    fault_mix: dict[str, float] = field(default_factory=dict)  # the shares it was built with
    base_net: int = 100  # cameras are on 127.<base_net>.0.1 onwards

    def integration(self, name: str) -> SimIntegration | None:
        for integration in self.integrations:
            if integration.name == name:
                return integration
        return None

    def fault_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(FAULTS, 0)
        for camera in self.cameras:
            counts[camera.fault] += 1
        return counts


# --------------------------------------------------------------------------- the default fleet

#: Shares of cameras per fault in a realistic city fleet: most cameras are healthy.
#: "feed_missing" is a share of the cameras that carry a feed to an integration, not of all.
DEFAULT_FAULT_MIX: dict[str, float] = {
    "down": 0.03,
    "tarpit": 0.01,
    "slow": 0.01,
    "flapping": 0.01,
    "auth_required": 0.005,
    "wrong_credentials": 0.005,
    "not_found": 0.005,
    "server_error": 0.005,
    "garbage": 0.003,
    "frozen": 0.01,
    "black": 0.005,
    "no_keyframe": 0.005,
    "stall": 0.005,
    "feed_missing": 0.02,
    "clock_skew": 0.01,
    "duplicate_device": 0.001,
}

#: The published figures of Jakarta's network: 3,517 cameras installed of a
#: 5,518 target by four providers, 2,832 on the smart-city platform, 176 in ring one, 133 of
#: those connected to the police command centre.  Other fleet sizes scale these shares.
JAKARTA_CAMERAS = 3517
JAKARTA_SMART_CITY = 2832
JAKARTA_RING_ONE = 176
JAKARTA_POLICE = 133

#: (name, target_cameras, sla, installed): fictional providers with the published totals.
#: pt-dirga has installed a fifth of its target: the warning-letter case.
JAKARTA_PROVIDERS = (
    ("pt-alpha", 1800, 0.98, 1402),
    ("pt-bima", 1500, 0.97, 1210),
    ("pt-cakra", 1218, 0.95, 705),
    ("pt-dirga", 1000, 0.99, 200),
)

CAMERAS_PER_UPLINK = 25
HOSTS_PER_NET = 254  # .1 to .254: no network or broadcast-looking host parts

POLICE = "police-hq"
SMART_CITY = "smart-city"
#: 127.20.0.0/16 and 127.21.0.0/16 belong to the integrations, not to cameras.
RESERVED_NETS = frozenset({0, 20, 21})


DEFAULT_BASE_NET = 100
#: Overrides the default `base_net`, so that two simulators (a demo next to a test run) can
#: serve their fleets side by side: `cctv-monitor demo` picks a free one and sets it for
#: the simulator it starts.
BASE_NET_ENV = "CCTV_SIM_BASE_NET"
#: The pid of a parent the simulator must not outlive (`cctv-monitor demo` sets it): the
#: simulator asks the kernel for SIGTERM when that parent dies (monitor.simulator.server).
PARENT_ENV = "CCTV_SIM_PARENT_PID"


def _slot(base_net: int) -> int:
    # The default fleet (base_net 100) has the integrations at the documented addresses;
    # fleets on other base nets get their own, so that they do not collide either.
    return (base_net - DEFAULT_BASE_NET) % 128


def police_integration(base_net: int = DEFAULT_BASE_NET) -> SimIntegration:
    k = _slot(base_net)
    return SimIntegration(
        POLICE,
        relay_ip=f"127.20.{2 * k}.5",
        centre=True,
        links=[SimLink("primary", f"127.20.{2 * k}.1"), SimLink("backup", f"127.20.{2 * k + 1}.1")],
    )


def smart_city_integration(base_net: int = DEFAULT_BASE_NET) -> SimIntegration:
    return SimIntegration(SMART_CITY, relay_ip=f"127.21.{_slot(base_net)}.5")


def default_base_net() -> int:
    text = os.environ.get(BASE_NET_ENV, "").strip()
    if not text:
        return DEFAULT_BASE_NET
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{BASE_NET_ENV}={text!r}: expected the second octet, e.g. 100") from None


def parse_fault_mix(text: str | None) -> dict[str, float]:
    """ "down=0.02,tarpit=0.01" -> {"down": 0.02, "tarpit": 0.01}; None -> the default mix.

    An empty string (or "healthy=1") means no faults at all.  Healthy cameras are whatever
    the faults leave over.  Raises ValueError naming the bad part.
    """
    if text is None:
        return dict(DEFAULT_FAULT_MIX)
    mix: dict[str, float] = {}
    seen: set[str] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"fault mix: expected NAME=SHARE, got {part!r}")
        if name not in FAULTS:
            known = ", ".join(FAULTS)
            raise ValueError(f"fault mix: unknown fault {name!r} (known: {known})")
        if name in seen:
            raise ValueError(f"fault mix: {name!r} given twice")
        seen.add(name)
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"fault mix: {name}: expected a share between 0 and 1, got {value!r}") from None
        if not 0.0 <= share <= 1.0 or math.isnan(share):
            raise ValueError(f"fault mix: {name}: share {share} is not between 0 and 1")
        if name != "healthy":  # accepted for "healthy=1", but healthy is always the rest
            mix[name] = share
    # feed_missing is a share of feed-carrying cameras that are otherwise healthy, so it does
    # not compete with the others for cameras.
    total = sum(v for k, v in mix.items() if k != "feed_missing")
    if total > 1.0 + 1e-9:
        raise ValueError(f"fault mix: shares add up to {total:g}, more than 1")
    return mix


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Split `total` into integers proportional to `weights` that add up exactly (largest
    remainder), so scaled counts keep their published sums."""
    wsum = sum(weights)
    if total <= 0 or wsum <= 0:
        return [0] * len(weights)
    exact = [total * w / wsum for w in weights]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _scaled(figure: int, cameras: int) -> int:
    return round(figure * cameras / JAKARTA_CAMERAS)


def camera_address(index: int, base_net: int = DEFAULT_BASE_NET) -> str:
    """The loopback address of camera `index` (0-based): 127.<net>.<subnet>.<1..254>."""
    host = index % HOSTS_PER_NET + 1
    subnet = (index // HOSTS_PER_NET) % 256
    net = base_net + index // (HOSTS_PER_NET * 256)
    return f"127.{net}.{subnet}.{host}"


def _check_address_space(cameras: int, base_net: int) -> None:
    last_net = base_net + (cameras - 1) // (HOSTS_PER_NET * 256)
    if base_net < 1 or last_net > 255:
        raise ValueError(f"{cameras} cameras from 127.{base_net}.0.0 do not fit in 127.0.0.0/8")
    clash = RESERVED_NETS.intersection(range(base_net, last_net + 1))
    if clash:
        raise ValueError(
            f"{cameras} cameras from 127.{base_net}.0.0 would use 127.{min(clash)}.0.0/16, "
            "which is reserved (127.0 for local services, 127.20-21 for the integrations)"
        )


def _secret(seed: int, purpose: str) -> str:
    # Derived, not random, so the simulator and a separately written config agree for a seed.
    return hashlib.sha256(f"cctv-simulator:{purpose}:{seed}".encode()).hexdigest()[:20]


def _scatter(rng: random.Random, lat: float, lon: float, radius: float) -> tuple[float, float]:
    r = radius * math.sqrt(rng.random())
    a = rng.random() * 2 * math.pi
    # A degree of longitude is as long as a degree of latitude this close to the equator.
    return round(lat + r * math.sin(a), 5), round(lon + r * math.cos(a), 5)


def build_fleet(
    cameras: int = JAKARTA_CAMERAS,
    seed: int = 1,
    faults: dict[str, float] | None = None,
    base_net: int | None = None,
) -> SimFleet:
    """The simulated Jakarta fleet: deterministic for (`cameras`, `seed`, `faults`, `base_net`).

    With the default 3,517 cameras it has exactly the published figures; other sizes scale
    every figure (targets, smart-city, ring one, police) by cameras / 3,517.  Cameras live
    on 127.<base_net>.0.1 onwards; `base_net` None means $CCTV_SIM_BASE_NET, else 100.
    """
    if cameras < 1:
        raise ValueError("a fleet needs at least one camera")
    if base_net is None:
        base_net = default_base_net()
    _check_address_space(cameras, base_net)
    mix = dict(DEFAULT_FAULT_MIX) if faults is None else dict(faults)
    rng = random.Random(f"cctv-fleet:{seed}")

    ring_total = min(cameras, _scaled(JAKARTA_RING_ONE, cameras))
    police_total = min(ring_total, _scaled(JAKARTA_POLICE, cameras))
    smart_total = min(cameras, _scaled(JAKARTA_SMART_CITY, cameras))

    # How many cameras per district: ring one first, then the rest by city density.
    ring_share = dict(jakarta.RING_ONE_DISTRICTS)
    ring_names = [name for name, _ in jakarta.RING_ONE_DISTRICTS]
    ring_counts = dict(zip(ring_names, _apportion(ring_total, [ring_share[n] for n in ring_names])))
    weights = [jakarta.CITY_WEIGHT[d.city] * rng.uniform(0.7, 1.3) for d in jakarta.DISTRICTS]
    city_counts = _apportion(cameras - ring_total, weights)

    width = max(5, len(str(cameras)))
    ring_lat, ring_lon = jakarta.RING_ONE_CENTRE
    sim_cameras: list[SimCamera] = []
    for district, city_count in zip(jakarta.DISTRICTS, city_counts):
        in_ring = ring_counts.get(district.name, 0)
        for k in range(in_ring + city_count):
            index = len(sim_cameras)
            if k < in_ring:
                zone = "ring-1"
                # Ring one hugs the palace and Medan Merdeka; pull each district's ring
                # cameras from its own centre towards the ring's.
                lat, lon = _scatter(
                    rng,
                    ring_lat + 0.35 * (district.lat - ring_lat),
                    ring_lon + 0.35 * (district.lon - ring_lon),
                    jakarta.RING_ONE_RADIUS,
                )
            else:
                zone = "city"
                lat, lon = _scatter(rng, district.lat, district.lon, district.radius)
            street = rng.choice(district.streets)
            sim_cameras.append(
                SimCamera(
                    id=f"JKT-{index + 1:0{width}d}",
                    name=f"{street} {rng.randint(1, 180)} ({district.name})",
                    provider="",
                    city=district.city,
                    district=district.name,
                    zone=zone,
                    lat=lat,
                    lon=lon,
                    ip=camera_address(index, base_net),
                    uplink=f"sw-{district.slug}-{k // CAMERAS_PER_UPLINK + 1:02d}",
                )
            )

    # Providers hold contiguous lots of districts, as city contracts are let by area.
    target_total = _scaled(sum(p[1] for p in JAKARTA_PROVIDERS), cameras)
    targets = _apportion(target_total, [p[1] for p in JAKARTA_PROVIDERS])
    installed = _apportion(cameras, [p[3] for p in JAKARTA_PROVIDERS])
    providers = [
        SimProvider(name, target, sla)
        for (name, _, sla, _), target in zip(JAKARTA_PROVIDERS, targets)
    ]
    position = 0
    for provider, count in zip(providers, installed):
        for camera in sim_cameras[position : position + count]:
            camera.provider = provider.name
        position += count

    ring_indices = [i for i, c in enumerate(sim_cameras) if c.zone == "ring-1"]
    police = set(rng.sample(ring_indices, police_total))
    smart = set(rng.sample(range(cameras), smart_total))
    for i, camera in enumerate(sim_cameras):
        names = []
        if i in smart:
            names.append(SMART_CITY)
        if i in police:
            names.append(POLICE)
        camera.integrations = tuple(names)

    _assign_faults(sim_cameras, mix, rng)

    return SimFleet(
        cameras=sim_cameras,
        providers=providers,
        integrations=[police_integration(base_net), smart_city_integration(base_net)],
        password=_secret(seed, "password"),
        wrong_password=_secret(seed, "wrong-password"),
        seed=seed,
        fault_mix=mix,
        base_net=base_net,
    )


def _assign_faults(cameras: list[SimCamera], mix: dict[str, float], rng: random.Random) -> None:
    """Exact counts per fault (rounded shares), on cameras drawn at random."""
    n = len(cameras)
    order = rng.sample(range(n), n)
    position = 0
    for fault in FAULTS:
        if fault in ("healthy", "feed_missing"):
            continue
        count = min(round(mix.get(fault, 0.0) * n), n - position)
        if fault == "duplicate_device" and mix.get(fault) and n >= 20:
            count = max(count, 1)  # a small fleet still shows one device configured twice
        for i in order[position : position + count]:
            cameras[i].fault = fault
        position += count
    carrying = sum(1 for c in cameras if c.integrations)
    candidates = [i for i in order[position:] if cameras[i].integrations]
    count = min(round(mix.get("feed_missing", 0.0) * carrying), len(candidates))
    for i in candidates[:count]:
        cameras[i].fault = "feed_missing"


# --------------------------------------------------------------------------- the monitor config


def _q(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar; "$" is doubled nowhere because the
    # loader expands only ${NAME}, which no generated string contains.
    return json.dumps(text, ensure_ascii=False)


def _write_secret(path: Path, secret: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, (secret + "\n").encode())
    finally:
        os.close(fd)


def password_files(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where `write_config(fleet, path)` puts the password and the wrong password."""
    config = Path(path)
    return (
        config.with_name(config.name + ".password"),
        config.with_name(config.name + ".wrong-password"),
    )


def write_config(
    fleet: SimFleet,
    path: str | os.PathLike[str],
    *,
    interval: str = "30s",
    timeout: str = "5s",
    stream_interval: str = "5m",
    stream_duration: str = "4s",
    stream_concurrency: int = 50,
    # ONVIF hourly in production; every minute here, so that device identity, clocks and
    # the duplicate device show within a minute of a demo or test run starting
    onvif_interval: str = "1m",
) -> None:
    """Write the monitor configuration that matches `fleet` (keys: docs/configuration.md).

    The password goes to `<path>.password` (mode 0600) and is referenced by file name
    relative to the config; cameras playing "wrong_credentials" reference
    `<path>.wrong-password`; cameras playing "auth_required" get no credentials.  The YAML is
    formatted here as text: 50,000 cameras take well under a second this way.
    """
    config = Path(path)
    secret_file, wrong_file = password_files(config)
    wrong = fleet.wrong_password or _secret(fleet.seed, "wrong-password")
    if wrong == fleet.password:
        wrong += "-x"
    _write_secret(secret_file, fleet.password)
    _write_secret(wrong_file, wrong)

    police = fleet.integration(POLICE)
    out: list[str] = [
        f"# Simulated Jakarta fleet: {len(fleet.cameras)} cameras, seed {fleet.seed}.",
        "# Written by `cctv-monitor simulate --write-config`; matches the simulator exactly.",
        "monitor:",
        f"  interval: {interval}",
        f"  timeout: {timeout}",
        f"  stream: {{interval: {stream_interval}, duration: {stream_duration}, "
        f"concurrency: {stream_concurrency}}}",
        f"  onvif: {{interval: {onvif_interval}}}",
        "providers:",
    ]
    for p in fleet.providers:
        out += [f"  - name: {p.name}", f"    target_cameras: {p.target_cameras}", f"    sla: {p.sla}"]
    others = [i for i in fleet.integrations if not i.centre]
    if others:
        out.append("integrations:")
        out += [f"  - name: {i.name}" for i in others]
    centres = [i for i in fleet.integrations if i.centre]
    if centres:
        out.append("command_centres:")
        for centre in centres:
            out += [f"  - name: {centre.name}", "    links:"]
            for link in centre.links:
                out += [
                    f"      - name: {link.name}",
                    f"        targets: [tcp://{link.ip}:{link.tcp_port}, "
                    f"http://{link.ip}:{link.http_port}/health]",
                ]
    relays = {
        i.name: f"rtsp://{i.relay_ip}:{i.relay_port}" for i in fleet.integrations
    }
    secret_name = _q(secret_file.name)
    wrong_name = _q(wrong_file.name)
    username = _q(fleet.username)
    out.append("cameras:")
    for c in fleet.cameras:
        out += [
            f"  - id: {c.id}",
            f"    name: {_q(c.name)}",
            f"    provider: {c.provider}",
            f"    district: {_q(c.district)}",
            f"    zone: {c.zone}",
            f"    location: [{c.lat:.5f}, {c.lon:.5f}]",
            f"    uplink: {c.uplink}",
            f"    rtsp: rtsp://{c.ip}:{c.rtsp_port}{c.rtsp_path}",
            f"    http: http://{c.ip}:{c.http_port}{c.http_path}",
            f"    onvif: http://{c.ip}:{c.http_port}/onvif/device_service",
        ]
        if c.fault == "wrong_credentials":
            out += [f"    username: {username}", f"    password_file: {wrong_name}"]
        elif c.fault != "auth_required" and fleet.password:
            out += [f"    username: {username}", f"    password_file: {secret_name}"]
        if c.integrations:
            out.append(f"    integrations: [{', '.join(c.integrations)}]")
            feeds = ", ".join(
                f"{name}: {relays[name]}/relay/{c.id}" for name in c.integrations if name in relays
            )
            out.append(f"    feeds: {{{feeds}}}")
    out.append("")
    tmp = config.with_name(config.name + ".tmp")
    tmp.write_text("\n".join(out), encoding="utf-8")
    os.replace(tmp, config)  # a reader never sees half a config


def twins(cameras) -> dict[str, str]:
    """Each duplicate_device camera -> the nearest earlier camera that is not one: the
    device it really is."""
    out: dict[str, str] = {}
    last: str | None = None
    for cam in cameras:
        if cam.fault == "duplicate_device":
            if last is not None:
                out[cam.id] = last
        else:
            last = cam.id
    return out
