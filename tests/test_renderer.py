"""The renderer and the text format: what /metrics holds before and after probes, one
header per family, escaping and number formats, and /probe's answer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pitwatch.config import Config
from pitwatch.exposition import escape_label_value, format_value
from pitwatch.renderer import Renderer
from tests.support.exposition import TWO_TARGETS, exposition, labels, observe, parsed, pipeline
from tests.support.targets import config_from


def test_before_the_first_probe_counters_exist_but_no_verdict(two_targets: Config) -> None:
    store, renderer = pipeline()
    store.apply_config(two_targets)
    series = parsed(renderer)
    assert series[("pitwatch_probes_total", labels("lobby", result="failure"))] == 0
    assert series[("pitwatch_probe_errors_total", labels("lobby", reason="timeout"))] == 0
    assert series[("pitwatch_probe_latency_seconds_count", labels("lobby"))] == 0
    assert series[("pitwatch_target_objective_ratio", labels("wallet"))] == 0.9995
    assert series[("pitwatch_target_info", labels("lobby", probe="http", canary="false"))] == 1
    assert ("pitwatch_probe_success", labels("lobby")) not in series
    assert ("pitwatch_probe_last_success_timestamp_seconds", labels("lobby")) not in series


def test_each_family_header_appears_once_with_its_samples_grouped(two_targets: Config) -> None:
    store, renderer = pipeline()
    store.apply_config(two_targets)
    store.record("lobby", observe(True, 0.1))
    store.record("wallet", observe(True, 0.1))
    text = exposition(renderer)
    names_in_order = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names_in_order) == len(set(names_in_order))
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert line.startswith(current or "?"), line


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
    store, renderer = pipeline()
    store.apply_config(config)
    series = parsed(renderer)
    assert any(("note", 'q"uote\\back\nline') in key[1] for key in series)


def test_probe_answer_of_a_kept_target_has_all_its_series(two_targets: Config) -> None:
    store, renderer = pipeline()
    store.apply_config(two_targets)
    lobby = two_targets.targets[0]
    observation = observe(True, 0.2)
    store.record("lobby", observation)
    answer = renderer.probe_answer(lobby, observation).decode()
    assert 'pitwatch_probes_total{target="lobby"' in answer
    assert "pitwatch_target_info{" in answer
    assert 'target="wallet"' not in answer
    assert answer.count("# TYPE pitwatch_probe_success gauge") == 1


def test_probe_answer_of_another_shards_target_is_that_probe_only(two_targets: Config) -> None:
    _, renderer = pipeline()  # this replica keeps no target
    wallet = two_targets.targets[1]
    answer = renderer.probe_answer(wallet, observe(False, 0.3)).decode()
    assert answer.splitlines() == [
        "# HELP pitwatch_probe_success 1 if the last probe succeeded, else 0.",
        "# TYPE pitwatch_probe_success gauge",
        'pitwatch_probe_success{target="wallet",component="database",tier="1",team="dba",'
        'platform="prod-eu"} 0',
        "# HELP pitwatch_probe_duration_seconds How long the last probe took, in seconds.",
        "# TYPE pitwatch_probe_duration_seconds gauge",
        'pitwatch_probe_duration_seconds{target="wallet",component="database",tier="1",'
        'team="dba",platform="prod-eu"} 0.3',
    ]


def test_removed_targets_and_cleared_sources_leave_no_line(
    two_targets: Config, tmp_path: Path
) -> None:
    store, renderer = pipeline()
    store.apply_config(two_targets)
    renderer.set_source("host", {"pitwatch_host_cpus": b"pitwatch_host_cpus 4\n"})
    assert "pitwatch_host_cpus 4" in exposition(renderer)
    store.apply_config(config_from(tmp_path, TWO_TARGETS.split("  - {name: wallet")[0]))
    renderer.set_source("host", {})
    text = exposition(renderer)
    assert 'target="wallet"' not in text
    assert "pitwatch_host_cpus" not in text
    assert 'target="lobby"' in text


def test_a_renderer_subscribed_late_renders_what_the_store_holds(two_targets: Config) -> None:
    store, early = pipeline()
    store.apply_config(two_targets)
    store.record("lobby", observe(True, 0.2))
    late = Renderer()
    store.subscribe(late)
    assert exposition(late) == exposition(early)
