"""monitor.config: every rule has a small invalid file and its exact error line.

The table (`INVALID`, tests/config_cases.py) is the blackbox_exporter habit: one broken file per rule, with the full
`FILE:LINE:COL: path: message` it must produce and nothing else.  Tests run in tmp_path (the
working directory), so file names in messages are short and stable.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import config
from monitor.config import (
    ConfigError,
    ConfigIssue,
    check_main,
    format_duration,
    load,
    parse_duration,
)
from monitor.model import Credentials, Endpoint, Integration, split_credentials
from tests.config_cases import INVALID, cams

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "config"
CANARY = "CANARY-s3cret"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def issues_of(path: str | Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, env={} if env is None else env)
    return [str(i) for i in caught.value.issues]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name,text,expected", INVALID, ids=[row[0] for row in INVALID])
def test_invalid_file_gives_its_exact_error(name: str, text: str, expected: str) -> None:
    Path("c.yml").write_text(text, encoding="utf-8")
    assert issues_of("c.yml") == [expected]


@pytest.mark.parametrize("path", sorted(DATA.glob("invalid-*.yml")), ids=lambda p: p.name)
def test_data_files(path: Path) -> None:
    """tests/data/config/invalid-*.yml carry their expected lines in '# expect:' comments."""
    expected = [
        line.split("# expect: ", 1)[1].replace("FILE", str(path))
        for line in path.read_text(encoding="utf-8").splitlines()
        if "# expect: " in line
    ]
    assert expected, "each data file names its expected errors"
    assert issues_of(path) == expected


def test_every_error_of_a_file_is_reported() -> None:
    write(Path("c.yml"), """
        monitor:
          interval: 30
          retries: 9
        providers:
          - {name: pt-a, sla: 1.5}
        cameras:
          - id: A
            provider: pt-b
            rtsp: ftp://10.0.0.1/x
          - id: A
            http: http://10.0.0.2/x
            checks: [rtsp]
          - name: no id
            http: http://10.0.0.3/x
    """)
    assert issues_of("c.yml") == [
        "c.yml:2:13: monitor.interval: durations need a unit, e.g. 30s, got '30'",
        "c.yml:3:12: monitor.retries: must be between 0 and 5, got 9",
        "c.yml:5:23: providers[0].sla: must be greater than 0 and at most 1 (0.98 is 98%), "
        "got 1.5",
        "c.yml:8:15: cameras[0].provider: unknown provider 'pt-b' (did you mean 'pt-a'?)",
        "c.yml:9:11: cameras[0].rtsp: ftp://10.0.0.1/x: the URL must start with rtsp:// or "
        "rtsps://",
        "c.yml:10:9: cameras[1].id: duplicate camera id 'A' (first at c.yml:7)",
        "c.yml:12:14: cameras[1].checks[0]: check 'rtsp' needs rtsp:",
        "c.yml:13:5: cameras[2]: missing required key 'id'",
    ]


def test_check_main_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    write(Path("ok.yml"), """
        providers: [{name: pt-a, target_cameras: 2, sla: 0.9}]
        command_centres:
          - name: police-hq
            links: [{name: primary, targets: ['tcp://10.20.0.1:443']}]
        cameras:
          - {id: A, provider: pt-a, rtsp: 'rtsp://10.0.0.1/x'}
          - {id: B, provider: pt-a, http: 'http://10.0.0.2/x'}
    """)
    assert check_main("ok.yml") == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "ok.yml: 2 cameras, 1 providers, 1 command centres: OK\n"

    write(Path("bad.yml"), "monitor:\n  timeout: 0s\ncameras:\n  - {id: A}\n")
    assert check_main("bad.yml") == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "bad.yml:2:12: monitor.timeout: must be greater than 0",
        "bad.yml:4:5: cameras[0]: a camera needs rtsp: or http: (or both)",
    ]
    assert err == "bad.yml: 2 errors\n"


def test_check_main_malformed_yaml_and_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    Path("broken.yml").write_text("cameras:\n  - id: 'A\n", encoding="utf-8")
    assert check_main("broken.yml") == 2
    out, err = capsys.readouterr()
    assert out == ("broken.yml:3:1: -: invalid YAML: while scanning a quoted scalar, found "
                   "unexpected end of stream\n")
    assert "Traceback" not in err

    assert check_main("missing.yml") == 2
    out, _ = capsys.readouterr()
    assert out == "missing.yml:1:1: -: cannot read the file: No such file or directory\n"


def test_issue_format_and_sorting() -> None:
    issue = ConfigIssue("a.yml", 3, 7, "cameras[0].rtsp", "bad")
    assert str(issue) == "a.yml:3:7: cameras[0].rtsp: bad"
    error = ConfigError([ConfigIssue("b.yml", 1, 1, "-", "x"), ConfigIssue("a.yml", 9, 2, "-", "y"),
                         ConfigIssue("a.yml", 2, 5, "-", "z")])
    assert [(i.file, i.line) for i in error.issues] == [("a.yml", 2), ("a.yml", 9), ("b.yml", 1)]


# --------------------------------------------------------------------------- a valid file


def test_defaults_and_resolution() -> None:
    write(Path("c.yml"), cams("""
        - id: A
          rtsp: rtsp://10.0.0.1/x
          http: http://10.0.0.1/p.jpg
          integrations: [smart-city, police-hq]
          feeds: {police-hq: 'rtsp://10.20.0.5/relay/A'}
        - id: 0042
          rtsp: rtsp://10.0.0.2/x
          checks: [snapshot, tcp] # order follows CAMERA_CHECKS; snapshot needs http:
          http: http://10.0.0.2/p.jpg
          interval: 1m
          location: [-6.2, 106.8]
        - id: C
          http: https://10.0.0.3/p.jpg
          name: ~
    """))
    inventory = load("c.yml", env={})
    a, b, c = inventory.cameras
    assert inventory.settings == config.MonitorSettings()
    assert a.checks == ("rtsp", "stream", "picture", "http", "snapshot")
    assert a.integrations == ("smart-city", "police-hq")
    assert a.feeds == (("police-hq", Endpoint("rtsp://10.20.0.5/relay/A")),)
    assert (b.id, b.checks, b.interval) == ("0042", ("tcp", "snapshot"), 60.0)
    assert b.location == (-6.2, 106.8)
    assert c.checks == ("http", "snapshot") and c.name == ""
    assert inventory.integrations == (
        Integration("smart-city"),
        Integration("police-hq", "police-hq"),
    )
    assert inventory.files == ("c.yml",)


def test_stream_off_drops_stream_checks() -> None:
    write(Path("c.yml"), """
        monitor:
          stream: {interval: 0}
        cameras:
          - {id: A, rtsp: 'rtsp://10.0.0.1/x'}
          - {id: B, rtsp: 'rtsp://10.0.0.2/x', checks: [rtsp, stream]}
    """)
    inventory = load("c.yml", env={})
    assert inventory.settings.stream.interval == 0
    assert [c.checks for c in inventory.cameras] == [("rtsp",), ("rtsp",)]


def test_monitor_settings_are_read() -> None:
    write(Path("c.yml"), """
        monitor:
          interval: 1m
          timeout: 1500ms
          concurrency: 2_000
          retries: 0
          stream: {interval: 10m, duration: 6s, concurrency: 10}
          snapshot: {frozen_after: 5, black_below: 20}
          links: {interval: 5s, timeout: 1s, probes: 10, loss_degraded: 0.1, rtt_degraded: 80ms}
    """)
    s = load("c.yml", env={}).settings
    assert (s.interval, s.timeout, s.concurrency, s.retries) == (60.0, 1.5, 2000, 0)
    assert (s.stream.interval, s.stream.duration, s.stream.concurrency) == (600.0, 6.0, 10)
    assert (s.snapshot.frozen_after, s.snapshot.black_below) == (5, 20)
    assert (s.links.interval, s.links.timeout, s.links.probes) == (5.0, 1.0, 10)
    assert (s.links.loss_degraded, s.links.rtt_degraded) == (0.1, 0.08)


def test_yaml_merge_keys_share_camera_defaults() -> None:
    write(Path("c.yml"), cams("""
        - &base {id: A, provider: pt-a, district: Menteng, rtsp: 'rtsp://10.0.0.1/x'}
        - {<<: *base, id: B, rtsp: 'rtsp://10.0.0.2/x'}
    """))
    a, b = load("c.yml", env={}).cameras
    assert (a.id, a.rtsp.url) == ("A", "rtsp://10.0.0.1/x")
    assert (b.id, b.provider, b.district) == ("B", "pt-a", "Menteng")
    assert b.rtsp.url == "rtsp://10.0.0.2/x"


def test_example_config_loads() -> None:
    inventory = load(REPO / "config" / "example.yml", env={})
    assert len(inventory.providers) == 3
    assert [c.name for c in inventory.command_centres] == ["police-hq"]
    assert [link.name for link in inventory.command_centres[0].links] == ["primary", "backup"]
    assert {i.name for i in inventory.integrations} == {"smart-city", "police-hq"}
    ring_one = [c for c in inventory.cameras if c.zone == "ring-1"]
    assert ring_one and all(c.feeds for c in ring_one if "police-hq" in c.integrations)
    assert len(inventory.files) == 4
    first = inventory.cameras[0]
    assert first.rtsp.credentials == Credentials("viewer", "changeme")
    with_env = load(REPO / "config" / "example.yml", env={"CAM_PASS": "from-env"})
    assert with_env.cameras[0].rtsp.credentials == Credentials("viewer", "from-env")


def test_simulator_config_loads(tmp_path: Path) -> None:
    from monitor.simulator import fleet as fleet_module

    fleet = fleet_module.build_fleet(cameras=300, seed=3)
    fleet_module.write_config(fleet, tmp_path / "sim.yml")
    inventory = load(tmp_path / "sim.yml", env={})
    assert len(inventory.cameras) == 300
    assert any(c.feeds for c in inventory.cameras)


# --------------------------------------------------------------------------- includes


def test_includes_append_in_glob_order_with_paths_per_file() -> None:
    write(Path("main.yml"), """
        monitor: {interval: 20s}
        providers: [{name: pt-0}]
        include: [providers/*.yml, 'centres.yml']
        cameras:
          - {id: M, rtsp: 'rtsp://10.0.0.9/x'}
    """)
    write(Path("providers/b.yml"), """
        providers: [{name: pt-b}]
        cameras:
          - {id: B1, provider: pt-b, rtsp: 'rtsp://10.0.2.1/x'}
    """)
    write(Path("providers/a.yml"), """
        providers: [{name: pt-a}]
        include: [../extra/*.yml]
        cameras:
          - {id: A1, provider: pt-a, rtsp: 'rtsp://10.0.1.1/x'}
          - {id: A2, provider: pt-a, rtsp: 'rtsp://10.0.1.2/x'}
    """)
    write(Path("extra/x.yml"),
          "cameras:\n  - {id: X1, provider: pt-b, http: 'http://10.0.3.1/p'}\n")
    write(Path("centres.yml"), """
        command_centres:
          - name: police-hq
            links: [{name: primary, targets: ['icmp://10.20.0.1']}]
    """)
    inventory = load("main.yml", env={})
    assert [c.id for c in inventory.cameras] == ["M", "A1", "A2", "X1", "B1"]
    assert [p.name for p in inventory.providers] == ["pt-0", "pt-a", "pt-b"]
    assert inventory.settings.interval == 20
    assert inventory.files == ("main.yml", "providers/a.yml", "extra/x.yml", "providers/b.yml",
                               "centres.yml")

    # an error in an included file names that file and the path within it
    write(Path("providers/b.yml"), """
        providers: [{name: pt-b}]
        cameras:
          - {id: B1, provider: pt-b, rtsp: 'rtsp://10.0.2.1/x'}
          - {id: A2, provider: pt-c, rtsp: 'rtsp://10.0.2.2/x'}
        monitor: {timeout: 1s}
    """)
    assert issues_of("main.yml") == [
        "providers/b.yml:4:10: cameras[1].id: duplicate camera id 'A2' "
        "(first at providers/a.yml:5)",
        "providers/b.yml:4:24: cameras[1].provider: unknown provider 'pt-c' (did you mean 'pt-b'?)",
        "providers/b.yml:5:1: monitor: monitor: is already set in main.yml:1; "
        "set it in one file only",
    ]


def test_include_cycle_and_repeat() -> None:
    write(Path("a.yml"), "include: [b.yml]\n")
    write(Path("b.yml"), "include: ['*.yml']\n")
    assert issues_of("a.yml") == [
        "b.yml:1:11: include[0]: include cycle: a.yml -> b.yml -> a.yml",
        "b.yml:1:11: include[0]: include cycle: a.yml -> b.yml -> b.yml",
    ]
    write(Path("a.yml"), "include: [b.yml, c.yml]\n")
    write(Path("b.yml"), "include: [c.yml]\n")
    write(Path("c.yml"), "cameras: []\n")
    assert issues_of("a.yml") == ["a.yml:1:18: include[1]: c.yml is already included (as c.yml)"]


def test_include_that_is_unreadable_or_broken() -> None:
    write(Path("main.yml"), "include: ['*.d/*.yml']\n")
    write(Path("p.d/a.yml"), "cameras:\n  - {id: A, rtsp: 'rtsp://10.0.0.1/x'\n")
    # the wording is the YAML parser's (libyaml's or PyYAML's); the place is ours
    [issue] = issues_of("main.yml")
    assert issue.startswith("p.d/a.yml:3:1: -: invalid YAML: while parsing a flow mapping, ")


def test_malformed_yaml_names_the_place() -> None:
    Path("c.yml").write_text("cameras:\n  - id: A\n   name: x\n", encoding="utf-8")
    [issue] = issues_of("c.yml")
    assert issue.startswith("c.yml:3:4: -: invalid YAML: while parsing a block collection, ")


# --------------------------------------------------------------------------- environment


def test_environment_expansion() -> None:
    write(Path("c.yml"), """
        monitor:
          interval: ${INTERVAL:-45s}
          concurrency: ${CONCURRENCY}
        cameras:
          - id: ${SITE}-1
            name: "${SITE} ${EMPTY:-gate} ${EMPTY}"
            rtsp: rtsp://viewer:${PASS}@10.0.0.1/x
    """)
    env = {"CONCURRENCY": "250", "SITE": "JKT", "EMPTY": "", "PASS": "p@ss:w"}
    inventory = load("c.yml", env=env)
    assert inventory.settings.interval == 45
    assert inventory.settings.concurrency == 250
    camera = inventory.cameras[0]
    assert (camera.id, camera.name) == ("JKT-1", "JKT gate ")
    assert camera.rtsp == Endpoint("rtsp://10.0.0.1/x", Credentials("viewer", "p@ss:w"))


def test_unset_variables_are_named_and_values_never_shown() -> None:
    write(Path("c.yml"), """
        cameras:
          - id: A
            name: ${NAME}
            rtsp: rtsp://u:${SECRET}@10.0.0.1:x/y
    """)
    issues = issues_of("c.yml", env={"SECRET": CANARY})
    assert issues == [
        "c.yml:3:11: cameras[0].name: environment variable NAME is not set "
        "(use ${NAME:-default} to give a default)",
        "c.yml:4:11: cameras[0].rtsp: invalid URL rtsp://u:xxxxx@10.0.0.1:x/y: Port could not "
        "be cast to integer value as 'x'",
    ]


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCTV_TEST_HOST", "10.9.9.9")
    write(Path("c.yml"), "cameras:\n  - {id: A, rtsp: 'rtsp://${CCTV_TEST_HOST}/x'}\n")
    assert load("c.yml").cameras[0].rtsp.url == "rtsp://10.9.9.9/x"


# --------------------------------------------------------------------------- credentials


def test_password_file_relative_to_the_file_that_names_it() -> None:
    write(Path("main.yml"), "include: [sites/*.yml]\n")
    write(Path("sites/a.yml"), """
        cameras:
          - id: A
            username: viewer
            password_file: secrets/a.pw
            rtsp: rtsp://10.0.0.1/x
            http: http://admin:other@10.0.0.1/p.jpg
    """)
    Path("sites/secrets").mkdir()
    Path("sites/secrets/a.pw").write_text("s3cret pass\n", encoding="utf-8")
    inventory = load("main.yml", env={})
    camera = inventory.cameras[0]
    assert camera.rtsp == Endpoint("rtsp://10.0.0.1/x", Credentials("viewer", "s3cret pass"))
    assert camera.http == Endpoint("http://10.0.0.1/p.jpg", Credentials("admin", "other"))
    assert "sites/secrets/a.pw" in inventory.files

    Path("sites/secrets/a.pw").write_text("", encoding="utf-8")
    assert issues_of("main.yml") == [
        "sites/a.yml:4:20: cameras[0].password_file: password_file 'secrets/a.pw' is empty"
    ]


def test_username_and_password_apply_to_urls_without_credentials() -> None:
    write(Path("c.yml"), """
        cameras:
          - id: A
            username: viewer
            password: ${PW}
            rtsp: rtsp://10.0.0.1/x
            http: http://10.0.0.1/p.jpg
          - id: B
            username: onlyuser
            rtsp: rtsp://10.0.0.2/x
    """)
    a, b = load("c.yml", env={"PW": "pw1"}).cameras
    assert a.rtsp.credentials == a.http.credentials == Credentials("viewer", "pw1")
    assert b.rtsp.credentials == Credentials("onlyuser", "")


def test_canary_password_never_appears() -> None:
    Path("canary.pw").write_text(CANARY + "\n", encoding="utf-8")
    write(Path("bad.yml"), f"""
        cameras:
          - id: A
            rtsp: rtsp://admin:{CANARY}@10.0.0.1:99999/x
            http: ftp://admin:{CANARY}@10.0.0.1/x
          - id: B
            password: {CANARY}
            rtsp: rtsp://admin:{CANARY}/x
            http: 'admin:{CANARY}@10.0.0.1/x'
          - id: C
            username: u
            password_file: canary.pw
            password: {CANARY}
            rtsp: "rtsp://u:{CANARY}@[::1/x"
            checks: [http]
          - id: D
            username: u
            password: [{CANARY}]
            rtsp: rtsp://u:{CANARY}@10.0.0.1/x
            feeds: {{nowhere: 'rtsp://u:{CANARY}@10.0.0.1/x'}}
          - id: E
            username: u
            password_file: canary.pw
            rtsp: rtsp://:{CANARY}@/x
          - id: F
            rtsp: rtsp://u:{CANARY}@10.0.0.1/x
            interval: {CANARY}
        command_centres:
          - name: c
            links: [{{name: l, targets: ['icmp://u:{CANARY}@10.0.0.1']}}]
    """)
    issues = issues_of("bad.yml")
    assert len(issues) >= 12
    leaked = [line for line in issues if "CANARY" in line or "s3cret" in line]
    assert leaked == []

    write(Path("good.yml"), f"""
        cameras:
          - id: A
            rtsp: rtsp://admin:{CANARY}@10.0.0.1/x
            http: http://10.0.0.1/p.jpg
            username: u
            password: {CANARY}
            integrations: [police-hq]
            feeds: {{police-hq: 'rtsp://relay:{CANARY}@10.20.0.5/A'}}
          - id: B
            username: u
            password_file: canary.pw
            rtsp: rtsps://10.0.0.2/x
        command_centres:
          - name: police-hq
            links: [{{name: l, targets: ['https://u:{CANARY}@10.20.0.1/health']}}]
    """)
    inventory = load("good.yml", env={})
    assert CANARY not in repr(inventory)
    assert inventory.cameras[0].rtsp.credentials == Credentials("admin", CANARY)
    assert inventory.cameras[1].rtsp.credentials == Credentials("u", CANARY)


URL_PARTS = st.fixed_dictionaries({
    "scheme": st.sampled_from(["rtsp", "rtsps", "http", "RTSP", "https"]),
    "user": st.sampled_from(["", "admin", "u%40x", "Viewer"]),
    "password": st.one_of(st.none(), st.text("abcXYZ09%@:/?#[]!$ ", max_size=8)),
    "host": st.sampled_from(["10.0.0.1", "cam-1.local", "CAM.local", "[::1]", "", "h%41"]),
    "port": st.one_of(st.none(), st.sampled_from(["554", "0", "0554", "99999", "", "x"])),
    "path": st.text("/abc?#@%", max_size=8),
})


@settings(max_examples=400, deadline=None)
@given(URL_PARTS)
def test_fast_url_split_agrees_with_split_credentials(parts: dict) -> None:
    userinfo = ""
    if parts["password"] is not None:
        userinfo = f"{parts['user']}:{parts['password']}@"
    elif parts["user"]:
        userinfo = f"{parts['user']}@"
    port = "" if parts["port"] is None else f":{parts['port']}"
    url = f"{parts['scheme']}://{userinfo}{parts['host']}{port}{parts['path']}"
    creds = Credentials("camera", "default")
    fast = config.split_fast(url, creds, ("rtsp", "rtsps", "http", "https"))
    if fast is not None:
        assert fast[0] == split_credentials(url, creds)


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize("text,seconds", [
    ("500ms", 0.5), ("15s", 15), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("0", 0),
    ("0s", 0), ("2d", 172800), ("1w", 604800), ("1y", 31536000), ("1m30s250ms", 90.25),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text,message", [
    ("30", "durations need a unit, e.g. 30s, got '30'"),
    ("1.5", "durations need a unit, e.g. 30s, got '1.5'"),
    ("", "invalid duration '': use whole numbers with units, e.g. 500ms, 15s, 5m, 1h30m"),
    ("30m1h", "invalid duration '30m1h': use whole numbers with units, e.g. 500ms, 15s, 5m, 1h30m"),
    ("-5s", "invalid duration '-5s': use whole numbers with units, e.g. 500ms, 15s, 5m, 1h30m"),
    ("5 s", "invalid duration '5 s': use whole numbers with units, e.g. 500ms, 15s, 5m, 1h30m"),
])
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == message
    with pytest.raises(ValueError, match="durations need a unit"):
        parse_duration(30)


UNITS = ("y", "w", "d", "h", "m", "s", "ms")
UNIT_MS = (31_536_000_000, 604_800_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 10_000)), min_size=7, max_size=7))
def test_parse_duration_round_trips(counts: list[int | None]) -> None:
    text = "".join(f"{n}{u}" for n, u in zip(counts, UNITS) if n is not None)
    if not text:
        text = "0"
    expected_ms = sum(n * size for n, size in zip(counts, UNIT_MS) if n is not None)
    seconds = parse_duration(text)
    assert seconds == expected_ms / 1000
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 0.5, 15, 90, 5400, 86400)] == [
        "0s", "500ms", "15s", "1m30s", "1h30m", "1d"]


def test_minimal_valid_data_file() -> None:
    inventory = load(DATA / "valid-minimal.yml", env={})
    assert [(c.id, c.checks) for c in inventory.cameras] == [("CAM-1", ("rtsp", "stream", "picture"))]
    assert inventory.providers == () and inventory.command_centres == ()


def test_unreadable_bytes_name_their_place() -> None:
    Path("c.yml").write_bytes(b"cameras:\n  - id: a\x07b\n")
    [issue] = issues_of("c.yml")
    assert issue.startswith("c.yml:2:10: -: invalid YAML: character #x0007: ")
    Path("c.yml").write_bytes(b"cameras:\n  - id: \xff\n")
    [issue] = issues_of("c.yml")
    assert issue.startswith("c.yml:2:9: -: invalid YAML: character #x00ff: ")


def test_a_generated_fleet_loads_whole() -> None:
    """Many cameras through the fast paths (no timing here; tests/bench measures speed)."""
    lines = ["providers: [{name: pt-a}]", "cameras:"]
    for i in range(2000):
        lines += [
            f"  - id: CAM-{i:05d}",
            "    provider: pt-a",
            f"    location: [-6.{i:04d}, 106.8]",
            f"    rtsp: rtsp://viewer:${{PW:-pw}}@10.1.{i // 250}.{i % 250 + 1}:554/ch1",
            f"    http: http://10.1.{i // 250}.{i % 250 + 1}/snap.jpg",
        ]
    Path("big.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cameras = load("big.yml", env={"PW": CANARY}).cameras
    assert len(cameras) == 2000
    last = cameras[-1]
    assert last.rtsp == Endpoint("rtsp://10.1.7.250:554/ch1", Credentials("viewer", CANARY))
    assert last.http == Endpoint("http://10.1.7.250/snap.jpg")
    assert last.location == (-6.1999, 106.8)
    assert CANARY not in repr(cameras)
