"""Logging for the daemon: one format (`ts level logger: message`), the level from
--log-level, and a last line of defence against secrets in log text.

The state-change log (logger "cctv.state") is the operator's log; everything else is the
monitor talking about itself.  URLs in the inventory are already clean (Endpoint.url), but a
message may quote text from elsewhere (an exception, a server's answer, a config value), so
`RedactFilter` removes any ``user:password@`` userinfo it finds in the final message.
"""

from __future__ import annotations

import logging
import re
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S%z"

# scheme://user:password@  (the password part is anything up to the @ that is not a
# separator); the user name is kept, it helps find which credential is wrong
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/@:]*):(?P<pw>[^\s/@]*)@")


def redact(text: str) -> str:
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:xxxxx@", text)


class RedactFilter(logging.Filter):
    """Rewrites a record whose formatted message carries URL userinfo with a password."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format must not lose the record
            return True
        clean = redact(message)
        if clean is not message and clean != message:
            record.msg = clean
            record.args = None
        if record.exc_info and record.exc_text is None:
            # tracebacks render later; render now so the text can be redacted too
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_HANDLER_NAME = "cctv-monitor"


def setup(level: str = "info", stream=None) -> logging.Handler:
    """Configure the root logger once (idempotent: a second call replaces our handler)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
    handler.addFilter(RedactFilter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # aiohttp's access log would print one line per scrape
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler
