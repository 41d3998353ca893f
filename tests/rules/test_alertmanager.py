"""deploy/alertmanager/: amtool accepts the config, every severity x team reaches the right
receivers, the templates put the essentials first, secrets come only from files, and a real
Alertmanager 0.25 inhibits what it should (fleet -> per-target, canary -> providers, severity
ladder) and nothing more."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devtools.alertmanager import SHIPPED_CONFIG as ALERTMANAGER_CONFIG
from devtools.alertmanager import SHIPPED_DIR as ALERTMANAGER_DIR
from devtools.alertmanager import Alertmanager, local_config, shipped_config
from devtools.processes import binary, http_post, wait_until
from tests.support.alerting import (
    GRAFANA_BASE_URL,
    RUNBOOK_BASE_URL,
    WebhookRecorder,
)
from tests.support.services import run_tool

TEAMS = ("platform", "backend", "integrations", "payments", "dba", "security", "support")
"""Teams with a route of their own (SPEC's example organisation); docs/alerting.md says how to
add one."""
CRITICAL_FANOUT = ("central-pager", "incident-channel", "support-coordination")


def amtool() -> str:
    return binary("amtool", "prometheus-alertmanager")


def expected_receivers(severity: str, team: str) -> list[str]:
    if severity == "critical":
        return [*CRITICAL_FANOUT, f"{team}-chat"] if team in TEAMS else list(CRITICAL_FANOUT)
    if team not in TEAMS:
        return {
            "high": ["central-pager"],
            "medium": ["platform-chat"],
            "low": ["platform-tickets"],
        }[severity]
    return [f"{team}-{ {'high': 'pager', 'medium': 'chat', 'low': 'tickets'}[severity] }"]


def test_amtool_check_config() -> None:
    result = run_tool(amtool(), "check-config", str(ALERTMANAGER_CONFIG))
    print(result.stdout)
    assert "SUCCESS" in result.stdout
    assert "1 templates" in result.stdout


@pytest.mark.parametrize("team", [*TEAMS, "unowned"])
@pytest.mark.parametrize("severity", ["critical", "high", "medium", "low"])
def test_route(severity: str, team: str) -> None:
    receivers = expected_receivers(severity, team)
    result = run_tool(
        amtool(),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={','.join(receivers)}",
        "alertname=PitwatchTargetDown",
        f"severity={severity}",
        f"team={team}",
        "platform=prod-eu",
        "target=x",
    )
    assert result.stdout.strip() == ",".join(receivers)


def test_watchdog_goes_to_the_heartbeat_only() -> None:
    result = run_tool(
        amtool(),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        "--verify.receivers=heartbeat",
        "alertname=PitwatchWatchdog",
        "severity=none",
    )
    assert result.stdout.strip() == "heartbeat"


def test_every_receiver_is_routed_to() -> None:
    config = shipped_config()
    routed: set[str] = set()

    def walk(route: Mapping[str, Any]) -> None:
        routed.add(route["receiver"])
        for child in route.get("routes") or []:
            walk(child)

    walk(config["route"])
    assert routed == {receiver["name"] for receiver in config["receivers"]}


# -- secrets -----------------------------------------------------------------------------------

SECRET_KEYS = frozenset(
    {
        "api_url",
        "slack_api_url",
        "routing_key",
        "service_key",
        "api_key",
        "opsgenie_api_key",
        "auth_password",
        "smtp_auth_password",
        "auth_secret",
        "bot_token",
        "token",
        "password",
        "credentials",
        "bearer_token",
        "client_secret",
    }
)


def _walk(node: Any, path: str = "") -> list[tuple[str, str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((path, str(key), value))
            found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_walk(item, f"{path}[{index}]"))
    return found


def test_secrets_only_from_files() -> None:
    config = shipped_config()
    inline = [f"{path}.{key}" for path, key, _ in _walk(config) if key in SECRET_KEYS]
    assert not inline, f"secrets must come from *_file fields: {inline}"
    for path, key, value in _walk(config):
        if key == "url" or key.endswith("_url"):
            assert "?" not in str(value) and "@" not in str(value), f"{path}.{key}: {value}"
        if key.endswith("_file"):
            assert str(value).startswith("/etc/alertmanager/secrets/"), f"{path}.{key}"


# -- templates ---------------------------------------------------------------------------------


def _alert(labels: Mapping[str, str], description: str, status: str = "firing") -> dict[str, Any]:
    dashboard = f"/d/pitwatch-target/pitwatch-target?var-target={labels.get('target', '')}"
    return {
        "status": status,
        "labels": {"alertname": "PitwatchTargetDown", **labels},
        "annotations": {
            "summary": "A probed target fails every probe.",
            "description": description,
            "runbook_url": f"{RUNBOOK_BASE_URL}PitwatchTargetDown.md",
            "dashboard_url": dashboard,
        },
        "startsAt": "2026-11-21T03:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-21T03:09:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": labels.get("target", "x"),
    }


def _render(tmp_path: Path, data: Mapping[str, Any], text: str) -> str:
    data_path = tmp_path / "data.json"
    data_path.write_text(json.dumps(data))
    result = run_tool(
        amtool(),
        "template",
        "render",
        f"--template.glob={ALERTMANAGER_DIR / 'templates' / '*.tmpl'}",
        f"--template.data={data_path}",
        f"--template.text={text}",
    )
    return result.stdout


def _group(severity: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    common = {"alertname": "PitwatchTargetDown", "severity": severity, "platform": "prod-eu"}
    return {
        "receiver": "payments-pager",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": {"alertname": "PitwatchTargetDown", "platform": "prod-eu"},
        "commonLabels": common,
        "commonAnnotations": {"summary": "A probed target fails every probe."},
        "externalURL": "http://alertmanager:9093",
    }


def test_notification_text_puts_the_essentials_first(tmp_path: Path) -> None:
    labels = {"severity": "high", "component": "payment_gateway", "platform": "prod-eu"}
    data = _group(
        "high",
        [
            _alert(
                {**labels, "target": "psp-adyen"},
                "psp-adyen fails its probes; reason: http_status, last HTTP status 500.",
            ),
            _alert({**labels, "target": "psp-skrill"}, "psp-skrill fails; reason: timeout."),
            _alert({**labels, "target": "psp-old"}, "psp-old recovered.", status="resolved"),
        ],
    )
    title = _render(tmp_path, data, '{{ template "pitwatch.title" . }}')
    assert title == "[FIRING:2] HIGH A probed target fails every probe. (prod-eu)"
    lines = _render(tmp_path, data, '{{ template "pitwatch.text" . }}').splitlines()
    print("\n".join(lines))
    assert lines[:4] == [
        "A probed target fails every probe.",
        "Affected: psp-adyen, psp-skrill",
        f"Runbook: {RUNBOOK_BASE_URL}PitwatchTargetDown.md",
        f"Dashboard: {GRAFANA_BASE_URL}/d/pitwatch-target/pitwatch-target?var-target=psp-adyen",
    ]
    body = "\n".join(lines)
    assert "- psp-adyen fails its probes; reason: http_status, last HTTP status 500. [high]" in body
    assert body.index("Firing:") < body.index("Resolved:") < body.index("psp-old recovered.")


def test_resolved_notification_names_what_recovered(tmp_path: Path) -> None:
    labels = {"severity": "high", "component": "payment_gateway", "platform": "prod-eu"}
    data = _group(
        "high", [_alert({**labels, "target": "psp-adyen"}, "psp-adyen ...", status="resolved")]
    )
    assert _render(tmp_path, data, '{{ template "pitwatch.title" . }}').startswith(
        "[RESOLVED] HIGH A probed target fails every probe."
    )
    assert _render(tmp_path, data, '{{ template "pitwatch.affected" . }}') == "psp-adyen"


@pytest.mark.parametrize(
    ("severity", "pagerduty"),
    [("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info")],
)
def test_pagerduty_severity(tmp_path: Path, severity: str, pagerduty: str) -> None:
    data = _group(severity, [_alert({"severity": severity, "target": "t"}, "d")])
    assert _render(tmp_path, data, '{{ template "pitwatch.pagerduty.severity" . }}') == pagerduty


# -- a real Alertmanager -----------------------------------------------------------------------


def _post(alertmanager: Alertmanager, *alerts: Mapping[str, str]) -> None:
    now = dt.datetime.now(dt.UTC)
    body = [
        {
            "labels": dict(labels),
            "annotations": {"summary": "s.", "description": "d"},
            "startsAt": now.isoformat(),
            "endsAt": (now + dt.timedelta(minutes=10)).isoformat(),
        }
        for labels in alerts
    ]
    status, answer = http_post(f"{alertmanager.url}/api/v2/alerts", json.dumps(body).encode())
    assert status == 200, answer


def _inhibited(alertmanager: Alertmanager) -> dict[tuple[str, str], bool]:
    """(alertname, target or component or platform) -> inhibited?"""
    state = {}
    for alert in alertmanager.alerts():
        labels = alert["labels"]
        key = labels.get("target") or labels.get("component") or labels["platform"]
        state[(labels["alertname"], key)] = bool(alert["status"]["inhibitedBy"])
    return state


@pytest.mark.slow
def test_inhibition_in_a_real_alertmanager(tmp_path: Path) -> None:
    eu = {"platform": "prod-eu"}
    uk = {"platform": "prod-uk"}
    providers = {**eu, "component": "game_provider", "team": "integrations"}
    with (
        WebhookRecorder() as webhook,
        Alertmanager(tmp_path / "am", local_config(webhook.url)) as alertmanager,
    ):
        _post(
            alertmanager,
            # prod-eu: a provider fleet outage and its per-target alerts.
            {"alertname": "PitwatchGameProvidersDown", "severity": "critical", **providers},
            {"alertname": "PitwatchComponentDegraded", "severity": "high", **providers},
            {"alertname": "PitwatchTargetDown", "severity": "high", "target": "gp-a",
             "tier": "2", **providers},
            {"alertname": "PitwatchErrorBudgetBurn", "severity": "high", "target": "gp-b",
             "tier": "2", "long": "1h", "short": "5m", **providers},
            # prod-eu: a tier-1 API down and burning; half of the APIs down.
            {"alertname": "PitwatchTargetDown", "severity": "critical", "target": "api-core",
             "component": "api", "team": "backend", "tier": "1", **eu},
            {"alertname": "PitwatchErrorBudgetBurn", "severity": "high", "target": "api-core",
             "component": "api", "team": "backend", "tier": "1", "long": "1h",
             "short": "5m", **eu},
            {"alertname": "PitwatchComponentDegraded", "severity": "high", "component": "api",
             "team": "backend", **eu},
            {"alertname": "PitwatchTargetDown", "severity": "high", "target": "psp-eu",
             "component": "payment_gateway", "team": "payments", "tier": "2", **eu},
            # prod-uk: our egress is down, and so, seemingly, a payment gateway.
            {"alertname": "PitwatchEgressDown", "severity": "critical", "team": "platform",
             **uk},
            {"alertname": "PitwatchTargetDown", "severity": "high", "target": "psp-uk",
             "component": "payment_gateway", "team": "payments", "tier": "2", **uk},
            {"alertname": "PitwatchHostCpuHigh", "severity": "medium", "team": "platform",
             "component": "host", "instance": "pw-uk:9469", **uk},
        )  # fmt: skip
        wait_until(lambda: len(alertmanager.alerts()) == 11, 10, "alerts to arrive")
        assert _inhibited(alertmanager) == {
            ("PitwatchGameProvidersDown", "game_provider"): False,
            ("PitwatchComponentDegraded", "game_provider"): True,  # by the fleet verdict
            ("PitwatchTargetDown", "gp-a"): True,  # by the fleet verdict
            ("PitwatchErrorBudgetBurn", "gp-b"): True,  # by the fleet verdict
            ("PitwatchTargetDown", "api-core"): False,  # a high never hides a critical
            ("PitwatchErrorBudgetBurn", "api-core"): True,  # severity ladder
            ("PitwatchComponentDegraded", "api"): False,
            ("PitwatchTargetDown", "psp-eu"): False,  # other platform than the egress
            ("PitwatchEgressDown", "prod-uk"): False,
            ("PitwatchTargetDown", "psp-uk"): True,  # by the canary
            ("PitwatchHostCpuHigh", "host"): False,  # not an external provider
        }
        # Pages wait 10s (group_wait); give them a few more.
        wait_until(lambda: len(webhook.received("central-pager")) >= 3, 30, "critical pages")
        wait_until(lambda: webhook.received("backend-pager") != [], 10, "the api page")
        wait_until(lambda: webhook.received("payments-pager") != [], 10, "the psp page")
        time.sleep(2)  # anything inhibited would have come in the same flush

    paged = {
        (notification.receiver, alert["labels"]["alertname"], alert["labels"].get("target", ""))
        for notification in webhook.received()
        for alert in notification.payload["alerts"]
        if notification.receiver.endswith("-pager")
    }
    assert paged == {
        ("central-pager", "PitwatchGameProvidersDown", ""),
        ("central-pager", "PitwatchTargetDown", "api-core"),
        ("central-pager", "PitwatchEgressDown", ""),
        ("backend-pager", "PitwatchComponentDegraded", ""),
        ("payments-pager", "PitwatchTargetDown", "psp-eu"),
    }
    assert not webhook.received("integrations-pager")
