"""Configuration errors: one `ConfigIssue` per problem, all raised at once in `ConfigError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One configuration error; line and col are 1-based, of the offending YAML node."""

    file: str
    line: int
    col: int
    path: str  # key path within that file, e.g. "cameras[3].rtsp"; "-" when none applies
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"


def _issue_key(issue: ConfigIssue) -> tuple[str, int, int]:
    return (issue.file, issue.line, issue.col)


class ConfigError(Exception):
    """The configuration is invalid; `issues` holds every error found, sorted by place."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = sorted(issues, key=_issue_key)
        super().__init__("\n".join(str(i) for i in self.issues))

