"""When players were first hit: read from the probes, not from the alerts.

For each target, raw samples of its probe counters before its alert became active give, per
scrape interval, how many probes failed and how many succeeded. The run of failures that led
to the alert is walked back from the last interval with a failure before the alert, through
intervals with failures and no success; its first interval's scrape is the impact start (the
first failed probe, to the scrape interval). Exporters without the counters fall back to the
``pitwatch_probe_success`` gauge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from pitwatch.report.prometheus import Prometheus, Series
from pitwatch.report.promql import Queries, regex_of

LOOKBACK = 3600
"""How far before an alert became active its run of failures is looked for."""


def _delta(previous: float, current: float) -> float:
    return current - previous if current >= previous else current


def run_start(
    times: Sequence[float], failures: Sequence[float], successes: Sequence[float], until: float
) -> float | None:
    """The scrape time of the first failure in the run of failures ending at the last failure
    seen at or before ``until``; None without a failure."""
    last = None
    for index in range(1, len(times)):
        if times[index] > until:
            break
        if _delta(failures[index - 1], failures[index]) > 0:
            last = index
    if last is None:
        return None
    first = last
    while first - 1 >= 1:
        failed_before = _delta(failures[first - 2], failures[first - 1]) > 0
        success_here = _delta(successes[first - 1], successes[first]) > 0
        if success_here or not failed_before:
            break
        first -= 1
    return times[first]


def gauge_run_start(points: Sequence[tuple[float, float]], until: float) -> float | None:
    """The same from ``pitwatch_probe_success`` samples: the first 0 of the last run of 0s."""
    last = None
    for index, (at, value) in enumerate(points):
        if at > until:
            break
        if value == 0:
            last = index
    if last is None:
        return None
    first = last
    while first - 1 >= 0 and points[first - 1][1] == 0:
        first -= 1
    return points[first][0]


def _by_instance(
    series: list[Series],
) -> dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Series]]:
    grouped: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Series]] = defaultdict(dict)
    for one in series:
        rest = tuple(
            sorted((k, v) for k, v in one.labels.items() if k not in ("result", "__name__"))
        )
        grouped[(one.labels.get("target", ""), rest)][one.labels.get("result", "")] = one
    return grouped


async def run_starts(
    prom: Prometheus, queries: Queries, detected: Mapping[str, float]
) -> dict[str, float]:
    """Impact start per target, given when each target's alert (or its incident) became
    active; targets without failures before that are left out."""
    if not detected:
        return {}
    latest = max(detected.values()) + 1
    window = round(latest - min(detected.values()) + LOOKBACK)
    regex = regex_of(detected)
    counters = await prom.matrix(
        f"{queries.sel('pitwatch_probes_total', target=f'~{regex}', result='~success|failure')}"
        f"[{window}s]",
        latest,
    )
    found: dict[str, float] = {}
    for (name, _), results in _by_instance(counters).items():
        failure, success = results.get("failure"), results.get("success")
        if failure is None or name not in detected:
            continue
        success_at = dict(success.points) if success is not None else {}
        times = [t for t, _ in failure.points]
        start = run_start(
            times,
            [v for _, v in failure.points],
            [success_at.get(t, 0.0) for t in times],
            detected[name] + 1,
        )
        if start is not None:
            found[name] = min(found.get(name, start), start)
    missing = [name for name in detected if name not in found]
    if missing:
        gauges = await prom.matrix(
            f"{queries.sel('pitwatch_probe_success', target=f'~{regex_of(missing)}')}[{window}s]",
            latest,
        )
        for series in gauges:
            name = series.labels.get("target", "")
            start = gauge_run_start(series.points, detected.get(name, latest) + 1)
            if start is not None:
                found[name] = min(found.get(name, start), start)
    return found


async def failing_targets(
    prom: Prometheus, queries: Queries, candidates: list[str], start: float, stop: float
) -> list[str]:
    """Those of ``candidates`` with failed probes between ``start`` and ``stop``."""
    if not candidates:
        return []
    window = max(1, round(stop - start))
    answer = await prom.vector(
        queries.probes(window, target=f"~{regex_of(candidates)}", result="failure"), stop
    )
    return sorted({s.labels.get("target", "") for s in answer if s.value > 0})
