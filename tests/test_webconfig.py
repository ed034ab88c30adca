"""--web.config.file: TLS (with and without client certificates) and bcrypt Basic auth on
every endpoint of the real daemon, a real Prometheus scraping it with basic_auth and
tls_config, reloads refused cross-origin or when disabled, and bad files refused at start.
The web port under a wrong-password flood: the real daemon with bcrypt Basic auth (cost 10,
as in production), 200 loopback clients sending wrong passwords for a bounded time, while a
real Prometheus and a plain scraper keep scraping with the right one.  The security headers
on every page, and bcrypt costs or headers the web config must refuse."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from tests.conftest import require
from tests.factories import free_port, write_config

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    require("openssl")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *ext, cwd=d)
    return d


def _web_config(d: Path, pki: Path, client_auth: str = "NoClientCert") -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = d / "web.yml"
    lines = [
        "tls_server_config:",
        f"  cert_file: {pki / 'server.crt'}",
        f"  key_file: {pki / 'server.key'}",
        f"  client_auth_type: {client_auth}",
    ]
    if client_auth != "NoClientCert":
        lines.append(f"  client_ca_file: {pki / 'ca.crt'}")
    lines += ["basic_auth_users:", f"  prometheus: '{hashed}'"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Daemon:
    def __init__(self, tmp: Path, *extra: str) -> None:
        self.config = tmp / "monitor.yml"
        write_config(self.config, 2)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(self.config), "--listen",
             f"127.0.0.1:{self.port}", "--log-level", "warning", *extra],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _out, err = self.proc.communicate(timeout=20)
        return err


def _ctx(pki: Path, client: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if client:
        ctx.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return ctx


def _request(url: str, ctx: ssl.SSLContext | None = None, auth: str | None = PASSWORD,
             method: str = "GET", headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    if auth is not None:
        token = base64.b64encode(f"prometheus:{auth}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_up(url: str, ctx: ssl.SSLContext | None, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            _request(url, ctx)
            return
        except (urllib.error.URLError, ConnectionError, ssl.SSLError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


ENDPOINTS = [("GET", "/metrics"), ("GET", "/status"), ("GET", "/api/cameras"),
             ("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/-/reload")]


def test_tls_and_basic_auth_cover_every_endpoint(tmp_path, pki):
    web = _web_config(tmp_path, pki)
    d = Daemon(tmp_path, "--web.config.file", str(web))
    base = f"https://127.0.0.1:{d.port}"
    ctx = _ctx(pki)
    try:
        _wait_up(f"{base}/healthz", ctx, d.proc)
        for method, path in ENDPOINTS:
            status, _ = _request(base + path, ctx, auth=None, method=method)
            assert status == 401, (path, status)
            status, _ = _request(base + path, ctx, auth="wrong", method=method)
            assert status == 401, (path, status)
        status, text = _request(f"{base}/metrics", ctx)
        assert status == 200 and "cctv_camera_up" in text
        status, text = _request(f"{base}/api/cameras", ctx)
        assert status == 200 and len(json.loads(text)) == 2
        # plain HTTP on the TLS port gets no answer worth the name
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://127.0.0.1:{d.port}/metrics", timeout=5).read()
        # reloads: cross-origin and "simple" content types refused, a plain POST works
        status, _ = _request(f"{base}/-/reload", ctx, method="POST",
                             headers={"Origin": "http://evil.example"})
        assert status == 403
        status, _ = _request(f"{base}/-/reload", ctx, method="POST",
                             headers={"Content-Type": "text/plain"})
        assert status == 403
        status, _ = _request(f"{base}/-/reload", ctx, method="POST",
                             headers={"Sec-Fetch-Site": "cross-site"})
        assert status == 403
        status, _ = _request(f"{base}/-/reload", ctx)
        assert status == 405
        status, text = _request(f"{base}/-/reload", ctx, method="POST")
        assert status == 200 and json.loads(text)["status"] == "ok"
    finally:
        err = d.stop()
    assert "Traceback" not in err and PASSWORD not in err


def test_client_certificates_are_required_when_configured(tmp_path, pki):
    web = _web_config(tmp_path, pki, "RequireAndVerifyClientCert")
    d = Daemon(tmp_path, "--web.config.file", str(web), "--web.disable-reload")
    base = f"https://127.0.0.1:{d.port}"
    try:
        _wait_up(f"{base}/healthz", _ctx(pki, client=True), d.proc)
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError, OSError)):
            _request(f"{base}/metrics", _ctx(pki))
        status, _ = _request(f"{base}/metrics", _ctx(pki, client=True))
        assert status == 200
        status, text = _request(f"{base}/-/reload", _ctx(pki, client=True), method="POST")
        assert status == 403 and "disabled" in text
    finally:
        err = d.stop()
    assert "Traceback" not in err


@pytest.mark.parametrize("text, message", [
    ("tls_server_config: {cert_file: nope.crt, key_file: nope.key}\n", "cert_file"),
    ("basic_auth_users: {prometheus: hunter2}\n", "not a bcrypt hash"),
    ("colour: red\n", "unknown key"),
])
def test_a_bad_web_config_is_refused_at_start(tmp_path, text, message):
    web = tmp_path / "web.yml"
    web.write_text(text)
    d = Daemon(tmp_path, "--web.config.file", str(web))
    assert d.proc.wait(30) == 2
    err = d.proc.stderr.read()
    assert message in err and "Traceback" not in err and "hunter2" not in err


@pytest.mark.integration
def test_prometheus_scrapes_with_basic_auth_and_tls(tmp_path, pki):
    prometheus = require("/usr/bin/prometheus")
    web = _web_config(tmp_path, pki)
    d = Daemon(tmp_path, "--web.config.file", str(web))
    prom_port = free_port()
    pw_file = tmp_path / "scrape-password"
    pw_file.write_text(PASSWORD)
    (tmp_path / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: cctv-monitor
    scheme: https
    basic_auth: {{username: prometheus, password_file: {pw_file}}}
    tls_config: {{ca_file: {pki / 'ca.crt'}}}
    static_configs: [{{targets: ['127.0.0.1:{d.port}']}}]
""")
    prom = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{prom_port}/api/v1/targets", timeout=5) as r:
                    targets = json.load(r)["data"]["activeTargets"]
                health = targets[0]["health"] if targets else None
                if health == "up":
                    break
            except (urllib.error.URLError, OSError, KeyError, IndexError):
                pass
            time.sleep(0.5)
        assert health == "up", targets
        q = urllib.parse.quote('count(cctv_camera_info{job="cctv-monitor"})')
        with urllib.request.urlopen(
                f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}", timeout=5) as r:
            result = json.load(r)["data"]["result"]
        assert result and float(result[0]["value"][1]) == 2
    finally:
        prom.send_signal(signal.SIGTERM)
        prom.wait(20)
        d.stop()


FLOODERS = 200
FLOOD_SECONDS = 12.0
FLOOD_REQUESTS = 20_000  # in all: bounded in count as in time


def _auth_only_config(d: Path, cost: int = 10, extra: str = "") -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=cost)).decode()
    path = d / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n{extra}")
    return path


async def _flood(port: int, stop_at: float, counts: dict[str, int]) -> None:
    async def client() -> None:
        while time.monotonic() < stop_at and counts["sent"] < FLOOD_REQUESTS:
            counts["sent"] += 1
            # a new wrong password each time: no remembered verdict helps the server
            token = base64.b64encode(f"prometheus:wrong-{counts['sent']}".encode()).decode()
            request = (f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Authorization: Basic {token}\r\n\r\n").encode()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 5)
            except (OSError, asyncio.TimeoutError):
                counts["refused"] += 1
                await asyncio.sleep(0.01)
                continue
            try:
                writer.write(request)
                line = await asyncio.wait_for(reader.readline(), max(0.1, stop_at - time.monotonic()))
                status = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "reset"
                counts[status] = counts.get(status, 0) + 1
            except (OSError, asyncio.TimeoutError, IndexError):
                counts["reset"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(client() for _ in range(FLOODERS)))


def _scraper(url: str, stop: threading.Event, out: list[int | str]) -> None:
    token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    while not stop.is_set():
        req = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                out.append(r.status if b"cctv_camera_up" in r.read() else "empty")
        except urllib.error.HTTPError as exc:
            out.append(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            out.append(type(exc).__name__)
        stop.wait(0.5)


def _prom_up_samples(prom_port: int, since: float, until: float) -> list[float]:
    """The raw `up` samples of the monitor's job between the two wall-clock instants."""
    q = urllib.parse.quote(f'up{{job="cctv-monitor"}}[{int(time.time() - since) + 5}s]')
    with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}",
                                timeout=10) as r:
        result = json.load(r)["data"]["result"]
    if not result:
        return []
    return [float(v) for t, v in result[0]["values"] if since <= float(t) <= until]


@pytest.mark.integration
def test_prometheus_keeps_scraping_through_a_wrong_password_flood(tmp_path):
    prometheus = require("/usr/bin/prometheus")
    web = _auth_only_config(tmp_path)
    d = Daemon(tmp_path, "--web.config.file", str(web))
    base = f"http://127.0.0.1:{d.port}"
    prom_port = free_port()
    pw_file = tmp_path / "scrape-password"
    pw_file.write_text(PASSWORD)
    (tmp_path / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: cctv-monitor
    basic_auth: {{username: prometheus, password_file: {pw_file}}}
    static_configs: [{{targets: ['127.0.0.1:{d.port}']}}]
""")
    prom = None
    try:
        _wait_up(f"{base}/healthz", None, d.proc)
        prom = subprocess.Popen(
            [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Prometheus verified once before the flood (its credentials are then remembered)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _prom_up_samples(prom_port, time.time() - 30, time.time()).count(1.0) >= 2:
                    break
            except (urllib.error.URLError, OSError, KeyError):
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("Prometheus never scraped the monitor")
        assert _request(f"{base}/metrics")[0] == 200

        scrapes: list[int | str] = []
        stop = threading.Event()
        scraper = threading.Thread(target=_scraper, args=(f"{base}/metrics", stop, scrapes))
        counts = {"sent": 0, "refused": 0, "reset": 0}
        flood_from = time.time()
        scraper.start()
        try:
            asyncio.run(_flood(d.port, time.monotonic() + FLOOD_SECONDS, counts))
        finally:
            stop.set()
            scraper.join(10)
        flood_to = time.time()
        time.sleep(2)  # Prometheus's last scrape of the window is stored
        up = _prom_up_samples(prom_port, flood_from + 1, flood_to)
        answered = scrapes.count(200)
        print(f"\nflood: {counts} in {flood_to - flood_from:.1f}s; scraper: {answered} of "
              f"{len(scrapes)} answered; Prometheus: {up.count(1.0)} of {len(up)} scrapes up")
        # the flood was real: hundreds of wrong passwords answered 401 or 429
        assert counts.get("401", 0) + counts.get("429", 0) >= FLOODERS
        # (0.8, not 1: on a loaded machine a scrape may miss its 1 s timeout; before, 0 of 15)
        assert len(scrapes) >= 5 and answered >= 0.8 * len(scrapes), scrapes
        assert len(up) >= 0.5 * (flood_to - flood_from - 1), up
        assert up.count(1.0) >= 0.8 * len(up), up
        # the daemon answers, and stops promptly (no bcrypt comparison holds the shutdown)
        assert _request(f"{base}/metrics")[0] == 200
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(20) == 0
        assert time.monotonic() - t0 < 20
    finally:
        if prom is not None:
            prom.send_signal(signal.SIGTERM)
            prom.wait(20)
        err = d.stop()
    assert "Traceback" not in err and PASSWORD not in err


def _headers(url: str, auth: bool = True) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


@pytest.mark.parametrize("with_auth", [False, True])
def test_security_headers_on_every_page_and_no_version(tmp_path, with_auth):
    extra = ("http_server_config:\n  headers:\n"
             "    Strict-Transport-Security: max-age=31536000\n"
             "    X-Frame-Options: sameorigin\n")
    args = ("--web.config.file", str(_auth_only_config(tmp_path, 4, extra))) if with_auth else ()
    d = Daemon(tmp_path, *args)
    base = f"http://127.0.0.1:{d.port}"
    try:
        _wait_up(f"{base}/healthz", None, d.proc)
        for path in ("/metrics", "/status", "/api/cameras", "/healthz", "/readyz", "/reports",
                     "/no-such-page", "/"):
            for auth in ((True, False) if with_auth else (False,)):
                status, headers = _headers(base + path, auth)
                assert status != 500, path
                csp = headers.get("Content-Security-Policy", "")
                assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
                assert "style-src 'unsafe-inline'" in csp, path
                assert headers.get("X-Content-Type-Options") == "nosniff", path
                assert headers.get("Referrer-Policy") == "no-referrer", path
                assert headers.get("X-Frame-Options") == ("sameorigin" if with_auth else "DENY")
                server = headers.get("Server", "")
                assert server == "cctv-monitor", (path, server)
                if with_auth:
                    assert headers.get("Strict-Transport-Security") == "max-age=31536000"
        # aiohttp's own answer to a malformed request names no version either, and neither
        # it nor a client leaving in the middle of /metrics writes a traceback to the log
        import socket

        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
                s.sendall(raw)
                head = s.recv(200).decode(errors="replace")
            assert head.startswith("HTTP/1."), head
            assert "aiohttp" not in head and "Python" not in head, head
    finally:
        err = d.stop()
    assert "Traceback" not in err


def _cost31() -> str:
    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4)).decode()
    return hashed.replace("$04$", "$31$", 1)


@pytest.mark.parametrize("text, message", [
    (f"basic_auth_users: {{prometheus: '{_cost31()}'}}\n", "bcrypt cost 31 is above 10"),
    ("http_server_config: {headers: {X-Powered-By: me}}\n", "X-Powered-By: not one of"),
    ("http_server_config: {headers: {X-Content-Type-Options: sniff}}\n", "only nosniff"),
    ("rate_limit: {interval: fast, burst: 2}\n", "rate_limit.interval"),
])
def test_web_config_refuses_costly_hashes_and_bad_headers(tmp_path, text, message):
    web = tmp_path / "web.yml"
    web.write_text(text)
    d = Daemon(tmp_path, "--web.config.file", str(web))
    assert d.proc.wait(30) == 2
    err = d.proc.stderr.read()
    assert message in err and "Traceback" not in err


def test_auth_pool_is_not_the_default_executor_and_429s_over_the_cap():
    """bcrypt checks wait on their own pool, capped: beyond `max_waiting` distinct pending
    comparisons a request is refused at once (429) instead of holding a connection; a
    remembered success costs no comparison; an unknown user is compared too (the decoy)."""
    from monitor.web.auth import BasicAuth

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=8))
    auth = BasicAuth({"prometheus": hashed}, max_waiting=2)

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def go() -> list[str]:
        assert await auth.check(basic("prometheus", PASSWORD)) == "ok"
        names_before = {t.name for t in threading.enumerate()}
        assert any(n.startswith("web-auth") for n in names_before)
        verdicts = await asyncio.gather(*(auth.check(basic("prometheus", f"wrong{i}"))
                                          for i in range(6)),
                                        auth.check(basic("prometheus", PASSWORD)))
        # an unknown user costs a comparison like a known one
        unknown = await auth.check(basic("nobody", PASSWORD))
        return [*verdicts, unknown]

    verdicts = asyncio.run(go())
    assert verdicts[:2] == ["failed", "failed"]
    assert verdicts[2:6] == ["busy"] * 4
    assert verdicts[6] == "ok" and verdicts[7] == "failed"
    samples = {s.labels["result"]: s.value for s in auth.total.collect()[0].samples
               if s.name.endswith("_total")}
    assert samples["cached"] == 1 and samples["busy"] == 4 and samples["failed"] == 3
    assert samples["ok"] == 1
    auth.stop()


def test_rate_limit_answers_429_past_the_burst():
    from monitor.web.auth import BasicAuth

    clock = [100.0]
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4))
    auth = BasicAuth({"prometheus": hashed}, rate=(1.0, 2), clock=lambda: clock[0])

    def basic(password: str) -> str:
        return "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()

    async def go() -> list[str]:
        out = [await auth.check(basic(f"w{i}")) for i in range(4)]
        clock[0] += 1.0  # one more token
        out.append(await auth.check(basic("w9")))
        out.append(await auth.check(basic("w0")))  # a remembered verdict needs no token
        return out

    assert asyncio.run(go()) == ["failed", "failed", "rate_limited", "rate_limited", "failed",
                                 "failed"]
    auth.stop()
