"""config/alertmanager.yml, checked by the real amtool and a real Alertmanager.

Routing: amtool's route tester, for every alert of config/alerts.yml at its severity.
Inhibition: a real Alertmanager on 127.0.0.1 receives source and target alerts over its
API, and its own view (/api/v2/alerts, status.inhibitedBy) must show each target inhibited
by its source, and the look-alikes that must not be (other district, other centre...) not.
Delivery: a real Alertmanager on the real file, its endpoints moved to 127.0.0.1 (see
`localize`), delivers a critical alert to the webhook and to Telegram (a Bot API stand-in
served by this test, reached through `api_url`) and a warning to the webhook and by e-mail
(an SMTP server run by this test with aiosmtpd, which demands the password from
smtp_auth_password_file), then their resolutions; and neither path gets the other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.artefacts import AM_CONFIG, alert_rules, localize
from tests.conftest import require
from tests.factories import free_port

ROOT = Path(__file__).resolve().parent.parent
AM_BIN = "/usr/bin/prometheus-alertmanager"
RECEIVER = {"critical": "oncall-pager", "warning": "tickets"}


def _amtool_route(*labels: str) -> str:
    amtool = require("amtool")
    res = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={AM_CONFIG}", *labels],
        capture_output=True, text=True, timeout=30,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.strip()


def test_amtool_check_config():
    amtool = require("amtool")
    res = subprocess.run([amtool, "check-config", str(AM_CONFIG)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_link_down_pages():
    assert _amtool_route("severity=critical", "alertname=CommandCentreLinkDown",
                         "centre=police-hq") == "oncall-pager"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f'{r["alert"]}-{r["labels"].get("scope", "")}')
def test_every_alert_routes_by_severity(rule):
    sev = rule["labels"]["severity"]
    labels = [f"alertname={rule['alert']}", f"severity={sev}"]
    labels += [f"{k}={v}" for k, v in rule["labels"].items() if k != "severity"]
    assert _amtool_route(*labels) == RECEIVER[sev]


def test_receivers_send_resolved_and_group_by():
    doc = yaml.safe_load(AM_CONFIG.read_text())
    assert doc["route"]["group_by"] == ["alertname", "centre", "district", "provider"]
    names = {r["name"] for r in doc["receivers"]}
    assert names == {"oncall-pager", "tickets"}
    for r in doc["receivers"]:
        assert r["webhook_configs"] and all(w["send_resolved"] for w in r["webhook_configs"])
    # and each a second, native path: Telegram for the pager, e-mail for the work queue
    by_name = {r["name"]: r for r in doc["receivers"]}
    assert [set(r) - {"name"} for r in (by_name["oncall-pager"], by_name["tickets"])] == [
        {"webhook_configs", "telegram_configs"}, {"webhook_configs", "email_configs"}]
    for integration in (*by_name["oncall-pager"]["telegram_configs"], *by_name["tickets"]["email_configs"]):
        assert integration["send_resolved"] is True


def test_no_secret_is_written_in_the_file():
    """The SMTP password comes from a file; the bot token is a marked placeholder."""
    doc = yaml.safe_load(AM_CONFIG.read_text())
    assert "smtp_auth_password" not in doc["global"]
    assert doc["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    assert doc["global"]["smtp_require_tls"] is True
    for r in doc["receivers"]:
        for t in r.get("telegram_configs", []):
            assert "placeholder" in t["bot_token"]
        for e in r.get("email_configs", []):
            assert not {"auth_password", "auth_secret"} & set(e)


# ------------------------------------------------------------------ live inhibition


def _http(method: str, url: str, body=None, timeout: float = 5.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    if resp.headers.get_content_type() != "application/json":
        return raw.decode(errors="replace")
    return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    binary = require(AM_BIN)
    tmp = tmp_path_factory.mktemp("am")
    # The real file, with every receiver pointed at a closed loopback port: the routes,
    # inhibit rules and timings under test are untouched.
    doc = localize(yaml.safe_load(AM_CONFIG.read_text()))
    with _running_alertmanager(binary, tmp, doc) as base:
        yield base


@contextlib.contextmanager
def _running_alertmanager(binary: str, tmp: Path, doc: dict):
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump(doc))
    port = free_port()
    log = open(tmp / "am.log", "wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         "--log.level=debug"],  # every notification attempt, for a failure's report
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _http("GET", f"{base}/-/ready", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"alertmanager did not start:\n{(tmp / 'am.log').read_text()[-3000:]}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _alert(**labels: str) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "labels": labels,
        "annotations": {"summary": "test"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "generatorURL": "http://127.0.0.1/test",
    }


def _status_of(base: str, case: str) -> dict[str, dict]:
    alerts = _http("GET", f"{base}/api/v2/alerts?filter=case%3D%22{case}%22")
    return {a["labels"]["role"]: a["status"] for a in alerts}


CAM = dict(name="Bundaran HI north", provider="provider-a", district="Menteng", zone="city",
           uplink="sw-menteng-1", severity="warning")

#: (case, source labels, {role: (target labels, expected inhibited)}).  MonitorDown inhibits
#: every other alert, so it is posted last, after these have been checked.
CASES = [
    ("link-feed",
     dict(alertname="CommandCentreLinkDown", severity="critical", centre="police-hq", link="primary"),
     {"target": (dict(alertname="PoliceFeedDown", severity="critical", camera="JKT-0001",
                      centre="police-hq", integration="police-hq", district="Menteng",
                      provider="provider-a"), True),
      "other-centre": (dict(alertname="PoliceFeedDown", severity="critical", camera="JKT-0001",
                            centre="traffic-hq", integration="traffic-hq", district="Menteng",
                            provider="provider-a"), False)}),
    ("mass-district",
     dict(alertname="MassOutage", severity="critical", scope="district", district="Menteng"),
     {"target": (dict(alertname="CameraDown", camera="JKT-0002", **CAM), True),
      "flapping": (dict(alertname="CameraFlapping", camera="JKT-0003", **CAM), True),
      "other-district": (dict(alertname="CameraDown", camera="JKT-0004",
                              **{**CAM, "district": "Gambir"}), False),
      "ring-one": (dict(alertname="RingOneCameraDown", camera="JKT-0005",
                        **{**CAM, "zone": "ring-1", "severity": "critical"}), False)}),
    ("mass-provider",
     dict(alertname="MassOutage", severity="critical", scope="provider", provider="provider-b"),
     {"target": (dict(alertname="CameraDown", camera="JKT-0010",
                      **{**CAM, "provider": "provider-b", "district": "Tebet"}), True),
      "other-provider": (dict(alertname="CameraDown", camera="JKT-0011",
                              **{**CAM, "provider": "provider-c", "district": "Tebet"}), False)}),
    ("mass-uplink",
     dict(alertname="MassOutage", severity="critical", scope="uplink", uplink="sw-kemang-3"),
     {"target": (dict(alertname="CameraDown", camera="JKT-0020",
                      **{**CAM, "uplink": "sw-kemang-3", "district": "Kemang"}), True),
      "other-uplink": (dict(alertname="CameraDown", camera="JKT-0021",
                            **{**CAM, "uplink": "sw-kemang-4", "district": "Kemang"}), False)}),
    ("ring-one",
     dict(alertname="RingOneCameraDown", camera="JKT-0030",
          **{**CAM, "district": "Senen", "uplink": "sw-senen-1", "severity": "critical"}),
     {"target": (dict(alertname="CameraDown", camera="JKT-0030",
                      **{**CAM, "district": "Senen", "uplink": "sw-senen-1"}), True),
      "other-camera": (dict(alertname="CameraDown", camera="JKT-0031",
                            **{**CAM, "district": "Senen", "uplink": "sw-senen-1"}), False)}),
]


MONITOR_DOWN = dict(alertname="MonitorDown", severity="critical", job="cctv-monitor",
                    instance="monitor:9877")


def test_every_inhibit_rule_is_exercised():
    """Each inhibit rule's source matchers appear as the source of a live case below."""
    doc = yaml.safe_load(AM_CONFIG.read_text())
    for rule in doc["inhibit_rules"]:
        wanted = dict(m.replace('"', "").split("=", 1) for m in rule["source_matchers"])
        sources = [src for _, src, _ in CASES] + [MONITOR_DOWN]
        assert any(all(src.get(k) == v for k, v in wanted.items()) for src in sources), rule


def test_inhibitions_in_a_real_alertmanager(alertmanager):
    alerts = []
    for case, source, targets in CASES:
        alerts.append(_alert(case=case, role="source", **source))
        for role, (labels, _) in targets.items():
            alerts.append(_alert(case=case, role=role, **labels))
    _http("POST", f"{alertmanager}/api/v2/alerts", alerts)

    # The inhibitor learns of source alerts asynchronously: poll, bounded.
    deadline = time.monotonic() + 15
    while True:
        failures = []
        for case, _, targets in CASES:
            status = _status_of(alertmanager, case)
            if status.get("source", {}).get("inhibitedBy"):
                failures.append(f"{case}: the source itself is inhibited: {status['source']}")
            for role, (_, expected) in targets.items():
                got = status.get(role)
                inhibited = bool(got and got["inhibitedBy"])
                if got is None or inhibited != expected:
                    failures.append(f"{case}/{role}: expected inhibited={expected}, got {got}")
        if not failures or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert failures == []
    # and an inhibited alert is reported as suppressed, a free one as active
    status = _status_of(alertmanager, "mass-district")
    assert status["target"]["state"] == "suppressed"
    assert status["other-district"]["state"] == "active"

    # MonitorDown: every other alert, sources and free look-alikes alike, is inhibited,
    # and MonitorDown itself is not.
    _http("POST", f"{alertmanager}/api/v2/alerts", [_alert(case="monitor-down", role="source", **MONITOR_DOWN)])
    deadline = time.monotonic() + 15
    while True:
        everything = _http("GET", f"{alertmanager}/api/v2/alerts")
        free = [a["labels"] for a in everything
                if not a["status"]["inhibitedBy"] and a["labels"]["alertname"] != "MonitorDown"]
        if not free or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert free == []
    assert len(everything) == len(alerts) + 1
    monitor = _status_of(alertmanager, "monitor-down")["source"]
    assert monitor["state"] == "active" and not monitor["inhibitedBy"]


# ------------------------------------------------------------------ live delivery

SMTP_USER = "cctv-monitor"
SMTP_PASSWORD = "CANARY-smtp-pa55-4417"
BOT_TOKEN = "4242424242:CANARY-bot-token"


class _Mailbox:
    """aiosmtpd handler: keeps every message with its envelope and the login used."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.logins: list[tuple[str, str]] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append((login, password))
            return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD))
        return AuthResult(success=False)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        import email
        from email import policy

        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "subject": str(msg["Subject"]),
                              "body": body.get_content() if body is not None else ""})
        return "250 OK"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_email_and_telegram_deliver_from_a_real_alertmanager(tmp_path):
    """A critical alert reaches the pager webhook and the Telegram group, a warning the
    ticket webhook and the NOC mailbox; each then its resolution; neither the other's."""
    from aiohttp import web
    from aiosmtpd.controller import Controller

    binary = require(AM_BIN)
    doc = yaml.safe_load(AM_CONFIG.read_text())
    chat_id = doc["receivers"][0]["telegram_configs"][0]["chat_id"]
    mail_to = doc["receivers"][1]["email_configs"][0]["to"]

    # -- the SMTP server, with the password Alertmanager must read from its file
    mailbox = _Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port,
                      authenticator=mailbox.authenticate, auth_required=True,
                      # loopback, no TLS: PLAIN, as a relay does after STARTTLS (aiosmtpd's
                      # LOGIN prompts are not the "Username:" Alertmanager expects)
                      auth_require_tls=False, auth_exclude_mechanism=["LOGIN"])
    smtp.start()
    secret = tmp_path / "smtp-password"
    # no trailing newline: Alertmanager before 0.27 (Debian 12 has 0.25) sends it as part of
    # the password (the config file's header says so too)
    secret.write_text(SMTP_PASSWORD)

    # -- the Telegram Bot API stand-in and the webhook receiver, one aiohttp app
    telegram: list[dict] = []
    hooks: list[tuple[str, dict]] = []

    async def send_message(request: web.Request) -> web.Response:
        if request.match_info["token"] != BOT_TOKEN:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        if request.content_type == "application/json":
            payload = await request.json()
        else:
            payload = dict(await request.post())
        telegram.append(payload)
        return web.json_response({"ok": True, "result": {
            "message_id": len(telegram), "date": int(time.time()),
            "chat": {"id": int(payload["chat_id"]), "type": "supergroup"},
            "text": payload.get("text", "")}})

    async def hook(request: web.Request) -> web.Response:
        hooks.append((request.path, await request.json()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", send_message)
    app.router.add_post("/page", hook)
    app.router.add_post("/ticket", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    local = f"http://127.0.0.1:{runner.addresses[0][1]}"

    localize(doc, webhook=local, smtp=f"127.0.0.1:{smtp_port}", telegram=local,
             password_file=str(secret))
    doc["receivers"][0]["telegram_configs"][0]["bot_token"] = BOT_TOKEN
    for route in [doc["route"], *doc["route"].get("routes", [])]:
        route.update(group_wait="1s", group_interval="1s")

    critical = _alert(alertname="CommandCentreLinkDown", severity="critical",
                      centre="police-hq", link="primary")
    critical["annotations"] = {"summary": "Link primary to command centre police-hq is down"}
    warning = _alert(alertname="CameraDown", camera="JKT-0042", **CAM)
    warning["annotations"] = {"summary": "Camera JKT-0042 (Bundaran HI north) is down"}

    async def until(condition, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}; telegram={telegram} mail={mailbox.messages} "
                            f"hooks={[p for p, _ in hooks]}\n"
                            f"{(tmp_path / 'am.log').read_text()[-3000:]}")
            await asyncio.sleep(0.2)

    def mails(status: str) -> list[dict]:
        return [m for m in mailbox.messages if m["subject"].startswith(f"[CCTV {status}]")]

    def messages(word: str) -> list[dict]:
        return [m for m in telegram if word.lower() in m["text"].lower()]

    try:
        with _running_alertmanager(binary, tmp_path, doc) as base:
            await asyncio.to_thread(_http, "POST", f"{base}/api/v2/alerts", [critical, warning])
            await until(lambda: mails("FIRING") and messages("FIRING"), "no mail or no Telegram message")
            await until(lambda: {p for p, _ in hooks} == {"/page", "/ticket"}, "webhooks not both called")

            (tg,) = telegram
            assert int(tg["chat_id"]) == chat_id and tg["parse_mode"] == "HTML"
            assert "CommandCentreLinkDown" in tg["text"]
            assert "Link primary to command centre police-hq is down" in tg["text"]
            assert "CameraDown" not in tg["text"]  # a warning never reaches the pager's chat

            (mail,) = mailbox.messages
            assert mail["to"] == [mail_to] and mail["from"] == doc["global"]["smtp_from"]
            assert mail["subject"] == "[CCTV FIRING] CameraDown (1)"
            assert "Camera JKT-0042 (Bundaran HI north) is down" in mail["body"]
            assert "CommandCentreLinkDown" not in mail["body"]  # nor a page the mailbox
            assert mailbox.logins and set(mailbox.logins) == {(SMTP_USER, SMTP_PASSWORD)}

            # -- resolve both: each path delivers the resolution
            now = datetime.now(timezone.utc).isoformat()
            for a in (critical, warning):
                a["endsAt"] = now
            await asyncio.to_thread(_http, "POST", f"{base}/api/v2/alerts", [critical, warning])
            await until(lambda: mails("RESOLVED") and messages("RESOLVED"), "no resolution delivered")
            assert mails("RESOLVED")[0]["subject"] == "[CCTV RESOLVED] CameraDown (1)"
            assert "CommandCentreLinkDown" in messages("RESOLVED")[0]["text"]
        log = (tmp_path / "am.log").read_text()
        assert SMTP_PASSWORD not in log and BOT_TOKEN not in log
    finally:
        smtp.stop()
        await runner.cleanup()
