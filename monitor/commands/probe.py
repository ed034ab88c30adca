"""`cctv-monitor probe URL`: one probe, printed for a person troubleshooting a camera.

It runs exactly the probe code the daemon runs (same deadline wrapper, same reasons), so
what an operator sees here is what the daemon saw.  Credentials come from the URL, or
--user with --password-file / $CCTV_PASSWORD, and are never printed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import uvloop

from ..checks import JUDGES, PROBE_COMMAND, judge
from ..model import Credentials, Detail, MonitorSettings, Result, redact_url, split_credentials

#: URL scheme -> the check run when --check is not given (from the catalogue)
_DEFAULT_CHECK = {scheme: c.name for c in PROBE_COMMAND.values() for scheme in c.cli_default}
_SCHEMES = ", ".join(dict.fromkeys(s for c in PROBE_COMMAND.values() for s in sorted(c.cli_default)))


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def format_result(check: str, url: str, result: Result, verbose: bool) -> str:
    lines = [f"{check} {url}"]
    if verbose and result.trace:
        lines += [f"  {line}" for line in result.trace]
    phases = ", ".join(
        f"{name.replace('_', ' ')} {_ms(value)}"
        for name, value in result.phases.items()
        if name != "total"
    )
    verdict = "OK" if result.ok else "FAILED"
    line = f"{verdict}: {result.reason.value} in {_ms(result.duration)}"
    if phases:
        line += f" ({phases})"
    lines.append(line)
    if result.message and not result.ok:
        lines.append(f"  {result.message}")
    d = result.detail
    facts = []
    if d.get(Detail.CODEC):
        w, h = d.get(Detail.WIDTH), d.get(Detail.HEIGHT)
        size = f" {w}x{h}" if w and h else ""
        facts.append(f"video {d[Detail.CODEC]}{size}")
    if d.get(Detail.AUTH):
        facts.append(f"auth {d[Detail.AUTH]}")
    if Detail.STATUS in d:
        facts.append(f"status {d[Detail.STATUS]}")
    if d.get(Detail.CONTENT_TYPE):
        facts.append(f"{d[Detail.CONTENT_TYPE]}, {d.get(Detail.BYTES, '?')} bytes")
    if Detail.PACKETS in d:
        facts.append(f"{d[Detail.PACKETS]} RTP packets over {d.get(Detail.TRANSPORT, 'tcp')}")
    if d.get(Detail.FPS) is not None:
        facts.append(f"{d[Detail.FPS]:.1f} fps")
    if d.get(Detail.BYTES_PER_SECOND) is not None:
        facts.append(f"{d[Detail.BYTES_PER_SECOND] * 8 / 1000:.0f} kbit/s")
    if d.get(Detail.KEYFRAME_INTERVAL) is not None:
        facts.append(f"keyframe every {d[Detail.KEYFRAME_INTERVAL]:.2f} s")
    if d.get(Detail.KEYFRAMES_DECODED):
        facts.append(f"{d[Detail.KEYFRAMES_DECODED]} keyframes decoded")
    if d.get(Detail.LUMINANCE) is not None:
        facts.append(f"luminance {d[Detail.LUMINANCE]:.2f}")
    if d.get(Detail.UNIFORM) is not None:
        facts.append(f"{d[Detail.UNIFORM]:.0%} one colour")
    if d.get(Detail.CLOCK_OFFSET) is not None:
        facts.append(f"camera clock {d[Detail.CLOCK_OFFSET]:+.1f} s (Date header, 1 s resolution)")
    if facts:
        lines.append("  " + "; ".join(facts))
    return "\n".join(lines)


async def probe_once(check: str, url: str, creds: Credentials | None, timeout: float,
                     duration: float, verbose: bool) -> Result:
    from ..probes import run_probe

    endpoint = split_credentials(url, creds)
    if check == "tcp" and endpoint.scheme != "tcp":
        # `probe rtsp://cam --check tcp` connects to the RTSP port.
        endpoint = type(endpoint)(f"tcp://{endpoint.host}:{endpoint.port}", None)
    result = await run_probe(PROBE_COMMAND[check].probe, endpoint, timeout,
                             trace=[] if verbose else None, stream_duration=duration)
    # the checks that judge this answer (http: the snapshot analysis), as the daemon runs
    # them, with a fresh memory: one picture is never frozen (frozen_after counts fetches);
    # the keyframe decode threads are this probe's and end with it
    from ..probes.picture import DecodePool

    with DecodePool() as pool:
        steps = {"picture": pool.post_step}
        for judging in JUDGES.get(check, ()):
            verdict = await judge(judging, result, {}, MonitorSettings(), steps.get(judging.name))
            if verdict is None:
                continue
            for key in ("luminance", "uniform", "keyframes_decoded"):
                if verdict.detail.get(key) is not None:
                    result.detail[key] = verdict.detail[key]
            if not verdict.ok:
                result.reason, result.message = verdict.reason, verdict.message
    result.body = None
    result.keyframes = None
    return result


def _url_problem(url: str) -> str | None:
    """Why `url` cannot be probed at all (a usage error), or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if not parts.hostname:
        return "the URL has no host"
    return None


def _scrub_argv(url: str) -> None:
    """A password in the URL is in this process's command line, which every local user can
    read (ps, /proc/PID/cmdline) while the probe runs.  Overwrite the visible command line
    with the redacted URL (setproctitle rewrites the argv memory the kernel shows; rewriting
    sys.argv would change nothing outside Python), and say so: the command line was visible
    until now, and stays in shell history."""
    try:
        if _password_of(url) is None:
            return
    except ValueError:
        return
    try:
        import setproctitle

        setproctitle.setproctitle(" ".join(
            redact_url(a) if a == url else a for a in ["cctv-monitor", *sys.argv[1:]]))
    except ImportError:  # pragma: no cover - a dependency; the warning below still holds
        pass
    print("cctv-monitor probe: note: a password in the URL is visible to other local users "
          "(ps) and kept in shell history; prefer --user with --password-file or "
          "$CCTV_PASSWORD", file=sys.stderr)


def _password_of(url: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).password


def main(args) -> int:
    url: str = args.url
    _scrub_argv(url)
    problem = _url_problem(url)
    if problem is not None:
        print(f"cctv-monitor probe: {problem}: {redact_url(url)!s}", file=sys.stderr)
        print("usage: cctv-monitor probe [--check CHECK] URL  (e.g. rtsp://192.0.2.10:554/stream1)",
              file=sys.stderr)
        return 2
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    check = args.check or _DEFAULT_CHECK.get(scheme)
    if check is None or scheme not in PROBE_COMMAND[check].schemes:
        print(f"cctv-monitor probe: cannot run a {check or '?'} check on "
              f"{redact_url(url)!s} (schemes: {_SCHEMES})", file=sys.stderr)
        return 2
    creds = None
    if args.user:
        password = os.environ.get("CCTV_PASSWORD", "")
        if args.password_file:
            try:
                password = Path(args.password_file).read_text().rstrip("\r\n")
            except OSError as exc:
                print(f"cctv-monitor probe: cannot read password file: {exc.strerror}", file=sys.stderr)
                return 2
        creds = Credentials(args.user, password)
    duration = args.duration
    defaults = MonitorSettings(timeout=5.0)
    timeout = args.timeout or PROBE_COMMAND[check].timeout(
        dataclasses.replace(defaults, stream=dataclasses.replace(defaults.stream, duration=duration)))
    result = uvloop.run(probe_once(check, url, creds, timeout, duration, args.verbose))
    shown = split_credentials(url).url
    print(format_result(check, shown, result, args.verbose))
    return 0 if result.ok else 1
