from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pitwatch.config import Config
from pitwatch.exposition import escape_label_value, format_value
from pitwatch.probes.http import HTTP_STATUS
from pitwatch.reasons import Reason
from pitwatch.result import Observation, ProbeResult, Sample
from pitwatch.store import ResultStore
from tests.support.targets import config_from

TWO_TARGETS = """\
global:
  labels: {platform: prod-eu}
  latency_buckets: [0.1, 0.5, 1]
targets:
  - {name: lobby, component: game_provider, tier: 2, team: integrations, probe: http, url: "http://a/", labels: {region: eu}}
  - {name: wallet, component: database, tier: 1, team: dba, probe: tcp, address: "db:5432"}
"""


def parsed(store: ResultStore) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = b"".join(store.exposition_parts()).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(target: str, **extra: str) -> frozenset[tuple[str, str]]:
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


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return config_from(tmp_path, TWO_TARGETS)


def test_before_the_first_probe_counters_exist_but_no_verdict(config: Config) -> None:
    store = ResultStore()
    store.apply_config(config)
    series = parsed(store)
    assert series[("pitwatch_probes_total", labels("lobby", result="failure"))] == 0
    assert series[("pitwatch_probe_errors_total", labels("lobby", reason="timeout"))] == 0
    assert series[("pitwatch_probe_latency_seconds_count", labels("lobby"))] == 0
    assert series[("pitwatch_target_objective_ratio", labels("wallet"))] == 0.9995
    assert series[("pitwatch_target_info", labels("lobby", probe="http", canary="false"))] == 1
    assert ("pitwatch_probe_success", labels("lobby")) not in series
    assert ("pitwatch_probe_last_success_timestamp_seconds", labels("lobby")) not in series


def test_observations_update_counters_histogram_and_extras(config: Config) -> None:
    store = ResultStore()
    store.apply_config(config)
    store.record("lobby", observe(True, 0.2, samples=(Sample(HTTP_STATUS, 200),)))
    store.record("lobby", observe(False, 0.7, Reason.TIMEOUT))
    store.record("lobby", observe(False, 2.0, Reason.TIMEOUT))
    series = parsed(store)
    assert series[("pitwatch_probe_success", labels("lobby"))] == 0
    assert series[("pitwatch_probe_duration_seconds", labels("lobby"))] == 2.0
    assert series[("pitwatch_probes_total", labels("lobby", result="success"))] == 1
    assert series[("pitwatch_probes_total", labels("lobby", result="failure"))] == 2
    assert series[("pitwatch_probe_errors_total", labels("lobby", reason="timeout"))] == 2
    assert series[("pitwatch_probe_latency_seconds_bucket", labels("lobby", le="0.1"))] == 0
    assert series[("pitwatch_probe_latency_seconds_bucket", labels("lobby", le="0.5"))] == 1
    assert series[("pitwatch_probe_latency_seconds_bucket", labels("lobby", le="1.0"))] == 2
    assert series[("pitwatch_probe_latency_seconds_bucket", labels("lobby", le="+Inf"))] == 3
    assert series[("pitwatch_probe_latency_seconds_sum", labels("lobby"))] == pytest.approx(2.9)
    assert (
        series[("pitwatch_probe_last_success_timestamp_seconds", labels("lobby"))] == 1_700_000_000
    )
    # the extras of the last result only: the failed probes carried no status
    assert ("pitwatch_http_status_code", labels("lobby")) not in series


def test_each_family_header_appears_once_with_its_samples_grouped(config: Config) -> None:
    store = ResultStore()
    store.apply_config(config)
    store.record("lobby", observe(True, 0.1))
    store.record("wallet", observe(True, 0.1))
    text = b"".join(store.exposition_parts()).decode()
    names_in_order = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names_in_order) == len(set(names_in_order))
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert line.startswith(current or "?"), line


def test_reload_keeps_counters_of_kept_targets_and_drops_removed(
    config: Config, tmp_path: Path
) -> None:
    store = ResultStore()
    store.apply_config(config)
    for _ in range(3):
        store.record("lobby", observe(True, 0.2))
    store.record("wallet", observe(False, 0.2, Reason.CONNECT))
    reloaded = config_from(
        tmp_path,
        TWO_TARGETS.replace("team: integrations", "team: backend").split("  - {name: wallet")[0],
    )
    store.apply_config(reloaded)
    series = parsed(store)
    relabelled = labels("lobby", team="backend")
    assert series[("pitwatch_probes_total", frozenset({*relabelled, ("result", "success")}))] == 3
    assert not [key for key in series if ("target", "wallet") in key[1]]
    assert not [key for key in series if ("team", "integrations") in key[1]]


def test_changed_buckets_restart_the_histogram(config: Config, tmp_path: Path) -> None:
    store = ResultStore()
    store.apply_config(config)
    store.record("lobby", observe(True, 0.2))
    store.apply_config(config_from(tmp_path, TWO_TARGETS.replace("[0.1, 0.5, 1]", "[]")))
    series = parsed(store)
    assert not [key for key in series if key[0].startswith("pitwatch_probe_latency_seconds")]
    assert series[("pitwatch_probes_total", labels("lobby", result="success"))] == 1


def test_maintenance_window_sets_the_gauge(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    text = f"""\
        maintenance:
          - components: [game_provider]
            windows: [{{start: "{(now - timedelta(minutes=5)).isoformat()}", end: "{(now + timedelta(hours=1)).isoformat()}"}}]
        targets:
          - {{name: lobby, component: game_provider, probe: http, url: "http://a/"}}
          - {{name: api, component: api, probe: http, url: "http://b/"}}
        """
    store = ResultStore()
    store.apply_config(config_from(tmp_path, text))
    text_out = b"".join(store.exposition_parts()).decode()
    assert (
        'pitwatch_target_maintenance{target="lobby",component="game_provider",tier="3",team="platform"} 1'
        in text_out
    )
    assert (
        'pitwatch_target_maintenance{target="api",component="api",tier="3",team="platform"} 0'
        in text_out
    )


def test_weekly_window_across_midnight(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        """\
        targets:
          - name: lobby
            component: game_provider
            probe: http
            url: http://a/
            maintenance: [{weekly: [sunday], at: "23:30", duration: 1h, timezone: Europe/Malta}]
        """,
    )
    window = config.targets[0].maintenance[0]
    malta_sunday_2345 = datetime(2026, 11, 22, 22, 45, tzinfo=UTC)  # 23:45 in Malta (CET)
    assert window.active(malta_sunday_2345)
    assert window.active(malta_sunday_2345 + timedelta(minutes=40))  # 00:25 Monday
    assert not window.active(malta_sunday_2345 + timedelta(minutes=50))
    assert not window.active(malta_sunday_2345 - timedelta(minutes=20))


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), ("plain", "plain")],
)
def test_label_escaping(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.25, "0.25"),
        (1e-05, "1e-05"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (1_700_000_000.5, "1700000000.5"),
    ],
)
def test_value_format(value: float, text: str) -> None:
    assert format_value(value) == text


def test_hostile_label_values_survive_a_parser(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        'targets:\n  - {name: x, component: api, probe: tcp, address: "a:1", labels: {note: "q\\"uote\\\\back\\nline"}}\n',
    )
    store = ResultStore()
    store.apply_config(config)
    series = parsed(store)
    assert any(("note", 'q"uote\\back\nline') in key[1] for key in series)
