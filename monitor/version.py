"""The monitor's version, one place for `cctv-monitor --version` and the build-info metric.

A source checkout reads it from its own pyproject.toml (so a bumped version shows before a
reinstall); an installed package reads its distribution metadata.
"""

from __future__ import annotations

import platform
import sys
from functools import lru_cache
from pathlib import Path

DISTRIBUTION = "cctv-monitor"


@lru_cache(maxsize=1)
def version() -> str:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib

            project = tomllib.loads(pyproject.read_text()).get("project", {})
            if project.get("name") == DISTRIBUTION and project.get("version"):
                return str(project["version"])
        except (OSError, ValueError):
            pass
    try:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        return dist_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def version_text() -> str:
    """What `cctv-monitor --version` prints: the Prometheus tools' layout."""
    return (
        f"{DISTRIBUTION}, version {version()}\n"
        f"  python:   {platform.python_implementation()} {platform.python_version()}\n"
        f"  platform: {sys.platform}/{platform.machine()}"
    )
