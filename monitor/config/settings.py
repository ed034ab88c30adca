"""Sections set in one file only: ``monitor:`` (intervals, timeouts, concurrency, stream,
snapshot, links, reload) and ``history:`` (where the outage ledger lives)."""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

from yaml.nodes import Node, ScalarNode

from ..model import (
    HistorySettings,
    LinkSettings,
    MonitorSettings,
    OnvifSettings,
    ReloadSettings,
    ReportSettings,
    Signatory,
    SnapshotSettings,
    StreamSettings,
)
from .durations import format_duration
from .keys import HISTORY, LINKS, MONITOR, ONVIF, RELOAD, REPORT, SIGNATORY, SNAPSHOT, STREAM
from .tree import is_null, kind_of
from .values import Values


# libpq's key=value form: password=secret or password='se cret'
_DSN_PASSWORD = re.compile(r"(?:^|[\s?&])password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)")
_DSN_PAIRS = re.compile(r"\s*(?:\w+\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S+)\s*)+")
_DSN_HOST = re.compile(r"(?:^|\s)host\s*=")


class SettingsSection(Values):
    def settings(self) -> MonitorSettings:
        found = self.single("monitor")
        if found is None:
            return MonitorSettings()
        f = self.fields(found[1], "monitor", MONITOR.names)
        if f is None:
            return MonitorSettings()
        before = len(self.issues)
        v = self.scalars(f, MONITOR, ("interval", "timeout"))
        valid = len(self.issues) == before  # compare only values the file got right
        v.update(self.scalars(f, MONITOR, ("concurrency", "retries")))
        interval, timeout = v["interval"], v["timeout"]
        if valid and timeout > interval:
            node = f["timeout"][1] if "timeout" in f else f["interval"][1]
            self.err(node, "monitor.timeout" if "timeout" in f else "monitor.interval",
                     f"timeout ({format_duration(timeout)}) must not be longer than "
                     f"interval ({format_duration(interval)})")
        stream = StreamSettings()
        if "stream" in f and not is_null(f["stream"][1]):
            s = self.fields(f["stream"][1], STREAM.path, STREAM.names) or {}
            stream = StreamSettings(**self.scalars(s, STREAM))
        snapshot = SnapshotSettings()
        if "snapshot" in f and not is_null(f["snapshot"][1]):
            s = self.fields(f["snapshot"][1], SNAPSHOT.path, SNAPSHOT.names) or {}
            snapshot = SnapshotSettings(**self.scalars(s, SNAPSHOT))
        links = LinkSettings()
        if "links" in f and not is_null(f["links"][1]):
            s = self.fields(f["links"][1], LINKS.path, LINKS.names) or {}
            before = len(self.issues)
            links = LinkSettings(**self.scalars(s, LINKS))
            if len(self.issues) == before and links.timeout >= links.interval:
                key = "timeout" if "timeout" in s else "interval"
                self.err(s[key][1] if key in s else f["links"][1], f"monitor.links.{key}",
                         f"timeout ({format_duration(links.timeout)}) must be shorter than "
                         f"interval ({format_duration(links.interval)})")
        reload = ReloadSettings()
        if "reload" in f and not is_null(f["reload"][1]):
            s = self.fields(f["reload"][1], RELOAD.path, RELOAD.names) or {}
            reload = ReloadSettings(**self.scalars(s, RELOAD))
        onvif = OnvifSettings()
        if "onvif" in f and not is_null(f["onvif"][1]):
            s = self.fields(f["onvif"][1], ONVIF.path, ONVIF.names) or {}
            onvif = OnvifSettings(**self.scalars(s, ONVIF))
        return MonitorSettings(stream=stream, snapshot=snapshot, links=links, reload=reload,
                               onvif=onvif, **v)

    def history(self) -> HistorySettings:
        found = self.single("history")
        if found is None:
            return HistorySettings()
        f = self.fields(found[1], HISTORY.path, HISTORY.names)
        if f is None:
            return HistorySettings()
        retention = self.scalars(f, HISTORY, ("retention",))["retention"]
        path = dsn = None
        pair = f.get("path")
        if pair is not None and not is_null(pair[1]):
            path = self.required_text(pair[1], "history.path")
            if path is not None:
                path = os.path.normpath(os.path.join(os.path.dirname(found[0]), path))
        dpair = f.get("dsn")
        if dpair is not None and not is_null(dpair[1]):
            dsn = self.dsn(dpair[1], "history.dsn")
            if pair is not None and not is_null(pair[1]):
                self.err(dpair[0], "history.dsn", "use either path or dsn, not both")
                return HistorySettings(retention=retention)
        return HistorySettings(path=path, dsn=dsn, retention=retention)

    def report(self) -> ReportSettings:
        found = self.single("report")
        if found is None:
            return ReportSettings()
        f = self.fields(found[1], REPORT.path, REPORT.names)
        if f is None:
            return ReportSettings()
        prefix = self.scalars(f, REPORT, ("document_prefix",))["document_prefix"] or ""
        signatories: list[Signatory] = []
        pair = f.get("signatories")
        if pair is not None and not is_null(pair[1]):
            for index, node in enumerate(self.items(pair[1], "report.signatories")):
                path = f"report.signatories[{index}]"
                s = self.fields(node, path, SIGNATORY.names)
                if s is None:
                    continue
                missing = [k.name for k in SIGNATORY.keys if k.name not in s or is_null(s[k.name][1])]
                if missing:
                    self.err(node, path, f"missing required key {missing[0]!r}")
                    continue
                v = self.scalars(s, SIGNATORY, path=path)
                if v["name"] and v["role"]:
                    signatories.append(Signatory(v["name"], v["role"]))
        return ReportSettings(str(prefix), tuple(signatories))

    def dsn(self, node: Node, path: str) -> str | None:
        """A PostgreSQL DSN, its password remembered as a secret; never echoed."""
        if node.__class__ is not ScalarNode:
            self.err(node, path, f"expected a string, got {kind_of(node)}")
            return None
        value = self.text(node, path)
        if value is None:
            return None
        for match in _DSN_PASSWORD.finditer(value):
            secret = match.group(1).strip("'")
            self.secrets.update((secret, unquote(secret)))
        if value.startswith(("postgresql://", "postgres://")):
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - validates the port
            except ValueError as exc:
                self.err(node, path, f"invalid DSN: {exc}")
                return None
            if parts.password:
                self.secrets.update((parts.password, unquote(parts.password)))
            return value
        if _DSN_PAIRS.fullmatch(value) and _DSN_HOST.search(value):
            return value
        self.err(node, path, "expected postgresql://user@host/database or key=value pairs "
                             "with host=")
        return None
