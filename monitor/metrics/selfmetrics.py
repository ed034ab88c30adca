"""The monitor's own health: self metrics on a private prometheus_client registry.

The scheduler, the daemon and the exporter write and read these; they live apart from the
per-camera exporter so that the scheduler does not depend on the /metrics renderer.
Families: ``cctv_monitor_probe_lag_seconds``, ``cctv_monitor_probes_in_flight``,
``cctv_monitor_probes_backlog``, ``cctv_monitor_probes_skipped_total``,
``cctv_monitor_config_last_reload_successful``,
``cctv_monitor_config_last_reload_success_timestamp_seconds``, ``cctv_monitor_cameras``,
``cctv_monitor_metrics_render_seconds``, ``cctv_monitor_build_info`` and the process_*
collector.  docs/metrics.md lists them with the ones other modules add to the registry.
"""

from __future__ import annotations

import asyncio
import platform
import re
import time
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily

from ..version import version

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_SAMPLE_NAME = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*")


def event_loop_name() -> str:
    """The implementation of the running event loop: "uvloop" or "asyncio" ("none" outside
    a loop, e.g. when the docs are generated)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "none"
    return "uvloop" if type(loop).__module__.partition(".")[0] == "uvloop" else "asyncio"


class BuildInfo:
    """``cctv_monitor_build_info{version,python,implementation,event_loop} 1``, as every
    Prometheus exporter has a ``*_build_info``: what runs, for joins (``* on(instance)
    group_left(version)``) and for spotting a fleet of shards on mixed versions.  A
    collector, so that the event loop is the one serving the scrape."""

    NAME = "cctv_monitor_build_info"
    LABELS = ("version", "python", "implementation", "event_loop")
    HELP = ("The monitor's version, Python version and implementation, and event loop "
            "(always 1).")

    def __init__(self, registry: CollectorRegistry) -> None:
        registry.register(self)

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=self.LABELS)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=self.LABELS)
        family.add_metric([version(), platform.python_version(),
                           platform.python_implementation(), event_loop_name()], 1)
        yield family


class SelfMetrics:
    """The monitor's own health, on a private registry rendered with generate_latest."""

    def __init__(self, shard: str | None = None) -> None:
        # With --shard K/N every self series carries shard="K/N", so that N replicas scraped
        # as one job stay apart (lag, in-flight, reload status are per process).
        self.shard = shard
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.probe_lag = Histogram(
            "cctv_monitor_probe_lag_seconds",
            "How late probes start against their schedule.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("cctv_monitor_probes_in_flight", "Probes running now.", registry=r)
        self.backlog = Gauge(
            "cctv_monitor_probes_backlog", "Due probes waiting for a concurrency slot.", registry=r
        )
        self.skipped = Counter(
            "cctv_monitor_probes_skipped",
            "Checks not started because the previous probe of the same check was still running.",
            registry=r,
        )
        self.reload_ok = Gauge(
            "cctv_monitor_config_last_reload_successful",
            "Whether the last configuration reload succeeded.",
            registry=r,
        )
        self.reload_ts = Gauge(
            "cctv_monitor_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=r,
        )
        self.cameras = Gauge("cctv_monitor_cameras", "Cameras in the inventory.", registry=r)
        self.stream_coverage = Gauge(
            "cctv_monitor_stream_coverage_ratio",
            "Share of the cameras with a stream check whose check started within the last "
            "stream interval.", registry=r)
        self.stream_lateness = Gauge(
            "cctv_monitor_stream_lateness_seconds",
            "How late the latest stream check started against its schedule.", registry=r)
        self.render_seconds = Gauge(
            "cctv_monitor_metrics_render_seconds",
            "CPU-side wall time of the previous /metrics render.",
            registry=r,
        )
        BuildInfo(r)
        self.reload_ok.set(1)
        self.reload_ts.set(time.time())

    def render(self) -> bytes:
        text = generate_latest(self.registry)
        if not self.shard:
            return text
        label = f'shard="{self.shard}"'.encode()
        out = []
        for line in text.splitlines(keepends=True):
            if line.startswith(b"#") or not line.strip():
                out.append(line)
                continue
            m = _SAMPLE_NAME.match(line)
            name, rest = line[:m.end()], line[m.end():]
            if rest.startswith(b"{"):
                out.append(name + b"{" + label + b"," + rest[1:])
            else:
                out.append(name + b"{" + label + b"}" + rest)
        return b"".join(out)

    def bind_gauges(self, in_flight: Callable[[], float], backlog: Callable[[], float]) -> None:
        """The scheduler owns these counts; read them at scrape time, not per probe."""
        self.in_flight.set_function(in_flight)
        self.backlog.set_function(backlog)
