"""The key tables, the generated reference and JSON Schema, and the schema against the loader.

The schema must accept every configuration the loader accepts, and reject each row of the
invalid-config table (tests/test_config.py) that a schema can express; `LOADER_ONLY` names
the rows it cannot, and why.  Files are read the way an editor's YAML 1.2 plugin reads them
(``yes`` is a string, ``2016-06-30`` is a string, ``0042`` a number).
"""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from monitor import model
from monitor.config import keys, load, reference
from tests.config_cases import INVALID

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / reference.SCHEMA_FILE).read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)

#: Rows of the invalid-config table only the loader can catch: rules across keys, files or
#: sections, the environment, YAML itself, and the file system.
LOADER_ONLY = {
    "duplicate key": "a YAML parser keeps one of the two before the schema sees them",
    "timeout longer than interval": "compares two keys",
    "interval shorter than the default timeout": "compares a key with a default",
    "link timeout not shorter than link interval": "compares two keys",
    "duplicate provider": "uniqueness across entries and files",
    "integration named like a command centre": "a reference across sections",
    "integration with unknown centre": "a reference across sections",
    "duplicate integration": "uniqueness across entries and files",
    "duplicate link": "uniqueness of a key across entries",
    "duplicate camera id": "uniqueness across entries and files",
    "unknown provider": "a reference across sections",
    "unknown integration": "a reference across sections",
    "feed to an integration the camera does not list": "a key against another's values",
    "feed to an undeclared integration": "a reference across sections",
    "missing password_file": "the file system",
    "camera interval shorter than the probe timeout": "compares with another section",
    "unset environment variable": "the environment",
    "a mapping that merges itself": "YAML itself",
    "malformed variable reference": "${...} is the loader's to read",
    "URL with a bad port shows no password": "a port's range inside a URL",
    "include that matches nothing": "the file system",
    "unsupported YAML tag": "YAML itself",
    "two documents": "YAML itself",
    "unknown time zone": "the time zone database",
    "history dsn with a bad port": "a port's range inside a URL",
    "milestone on a day that does not exist": "the calendar",
    "milestones out of date order": "compares entries",
    "milestone count that decreases": "compares entries",
    "window that ends before it starts": "compares two keys",
    "window on an unknown camera": "a reference across sections",
    "window on an unknown provider": "a reference across sections",
    "duplicate window": "uniqueness across entries and files",
}


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 core schema, as editors' language servers read a file."""


Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
):
    Yaml12Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_regexp),
                                       list(_first))


def editor_view(text: str) -> object:
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def schema_errors(text: str) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(editor_view(text))]


def error_paths(text: str) -> set[tuple]:
    """Where the schema's innermost complaints point (through anyOf alternatives)."""
    out: set[tuple] = set()

    def walk(error: jsonschema.ValidationError) -> None:
        out.add(tuple(error.absolute_path))
        for inner in error.context or ():
            walk(inner)

    for error in VALIDATOR.iter_errors(editor_view(text)):
        walk(error)
    return out


def key_path(message: str) -> tuple:
    """'c.yml:3:5: cameras[0].checks[1]: ...' -> ('cameras', 0, 'checks', 1)."""
    path = message.split(": ", 2)[1]
    if path == "-":
        return ()
    out: list = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(out)


# --------------------------------------------------------------------------- drift


def test_reference_doc_is_generated() -> None:
    committed = (REPO / reference.DOC_FILE).read_text(encoding="utf-8")
    assert committed == reference.markdown(), (
        "docs/configuration.md differs from the key tables: run "
        "`python -m monitor.config.reference`")


def test_schema_is_generated_and_valid() -> None:
    committed = (REPO / reference.SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == reference.schema_text(), (
        "config/cctv-monitor.schema.json differs from the key tables: run "
        "`python -m monitor.config.reference`")
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_every_key_is_documented() -> None:
    doc = (REPO / reference.DOC_FILE).read_text(encoding="utf-8")
    for section in keys.SECTIONS:
        for key in section.keys:
            assert key.meaning.strip(), f"{section.path}.{key.name} has no meaning"
            assert f"`{key.name}`" in doc


@pytest.mark.parametrize("section,cls", [
    (keys.MONITOR, model.MonitorSettings), (keys.STREAM, model.StreamSettings),
    (keys.SNAPSHOT, model.SnapshotSettings), (keys.LINKS, model.LinkSettings),
    (keys.RELOAD, model.ReloadSettings), (keys.HISTORY, model.HistorySettings),
])
def test_table_defaults_are_the_model_defaults(section: keys.Section, cls: type) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING}
    for key in section.keys:
        if key.section is None:
            assert defaults[key.name] == key.default, f"{section.path}.{key.name}"
    assert set(defaults) == section.names


def test_example_points_editors_at_the_schema() -> None:
    for path in [REPO / "config" / "example.yml", *(REPO / "config" / "providers").glob("*.yml")]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, f"{path.name}: first line names no schema"
        assert (path.parent / match.group(1)).resolve() == REPO / reference.SCHEMA_FILE


# --------------------------------------------------------------------------- accepted


VALID = [
    "cameras:\n  - {id: 0042, rtsp: 'rtsp://10.0.0.1/x', name: ~, checks: [tcp, rtsp]}\n",
    "monitor:\n  interval: ${INTERVAL:-45s}\n  concurrency: ${CONCURRENCY}\n",
    "monitor:\n  concurrency: 2_000\n  retries: 0\n  stream: {interval: 0}\n"
    "  links: {loss_degraded: 0, rtt_degraded: 80ms}\n",
    "monitor:\n  interval: 1m\n  timeout: 1500ms\n  stream: {interval: 10m, duration: 6s}\n"
    "  snapshot: {frozen_after: 5, black_below: 20}\n",
    "providers:\n  - {name: pt-a, target_cameras: 10, sla: 0.98}\n  - {name: pt-b, sla: 1}\n",
    "command_centres:\n  - name: c\n    links:\n      - name: l\n        targets: "
    "['tcp://10.0.0.1:443', 'TCP://[::1]:1', 'icmp://10.0.0.2', 'icmp://[::1]', "
    "'https://u:p@10.0.0.3/health']\n"
    "integrations:\n  - {name: relay, centre: c}\n  - name: smart-city\n",
    "cameras:\n  - &base {id: A, provider: ~, district: Menteng, rtsp: 'rtsp://10.0.0.1/x'}\n"
    "  - {<<: *base, id: B, rtsp: 'RTSPS://10.0.0.2/x'}\n",
    "cameras:\n  - id: A\n    username: u\n    password_file: pw.txt\n"
    "    http: https://10.0.0.1/p.jpg\n    location: [-6.2, 106.8]\n    interval: 1m\n"
    "    integrations: [police-hq]\n    feeds: {police-hq: 'rtsp://10.20.0.5/A'}\n",
    "cameras:\n  - id: A\n    username: u\n    password: ${PW}\n"
    "    rtsp: rtsp://u:${PW}@10.0.0.1/x\n    checks: [rtsp, stream]\n",
    "include: extra/*.yml\n",
    "include: [a.yml, 'b/*.yml']\ncameras: []\nproviders: ~\n",
    "",
]


@pytest.mark.parametrize("text", VALID)
def test_schema_accepts_valid_snippets(text: str) -> None:
    assert schema_errors(text) == []


def test_schema_accepts_the_shipped_configs() -> None:
    files = [REPO / "config" / "example.yml", *sorted((REPO / "config" / "providers").glob("*.yml")),
             *sorted((REPO / "tests" / "data" / "config").glob("valid-*.yml"))]
    inventory = load(REPO / "config" / "example.yml", env={})
    assert {str(REPO / "config" / f) for f in inventory.files} >= {str(p) for p in files[:2]}
    for path in files:
        assert schema_errors(path.read_text(encoding="utf-8")) == [], path.name


def test_schema_accepts_the_simulator_fleet(tmp_path: Path) -> None:
    from monitor.simulator import fleet as fleet_module

    fleet = fleet_module.build_fleet(cameras=300, seed=3)
    fleet_module.write_config(fleet, tmp_path / "sim.yml")
    load(tmp_path / "sim.yml", env={})
    for path in sorted(tmp_path.glob("**/*.yml")):
        assert schema_errors(path.read_text(encoding="utf-8")) == [], path.name


# --------------------------------------------------------------------------- rejected


def test_loader_only_names_real_rows() -> None:
    assert set(LOADER_ONLY) <= {row[0] for row in INVALID}


@pytest.mark.parametrize("name,text,expected", INVALID, ids=[row[0] for row in INVALID])
def test_schema_rejects_what_it_can_express(name: str, text: str, expected: str) -> None:
    if name in LOADER_ONLY:
        # Kept honest: a rule the schema learns to express leaves LOADER_ONLY.
        try:
            errors = schema_errors(text)
        except Exception:  # noqa: BLE001 - YAML an editor would flag itself
            return
        assert errors == [], f"the schema now catches {name!r}: drop it from LOADER_ONLY"
        return
    paths = error_paths(text)
    assert paths, f"the schema accepts the invalid row {name!r}"
    # ...and for the loader's reason: some complaint points at the key the loader names
    # or at its entry (a rule across the entry's keys), or at its mapping (a key unknown).
    want = key_path(expected)
    assert any(want[:len(p)] == p and len(p) >= min(len(want) - 1, 2) for p in paths), (
        name, paths)


def test_generated_files_are_written_by_the_module(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "config").mkdir()
    written = reference.write(str(tmp_path))
    assert [Path(p).read_text(encoding="utf-8") for p in written] == [
        reference.markdown(), reference.schema_text()]
    assert textwrap.dedent(reference.markdown()).startswith("# Configuration reference")


def test_schema_and_loader_accept_what_import_writes(tmp_path: Path) -> None:
    from monitor.commands.cli import main

    sheet = tmp_path / "alpha.csv"
    sheet.write_text(
        "id,name,district,zone,latitude,longitude,uplink,rtsp,http,username,checks,"
        "integrations,claimed_installed\n"
        "JKT-1,Bundaran HI,Menteng,ring-1,-6.195,106.823,sw-1,rtsp://10.2.3.4/ch1,,viewer,"
        "rtsp stream,smart-city,2016-05-30\n"
        "0042,Monas,Gambir,city,,,,,http://10.2.3.5/p.jpg,,,,30/06/2016\n",
        encoding="utf-8")
    out = tmp_path / "providers" / "alpha.yml"
    out.parent.mkdir()
    assert main(["import", str(sheet), "--provider", "pt-alpha", "-o", str(out)]) == 0
    (tmp_path / "main.yml").write_text(
        "providers: [{name: pt-alpha}]\nintegrations: [{name: smart-city}]\n"
        "include: [providers/*.yml]\n", encoding="utf-8")
    inventory = load(tmp_path / "main.yml", env={})
    assert [c.id for c in inventory.cameras] == ["JKT-1", "0042"]
    assert schema_errors(out.read_text(encoding="utf-8")) == []
