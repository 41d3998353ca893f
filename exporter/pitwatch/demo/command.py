"""The ``pitwatch demo`` command line (placeholder until the simulated platform lands)."""

from __future__ import annotations

import argparse
import sys

HELP = "run a simulated gaming platform and the exporter probing it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    del args
    print("pitwatch: the demo is not built yet", file=sys.stderr)
    return 1
