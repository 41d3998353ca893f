"""A real pitwatch process with many targets, checked by promtool and by a real Prometheus."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devtools.processes import wait_until
from devtools.prometheus import Prometheus, prometheus_config
from tests.support.fake_platform import FakePlatform
from tests.support.services import Pitwatch, promtool_check_metrics
from tests.support.targets import write_config

BAD = {
    "hang": ("/hang", "timeout"),
    "reset": (None, "connect"),
    "garbage": (None, "protocol"),
    "endless": ("/endless", "protocol"),
    "redirect-loop": ("/redirect-loop", "http_status"),
    "server-error": ("/status/500", "http_status"),
}


def fleet_config(platform: FakePlatform, healthy: int = 50) -> str:
    lines = [
        "global:",
        "  interval: 2s",
        "  timeout: 1s",
        "  labels: {platform: test-eu}",
        "targets:",
    ]
    components = ["game_provider", "payment_gateway", "api", "kyc"]
    for index in range(healthy):
        kind = index % 3
        component = components[index % len(components)]
        if kind == 0:
            probe = f'probe: http, url: "{platform.http_url("/ok")}"'
        elif kind == 1:
            probe = f'probe: http, url: "{platform.https_url()}", tls: {{ca_file: "{platform.ca_file}"}}'
        else:
            probe = f'probe: tcp, address: "{platform.address("banner")}", expect: "^220"'
        lines.append(
            f"  - {{name: ok-{index:02d}, component: {component}, tier: {index % 3 + 1}, "
            f"team: team-{index % 5}, {probe}}}"
        )
    for name, (path, _) in BAD.items():
        url = f"http://{platform.address(name)}/" if path is None else platform.http_url(path)
        lines.append(
            f'  - {{name: bad-{name}, component: game_provider, probe: http, url: "{url}", max_body_bytes: 1MiB}}'
        )
    return "\n".join(lines) + "\n"


def values(text: str, family: str) -> dict[str, dict[str, str | float]]:
    """family samples keyed by target."""
    found: dict[str, dict[str, str | float]] = {}
    for metric in text_string_to_metric_families(text):
        for sample in metric.samples:
            if sample.name == family:
                found[sample.labels["target"]] = {**sample.labels, "value": sample.value}
    return found


def all_probed(pitwatch: Pitwatch, expected: int) -> bool:
    return len(values(pitwatch.metrics(), "pitwatch_probe_success")) == expected


def test_fifty_targets_with_bad_ones_promtool_clean(platform: FakePlatform, tmp_path: Path) -> None:
    config = write_config(tmp_path, fleet_config(platform))
    with Pitwatch(tmp_path, config) as pitwatch:
        wait_until(lambda: all_probed(pitwatch, 50 + len(BAD)), 15, "every target probed")
        time.sleep(2.5)  # one more round, so counters and histograms have moved
        text = pitwatch.metrics()
    assert promtool_check_metrics(text) == ""
    success = values(text, "pitwatch_probe_success")
    assert {name for name, sample in success.items() if sample["value"] == 1} == {
        f"ok-{index:02d}" for index in range(50)
    }
    errors = {
        (sample.labels["target"], sample.labels["reason"]): sample.value
        for metric in text_string_to_metric_families(text)
        for sample in metric.samples
        if sample.name == "pitwatch_probe_errors_total" and sample.value > 0
    }
    for name, (_, reason) in BAD.items():
        assert success[f"bad-{name}"]["value"] == 0
        reasons = {r for (target, r) in errors if target == f"bad-{name}"}
        assert reasons == {reason}, (name, reasons)


def test_real_prometheus_scrapes_the_exporter(platform: FakePlatform, tmp_path: Path) -> None:
    config = write_config(tmp_path, fleet_config(platform, healthy=6))
    with Pitwatch(tmp_path / "pitwatch", config) as pitwatch:
        scrape = [
            {
                "job_name": "pitwatch",
                "scrape_interval": "1s",
                "static_configs": [{"targets": [f"127.0.0.1:{pitwatch.port}"]}],
            }
        ]
        with Prometheus(tmp_path / "prometheus", prometheus_config(scrape)) as prometheus:
            time.sleep(20)
            targets = prometheus.api("targets")["activeTargets"]
            assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")]
            assert prometheus.value('up{job="pitwatch"}') == 1
            # every scrape over the 20s answered: no gaps, no errors
            scrapes = prometheus.value('count_over_time(up{job="pitwatch"}[20s])')
            assert scrapes is not None and scrapes >= 15
            assert prometheus.value('sum_over_time(up{job="pitwatch"}[20s])') == scrapes
            assert prometheus.value("sum(pitwatch_probe_success)") == 6
            assert prometheus.value("count(pitwatch_probe_success == 0)") == len(BAD)
            result = prometheus.query('pitwatch_probe_success{target="bad-hang"}')
            assert result[0]["metric"]["platform"] == "test-eu"
            assert result[0]["metric"]["component"] == "game_provider"
            increase = prometheus.value(
                'increase(pitwatch_probe_errors_total{target="bad-reset",reason="connect"}[10s])'
            )
            assert increase is not None and increase > 0
