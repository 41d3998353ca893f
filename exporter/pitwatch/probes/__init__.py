"""The prober registry: a config's ``probe:`` value -> its config model and probe function.

Every prober module defines one config model (a :class:`~pitwatch.config_types.TargetBase`
subclass with ``probe: Literal["<kind>"]``) and one ``async def probe(target, ctx) ->
Passed``, and registers both as a :class:`ProbeKind` here. A probe keeps ``ctx.samples``
current, returns :class:`~pitwatch.result.Passed` or raises
:class:`~pitwatch.reasons.ProbeFailure`; it never builds a failed result itself (see
:mod:`pitwatch.scheduler`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
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


def _registry() -> Mapping[str, ProbeKind]:
    from pitwatch.probes import dns, file, flow, http, icmp, logs, postgres, process, tcp

    kinds = (
        http.KIND,
        flow.KIND,
        tcp.KIND,
        dns.KIND,
        icmp.KIND,
        process.KIND,
        file.KIND,
        logs.KIND,
        postgres.KIND,
    )
    return {kind.name: kind for kind in kinds}


PROBES: Mapping[str, ProbeKind] = _registry()
