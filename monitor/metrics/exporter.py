"""The /metrics exposition: per-camera series from pre-formatted lines, plus self metrics.

prometheus_client's generic renderer costs ~9 us per series, which is seconds per scrape at
50,000 cameras.  So the per-camera series are formatted on the write path instead: every
time State records a result, the exporter re-formats the handful of lines that result
changed and stores them under (family, key).  A scrape then only joins, per metric family,
the HELP/TYPE header and the stored lines of every camera (a memcpy-speed str.join), yields
to the event loop between families, and gzips in a thread when asked to.

The families are declared in monitor/metrics/families.py (one entry each: name, type, help,
labels, level, the Result.detail key read, the number format); this module runs them.  The
per-camera families of a level are compiled once, at import, into one formatter function
(see "compiled formatters" below).  Links, centres and providers have few series: they are
formatted at scrape time, the provider counts in one C-level pass over the cameras (map,
compress, Counter).
docs/metrics.md lists every family; the self metrics (monitor.metrics.selfmetrics) follow them.
"""

from __future__ import annotations

import ast
import asyncio
import operator
import time
from collections import Counter
from dataclasses import dataclass
from itertools import compress, islice, repeat
from types import SimpleNamespace

from isal import isal_zlib

from . import families as _families
from .families import (
    ALWAYS,
    CAMERA,
    CHECK,
    DETAIL,
    DROP,
    FAMILIES,
    FEED,
    LINK,
    ZERO_IF_FAILED,
    Family,
    escape,
    integrations_of,
)
from ..model import Reason
from ..state import CameraState, State
from .selfmetrics import SelfMetrics

__all__ = ["CONTENT_TYPE", "Exporter", "escape", "gzip_chunks"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_UP = operator.attrgetter("up")
_NO_FEED = SimpleNamespace(up=None)  # an integration without a feed endpoint


class Exporter:
    """Renders /metrics from State.  Exact lines, e.g. for camera JKT-0001 with an rtsp and
    a stream check, a feed to police-hq, and a command centre link::

        cctv_camera_info{camera="JKT-0001",name="Bundaran HI north",provider="provider-a",district="Menteng",zone="ring-1",lat="-6.195",lon="106.823",uplink="sw-menteng-1"} 1
        cctv_camera_integration_info{camera="JKT-0001",integration="police-hq"} 1
        cctv_camera_up{camera="JKT-0001"} 1
        cctv_camera_last_up_timestamp_seconds{camera="JKT-0001"} 1795836000.123
        cctv_camera_state_changes_total{camera="JKT-0001"} 0
        cctv_probe_success{camera="JKT-0001",check="rtsp"} 1
        cctv_probe_duration_seconds{camera="JKT-0001",check="rtsp"} 0.012345
        cctv_probe_reason{camera="JKT-0001",check="rtsp",reason="ok"} 1
        cctv_probes_total{camera="JKT-0001",check="rtsp"} 42
        cctv_probe_failures_total{camera="JKT-0001",check="rtsp",reason="timeout"} 2
        cctv_feed_up{camera="JKT-0001",integration="police-hq"} 1
        cctv_feed_state{camera="JKT-0001",integration="police-hq",cause="ok"} 1
        cctv_stream_frames_per_second{camera="JKT-0001"} 25
        cctv_stream_bytes_per_second{camera="JKT-0001"} 262144
        cctv_stream_keyframe_interval_seconds{camera="JKT-0001"} 2
        cctv_stream_info{camera="JKT-0001",codec="H264",width="1920",height="1080"} 1
        cctv_snapshot_luminance_ratio{camera="JKT-0001"} 0.42
        cctv_snapshot_unchanged_fetches{camera="JKT-0001"} 0
        cctv_link_up{centre="police-hq",link="primary"} 1
        cctv_link_state{centre="police-hq",link="primary",state="up"} 1
        cctv_link_rtt_seconds{centre="police-hq",link="primary"} 0.0021
        cctv_link_rtt_min_seconds{centre="police-hq",link="primary"} 0.0018
        cctv_link_rtt_max_seconds{centre="police-hq",link="primary"} 0.0025
        cctv_link_jitter_seconds{centre="police-hq",link="primary"} 0.0002
        cctv_link_loss_ratio{centre="police-hq",link="primary"} 0
        cctv_centre_up{centre="police-hq"} 1
        cctv_provider_target_cameras{provider="provider-a"} 1500
        cctv_provider_sla_ratio{provider="provider-a"} 0.98
        cctv_provider_cameras{provider="provider-a",zone="ring-1",state="up"} 1
        cctv_provider_feeds{provider="provider-a",zone="ring-1",integration="police-hq",state="up"} 1

    A series whose value is not known yet (cctv_camera_up before every check ran once,
    last_up before the camera was ever up) is absent rather than a made-up 0.
    """

    SLICE = 20000  # lines joined between two yields to the event loop

    def __init__(self, state: State, self_metrics: SelfMetrics | None = None,
                 gzip_level: int = 1) -> None:
        self.state = state
        self.self_metrics = self_metrics or SelfMetrics()
        self.gzip_level = gzip_level
        # per family of FAMILIES: its stored lines by key (None: formatted at scrape time)
        self._lines: list[dict | None] = [
            {} if f.level in (CAMERA, CHECK, DETAIL, FEED) else None for f in FAMILIES]
        self._checks_seen: set[str] = set()  # every check a camera had, for removals
        self._lab: dict[str, str] = {}  # camera id -> 'camera="<escaped id>"'
        self._render_lock = asyncio.Lock()
        self._provider_cache: tuple | None = None
        state.add_listener(self)
        self.inventory_changed([c.id for c in state.inventory.cameras], [], [])
        for cs in state.cameras.values():
            for check in cs.results:
                self.camera_check(cs, check)
            self.camera_feeds(cs)

    # ------------------------------------------------------------- write path

    def inventory_changed(self, added: list[str], removed: list[str], changed: list[str]) -> None:
        self._provider_cache = None
        cams = self.state.cameras
        lines = self._lines
        for cid in removed:
            self._lab.pop(cid, None)
            for i in _PER_CAMERA:
                lines[i].pop(cid, None)
            for i in _PER_CHECK:
                d = lines[i]
                for check in self._checks_seen:
                    d.pop((cid, check), None)
        changed_set = set(changed)
        checks_seen = self._checks_seen
        for cid in (*added, *changed):
            cs = cams.get(cid)
            if cs is None:
                continue
            lab = f'camera="{escape(cid)}"'
            self._lab[cid] = lab
            checks_seen.update(cs.checks)
            _write_inventory(cs, cid, lab, lines)
            if cid in changed_set:
                # checks the camera no longer has must lose their series
                gone = [c for c in self._checks_seen if c not in cs.checks]
                for i in _PER_CHECK:
                    d = lines[i]
                    for check in gone:
                        d.pop((cid, check), None)
                for i in _DETAIL:
                    if not any(c in cs.checks for c in FAMILIES[i].checks):
                        lines[i].pop(cid, None)
            _write_verdict(cs, cid, lab, lines)
            self.camera_feeds(cs)
        self.self_metrics.cameras.set(len(cams))

    def camera_check(self, cs: CameraState, check: str) -> None:
        cid = cs.camera.id
        lab = self._lab.get(cid)
        if lab is None:
            return
        (_WRITE_RESULT.get(check) or _write_result)(cs, check, cs.results[check], cid, lab, self._lines)

    def camera_feeds(self, cs: CameraState) -> None:
        cid = cs.camera.id
        lab = self._lab.get(cid)
        if lab is not None:
            _write_feed(cs, cid, lab, self._lines)

    # ------------------------------------------------------------- scrape path

    @staticmethod
    def _scrape_time(fam: Family, ctx: "_ScrapeContext") -> str:
        """A family of few series (links, centres, providers), formatted from State now."""
        if fam.level == LINK:
            lines = []
            for keylab, r in ctx.links:
                got = fam.get(r)
                if got is not None:
                    lines.append(fam.text(keylab, got))
            return "".join(lines)
        # centre and provider families give whole rows: every label is theirs
        name, fmt, labels = fam.name, _families.FORMATS[fam.fmt], fam.labels
        return "".join(f"{name}{{{_label_text(labels, row)}}} {fmt(row[-1])}\n" for row in fam.get(ctx))

    def _provider_rows(self) -> tuple:
        """What only changes with the inventory: the cameras' states and their (provider,
        zone) slots, the feed states and their (provider, zone, integration) slots, and the
        configured counts.  Rebuilt lazily after a reload (which is also when State makes
        new CameraState or FeedState objects)."""
        if self._provider_cache is not None:
            return self._provider_cache
        pz_index: dict[tuple[str, str], int] = {}
        feed_index: dict[tuple[str, str, str], int] = {}
        camera_states, camera_slots, feed_states, feed_slots = [], [], [], []
        for cs in self.state.cameras.values():
            cam = cs.camera
            camera_states.append(cs)
            camera_slots.append(pz_index.setdefault((cam.provider, cam.zone), len(pz_index)))
            for integration in integrations_of(cam):
                key = (cam.provider, cam.zone, integration)
                fi = feed_index.setdefault(key, len(feed_index))
                fs = cs.feeds.get(integration)
                # configured whatever its endpoint; without a feed endpoint never "up"
                feed_states.append(fs if fs is not None else _NO_FEED)
                feed_slots.append(fi)
        self._provider_cache = (camera_states, camera_slots, pz_index, Counter(camera_slots),
                                feed_states, feed_slots, feed_index, Counter(feed_slots))
        return self._provider_cache

    async def _scrape_context(self) -> "_ScrapeContext":
        state = self.state
        links = [(f'centre="{escape(centre)}",link="{escape(link)}"', ls.result)
                 for (centre, link), ls in state.links.items() if ls.result is not None]
        (camera_states, camera_slots, pz_index, pz_configured,
         feed_states, feed_slots, feed_index, feed_configured) = self._provider_rows()
        # Counted in C (map, compress, Counter) rather than a Python loop per camera: a
        # fifth of the render's CPU at 50,000 cameras before.  Up is True, False or None.
        ups = list(map(_UP, camera_states))
        up = Counter(compress(camera_slots, ups))
        down = Counter(compress(camera_slots, map(operator.is_, ups, repeat(False))))
        feed_up = Counter(compress(feed_slots, map(_UP, feed_states)))
        camera_rows = []
        for (p, z), i in pz_index.items():
            configured = pz_configured[i]
            for st, n in (("configured", configured), ("up", up[i]), ("down", down[i]),
                          ("unknown", configured - up[i] - down[i])):
                camera_rows.append((p, z, st, n))
        feed_rows = []
        for (p, z, integ), i in feed_index.items():
            feed_rows.append((p, z, integ, "configured", feed_configured[i]))
            feed_rows.append((p, z, integ, "up", feed_up[i]))
        return _ScrapeContext(state, links, camera_rows, feed_rows)

    async def render_chunks(self) -> list[bytes]:
        """The exposition as a list of byte chunks, built on the loop with a yield after
        every SLICE lines, so no single step holds the probe schedule for long."""
        t0 = time.perf_counter()
        chunks: list[bytes] = []
        step = self.SLICE
        ctx = None
        for fam, d in zip(FAMILIES, self._lines):
            chunks.append(fam.header)
            if d is None:
                if ctx is None:
                    ctx = await self._scrape_context()
                chunks.append(self._scrape_time(fam, ctx).encode())
                continue
            if not d:
                continue
            mark = len(chunks)
            try:
                # Straight from the live dict, a slice at a time: each line is touched once,
                # while it is in the CPU cache (a list of all values first, then slices of
                # it, cost a third more at 50,000 cameras).  A line replaced during a yield
                # comes out new or old, never torn: lines are whole bytes objects.  Stored
                # lines are never empty, so an empty slice is the end.
                values = iter(d.values())
                while chunk := b"".join(islice(values, step)):
                    chunks.append(chunk)
                    await asyncio.sleep(0)
            except RuntimeError:
                # a key came or went during a yield (a new camera, a reload): this family
                # again, from a snapshot
                del chunks[mark:]
                snapshot = list(d.values())
                for i in range(0, len(snapshot), step):
                    chunks.append(b"".join(snapshot[i:i + step]))
                    await asyncio.sleep(0)
        self.self_metrics.render_seconds.set(time.perf_counter() - t0)
        chunks.append(self.self_metrics.render())
        return chunks

    async def render_chunks_locked(self) -> list[bytes]:
        async with self._render_lock:  # two scrapers at once take turns, not double the stall
            return await self.render_chunks()

    async def render(self, gzip: bool = False) -> bytes:
        chunks = await self.render_chunks_locked()
        if gzip:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, gzip_chunks, chunks, self.gzip_level)
        return b"".join(chunks)


def gzip_chunks(chunks: list[bytes], level: int = 1) -> bytes:
    """gzip in a worker thread, with ISA-L's deflate (it releases the GIL).  Level 1 (of
    0-3): on the 122 MB exposition of 50,000 cameras of the default mix, 52 ms for 6.2 MB,
    where zlib's level 1 took 238 ms for 6.5 MB (tests/bench/bench_exporter.py)."""
    comp = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    out = [comp.compress(c) for c in chunks]
    out.append(comp.flush())
    return b"".join(out)


@dataclass(slots=True)
class _ScrapeContext:
    """What the scrape-time families read, gathered once per scrape."""

    state: State
    links: list  # (formatted centre/link labels, LinkResult)
    camera_rows: list  # (provider, zone, state, count)
    feed_rows: list  # (provider, zone, integration, state, count)


def _label_text(names: tuple[str, ...], values: tuple) -> str:
    return ",".join(f'{n}="{escape(str(v))}"' for n, v in zip(names, values))


# --------------------------------------------------------------- compiled formatters
#
# The per-camera families of a level are compiled into one function that formats all their
# lines for one key, with each family's value expression and number format inlined: the
# write path runs once per probe result, and a function call per family and result
# doubled its cost (tests/bench/bench_exporter.py --baseline).

_FMT_SRC = {"int": "{%s}", "flag": "{1 if %s else 0}", "fixed3": "{%s:.3f}",
            "fixed6": "{%s:.6f}", "num": "{_num(%s)}"}


def _line_src(fam: Family, lab: str, labels: str | list[str], value: str) -> str:
    """Source of an f-string formatting one series of `fam`: key labels from the variable
    `lab`, the extra label values from the variable `labels` (the value itself for an info
    family with one extra label, else a tuple indexed from 0) or from a list of
    expressions, the sample value from the expression `value` (info families: always 1)."""
    extra = fam.extra_labels
    single = fam.kind == "info" and len(extra) == 1
    parts = []
    for i, n in enumerate(extra):
        if isinstance(labels, list):
            item = labels[i]
        else:
            item = labels if single else f"{labels}[{i}]"
        parts.append(f',{n}="' + (f"{{{item}}}" if n in fam.trusted else f"{{_e({item})}}") + '"')
    sample = "1" if fam.kind == "info" else _FMT_SRC[fam.fmt] % value
    return "f'" + fam.name + "{{{" + lab + "}" + "".join(parts) + "}} " + sample + "\\n'"


def _family_src(slot: int, fam: Family, key: str, lab: str, ok: str) -> list[str]:
    put = f"L[{slot}][{key}] = "
    drop = f"L[{slot}].pop({key}, None)"
    src = [f"# {fam.name}", f"v = {fam.value}"]
    if fam.kind == "rows":
        fused = _fused_rows(fam, lab)
        if fused is not None:
            return [f"# {fam.name}", "t = ''", *fused, "if t:", f"    {put}t.encode()",
                    "else:", f"    {drop}"]
        row = _line_src(fam, lab, "a", "a[-1]")
        return src + ["if v:", "    t = ''", "    for a in v:", f"        t += {row}",
                      f"    {put}t.encode()", "else:", f"    {drop}"]
    if fam.absent == ALWAYS:
        return src + [f"{put}{_line_src(fam, lab, 'v', 'v')}.encode()"]
    src += ["if v is not None:", f"    {put}{_line_src(fam, lab, 'v', 'v')}.encode()"]
    if fam.absent == DROP:
        src += ["else:", f"    {drop}"]
    elif fam.absent == ZERO_IF_FAILED:
        src += [f"elif not {ok}:", f"    {put}{_line_src(fam, lab, 'v', '0')}.encode()"]
    return src


def _fused_rows(fam: Family, lab: str) -> list[str] | None:
    """A rows family written as ``[(label, ..., value) for x in xs if cond]`` as one loop
    that formats as it goes: no list of tuples first (a feed result cost 1.7x the
    hand-written formatter with it).  None for any other form of expression."""
    try:
        node = ast.parse(fam.value, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.ListComp) and len(node.generators) == 1
            and isinstance(node.elt, ast.Tuple) and not node.generators[0].is_async):
        return None
    gen = node.generators[0]
    parts = [ast.unparse(e) for e in node.elt.elts]
    if len(parts) != len(fam.extra_labels) + 1 or any("'" in p or '"' in p for p in parts):
        return None  # a quote would end the generated f-string
    row = _line_src(fam, lab, parts[:-1], f"({parts[-1]})")
    cond = " and ".join(f"({ast.unparse(c)})" for c in gen.ifs)
    body = [f"t += {row}"]
    if cond:
        body = [f"if {cond}:", *("    " + line for line in body)]
    return [f"for {ast.unparse(gen.target)} in {ast.unparse(gen.iter)}:",
            *("    " + line for line in body)]


def _compile(name: str, args: str, blocks: list[tuple[str | None, list[str]]],
             prologue: tuple[str, ...] = ()):
    body = list(prologue)
    for guard, lines in blocks:
        if guard:
            body.append(f"if {guard}:")
            body += ["    " + line for line in lines]
        else:
            body += lines
    src = f"def {name}({args}):\n" + "".join(f"    {line}\n" for line in body or ["pass"])
    namespace = dict(vars(_families), _num=_families.num, _e=escape, _OK=Reason.OK)
    exec(compile(src, f"<exporter {name}>", "exec"), namespace)  # noqa: S102 - the table's own code
    fn = namespace[name]
    fn.source = src  # for a reader in a debugger
    return fn


def _slots(pred) -> list[int]:
    return [i for i, f in enumerate(FAMILIES) if pred(f)]


_PER_CAMERA = _slots(lambda f: f.level in (CAMERA, DETAIL, FEED))
_PER_CHECK = _slots(lambda f: f.level == CHECK)
_DETAIL = _slots(lambda f: f.level == DETAIL)
_write_inventory = _compile("write_inventory", "cs, key, lab, L", [
    (None, _family_src(i, FAMILIES[i], "key", "lab", "True"))
    for i in _slots(lambda f: f.level == CAMERA and f.inventory)])
_write_feed = _compile("write_feed", "cs, key, lab, L", [
    (None, _family_src(i, FAMILIES[i], "key", "lab", "True"))
    for i in _slots(lambda f: f.level == FEED)])


_write_verdict = _compile("write_verdict", "cs, key, lab, L", [
    (None, _family_src(i, FAMILIES[i], "key", "lab", "True"))
    for i in _slots(lambda f: f.level == CAMERA and not f.inventory)])


def _detail_guard(fam: Family, check: str) -> str | None:
    # a fallback source (rtsp for the stream info) counts only while the camera has none of
    # the checks the family prefers
    preferred = fam.checks[:fam.checks.index(check)]
    return " and ".join(f"{c!r} not in cs.checks" for c in preferred) or None


def _result_writer(check: str | None):
    """One check result: its per-check lines, the camera's verdict lines (those that read
    only some checks, e.g. the camera clock, after those checks only) and, for a check that
    detail families read, theirs."""
    blocks = [("not ok" if FAMILIES[i].on_failure_only else None,
               _family_src(i, FAMILIES[i], "ckey", "clab", "ok")) for i in _PER_CHECK]
    blocks += [(None, _family_src(i, FAMILIES[i], "key", "lab", "True"))
               for i in _slots(lambda f: f.level == CAMERA and not f.inventory
                               and (not f.reads or check in f.reads))]
    if check is not None:
        blocks += [(_detail_guard(FAMILIES[i], check), _family_src(i, FAMILIES[i], "key", "lab", "ok"))
                   for i in _DETAIL if check in FAMILIES[i].checks]
    return _compile(f"write_{check or 'result'}", "cs, check, r, key, lab, L", blocks, (
        "ok = r.reason is _OK", "d = r.detail", "ckey = (key, check)",
        "clab = f'{lab},check=\"{check}\"'"))


_write_result = _result_writer(None)
_WRITE_RESULT = {check: _result_writer(check) for check in dict.fromkeys(
    (*(c for i in _DETAIL for c in FAMILIES[i].checks), *(c for f in FAMILIES for c in f.reads)))}
