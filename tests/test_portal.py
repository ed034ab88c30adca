"""Roles and disputes (issue 21) through the real daemon: a web config of three users
(admin, pt-alpha, pt-bima) over the hand-computed October ledger of tests/report_fixture.py.

- every route for every role, against a table written here by hand (not read from
  monitor.web.access), and a provider asking for another provider's camera, outage, report or
  dispute by id gets 404;
- pt-alpha files a dispute in headless Chromium (driven over the DevTools protocol: the page
  itself has no script), the admin accepts it, and October's figures change by exactly the
  disputed 1,800 s (computed by hand below); a rejected dispute changes nothing but is
  listed; pt-bima can neither see nor dispute pt-alpha's outages;
- hostile input: a 100 KB text, markup in the text, a forged CSRF token, a replayed form, a
  dispute on an outage that does not exist or is another provider's: clear answers and
  nothing stored (the table is counted before and after).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from monitor.web.access import PATHS, ROUTES, Principal, decide
from tests.conftest import require
from tests.factories import free_port
from tests.report_fixture import CONFIG, t

ROOT = Path(__file__).resolve().parents[1]
#: The three users of issue 21; a viewer and a Prometheus user, so that every role is asked
#: through the daemon; and one with a valid password and no role.
PASSWORDS = {"admin": "city-admin-pw", "pt-alpha": "alpha-pw", "pt-bima": "bima-pw",
             "auditor": "auditor-pw", "prom": "prom-pw", "nobody": "nobody-pw"}

#: Who may use which route: written by hand from issue 21, not taken from monitor.web.access.
EXPECTED = {
    # route:               admin viewer prometheus provider none
    "healthy":            (1, 1, 1, 1, 1),
    "healthz":            (1, 1, 1, 1, 0),
    "ready":              (1, 1, 1, 1, 0),
    "ready_prom":         (1, 1, 1, 1, 0),
    "metrics":            (1, 0, 1, 0, 0),
    "reload":             (1, 0, 1, 0, 0),
    "index":              (1, 1, 0, 1, 0),
    "status":             (1, 1, 0, 1, 0),
    "api_cameras":        (1, 1, 0, 1, 0),
    "api_camera":         (1, 1, 0, 1, 0),
    "api_evidence":       (1, 1, 0, 1, 0),
    "reports":            (1, 1, 0, 1, 0),
    "report_custom":      (1, 1, 0, 1, 0),
    "report_file":        (1, 1, 0, 1, 0),
    "outages":            (1, 1, 0, 1, 0),
    "outage":             (1, 1, 0, 1, 0),
    "dispute_file":       (0, 0, 0, 1, 0),
    "disputes":           (1, 1, 0, 1, 0),
    "dispute":            (1, 1, 0, 1, 0),
    "dispute_decide":     (1, 0, 0, 0, 0),
    "decisions":          (1, 1, 0, 1, 0),
}
ROLE_ORDER = ("admin", "viewer", "prometheus", "provider", "")


def test_decide_every_route_every_role():
    assert set(EXPECTED) == set(ROUTES) == set(PATHS)
    for route, allowed in EXPECTED.items():
        for role, ok in zip(ROLE_ORDER, allowed):
            who = Principal("u", role, "pt-alpha" if role == "provider" else "")
            assert decide(who, route) == (0 if ok else 403), (route, role)
    assert decide(Principal("u", "admin"), "no-such-route") == 404


def test_every_served_route_is_decided(tmp_path):
    """The application's router and monitor.web.access name the same routes, with the same
    paths: a route added without an access entry fails here."""
    from monitor.web.portal import Portal
    from monitor.report.pages import LedgerPages
    from monitor.web.app import make_app
    from tests.factories import make_inventory

    from monitor.state import State

    state = State(make_inventory(2))
    app = make_app(state, None)  # type: ignore[arg-type]
    LedgerPages(state, None).install(app)
    Portal(state, None).install(app)
    served = {}
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        assert route.name, f"{route.method} {route.resource.canonical} has no name"
        served[route.name] = (route.method, route.resource.canonical)
    assert served == PATHS


# --------------------------------------------------------------------------- the daemon

ACCESS = """
access:
  admins: [admin]
  viewers: [auditor]
  prometheus: [prom]
  providers:
    - provider: pt-alpha
      users: [pt-alpha]
    - provider: pt-bima
      users: [pt-bima]
"""


def _ledger(path: Path) -> None:
    """The October ledger of tests/report_fixture.py (same rows, same hand-computed
    figures), written through the real Ledger."""
    from types import SimpleNamespace as NS

    from monitor.history.writer import Ledger
    from tests.report_fixture import outage

    clock = NS(now=t("2026-09-20T00:00:00"))
    ledger = Ledger(str(path), "node", clock=lambda: clock.now)
    ledger.open()
    for cam, prov in (("A1", "pt-alpha"), ("A2", "pt-alpha"), ("B1", "pt-bima")):
        ledger.put("inventory", (t("2026-09-20T00:00:00"), cam, prov, "added", "node"))
        ledger.put("first", (cam, prov, t("2026-09-20T00:01:00")))
    ledger.put("inventory", (t("2026-10-16T00:00:00"), "A3", "pt-alpha", "added", "node"))
    ledger.put("first", ("A3", "pt-alpha", t("2026-10-16T00:00:30")))
    outage(ledger, "A1", "pt-alpha", "2026-09-30T22:00:00", "2026-10-01T03:00:00")
    outage(ledger, "A2", "pt-alpha", "2026-10-10T10:00:00", "2026-10-10T14:00:00")
    outage(ledger, "B1", "pt-bima", "2026-10-20T08:00:00", "2026-10-20T09:30:00", cause="link")
    outage(ledger, "A1", "pt-alpha", "2026-10-24T23:00:00", "2026-10-25T01:00:00")
    outage(ledger, "A3", "pt-alpha", "2026-10-31T23:00:00", "2026-11-01T01:00:00")
    assert ledger.flush()
    ledger.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO monitor_down (instance, start_ts, end_ts) VALUES ('node', ?, ?)",
                     (t("2026-10-25T00:00:00"), t("2026-10-25T02:00:00")))
        conn.execute("UPDATE instances SET heartbeat = ?", (t("2026-11-02T00:00:00"),))
    for spool in path.parent.glob(".cctv-ledger-*.spool"):
        spool.unlink()


def _outage_id(path: Path, camera: str, start: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id FROM outages WHERE subject = ? AND start_ts = ?",
                            (camera, t(start))).fetchone()[0]


def _dispute_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM disputes").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


class Live:
    def __init__(self, tmp: Path) -> None:
        self.ledger = tmp / "ledger.sqlite"
        _ledger(self.ledger)
        self.config = tmp / "monitor.yml"
        self.config.write_text(CONFIG + f"\nhistory:\n  path: {self.ledger}\n" + ACCESS)
        web = tmp / "web.yml"
        web.write_text("basic_auth_users:\n" + "".join(
            f"  {u}: '{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}'\n"
            for u, p in PASSWORDS.items()))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CCTV_MONITOR_INSTANCE": "live"}
        self.log = open(tmp / "daemon.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(self.config), "--listen",
             f"127.0.0.1:{self.port}", "--web.config.file", str(web), "--log-level", "info"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.logs()
            try:
                if self.get("/-/healthy", "admin")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("the daemon did not come up: " + self.logs())

    def logs(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def request(self, method: str, path: str, user: str | None, data: dict | bytes | None = None,
                headers: dict | None = None) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        if user is not None:
            token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if isinstance(data, (dict, bytes)):
            req.add_header("Content-Type", "application/x-www-form-urlencoded")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=30) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    def get(self, path: str, user: str | None) -> tuple[int, str]:
        status, body, _h = self.request("GET", path, user)
        return status, body

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


@pytest.fixture()
def live(tmp_path):
    d = Live(tmp_path)
    try:
        yield d
    finally:
        d.stop()


def _token(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, page[:2000]
    return m.group(1)


def _providers_csv(live: Live, user: str) -> dict[str, dict[str, str]]:
    status, body = live.get("/reports/2026-10/providers.csv", user)
    assert status == 200, body
    return {r["provider"]: r for r in csv.DictReader(io.StringIO(body))}


def test_every_route_for_every_role_through_the_daemon(live):
    a2 = _outage_id(live.ledger, "A2", "2026-10-10T10:00:00")
    b1 = _outage_id(live.ledger, "B1", "2026-10-20T08:00:00")
    # one dispute of pt-alpha's to ask about
    status, page = live.get(f"/outages/{a2}", "pt-alpha")
    assert status == 200, page
    status, body, headers = live.request("POST", f"/outages/{a2}/disputes", "pt-alpha", {
        "csrf": _token(page), "reason": "power_cut", "text": "PLN", "start": "", "end": ""})
    assert status == 303, body
    dispute = int(re.search(r"/disputes/(\d+)", headers["Location"]).group(1))

    paths = {
        "healthy": "/-/healthy", "healthz": "/healthz", "ready": "/readyz", "ready_prom": "/-/ready",
        "metrics": "/metrics", "index": "/", "status": "/status", "api_cameras": "/api/cameras",
        "api_camera": "/api/cameras/A1", "api_evidence": "/api/cameras/A1/evidence.jpg",
        "reports": "/reports",
        "report_file": "/reports/2026-10/providers.csv",
        "report_custom": "/reports/custom?from=2026-10-01&to=2026-10-02&file=providers.csv",
        "outages": "/outages?month=2026-10",
        "outage": f"/outages/{a2}", "disputes": "/disputes", "dispute": f"/disputes/{dispute}",
        "decisions": "/disputes/decisions",
    }
    # admin: the city; pt-alpha and pt-bima: providers.  Allowed GETs answer 200 (/ redirects).
    for user, role in (("admin", "admin"), ("auditor", "viewer"), ("prom", "prometheus"),
                       ("pt-alpha", "provider"), ("pt-bima", "provider"), ("nobody", "")):
        for route, path in paths.items():
            allowed = EXPECTED[route][ROLE_ORDER.index(role)]
            status, body = live.get(path, user)
            if not allowed:
                assert status == 403, (user, route, status)
            elif route == "api_evidence":
                # allowed, and no camera of the fixture is down for a picture verdict: 404
                # (another provider's camera is answered the same way)
                assert status == 404 and "no evidence picture" in body, (user, status)
            elif user == "pt-bima" and route in ("api_camera", "outage", "dispute"):
                assert status == 404, (user, route, status, body[:300])  # pt-alpha's object
            else:
                # readiness may still be 503 (first round of probes): allowed, not refused
                ok = (200, 302, 303, 503) if route in ("ready", "ready_prom") else (200, 302, 303)
                assert status in ok, (user, route, status, body[:300])
    # POSTs: a wrong role is refused before the form is read
    assert live.request("POST", "/-/reload", "pt-alpha")[0] == 403
    assert live.request("POST", "/-/reload", "nobody")[0] == 403
    assert live.request("POST", "/-/reload", "auditor")[0] == 403
    # the Prometheus user reloads (an empty body, as curl -X POST sends)
    assert live.request("POST", "/-/reload", "prom")[0] == 200
    assert live.request("POST", f"/disputes/{dispute}/decision", "auditor", {"csrf": "x"})[0] == 403
    assert live.request("POST", f"/outages/{a2}/disputes", "nobody", {"csrf": "x"})[0] == 403
    assert live.request("POST", f"/outages/{a2}/disputes", "admin", {"csrf": "x"})[0] == 403
    assert live.request("POST", f"/disputes/{dispute}/decision", "pt-alpha", {"csrf": "x"})[0] == 403
    # no credentials: 401 everywhere, /-/healthy included (the web config covers every path)
    assert live.get("/-/healthy", None)[0] == 401

    # what a provider sees: its own cameras only, no other provider's name anywhere
    status, body = live.get("/api/cameras", "pt-bima")
    assert {c["id"] for c in json.loads(body)} == {"B1"}
    assert live.get("/api/cameras?provider=pt-alpha", "pt-bima")[1] == "[]"
    status, page = live.get("/status", "pt-bima")
    assert status == 200 and "pt-alpha" not in page and "A1" not in page
    for path in ("/disputes", "/disputes/decisions", "/outages?month=2026-10",
                 "/reports/2026-10/providers.csv", "/reports/2026-10/outages.csv",
                 "/reports/2026-10/report.html"):
        status, body = live.get(path, "pt-bima")
        assert status == 200 and "pt-alpha" not in body, (path, body[:500])
    assert live.get("/reports/2026-10/providers.csv?provider=pt-alpha", "pt-bima")[0] == 404
    assert live.get("/reports/2026-10/providers.csv?provider=pt-bima", "pt-bima")[0] == 200
    # pt-bima cannot dispute pt-alpha's outage (404, as for one that does not exist)
    rows = _dispute_rows(live.ledger)
    status, page = live.get(f"/outages/{b1}", "pt-bima")
    assert status == 200
    status, body, _h = live.request("POST", f"/outages/{a2}/disputes", "pt-bima", {
        "csrf": _token(page), "reason": "power_cut", "text": "x"})
    assert status == 404 and "nothing stored" in body
    assert _dispute_rows(live.ledger) == rows
    # the admin sees both providers
    status, body = live.get("/api/cameras", "admin")
    assert {c["id"] for c in json.loads(body)} == {"A1", "A2", "A3", "B1"}


def test_hostile_input_stores_nothing(live):
    a2 = _outage_id(live.ledger, "A2", "2026-10-10T10:00:00")
    b1 = _outage_id(live.ledger, "B1", "2026-10-20T08:00:00")
    status, page = live.get(f"/outages/{a2}", "pt-alpha")
    token = _token(page)
    before = _dispute_rows(live.ledger)

    def post(path: str, form: dict, user: str = "pt-alpha", **kw) -> tuple[int, str]:
        status, body, _h = live.request("POST", path, user, form, **kw)
        return status, body

    # 100 KB of text: over the body cap, a clear 413
    status, body = post(f"/outages/{a2}/disputes", {"csrf": token, "reason": "other", "text": "x" * 100_000})
    assert status == 413 and "a text is at most 2,000 characters; nothing stored" in body
    # 3,000 characters: under the body cap, over the text bound
    status, body = post(f"/outages/{a2}/disputes", {"csrf": token, "reason": "other", "text": "y" * 3000})
    assert status == 400 and "Explanation: 3,000 characters, at most 2,000; nothing stored" in body
    # the same refusal in Bahasa Indonesia
    status, body = post(f"/outages/{a2}/disputes?lang=id", {"csrf": token, "reason": "other", "text": "y" * 3000})
    assert status == 400 and "Penjelasan: 3.000 karakter, paling banyak 2.000; tidak ada yang disimpan" in body
    # a forged token, a token of another form, a token of another user
    for bad in ("1.2.3", token[:-4] + "0000", ""):
        status, body = post(f"/outages/{a2}/disputes", {"csrf": bad, "reason": "power_cut"})
        assert status == 403 and "token is not valid" in body
    status, other = live.get(f"/outages/{b1}", "pt-bima")
    status, body = post(f"/outages/{a2}/disputes", {"csrf": _token(other), "reason": "power_cut"})
    assert status == 403
    # a cross-site form
    status, body = post(f"/outages/{a2}/disputes", {"csrf": token, "reason": "power_cut"},
                        headers={"Origin": "http://evil.example"})
    assert status == 403 and "another site" in body
    # an outage that does not exist; one of another provider; not a number
    for oid in (999_999, b1):
        status, body = post(f"/outages/{oid}/disputes", {"csrf": token, "reason": "power_cut"})
        assert status == 404 and "nothing stored" in body
    assert post("/outages/abc/disputes", {"csrf": token, "reason": "power_cut"})[0] == 404
    # a reason not on the list, a span outside the outage
    assert post(f"/outages/{a2}/disputes", {"csrf": token, "reason": "aliens"})[0] == 400
    status, body = post(f"/outages/{a2}/disputes", {"csrf": token, "reason": "power_cut",
                                                    "start": "2026-10-10T09:00:00", "end": "2026-10-10T11:00:00"})
    assert status == 400 and "within the outage" in body
    assert _dispute_rows(live.ledger) == before

    # markup in the text is stored as text and shown escaped
    status, body = post(f"/outages/{a2}/disputes", {"csrf": token, "reason": "other",
                                                    "text": '<script>alert(1)</script><b>PLN</b>'})
    assert status == 303
    assert _dispute_rows(live.ledger) == before + 1
    # the same form again: replayed, nothing stored
    status, body = post(f"/outages/{a2}/disputes", {"csrf": token, "reason": "other", "text": "again"})
    assert status == 409 and "nothing stored" in body
    assert _dispute_rows(live.ledger) == before + 1
    status, page = live.get("/disputes", "admin")
    assert "<script>" not in page and "&lt;script&gt;" not in page  # the list shows no text
    dispute = int(re.search(r'href="/disputes/(\d+)', page).group(1))
    status, page = live.get(f"/disputes/{dispute}", "admin")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;PLN&lt;/b&gt;" in page and "<script>" not in page
    # a replayed decision form
    form = {"csrf": _token(page), "decision": "reject", "note": "no evidence"}
    assert post(f"/disputes/{dispute}/decision", form, user="admin")[0] == 303
    status, body = post(f"/disputes/{dispute}/decision", form, user="admin")
    assert status == 409 and "nothing stored" in body
    assert _dispute_rows(live.ledger) == before + 2
    # a decision on a dispute that does not exist
    assert post("/disputes/424242/decision", form, user="admin")[0] == 404
    assert _dispute_rows(live.ledger) == before + 2


def test_rejected_dispute_changes_nothing_but_is_listed(live):
    a1 = _outage_id(live.ledger, "A1", "2026-10-24T23:00:00")
    before = _providers_csv(live, "admin")
    status, page = live.get(f"/outages/{a1}?lang=id", "pt-alpha")
    assert "Ajukan sanggahan" in page  # the form in Bahasa Indonesia
    status, body, headers = live.request("POST", f"/outages/{a1}/disputes?lang=id", "pt-alpha", {
        "csrf": _token(page), "reason": "road_works", "text": "galian kabel"})
    assert status == 303, body
    path = headers["Location"]
    status, page = live.get(path, "admin")
    status, body, _h = live.request("POST", path.split("?")[0] + "/decision", "admin", {
        "csrf": _token(page), "decision": "reject", "note": "the works ended at 22:00"})
    assert status == 303, body
    after = _providers_csv(live, "admin")
    assert after == before  # every figure the same
    status, page = live.get("/reports/2026-10/report.html", "pt-alpha")
    assert "rejected (counted)" in page and "the works ended at 22:00" in page
    assert "galian kabel" in page
    status, audit = live.get("/disputes/decisions", "pt-alpha")
    assert "the works ended at 22:00" in audit and "admin" in audit
    # the command line lists and shows it
    out = subprocess.run([sys.executable, "-m", "monitor", "disputes", "list", "-c", str(live.config)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "\trejected\tpt-alpha\tA1\t" in out.stdout


@pytest.mark.integration
def test_dispute_filed_in_chromium_accepted_changes_figures_by_the_disputed_seconds(live, tmp_path):
    chromium = require("chromium")
    a2 = _outage_id(live.ledger, "A2", "2026-10-10T10:00:00")
    before = _providers_csv(live, "pt-alpha")
    # by hand (tests/report_fixture.py): pt-alpha's October downtime is A1 00:00-03:00 on
    # the 1st (10,800 s), A2 10:00-12:00 on the 10th (7,200 s; 12:00-14:00 is maintenance),
    # A1 23:00-24:00 on the 24th (3,600 s; the monitor was down after), A3 23:00-24:00 on
    # the 31st (3,600 s): 25,200 s of 6,703,170 measured camera-seconds (A3 counts from its
    # first answer, 30 s after it was added on the 16th)
    assert before["pt-alpha"]["down_s"] == "25200"
    assert before["pt-alpha"]["measured_s"] == "6703170"
    assert "pt-bima" not in before

    page = asyncio.run(_file_in_chromium(chromium, live, a2, tmp_path))
    assert "Dispute" in page and "filed" in page, page[:3000]
    assert "pending (still counted)" in page
    # pending: counted, and marked in the report
    pending = _providers_csv(live, "pt-alpha")
    assert pending["pt-alpha"]["down_s"] == "25200"
    status, html = live.get("/reports/2026-10/report.html", "pt-alpha")
    assert "disputed, pending" in html and "1 pending, 0 accepted, 0 rejected" in html

    dispute = int(re.search(r'href="/disputes/(\d+)', live.get("/disputes", "admin")[1]).group(1))
    status, page = live.get(f"/disputes/{dispute}", "admin")
    status, body, _h = live.request("POST", f"/disputes/{dispute}/decision", "admin", {
        "csrf": _token(page), "decision": "accept", "note": "PLN confirmed the cut"})
    assert status == 303, body

    after = _providers_csv(live, "pt-alpha")
    # the disputed span 10:30:00-11:00:00 lies in the counted part of A2's outage: both the
    # downtime and the measured time lose exactly 1,800 s
    assert int(after["pt-alpha"]["down_s"]) == 25200 - 1800
    assert int(after["pt-alpha"]["measured_s"]) == 6703170 - 1800
    assert after["pt-alpha"]["excluded_dispute_s"] == "1800"
    assert float(after["pt-alpha"]["availability"]) == pytest.approx(1 - 23400 / 6701370, abs=1e-6)
    status, outages = live.get("/reports/2026-10/outages.csv", "pt-alpha")
    pieces = [r for r in csv.DictReader(io.StringIO(outages)) if r["camera"] == "A2"]
    assert [(r["start"][11:19], r["end"][11:19], r["excluded"]) for r in pieces] == [
        ("10:00:00", "10:30:00", ""), ("10:30:00", "11:00:00", "dispute"),
        ("11:00:00", "12:00:00", ""), ("12:00:00", "14:00:00", "maintenance")]
    status, html = live.get("/reports/2026-10/report.html?lang=id", "pt-alpha")
    assert "diterima (dikecualikan)" in html and "PLN confirmed the cut" in html
    # the command line shows the same dispute and its decision
    out = subprocess.run([sys.executable, "-m", "monitor", "disputes", "show", str(dispute), "-c",
                          str(live.config)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "accepted by admin: PLN confirmed the cut" in out.stdout
    assert "1800 s" in out.stdout
    # the running month is a preview, marked as not final
    month = time.strftime("%Y-%m", time.gmtime(time.time() + 7 * 3600))
    status, html = live.get(f"/reports/{month}/report.html", "pt-alpha")
    assert status == 200 and 'id="preview"' in html and "NOT FINAL" in html


async def _file_in_chromium(chromium: str, live: Live, outage: int, tmp: Path) -> str:
    """Open the outage page as pt-alpha, fill the plain form and submit it, as a user would
    (the DevTools protocol sets the fields and clicks; the page runs no script of its own).
    Returns the text of the page the browser lands on."""
    import aiohttp

    profile = tmp / "chromium-profile"
    proc = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                pages = [p for p in await r.json() if p["type"] == "page"]
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                ids = iter(range(1, 10_000))

                async def call(method: str, **params) -> dict:
                    n = next(ids)
                    await ws.send_json({"id": n, "method": method, "params": params})
                    async with asyncio.timeout(60):
                        while True:
                            msg = json.loads((await ws.receive()).data)
                            if msg.get("id") == n:
                                assert "error" not in msg, msg
                                return msg.get("result", {})

                async def wait_for(expr: str) -> None:
                    for _ in range(300):
                        got = await call("Runtime.evaluate", expression=expr, returnByValue=True)
                        if got["result"].get("value"):
                            return
                        await asyncio.sleep(0.1)
                    got = await call("Runtime.evaluate", returnByValue=True,
                                     expression="location.href + ' ' + document.body.innerText")
                    raise AssertionError(f"never true in the browser: {expr}: {got['result'].get('value')}")

                auth = base64.b64encode(f"pt-alpha:{PASSWORDS['pt-alpha']}".encode()).decode()
                await call("Network.enable")
                await call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Basic {auth}"})
                await call("Page.navigate", url=f"{live.base}/outages/{outage}")
                await wait_for("document.readyState === 'complete' && !!document.getElementById('submit')")
                await call("Runtime.evaluate", expression=(
                    "document.getElementById('reason').value = 'power_cut';"
                    "document.getElementById('start').value = '2026-10-10T10:30:00';"
                    "document.getElementById('end').value = '2026-10-10T11:00:00';"
                    "document.getElementById('text').value = 'PLN cut the feeder 10:30-11:00';"
                    "document.getElementById('submit').click(); true"))
                await wait_for("location.pathname.startsWith('/disputes/') && document.readyState === 'complete'")
                got = await call("Runtime.evaluate", expression="document.body.innerText",
                                 returnByValue=True)
                return got["result"]["value"]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- the store

def test_disputes_on_postgresql(postgres_dsn):
    """The same rules on PostgreSQL: a filing, its replay refused by the UNIQUE form nonce,
    decisions superseding (never updating) each other, and the accepted span read back."""
    import psycopg

    from monitor.history import disputes as store
    from monitor.history.schema import migrate
    from monitor.history.writer import connect

    conn, dialect = connect(postgres_dsn)
    try:
        migrate(conn, dialect)
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("INSERT INTO instances (instance, started, heartbeat) VALUES ('n', 0, 5000)")
            cur.execute("INSERT INTO outages (kind, subject, provider, start_ts, end_ts, instance) "
                        "VALUES ('camera', 'A1', 'pt-alpha', 1000, 2000, 'n') RETURNING id")
            oid = cur.fetchone()[0]
            cur.execute("INSERT INTO outages (kind, subject, provider, start_ts, end_ts, instance) "
                        "VALUES ('camera', 'A9', 'pt-alpha', 3000, NULL, 'n') RETURNING id")
            open_id = cur.fetchone()[0]
        conn.commit()
        did = store.file(conn, dialect, oid, "pt-alpha", "road_works", "", "alpha", 10.0,
                         1200.0, 1500.0, form="nonce-1")
        with pytest.raises(store.DisputeError) as err:
            store.file(conn, dialect, oid, "pt-alpha", "road_works", "", "alpha", 11.0,
                       1600.0, 1700.0, form="nonce-1")
        assert err.value.status == 409
        with pytest.raises(store.DisputeError) as err:
            store.file(conn, dialect, oid, "pt-bima", "road_works", "", "bima", 11.0)
        assert err.value.status == 404
        # an open outage: disputable up to its instance's last heartbeat
        with pytest.raises(store.DisputeError):
            store.file(conn, dialect, open_id, "pt-alpha", "other", "x", "alpha", 12.0, 3000.0, 5001.0)
        store.file(conn, dialect, open_id, "pt-alpha", "other", "x", "alpha", 12.0, 3000.0, 5000.0)
        store.decide(conn, dialect, did, False, "no", "admin", 20.0)
        assert store.accepted_spans(conn, dialect, 0, 10_000) == {}
        store.decide(conn, dialect, did, True, "on second thoughts, yes", "admin", 30.0)
        assert store.accepted_spans(conn, dialect, 0, 10_000) == {"A1": [(1200.0, 1500.0)]}
        [d] = store.load(conn, dialect, dispute_id=did)
        assert (d.status, d.note, [a for _t, a, _w, _n in d.decisions]) == (
            "accepted", "on second thoughts, yes", ["rejected", "accepted"])
        assert [r[2] for r in store.decisions(conn, dialect)] == ["accepted", "rejected"]
    finally:
        conn.close()
    with psycopg.connect(postgres_dsn) as check:
        assert check.execute("SELECT action FROM disputes ORDER BY id").fetchall() == [
            ("filed",), ("filed",), ("rejected",), ("accepted",)]


def test_access_section_is_checked(tmp_path):
    from monitor.config import load
    from monitor.config.errors import ConfigError

    path = tmp_path / "monitor.yml"
    path.write_text(CONFIG + """
access:
  admins: [admin, admin2]
  viewers: [auditor, admin]
  providers:
    - provider: pt-alpha
      users: [alpha]
    - provider: pt-gamma
      users: [gamma]
""")
    with pytest.raises(ConfigError) as err:
        load(str(path))
    text = "\n".join(str(i) for i in err.value.issues)
    assert "access.viewers[1]: user 'admin' already has a role (admins)" in text
    assert "access.providers[1].provider: unknown provider 'pt-gamma'" in text
    path.write_text(CONFIG + ACCESS)
    access = load(str(path)).access
    assert access.configured and access.role_of("pt-bima") == ("provider", "pt-bima")
    assert access.role_of("admin") == ("admin", "") and access.role_of("x") == ("", "")
    path.write_text(CONFIG)
    assert not load(str(path)).access.configured


def test_a_reload_changes_roles(live):
    """Roles live in the configuration: a reload (SIGHUP) makes pt-bima's user a viewer."""
    assert {c["id"] for c in json.loads(live.get("/api/cameras", "pt-bima")[1])} == {"B1"}
    live.config.write_text(CONFIG + f"\nhistory:\n  path: {live.ledger}\n" + """
access:
  admins: [admin]
  viewers: [pt-bima]
  providers:
    - provider: pt-alpha
      users: [pt-alpha]
""")
    os.kill(live.proc.pid, signal.SIGHUP)
    seen: set = set()
    for _ in range(200):  # bounded: 20 s at most
        seen = {c["id"] for c in json.loads(live.get("/api/cameras", "pt-bima")[1])}
        if seen != {"B1"}:
            break
        time.sleep(0.1)
    assert seen == {"A1", "A2", "A3", "B1"}, live.logs()[-2000:]
    # a viewer reads, never decides
    assert live.request("POST", "/disputes/1/decision", "pt-bima", {"csrf": "x"})[0] == 403


async def test_a_ledger_out_of_reach_is_a_clear_503(tmp_path, caplog):
    """The ledger's file cannot be opened (here: its path is a directory): the pages say so
    with a 503 and one log line, never a traceback or a 500."""
    from aiohttp.test_utils import TestClient, TestServer

    from monitor.metrics.exporter import Exporter
    from monitor.web.portal import Portal
    from monitor.state import State
    from monitor.web.app import make_app
    from tests.report_fixture import INVENTORY

    state = State(INVENTORY)
    app = make_app(state, Exporter(state))
    (tmp_path / "not-a-file").mkdir()
    Portal(state, str(tmp_path / "not-a-file")).install(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        for path in ("/outages", "/disputes", "/disputes/decisions", "/disputes/1"):
            r = await client.get(path)
            assert r.status == 503, path
            assert "cannot be read or written now; nothing stored" in await r.text()
    finally:
        await client.close()
    lines = [r for r in caplog.records if r.name == "cctv.portal"]
    assert lines and all(r.exc_info is None for r in lines)


def test_disputes_command_line(tmp_path):
    from monitor.history import disputes as store
    from monitor.history.writer import connect

    ledger = tmp_path / "ledger.sqlite"
    _ledger(ledger)
    config = tmp_path / "monitor.yml"
    config.write_text(CONFIG + f"\nhistory:\n  path: {ledger}\n")
    conn, dialect = connect(str(ledger))
    try:
        from monitor.history.schema import migrate

        migrate(conn, dialect)
        conn.commit()
        did = store.file(conn, dialect, _outage_id(ledger, "A2", "2026-10-10T10:00:00"), "pt-alpha",
                         "access_denied", "the mall was closed", "pt-alpha", 1.0)
    finally:
        conn.close()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "monitor", "disputes", *args, "-c", str(config)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    out = run("list", "--status", "pending")
    assert out.returncode == 0 and f"{did}\tpending\tpt-alpha\tA2\t" in out.stdout
    out = run("decide", str(did), "--accept", "--note", "confirmed by the mall", "--by", "city-ops")
    assert out.returncode == 0, out.stderr
    assert f"dispute {did} accepted by city-ops" in out.stdout
    out = run("show", str(did))
    assert "accepted by city-ops: confirmed by the mall" in out.stdout
    assert "span 2026-10-10 10:00:00 - 2026-10-10 14:00:00 (14400 s)" in out.stdout
    # refusals: nothing stored, one line, the right exit code
    rows = _dispute_rows(ledger)
    out = run("decide", "999", "--reject", "--note", "x")
    assert out.returncode == 1 and "no dispute 999; nothing stored" in out.stderr
    out = run("decide", str(did), "--reject", "--note", "z" * 3000)
    assert out.returncode == 1 and "at most 2,000" in out.stderr
    out = run("decide", str(did), "--reject")  # no --note: a usage error
    assert out.returncode == 2 and "--note" in out.stderr
    assert _dispute_rows(ledger) == rows
    assert "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "monitor", "disputes", "list", "-c", str(config),
                          "--ledger", str(tmp_path / "missing.sqlite")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "does not exist (nothing was created)" in out.stderr
    assert not (tmp_path / "missing.sqlite").exists()
    bad = tmp_path / "bad.yml"
    bad.write_text(CONFIG + "\naccess:\n  admins: [a]\n  viewers: [a]\n")
    out = subprocess.run([sys.executable, "-m", "monitor", "disputes", "list", "-c", str(bad)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "access.viewers[0]: user 'a' already has a role" in out.stderr
    assert "Traceback" not in out.stderr


def test_dispute_rows_are_hash_chained(tmp_path):
    """Filings and decisions are events of the ledger's hash chain (instance "disputes"):
    `ledger verify` finds the ledger intact after them, and names a dispute row edited,
    inserted or deleted behind the monitor's back."""
    from monitor.history import disputes as store
    from monitor.history.schema import migrate
    from monitor.history.verify import verify_target
    from monitor.history.writer import connect

    ledger = tmp_path / "ledger.sqlite"
    _ledger(ledger)
    conn, dialect = connect(str(ledger))
    try:
        migrate(conn, dialect)
        conn.commit()
        did = store.file(conn, dialect, _outage_id(ledger, "A2", "2026-10-10T10:00:00"), "pt-alpha",
                         "power_cut", "PLN", "pt-alpha", 100.0, form="f1")
        store.decide(conn, dialect, did, True, "confirmed", "admin", 200.0, form="f2")
    finally:
        conn.close()
    def findings() -> list[str]:
        # the fixture writes its monitor_down row by hand (unchained): not this test's business
        return [f.text for f in verify_target(str(ledger)).findings if "monitor_down row" not in f.text]

    assert findings() == []
    assert verify_target(str(ledger)).heads["disputes"][0] == 2
    with sqlite3.connect(ledger) as db:  # the city's answer quietly turned around
        db.execute("UPDATE disputes SET action = 'rejected' WHERE dispute = ?", (did,))
    texts = findings()
    assert texts == [f"disputes row id {did + 1} was edited: it differs from its event (chain disputes #2)"]
    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE disputes SET action = 'accepted' WHERE dispute = ?", (did,))
        db.execute("INSERT INTO disputes (ts, action, dispute, outage, camera, provider, start_ts, "
                   "end_ts, actor) SELECT 300, 'rejected', id, outage, camera, provider, start_ts, "
                   "end_ts, 'intruder' FROM disputes WHERE id = ?", (did,))
        db.execute("DELETE FROM disputes WHERE id = ?", (did,))
    texts = findings()
    assert f"disputes row id {did} was deleted: written by chain disputes #1" in texts
    assert f"disputes row id {did + 2} was inserted: no chained event wrote it" in texts


def test_a_report_reads_disputes_as_they_stood_at_its_as_of_instant(tmp_path):
    """Filed before the as-of instant and accepted after it: that report still counts the
    seconds (pending); made again after the decision, it excludes them."""
    from monitor.history import disputes as store
    from monitor.history.reader import Reader
    from monitor.history.schema import migrate
    from monitor.history.writer import connect
    from monitor.report.compute import compute, period_of
    from monitor.report.document import DigestReader
    from tests.report_fixture import INVENTORY, JKT

    ledger = tmp_path / "ledger.sqlite"
    _ledger(ledger)
    conn, dialect = connect(str(ledger))
    try:
        migrate(conn, dialect)
        conn.commit()
        did = store.file(conn, dialect, _outage_id(ledger, "A1", "2026-10-24T23:00:00"), "pt-alpha",
                         "monitor_error", "", "pt-alpha", t("2026-11-03T09:00:00"))
        store.decide(conn, dialect, did, True, "yes", "admin", t("2026-11-05T09:00:00"))
    finally:
        conn.close()

    def alpha(as_of: str) -> tuple[float, str, str]:
        reader = Reader(str(ledger))
        try:
            start, end, label = period_of("2026-10", None, None, JKT)
            digest = DigestReader(reader, start.timestamp(), end.timestamp(), t(as_of))
            report = compute(digest, INVENTORY, start, end, label, now=t(as_of))
            return report.providers[0].down_s, report.disputes[0].status if report.disputes else "", digest.digest
        finally:
            reader.close()

    before = alpha("2026-11-02T00:00:00")  # before the filing: no dispute at all
    pending = alpha("2026-11-04T00:00:00")
    accepted = alpha("2026-11-06T00:00:00")
    assert before[:2] == (25200, "") and pending[:2] == (25200, "pending")
    # A1 23:00-24:00 on the 24th was counted (after midnight the monitor was down)
    assert accepted[:2] == (25200 - 3600, "accepted")


async def test_the_pages_never_create_a_missing_ledger(tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from monitor.metrics.exporter import Exporter
    from monitor.web.portal import Portal
    from monitor.state import State
    from monitor.web.app import make_app
    from tests.report_fixture import INVENTORY

    state = State(INVENTORY)
    app = make_app(state, Exporter(state))
    Portal(state, str(tmp_path / "gone.sqlite")).install(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        r = await client.get("/disputes")
        assert r.status == 503
    finally:
        await client.close()
    assert not (tmp_path / "gone.sqlite").exists()
