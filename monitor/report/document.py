"""What makes the report a document that stands on its own, beside its figures:

- `zone_label`: the time zone written beside every time ("WIB (UTC+7)");
- `meets_sla`: the pass/fail verdict, decided on the figure as shown (a figure that reads
  equal to the SLA is never marked as failing);
- `DigestReader`: a Reader whose rows are hashed as the figures are computed from them,
  so the report carries a SHA-256 digest of exactly the ledger rows behind its figures;
- `config_digest`: a digest of the configuration as loaded (passwords are not part of it);
- `Facts`: the method's settings, the maintenance windows and link outages with their
  spans, camera names and districts, the document number, signatories and chain heads;
- the manifest (report.json) that `report --verify DIR` recomputes against the ledger.

The ledger digest is order-independent (the sum, modulo 2**256, of each row's SHA-256,
then SHA-256 over the count and that sum): PostgreSQL returns rows in no fixed order.
Each row is hashed as the report sees it at its as-of instant (clipped to the period and
to that instant), so a later heartbeat or an outage closed after the period does not
change the digest of a report whose figures it does not change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

#: Common abbreviations of the zones a report is usually written in; others use the zone's
#: own name for the date (CET, +07, ...).
ZONE_ABBREVIATIONS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
                      "Asia/Jayapura": "WIT", "UTC": "UTC", "Etc/UTC": "UTC"}
MANIFEST = "report.json"
_TIMES = struct.Struct("<dd").pack
#: The figure's shown precision: percent with three decimals.
SHOWN_DIGITS = 3


def zone_label(tz: Any, at: float) -> str:
    """ "WIB (UTC+7)", "WITA (UTC+8)", "CET (UTC+1)", "UTC+5:30" for the zone at `at`."""
    when = dt.datetime.fromtimestamp(at, tz)
    offset = when.utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    utc = f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
    if minutes == 0:
        utc = "UTC"
    name = ZONE_ABBREVIATIONS.get(str(getattr(tz, "key", ""))) or when.tzname() or ""
    if not name or name[0] in "+-" or name == utc:
        return utc
    return f"{name} ({utc})"


def meets_sla(availability: float | None, sla: float, digits: int = SHOWN_DIGITS) -> bool | None:
    """Whether a figure meets its SLA, judged on the figure as it is shown (percent rounded
    to `digits` decimals) against the SLA as it is set: 97.9996 % shows as 98.000 % and
    meets 98 %; None when there is nothing to judge."""
    if availability is None or not sla:
        return None
    return round(availability * 100, digits) >= round(sla * 100, digits)


def config_digest(inventory: Any) -> str:
    """SHA-256 of the configuration as loaded (every camera, window, provider and setting),
    without the paths of its files (a copy elsewhere digests the same) and without
    passwords (an Endpoint's repr never holds one, a DSN is not in its repr)."""
    h = hashlib.sha256()
    plain = dataclasses.replace(inventory, files=(), includes=(), cameras=())
    h.update(repr(plain).encode())
    for camera in inventory.cameras:
        h.update(repr(camera).encode())
    return h.hexdigest()


class DigestReader:
    """A Reader whose rows are hashed on their way to the figures (see the module doc)."""

    def __init__(self, reader: Any, start: float, end: float, as_of: float) -> None:
        self.reader = reader
        self.t0 = start
        self._t1 = end
        self.t_end = min(end, as_of)
        self.rows = 0
        self._sum = 0
        #: link rows met while compute read camera and feed rows: one scan serves both
        self.links: list[tuple] | None = None

    def __getattr__(self, name: str) -> Any:  # anything not hashed passes through
        return getattr(self.reader, name)

    def _add(self, row: tuple) -> None:
        self.rows += 1
        self._sum += int.from_bytes(hashlib.sha256(repr(row).encode()).digest(), "big")

    def _add_outage(self, texts: tuple[str, ...], start: float, end: float) -> None:
        """A row of texts and two times (a million outages): the texts joined and the
        times as IEEE doubles, not repr() (half the cost; the floats are exact either way)."""
        self.rows += 1
        data = "\x1f".join(texts).encode() + _TIMES(start, end)
        self._sum += int.from_bytes(hashlib.sha256(data).digest(), "big")

    @property
    def digest(self) -> str:
        total = self._sum % (1 << 256)
        return hashlib.sha256(f"cctv-ledger-rows/1:{self.rows}:{total:064x}".encode()).hexdigest()

    def outage_rows(self, start: float, end: float, kinds: tuple[str, ...] = ("camera", "feed", "link"),
                    *args: Any, **kwargs: Any) -> Iterator[tuple]:
        t0, t_end = self.t0, self.t_end
        sha, pack, join, from_bytes = hashlib.sha256, _TIMES, "\x1f".join, int.from_bytes
        divert = "link" not in kinds and self.links is None and (start, end) == (self.t0, self._t1)
        links: list[tuple] = []
        count = total = 0  # _add_outage inlined: a million rows
        try:
            for row in self.reader.outage_rows(start, end, kinds + ("link",) if divert else kinds,
                                               *args, **kwargs):
                s, e = row[4], row[5]
                s, e = (s if s > t0 else t0), (e if e < t_end else t_end)
                if s < e:  # as the report sees it at its as-of instant; `open` left out
                    count += 1
                    total += from_bytes(sha(join(row[:4] + row[6:11]).encode() + pack(s, e)).digest(), "big")
                if divert and row[0] == "link":
                    links.append(row)
                    continue
                yield row
        finally:
            self.rows += count
            self._sum += total
        if divert:
            self.links = links

    def monitor_down(self, start: float, end: float, now: float | None = None) -> dict[str, list]:
        got = self.reader.monitor_down(start, end, now)
        for inst, ivs in got.items():
            for s, e in ivs:
                s, e = max(s, self.t0), min(e, self.t_end)
                if s < e:
                    self._add(("monitor_down", inst, s, e))
        return got

    def inventory_changes(self, until: float) -> list[tuple]:
        got = self.reader.inventory_changes(until)
        add, t_end = self._add_outage, self.t_end
        for ts, camera, provider, action, inst in got:
            if ts < t_end:
                add(("inventory", camera, provider, action, inst), ts, 0.0)
        return got

    def first_answers(self) -> dict[str, float]:
        got = self.reader.first_answers()
        add, t_end = self._add_outage, self.t_end
        for camera, ts in got.items():
            if ts <= t_end:
                add(("first", camera), ts, 0.0)
        return got

    def disputes(self, start: float, end: float, provider: str | None = None,
                 as_of: float | None = None) -> list:
        """Disputes change the figures (accepted ones exclude seconds): each one, with its
        state at the as-of instant, is part of the digest."""
        got = self.reader.disputes(start, end, provider, as_of)
        for d in got:
            self._add(("dispute", d.id, d.outage, d.camera, d.provider, d.start, d.end, d.status,
                       d.decided_at))
        return got

    def heartbeats(self) -> dict[str, float]:
        got = self.reader.heartbeats()
        for inst, beat in got.items():
            self._add(("heartbeat", inst, min(beat, self.t_end)))
        return got


@dataclass
class LinkOutage:
    link: str  # centre/link
    start: float
    end: float
    reason: str
    state: str  # down | degraded


@dataclass
class Facts:
    """Everything the document shows beside the figures."""

    version: str = ""
    as_of: float = 0.0
    zone: str = ""
    config_digest: str = ""
    ledger_digest: str = ""
    ledger_rows: int = 0
    chain_heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    document_number: str = ""
    signatories: list[tuple[str, str]] = field(default_factory=list)
    provider: str | None = None
    interval: float = 0.0
    timeout: float = 0.0
    retries: int = 0
    own_intervals: int = 0  # cameras with an interval of their own
    stream_interval: float = 0.0  # the stream check's own round (monitor.stream.interval)
    checks: dict[str, int] = field(default_factory=dict)  # check -> cameras running it
    windows: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)
    link_outages: list[LinkOutage] = field(default_factory=list)
    cameras: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, district)


def gather(reader: DigestReader, inventory: Any, start: dt.datetime, end: dt.datetime,
           as_of: float, provider: str | None) -> Facts:
    """The facts of a report over [start, end) as of `as_of`; call after the figures, with
    the same DigestReader, so the link rows listed are in the digest too."""
    from ..version import version
    from .intervals import window_intervals

    t0, t1 = start.timestamp(), end.timestamp()
    t_end = min(t1, as_of)
    tz = start.tzinfo
    s = inventory.settings
    facts = Facts(version=version(), as_of=as_of, zone=zone_label(tz, t0),
                  config_digest=config_digest(inventory), provider=provider,
                  interval=float(s.interval), timeout=float(s.timeout), retries=int(s.retries),
                  stream_interval=float(s.stream.interval))
    for c in inventory.cameras:
        if provider and c.provider != provider:
            continue
        facts.cameras[c.id] = (c.name, c.district)
        facts.own_intervals += c.interval is not None
        for check in c.checks:
            facts.checks[check] = facts.checks.get(check, 0) + 1
    for w in inventory.maintenance:
        spans = [(a, min(b, t_end)) for a, b in window_intervals(w, t0, t1, tz) if a < t_end]
        if spans:
            facts.windows.append((w.name, spans))
    for row in reader.links if reader.links is not None else reader.outage_rows(t0, t1, ("link",)):
        _kind, subject, _i, _p, a, b, reason, cause = row[:8]
        a, b = max(a, t0), min(b, t_end)
        if a < b:
            facts.link_outages.append(LinkOutage(subject, a, b, reason, cause))
    facts.link_outages.sort(key=lambda o: (o.start, o.link))
    facts.ledger_digest, facts.ledger_rows = reader.digest, reader.rows
    heads = getattr(reader.reader, "chain_heads", None)
    facts.chain_heads = heads() if heads else {}
    report = inventory.report
    prefix = report.document_prefix
    facts.signatories = [(x.name, x.role) for x in report.signatories]
    period = start.strftime("%Y-%m") if _whole_month(start, end) else \
        f"{start.date().isoformat()}..{(end - dt.timedelta(seconds=1)).date().isoformat()}"
    parts = [prefix] if prefix else []
    facts.document_number = "/".join(parts + [period, provider or "ALL", facts.ledger_digest[:8].upper()])
    return facts


def _whole_month(start: dt.datetime, end: dt.datetime) -> bool:
    nxt = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start.day == 1 and start.hour == 0 and end == nxt


# ---------------------------------------------------------------------- report.json


def write_manifest(path: Path, facts: Facts, start: dt.datetime, end: dt.datetime, label: str,
                   lang: str) -> None:
    data = {
        "document_number": facts.document_number, "version": facts.version,
        "period": {"start": start.isoformat(), "end": end.isoformat(), "label": label,
                   "timezone": str(getattr(start.tzinfo, "key", start.tzinfo))},
        "provider": facts.provider, "as_of": facts.as_of, "lang": lang,
        "config_digest": facts.config_digest, "ledger_digest": facts.ledger_digest,
        "ledger_rows": facts.ledger_rows,
        "chain_heads": {k: list(v) for k, v in sorted(facts.chain_heads.items())},
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_manifest(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("period", "as_of", "ledger_digest", "config_digest"):
        if key not in data:
            raise ValueError(f"{path}: no {key!r}: not a report's {MANIFEST}")
    return data
