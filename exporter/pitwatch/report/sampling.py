"""How often Prometheus scraped pitwatch and evaluated the rules: the resolution of every
time the reports give ("to the scrape interval"). Read from the spacing of raw samples."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable

from pitwatch.report.prometheus import Prometheus, Series
from pitwatch.report.promql import Queries

FALLBACK_SECONDS = 60.0
PROBE_WINDOW = 900


def median_spacing(series: Iterable[Series]) -> float | None:
    gaps: list[float] = []
    for one in series:
        times = [t for t, _ in one.points]
        gaps.extend(b - a for a, b in itertools.pairwise(times) if b > a)
    if not gaps:
        return None
    return float(round(statistics.median(gaps), 3))


async def scrape_interval(prom: Prometheus, queries: Queries, at: float) -> float:
    """The scrape interval of the pitwatch job, from ``up`` (or a probe gauge) near ``at``."""
    for metric in ("up", "pitwatch_probe_success"):
        found = await prom.matrix(f"{queries.sel(metric)}[{PROBE_WINDOW}s]", at)
        spacing = median_spacing(found[:20])
        if spacing:
            return spacing
    return FALLBACK_SECONDS


async def evaluation_interval(prom: Prometheus, at: float) -> float | None:
    """The rule evaluation interval, from the always-firing PitwatchWatchdog near ``at``."""
    found = await prom.matrix(f'ALERTS{{alertname="PitwatchWatchdog"}}[{PROBE_WINDOW}s]', at)
    return median_spacing(found[:5])
