"""The simulated Jakarta fleet: the published figures, determinism, the fault mix, the config."""

from __future__ import annotations

import ipaddress
import os
import stat
from collections import Counter
from pathlib import Path

import pytest

from monitor.simulator import jakarta
from monitor.simulator.fleet import (
    DEFAULT_FAULT_MIX,
    FAULTS,
    build_fleet,
    parse_fault_mix,
    password_files,
    write_config,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fleet():
    return build_fleet()


def test_default_fleet_has_the_published_figures(fleet):
    cams = fleet.cameras
    assert len(cams) == 3517
    assert len(fleet.providers) == 4
    assert sum(p.target_cameras for p in fleet.providers) == 5518
    assert all(0.95 <= p.sla <= 0.99 for p in fleet.providers)
    installed = Counter(c.provider for c in cams)
    assert set(installed) == {p.name for p in fleet.providers}
    # some provider is far below its target (the warning-letter case)
    assert any(installed[p.name] < 0.5 * p.target_cameras for p in fleet.providers)
    assert sum("smart-city" in c.integrations for c in cams) == 2832
    ring = [c for c in cams if c.zone == "ring-1"]
    assert len(ring) == 176
    assert {c.zone for c in cams} == {"ring-1", "city"}
    police = [c for c in cams if "police-hq" in c.integrations]
    assert len(police) == 133
    assert all(c.zone == "ring-1" for c in police)


def test_geography_is_jakarta(fleet):
    assert len(jakarta.DISTRICTS) == 42
    assert {d.city for d in jakarta.DISTRICTS} == set(jakarta.CITIES)
    assert {c.city for c in fleet.cameras} == set(jakarta.CITIES)
    assert len({c.district for c in fleet.cameras}) == 42
    for c in fleet.cameras:
        district = jakarta.DISTRICT_BY_NAME[c.district]
        assert district.city == c.city
        # within Jakarta's bounding box
        assert -6.40 < c.lat < -6.05 and 106.65 < c.lon < 107.00, c
        assert f"({c.district})" in c.name
    for c in fleet.cameras:
        if c.zone == "ring-1":
            assert c.district in {"Gambir", "Menteng", "Tanah Abang"}
            assert abs(c.lat - -6.175) < 0.025 and abs(c.lon - 106.827) < 0.025, c


def test_ids_addresses_and_uplinks(fleet):
    cams = fleet.cameras
    assert len({c.id for c in cams}) == len(cams)
    assert cams[0].id == "JKT-00001" and cams[-1].id == "JKT-03517"
    assert len({c.ip for c in cams}) == len(cams)
    reserved = {f"127.{n}.{r}.{h}" for n in (20, 21) for r in (0, 1) for h in (1, 5)}
    for c in cams:
        addr = ipaddress.ip_address(c.ip)
        assert addr in ipaddress.ip_network("127.0.0.0/8")
        octets = [int(x) for x in c.ip.split(".")]
        assert octets[3] not in (0, 255) and octets[1] not in (0, 20, 21)
        assert c.ip not in reserved
    per_uplink = Counter(c.uplink for c in cams)
    assert max(per_uplink.values()) <= 25
    for c in cams:
        assert c.uplink.startswith(f"sw-{jakarta.DISTRICT_BY_NAME[c.district].slug}-")
    police = fleet.integration("police-hq")
    assert police.centre and police.relay_ip == "127.20.0.5"
    assert [(l.name, l.ip) for l in police.links] == [("primary", "127.20.0.1"), ("backup", "127.20.1.1")]
    assert fleet.integration("smart-city").relay_ip == "127.21.0.5"


def test_password_is_derived_from_the_seed():
    a, b = build_fleet(50, seed=1), build_fleet(50, seed=2)
    assert a.password and a.password != b.password
    assert a.password not in {"admin", "password", "12345", "viewer"}
    assert a.wrong_password and a.wrong_password != a.password


def test_deterministic_for_a_seed():
    assert build_fleet(500, seed=3) == build_fleet(500, seed=3)
    assert build_fleet(500, seed=3) != build_fleet(500, seed=4)


def test_fault_shares_follow_the_mix(fleet):
    counts = fleet.fault_counts()
    n = len(fleet.cameras)
    for fault, share in DEFAULT_FAULT_MIX.items():
        if fault == "feed_missing":
            continue
        assert abs(counts[fault] - share * n) <= 1, (fault, counts[fault])
    carrying = sum(1 for c in fleet.cameras if c.integrations)
    assert abs(counts["feed_missing"] - 0.02 * carrying) <= 1
    assert all(c.integrations for c in fleet.cameras if c.fault == "feed_missing")
    assert counts["healthy"] > 0.8 * n
    # a different mix, and none
    custom = build_fleet(1000, faults=parse_fault_mix("down=0.2,tarpit=0.1"))
    assert custom.fault_counts()["down"] == 200 and custom.fault_counts()["tarpit"] == 100
    assert build_fleet(1000, faults={}).fault_counts()["healthy"] == 1000


@pytest.mark.parametrize("cameras", [100, 50_000])
def test_other_sizes_scale_the_figures(cameras):
    f = build_fleet(cameras)
    scale = cameras / 3517
    assert len(f.cameras) == cameras
    assert abs(sum(p.target_cameras for p in f.providers) - 5518 * scale) <= 1
    assert abs(sum("smart-city" in c.integrations for c in f.cameras) - 2832 * scale) <= 1
    ring = [c for c in f.cameras if c.zone == "ring-1"]
    assert abs(len(ring) - 176 * scale) <= 1
    police = [c for c in f.cameras if "police-hq" in c.integrations]
    assert abs(len(police) - 133 * scale) <= 1
    assert all(c.zone == "ring-1" for c in police)
    assert len({c.ip for c in f.cameras}) == cameras
    assert len({c.id for c in f.cameras}) == cameras


def test_address_space_is_checked():
    with pytest.raises(ValueError, match="reserved"):
        build_fleet(100, base_net=20)
    with pytest.raises(ValueError, match="do not fit"):
        build_fleet(100_000, base_net=255)
    with pytest.raises(ValueError, match="at least one camera"):
        build_fleet(0)


def test_parse_fault_mix():
    assert parse_fault_mix(None) == DEFAULT_FAULT_MIX
    assert parse_fault_mix("") == {}
    assert parse_fault_mix("healthy=1") == {}  # healthy is always the remainder
    assert parse_fault_mix("down=0.02, tarpit=0.01") == {"down": 0.02, "tarpit": 0.01}
    cases = {
        "bogus=0.1": "unknown fault 'bogus'",
        "down": "expected NAME=SHARE",
        "down=abc": "expected a share between 0 and 1",
        "down=1.5": "not between 0 and 1",
        "down=-0.1": "not between 0 and 1",
        "down=0.6,tarpit=0.5": "add up to 1.1, more than 1",
        "down=0.1,down=0.2": "given twice",
    }
    for text, message in cases.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            parse_fault_mix(text)
    assert set(DEFAULT_FAULT_MIX) <= set(FAULTS)


def test_write_config(tmp_path, fleet):
    path = tmp_path / "jakarta.yml"
    write_config(fleet, path, interval="15s", stream_interval="60s")
    text = path.read_text()
    secret, wrong = password_files(path)
    for f in (secret, wrong):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert secret.read_text().strip() == fleet.password
    assert wrong.read_text().strip() == fleet.wrong_password
    assert fleet.password not in text and fleet.wrong_password not in text
    assert "interval: 15s" in text and "interval: 60s" in text
    assert text.count("\n  - id: ") == 3517
    assert "tcp://127.20.0.1:9443" in text and "http://127.20.1.1:9080/health" in text
    by_fault = {c.fault: c for c in fleet.cameras}
    block = text.split(f"  - id: {by_fault['auth_required'].id}\n", 1)[1].split("\n  - id:", 1)[0]
    assert "username" not in block and "password" not in block
    block = text.split(f"  - id: {by_fault['wrong_credentials'].id}\n", 1)[1].split("\n  - id:", 1)[0]
    assert f'password_file: "{wrong.name}"' in block
    police = next(c for c in fleet.cameras if "police-hq" in c.integrations)
    assert f"police-hq: rtsp://127.20.0.5:8554/relay/{police.id}" in text

    from monitor import config

    inventory = config.load(str(path))
    assert len(inventory.cameras) == 3517
    assert sum(p.target_cameras for p in inventory.providers) == 5518
    assert inventory.settings.interval == 15.0
    assert inventory.settings.stream.interval == 60.0
    cams = {c.id: c for c in inventory.cameras}
    assert cams[police.id].zone == "ring-1"
    assert dict(cams[police.id].feeds)["police-hq"].url == f"rtsp://127.20.0.5:8554/relay/{police.id}"
    healthy = next(c for c in fleet.cameras if c.fault == "healthy")
    creds = cams[healthy.id].rtsp.credentials
    assert creds is not None and creds.password == fleet.password
    assert cams[by_fault["auth_required"].id].rtsp.credentials is None
    assert cams[by_fault["wrong_credentials"].id].rtsp.credentials.password == fleet.wrong_password
    assert [l.name for l in inventory.command_centres[0].links] == ["primary", "backup"]
    assert {i.name for i in inventory.integrations} >= {"smart-city"}
    assert fleet.password not in repr(inventory)


def test_write_config_50k_cameras_loads_quickly(tmp_path):
    """Not timed: 50,000 cameras go through the formatter and, if present, the loader."""
    f = build_fleet(50_000)
    path = tmp_path / "big.yml"
    write_config(f, path)
    assert path.read_text().count("\n  - id: ") == 50_000
