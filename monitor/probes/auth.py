"""HTTP-style authentication shared by the RTSP and HTTP probes: Basic and Digest.

Digest follows RFC 7616 (and RFC 2617 / RFC 2069 for old cameras): MD5, MD5-sess, SHA-256
and SHA-256-sess, ``qop=auth`` or no qop.  Cameras answer a 401 with one or more
challenges; we pick the strongest we can answer (Digest SHA-256 > Digest MD5 > Basic).

Nothing here ever formats the password into text other than the Authorization header.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field

from ..model import Credentials

_HASHES = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-512-256": lambda data=b"": hashlib.new("sha512_256", data),
}
_STRENGTH = {"SHA-512-256": 3, "SHA-256": 2, "MD5": 1}



@dataclass(slots=True)
class Challenge:
    scheme: str  # "basic" | "digest" | other, lower case
    params: dict[str, str] = field(default_factory=dict)

    @property
    def algorithm(self) -> str:
        return self.params.get("algorithm", "MD5").upper()

    @property
    def stale(self) -> bool:
        return self.params.get("stale", "").lower() == "true"


_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([^\s,="]+)|(=)|(,))')


def parse_challenges(values: list[str]) -> list[Challenge]:
    """Parse WWW-Authenticate header values; unknown or malformed parts are skipped.

    One header may hold several challenges (``Digest realm="a", nonce="b", Basic realm="a"``).
    """
    out: list[Challenge] = []
    for value in values:
        tokens: list[tuple[str, str]] = []  # (kind, text): kind in "q", "t", "=", ","
        pos = 0
        while pos < len(value):
            m = _TOKEN.match(value, pos)
            if not m or m.end() == pos:
                break
            pos = m.end()
            if m.group(1) is not None:
                tokens.append(("q", re.sub(r"\\(.)", r"\1", m.group(1)[1:-1])))
            elif m.group(2) is not None:
                tokens.append(("t", m.group(2)))
            elif m.group(3) is not None:
                tokens.append(("=", "="))
            else:
                tokens.append((",", ","))
        current: Challenge | None = None
        i = 0
        while i < len(tokens):
            kind, text = tokens[i]
            if kind == "t" and i + 1 < len(tokens) and tokens[i + 1][0] == "=":
                if current is not None and i + 2 < len(tokens) and tokens[i + 2][0] in "qt":
                    current.params[text.lower()] = tokens[i + 2][1]
                    i += 3
                    continue
                i += 2  # "key=" with no value, or a param before any scheme: skip
                continue
            if kind == "t":
                current = Challenge(text.lower())
                out.append(current)
            i += 1
    return out


def best_challenge(challenges: list[Challenge]) -> Challenge | None:
    digests = [c for c in challenges if c.scheme == "digest" and c.algorithm.removesuffix("-SESS") in _HASHES]
    if digests:
        return max(digests, key=lambda c: _STRENGTH[c.algorithm.removesuffix("-SESS")])
    for c in challenges:
        if c.scheme == "basic":
            return c
    return None


def basic_header(creds: Credentials) -> str:
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


class DigestSession:
    """Answers one Digest challenge, counting nonces so that a connection can reuse it."""

    def __init__(self, challenge: Challenge, creds: Credentials) -> None:
        self.challenge = challenge
        self.creds = creds
        self.nc = 0
        alg = challenge.algorithm
        self.sess = alg.endswith("-SESS")
        self.hash = _HASHES[alg.removesuffix("-SESS")]
        qops = [q.strip() for q in challenge.params.get("qop", "").split(",") if q.strip()]
        self.qop = "auth" if "auth" in qops else None
        self.cnonce = os.urandom(8).hex()

    def _h(self, text: str) -> str:
        return self.hash(text.encode("utf-8")).hexdigest()

    def header(self, method: str, uri: str) -> str:
        p = self.challenge.params
        realm = p.get("realm", "")
        nonce = p.get("nonce", "")
        self.nc += 1
        nc = f"{self.nc:08x}"
        ha1 = self._h(f"{self.creds.username}:{realm}:{self.creds.password}")
        if self.sess:
            ha1 = self._h(f"{ha1}:{nonce}:{self.cnonce}")
        ha2 = self._h(f"{method}:{uri}")
        if self.qop:
            response = self._h(f"{ha1}:{nonce}:{nc}:{self.cnonce}:{self.qop}:{ha2}")
        else:
            response = self._h(f"{ha1}:{nonce}:{ha2}")
        parts = [
            f'username="{_quote(self.creds.username)}"',
            f'realm="{_quote(realm)}"',
            f'nonce="{_quote(nonce)}"',
            f'uri="{_quote(uri)}"',
            f'response="{response}"',
        ]
        if "algorithm" in p:
            parts.append(f"algorithm={p['algorithm']}")
        if "opaque" in p:
            parts.append(f'opaque="{_quote(p["opaque"])}"')
        if self.qop:
            parts += [f"qop={self.qop}", f"nc={nc}", f'cnonce="{self.cnonce}"']
        return "Digest " + ", ".join(parts)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class Authenticator:
    """Per-connection auth state: ``header(method, uri)`` gives the Authorization value to
    send (or None), ``challenge(values)`` takes a 401's WWW-Authenticate values and says
    whether a (new) attempt is worth making.

    The policy every probe follows:
    - no credentials and a 401: ``auth_required``;
    - credentials, first 401: answer the challenge and retry once;
    - a second 401 whose Digest challenge says ``stale=true``: answer the fresh nonce once
      more (the password was right, the nonce expired);
    - any other second 401: ``auth_failed``.
    """

    def __init__(self, creds: Credentials | None) -> None:
        self.creds = creds
        self.scheme: str | None = None  # "basic" | "digest" once chosen
        self._digest: DigestSession | None = None
        self._attempts = 0
        self._stale_retries = 0

    def header(self, method: str, uri: str) -> str | None:
        if self.creds is None or self.scheme is None:
            return None
        if self.scheme == "basic":
            return basic_header(self.creds)
        assert self._digest is not None
        return self._digest.header(method, uri)

    def challenge(self, values: list[str]) -> bool:
        """True if the request should be sent again with new credentials."""
        if self.creds is None:
            return False
        chosen = best_challenge(parse_challenges(values))
        if chosen is None:
            return False
        if self._attempts >= 1:
            if not (chosen.scheme == "digest" and chosen.stale and self._stale_retries < 1):
                return False
            self._stale_retries += 1
        self._attempts += 1
        self.scheme = chosen.scheme
        self._digest = DigestSession(chosen, self.creds) if chosen.scheme == "digest" else None
        return True

    @property
    def tried(self) -> bool:
        return self._attempts > 0

    def describe(self) -> str:
        """For probe -v: which scheme was used, never the secret."""
        if self.scheme == "digest" and self._digest is not None:
            return f"Digest {self._digest.challenge.algorithm} qop={self._digest.qop or 'none'}"
        if self.scheme == "basic":
            return "Basic"
        return "none"
