"""The ``monitor:`` section: intervals, timeouts, concurrency, stream, snapshot, links."""

from __future__ import annotations

from yaml.nodes import Node

from ..model import LinkSettings, MonitorSettings, SnapshotSettings, StreamSettings
from .durations import format_duration
from .tree import _at, _is_null
from .values import _Values

_MONITOR_KEYS = frozenset(
    {"interval", "timeout", "concurrency", "retries", "stream", "snapshot", "links"}
)
_STREAM_KEYS = frozenset({"interval", "duration", "concurrency"})
_SNAPSHOT_KEYS = frozenset({"frozen_after", "black_below"})
_LINKS_KEYS = frozenset({"interval", "timeout", "probes", "loss_degraded", "rtt_degraded"})


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
