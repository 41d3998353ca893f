"""``pitwatch run``, ``pitwatch check-config``: argument parsing, start-up and shutdown.

Anything a user can get wrong ends here as one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pitwatch import __version__, positions
from pitwatch.config import Config, ConfigError, default_config, load_config
from pitwatch.logsetup import LEVELS, setup_logging
from pitwatch.ondemand import DEFAULT_MAX_REQUESTS
from pitwatch.positions import default_state_dir
from pitwatch.sharding import Shard, parse_shard
from pitwatch.usage import DEFAULT_LISTEN, UsageError, parse_listen
from pitwatch.websecurity.config import WebConfigError
from pitwatch.websecurity.guard import WebGuard
from pitwatch.websecurity.tls import load_checked

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
        "--state-dir",
        type=Path,
        help="where logs targets keep their place across restarts (default: /var/lib/pitwatch "
        "if it exists and is writable, else .pitwatch-state beside the config)",
    )
    run.add_argument(
        "--web.config.file",
        dest="web_config",
        type=Path,
        help="TLS, basic auth, response headers and rate limit for pitwatch's own endpoints, "
        "in the Prometheus exporter-toolkit format (re-read when it changes)",
    )
    run.add_argument(
        "--web.enable-lifecycle",
        dest="lifecycle",
        action="store_true",
        help="enable POST /-/reload (SIGHUP always reloads)",
    )
    run.add_argument(
        "--web.max-requests",
        dest="max_requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        help=f"concurrent /metrics and /probe requests at most; more are answered 503 "
        f"(default {DEFAULT_MAX_REQUESTS}, 0 = no limit)",
    )
    run.add_argument(
        "--shard",
        default=os.environ.get("PITWATCH_SHARD"),
        help="I/N: probe only this replica's share of the targets (0-based I), or auto/N to take "
        "I from the host name's -<ordinal> suffix; default $PITWATCH_SHARD",
    )

    check = commands.add_parser(
        "check-config", help="validate a config file, a web config file, or both"
    )
    check.add_argument("file", type=Path, nargs="?")
    check.add_argument(
        "--web.config.file", dest="web_config", type=Path, help="a web config file to validate"
    )

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
            if args.file is None and args.web_config is None:
                raise UsageError(
                    "check-config: give a config FILE, --web.config.file FILE, or both"
                )
            ok = check_config(args.file) == 0 if args.file is not None else True
            if args.web_config is not None:
                ok = check_web_config(args.web_config) == 0 and ok
            return 0 if ok else 1
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


def _problems(problems: Sequence[str]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1


def check_config(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        return _problems(exc.problems)
    print(f"{path}: OK, {len(config.targets)} targets")
    return 0


def check_web_config(path: Path) -> int:
    try:
        config = load_checked(path)
    except WebConfigError as exc:
        return _problems(exc.problems)
    parts = [
        "TLS" if config.tls.enabled else "no TLS",
        f"{len(config.users)} users" if config.users else "no basic auth",
    ]
    if config.rate_limit.interval:
        parts.append("rate limit")
    print(f"{path}: OK, {', '.join(parts)}")
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    host, port = parse_listen(args.listen)
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.max_requests < 0:
        raise UsageError("--web.max-requests must be 0 (no limit) or more")
    try:
        config = load_config(args.config) if args.config else default_config()
    except ConfigError as exc:
        return _problems(exc.problems)
    positions.configure(args.state_dir or default_state_dir(args.config))
    guard = None
    if args.web_config is not None:
        try:
            guard = WebGuard.load(args.web_config)
        except WebConfigError as exc:
            return _problems(exc.problems)
    web_options = WebOptions(guard, args.lifecycle, args.max_requests)
    return asyncio.run(
        serve(
            config,
            args.config,
            host,
            port,
            shard=shard,
            schedule=not args.no_schedule,
            web_options=web_options,
        )
    )


@dataclass(frozen=True, slots=True)
class WebOptions:
    guard: WebGuard | None = None
    lifecycle: bool = False
    max_requests: int = DEFAULT_MAX_REQUESTS


async def serve(
    config: Config,
    config_path: Path | None,
    host: str | None,
    port: int,
    *,
    shard: Shard | None = None,
    schedule: bool = True,
    web_options: WebOptions | None = None,
) -> int:
    from pitwatch.runtime import Exporter
    from pitwatch.server import make_app, runner_options

    options = web_options or WebOptions()
    guard = options.guard
    exporter = Exporter(config, config_path, shard, schedule=schedule)
    app = make_app(
        exporter, guard=guard, lifecycle=options.lifecycle, max_requests=options.max_requests
    )
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_SECONDS, **runner_options())
    await runner.setup()
    watcher: asyncio.Task[None] | None = None
    try:
        context = guard.ssl_context if guard is not None else None
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            print(f"pitwatch: cannot listen on {host or ''}:{port}: {reason}", file=sys.stderr)
            return 1
        scheme = "https" if context is not None else "http"
        log.info("listening on %s:%d (%s)", host or "*", port, scheme)
        if guard is not None:

            async def tls_changed(new: ssl.SSLContext | None) -> None:
                # A listener's TLS is fixed when it opens: open it again with the new one.
                nonlocal site
                await site.stop()
                site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=new)
                await site.start()
                log.info("listening again on %s:%d with the new TLS settings", host or "*", port)

            watcher = asyncio.create_task(guard.watch(tls_changed), name="web config watch")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, exporter.request_reload)
        await stop.wait()
        log.info("shutting down")
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await runner.cleanup()
        if guard is not None:
            guard.close()
    return 0
