"""Scalar values: integers, numbers, ratios, durations, locations and URLs (with the
credentials they carry split off and remembered as secrets)."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

from yaml.nodes import Node, SequenceNode

from ..model import Credentials, Endpoint, redact_url, split_credentials
from .durations import parse_duration
from .keys import Key, Section
from .tree import BOOL_WORDS, PLAIN_TAG, Reader, is_null, join_key, kind_of


def show_url(url: str) -> str:
    """The URL fit for an error message: `redact_url` when the URL parses cleanly, else a
    cruder cut that still never shows what sits between the user and the last '@'."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port, which redact_url would not catch
        if "@" in parts.netloc and "@" not in parts.path + parts.query + parts.fragment:
            return redact_url(url)
    except ValueError:
        pass
    head, _, tail = url.rpartition("@")
    scheme, sep, userinfo = head.rpartition("://")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":xxxxx"
    return f"{scheme}{sep}{userinfo}@{tail}"


def _url_secrets(url: str, password: str | None) -> list[str]:
    """Whatever may be a password in `url`: urlsplit's idea and the cruder one of
    `show_url`, raw and percent-decoded, so that the scrubber knows them all."""
    head = url.rpartition("@")[0]
    userinfo = head.rpartition("://")[2]
    out = []
    if ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        out += (raw, unquote(raw))
    if password and password not in out:
        out += (password, unquote(password))
    return out


def split_fast(value: str, creds: Credentials | None,
                schemes: tuple[str, ...]) -> tuple[Endpoint, tuple[str, ...]] | None:
    """`split_credentials` for the common shape ``scheme://[user[:pass]@]host[:port][/path]``
    with a valid scheme, lower-case host and canonical port, in a fraction of its time
    (urlsplit, urlunsplit and the host/port properties cost ~15 us a URL, seconds at 100k
    cameras).  Returns (endpoint, secrets), or None for anything else, which then takes the
    slow, general path.  tests/test_config.py checks it agrees with `split_credentials`."""
    scheme, sep, rest = value.partition("://")
    if (not sep or scheme not in schemes or "?" in rest or "#" in rest or "[" in rest
            or "]" in rest or "\\" in rest or not value.isascii() or not value.isprintable()
            or " " in value):
        return None
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    if not host or host != host.lower() or "%" in host:
        return None
    if colon and (not port.isdigit() or port[0] == "0" or int(port) > 65535):
        return None
    if not at:
        return Endpoint(value, creds), ()
    user, _, password = userinfo.partition(":")
    clean = f"{scheme}://{hostport}{slash}{path}"
    plain = unquote(password)
    return Endpoint(clean, Credentials(unquote(user), plain)), (password, plain)


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Values(Reader):
    """Typed scalar readers: each reports its own errors and returns None on one."""

    def integer(self, node: Node, path: str, lo: int, hi: int | None = None) -> int | None:
        value = self.text(node, path, "an integer")
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            self.err(node, path, f"expected an integer, got {value!r}")
            return None
        if number < lo or (hi is not None and number > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.err(node, path, f"must be {bound}, got {number}")
            return None
        return number

    def number(self, node: Node, path: str, what: str = "a number") -> float | None:
        value = self.text(node, path, what)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or value.strip().lower() in BOOL_WORDS:
            self.err(node, path, f"expected {what}, got {value!r}")
            return None
        return number

    def duration(self, node: Node, path: str, allow_zero: bool = False) -> float | None:
        value = self.text(node, path, "a duration")
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.err(node, path, str(exc))
            return None
        if seconds == 0 and not allow_zero:
            self.err(node, path, "must be greater than 0")
            return None
        return seconds

    def url(self, node: Node, path: str, schemes: tuple[str, ...],
            creds: Credentials | None = None) -> Endpoint | None:
        value = self.required_text(node, path)
        if value is None:
            return None
        fast = split_fast(value, creds, schemes)
        if fast is not None:
            if fast[1]:
                self.secrets.update(fast[1])
            return fast[0]
        try:
            parts = urlsplit(value)
            host = parts.hostname
            parts.port  # noqa: B018 - validates the port
        except ValueError as exc:
            if "@" in value:
                self.secrets.update(_url_secrets(value, None))
            self.err(node, path, f"invalid URL {show_url(value)}: {exc}")
            return None
        userinfo = "@" in parts.netloc
        if "@" in value:
            self.secrets.update(_url_secrets(value, parts.password))
        scheme = parts.scheme.lower()
        if scheme not in schemes:
            want = " or ".join(f"{s}://" for s in schemes)
            self.err(node, path, f"{show_url(value)}: the URL must start with {want}")
            return None
        if not host:
            self.err(node, path, f"{show_url(value)}: the URL has no host")
            return None
        if not userinfo:  # what split_credentials returns for a URL without userinfo
            return Endpoint(value, creds)
        return split_credentials(value, creds)


    def scalar(self, key: Key, node: Node, path: str) -> Any:
        """The value of `node` read as `key` declares it (type and bounds), or None."""
        kind = key.type
        if kind == "duration":
            return self.duration(node, path, key.zero)
        if kind == "integer":
            return self.integer(node, path, int(key.lo or 0),
                                None if key.hi is None else int(key.hi))
        if kind == "ratio":
            return self._ratio(node, path)
        if kind == "number":
            return self.number(node, path)
        if kind == "name":
            return self.required_text(node, path)
        if kind == "text":
            return self.text(node, path)
        if kind == "date":
            return self.date(node, path)
        raise AssertionError(f"{key.name}: {kind} is not a scalar")

    def scalars(self, f: dict[str, tuple[Node, Node]], section: Section,
                names: Iterable[str] | None = None, path: str | None = None) -> dict[str, Any]:
        """The scalar keys of `section` (or those named) read from fields `f`, each its
        default when left out, null or wrong (the error is reported)."""
        out = {}
        for key in section.keys if names is None else map(section.by_name.__getitem__, names):
            if key.section is not None:
                continue
            pair = f.get(key.name)
            value = None
            if pair is not None and not is_null(pair[1]):
                value = self.scalar(key, pair[1], join_key(path or section.path, key.name))
            out[key.name] = key.default if value is None else value
        return out

    def date(self, node: Node, path: str) -> dt.date | None:
        value = self.text(node, path, "a date")
        if value is None:
            return None
        try:
            if not _DATE_RE.fullmatch(value):
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            self.err(node, path, f"expected a date YYYY-MM-DD, got {value!r}")
            return None

    def _ratio(self, node: Node, path: str) -> float | None:
        value = self.number(node, path)
        if value is not None and not 0 <= value <= 1:
            self.err(node, path, f"must be between 0 and 1, got {value:g}")
            return None
        return value

    def location(self, node: Node, path: str) -> tuple[float, float] | None:
        if node.__class__ is SequenceNode and len(node.value) == 2:
            first, second = node.value
            if first.tag is PLAIN_TAG and second.tag is PLAIN_TAG:
                try:
                    lat, lon = float(first.value), float(second.value)
                except ValueError:
                    pass
                else:
                    if -90 <= lat <= 90 and -180 <= lon <= 180:  # also False for NaN
                        return (lat, lon)
        if node.__class__ is not SequenceNode or len(node.value) != 2:
            got = f"{len(node.value)} values" if node.__class__ is SequenceNode else kind_of(node)
            self.err(node, path, f"expected [latitude, longitude], got {got}")
            return None
        lat = self.number(node.value[0], f"{path}[0]", "a latitude")
        lon = self.number(node.value[1], f"{path}[1]", "a longitude")
        if lat is not None and not -90 <= lat <= 90:
            self.err(node.value[0], f"{path}[0]",
                     f"latitude must be between -90 and 90, got {lat:g}")
            return None
        if lon is not None and not -180 <= lon <= 180:
            self.err(node.value[1], f"{path}[1]",
                     f"longitude must be between -180 and 180, got {lon:g}")
            return None
        if lat is None or lon is None:
            return None
        return (lat, lon)
