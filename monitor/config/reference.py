"""The configuration reference and JSON Schema, generated from the key tables (`keys`).

    python -m monitor.config.reference [REPO]

writes REPO/docs/configuration.md and REPO/config/cctv-monitor.schema.json (REPO defaults
to the working directory); tests fail when the committed files differ from what this
module generates.

The schema (JSON Schema draft-07, which editors' YAML plugins understand) accepts every
configuration the loader accepts.  It rejects what a schema can say: unknown keys, wrong
types, bounds, URL schemes, required keys.  What it cannot say stays the loader's alone:
uniqueness across files, references between sections (a camera's provider), a timeout
against its interval, environment variables and include globs.  A value holding ``${VAR}``
is accepted wherever it stands, since only the loader knows the environment.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ..checks import CAMERA_CHECKS
from .durations import format_duration
from .keys import CHECK_FIELDS, SCOPES, SECTIONS, TOP, TYPES, Key, Section
from .schedule import WEEKDAYS

SCHEMA_FILE = "config/cctv-monitor.schema.json"
DOC_FILE = "docs/configuration.md"

_DURATION = (r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?"
             r"([0-9]+ms)?)$")
_ZERO_DURATION = r"^(0|(0+(y|w|d|h|m|s|ms))+)$"
_SCALAR = ["string", "number", "boolean"]  # the loader reads any scalar as text
_HOST = r"(\[[^\]/]*\]|[^/:@?#\[\]]+)"


def _nocase(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _schemes(schemes: tuple[str, ...]) -> str:
    return "(" + "|".join(_nocase(s) for s in schemes) + ")"


def _url(schemes: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{_schemes(schemes)}://[^/?#]"}


def _link_target() -> dict[str, Any]:
    return {"type": "string", "anyOf": [
        {"pattern": f"^{_nocase('tcp')}://([^/@]*@)?{_HOST}:[0-9]+/?$"},
        {"pattern": f"^{_nocase('icmp')}://{_HOST}/?$"},
        {"pattern": f"^{_schemes(('http', 'https'))}://[^/?#]"},
    ]}


def _typed(key: Key) -> dict[str, Any]:
    """The schema of a key's value, before ${VAR} and null are allowed."""
    kind = key.type
    if kind == "duration":
        text: dict[str, Any] = {"type": "string", "pattern": _DURATION, "minLength": 1}
        if not key.zero:
            return {**text, "not": {"pattern": _ZERO_DURATION}}
        return {"anyOf": [text, {"const": 0}]}
    if kind == "integer":
        number: dict[str, Any] = {"type": "integer"}
        if key.lo is not None:
            number["minimum"] = int(key.lo)
        if key.hi is not None:
            number["maximum"] = int(key.hi)
        # 2_000 is a number to the loader, a string to a YAML 1.2 editor.
        return {"anyOf": [number, {"type": "string", "pattern": r"^[0-9]+(_[0-9]+)+$"}]}
    if kind == "number":
        return {"type": "number"}
    if kind == "ratio":
        return {"type": "number", "minimum": 0, "maximum": 1}
    if kind == "fraction":
        return {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
    if kind in ("text", "secret"):
        out: dict[str, Any] = {"type": _SCALAR}
        if key.max_len:
            out["maxLength"] = key.max_len
        return out
    if kind == "name":
        out = {"type": _SCALAR, "minLength": 1, "pattern": r"\S"}
        if key.max_len:
            out["maxLength"] = key.max_len
        return out
    if kind == "url":
        return _url(key.schemes)
    if kind == "location":
        return {"type": "array", "minItems": 2, "maxItems": 2, "items": [
            {"type": "number", "minimum": -90, "maximum": 90},
            {"type": "number", "minimum": -180, "maximum": 180},
        ]}
    if kind == "checks":
        return {"type": "array", "minItems": 1, "uniqueItems": True,
                "items": {"enum": list(CAMERA_CHECKS)}}
    if kind == "scope":
        return {"type": "array", "minItems": 1, "uniqueItems": True,
                "items": {"type": _SCALAR, "minLength": 1, "pattern": r"\S"}}
    if kind == "names":
        return {"type": "array", "uniqueItems": True,
                "items": {"type": _SCALAR, "minLength": 1, "pattern": r"\S"}}
    if kind == "feeds":
        return {"type": "object", "additionalProperties": _url(key.schemes)}
    if kind == "paths":
        path = {"type": "string", "minLength": 1}
        return {"anyOf": [path, {"type": "array", "items": path}]}
    if kind == "date":
        return {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    if kind == "datetime":
        return {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
                                             r"(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"}
    if kind == "weekdays":
        days = "|".join(_nocase(d) for d in WEEKDAYS)
        return {"type": "array", "minItems": 1, "uniqueItems": True,
                "items": {"type": "string", "pattern": f"^({days})$"}}
    if kind == "between":
        hhmm = "([01][0-9]|2[0-3]):[0-5][0-9]"
        return {"type": "string", "pattern": f"^ *{hhmm} *- *({hhmm}|24:00) *$",
                "not": {"pattern": r"^ *([0-9]{2}:[0-9]{2}) *- *\1 *$"}}  # an empty range
    if kind == "timezone":
        return {"type": "string", "pattern": r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"}
    if kind == "dsn":
        return {"type": "string", "anyOf": [{"pattern": f"^{_schemes(('postgresql', 'postgres'))}://"},
                                            {"pattern": r"(^|\s)host\s*="}]}
    if kind == "mapping":
        assert key.section is not None
        return {"$ref": f"#/definitions/{_def_name(key.section)}"}
    if kind == "list":
        items = ({"$ref": f"#/definitions/{_def_name(key.section)}"} if key.section
                 else _link_target())
        out = {"type": "array", "items": items}
        if key.required:
            out["minItems"] = 1
        return out
    raise AssertionError(kind)


def _property(key: Key) -> dict[str, Any]:
    typed = _typed(key)
    choices = [typed]
    if key.type not in ("mapping", "list", "checks", "names", "feeds", "location", "paths",
                        "weekdays", "scope"):
        choices.append({"type": "string", "pattern": r"\$\{"})  # ${VAR}: the loader's call
    if not key.required:
        choices.append({"type": "null"})
    out: dict[str, Any] = {"description": key.meaning}
    default = _shown_default(key)
    if default is not None:
        out["default"] = default
    if len(choices) == 1:
        out.update(typed)
    else:
        out["anyOf"] = choices
    return out


def _shown_default(key: Key) -> Any:
    if key.default is None or key.section is not None:
        return None
    if key.type == "duration":
        return format_duration(key.default) if key.default else 0  # type: ignore[arg-type]
    return key.default


def _def_name(section: Section) -> str:
    return section.path.replace("[]", "").replace(".", "_") or "file"


def _object(section: Section) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "description": section.meaning,
        "properties": {key.name: _property(key) for key in section.keys},
        "additionalProperties": False,
    }
    required = [key.name for key in section.keys if key.required]
    if required:
        out["required"] = required
    if section.path == "cameras[]":
        out.update(_camera_rules())
    elif section.path == "maintenance[]":
        out["allOf"] = _window_rules()
    elif section.path == "history":
        out["not"] = {"required": ["path", "dsn"]}
    return out


def _window_rules() -> list[dict[str, Any]]:
    def some(*names: str) -> dict[str, Any]:
        return {"anyOf": [{"required": [n]} for n in names]}

    return [
        {"anyOf": [{"required": ["from", "to"]}, {"required": ["weekdays", "between"]}]},
        {"not": {"allOf": [some("from", "to"), some("weekdays", "between")]}},
        some(*SCOPES),
    ]


def _camera_rules() -> dict[str, Any]:
    needs = [
        {"if": {"required": ["checks"],
                "properties": {"checks": {"type": "array", "contains": {"const": check}}}},
         "then": {"anyOf": [{"required": [name]} for name in fields]}}
        for check, fields in CHECK_FIELDS.items()
    ]
    return {
        "dependencies": {"password": ["username"], "password_file": ["username"]},
        "allOf": [
            {"anyOf": [{"required": ["rtsp"]}, {"required": ["http"]}]},
            {"not": {"required": ["password", "password_file"]}},
            *needs,
        ],
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one configuration file (the main file or an included one)."""
    top = _object(TOP)
    top["type"] = ["object", "null"]  # an empty file is a valid one
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "cctv-monitor configuration",
        **top,
        "definitions": {_def_name(s): _object(s) for s in SECTIONS if s is not TOP},
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- markdown


def _md_default(key: Key) -> str:
    if key.required:
        return "required"
    if key.section is not None:
        return "see below" if key.type == "mapping" else "none"
    shown = _shown_default(key)
    if shown is None:
        return "unset"
    if shown == "":
        return '`""` (none)'
    return f"`{shown}`"


def _md_type(key: Key) -> str:
    if key.type == "url":
        return "URL (" + ", ".join(f"{s}://" for s in key.schemes) + ")"
    if key.type == "list" and key.section is None:
        return "list of URLs (" + ", ".join(f"{s}://" for s in key.schemes) + ")"
    kind = {"mapping": "mapping", "list": "list of mappings", "secret": "secret text",
            "name": "non-empty text", "checks": "list of checks", "names": "list of names",
            "scope": "list of names (not empty)",
            "paths": "glob or list of globs", "feeds": "mapping: integration -> URL",
            "datetime": "date and time with offset", "weekdays": "list of mon..sun",
            "between": "HH:MM-HH:MM", "timezone": "IANA time zone", "dsn": "PostgreSQL DSN"}
    out = kind.get(key.type, key.type)
    if key.type == "integer" and key.lo is not None:
        out += f" {int(key.lo)}.." + (f"{int(key.hi)}" if key.hi is not None else "")
    if key.type == "duration" and key.zero:
        out += " (0: off)"
    if key.max_len:
        out += f", at most {key.max_len} characters"
    return out


def markdown() -> str:
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m monitor.config.reference` from monitor/config/keys.py;",
        "     edit the key tables there, not this file (a test fails when they differ). -->",
        "",
        "The monitor reads one YAML file (`cctv-monitor run -c FILE`) and the files it "
        "includes.  `cctv-monitor check -c FILE` validates them and prints every error as "
        "`FILE:LINE:COL: key.path: message`.  Unknown keys are errors, so a typo never goes "
        "unnoticed.",
        "",
        "- **Durations** are Prometheus-style: "
        + TYPES["duration"].split(": ", 1)[1] + ".",
        "- **`${VAR}`** in any value is replaced by the environment variable `VAR`; "
        "`${VAR:-default}` gives a default when `VAR` is unset or empty.  Keep passwords "
        "out of the files: use `${VAR}` or `password_file:`.",
        "- **Label values** (camera ids up to 256 characters, names, districts, zones, "
        "uplinks, providers up to 1024) end up in metrics and pages.",
        "- **Editors**: the JSON Schema `config/cctv-monitor.schema.json` describes every "
        "file; a first line `# yaml-language-server: $schema=<path to it>` makes editors "
        "with a YAML language server validate and complete the file.  The schema cannot "
        "check rules across keys or files (listed under each section); `check` does.",
        "",
    ]
    for section in SECTIONS:
        title = f"`{section.path}`" if section.path else "A file's top level"
        out += [f"## {title}", "", section.meaning, "",
                "| Key | Type | Default | Meaning |", "|---|---|---|---|"]
        for key in section.keys:
            name = f"`{key.name}`"
            if key.section is not None:
                name = f"[`{key.name}`](#{_slug(key.section)})"
            out.append(f"| {name} | {_md_type(key)} | {_md_default(key)} | "
                       f"{key.meaning.replace('|', '/')} |")
        if section.rules:
            out += ["", "Rules:", ""] + [f"- {rule}" for rule in section.rules]
        out.append("")
    return "\n".join(out)


def _slug(section: Section) -> str:
    # GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
    text = section.path or "a files top level"
    return "".join(c for c in text.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def write(root: str) -> list[str]:
    """Writes both generated files under `root`; returns their paths."""
    written = []
    for rel, text in ((DOC_FILE, markdown()), (SCHEMA_FILE, schema_text())):
        path = os.path.join(root, rel)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(written_path)
