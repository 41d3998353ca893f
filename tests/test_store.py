"""The store: counters, histogram, verdicts and maintenance of every target, across probes
and reloads (read back through the renderer, as /metrics shows them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pitwatch.config import Config
from pitwatch.probes._client import HTTP_STATUS
from pitwatch.reasons import Reason
from pitwatch.result import Sample
from tests.support.exposition import TWO_TARGETS, exposition, labels, observe, parsed, pipeline
from tests.support.targets import config_from


def test_observations_update_counters_histogram_and_extras(two_targets: Config) -> None:
    store, renderer = pipeline()
    store.apply_config(two_targets)
    store.record("lobby", observe(True, 0.2, samples=(Sample(HTTP_STATUS, 200),)))
    store.record("lobby", observe(False, 0.7, Reason.TIMEOUT))
    store.record("lobby", observe(False, 2.0, Reason.TIMEOUT))
    series = parsed(renderer)
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


def test_reload_keeps_counters_of_kept_targets_and_drops_removed(
    two_targets: Config, tmp_path: Path
) -> None:
    store, renderer = pipeline()
    store.apply_config(two_targets)
    for _ in range(3):
        store.record("lobby", observe(True, 0.2))
    store.record("wallet", observe(False, 0.2, Reason.CONNECT))
    reloaded = config_from(
        tmp_path,
        TWO_TARGETS.replace("team: integrations", "team: backend").split("  - {name: wallet")[0],
    )
    store.apply_config(reloaded)
    series = parsed(renderer)
    relabelled = labels("lobby", team="backend")
    assert series[("pitwatch_probes_total", frozenset({*relabelled, ("result", "success")}))] == 3
    assert not [key for key in series if ("target", "wallet") in key[1]]
    assert not [key for key in series if ("team", "integrations") in key[1]]


def test_changed_buckets_restart_the_histogram(two_targets: Config, tmp_path: Path) -> None:
    store, renderer = pipeline()
    store.apply_config(two_targets)
    store.record("lobby", observe(True, 0.2))
    store.apply_config(config_from(tmp_path, TWO_TARGETS.replace("[0.1, 0.5, 1]", "[]")))
    series = parsed(renderer)
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
    store, renderer = pipeline()
    store.apply_config(config_from(tmp_path, text))
    text_out = exposition(renderer)
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
