"""``pitwatch run``, ``pitwatch check-config``: argument parsing, start-up and shutdown.

Anything a user can get wrong ends here as one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from pitwatch import __version__
from pitwatch.config import Config, ConfigError, default_config, load_config
from pitwatch.logsetup import LEVELS, setup_logging
from pitwatch.sharding import Shard, parse_shard
from pitwatch.usage import DEFAULT_LISTEN, UsageError, parse_listen

log = logging.getLogger("pitwatch")

SHUTDOWN_SECONDS = 3.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pitwatch",
        description="Prometheus exporter for online gaming platforms.",
    )
    parser.add_argument("--version", action="version", version=f"pitwatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the exporter")
    run.add_argument("--config", type=Path, help="config file (default: built-in host-only config)")
    run.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN})"
    )
    run.add_argument("--log-level", default="info", choices=LEVELS)
    run.add_argument("--log-format", default="text", choices=("text", "json"))
    run.add_argument(
        "--no-schedule",
        action="store_true",
        default=os.environ.get("PITWATCH_NO_SCHEDULE", "") not in ("", "0", "false"),
        help="probe only when /probe asks (Prometheus drives the probes, blackbox style): no "
        "own schedule; default $PITWATCH_NO_SCHEDULE",
    )
    run.add_argument(
        "--shard",
        default=os.environ.get("PITWATCH_SHARD"),
        help="I/N: probe only this replica's share of the targets (0-based I), or auto/N to take "
        "I from the host name's -<ordinal> suffix; default $PITWATCH_SHARD",
    )

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path)

    from pitwatch.demo import command as demo_command

    demo = commands.add_parser("demo", help=demo_command.HELP, description=demo_command.HELP)
    demo_command.add_arguments(demo)

    from pitwatch.report import command as report_command

    report = commands.add_parser(
        "report", help=report_command.HELP, description=report_command.HELP
    )
    report_command.add_arguments(report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return check_config(args.file)
        if args.command == "demo":
            from pitwatch.demo import command as demo_command

            return demo_command.run(args)
        if args.command == "report":
            from pitwatch.report import command as report_command

            return report_command.run(args)
        return run(args)
    except UsageError as exc:
        print(f"pitwatch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def check_config(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    print(f"{path}: OK, {len(config.targets)} targets")
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    host, port = parse_listen(args.listen)
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        config = load_config(args.config) if args.config else default_config()
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    return asyncio.run(
        serve(config, args.config, host, port, shard=shard, schedule=not args.no_schedule)
    )


async def serve(
    config: Config,
    config_path: Path | None,
    host: str | None,
    port: int,
    *,
    shard: Shard | None = None,
    schedule: bool = True,
) -> int:
    from pitwatch.runtime import Exporter
    from pitwatch.server import make_app

    exporter = Exporter(config, config_path, shard, schedule=schedule)
    runner = web.AppRunner(
        make_app(exporter), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_SECONDS
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            print(f"pitwatch: cannot listen on {host or ''}:{port}: {reason}", file=sys.stderr)
            return 1
        log.info("listening on %s:%d", host or "*", port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, exporter.request_reload)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
    return 0
