"""Shared test helpers.

`require(tool)` skips a test whose third-party witness is missing on a developer's machine,
but fails it in CI (CI=true), where scripts/install-system-deps.sh must have installed it:
a green CI must never hide a missing install step.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(path_or_cmd: str) -> str:
    found = shutil.which(path_or_cmd) or (path_or_cmd if os.path.exists(path_or_cmd) else None)
    if found:
        return found
    message = f"{path_or_cmd} not installed (scripts/install-system-deps.sh installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def require_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI must run as root for network-namespace tests")
        pytest.skip("needs root (network namespaces)")
