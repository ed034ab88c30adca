"""The ledger's rows, one type per writer statement (monitor/history/writer.py STATEMENTS),
fields named and ordered as the statement's placeholders (tested): the recorder builds them
by name, the writer hands them to executemany as the tuples they are."""

from __future__ import annotations

from typing import NamedTuple


class OutageOpen(NamedTuple):  # "open"
    kind: str
    subject: str
    integration: str
    provider: str
    start_ts: float
    reason: str
    cause: str
    check_name: str
    detail: str
    instance: str


class OutageClose(NamedTuple):  # "close"
    end_ts: float
    instance: str
    kind: str
    subject: str
    integration: str


class ClockStep(NamedTuple):  # "clock_step"
    instance: str
    ts: float  # on the ledger's steady clock
    wall_ts: float  # what the wall clock said then
    step: float  # seconds the wall clock jumped (negative: backwards)


class SubjectState(NamedTuple):  # "state"
    instance: str
    kind: str
    subject: str
    integration: str
    state: str
    since: float
    reason: str
    check_name: str
    cause: str


class SubjectKey(NamedTuple):  # "forget"
    instance: str
    kind: str
    subject: str
    integration: str


class FirstAnswer(NamedTuple):  # "first"
    camera: str
    provider: str
    ts: float


class InventoryChange(NamedTuple):  # "inventory"; also what the reader reads back
    ts: float
    camera: str
    provider: str
    action: str  # "added" | "removed"
    instance: str


class MonitorDown(NamedTuple):  # "monitor_down"
    instance: str
    start_ts: float
    end_ts: float


class CloseAll(NamedTuple):  # "close_all"
    end_ts: float
    instance: str
