"""End to end: a real ``pitwatch run`` probes a local server, a real Prometheus evaluates the
shipped rules/ on it, and a real Alertmanager with the shipped config (receivers rewritten to a
local webhook) notifies. Two faults at once, in one stack:

- a tier-2 payment gateway starts answering 500: the payments team's pager gets one
  PitwatchTargetDown with severity high, and its recovery as resolved;
- every game provider fails at once: one critical PitwatchGameProvidersDown reaches the central
  pager, and the per-target alerts it covers stay inhibited.

Only the scrape and evaluation interval (1s) differ from production; the rule and Alertmanager
files are the shipped ones, so the times printed are what their `for:` and group timings give.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from devtools.alertmanager import Alertmanager, local_config
from devtools.processes import wait_until
from devtools.prometheus import Prometheus, prometheus_config
from tests.support.alerting import (
    RULES_DIR,
    FakeUpstream,
    WebhookRecorder,
    rule_groups,
)
from tests.support.services import Pitwatch

GATEWAYS = ("psp-adyen", "psp-skrill")
PROVIDERS = ("gp-evolution", "gp-pragmatic", "gp-netent", "gp-playtech")
PER_TARGET_ALERTS = frozenset(
    {
        "PitwatchTargetDown",
        "PitwatchErrorBudgetBurn",
        "PitwatchTargetErrorRatioHigh",
        "PitwatchTargetSlow",
        "PitwatchTargetFlapping",
        "PitwatchComponentDegraded",
    }
)


def pitwatch_config(upstream: FakeUpstream) -> dict[str, Any]:
    def target(name: str, component: str, tier: int, team: str) -> dict[str, Any]:
        return {
            "name": name,
            "component": component,
            "tier": tier,
            "team": team,
            "probe": "http",
            "url": upstream.url(name),
        }

    return {
        "global": {"interval": "1s", "timeout": "500ms", "labels": {"platform": "e2e"}},
        "host": {"enabled": False},
        "targets": [
            *(target(name, "payment_gateway", 2, "payments") for name in GATEWAYS),
            *(target(name, "game_provider", 2, "integrations") for name in PROVIDERS),
            target("api-lobby", "api", 1, "backend"),
        ],
    }


def _report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(f"\n[e2e] {text}", flush=True)


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_faults_reach_the_right_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    with ExitStack() as stack:
        upstream = stack.enter_context(FakeUpstream())
        webhook = stack.enter_context(WebhookRecorder())

        alertmanager = stack.enter_context(
            Alertmanager(tmp_path / "alertmanager", local_config(webhook.url))
        )

        # JSON is YAML, and quotes every string.
        config = tmp_path / "pitwatch.yml"
        config.write_text(json.dumps(pitwatch_config(upstream), indent=2))
        pitwatch = stack.enter_context(Pitwatch(tmp_path / "pitwatch", config))

        rule_files = sorted(RULES_DIR.glob("*.yml"))
        prometheus = stack.enter_context(
            Prometheus(
                tmp_path / "prometheus",
                prometheus_config(
                    scrape_configs=[
                        {
                            "job_name": "pitwatch",
                            "static_configs": [{"targets": [f"127.0.0.1:{pitwatch.port}"]}],
                        }
                    ],
                    rule_files=rule_files,
                    alertmanagers=[f"127.0.0.1:{alertmanager.port}"],
                    interval="1s",
                ),
            )
        )

        # Healthy first: every target probed and up, every shipped rule group loaded, and
        # Prometheus sending to the Alertmanager.
        total = len(GATEWAYS) + len(PROVIDERS) + 1
        wait_until(
            lambda: prometheus.value("count(pitwatch_probe_success == 1)") == total,
            60,
            "every target up in Prometheus",
        )
        loaded = {group["name"] for group in prometheus.api("rules")["groups"]}
        assert loaded == {group.name for group in rule_groups(rule_files)}
        wait_until(
            lambda: prometheus.api("alertmanagers")["activeAlertmanagers"] != [],
            30,
            "Prometheus to find the Alertmanager",
        )
        assert not [n for n in webhook.received() if n.receiver != "heartbeat"], "quiet start"
        _report(capsys, f"stack up and quiet after {time.monotonic() - started:.1f}s")
        fault = time.monotonic()
        upstream.set(500, "psp-adyen", *PROVIDERS)

        # The provider fleet: one critical page, well before any per-target alert.
        wait_until(
            lambda: any(
                webhook.find("central-pager", "firing", alertname="PitwatchGameProvidersDown")
            ),
            120,
            "PitwatchGameProvidersDown on the central pager",
        )
        fleet_seconds = time.monotonic() - fault

        # The payment gateway: the payments pager, severity high.
        wait_until(
            lambda: any(
                webhook.find(
                    "payments-pager", "firing", alertname="PitwatchTargetDown", target="psp-adyen"
                )
            ),
            150,
            "PitwatchTargetDown psp-adyen on the payments pager",
        )
        page_seconds = time.monotonic() - fault
        upstream.set(200, "psp-adyen")
        recovery = time.monotonic()
        (page,) = webhook.find(
            "payments-pager", "firing", alertname="PitwatchTargetDown", target="psp-adyen"
        )
        (alert,) = page.alerts(alertname="PitwatchTargetDown")
        assert alert["labels"]["severity"] == "high"
        assert alert["labels"]["team"] == "payments"
        assert alert["labels"]["component"] == "payment_gateway"
        assert "reason: http_status, last HTTP status 500" in alert["annotations"]["description"]

        # The providers' own TargetDown alerts fire too, and Alertmanager holds them back.
        def providers_inhibited() -> bool:
            held = {
                a["labels"]["target"]
                for a in alertmanager.alerts(filter='alertname="PitwatchTargetDown"')
                if a["labels"].get("component") == "game_provider" and a["status"]["inhibitedBy"]
            }
            return held == set(PROVIDERS)

        wait_until(providers_inhibited, 60, "the providers' TargetDown alerts, inhibited")
        inhibited_at = time.monotonic()
        _report(capsys, f"provider alerts inhibited {inhibited_at - fault:.1f}s after the fault")

        # The recovery reaches the same pager as resolved.
        wait_until(
            lambda: any(
                webhook.find(
                    "payments-pager",
                    "resolved",
                    alertname="PitwatchTargetDown",
                    target="psp-adyen",
                )
            ),
            150,
            "the resolved psp-adyen notification",
        )
        resolved_seconds = time.monotonic() - recovery
        # Anything inhibited would have been sent 10s (the pagers' group_wait) after it fired.
        wait_until(lambda: time.monotonic() - inhibited_at > 12, 15, "a pager group_wait")

    # The Watchdog went through the whole pipeline too. (Prometheus dropped its first send,
    # made before it had found the Alertmanager, and re-sent it after its 1m resend delay.)
    assert webhook.received("heartbeat"), "no Watchdog heartbeat"
    fleet_pages = [
        n
        for n in webhook.received("central-pager")
        if n.alerts(alertname="PitwatchGameProvidersDown")
    ]
    assert len(fleet_pages) == 1, [n.payload for n in fleet_pages]
    (fleet_alert,) = fleet_pages[0].payload["alerts"]
    assert fleet_alert["status"] == "firing"
    assert fleet_alert["labels"]["severity"] == "critical"
    assert fleet_alert["labels"]["team"] == "integrations"
    assert any(webhook.find("incident-channel", alertname="PitwatchGameProvidersDown"))
    leaked = [
        (n.receiver, a["labels"]["alertname"], a["labels"].get("target"))
        for n in webhook.received()
        for a in n.alerts(component="game_provider")
        if a["labels"]["alertname"] in PER_TARGET_ALERTS
    ]
    assert not leaked, f"per-target provider alerts were not inhibited: {leaked}"

    _report(capsys, f"fleet outage -> central pager (critical): {fleet_seconds:.1f}s")
    _report(capsys, f"payment gateway 500 -> payments pager (high): {page_seconds:.1f}s")
    _report(capsys, f"payment gateway recovered -> resolved on the pager: {resolved_seconds:.1f}s")
