"""What a prober module registers: its config model and its probe function (and, for some,
a check that needs this machine). A probe keeps ``ctx.samples`` current, returns
:class:`~pitwatch.result.Passed` or raises :class:`~pitwatch.reasons.ProbeFailure`; it
never builds a failed result itself (see :mod:`pitwatch.scheduler`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pitwatch.config_types import TargetBase
from pitwatch.result import Passed, ProbeContext

ProbeFn = Callable[[Any, ProbeContext], Awaitable[Passed]]
ConfigCheck = Callable[[Any], list[tuple[str, str]]]
"""Checks that need this machine (e.g. ICMP permissions): ``[(key, message), ...]``."""


@dataclass(frozen=True, slots=True)
class ProbeKind:
    name: str
    config: type[TargetBase]
    probe: ProbeFn
    check: ConfigCheck | None = None
