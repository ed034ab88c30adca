"""`load` (files in, one frozen `Inventory` out, or every error at once) and `check_main`."""

from __future__ import annotations

import gc
import os
import sys
from typing import Mapping

from yaml.nodes import Node

from ..model import Inventory
from .access import AccessSection
from .cameras import CamerasSection
from .errors import ConfigError
from .network import NetworkSection
from .schedule import ScheduleSection
from .settings import SettingsSection


class _Builder(CamerasSection, ScheduleSection, NetworkSection, SettingsSection,
               AccessSection):
    """One run of `load`: reads the files, then validates section by section."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        self.password_files = {}
        self.centre_names: dict[str, tuple[str, Node]] = {}
        self.camera_ids: dict[str, tuple[str, Node]] = {}  # every id seen, valid or not


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Inventory:
    """Reads and validates the configuration at `path` (and its includes).

    `env` is used for ``${VAR}`` expansion (default: ``os.environ``).  Raises `ConfigError`
    holding every error found.
    """
    builder = _Builder(os.environ if env is None else env)
    main = os.fspath(path)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # see the module docstring: millions of nodes, no cycles among them
    try:
        builder.read_tree(main, (), {os.path.realpath(main): main})
        settings = builder.settings()
        timezone = builder.timezone()
        history = builder.history()
        report = builder.report()
        providers = builder.providers()
        centres = builder.command_centres()
        integrations = builder.integrations()
        cameras = builder.cameras(
            settings,
            {p.name for p in providers},
            {i.name for i in integrations} | set(builder.centre_names),
        )
        maintenance = builder.maintenance({p.name for p in providers})
        access = builder.access({p.name for p in providers})
    finally:
        # Drop the node tree before the collector is back, or its first pass walks it all.
        builder.docs.clear()
        builder.centre_names.clear()
        builder.camera_ids.clear()
        if gc_was_enabled:
            gc.enable()
    if builder.issues:
        raise ConfigError(builder.scrubbed())
    return Inventory(
        settings=settings,
        providers=providers,
        integrations=integrations,
        command_centres=centres,
        cameras=cameras,
        files=tuple(builder.files),
        includes=tuple(builder.includes),
        timezone=timezone,
        history=history,
        maintenance=maintenance,
        access=access,
        report=report,
    )


def load_for_command(path: str) -> Inventory | None:
    """`load` for a command that needs a valid configuration (report, ledger verify): every
    error on stderr as `check` prints it, and None (the command exits 2)."""
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 - ConfigError lists every problem
        for line in getattr(exc, "issues", None) or [str(exc)]:
            print(str(line), file=sys.stderr)
        return None


def check_main(path: str) -> int:
    """``cctv-monitor check -c FILE``: every error on stdout as FILE:LINE:COL: path: message,
    a one-line summary on stderr; 0 when valid, 2 when not."""
    try:
        inventory = load(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue)
        count = len(exc.issues)
        print(f"{path}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return 2
    print(
        f"{path}: {len(inventory.cameras)} cameras, {len(inventory.providers)} providers, "
        f"{len(inventory.command_centres)} command centres: OK",
        file=sys.stderr,
    )
    return 0
