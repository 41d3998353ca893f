"""The ``pitwatch demo`` command line: run the demo, or switch faults in a running one
(``pitwatch demo fault SERVICE FAULT``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from pitwatch.demo.catalog import SERVICES
from pitwatch.demo.control import ALL, ControlError, call, default_state_file
from pitwatch.demo.faults import FAULT_SYNTAX, parse_fault
from pitwatch.demo.runner import Demo, DemoError, Options
from pitwatch.demo.tour import Tour
from pitwatch.durations import format_duration, parse_duration
from pitwatch.logsetup import LEVELS, setup_logging
from pitwatch.usage import DEFAULT_LISTEN, UsageError, parse_listen

HELP = (
    "run a simulated gaming platform (APIs, game providers, payment gateways, KYC) and the "
    "exporter probing it, with faults you can switch while it runs"
)
DEFAULT_INTERVAL = "15s"
DEFAULT_PACE = "3m"
MIN_INTERVAL = 1.0
"""Faster would only measure how busy this machine is."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        help=f"the exporter's HOST:PORT (default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--interval",
        default=DEFAULT_INTERVAL,
        help=f"probe interval (default {DEFAULT_INTERVAL}, as in production; 1s for quick tests)",
    )
    parser.add_argument(
        "--incident-tour",
        action="store_true",
        help="play a scripted incident (a provider slows, a payment gateway fails, the "
        "aggregator drops, everything recovers) with narration",
    )
    parser.add_argument(
        "--tour-pace",
        default=DEFAULT_PACE,
        help=f"how long each act of the tour lasts (default {DEFAULT_PACE}: long enough for "
        "the alerts to reach Alertmanager)",
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        help="multiply the simulated latencies (default 1; below 1 for fast test runs)",
    )
    _state_file_argument(parser, default=None)
    parser.add_argument("--log-level", default="info", choices=LEVELS)
    commands = parser.add_subparsers(dest="demo_command", metavar="COMMAND")
    fault = commands.add_parser(
        "fault",
        help="switch a fault in the running demo",
        description="Switch a service of the running demo into a fault, or list the faults "
        "(without arguments). FAULT: " + FAULT_SYNTAX + "; `all ok` clears every fault.",
    )
    fault.add_argument("service", nargs="?", help="a service of the demo, or `all`")
    fault.add_argument("fault", nargs="?", help=FAULT_SYNTAX)
    _state_file_argument(fault, default=argparse.SUPPRESS)


def _state_file_argument(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--state-file",
        type=Path,
        default=default,
        help="where a running demo notes its control endpoint (default: $PITWATCH_DEMO_STATE, "
        f"else {default_state_file()})",
    )


def run(args: argparse.Namespace) -> int:
    state_file: Path = args.state_file or default_state_file()
    if args.demo_command == "fault":
        return _fault(state_file, args.service, args.fault)
    if args.latency_scale <= 0:
        raise UsageError("--latency-scale must be greater than zero")
    host, port = parse_listen(args.listen)
    interval = _duration("--interval", args.interval)
    if interval < MIN_INTERVAL:
        raise UsageError(f"--interval must be at least {format_duration(MIN_INTERVAL)}")
    pace = _duration("--tour-pace", args.tour_pace) if args.incident_tour else None
    options = Options(
        listen_host=host,
        listen_port=port,
        interval=interval,
        latency_scale=args.latency_scale,
        state_file=state_file,
    )
    setup_logging(args.log_level)
    return asyncio.run(_main(options, pace, explicit_state=args.state_file is not None))


def _duration(flag: str, text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


async def _main(options: Options, pace: float | None, explicit_state: bool) -> int:
    demo = Demo(options)
    try:
        await demo.start()
    except DemoError as exc:
        print(f"pitwatch: {exc}", file=sys.stderr)
        return 1
    _say(_banner(demo, explicit_state))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        stop.set()
        # A second Ctrl-C while the demo shuts down interrupts it the hard way.
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopping)
    if pace is not None:
        demo.spawn(Tour(demo, pace, _say).run(), "incident tour")
    await stop.wait()
    _say("stopping the demo ...")
    await demo.stop()
    _say("demo stopped")
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


def _program() -> str:
    """How the user started pitwatch, so the hints can be pasted as they are."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "pitwatch"
    if argv0.endswith("__main__.py"):
        return "python -m pitwatch"
    return argv0 if os.sep in argv0 else "pitwatch"


def _banner(demo: Demo, explicit_state: bool) -> str:
    options = demo.options
    assert demo.exporter is not None
    targets = len(demo.exporter.config.targets)
    fault = f"{_program()} demo fault"
    if explicit_state:
        fault += f" --state-file {options.state_file}"
    width = max(len(service.name) for service in SERVICES)
    services = "\n".join(f"    {s.name:<{width}}  {s.about}" for s in SERVICES)
    return f"""\
pitwatch demo: a simulated gaming platform on 127.0.0.1, probed every \
{format_duration(options.interval)} by the real exporter

  metrics      {demo.exporter_url}/metrics
  status page  {demo.exporter_url}/
  config       {demo.config_path} ({targets} targets; removed when the demo stops)
  control      {demo.control_url}/faults (noted in {options.state_file})

  services you can break:
{services}

  inject a fault   {fault} psp-northpay down
                   faults: {FAULT_SYNTAX}
  clear them all   {fault} all ok
  see the alerts   make stack (in another terminal): Prometheus and Alertmanager with the
                   shipped rules and routes, scraping this demo
  stop             Ctrl-C
"""


def _fault(state_file: Path, service: str | None, fault_text: str | None) -> int:
    try:
        if service is None:
            answer = call(state_file, "GET", "/faults")
            width = max(map(len, answer["faults"]))
            for name, fault in answer["faults"].items():
                print(f"{name:<{width}}  {fault}")
            return 0
        if fault_text is None:
            raise UsageError(f"demo fault {service}: which fault? {FAULT_SYNTAX}")
        try:
            parse_fault(fault_text)  # a typo is caught here even without a demo running
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        answer = call(state_file, "POST", f"/faults/{service}", fault_text)
    except ControlError as exc:
        print(f"pitwatch: {exc}", file=sys.stderr)
        return 1
    if service == ALL:
        cleared = answer.get("cleared") or {}
        print(f"cleared: {', '.join(cleared)}" if cleared else "no faults were set")
    else:
        print(f"{answer['service']}: {answer['was']} -> {answer['fault']}")
    return 0
