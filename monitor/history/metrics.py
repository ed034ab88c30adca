"""The ledger's self metrics, on the monitor's own registry (monitor.metrics.selfmetrics), from the
start of the run whenever a ledger is configured, reachable or not:

    cctv_monitor_ledger_writing                  1 while commits succeed, 0 while rows are held
    cctv_monitor_ledger_rows_written_total       rows committed
    cctv_monitor_ledger_write_failures_total     open and commit attempts that failed
    cctv_monitor_ledger_timeouts_total           of those, attempts the deadline cut (hung)
    cctv_monitor_ledger_rows_dropped_total       rows refused past the bound, or lost at a stop
    cctv_monitor_ledger_rows_pending             rows held: queued and not yet committed
    cctv_monitor_ledger_rows_replayed_total      rows of a stopped run's spool written at the open
    cctv_monitor_ledger_file_replaced            1 when the SQLite file was removed or replaced
    cctv_monitor_ledger_last_commit_timestamp_seconds
    cctv_monitor_clock_steps_total               wall-clock steps seen (recorded in the ledger)
    cctv_monitor_clock_offset_seconds            wall clock minus the ledger's clock
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
        self.down_gap = down_gap  # when given; else the ledger's own (known once it opens)
        registry.register(self)

    def describe(self) -> list:
        return list(self.collect())

    def collect(self) -> Iterator[Any]:
        led = self.ledger
        gap = self.down_gap or getattr(led, "down_gap", None)
        yield GaugeMetricFamily("cctv_monitor_ledger_writing",
                                "1 while the outage ledger commits, 0 while it holds rows "
                                "(database away, hung, file replaced).",
                                value=0 if led.problem or not led.opened else 1)
        yield CounterMetricFamily("cctv_monitor_ledger_rows_written", "Rows the outage ledger committed.",
                                  value=led.rows_written)
        yield CounterMetricFamily("cctv_monitor_ledger_write_failures",
                                  "Ledger open and commit attempts that failed (disk full, server "
                                  "gone, hung); the rows are held and retried.", value=led.failures_total)
        yield CounterMetricFamily("cctv_monitor_ledger_timeouts",
                                  "Ledger attempts cut by the deadline (a hung database or a held lock).",
                                  value=led.timeouts_total)
        yield CounterMetricFamily("cctv_monitor_ledger_rows_dropped",
                                  "Ledger rows refused past the bound of rows held, or lost at a stop "
                                  "without a spool.", value=led.rows_dropped)
        yield GaugeMetricFamily("cctv_monitor_ledger_rows_pending",
                                "Ledger rows held: queued and not yet committed.", value=led.pending())
        yield CounterMetricFamily("cctv_monitor_ledger_rows_replayed",
                                  "Rows of a stopped run's spool written when the ledger opened.",
                                  value=led.rows_replayed)
        yield GaugeMetricFamily("cctv_monitor_ledger_file_replaced",
                                "1 when the ledger's SQLite file was removed or replaced under the "
                                "monitor (rows are held).", value=1 if led.file_problem else 0)
        yield GaugeMetricFamily("cctv_monitor_ledger_last_commit_timestamp_seconds",
                                "When the ledger last committed (with the heartbeat, about every second).",
                                value=led.last_commit)
        yield CounterMetricFamily("cctv_monitor_clock_steps",
                                  "Steps of the wall clock seen while running (recorded in the ledger; "
                                  "durations keep the monotonic clock).", value=led.clock_steps)
        yield GaugeMetricFamily("cctv_monitor_clock_offset_seconds",
                                "The wall clock minus the ledger's clock (the wall clock at the start "
                                "plus monotonic time), after the last step.", value=led.clock_offset)
        yield GaugeMetricFamily("cctv_monitor_down_seconds",
                                "How long the monitor was not running before this start (recorded "
                                "as monitor_down in the ledger).",
                                value=(gap[1] - gap[0]) if gap else 0.0)
