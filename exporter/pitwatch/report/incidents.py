"""Incidents: maximal spans in which at least one ``critical`` or ``high`` pitwatch alert
fires, joined when they overlap and share a component (a fleet alert covers its component;
``PitwatchEgressDown``, which names none, covers every component of its platform). For
joining, a fired alert's span starts when it became active (pending): a burn-rate alert whose
``for:`` outlasts the short outage that set it off pages after that outage resolved, and that
late page is the same failure, not a second incident.

Each incident's ID is ``YYYYMMDD-HHMM-<component>[+<component>]`` from the moment its first
alert became active and the components of the alerts active then: the same history always
gives the same ID, whatever period a report covers.

Its impact start comes from the probes: the first failed probe of its targets in the run of
failures that led to its first alert (see :mod:`.impact`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pitwatch.report.alerts import Episode
from pitwatch.report.impact import failing_targets, run_starts
from pitwatch.report.inventory import Target
from pitwatch.report.prometheus import Prometheus
from pitwatch.report.promql import FLEET_ALERTS_WITHOUT_COMPONENT, MONITOR, Queries, regex_of

WILDCARD = "*"
_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(slots=True)
class Incident:
    id: str
    episodes: list[Episode]
    detected_at: float
    firing_at: float
    resolved_at: float | None
    components: list[str]
    targets: list[str] = field(default_factory=list)
    impact_started_at: float = 0.0
    impact_source: str = "alert"
    """``probes`` when the impact start comes from failed probes, ``alert`` when there were
    none to read (the exporter itself was down, say) and the detection time stands in."""
    reasons: dict[str, int] = field(default_factory=dict)
    failed_probes: int = 0

    @property
    def severity(self) -> str:
        return min((e.severity for e in self.episodes), key=lambda s: _RANK.get(s, 9))

    @property
    def status(self) -> str:
        return "ongoing" if self.resolved_at is None else "resolved"

    @property
    def alerts(self) -> list[str]:
        return sorted({e.alertname for e in self.episodes})

    def end(self, default: float) -> float:
        return self.resolved_at if self.resolved_at is not None else default


def _platform(episode: Episode) -> str:
    return episode.labels.get("platform", "")


def coverage(episode: Episode) -> str:
    if episode.alertname in FLEET_ALERTS_WITHOUT_COMPONENT:
        return WILDCARD
    return episode.component or MONITOR


def _span(episode: Episode, end: float) -> tuple[float, float]:
    """From when a fired alert became active (its pending time counts for joining) to its
    resolution."""
    return episode.active_at, episode.resolved_at if episode.resolved_at is not None else end


class _Union:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def group_episodes(episodes: list[Episode], end: float, tolerance: float) -> list[list[Episode]]:
    """Fired episodes joined into incidents (a sweep per component, then the wildcards)."""
    fired = [e for e in episodes if e.fired]
    union = _Union(len(fired))
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    wildcards = []
    for index, episode in enumerate(fired):
        if coverage(episode) == WILDCARD:
            wildcards.append(index)
        else:
            by_key[(_platform(episode), coverage(episode))].append(index)
    for members in by_key.values():
        members.sort(key=lambda i: _span(fired[i], end))
        representative, reach = -1, 0.0
        for index in members:
            start, stop = _span(fired[index], end)
            if representative >= 0 and start <= reach + tolerance:
                union.join(index, representative)
                reach = max(reach, stop)
            else:
                representative, reach = index, stop
    for index in wildcards:
        start, stop = _span(fired[index], end)
        for other, episode in enumerate(fired):
            if other == index:
                continue
            same_platform = not _platform(episode) or _platform(episode) == _platform(fired[index])
            a, b = _span(episode, end)
            if same_platform and a <= stop + tolerance and start <= b + tolerance:
                union.join(index, other)
    groups: dict[int, list[Episode]] = defaultdict(list)
    for index, episode in enumerate(fired):
        groups[union.find(index)].append(episode)
    return sorted(groups.values(), key=lambda g: min(e.active_at for e in g))


def incident_id(detected_at: float, components: Iterable[str]) -> str:
    moment = datetime.fromtimestamp(int(detected_at), UTC).strftime("%Y%m%d-%H%M")
    return f"{moment}-{'+'.join(sorted(set(components))) or MONITOR}"


def _components(episodes: Iterable[Episode], targets: dict[str, Target]) -> list[str]:
    found: set[str] = set()
    for episode in episodes:
        covered = coverage(episode)
        if covered == WILDCARD:
            found.update(t.component for t in targets.values() if t.canary)
            if not any(t.canary for t in targets.values()):
                found.add("network")
        else:
            found.add(covered)
    return sorted(found)


def build_incidents(
    groups: list[list[Episode]], end: float, targets: dict[str, Target]
) -> list[Incident]:
    incidents = []
    seen: dict[str, int] = {}
    for episodes in groups:
        detected = min(e.active_at for e in episodes)
        first = [e for e in episodes if e.active_at == detected]
        base = incident_id(detected, _components(first, targets))
        seen[base] = seen.get(base, 0) + 1
        ident = base if seen[base] == 1 else f"{base}-{seen[base]}"
        ongoing = any(e.resolved_at is None for e in episodes)
        incidents.append(
            Incident(
                id=ident,
                episodes=sorted(episodes, key=lambda e: (e.active_at, e.alertname, e.key)),
                detected_at=detected,
                firing_at=min(e.firing_at for e in episodes if e.firing_at is not None),
                resolved_at=None
                if ongoing
                else max(e.resolved_at for e in episodes if e.resolved_at is not None),
                components=_components(episodes, targets),
            )
        )
    return incidents


async def resolve_targets(
    prom: Prometheus,
    queries: Queries,
    incident: Incident,
    *,
    targets: dict[str, Target],
    end: float,
    step: float,
) -> None:
    """The targets of an incident: those its alerts name, and for fleet alerts those of the
    covered component (and team) that failed probes during it."""
    named = {e.target for e in incident.episodes if e.target}
    fleet = [e for e in incident.episodes if not e.target and coverage(e) != MONITOR]
    start = incident.detected_at - step
    stop = incident.end(end)
    for episode in fleet:
        if coverage(episode) == WILDCARD:
            candidates = [t.name for t in targets.values() if t.canary]
        else:
            candidates = [
                t.name
                for t in targets.values()
                if t.component == episode.component
                and episode.labels.get("team", t.team) == t.team
                and not t.canary
            ]
        named.update(await failing_targets(prom, queries, candidates, start, stop))
    incident.targets = sorted(n for n in named if n)


async def resolve_impact(prom: Prometheus, queries: Queries, incident: Incident) -> None:
    detection: dict[str, float] = {}
    for episode in incident.episodes:
        if episode.target is not None:
            detection[episode.target] = min(
                episode.active_at, detection.get(episode.target, episode.active_at)
            )
    starts = await run_starts(
        prom,
        queries,
        {name: detection.get(name, incident.detected_at) for name in incident.targets},
    )
    if starts:
        incident.impact_started_at = min(*starts.values(), incident.detected_at)
        incident.impact_source = "probes"
    else:
        incident.impact_started_at = incident.detected_at
        incident.impact_source = "alert"


async def resolve_reasons(
    prom: Prometheus, queries: Queries, incident: Incident, end: float, step: float
) -> None:
    """Failed probes of its targets from the impact start to its end (counted from the raw
    samples of the failure counter, exact to the probe), by reason."""
    if not incident.targets:
        return
    stop = incident.end(end)
    window = max(1, round(stop - incident.impact_started_at + 2 * step))
    regex = regex_of(incident.targets)
    counters, errors = await asyncio.gather(
        prom.matrix(
            f"{queries.sel('pitwatch_probes_total', target=f'~{regex}', result='failure')}"
            f"[{window}s]",
            stop,
        ),
        prom.vector(queries.errors(window, target=f"~{regex}"), stop),
    )
    failed = 0.0
    for series in counters:
        points = series.points
        for (_, before), (at, value) in itertools.pairwise(points):
            if at >= incident.impact_started_at:
                failed += value - before if value >= before else value
    reasons: dict[str, float] = defaultdict(float)
    for sample in errors:
        reasons[sample.labels.get("reason", "other")] += sample.value
    incident.failed_probes = round(failed)
    incident.reasons = scale_reasons(reasons, incident.failed_probes)


def scale_reasons(reasons: dict[str, float], failed: int) -> dict[str, int]:
    """Reason counts made to add up to the failed probes (a reason's series appears at its
    first failure, so ``increase`` misses that first one; the failure counter exists from 0
    and is exact), largest first; reasons that round to 0 are dropped."""
    total = sum(reasons.values())
    if failed <= 0 or total <= 0:
        return {}
    scaled = {reason: value * failed / total for reason, value in reasons.items()}
    whole = {reason: int(value) for reason, value in scaled.items()}
    left = failed - sum(whole.values())
    for reason in sorted(scaled, key=lambda r: scaled[r] - whole[r], reverse=True)[:left]:
        whole[reason] += 1
    return dict(sorted(((r, n) for r, n in whole.items() if n > 0), key=lambda i: (-i[1], i[0])))
