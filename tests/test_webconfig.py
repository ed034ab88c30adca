"""--web.config.file: TLS (with and without client certificates) and bcrypt Basic auth on
every endpoint of the real daemon, a real Prometheus scraping it with basic_auth and
tls_config, reloads refused cross-origin or when disabled, and bad files refused at start."""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import sys
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
