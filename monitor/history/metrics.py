"""The ledger's self metrics, on the monitor's own registry (monitor.selfmetrics):

    cctv_monitor_ledger_rows_written_total       rows committed
    cctv_monitor_ledger_write_failures_total     commit attempts the database refused
    cctv_monitor_ledger_rows_dropped_total       rows given up after MAX_PENDING piled up
    cctv_monitor_ledger_rows_pending             rows queued, not yet committed
    cctv_monitor_ledger_last_commit_timestamp_seconds
    cctv_monitor_down_seconds                    the monitor's own downtime before this start

A full disk or a lost database is the monitor's trouble, never a camera's: it shows here and
in one log line.
"""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily


class LedgerCollector:
    def __init__(self, ledger: Any, down_gap: tuple[float, float] | None, registry: Any) -> None:
        self.ledger = ledger
        self.down_seconds = (down_gap[1] - down_gap[0]) if down_gap else 0.0
        registry.register(self)

    def describe(self) -> list:
        return list(self.collect())

    def collect(self) -> Iterator[Any]:
        led = self.ledger
        yield CounterMetricFamily("cctv_monitor_ledger_rows_written", "Rows the outage ledger committed.",
                                  value=led.rows_written)
        yield CounterMetricFamily("cctv_monitor_ledger_write_failures",
                                  "Ledger commits the database refused (disk full, server gone); "
                                  "the rows are kept and retried.", value=led.failures_total)
        yield CounterMetricFamily("cctv_monitor_ledger_rows_dropped",
                                  "Ledger rows given up after the database refused them too long.",
                                  value=led.rows_dropped)
        yield GaugeMetricFamily("cctv_monitor_ledger_rows_pending", "Ledger rows queued, not yet committed.",
                                value=led.pending())
        yield GaugeMetricFamily("cctv_monitor_ledger_last_commit_timestamp_seconds",
                                "When the ledger last committed (with the heartbeat, about every second).",
                                value=led.last_commit)
        yield GaugeMetricFamily("cctv_monitor_down_seconds",
                                "How long the monitor was not running before this start (recorded "
                                "as monitor_down in the ledger).", value=self.down_seconds)
