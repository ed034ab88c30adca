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
    http_server_config:
      headers:                      # added to (or replacing the defaults of) every answer
        Strict-Transport-Security: max-age=31536000
    rate_limit:                     # optional: bcrypt comparisons answered 429 beyond it
      interval: 1s
      burst: 20

Every endpoint is covered: /metrics, /status, /api/cameras, /healthz, /readyz and
/-/reload.  A hash whose bcrypt cost is above `MAX_BCRYPT_COST` is refused: each check would
burn a core for seconds (cost 31: hours).  How the checks run is `monitor.web.auth`'s.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass, field

import yaml

from ..config.durations import parse_duration
from .auth import bcrypt_cost

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
_TOP = {"tls_server_config", "basic_auth_users", "http_server_config", "rate_limit"}
#: The exporter toolkit's bound: the bcrypt library's default cost.  A cost of 12 is four
#: times its CPU, 31 about two million times (hours per request).
MAX_BCRYPT_COST = 10
#: http_server_config.headers: the names the exporter toolkit accepts, and Referrer-Policy.
_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
            "X-XSS-Protection", "Strict-Transport-Security", "Referrer-Policy")
_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version",
             "max_version", "cipher_suites", "prefer_server_cipher_suites", "curve_preferences"}


class WebConfigError(Exception):
    pass


@dataclass
class WebConfig:
    path: str = ""
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    rate: tuple[float, int] | None = None  # (interval seconds, burst)

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
            cost = bcrypt_cost(hashed.encode())
            if cost is None:
                raise fail(f"basic_auth_users.{user}: not a bcrypt hash ($2y$...)")
            if cost > MAX_BCRYPT_COST:
                raise fail(f"basic_auth_users.{user}: bcrypt cost {cost} is above "
                           f"{MAX_BCRYPT_COST}: each request would take {2 ** (cost - MAX_BCRYPT_COST)} "
                           f"times the CPU of cost {MAX_BCRYPT_COST} (htpasswd -nBC {MAX_BCRYPT_COST})")
            config.users[str(user)] = hashed.encode()
    config.headers = _headers(data.get("http_server_config"), fail)
    config.rate = _rate(data.get("rate_limit"), fail)
    return config


def _headers(section: object, fail) -> dict[str, str]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise fail("http_server_config: expected a mapping")
    unknown = set(section) - {"headers", "http2"}
    if unknown:
        raise fail(f"http_server_config: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if not isinstance(section.get("http2", True), bool):
        raise fail("http_server_config.http2: expected true or false (HTTP/1.1 is served)")
    headers = section.get("headers") or {}
    if not isinstance(headers, dict):
        raise fail("http_server_config.headers: expected a mapping of header name to value")
    known = {h.lower(): h for h in _HEADERS}
    out = {}
    for name, value in headers.items():
        canonical = known.get(str(name).lower())
        if canonical is None:
            raise fail(f"http_server_config.headers.{name}: not one of {', '.join(_HEADERS)}")
        if not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
            raise fail(f"http_server_config.headers.{name}: expected one line of text")
        if canonical == "X-Content-Type-Options" and value.lower() != "nosniff":
            raise fail(f"http_server_config.headers.{name}: only nosniff is valid")
        if canonical == "X-Frame-Options" and value.lower() not in ("deny", "sameorigin"):
            raise fail(f"http_server_config.headers.{name}: deny or sameorigin")
        out[canonical] = value
    return out


def _rate(section: object, fail) -> tuple[float, int] | None:
    if section is None:
        return None
    if not isinstance(section, dict) or set(section) - {"interval", "burst"}:
        raise fail("rate_limit: expected a mapping with interval and burst")
    try:
        interval = parse_duration(section.get("interval", 0))
    except (ValueError, TypeError):
        raise fail("rate_limit.interval: expected a duration such as 1s or 100ms") from None
    burst = section.get("burst", 1)
    if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
        raise fail("rate_limit.burst: expected a whole number of at least 1")
    return (interval, burst) if interval > 0 else None  # 0 turns the limiter off, as there
