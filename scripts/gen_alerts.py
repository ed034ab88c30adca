#!/usr/bin/env python3
"""Points every alert's `runbook_url` in config/alerts.yml at where your runbooks live.

    python3 scripts/gen_alerts.py --runbook-base https://wiki.example.org/cctv/runbooks/
    python3 scripts/gen_alerts.py --runbook-base 'https://wiki.example.org/display/CCTV/{alert}'
    python3 scripts/gen_alerts.py --runbook-base URL --out /etc/prometheus/cctv-alerts.yml
    python3 scripts/gen_alerts.py --check        # exit 1 if the file is not what it generates

config/alerts.yml stays the file you edit by hand (expressions, thresholds, text); this
rewrites only its `runbook_url:` lines and the `# runbook base:` line that records the base,
so the rest of the file (comments, layout) is untouched and a regenerated file differs from
the committed one in those lines only.  The URL of an alert is the base followed by
`<AlertName>.md` (docs/runbooks/ holds one Markdown file per alert name), or, when the base
contains `{alert}`, the base with the alert name in its place (a wiki page per alert).
Without --runbook-base the base recorded in the file is kept.

Standard library only, so that it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "config" / "alerts.yml"
#: What an unmodified checkout points at: the runbooks in the project's repository.
DEFAULT_BASE = "https://github.com/cctv-monitor/cctv-monitor/blob/main/docs/runbooks/"

_BASE_LINE = re.compile(r"^# runbook base: (?P<base>\S+)$", re.M)
_ALERT = re.compile(r"^\s*- alert:\s*(?P<name>\w+)\s*$")
_RUNBOOK = re.compile(r"^(?P<indent>\s*runbook_url:\s*)(?P<url>\S+)\s*$")


class Error(Exception):
    pass


def runbook_url(base: str, alert: str) -> str:
    if "{alert}" in base:
        return base.replace("{alert}", alert)
    return f"{base}{alert}.md"


def check_base(base: str) -> str:
    parts = urlsplit(base.replace("{alert}", "x"))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise Error(f"--runbook-base must be an http(s) URL, got {base!r}")
    if "@" in parts.netloc:
        raise Error("--runbook-base must not carry credentials: alerts are shown to everyone")
    if any(c.isspace() or c in "\"'" for c in base):
        raise Error(f"--runbook-base must not contain spaces or quotes, got {base!r}")
    if "{alert}" not in base and not base.endswith("/"):
        base += "/"
    return base


def recorded_base(text: str) -> str:
    m = _BASE_LINE.search(text)
    if m is None:
        raise Error("no '# runbook base: URL' line in the alerts file")
    return m.group("base")


def generate(text: str, base: str) -> str:
    """The alerts file `text` with every runbook_url (and the recorded base) from `base`."""
    base = check_base(base)
    text = _BASE_LINE.sub(lambda m: f"# runbook base: {base}", text, count=1)
    out: list[str] = []
    alert: str | None = None
    seen: set[str] = set()
    for line in text.splitlines(keepends=True):
        if m := _ALERT.match(line):
            alert = m.group("name")
        elif m := _RUNBOOK.match(line):
            if alert is None:
                raise Error(f"runbook_url before any alert: {line.strip()}")
            end = "\n" if line.endswith("\n") else ""
            line = f"{m.group('indent')}{runbook_url(base, alert)}{end}"
            seen.add(alert)
            alert = None  # one runbook_url per rule
        out.append(line)
    names = {m.group("name") for line in text.splitlines() if (m := _ALERT.match(line))}
    if names - seen:
        raise Error(f"alerts without a runbook_url line: {', '.join(sorted(names - seen))}")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gen_alerts.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--runbook-base", default=None, metavar="URL",
                   help="where docs/runbooks/ is published (default: the base recorded in the file)")
    p.add_argument("--alerts", type=Path, default=ALERTS, help="the alert rules to read")
    p.add_argument("--out", type=Path, default=None, help="write here (default: in place)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 when the file differs from what would be written")
    args = p.parse_args(argv)
    try:
        text = args.alerts.read_text()
        new = generate(text, args.runbook_base or recorded_base(text))
    except (Error, OSError) as exc:
        print(f"gen_alerts: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"gen_alerts: {args.alerts} is not what it generates: run scripts/gen_alerts.py",
                  file=sys.stderr)
            return 1
        return 0
    out = args.out or args.alerts
    if not out.exists() or out.read_text() != new:
        out.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
