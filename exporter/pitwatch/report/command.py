"""``pitwatch report [incident ID]``: the arguments, and the run that ties the pieces
together. ``pitwatch.cli`` only registers the subcommand and calls :func:`run`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from pitwatch.report.connection import URL_ENV, connection_from
from pitwatch.report.errors import ReportError
from pitwatch.report.period import DEFAULT_LAST, resolve_period
from pitwatch.report.progress import Progress
from pitwatch.report.prometheus import DEFAULT_CONCURRENCY, Prometheus
from pitwatch.report.promql import DEFAULT_JOB, Queries

HELP = "service and post-incident reports from the history in Prometheus"
FORMATS = ("markdown", "html", "json", "pdf")
DEFAULT_TIMEOUT = 60.0


def _options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options of ``report`` and of ``report incident``. The second copy has no defaults,
    so that an option given before ``incident`` is not reset by the subparser."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    add = parser.add_argument
    add(
        "--prometheus",
        metavar="URL",
        default=default(None),
        help=f"the Prometheus holding pitwatch's history (default ${URL_ENV})",
    )
    add("--from", dest="start", metavar="T", default=default(None), help="RFC 3339 or Unix time")
    add(
        "--to",
        dest="end",
        metavar="T",
        default=default(None),
        help="RFC 3339 or Unix time (default now)",
    )
    add(
        "--last",
        metavar="DURATION",
        default=default(None),
        help=f"period length (default {DEFAULT_LAST})",
    )
    add("--format", choices=FORMATS, default=default("markdown"))
    add("--output", metavar="FILE", type=Path, default=default(None), help="default stdout")
    add(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=default(DEFAULT_TIMEOUT),
        help="per request",
    )
    add(
        "--job",
        default=default(DEFAULT_JOB),
        help=f"regex of pitwatch's scrape job (default {DEFAULT_JOB})",
    )
    add("--basic-auth-user", metavar="USER", default=default(None))
    add(
        "--basic-auth-password-file",
        metavar="FILE",
        default=default(None),
        help="or $PITWATCH_PROMETHEUS_PASSWORD",
    )
    add(
        "--bearer-token-file",
        metavar="FILE",
        default=default(None),
        help="or $PITWATCH_PROMETHEUS_BEARER_TOKEN",
    )
    add(
        "--ca-file",
        metavar="FILE",
        default=default(None),
        help="CA bundle for an https:// Prometheus",
    )
    add(
        "--grafana-url",
        metavar="URL",
        default=default(None),
        help="link timeline rows to this Grafana's pitwatch dashboards",
    )
    add(
        "--prometheus-external-url",
        metavar="URL",
        default=default(None),
        help="the Prometheus URL people open, for links (default --prometheus)",
    )
    add(
        "--concurrency",
        type=int,
        default=default(DEFAULT_CONCURRENCY),
        help=f"queries in flight (default {DEFAULT_CONCURRENCY})",
    )
    add("--quiet", action="store_true", default=default(False), help="no progress on stderr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _options(parser, suppress=False)
    kinds = parser.add_subparsers(dest="report_kind", metavar="incident ID")
    incident = kinds.add_parser("incident", help="the post-incident report of one incident")
    incident.add_argument("incident_id", metavar="ID", help="as listed by `pitwatch report`")
    _options(incident, suppress=True)


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except ReportError as exc:
        print(f"pitwatch report: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace) -> int:
    from pitwatch.report.render import check_format, write_report

    check_format(args.format, args.output)
    connection = connection_from(
        args.prometheus,
        username=args.basic_auth_user,
        password_file=args.basic_auth_password_file,
        bearer_token_file=args.bearer_token_file,
        ca_file=args.ca_file,
        timeout=args.timeout,
    )
    if args.concurrency < 1:
        raise ReportError("--concurrency must be at least 1")
    now = time.time()
    progress = Progress(enabled=not args.quiet)
    queries = Queries(args.job)
    links = _links(args, connection.display_url)
    async with Prometheus(connection, args.concurrency, progress) as prom:
        if getattr(args, "report_kind", None) == "incident":
            from pitwatch.report.postmortem import incident_report

            if args.start or args.end or args.last:
                raise ReportError("report incident takes no --from/--to/--last: the ID says when")
            document = await incident_report(prom, queries, args.incident_id, now, links)
        else:
            from pitwatch.report.service import service_report

            period, note = resolve_period(args.start, args.end, args.last, now)
            if note and not args.quiet:
                print(f"pitwatch report: {note}", file=sys.stderr)
            document = await service_report(prom, queries, period, links, now)
    write_report(document, args.format, args.output, links)
    return 0


def _links(args: argparse.Namespace, display_url: str) -> Any:
    from pitwatch.report.links import Links

    external = args.prometheus_external_url or display_url
    return Links(external, args.grafana_url)
