"""A throwaway Prometheus: any config, on 127.0.0.1, data in its work directory."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from devtools import REPO
from devtools.processes import ConfiguredService, ServiceError, http_get

SHIPPED_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"


def prometheus_config(
    scrape_configs: list[dict[str, Any]],
    rule_files: Iterable[Path] = (),
    alertmanagers: Iterable[str] = (),
    interval: str = "1s",
) -> dict[str, Any]:
    """A config for tests: these scrape jobs and rule files, every ``interval``."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": scrape_configs,
        "rule_files": [str(path) for path in rule_files],
    }
    targets = list(alertmanagers)
    if targets:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    return config


def local_shipped_config(
    exporter: str, alertmanager: str, interval: str | None = None
) -> dict[str, Any]:
    """The shipped deploy/prometheus/prometheus.yml with its addresses pointed at this
    machine (``localhost`` may resolve to ::1 where only 127.0.0.1 listens) and its rule file
    patterns made absolute; ``interval`` overrides the scrape and evaluation interval."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED_CONFIG.read_text())
    config["rule_files"] = [
        os.path.normpath(SHIPPED_CONFIG.parent / pattern) for pattern in config["rule_files"]
    ]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == "pitwatch"]
    if len(jobs) != 1:
        raise ValueError(f"{SHIPPED_CONFIG} has no single scrape job named pitwatch")
    jobs[0]["static_configs"] = [{"targets": [exporter]}]
    if interval is not None:
        config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = interval
    return config


class Prometheus(ConfiguredService):
    """Prometheus with ``config`` (written to its work directory, after ``header``)."""

    name = executable = package = "prometheus"
    config_file = "prometheus.yml"

    def options(self) -> list[str]:
        return [f"--storage.tsdb.path={self.workdir / 'data'}", "--web.enable-lifecycle"]

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = http_get(f"{self.url}/api/v1/{path}{query}")
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise ServiceError(f"Prometheus API {path} failed: {body[:500]!r}")
        return payload["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        return list(data["result"])

    def value(self, expr: str) -> float | None:
        """The single value of an instant query (None when the result is empty)."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) != 1:
            raise ServiceError(f"{expr} returned {len(result)} series, not one: {result}")
        return float(result[0]["value"][1])

    def scrape_health(self, job: str) -> str | None:
        """``up``/``down`` of ``job``'s target as Prometheus last saw it, or ``None``."""
        try:
            active = self.api("targets", state="active")["activeTargets"]
        except (OSError, ValueError, KeyError, ServiceError):
            return None
        for target in active:
            if target.get("labels", {}).get("job") == job and target.get("health") != "unknown":
                return str(target["health"])
        return None
