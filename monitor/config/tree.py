"""Reading the configuration files: YAML into node trees, ``include:`` globs, ``${VAR}``
expansion, and the typed-text primitives every section builds on.

Every value keeps its node (PyYAML's ``yaml.compose``), so every error names file, line and
column.  `Reader` is the base of the loader's section readers; it collects errors rather
than raising them.
"""

from __future__ import annotations

import difflib
import glob
import os
import re
import stat
from dataclasses import dataclass
from typing import Iterable, Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .durations import NUMBER_RE
from .errors import ConfigIssue
from .keys import MAX_LABEL, TOP


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PLAIN_TAG = "tag:cctv-monitor:plain"  # an unquoted scalar, typed by the field that reads it
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_NULL_TAG = "tag:yaml.org,2002:null"
_CORE_TAGS = frozenset(
    {PLAIN_TAG, _STR, _NULL_TAG, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
     "tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}
)
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
BOOL_WORDS = frozenset(
    {"yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
     "on", "On", "ON", "off", "Off", "OFF"}
)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, composing only: each field types its own text, so the implicit
    resolver (a regex per scalar) is skipped."""

    def resolve(self, kind, value, implicit):  # noqa: ANN001 - PyYAML's signature
        if kind is ScalarNode:
            return PLAIN_TAG if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP


def is_null(node: Node) -> bool:
    return node.__class__ is ScalarNode and (
        (node.tag == PLAIN_TAG and node.value in _NULL_WORDS) or node.tag == _NULL_TAG
    )


def simple_text(node: Node) -> str | None:
    """The text of a plain or quoted scalar that needs no expansion, else None (then the
    general, reporting path decides).  The hot path of 100,000 cameras."""
    if node.__class__ is ScalarNode:
        tag = node.tag
        value = node.value
        if (tag is _STR or (tag is PLAIN_TAG and value not in _NULL_WORDS)) and "${" not in value:
            return value
    return None


def kind_of(node: Node) -> str:
    if node.__class__ is MappingNode:
        return "a mapping"
    if node.__class__ is SequenceNode:
        return "a list"
    if is_null(node):
        return "an empty value"
    if node.tag == PLAIN_TAG:
        if node.value in BOOL_WORDS:
            return "true/false"
        if NUMBER_RE.fullmatch(node.value):
            return "a number"
    return "a string"


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_ENV_RE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = TOP.names
# The sections a file of the inventory is made of, named when a file is something else
# (the reference lists every key).
_TOP_SHOWN = ("cameras", "command_centres", "include", "integrations", "monitor", "providers")
assert _TOP_KEYS.issuperset(_TOP_SHOWN)


def join_key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def node_at(file: str, node: Node) -> str:
    return f"{file}:{node.start_mark.line + 1}"


@dataclass(slots=True)
class _Doc:
    """One file read: its name and its top-level sections (key node, value node)."""

    file: str
    sections: dict[str, tuple[Node, Node]]


class Reader:
    """The reading half of one `load` run: files, includes, errors, typed text."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.issues: list[ConfigIssue] = []
        self.files: list[str] = []
        self.docs: list[_Doc] = []
        self.includes: list[tuple[str, tuple[str, ...]]] = []
        self.secrets: set[str] = set()
        self.file = "-"  # the file being validated, for `err`
        self.hints: dict[tuple[str, int], tuple[str, object]] = {}
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
            self.err(node, path, f"expected a mapping, got {kind_of(node)}")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        merges = None
        for knode, vnode in node.value:
            if knode.__class__ is not ScalarNode:
                self.err(knode, path, "keys must be plain text")
                continue
            key = knode.value
            if key not in allowed:
                if key == "<<" and knode.tag in (PLAIN_TAG, "tag:yaml.org,2002:merge"):
                    merges = (merges or []) + [vnode]
                    continue
                self.err(knode, join_key(path, key), f"unknown key {key!r}{self.hint(key, allowed)}")
                continue
            first = out.get(key)
            if first is not None:
                self.err(knode, join_key(path, key),
                         f"duplicate key {key!r} (first at line {first[0].start_mark.line + 1})")
                continue
            out[key] = (knode, vnode)
        if merges:
            self.merging.add(id(node))
            for vnode in merges:
                sources = vnode.value if vnode.__class__ is SequenceNode else [vnode]
                for source in sources:
                    if id(source) in self.merging:  # `<<: *self`: an alias to itself
                        self.err(vnode, join_key(path, "<<"), "a mapping cannot merge itself")
                        continue
                    merged = self.fields(source, path, allowed)
                    for key, pair in (merged or {}).items():
                        out.setdefault(key, pair)
            self.merging.discard(id(node))
        return out

    def items(self, node: Node, path: str) -> list[Node]:
        if node.__class__ is SequenceNode:
            return node.value
        if is_null(node):
            return []
        self.err(node, path, f"expected a list, got {kind_of(node)}")
        return []

    def text(self, node: Node, path: str, what: str = "a string") -> str | None:
        if node.__class__ is not ScalarNode:
            self.err(node, path, f"expected {what}, got {kind_of(node)}")
            return None
        tag = node.tag
        if tag is not PLAIN_TAG and tag is not _STR and tag not in _CORE_TAGS:
            self.err(node, path, f"the YAML tag {tag} is not supported here"
                                 " (to read other files, use include:)")
            return None
        value = node.value
        if "${" in value:
            return self.expand(node, path, value)
        return value

    def required_text(self, node: Node, path: str) -> str | None:
        value = simple_text(node)
        if value and not value.isspace():
            return value
        if is_null(node):
            self.err(node, path, "must not be empty")
            return None
        value = self.text(node, path)
        if value is not None and not value.strip():
            self.err(node, path, "must not be empty")
            return None
        return value

    def too_long(self, node: Node, path: str, value: str, limit: int) -> bool:
        """Reports (without echoing it) a value longer than `limit` characters."""
        if len(value) <= limit:
            return False
        self.err(node, path, f"must be at most {limit} characters, got {len(value)}")
        return True

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

    # ------------------------------------------------------------------ files

    def single(self, section: str) -> tuple[str, Node] | None:
        """(file, value node) of a section set in one file only, reporting other files
        that set it too; None when no file sets it (or it is empty)."""
        first: tuple[str, Node] | None = None
        found: tuple[str, Node] | None = None
        for doc in self.docs:
            pair = doc.sections.get(section)
            if pair is None:
                continue
            if first is None:
                first = (doc.file, pair[0])
                found = (doc.file, pair[1])
            else:
                self.err(pair[0], section,
                         f"{section}: is already set in {node_at(*first)}; set it in one file only",
                         file=doc.file)
        if found is None or is_null(found[1]):
            return None
        self.file = found[0]
        return found

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
                if name is None or self.too_long(name_pair[1], f"{path}.name", name, MAX_LABEL):
                    continue
                if name in names:
                    self.err(name_pair[1], f"{path}.name",
                             f"duplicate {what} {name!r} (first at {node_at(*names[name])})")
                    continue
                names[name] = (doc.file, name_pair[1])
                yield node, path, f, name

    def read_tree(self, file: str, stack: tuple[str, ...], seen: dict[str, str]) -> None:
        """Reads `file` and, depth first, every file it includes."""
        self.files.append(file)
        try:
            with open(file, "rb") as fh:
                # A device never ends (/dev/zero) or is no configuration; a FIFO is read to
                # its end, as ``check -c <(generate-config)`` wants.
                mode = os.fstat(fh.fileno()).st_mode
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    self.err(None, "-", "not a regular file (a device)", file=file)
                    return
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
        if root is None or is_null(root):
            return
        self.file = file
        if root.__class__ is not MappingNode:
            self.err(root, "-", "expected a mapping with keys " + ", ".join(_TOP_SHOWN))
            return
        sections = self.fields(root, "", _TOP_KEYS) or {}
        self.docs.append(_Doc(file, sections))
        include = sections.get("include")
        if include is None:
            return
        knode, vnode = include
        patterns = [vnode] if vnode.__class__ is ScalarNode and not is_null(vnode) \
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
            # What each pattern matched, so a reload can tell a vanished file from a
            # smaller inventory.
            self.includes.append((os.path.normpath(os.path.join(base, pattern)),
                                  tuple(os.path.normpath(m) for m in matches)))
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
