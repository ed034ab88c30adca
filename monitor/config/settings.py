"""The ``monitor:`` section: intervals, timeouts, concurrency, stream, snapshot, links."""

from __future__ import annotations

from yaml.nodes import Node

from ..model import LinkSettings, MonitorSettings, SnapshotSettings, StreamSettings
from .durations import format_duration
from .keys import LINKS, MONITOR, SNAPSHOT, STREAM
from .tree import _at, _is_null
from .values import _Values



class _Settings(_Values):
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
        if "stream" in f and not _is_null(f["stream"][1]):
            s = self.fields(f["stream"][1], STREAM.path, STREAM.names) or {}
            stream = StreamSettings(**self.scalars(s, STREAM))
        snapshot = SnapshotSettings()
        if "snapshot" in f and not _is_null(f["snapshot"][1]):
            s = self.fields(f["snapshot"][1], SNAPSHOT.path, SNAPSHOT.names) or {}
            snapshot = SnapshotSettings(**self.scalars(s, SNAPSHOT))
        links = LinkSettings()
        if "links" in f and not _is_null(f["links"][1]):
            s = self.fields(f["links"][1], LINKS.path, LINKS.names) or {}
            before = len(self.issues)
            links = LinkSettings(**self.scalars(s, LINKS))
            if len(self.issues) == before and links.timeout >= links.interval:
                key = "timeout" if "timeout" in s else "interval"
                self.err(s[key][1] if key in s else f["links"][1], f"monitor.links.{key}",
                         f"timeout ({format_duration(links.timeout)}) must be shorter than "
                         f"interval ({format_duration(links.interval)})")
        return MonitorSettings(stream=stream, snapshot=snapshot, links=links, **v)
