"""A store with its renderer subscribed, as the runtime wires them, and the exposition it
renders, parsed; plus the two targets the core tests of both share."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pitwatch.reasons import Reason
from pitwatch.renderer import Renderer
from pitwatch.result import Observation, ProbeResult, Sample
from pitwatch.store import ResultStore

TWO_TARGETS = """\
global:
  labels: {platform: prod-eu}
  latency_buckets: [0.1, 0.5, 1]
targets:
  - {name: lobby, component: game_provider, tier: 2, team: integrations, probe: http, url: "http://a/", labels: {region: eu}}
  - {name: wallet, component: database, tier: 1, team: dba, probe: tcp, address: "db:5432"}
"""

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def pipeline() -> tuple[ResultStore, Renderer]:
    store, renderer = ResultStore(), Renderer()
    store.subscribe(renderer)
    return store, renderer


def exposition(renderer: Renderer) -> str:
    return b"".join(renderer.exposition_parts()).decode()


def parsed(renderer: Renderer) -> Series:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition(renderer))
        for sample in family.samples
    }


def labels(target: str, **extra: str) -> frozenset[tuple[str, str]]:
    """The labels of a series of one of :data:`TWO_TARGETS`, plus ``extra``."""
    base = {
        "lobby": {
            "target": "lobby",
            "component": "game_provider",
            "tier": "2",
            "team": "integrations",
            "platform": "prod-eu",
            "region": "eu",
        },
        "wallet": {
            "target": "wallet",
            "component": "database",
            "tier": "1",
            "team": "dba",
            "platform": "prod-eu",
        },
    }[target]
    return frozenset({**base, **extra}.items())


def observe(
    success: bool, duration: float, reason: Reason | None = None, samples: tuple[Sample, ...] = ()
) -> Observation:
    return Observation(ProbeResult(success, reason, "", samples), duration, 1_700_000_000.0)
