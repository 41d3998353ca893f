"""Which targets the period saw, with their routing labels, objectives and probe kind.

Read from the series index (``/api/v1/series``: no samples decoded, cheap at any range) of
``pitwatch_target_info`` or, for exporters without it, ``pitwatch_probes_total``; objectives
from the last value of their gauges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pitwatch.report.errors import ReportError
from pitwatch.report.period import Period, iso
from pitwatch.report.prometheus import Prometheus
from pitwatch.report.promql import Queries, quote

DEFAULT_LATENCY_PERCENTILE = "95"


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    component: str
    tier: str
    team: str
    probe: str
    canary: bool
    labels: Mapping[str, str]
    """Every label of its info series but job, instance and pod (platform, location, ...)."""

    @property
    def in_component_figures(self) -> bool:
        """Canaries (our own egress) and logs targets (a file, not a service) are left out of
        component availability, as in the rule pack."""
        return not self.canary and self.probe != "logs"


@dataclass(frozen=True, slots=True)
class Objectives:
    availability: float | None
    latency_percentile: str
    latency_seconds: float | None


_SKIP = frozenset({"__name__", "job", "instance", "pod", "result", "probe", "canary"})


async def targets_of(prom: Prometheus, queries: Queries, period: Period) -> dict[str, Target]:
    """Every target with series in the period; raises when there are none at all."""
    found = await prom.series(queries.sel("pitwatch_target_info"), period.start, period.end)
    if not found:
        found = await prom.series(queries.sel("pitwatch_probes_total"), period.start, period.end)
    if not found:
        await _explain_no_data(prom, queries, period)
    targets: dict[str, Target] = {}
    for labels in sorted(found, key=lambda item: sorted(item.items())):
        name = labels.get("target")
        if not name or name in targets:
            continue
        targets[name] = Target(
            name=name,
            component=labels.get("component", "other"),
            tier=labels.get("tier", "3"),
            team=labels.get("team", ""),
            probe=labels.get("probe", ""),
            canary=labels.get("canary") == "true",
            labels={k: v for k, v in labels.items() if k not in _SKIP},
        )
    return targets


async def _explain_no_data(prom: Prometheus, queries: Queries, period: Period) -> None:
    anywhere = await prom.series("pitwatch_probes_total", period.start, period.end)
    jobs = sorted({labels.get("job", "") for labels in anywhere})
    hint = (
        f"; pitwatch jobs there: {', '.join(jobs)} (choose one with --job)"
        if jobs
        else "; check --prometheus and that it scrapes pitwatch"
    )
    raise ReportError(
        f"no pitwatch data in {prom.connection.display_url} between {iso(period.start)} and "
        f"{iso(period.end)} (job=~{quote(queries.job)}){hint}"
    )


async def objectives_of(
    prom: Prometheus, queries: Queries, period: Period, window: int
) -> dict[str, Objectives]:
    """The last configured objectives of every target in the period."""
    availability = await prom.vector(
        queries.last_value("pitwatch_target_objective_ratio", window=window), period.end
    )
    latency = await prom.vector(
        queries.last_value(
            "pitwatch_target_latency_objective_seconds", by="target, percentile", window=window
        ),
        period.end,
    )
    by_target: dict[str, dict[str, float]] = {}
    for sample in latency:
        by_target.setdefault(sample.labels.get("target", ""), {})[
            sample.labels.get("percentile", DEFAULT_LATENCY_PERCENTILE)
        ] = sample.value
    ratios = {s.labels.get("target", ""): s.value for s in availability}
    result = {}
    for name in set(ratios) | set(by_target):
        percentiles = by_target.get(name, {})
        # One objective per target in practice; the strictest percentile when several.
        percentile = max(percentiles, key=float) if percentiles else DEFAULT_LATENCY_PERCENTILE
        result[name] = Objectives(ratios.get(name), percentile, percentiles.get(percentile))
    return result
