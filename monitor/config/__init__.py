"""The configuration: YAML files in, one frozen `Inventory` out, or every error at once.

This package owns reading the configuration (the main file and its ``include:`` globs),
``${VAR}`` expansion, ``password_file`` reading, Prometheus-style durations, defaults, and
validation; `check_main` is the body of ``cctv-monitor check``.

Every error is a `ConfigIssue` naming file, line, column and key path, and all of them are
collected before `load` raises `ConfigError`: an operator fixing a 5,000-camera inventory
wants the whole list in one run, not one error per run.

Why hand-written validation instead of pydantic/msgspec/jsonschema: those validate plain
Python objects, after YAML has thrown the line and column of every value away, so their
errors can only say ``cameras.3.rtsp``, never ``providers/a.yml:88:11``.  We walk PyYAML's
node tree (``yaml.compose``), where every node keeps its mark, and check each value where
it stands.

Speed (100,000 cameras must load in seconds; measured ~4 s of CPU, 2.4 s of it libyaml
composing 2.1 million nodes): the C parser composes the tree; implicit tag resolution is
skipped (`_Loader.resolve`: PyYAML's regex resolver cost a third of the compose) because each
field converts its own text; the cyclic garbage collector is paused while the node tree is
alive (millions of container objects made it rescan the growing heap over and over: the
compose alone went from 12 s to 3 s), and the tree is dropped before it is resumed; common
URLs skip urlsplit/urlunsplit (`split_fast`) and common scalars the reporting helpers
(`simple_text`).  Before this, the same file took 13 s.

`Inventory.files` lists every file read, configuration and password files alike, so that a
reload can watch them all.

Secrets: passwords (in URLs, ``password:``, ``password_file`` contents) never appear in an
error: URLs are shown redacted, values of secret fields are never echoed, and as a last net
every message is scrubbed of every secret seen.  Endpoints hold URLs without passwords
(`monitor.model.split_credentials`).  A camera's ``username``/``password`` apply to its
``rtsp:`` and ``http:`` URLs that carry none, but not to its ``feeds:``: a feed URL points at
an integration's relay, a different server that must not be handed the camera's password.

``monitor.stream.interval: 0`` turns the stream check off everywhere: it is dropped from
every camera's checks, explicit or default, so that the switch needs no edit per camera.

Modules, split by what they read: `keys` (every key declared once: type, default,
bounds, meaning), `tree` (YAML, includes, ``${VAR}``, typed text), `durations`, `values`
(numbers, ratios, dates, durations, URLs, locations), `settings` (``monitor:``,
``history:``), `network` (providers and their milestones, command centres, integrations),
`cameras` (cameras, credentials, checks from `monitor.checks`, feeds), `secretfile`
(password files read safely), `schedule` (``timezone:``, ``maintenance:``), `loader`
(`load`, `check_main`); `reference` generates docs/configuration.md and the JSON Schema
from `keys`.
"""

from __future__ import annotations

from ..model import MonitorSettings
from .durations import format_duration, parse_duration
from .errors import ConfigError, ConfigIssue
from .loader import check_main, load, load_for_command
from .values import split_fast  # noqa: F401 - tests compare it with split_credentials

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "MonitorSettings",
    "check_main",
    "format_duration",
    "load",
    "load_for_command",
    "parse_duration",
]
