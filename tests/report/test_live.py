"""End to end: a real ``pitwatch run`` probes a local server, a real Prometheus evaluates the
shipped rules/ every second and sends to a real Alertmanager (the shipped routing, receivers
rewritten to a webhook). A payment gateway answers 500 until PitwatchTargetDown fires, then
recovers; ``pitwatch report`` finds the incident and ``pitwatch report incident`` tells it.

Its availability objective is set to 50% so that only PitwatchTargetDown fires (the burn-rate
alerts would keep the incident open for their 5-minute windows).
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.alertmanager import Alertmanager, local_config
from devtools.processes import wait_until
from devtools.prometheus import Prometheus, prometheus_config
from tests.support.alerting import RULES_DIR, FakeUpstream, WebhookRecorder
from tests.support.report_history import run_report
from tests.support.services import Pitwatch


def _at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_real_incident_reported(tmp_path: Path) -> None:
    with ExitStack() as stack:
        upstream = stack.enter_context(FakeUpstream())
        webhook = stack.enter_context(WebhookRecorder())
        alertmanager = stack.enter_context(
            Alertmanager(tmp_path / "alertmanager", local_config(webhook.url))
        )
        config = {
            "global": {"interval": "1s", "timeout": "500ms", "labels": {"platform": "live"}},
            "host": {"enabled": False},
            "targets": [
                {
                    "name": name,
                    "component": "payment_gateway",
                    "tier": 2,
                    "team": "payments",
                    "probe": "http",
                    "url": upstream.url(name),
                    "objectives": {"availability": "50%"},
                }
                for name in ("psp-live", "psp-spare")
            ],
        }
        (tmp_path / "pitwatch.yml").write_text(json.dumps(config))
        pitwatch = stack.enter_context(Pitwatch(tmp_path / "pitwatch", tmp_path / "pitwatch.yml"))
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
                    rule_files=sorted(RULES_DIR.glob("*.yml")),
                    alertmanagers=[f"127.0.0.1:{alertmanager.port}"],
                    interval="1s",
                ),
            )
        )
        wait_until(
            lambda: prometheus.value("count(pitwatch_probe_success == 1)") == 2,
            60,
            "both targets up in Prometheus",
        )
        time.sleep(3)  # some healthy history before the fault, for the timeline's first row
        fault = time.time()
        upstream.set(500, "psp-live")
        wait_until(
            lambda: any(webhook.find("payments-pager", "firing", alertname="PitwatchTargetDown")),
            150,
            "PitwatchTargetDown on the payments pager",
        )
        upstream.set(200, "psp-live")
        recovered = time.time()
        wait_until(
            lambda: (
                not prometheus.query(
                    'ALERTS{severity=~"critical|high", alertname!="PitwatchWatchdog"}'
                )
            ),
            60,
            "the alert to resolve",
        )
        time.sleep(2)
        url = ("--prometheus", prometheus.url)

        service = run_report(*url, "--last", "10m", "--format", "json")
        assert service.returncode == 0, service.stderr
        (incident,) = json.loads(service.stdout)["incidents"]
        assert incident["id"].endswith("-payment_gateway")
        assert (incident["severity"], incident["status"], incident["targets"]) == (
            "high",
            "resolved",
            ["psp-live"],
        )
        assert incident["alerts"] == ["PitwatchTargetDown"]
        assert list(incident["reasons"]) == ["http_status"]

        done = run_report("incident", incident["id"], *url, "--format", "json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
    detection = report["detection"]
    impact, pending = _at(detection["impact_started_at"]), _at(detection["pending_at"])
    firing, resolved = _at(detection["firing_at"]), _at(detection["resolved_at"])
    # The first failed probe within a scrape (1s, plus a probe interval) of the fault.
    assert fault - 1 <= impact <= fault + 3
    # TargetDown: two failed probes, then its `for: 1m`.
    assert impact < pending <= impact + 5
    assert 60 <= firing - pending <= 63
    assert recovered - 1 <= resolved <= recovered + 5
    kinds = [row["kind"] for row in report["timeline"]]
    assert kinds == ["context", "impact", "pending", "firing", "recovery", "resolved"]
    rows = report["timeline"]
    assert rows[0]["text"] == "Before the impact: psp-live answering"
    assert rows[1]["text"] == "psp-live: probes fail (http_status, HTTP 500)"
    assert [_at(r["at"]) for r in rows] == sorted(_at(r["at"]) for r in rows)
    assert _at(rows[4]["at"]) <= resolved
    assert all(r["prometheus_url"].startswith(f"{prometheus.url}/graph?") for r in rows)
    (target,) = report["impact"]["targets"]
    assert target["failed_probes"] == report["incident"]["failed_probes"] > 0
    assert target["http_statuses"]["500"] > 0
