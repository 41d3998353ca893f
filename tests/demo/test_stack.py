"""``make stack`` (scripts/stack.py on devtools): its Alertmanager config is the shipped one
with only the receivers swapped for a printing webhook, and end to end, with production timings, a payment
gateway broken with ``pitwatch demo fault`` reaches Alertmanager within the 3 minutes the
README promises, and prints as the README shows it."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import urllib.parse
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import REPO
from devtools.alertmanager import local_config, shipped_config
from devtools.processes import Service, answers, free_port, http_get, wait_until
from devtools.prometheus import local_shipped_config
from scripts import stack
from tests.support.demo import DemoProcess
from tests.support.services import run_tool

PROMISED_SECONDS = 180.0
"""README, "See it in a minute": the alert shows in Alertmanager within 3 minutes."""


def test_local_alertmanager_config_keeps_the_shipped_routing(tmp_path: Path) -> None:
    shipped = shipped_config()
    local: dict[str, Any] = local_config("http://127.0.0.1:1")
    for key in ("route", "inhibit_rules", "time_intervals"):
        assert local[key] == shipped[key], key
    assert [r["name"] for r in local["receivers"]] == [r["name"] for r in shipped["receivers"]]
    for receiver in local["receivers"]:
        assert set(receiver) == {"name", "webhook_configs"}
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == f"http://127.0.0.1:1/{receiver['name']}"
    resolved = {r["name"]: r["webhook_configs"][0]["send_resolved"] for r in local["receivers"]}
    assert resolved["heartbeat"] is False
    assert resolved["payments-pager"] is True
    assert "_file" not in yaml.safe_dump(local)  # no secret this machine lacks

    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(local))
    run_tool("amtool", "check-config", str(path))


def test_local_prometheus_config_is_the_shipped_one_on_loopback(tmp_path: Path) -> None:
    shipped = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    local: dict[str, Any] = local_shipped_config("127.0.0.1:19469", "127.0.0.1:19093")
    assert local["global"] == shipped["global"]
    assert stack.rule_files(local) == sorted((REPO / "rules").glob("*.yml"))
    assert local["alerting"]["alertmanagers"] == [
        {"static_configs": [{"targets": ["127.0.0.1:19093"]}]}
    ]
    (job,) = local["scrape_configs"]
    assert job == {"job_name": "pitwatch", "static_configs": [{"targets": ["127.0.0.1:19469"]}]}
    faster = local_shipped_config("127.0.0.1:19469", "127.0.0.1:19093", "5s")
    assert faster["global"] == {"scrape_interval": "5s", "evaluation_interval": "5s"}

    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(local))
    run_tool("promtool", "check", "config", str(path))


def test_grafana_provisioning_points_at_the_stack(tmp_path: Path) -> None:
    provisioning: Path = stack.grafana_provisioning(tmp_path, "http://127.0.0.1:9090", "15s")
    (datasource_file,) = (provisioning / "datasources").glob("*.yml")
    (datasource,) = yaml.safe_load(datasource_file.read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://127.0.0.1:9090"
    assert datasource["jsonData"]["timeInterval"] == "15s"
    (provider_file,) = (provisioning / "dashboards").glob("*.yml")
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    assert provider["options"]["path"] == str(REPO / "dashboards")


class Stack(Service):
    """scripts/stack.py as ``make stack`` runs it; ``port`` is its Prometheus."""

    name = "stack"

    def __init__(self, workdir: Path, exporter: str) -> None:
        super().__init__(workdir)
        self.alertmanager_port = free_port()
        self.exporter = exporter

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "scripts.stack",
            "--exporter",
            self.exporter,
            "--prometheus-port",
            str(self.port),
            "--alertmanager-port",
            str(self.alertmanager_port),
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO)}  # as `make stack` runs it, from the root

    def query(self, expr: str) -> list[Any]:
        status, body = http_get(
            f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        )
        assert status == 200, body
        return list(json.loads(body)["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.alertmanager_url}/api/v2/alerts")
        assert status == 200, body
        return list(json.loads(body))


def _gateway_alert(stack: Stack, gateway: str) -> dict[str, Any] | None:
    for alert in stack.alerts():
        labels = alert["labels"]
        if labels.get("alertname") == "PitwatchTargetDown" and labels.get("target") == gateway:
            return alert
    return None


def _untimed(line: str) -> str:
    return re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line).strip()


def _readme_notification() -> list[str]:
    """The notification lines the README's "See it in a minute" shows."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```\n(\[\d\d:\d\d:\d\d\] payments-pager: .*?)```", readme, re.DOTALL)
    assert block is not None, "the README no longer shows the notification"
    return [_untimed(line) for line in block.group(1).splitlines()]


def _report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(f"\n[stack] {text}", flush=True)


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_gateway_fault_reaches_alertmanager_within_three_minutes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = "psp-northpay"
    # Production timings throughout: probes every 15s, real latencies, scrapes and rule
    # evaluations every 15s (the stack's default), the shipped `for:` and group_wait.
    with ExitStack() as services:
        demo = DemoProcess(tmp_path / "demo", interval="15s", latency_scale=1.0)
        services.callback(demo.stop)
        demo.start()
        running = Stack(tmp_path / "stack", f"127.0.0.1:{demo.port}")
        services.callback(running.stop)
        running.start(timeout=90)  # starts Alertmanager, then Prometheus: ready is the latter
        started = time.monotonic()
        wait_until(lambda: "notifications (" in running.output(), 30, "the stack's banner")
        output = running.output()
        assert f"Prometheus    http://127.0.0.1:{running.port}" in output
        assert f"Alertmanager  {running.alertmanager_url}" in output
        assert "docker run" in output and "/etc/grafana/provisioning" in output

        wait_until(
            lambda: f"scrapes pitwatch at 127.0.0.1:{demo.port}: up" in running.output(),
            60,
            "the stack to report the demo scraped",
            interval=0.5,
        )
        wait_until(
            lambda: (
                [
                    r["value"][1]
                    for r in running.query(f'pitwatch_probe_success{{target="{gateway}"}}')
                ]
                == ["1"]
            ),
            60,
            f"Prometheus to see {gateway} up",
            interval=0.5,
        )
        assert _gateway_alert(running, gateway) is None
        _report(capsys, f"demo and stack up and scraped after {time.monotonic() - started:.1f}s")

        fault_at = time.monotonic()
        assert demo.fault(gateway, "down").strip() == f"{gateway}: ok -> down"
        wait_until(
            lambda: _gateway_alert(running, gateway) is not None,
            PROMISED_SECONDS + 30,
            f"PitwatchTargetDown for {gateway} in Alertmanager",
            interval=1.0,
        )
        seconds = time.monotonic() - fault_at
        _report(capsys, f"`pitwatch demo fault {gateway} down` -> Alertmanager: {seconds:.1f}s")
        assert seconds < PROMISED_SECONDS

        alert = _gateway_alert(running, gateway)
        assert alert is not None
        assert alert["labels"]["severity"] == "high"
        assert alert["labels"]["team"] == "payments"
        assert alert["labels"]["platform"] == "demo"
        assert "reason: connect" in alert["annotations"]["description"]
        # The webhook printed the Watchdog's heartbeat (Alertmanager -> webhook -> stdout works),
        # and this alert prints as the README shows it. (The pager's own copy comes after its
        # 10s group_wait: not worth waiting for here.)
        assert re.search(r"\] heartbeat: PitwatchWatchdog arrived", running.output())
        printed: list[str] = []
        stack.Printer(printed.append).notification(
            "payments-pager",
            {"alerts": [{"status": "firing", **{k: alert[k] for k in ("labels", "annotations")}}]},
        )
        _report(capsys, "prints:\n" + "\n".join(printed))
        assert [_untimed(line) for line in printed] == _readme_notification()
        # Ctrl-C stops Prometheus and Alertmanager and removes the throwaway directory.
        workdir = re.search(r"^  files\s+(\S+)", running.output(), re.MULTILINE)
        assert workdir is not None
        assert running.process is not None
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(30) == 0, running.output()
        assert not answers(f"{running.url}/-/ready")
        assert not answers(f"{running.alertmanager_url}/-/ready")
        assert not Path(workdir.group(1)).exists()
        assert "Traceback" not in running.output()
