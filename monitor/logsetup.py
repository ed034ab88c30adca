"""Logging for the daemon: the format (--log-format text|logfmt|json), the level from
--log-level, and a last line of defence against secrets in log text.

- `text` (the default): one line `ts level logger: message`, for a terminal or journald.
- `logfmt`: `ts=... level=warning logger=cctv.state msg="..." camera=JKT-0001 ...`, for
  Loki (its `| logfmt` parser) and anything else that reads key=value lines.
- `json`: one JSON object a line with the same keys, for Elasticsearch/OpenSearch, Vector,
  Fluent Bit or Loki's `| json`.

The state-change log (logger "cctv.state") is the operator's log; everything else is the
monitor talking about itself.  Its records carry structured fields (`extra=`: event, camera,
provider, district, zone, check, reason, ...; see `monitor.state.statelog`), which logfmt and JSON
emit as keys and the text format leaves in the sentence, as it always was.

URLs in the inventory are already clean (Endpoint.url), but a message may quote text from
elsewhere (an exception, a server's answer, a config value), so `RedactFilter` removes any
``user:password@`` userinfo it finds in the final message, in the string fields and in the
traceback, whatever the format.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import datetime

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S%z"
LOG_FORMATS = ("text", "logfmt", "json")

# scheme://user:password@  (the password part is anything up to the @ that is not a
# separator); the user name is kept, it helps find which credential is wrong
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/@:]*):(?P<pw>[^\s/@]*)@")

# The lower-case level name the structured formats print as `level` (Loki and Elasticsearch
# expect `level=warning`), kept under its own attribute name so it is never taken for an
# `extra=` field.
_LEVEL = "levelname_lower"

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", _LEVEL,
}


def redact(text: str) -> str:
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:xxxxx@", text)


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The `extra=` fields of a record, in the order they were given."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class RedactFilter(logging.Filter):
    """Rewrites a record whose formatted message, string fields or traceback carry URL
    userinfo with a password.  Also gives the record its lower-case level name."""

    def filter(self, record: logging.LogRecord) -> bool:
        setattr(record, _LEVEL, record.levelname.lower())
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format must not lose the record
            return True
        clean = redact(message)
        if clean is not message and clean != message:
            record.msg = clean
            record.args = None
        for key, value in extra_fields(record).items():
            if isinstance(value, str) and "@" in value:
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_text is None:
            # tracebacks render later; render now so the text can be redacted too
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _Structured:
    """What the logfmt and JSON formatters share: the time in RFC 3339 with milliseconds
    and a colon in the offset (what Loki and Elasticsearch's default date parser read), and
    tracebacks printed through `redact` even by formatters that render exc_info themselves
    instead of reusing exc_text."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))  # type: ignore[misc]

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return redact(super().formatStack(stack_info))  # type: ignore[misc]


def _formatter(fmt: str) -> logging.Formatter:
    if fmt == "text":
        return logging.Formatter(FORMAT, DATEFMT)
    if fmt == "logfmt":
        from logfmter import Logfmter

        class LogfmtFormatter(_Structured, Logfmter):
            @classmethod
            def get_extra(cls, record: logging.LogRecord) -> dict:
                extra = super().get_extra(record)
                extra.pop(_LEVEL, None)  # printed once, as `level`, right after ts
                return extra

        return LogfmtFormatter(
            keys=["ts", "level", "logger"],
            mapping={"ts": "asctime", "level": _LEVEL, "logger": "name"},
            datefmt=DATEFMT,
        )
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        class JsonLineFormatter(_Structured, JsonFormatter):
            pass

        return JsonLineFormatter(
            f"%(asctime)s %({_LEVEL})s %(name)s %(message)s",
            rename_fields={"asctime": "ts", _LEVEL: "level", "name": "logger", "message": "msg"},
            datefmt=DATEFMT,
            json_ensure_ascii=False,
        )
    raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(LOG_FORMATS)}")


_HANDLER_NAME = "cctv-monitor"


def setup(level: str = "info", stream=None, fmt: str = "text") -> logging.Handler:
    """Configure the root logger once (idempotent: a second call replaces our handler)."""
    formatter = _formatter(fmt)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    handler.addFilter(RedactFilter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # aiohttp's access log would print one line per scrape
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler
