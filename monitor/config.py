"""The configuration: YAML files in, one frozen `Inventory` out, or every error at once.

This module owns reading the configuration (the main file and its ``include:`` globs),
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
URLs skip urlsplit/urlunsplit (`_split_fast`) and common scalars the reporting helpers
(`_simple_text`).  Before this, the same file took 13 s.

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
"""

from __future__ import annotations

import difflib
import gc
import glob
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Iterable, Mapping
from urllib.parse import unquote, urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .model import (
    CAMERA_CHECKS,
    Camera,
    CommandCentre,
    Credentials,
    Endpoint,
    Integration,
    Inventory,
    Link,
    LinkSettings,
    MonitorSettings,
    Provider,
    SnapshotSettings,
    StreamSettings,
    redact_url,
    split_credentials,
)

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "check_main",
    "format_duration",
    "load",
    "parse_duration",
]


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- durations

_DURATION_RE = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
    r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9][0-9_]*)?(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_UNITS_MS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)


def parse_duration(text: str | int | float) -> float:
    """A Prometheus duration (``500ms``, ``15s``, ``5m``, ``1h30m``, units y w d h m s ms,
    largest first, whole numbers) in seconds.  ``0`` is allowed (it means "off" where a
    setting allows off).  Raises ValueError with a message fit for an operator."""
    if isinstance(text, bool):
        raise ValueError("durations need a unit, e.g. 30s")
    if isinstance(text, (int, float)):
        if text == 0:
            return 0.0
        raise ValueError(f"durations need a unit, e.g. 30s, got {text!r}")
    s = text.strip()
    if s == "0":
        return 0.0
    match = _DURATION_RE.fullmatch(s) if s else None
    if match is None:
        if s and _NUMBER_RE.fullmatch(s):
            raise ValueError(f"durations need a unit, e.g. 30s, got {text!r}")
        raise ValueError(
            f"invalid duration {text!r}: use whole numbers with units, e.g. 500ms, 15s, 5m, 1h30m"
        )
    total_ms = 0
    for group, (_, size) in zip(match.groups(), _UNITS_MS):
        if group is not None:
            total_ms += int(group) * size
    return total_ms / 1000


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (the inverse of `parse_duration`, to the ms)."""
    ms = round(seconds * 1000)
    if ms < 0:
        raise ValueError("durations are not negative")
    if ms == 0:
        return "0s"
    out = []
    for unit, size in _UNITS_MS:
        count, ms = divmod(ms, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


# --------------------------------------------------------------------------- YAML

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN = "tag:cctv-monitor:plain"  # an unquoted scalar, typed by the field that reads it
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_NULL_TAG = "tag:yaml.org,2002:null"
_CORE_TAGS = frozenset(
    {_PLAIN, _STR, _NULL_TAG, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
     "tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
)
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOL_WORDS = frozenset(
    {"yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
     "on", "On", "ON", "off", "Off", "OFF"}
)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, composing only: each field types its own text, so the implicit
    resolver (a regex per scalar) is skipped."""

    def resolve(self, kind, value, implicit):  # noqa: ANN001 - PyYAML's signature
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP


def _is_null(node: Node) -> bool:
    return node.__class__ is ScalarNode and (
        (node.tag == _PLAIN and node.value in _NULL_WORDS) or node.tag == _NULL_TAG
    )


def _simple_text(node: Node) -> str | None:
    """The text of a plain or quoted scalar that needs no expansion, else None (then the
    general, reporting path decides).  The hot path of 100,000 cameras."""
    if node.__class__ is ScalarNode:
        tag = node.tag
        value = node.value
        if (tag is _STR or (tag is _PLAIN and value not in _NULL_WORDS)) and "${" not in value:
            return value
    return None


def _kind(node: Node) -> str:
    if node.__class__ is MappingNode:
        return "a mapping"
    if node.__class__ is SequenceNode:
        return "a list"
    if _is_null(node):
        return "an empty value"
    if node.tag == _PLAIN:
        if node.value in _BOOL_WORDS:
            return "true/false"
        if _NUMBER_RE.fullmatch(node.value):
            return "a number"
    return "a string"


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show_url(url: str) -> str:
    """The URL fit for an error message: `redact_url` when the URL parses cleanly, else a
    cruder cut that still never shows what sits between the user and the last '@'."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port, which redact_url would not catch
        if "@" in parts.netloc and "@" not in parts.path + parts.query + parts.fragment:
            return redact_url(url)
    except ValueError:
        pass
    head, _, tail = url.rpartition("@")
    scheme, sep, userinfo = head.rpartition("://")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":xxxxx"
    return f"{scheme}{sep}{userinfo}@{tail}"


def _url_secrets(url: str, password: str | None) -> list[str]:
    """Whatever may be a password in `url`: urlsplit's idea and the cruder one of
    `_show_url`, raw and percent-decoded, so that the scrubber knows them all."""
    head = url.rpartition("@")[0]
    userinfo = head.rpartition("://")[2]
    out = []
    if ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        out += (raw, unquote(raw))
    if password and password not in out:
        out += (password, unquote(password))
    return out


def _split_fast(value: str, creds: Credentials | None,
                schemes: tuple[str, ...]) -> tuple[Endpoint, tuple[str, ...]] | None:
    """`split_credentials` for the common shape ``scheme://[user[:pass]@]host[:port][/path]``
    with a valid scheme, lower-case host and canonical port, in a fraction of its time
    (urlsplit, urlunsplit and the host/port properties cost ~15 us a URL, seconds at 100k
    cameras).  Returns (endpoint, secrets), or None for anything else, which then takes the
    slow, general path.  tests/test_config.py checks it agrees with `split_credentials`."""
    scheme, sep, rest = value.partition("://")
    if (not sep or scheme not in schemes or "?" in rest or "#" in rest or "[" in rest
            or "]" in rest or "\\" in rest or not value.isascii() or not value.isprintable()
            or " " in value):
        return None
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    if not host or host != host.lower() or "%" in host:
        return None
    if colon and (not port.isdigit() or port[0] == "0" or int(port) > 65535):
        return None
    if not at:
        return Endpoint(value, creds), ()
    user, _, password = userinfo.partition(":")
    clean = f"{scheme}://{hostport}{slash}{path}"
    plain = unquote(password)
    return Endpoint(clean, Credentials(unquote(user), plain)), (password, plain)


_ENV_RE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = frozenset(
    {"monitor", "providers", "integrations", "command_centres", "cameras", "include"}
)
_MONITOR_KEYS = frozenset(
    {"interval", "timeout", "concurrency", "retries", "stream", "snapshot", "links"}
)
_STREAM_KEYS = frozenset({"interval", "duration", "concurrency"})
_SNAPSHOT_KEYS = frozenset({"frozen_after", "black_below"})
_LINKS_KEYS = frozenset({"interval", "timeout", "probes", "loss_degraded", "rtt_degraded"})
_PROVIDER_KEYS = frozenset({"name", "target_cameras", "sla"})
_INTEGRATION_KEYS = frozenset({"name", "centre"})
_CENTRE_KEYS = frozenset({"name", "links"})
_LINK_KEYS = frozenset({"name", "targets"})
_CAMERA_KEYS = frozenset(
    {"id", "name", "provider", "district", "zone", "location", "uplink", "rtsp", "http",
     "checks", "integrations", "feeds", "username", "password", "password_file", "interval"}
)
_CAMERA_TEXT_KEYS = ("name", "district", "zone", "uplink")
_CHECK_NEEDS = {"tcp": None, "rtsp": "rtsp", "stream": "rtsp", "http": "http", "snapshot": "http"}
_RTSP_SCHEMES = ("rtsp", "rtsps")
_HTTP_SCHEMES = ("http", "https")
_LINK_SCHEMES = ("tcp", "http", "https", "icmp")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _at(file: str, node: Node) -> str:
    return f"{file}:{node.start_mark.line + 1}"


@dataclass(slots=True)
class _Doc:
    """One file read: its name and its top-level sections (key node, value node)."""

    file: str
    sections: dict[str, tuple[Node, Node]]


class _Builder:
    """One run of `load`: reads the files, then validates section by section."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.issues: list[ConfigIssue] = []
        self.files: list[str] = []
        self.docs: list[_Doc] = []
        self.secrets: set[str] = set()
        self.file = "-"  # the file being validated, for `err`
        self.password_files: dict[str | tuple[str, str], str | OSError | UnicodeError] = {}
        self.hints: dict[tuple[str, int], tuple[str, object]] = {}
        self.centre_names: dict[str, tuple[str, Node]] = {}
        self.merging: set[int] = set()  # mappings whose merge keys are being resolved

    # ------------------------------------------------------------------ reporting

    def err(self, node: Node | None, path: str, message: str, file: str | None = None) -> None:
        if node is None:
            line = col = 1
        else:
            line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.issues.append(ConfigIssue(file or self.file, line, col, path or "-", message))

    def hint(self, word: str, choices: frozenset[str] | set[str] | dict) -> str:
        # Keyed by identity (hashing a set of 100 provider names per miss would cost more
        # than the lookup saves); the entry keeps `choices` alive so its id stays unique.
        key = (word, id(choices))
        found = self.hints.get(key)
        if found is None:
            found = self.hints[key] = (_hint(word, choices), choices)
        return found[0]

    def scrubbed(self) -> list[ConfigIssue]:
        # The last net: whatever path a secret took into a message, it leaves here.  Very
        # short "secrets" are skipped; they would shred every message and hide nothing.
        secrets = sorted((s for s in self.secrets if len(s) >= 4), key=len, reverse=True)
        if not secrets:
            return self.issues
        out = []
        for issue in self.issues:
            message = issue.message
            for secret in secrets:
                if secret in message:
                    message = message.replace(secret, "xxxxx")
            out.append(issue if message is issue.message else
                       ConfigIssue(issue.file, issue.line, issue.col, issue.path, message))
        return out

    # ------------------------------------------------------------------ typed values

    def fields(self, node: Node, path: str,
               allowed: frozenset[str]) -> dict[str, tuple[Node, Node]] | None:
        """A mapping's entries by key; unknown, duplicate and non-text keys are errors.
        YAML merge keys (``<<: *defaults``) are honoured, explicit keys winning."""
        if node.__class__ is not MappingNode:
            self.err(node, path, f"expected a mapping, got {_kind(node)}")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        merges = None
        for knode, vnode in node.value:
            if knode.__class__ is not ScalarNode:
                self.err(knode, path, "keys must be plain text")
                continue
            key = knode.value
            if key not in allowed:
                if key == "<<" and knode.tag in (_PLAIN, "tag:yaml.org,2002:merge"):
                    merges = (merges or []) + [vnode]
                    continue
                self.err(knode, _join(path, key), f"unknown key {key!r}{self.hint(key, allowed)}")
                continue
            first = out.get(key)
            if first is not None:
                self.err(knode, _join(path, key),
                         f"duplicate key {key!r} (first at line {first[0].start_mark.line + 1})")
                continue
            out[key] = (knode, vnode)
        if merges:
            self.merging.add(id(node))
            for vnode in merges:
                sources = vnode.value if vnode.__class__ is SequenceNode else [vnode]
                for source in sources:
                    if id(source) in self.merging:  # `<<: *self`: an alias to itself
                        self.err(vnode, _join(path, "<<"), "a mapping cannot merge itself")
                        continue
                    merged = self.fields(source, path, allowed)
                    for key, pair in (merged or {}).items():
                        out.setdefault(key, pair)
            self.merging.discard(id(node))
        return out

    def items(self, node: Node, path: str) -> list[Node]:
        if node.__class__ is SequenceNode:
            return node.value
        if _is_null(node):
            return []
        self.err(node, path, f"expected a list, got {_kind(node)}")
        return []

    def text(self, node: Node, path: str, what: str = "a string") -> str | None:
        if node.__class__ is not ScalarNode:
            self.err(node, path, f"expected {what}, got {_kind(node)}")
            return None
        tag = node.tag
        if tag is not _PLAIN and tag is not _STR and tag not in _CORE_TAGS:
            self.err(node, path, f"the YAML tag {tag} is not supported here"
                                 " (to read other files, use include:)")
            return None
        value = node.value
        if "${" in value:
            return self.expand(node, path, value)
        return value

    def required_text(self, node: Node, path: str) -> str | None:
        value = _simple_text(node)
        if value and not value.isspace():
            return value
        if _is_null(node):
            self.err(node, path, "must not be empty")
            return None
        value = self.text(node, path)
        if value is not None and not value.strip():
            self.err(node, path, "must not be empty")
            return None
        return value

    def expand(self, node: Node, path: str, value: str) -> str | None:
        failed = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal failed
            inner = match.group(1)
            name, sep, default = inner.partition(":-")
            if not _ENV_NAME_RE.fullmatch(name):
                self.err(node, path, f"invalid variable reference ${{{name}}}: "
                                     "use ${NAME} or ${NAME:-default}")
                failed = True
                return ""
            found = self.env.get(name)
            if sep and not found:  # like the shell: the default also replaces an empty value
                return default
            if found is None:
                self.err(node, path, f"environment variable {name} is not set "
                                     f"(use ${{{name}:-default}} to give a default)")
                failed = True
                return ""
            return found

        out = _ENV_RE.sub(substitute, value)
        return None if failed else out

    def integer(self, node: Node, path: str, lo: int, hi: int | None = None) -> int | None:
        value = self.text(node, path, "an integer")
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            self.err(node, path, f"expected an integer, got {value!r}")
            return None
        if number < lo or (hi is not None and number > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.err(node, path, f"must be {bound}, got {number}")
            return None
        return number

    def number(self, node: Node, path: str, what: str = "a number") -> float | None:
        value = self.text(node, path, what)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or value.strip().lower() in _BOOL_WORDS:
            self.err(node, path, f"expected {what}, got {value!r}")
            return None
        return number

    def duration(self, node: Node, path: str, allow_zero: bool = False) -> float | None:
        value = self.text(node, path, "a duration")
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.err(node, path, str(exc))
            return None
        if seconds == 0 and not allow_zero:
            self.err(node, path, "must be greater than 0")
            return None
        return seconds

    def url(self, node: Node, path: str, schemes: tuple[str, ...],
            creds: Credentials | None = None) -> Endpoint | None:
        value = self.required_text(node, path)
        if value is None:
            return None
        fast = _split_fast(value, creds, schemes)
        if fast is not None:
            if fast[1]:
                self.secrets.update(fast[1])
            return fast[0]
        try:
            parts = urlsplit(value)
            host = parts.hostname
            parts.port  # noqa: B018 - validates the port
        except ValueError as exc:
            if "@" in value:
                self.secrets.update(_url_secrets(value, None))
            self.err(node, path, f"invalid URL {_show_url(value)}: {exc}")
            return None
        userinfo = "@" in parts.netloc
        if "@" in value:
            self.secrets.update(_url_secrets(value, parts.password))
        scheme = parts.scheme.lower()
        if scheme not in schemes:
            want = " or ".join(f"{s}://" for s in schemes)
            self.err(node, path, f"{_show_url(value)}: the URL must start with {want}")
            return None
        if not host:
            self.err(node, path, f"{_show_url(value)}: the URL has no host")
            return None
        if not userinfo:  # what split_credentials returns for a URL without userinfo
            return Endpoint(value, creds)
        return split_credentials(value, creds)

    # ------------------------------------------------------------------ files

    def read_tree(self, file: str, stack: tuple[str, ...], seen: dict[str, str]) -> None:
        """Reads `file` and, depth first, every file it includes."""
        self.files.append(file)
        try:
            with open(file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            self.err(None, "-", f"cannot read the file: {exc.strerror or exc}", file=file)
            return
        try:
            root = yaml.compose(data, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = exc.problem or "invalid YAML"
            if exc.context:
                problem = f"{exc.context}, {problem}"
            self.issues.append(ConfigIssue(file, line, col, "-", f"invalid YAML: {problem}"))
            return
        except yaml.reader.ReaderError as exc:  # bad encoding, control characters
            pos = exc.position if isinstance(exc.position, int) else 0
            line = data.count(b"\n", 0, pos) + 1
            col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
            char = exc.character
            shown = f"#x{char:04x}" if isinstance(char, int) else f"#x{ord(char[:1] or ' '):04x}"
            self.issues.append(ConfigIssue(file, line, col, "-",
                                           f"invalid YAML: character {shown}: {exc.reason}"))
            return
        except yaml.YAMLError as exc:
            text = " ".join(str(exc).split())
            self.issues.append(ConfigIssue(file, 1, 1, "-", f"invalid YAML: {text}"))
            return
        if root is None or _is_null(root):
            return
        self.file = file
        if root.__class__ is not MappingNode:
            self.err(root, "-", "expected a mapping with keys " + ", ".join(sorted(_TOP_KEYS)))
            return
        sections = self.fields(root, "", _TOP_KEYS) or {}
        self.docs.append(_Doc(file, sections))
        include = sections.get("include")
        if include is None:
            return
        knode, vnode = include
        patterns = [vnode] if vnode.__class__ is ScalarNode and not _is_null(vnode) \
            else self.items(vnode, "include")
        base = os.path.dirname(file)
        real = os.path.realpath(file)
        for index, pnode in enumerate(patterns):
            self.file = file
            path = f"include[{index}]" if vnode.__class__ is SequenceNode else "include"
            pattern = self.required_text(pnode, path)
            if pattern is None:
                continue
            matches = sorted(glob.glob(os.path.join(base, pattern), recursive=True))
            matches = [m for m in matches if os.path.isfile(m)]
            if not matches:
                self.err(pnode, path, f"{pattern!r} matches no file")
                continue
            for match in matches:
                name = os.path.normpath(match)
                target = os.path.realpath(match)
                if target in stack or target == real:
                    chain = " -> ".join([*(seen[s] for s in stack), file, name])
                    self.err(pnode, path, f"include cycle: {chain}")
                    continue
                if target in seen:
                    self.err(pnode, path, f"{name} is already included (as {seen[target]})")
                    continue
                seen[target] = name
                self.read_tree(name, (*stack, real), seen)
                self.file = file

    # ------------------------------------------------------------------ sections

    def settings(self) -> MonitorSettings:
        first: tuple[str, Node] | None = None
        found: tuple[str, Node] | None = None
        for doc in self.docs:
            pair = doc.sections.get("monitor")
            if pair is None:
                continue
            if first is None:
                first = (doc.file, pair[0])
                found = (doc.file, pair[1])
            else:
                self.err(pair[0], "monitor",
                         f"monitor: is already set in {_at(*first)}; set it in one file only",
                         file=doc.file)
        if found is None or _is_null(found[1]):
            return MonitorSettings()
        self.file = found[0]
        f = self.fields(found[1], "monitor", _MONITOR_KEYS)
        if f is None:
            return MonitorSettings()
        d = MonitorSettings()
        before = len(self.issues)
        interval = self._opt(f, "interval", "monitor", self.duration, d.interval)
        timeout = self._opt(f, "timeout", "monitor", self.duration, d.timeout)
        valid = len(self.issues) == before  # compare only values the file got right
        concurrency = self._opt(f, "concurrency", "monitor", self.integer, d.concurrency, 1)
        retries = self._opt(f, "retries", "monitor", self.integer, d.retries, 0, 5)
        if valid and timeout > interval:
            node = f["timeout"][1] if "timeout" in f else f["interval"][1]
            self.err(node, "monitor.timeout" if "timeout" in f else "monitor.interval",
                     f"timeout ({format_duration(timeout)}) must not be longer than "
                     f"interval ({format_duration(interval)})")
        stream = StreamSettings()
        if "stream" in f and not _is_null(f["stream"][1]):
            s = self.fields(f["stream"][1], "monitor.stream", _STREAM_KEYS) or {}
            stream = StreamSettings(
                interval=self._opt(s, "interval", "monitor.stream", self.duration,
                                   stream.interval, True),
                duration=self._opt(s, "duration", "monitor.stream", self.duration, stream.duration),
                concurrency=self._opt(s, "concurrency", "monitor.stream", self.integer,
                                      stream.concurrency, 1),
            )
        snapshot = SnapshotSettings()
        if "snapshot" in f and not _is_null(f["snapshot"][1]):
            s = self.fields(f["snapshot"][1], "monitor.snapshot", _SNAPSHOT_KEYS) or {}
            snapshot = SnapshotSettings(
                frozen_after=self._opt(s, "frozen_after", "monitor.snapshot", self.integer,
                                       snapshot.frozen_after, 2),
                black_below=self._opt(s, "black_below", "monitor.snapshot", self.integer,
                                      snapshot.black_below, 0, 255),
            )
        links = LinkSettings()
        if "links" in f and not _is_null(f["links"][1]):
            s = self.fields(f["links"][1], "monitor.links", _LINKS_KEYS) or {}
            before = len(self.issues)
            links = LinkSettings(
                interval=self._opt(s, "interval", "monitor.links", self.duration, links.interval),
                timeout=self._opt(s, "timeout", "monitor.links", self.duration, links.timeout),
                probes=self._opt(s, "probes", "monitor.links", self.integer, links.probes, 1, 100),
                loss_degraded=self._opt(s, "loss_degraded", "monitor.links", self._ratio,
                                        links.loss_degraded),
                rtt_degraded=self._opt(s, "rtt_degraded", "monitor.links", self.duration,
                                       links.rtt_degraded),
            )
            if len(self.issues) == before and links.timeout >= links.interval:
                key = "timeout" if "timeout" in s else "interval"
                self.err(s[key][1] if key in s else f["links"][1], f"monitor.links.{key}",
                         f"timeout ({format_duration(links.timeout)}) must be shorter than "
                         f"interval ({format_duration(links.interval)})")
        return MonitorSettings(interval, timeout, concurrency, retries, stream, snapshot, links)

    def _opt(self, f, key, path, convert, default, *bounds):  # noqa: ANN001
        pair = f.get(key)
        if pair is None or _is_null(pair[1]):
            return default
        value = convert(pair[1], f"{path}.{key}", *bounds)
        return default if value is None else value

    def _ratio(self, node: Node, path: str) -> float | None:
        value = self.number(node, path)
        if value is not None and not 0 <= value <= 1:
            self.err(node, path, f"must be between 0 and 1, got {value:g}")
            return None
        return value

    def _named(self, section: str, allowed: frozenset[str], what: str,
               names: dict[str, tuple[str, Node]]):
        """Yields (node, path, fields, name) of each entry of a named list section,
        reporting missing and duplicate names."""
        for doc in self.docs:
            pair = doc.sections.get(section)
            if pair is None:
                continue
            self.file = doc.file
            for index, node in enumerate(self.items(pair[1], section)):
                self.file = doc.file
                path = f"{section}[{index}]"
                f = self.fields(node, path, allowed)
                if f is None:
                    continue
                name_pair = f.get("name")
                if name_pair is None:
                    self.err(node, path, "missing required key 'name'")
                    continue
                name = self.required_text(name_pair[1], f"{path}.name")
                if name is None:
                    continue
                if name in names:
                    self.err(name_pair[1], f"{path}.name",
                             f"duplicate {what} {name!r} (first at {_at(*names[name])})")
                    continue
                names[name] = (doc.file, name_pair[1])
                yield node, path, f, name

    def providers(self) -> tuple[Provider, ...]:
        out = []
        names: dict[str, tuple[str, Node]] = {}
        for _, path, f, name in self._named("providers", _PROVIDER_KEYS, "provider", names):
            target = self._opt(f, "target_cameras", path, self.integer, 0, 0)
            sla = 0.0
            if "sla" in f and not _is_null(f["sla"][1]):
                value = self.number(f["sla"][1], f"{path}.sla")
                if value is not None and not 0 < value <= 1:
                    self.err(f["sla"][1], f"{path}.sla",
                             f"must be greater than 0 and at most 1 (0.98 is 98%), got {value:g}")
                elif value is not None:
                    sla = value
            out.append(Provider(name, target, sla))
        return tuple(out)

    def command_centres(self) -> tuple[CommandCentre, ...]:
        out = []
        named = self._named("command_centres", _CENTRE_KEYS, "command centre", self.centre_names)
        for node, path, f, name in named:
            links = []
            pair = f.get("links")
            nodes = [] if pair is None else self.items(pair[1], f"{path}.links")
            if not nodes and (pair is None or pair[1].__class__ is SequenceNode
                              or _is_null(pair[1])):
                self.err(pair[1] if pair else node, f"{path}.links",
                         "a command centre needs at least one link")
            link_names: dict[str, int] = {}
            for index, lnode in enumerate(nodes):
                lpath = f"{path}.links[{index}]"
                lf = self.fields(lnode, lpath, _LINK_KEYS)
                if lf is None:
                    continue
                lname = None
                if "name" not in lf:
                    self.err(lnode, lpath, "missing required key 'name'")
                else:
                    lname = self.required_text(lf["name"][1], f"{lpath}.name")
                    if lname is not None and lname in link_names:
                        self.err(lf["name"][1], f"{lpath}.name",
                                 f"duplicate link {lname!r} (first at line {link_names[lname]})")
                        lname = None
                    elif lname is not None:
                        link_names[lname] = lf["name"][1].start_mark.line + 1
                targets = []
                tpair = lf.get("targets")
                tnodes = [] if tpair is None else self.items(tpair[1], f"{lpath}.targets")
                if not tnodes and (tpair is None or tpair[1].__class__ is SequenceNode
                                   or _is_null(tpair[1])):
                    self.err(tpair[1] if tpair else lnode, f"{lpath}.targets",
                             "a link needs at least one target")
                for tindex, tnode in enumerate(tnodes):
                    endpoint = self.link_target(tnode, f"{lpath}.targets[{tindex}]")
                    if endpoint is not None:
                        targets.append(endpoint)
                if lname is not None:
                    links.append(Link(lname, tuple(targets)))
            out.append(CommandCentre(name, tuple(links)))
        return tuple(out)

    def link_target(self, node: Node, path: str) -> Endpoint | None:
        endpoint = self.url(node, path, _LINK_SCHEMES)
        if endpoint is None:
            return None
        parts = urlsplit(endpoint.url)
        scheme = parts.scheme.lower()
        shown = _show_url(node.value)
        if scheme == "tcp":
            if parts.port is None:
                self.err(node, path,
                         f"{shown}: a tcp target needs a port, e.g. tcp://10.20.0.1:443")
                return None
            if parts.path not in ("", "/") or parts.query:
                self.err(node, path, f"{shown}: a tcp target is only tcp://host:port")
                return None
        elif scheme == "icmp":
            if (parts.port is not None or parts.path not in ("", "/") or parts.query
                    or endpoint.credentials is not None):
                self.err(node, path, f"{shown}: an icmp target is only icmp://host")
                return None
        return endpoint

    def integrations(self) -> tuple[Integration, ...]:
        out = []
        names: dict[str, tuple[str, Node]] = {}
        named = self._named("integrations", _INTEGRATION_KEYS, "integration", names)
        for _, path, f, name in named:
            if name in self.centre_names:
                self.err(f["name"][1], f"{path}.name",
                         f"{name!r} is already a command centre "
                         f"(at {_at(*self.centre_names[name])}); "
                         "every command centre is an integration of its own name")
                continue
            centre = None
            pair = f.get("centre")
            if pair is not None and not _is_null(pair[1]):
                centre = self.required_text(pair[1], f"{path}.centre")
                if centre is not None and centre not in self.centre_names:
                    self.err(pair[1], f"{path}.centre", f"unknown command centre {centre!r}"
                             f"{self.hint(centre, self.centre_names)}")
                    centre = None
            out.append(Integration(name, centre))
        out.extend(Integration(name, centre=name) for name in self.centre_names)
        return tuple(out)

    # ------------------------------------------------------------------ cameras

    def password_file(self, node: Node, path: str) -> str | None:
        name = self.required_text(node, path)
        if name is None:
            return None
        # Thousands of cameras name the same file: read it once, and skip even the path
        # arithmetic when the same file of the configuration names it again.
        content = self.password_files.get((self.file, name))
        if content is None:
            full = os.path.normpath(os.path.join(os.path.dirname(self.file), name))
            content = self.password_files.get(full)
        if content is None:
            try:
                with open(full, encoding="utf-8") as fh:
                    content = fh.read().rstrip("\r\n")
                self.files.append(full)
                if content:
                    self.secrets.add(content)
            except (OSError, UnicodeError) as exc:
                content = exc
            self.password_files[full] = content
        self.password_files[(self.file, name)] = content
        if isinstance(content, UnicodeError):
            self.err(node, path, f"password_file {name!r} is not UTF-8 text")
            return None
        if isinstance(content, OSError):
            self.err(node, path,
                     f"cannot read password_file {name!r}: {content.strerror or content}")
            return None
        if not content:
            self.err(node, path, f"password_file {name!r} is empty")
            return None
        return content

    def cameras(self, settings: MonitorSettings, providers: set[str],
                integrations: set[str]) -> tuple[Camera, ...]:
        out: list[Camera] = []
        ids: dict[str, tuple[str, Node]] = {}
        stream_on = settings.stream.interval > 0
        min_interval = settings.timeout
        for doc in self.docs:
            pair = doc.sections.get("cameras")
            if pair is None:
                continue
            self.file = doc.file
            for index, node in enumerate(self.items(pair[1], "cameras")):
                camera = self.camera(node, f"cameras[{index}]", ids, stream_on, min_interval,
                                     providers, integrations)
                if camera is not None:
                    out.append(camera)
        return tuple(out)

    def camera(self, node: Node, path: str, ids: dict, stream_on: bool, min_interval: float,
               providers: set[str], integrations: set[str]) -> Camera | None:
        f = self.fields(node, path, _CAMERA_KEYS)
        if f is None:
            return None
        before = len(self.issues)
        get = f.get
        null = _is_null

        cid = None
        pair = get("id")
        if pair is None:
            self.err(node, path, "missing required key 'id'")
        else:
            cid = self.required_text(pair[1], f"{path}.id")
            if cid is not None:
                first = ids.get(cid)
                if first is not None:
                    self.err(pair[1], f"{path}.id",
                             f"duplicate camera id {cid!r} (first at {_at(*first)})")
                else:
                    ids[cid] = (self.file, pair[1])

        values: dict[str, str] = {}
        for key in _CAMERA_TEXT_KEYS:
            pair = get(key)
            if pair is not None:
                value = _simple_text(pair[1])
                if value is None and not null(pair[1]):
                    value = self.text(pair[1], f"{path}.{key}")
                if value is not None:
                    values[key] = value

        provider = ""
        pair = get("provider")
        if pair is not None and not null(pair[1]):
            provider = self.required_text(pair[1], f"{path}.provider") or ""
            if provider and provider not in providers:
                hint = self.hint(provider, providers) if providers else \
                    " (no providers are declared)"
                self.err(pair[1], f"{path}.provider", f"unknown provider {provider!r}{hint}")

        location = None
        pair = get("location")
        if pair is not None and not null(pair[1]):
            location = self.location(pair[1], f"{path}.location")

        creds = self.credentials(f, path)

        rtsp = http = None
        has_rtsp = (pair := get("rtsp")) is not None and not null(pair[1])
        if has_rtsp:
            rtsp = self.url(pair[1], f"{path}.rtsp", _RTSP_SCHEMES, creds)
        has_http = (pair := get("http")) is not None and not null(pair[1])
        if has_http:
            http = self.url(pair[1], f"{path}.http", _HTTP_SCHEMES, creds)
        if not has_rtsp and not has_http:
            self.err(node, path, "a camera needs rtsp: or http: (or both)")

        pair = get("checks")
        if pair is None or null(pair[1]):
            checks = []
            if has_rtsp:
                checks.append("rtsp")
                if stream_on:
                    checks.append("stream")
            if has_http:
                checks += ("http", "snapshot")
        else:
            checks = self.checks(pair[1], f"{path}.checks", has_rtsp, has_http, stream_on)

        own: list[str] = []
        pair = get("integrations")
        if pair is not None:
            ipath = f"{path}.integrations"
            for index, inode in enumerate(self.items(pair[1], ipath)):
                name = self.required_text(inode, f"{ipath}[{index}]")
                if name is None:
                    continue
                if name not in integrations:
                    self.err(inode, f"{ipath}[{index}]",
                             f"unknown integration {name!r}{self.hint(name, integrations)}")
                elif name in own:
                    self.err(inode, f"{ipath}[{index}]", f"{name!r} is listed twice")
                else:
                    own.append(name)

        feeds: list[tuple[str, Endpoint]] = []
        pair = get("feeds")
        if pair is not None and not null(pair[1]):
            feeds = self.feeds(pair[1], f"{path}.feeds", integrations, own)

        interval = None
        pair = get("interval")
        if pair is not None and not null(pair[1]):
            interval = self.duration(pair[1], f"{path}.interval")
            if interval is not None and interval < min_interval:
                self.err(pair[1], f"{path}.interval",
                         f"interval ({format_duration(interval)}) must not be shorter than "
                         f"monitor.timeout ({format_duration(min_interval)})")

        if cid is None or len(self.issues) != before:
            return None
        return Camera(
            id=cid,
            name=values.get("name", ""),
            provider=provider,
            district=values.get("district", ""),
            zone=values.get("zone", ""),
            location=location,
            uplink=values.get("uplink", ""),
            rtsp=rtsp,
            http=http,
            checks=tuple(checks),
            integrations=tuple(own),
            feeds=tuple(feeds),
            interval=interval,
        )

    def credentials(self, f: dict, path: str) -> Credentials | None:
        username = password = None
        pair = f.get("username")
        if pair is not None and not _is_null(pair[1]):
            username = self.required_text(pair[1], f"{path}.username")
        ppair = f.get("password")
        if ppair is not None and not _is_null(ppair[1]):
            # Never echo a password: type errors here say only what kind of value it was.
            if ppair[1].__class__ is not ScalarNode:
                self.err(ppair[1], f"{path}.password", f"expected a string, got {_kind(ppair[1])}")
            else:
                password = self.text(ppair[1], f"{path}.password")
                if password:
                    self.secrets.add(password)
            if username is None and pair is None:
                self.err(ppair[0], f"{path}.password", "password needs username")
        fpair = f.get("password_file")
        if fpair is not None and not _is_null(fpair[1]):
            if ppair is not None:
                self.err(fpair[0], f"{path}.password_file",
                         "use either password or password_file, not both")
            else:
                password = self.password_file(fpair[1], f"{path}.password_file")
                if pair is None:
                    self.err(fpair[0], f"{path}.password_file", "password_file needs username")
        if username is None:
            return None
        return Credentials(username, password or "")

    def location(self, node: Node, path: str) -> tuple[float, float] | None:
        if node.__class__ is SequenceNode and len(node.value) == 2:
            first, second = node.value
            if first.tag is _PLAIN and second.tag is _PLAIN:
                try:
                    lat, lon = float(first.value), float(second.value)
                except ValueError:
                    pass
                else:
                    if -90 <= lat <= 90 and -180 <= lon <= 180:  # also False for NaN
                        return (lat, lon)
        if node.__class__ is not SequenceNode or len(node.value) != 2:
            got = f"{len(node.value)} values" if node.__class__ is SequenceNode else _kind(node)
            self.err(node, path, f"expected [latitude, longitude], got {got}")
            return None
        lat = self.number(node.value[0], f"{path}[0]", "a latitude")
        lon = self.number(node.value[1], f"{path}[1]", "a longitude")
        if lat is not None and not -90 <= lat <= 90:
            self.err(node.value[0], f"{path}[0]",
                     f"latitude must be between -90 and 90, got {lat:g}")
            return None
        if lon is not None and not -180 <= lon <= 180:
            self.err(node.value[1], f"{path}[1]",
                     f"longitude must be between -180 and 180, got {lon:g}")
            return None
        if lat is None or lon is None:
            return None
        return (lat, lon)

    def checks(self, node: Node, path: str, has_rtsp: bool, has_http: bool,
               stream_on: bool) -> list[str]:
        wanted: set[str] = set()
        nodes = self.items(node, path)
        if not nodes and node.__class__ is SequenceNode:
            self.err(node, path,
                     "no checks listed: list some, or leave checks out for the defaults")
        for index, cnode in enumerate(nodes):
            cpath = f"{path}[{index}]"
            check = self.required_text(cnode, cpath)
            if check is None:
                continue
            if check not in _CHECK_NEEDS:
                self.err(cnode, cpath, f"unknown check {check!r}{self.hint(check, _CHECK_SET)}; "
                                       f"checks are {', '.join(CAMERA_CHECKS)}")
                continue
            if check in wanted:
                self.err(cnode, cpath, f"{check!r} is listed twice")
                continue
            need = _CHECK_NEEDS[check]
            if need == "rtsp" and not has_rtsp or need == "http" and not has_http:
                self.err(cnode, cpath, f"check {check!r} needs {need}:")
                continue
            if need is None and not (has_rtsp or has_http):
                continue  # the camera already has its own "needs rtsp: or http:" error
            wanted.add(check)
        if not stream_on:
            wanted.discard("stream")
        return [c for c in CAMERA_CHECKS if c in wanted]

    def feeds(self, node: Node, path: str, integrations: set[str],
              own: list[str]) -> list[tuple[str, Endpoint]]:
        if node.__class__ is not MappingNode:
            self.err(node, path, f"expected a mapping of integration: rtsp URL, got {_kind(node)}")
            return []
        out: list[tuple[str, Endpoint]] = []
        seen: dict[str, int] = {}
        for knode, vnode in node.value:
            if knode.__class__ is not ScalarNode:
                self.err(knode, path, "keys must be plain text")
                continue
            name = knode.value
            fpath = _join(path, name)
            if name in seen:
                self.err(knode, fpath, f"duplicate key {name!r} (first at line {seen[name]})")
                continue
            seen[name] = knode.start_mark.line + 1
            if name not in integrations:
                self.err(knode, fpath,
                         f"unknown integration {name!r}{self.hint(name, integrations)}")
                continue
            if name not in own:
                self.err(knode, fpath, f"a feed to {name!r} needs {name!r} in this camera's "
                                       "integrations")
                continue
            endpoint = self.url(vnode, fpath, _RTSP_SCHEMES)
            if endpoint is not None:
                out.append((name, endpoint))
        return out


_CHECK_SET = frozenset(_CHECK_NEEDS)


# --------------------------------------------------------------------------- API


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
        providers = builder.providers()
        centres = builder.command_centres()
        integrations = builder.integrations()
        cameras = builder.cameras(
            settings,
            {p.name for p in providers},
            {i.name for i in integrations} | set(builder.centre_names),
        )
    finally:
        # Drop the node tree before the collector is back, or its first pass walks it all.
        builder.docs.clear()
        builder.centre_names.clear()
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
    )


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
