"""``--web.config.file``: TLS and Basic authentication for every web endpoint, in the format
of the Prometheus exporter toolkit (the file node_exporter and blackbox_exporter read)::

    tls_server_config:
      cert_file: server.crt          # paths relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, default NoClientCert
      client_ca_file: clients-ca.crt                 # needed by the verifying types
      min_version: TLS12                              # optional: TLS12 (default) or TLS13
    basic_auth_users:
      prometheus: $2y$10$...        # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')

Every endpoint is covered: /metrics, /status, /api/cameras, /healthz, /readyz and
/-/reload.  Checking a bcrypt hash costs tens of milliseconds of CPU by design, so it runs
in a worker thread, never on the event loop, and a successful check is remembered (keyed by
a SHA-256 of the credentials, never the password itself) for ``CACHE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import yaml
from aiohttp import web

log = logging.getLogger("cctv.web")

_CLIENT_AUTH = {
    # exporter-toolkit name -> (ssl verify mode, CA file required)
    "NoClientCert": (ssl.CERT_NONE, False),
    "RequestClientCert": (ssl.CERT_OPTIONAL, True),
    "VerifyClientCertIfGiven": (ssl.CERT_OPTIONAL, True),
    # Python's ssl cannot require a certificate without verifying it: "any" verifies too
    "RequireAnyClientCert": (ssl.CERT_REQUIRED, True),
    "RequireAndVerifyClientCert": (ssl.CERT_REQUIRED, True),
}
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_TOP = {"tls_server_config", "basic_auth_users", "http_server_config"}
_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version",
             "max_version", "cipher_suites", "prefer_server_cipher_suites", "curve_preferences"}


class WebConfigError(Exception):
    pass


@dataclass
class WebConfig:
    path: str = ""
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"


def load_web_config(path: str) -> WebConfig:
    """Read and check the file; every problem is a WebConfigError naming the file and key."""
    def fail(message: str) -> WebConfigError:
        return WebConfigError(f"{path}: {message}")

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise fail("expected a mapping at the top")
    unknown = set(data) - _TOP
    if unknown:
        raise fail(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                   f"allowed: {', '.join(sorted(_TOP))}")
    base = os.path.dirname(os.path.abspath(path))
    config = WebConfig(path=path)

    tls = data.get("tls_server_config")
    if tls is not None:
        if not isinstance(tls, dict):
            raise fail("tls_server_config: expected a mapping")
        unknown = set(tls) - _TLS_KEYS
        if unknown:
            raise fail(f"tls_server_config: unknown key(s) {', '.join(sorted(unknown))}")

        def file_of(key: str) -> str:
            value = tls.get(key)
            if not isinstance(value, str) or not value:
                raise fail(f"tls_server_config.{key}: a file name is required")
            full = os.path.join(base, value)
            if not os.path.isfile(full):
                raise fail(f"tls_server_config.{key}: {value} is not a readable file")
            return full

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        version = tls.get("min_version", "TLS12")
        if version not in _TLS_VERSIONS:
            raise fail(f"tls_server_config.min_version: {version!r}, expected TLS12 or TLS13")
        ctx.minimum_version = _TLS_VERSIONS[version]
        try:
            ctx.load_cert_chain(file_of("cert_file"), file_of("key_file"))
        except ssl.SSLError as exc:
            raise fail(f"tls_server_config: certificate and key do not load ({exc.reason})") from None
        auth_type = tls.get("client_auth_type", "NoClientCert")
        if auth_type not in _CLIENT_AUTH:
            raise fail(f"tls_server_config.client_auth_type: {auth_type!r}, expected one of "
                       f"{', '.join(_CLIENT_AUTH)}")
        mode, needs_ca = _CLIENT_AUTH[auth_type]
        if needs_ca or tls.get("client_ca_file"):
            try:
                ctx.load_verify_locations(file_of("client_ca_file"))
            except ssl.SSLError as exc:
                raise fail(f"tls_server_config.client_ca_file: does not load ({exc.reason})") from None
        ctx.verify_mode = mode
        config.ssl_context = ctx

    users = data.get("basic_auth_users")
    if users is not None:
        if not isinstance(users, dict) or not users:
            raise fail("basic_auth_users: expected a mapping of user name to bcrypt hash")
        for user, hashed in users.items():
            if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                # the value is a hash, but say nothing of it: it may be a pasted password
                raise fail(f"basic_auth_users.{user}: not a bcrypt hash ($2y$...)")
            config.users[str(user)] = hashed.encode()
    return config


class BasicAuth:
    """The aiohttp middleware: 401 without valid credentials, for every path."""

    CACHE_SECONDS = 300.0
    CACHE_SIZE = 256

    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = users
        self._ok: dict[bytes, float] = {}  # sha256(user, password, hash) -> until

    def _key(self, user: str, password: str, hashed: bytes) -> bytes:
        return hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed))).digest()

    async def check(self, header: str | None) -> bool:
        if not header or not header[:6].lower() == "basic ":
            return False
        try:
            user, sep, password = base64.b64decode(header[6:].strip(), validate=True) \
                .decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        if not sep:
            return False
        hashed = self.users.get(user)
        if hashed is None:
            return False
        key = self._key(user, password, hashed)
        now = time.monotonic()
        until = self._ok.get(key)
        if until is not None and until > now:
            return True
        import bcrypt

        loop = asyncio.get_running_loop()
        try:
            ok = await loop.run_in_executor(None, bcrypt.checkpw, password.encode(), hashed)
        except ValueError:  # a malformed hash: a configuration problem, never a match
            return False
        if ok:
            if len(self._ok) >= self.CACHE_SIZE:
                self._ok.clear()
            self._ok[key] = now + self.CACHE_SECONDS
        return bool(ok)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if await self.check(request.headers.get("Authorization")):
            return await handler(request)
        return web.Response(status=401, text="unauthorized\n", headers={
            "WWW-Authenticate": 'Basic realm="cctv-monitor", charset="UTF-8"',
            "Cache-Control": "no-store"})
