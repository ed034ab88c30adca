"""The ledger's hash chain on SQLite and a real PostgreSQL: an HA pair and two shards in one
ledger, each with its own chain; `cctv-monitor ledger verify` passes an untouched ledger and
names the first row edited, inserted or deleted, and an event of the chain edited or deleted."""

from __future__ import annotations

import sqlite3

import pytest

from monitor import history
from monitor.commands.cli import main as cli_main
from monitor.history.verify import verify_target
from monitor.model import Reason, Result
from monitor.state import State
from tests.factories import make_inventory

OK = Result(Reason.OK)
DOWN = Result(Reason.TIMEOUT, message="no answer in 5s")


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return request.getfixturevalue("postgres_dsn")


def execute(target: str, statement: str, params: tuple = ()) -> list[tuple]:
    if target.startswith("postgresql://") or "host=" in target:
        import psycopg

        with psycopg.connect(target) as conn:
            cur = conn.execute(statement.replace("?", "%s"), params)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
    with sqlite3.connect(target) as conn:
        return conn.execute(statement, params).fetchall()


async def run(target: str, instance: str, clock: Clock, monkeypatch, flips) -> None:
    """One monitor run: open the ledger as `instance`, apply (camera, result, at), stop."""
    monkeypatch.setenv("CCTV_MONITOR_INSTANCE", instance)
    inv = make_inventory(3, feeds=False, checks=("rtsp",))
    state = State(inv, now=clock())
    rec = await history.start(state, history.HistoryTarget(target, None), clock=clock)
    for cid, result, at in flips:
        clock.t = at
        state.record_result(cid, "rtsp", result, now=at)
    assert rec.ledger.flush()
    rec.ledger.close()


async def fill(target: str, monkeypatch) -> None:
    """An HA pair (node-a, node-b) and two shards writing into one ledger; node-a restarts,
    so a monitor_down row is chained too; an outage stays open across the restart."""
    ups = [(f"JKT-{i:04d}", OK, 1001.0) for i in range(3)]
    for instance in ("node-a", "node-b", "node#shard-1-of-2", "node#shard-2-of-2"):
        await run(target, instance, Clock(1000.0), monkeypatch, ups + [
            ("JKT-0001", DOWN, 1100.0), ("JKT-0001", OK, 1160.0),
            ("JKT-0002", DOWN, 1200.0)])
    await run(target, "node-a", Clock(1300.0), monkeypatch, [
        ("JKT-0002", DOWN, 1301.0), ("JKT-0002", OK, 1400.0), ("JKT-0000", DOWN, 1500.0),
        ("JKT-0000", OK, 1560.0)])


async def test_untouched_ledger_verifies(target, monkeypatch, capsys):
    await fill(target, monkeypatch)
    verdict = verify_target(target)
    assert verdict.ok, [f.text for f in verdict.findings]
    assert set(verdict.heads) == {"node-a", "node-b", "node#shard-1-of-2", "node#shard-2-of-2"}
    # node-a: 3 opens/closes + first answers + inventory + its restart's monitor_down all chained
    assert execute(target, "SELECT COUNT(*) FROM monitor_down WHERE instance = 'node-a'") == [(1,)]
    assert execute(target, "SELECT end_ts FROM outages WHERE instance = 'node-a' AND subject = 'JKT-0002'") \
        == [(1400.0,)]  # closed in the second run: a legitimate close is a chained event
    assert cli_main(["ledger", "verify", "--ledger", target]) == 0
    out = capsys.readouterr().out
    assert "intact" in out and "chain node-b:" in out


@pytest.mark.parametrize("tamper, expect", [
    ("UPDATE outages SET end_ts = end_ts - 30 WHERE instance = 'node-b' AND subject = 'JKT-0001'",
     r"outages row id \d+ \(camera JKT-0001\) was edited: end_ts differ"),
    ("UPDATE outages SET reason = 'maintenance' WHERE instance = 'node-a' AND subject = 'JKT-0000'",
     r"outages row id \d+ \(camera JKT-0000\) was edited: reason differ"),
    ("DELETE FROM outages WHERE instance = 'node-b' AND subject = 'JKT-0001'",
     r"outages row \(camera JKT-0001, start 1100.0, instance node-b\) was deleted"),
    ("INSERT INTO outages (kind, subject, integration, provider, start_ts, end_ts, reason, cause, "
     "check_name, detail, instance) VALUES ('camera', 'JKT-0000', '', 'provider-a', 1050.0, 1090.0, "
     "'timeout', 'camera', 'rtsp', '', 'node-b')",
     r"outages row id \d+ \(camera JKT-0000, start 1050.0\) was inserted"),
    ("DELETE FROM monitor_down", r"monitor_down row \('node-a', 1\d+\.0, 1300.0\) was deleted"),
    ("UPDATE first_answer SET ts = 900 WHERE camera = 'JKT-0001'",
     r"first_answer row 'JKT-0001' was edited"),
    ("UPDATE ledger_chain SET body = REPLACE(body, '1160.0', '1130.0') WHERE instance = 'node-a' "
     "AND event = 'close'", r"chain node-a: event #\d+ \(close\) was edited"),
    ("DELETE FROM ledger_chain WHERE instance = 'node#shard-2-of-2' AND seq = 3",
     r"chain node#shard-2-of-2: event\(s\) #3..#3 deleted"),
])
async def test_verify_names_the_first_tampered_row(target, monkeypatch, capsys, tamper, expect):
    await fill(target, monkeypatch)
    execute(target, tamper)
    verdict = verify_target(target)
    assert not verdict.ok
    import re

    assert re.search(expect, verdict.findings[0].text), [f.text for f in verdict.findings]
    assert cli_main(["ledger", "verify", "--ledger", target]) == 1
    out = capsys.readouterr().out
    assert "FIRST PROBLEM" in out and re.search(expect, out)


def test_a_refused_batch_is_linked_again_with_the_same_seqs():
    """The head moves only once the transaction commits: a batch the database refused is
    linked again from the same head, so the chain has no hole and no fork."""
    from monitor.history.chain import Chain

    chain = Chain("node-a")
    rows = [("open", ("camera", "JKT-0000", "", "p", 1.0, "timeout", "camera", "rtsp", "", "node-a")),
            ("state", ("node-a", "camera", "JKT-0000", "", "down", 1.0, "timeout", "rtsp", "camera")),
            ("close", (2.0, "node-a", "camera", "JKT-0000", ""))]
    first = chain.link(rows, 3.0)
    assert [e[1] for e in first] == [1, 2] and [e[3] for e in first] == ["open", "close"]
    assert chain.link(rows, 3.0) == first  # not advanced: the commit failed
    chain.advance(first)
    assert [e[1] for e in chain.link(rows[2:], 4.0)] == [3]


def test_verify_usage_errors(capsys, tmp_path):
    assert cli_main(["ledger", "verify"]) == 2
    assert "give -c/--config or --ledger" in capsys.readouterr().err
    assert cli_main(["ledger", "verify", "--ledger", str(tmp_path / "empty.sqlite")]) == 2
    assert "no records yet" in capsys.readouterr().err


async def test_verify_finds_the_ledger_from_the_configuration(tmp_path, monkeypatch, capsys):
    db = tmp_path / "ledger.sqlite"
    await run(str(db), "node-a", Clock(1000.0), monkeypatch, [("JKT-0000", OK, 1001.0)])
    config = tmp_path / "cctv.yml"
    config.write_text("providers: [{name: p, target_cameras: 1}]\n"
                      "cameras: [{id: A, provider: p, rtsp: 'rtsp://127.0.0.1/a'}]\n"
                      "history: {path: ledger.sqlite}\n")
    assert cli_main(["ledger", "verify", "-c", str(config)]) == 0
    assert "chain node-a:" in capsys.readouterr().out
    (tmp_path / "bad.yml").write_text("cameras: 3\n")
    assert cli_main(["ledger", "verify", "-c", str(tmp_path / "bad.yml")]) == 2
    assert "bad.yml" in capsys.readouterr().err


def test_a_retention_prune_is_chained_and_explains_the_rows_it_removed(tmp_path):
    from monitor.history.writer import Ledger

    db = str(tmp_path / "ledger.sqlite")
    clock = Clock(10 * 86400.0)
    ledger = Ledger(db, "x", retention=86400.0, clock=clock)
    ledger.open()
    ledger.put("open", ("camera", "old", "", "p", 1.0, "timeout", "camera", "rtsp", "", "x"))
    ledger.put("close", (2.0, "x", "camera", "old", ""))
    ledger.put("open", ("camera", "new", "", "p", clock.t - 10, "timeout", "camera", "rtsp", "", "x"))
    ledger.put("close", (clock.t - 5, "x", "camera", "new", ""))
    assert ledger.flush()
    ledger._prune(clock.t)  # what the writer thread does hourly
    ledger.close()
    assert [r[0] for r in execute(db, "SELECT subject FROM outages")] == ["new"]
    assert verify_target(db).ok
    assert execute(db, "SELECT event FROM ledger_chain ORDER BY seq DESC LIMIT 1") == [("prune",)]
    execute(db, "DELETE FROM outages WHERE subject = 'new'")  # newer than the horizon: caught
    assert "was deleted" in verify_target(db).findings[0].text
