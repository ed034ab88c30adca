"""`cctv-monitor` (also `python -m monitor`): the command line (README.md, "Command line").

Each subcommand's implementation lives in its own module and is imported only when that
subcommand runs, so `check` stays quick and a broken optional module cannot break the others.
Exit codes: 0 success, 1 a probe/check failed, 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "logfmt", "json")  # monitor.logsetup.LOG_FORMATS, not imported: keep --help quick


def _listen(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def _shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return int(k), int(n)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


class _VersionAction(argparse.Action):
    """--version, like every Prometheus component; the text is built only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..version import version_text

        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctv-monitor",
        description="Health monitor for city CCTV networks: cameras, video streams, "
        "pictures and the links to the police command centre.",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def log_format(p: argparse.ArgumentParser) -> None:
        # the daemons' logs are the ones shipped to Loki or Elasticsearch
        p.add_argument("--log-format", default="text", choices=LOG_FORMATS,
                       help="text (default), logfmt (Loki) or json (Elasticsearch): "
                       "state changes carry camera, provider, district, check and reason "
                       "as fields")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--log-level", default="info", choices=LOG_LEVELS)

    p = sub.add_parser("run", help="the daemon: probe every camera and link, serve /metrics")
    p.add_argument("-c", "--config", required=True, metavar="FILE")
    p.add_argument("--listen", default="127.0.0.1:9877", type=_listen, metavar="HOST:PORT")
    p.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                   help="probe only shard K of N (rendezvous hashing of camera ids)")
    p.add_argument("--web.config.file", dest="web_config_file", default=None, metavar="FILE",
                   help="TLS and Basic auth for every endpoint (Prometheus exporter-toolkit "
                   "format)")
    p.add_argument("--web.disable-reload", dest="web_disable_reload", action="store_true",
                   help="refuse POST /-/reload (SIGHUP still reloads)")
    p.add_argument("--web.max-connections", dest="web_max_connections", type=int,
                   default=128, metavar="N",
                   help="open web connections at most (counted in the descriptor budget)")
    p.add_argument("--ledger", default=None, metavar="PATH|DSN",
                   help="the outage ledger: a SQLite file or a postgresql:// DSN; wins over "
                   "the configuration's history: (for a read-only configuration directory); a DSN's "
                   "password belongs in $PGPASSWORD or ~/.pgpass, not on the command line")
    p.add_argument("--ledger-new", dest="ledger_new", action="store_true",
                   help="begin a new, empty ledger even where the ledger's marker says one "
                   "existed (it was deleted or the database dropped: otherwise the start is refused)")
    p.add_argument("--ledger-spool", dest="ledger_spool", default=None, metavar="DIR",
                   help="where the ledger's spool (rows a stop could not commit) and marker "
                   "live; default: the SQLite file's directory, or the configuration's for a DSN")
    common(p)
    log_format(p)

    p = sub.add_parser("check", help="validate a configuration (exit 0 valid, 2 invalid)")
    p.add_argument("-c", "--config", required=True, metavar="FILE")
    common(p)

    p = sub.add_parser("probe", help="probe one endpoint once, like curl for cameras")
    p.add_argument("url")
    from ..checks import PROBE_COMMAND

    p.add_argument("--check", choices=tuple(PROBE_COMMAND), default=None,
                   help="default: from the URL scheme (" + ", ".join(
                       f"{min(c.cli_default)} -> {c.name}" for c in PROBE_COMMAND.values()
                       if c.cli_default) + "; http also analyses the picture)")
    p.add_argument("-v", "--verbose", action="store_true", help="show every exchange")
    p.add_argument("--timeout", type=_positive, default=None,
                   help="deadline in seconds (default 5, stream: duration + 5)")
    p.add_argument("--duration", type=_positive, default=4.0, help="stream check: seconds of media")
    p.add_argument("--user", default=None, help="username (the password comes from --password-file or $CCTV_PASSWORD)")
    p.add_argument("--password-file", default=None, metavar="FILE")
    common(p)

    p = sub.add_parser("simulate", help="serve a simulated camera fleet on loopback")
    p.add_argument("--cameras", type=int, default=3517)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--faults", default=None, metavar="MIX",
                   help="fault shares, e.g. down=0.03,tarpit=0.01 (default: a realistic mix)")
    p.add_argument("--write-config", default=None, metavar="FILE",
                   help="write the matching monitor configuration here")
    p.add_argument("--control", default="127.0.0.1:9880", type=_listen, metavar="HOST:PORT")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: automatic)")
    common(p)

    p = sub.add_parser("demo", help="simulated fleet + monitor in one command")
    p.add_argument("--duration", type=_positive, default=None, help="stop after S seconds")
    p.add_argument("--listen", default="127.0.0.1:9877", type=_listen, metavar="HOST:PORT")
    p.add_argument("--cameras", type=int, default=3517)
    p.add_argument("--seed", type=int, default=1)
    common(p)
    log_format(p)

    from ..report import add_arguments as report_arguments

    p = sub.add_parser("report", help="a provider report from the outage ledger "
                       "(report.html, report.pdf, providers.csv, outages.csv)")
    report_arguments(p)

    # declared here, not in monitor.history.verify: importing the ledger package costs --help
    p = sub.add_parser("ledger", help="the outage ledger's tamper evidence (ledger verify)")
    actions = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    v = actions.add_parser("verify", help="check the hash chains: name the first row edited, "
                           "inserted or deleted (exit 0 intact, 1 not)")
    v.add_argument("-c", "--config", metavar="FILE", help="the configuration naming history:")
    v.add_argument("--ledger", metavar="PATH|DSN", help="this ledger instead of the configuration's")

    from .importer import add_arguments as import_arguments

    p = sub.add_parser("import", help="a provider's inventory spreadsheet (CSV or XLSX) to "
                       "inventory YAML, every bad row named")
    import_arguments(p)

    from .disputes import add_arguments as disputes_arguments

    p = sub.add_parser("disputes", help="providers' disputes of outages: list, show, decide")
    disputes_arguments(p)
    return parser


_ENTRY = {
    "report": ("monitor.report", "main"),
    "import": ("monitor.commands.importer", "main"),
    "ledger": ("monitor.history.verify", "main"),
    "run": ("monitor.runtime.daemon", "main"),
    "check": ("monitor.config", "check_main"),
    "probe": ("monitor.commands.probe", "main"),
    "simulate": ("monitor.simulator.server", "main"),
    "demo": ("monitor.commands.demo", "main"),
    "disputes": ("monitor.commands.disputes", "main"),
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, func = _ENTRY[args.command]
    entry = getattr(importlib.import_module(module), func)
    try:
        if args.command == "check":
            return int(entry(args.config))
        return int(entry(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cctv-monitor probe ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
