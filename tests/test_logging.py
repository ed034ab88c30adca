"""--log-format text|logfmt|json: every state-change line (camera, feed, link) carries its
fields in the structured formats, the text format stays the sentence it always was, and no
format ever carries a password (message, field or traceback).  The last test runs the real
`cctv-monitor run --log-format json` process and parses what it prints."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from monitor import logsetup
from monitor.model import Reason
from monitor.state import State
from tests.factories import CANARY, fail, link, make_inventory, ok, run_daemon_briefly

ROOT = Path(__file__).resolve().parent.parent

_LOGFMT_PAIR = re.compile(r'(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """A logfmt reader as Loki's `| logfmt` reads a line: key=value, value maybe quoted."""
    out = {}
    pos = 0
    for m in _LOGFMT_PAIR.finditer(line):
        assert line[pos:m.start()].strip() == "", f"junk between pairs in {line!r}"
        pos = m.end()
        value = m.group(2)
        if value.startswith('"'):
            value = json.loads(value)  # logfmt quoting is JSON string quoting
        out[m.group(1)] = value
    assert line[pos:].strip() == "", line
    return out


PARSE = {"logfmt": parse_logfmt, "json": json.loads}


def _drive_state() -> None:
    """Every kind of state change, with a credential in a probe's message."""
    st = State(make_inventory(1), now=0.0)
    cid = "JKT-0000"
    for check in ("rtsp", "http", "snapshot"):
        st.record_result(cid, check, ok(), now=1.0)
    st.record_link("police-hq", "primary", link("up"), now=1.0)
    st.record_feed(cid, "police-hq", ok(), now=1.0)
    st.record_result(cid, "http", fail(Reason.AUTH_FAILED,
                                       f"401 from http://viewer:{CANARY}@127.0.0.1/picture"), now=2.0)
    st.record_result(cid, "http", ok(), now=14.0)
    st.record_feed(cid, "police-hq", fail(Reason.NOT_FOUND, "404 on DESCRIBE"), now=15.0)
    st.record_feed(cid, "police-hq", ok(), now=20.0)
    st.record_link("police-hq", "primary", link("degraded"), now=21.0)
    st.record_link("police-hq", "primary", link("down"), now=22.0)
    st.record_link("police-hq", "primary", link("up"), now=25.0)


def _capture(fmt: str) -> str:
    buf = io.StringIO()
    handler = logsetup.setup("info", stream=buf, fmt=fmt)
    try:
        _drive_state()
        log = logging.getLogger("cctv.test")
        log.info("probing %s", f"rtsp://admin:{CANARY}@10.0.0.1:554/x",
                 extra={"url": f"rtsp://admin:{CANARY}@10.0.0.1:554/x"})
        try:
            raise ValueError(f"http://u:{CANARY}@h/")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    return buf.getvalue()


CAMERA = {"camera": "JKT-0000", "provider": "provider-a", "district": "Gambir", "zone": "ring-1"}

#: (event, fields that line must carry) in the order the state changes happen
EXPECTED = [
    ("camera_down", {**CAMERA, "check": "http", "reason": "auth_failed"}),
    ("camera_recovered", {**CAMERA, "check": "http", "reason": "ok", "down_seconds": 12.0}),
    ("feed_down", {**CAMERA, "check": "feed", "reason": "not_found", "integration": "police-hq",
                   "cause": "feed_missing"}),
    ("feed_recovered", {**CAMERA, "check": "feed", "reason": "ok", "integration": "police-hq",
                        "down_seconds": 5.0}),
    ("link_degraded", {"check": "link", "centre": "police-hq", "link": "primary", "reason": "ok",
                       "loss_ratio": 0.2}),
    ("link_down", {"check": "link", "centre": "police-hq", "link": "primary", "reason": "timeout"}),
    ("link_recovered", {"check": "link", "centre": "police-hq", "link": "primary", "reason": "ok",
                        "was": "down", "down_seconds": 3.0}),
]


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_state_changes_carry_their_fields(fmt):
    text = _capture(fmt)
    assert CANARY not in text
    records = [PARSE[fmt](line) for line in text.splitlines()]
    state = [r for r in records if r["logger"] == "cctv.state"]
    assert [r["event"] for r in state] == [e for e, _ in EXPECTED]
    for record, (event, fields) in zip(state, EXPECTED):
        for key, want in fields.items():
            got = record.get(key)
            if isinstance(want, float) and fmt == "logfmt":
                got = float(got)
            assert got == want, (event, key, record)
        # RFC 3339, milliseconds, offset with a colon
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", record["ts"]), record
        assert record["level"] in {"info", "warning"}
    # the sentence stays the same as in the text format
    assert state[0]["msg"].startswith("camera JKT-0000 down: check http failed: auth_failed (401 from http://viewer:xxxxx@")
    assert state[1]["msg"] == "camera JKT-0000 recovered after 12s down"
    # redaction: message, an extra field and the traceback
    probing = next(r for r in records if r["msg"].startswith("probing"))
    assert probing["url"] == "rtsp://admin:xxxxx@10.0.0.1:554/x"
    assert probing["msg"] == "probing rtsp://admin:xxxxx@10.0.0.1:554/x"
    failed = next(r for r in records if r["msg"] == "failed")
    assert failed["level"] == "error"
    assert "ValueError: http://u:xxxxx@h/" in failed["exc_info"]


def test_text_format_is_unchanged_and_redacted():
    text = _capture("text")
    assert CANARY not in text
    lines = text.splitlines()
    state = [l for l in lines if " cctv.state: " in l]
    assert [l.split(" ", 1)[1] for l in state] == [
        "WARNING cctv.state: camera JKT-0000 down: check http failed: auth_failed "
        "(401 from http://viewer:xxxxx@127.0.0.1/picture)",
        "INFO cctv.state: camera JKT-0000 recovered after 12s down",
        "WARNING cctv.state: feed police-hq of camera JKT-0000 down (feed_missing): 404 on DESCRIBE",
        "INFO cctv.state: feed police-hq of camera JKT-0000 recovered after 5s down",
        "WARNING cctv.state: link police-hq/primary degraded: loss 20%, rtt 2ms",
        "WARNING cctv.state: link police-hq/primary down: timeout (no answer)",
        "INFO cctv.state: link police-hq/primary recovered after 3s down",
    ]
    # no field leaks into the sentence
    assert "event=" not in text and '"camera"' not in text
    assert "ValueError: http://u:xxxxx@h/" in text


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="text, logfmt, json"):
        logsetup.setup("info", stream=io.StringIO(), fmt="xml")


def test_cli_offers_the_same_formats():
    from monitor.commands.cli import LOG_FORMATS, build_parser

    assert LOG_FORMATS == logsetup.LOG_FORMATS
    for command in (["run", "-c", "x.yml"], ["demo"]):  # the daemons
        args = build_parser().parse_args([*command, "--log-format", "json"])
        assert args.log_format == "json"
    assert build_parser().parse_args(["run", "-c", "x.yml"]).log_format == "text"
    with pytest.raises(SystemExit):  # a one-shot command's output is for a terminal
        build_parser().parse_args(["check", "-c", "x.yml", "--log-format", "json"])


def test_run_with_json_logs_one_object_a_line(tmp_path):
    code, out, text = run_daemon_briefly(tmp_path, 2, "--log-format", "json")
    assert code == 0, text
    assert CANARY not in text and CANARY not in out
    records = [json.loads(line) for line in text.splitlines()]  # every line is one object
    downs = [r for r in records if r.get("event") == "camera_down"]
    assert {r["camera"] for r in downs} == {"JKT-0000", "JKT-0001"}, records
    for r in downs:
        assert r["level"] == "warning" and r["logger"] == "cctv.state"
        assert r["reason"] == "refused" and r["check"] in {"rtsp", "http"}
        assert r["provider"] and r["district"] and "zone" in r
    assert any(r["logger"] == "cctv.daemon" and r["msg"] == "stopping" for r in records)
