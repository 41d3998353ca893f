"""A throwaway Alertmanager, and the one rule that makes the shipped routing run here.

The shipped ``deploy/alertmanager/alertmanager.yml`` sends to PagerDuty, Slack and e-mail
with secrets read from files this machine lacks. :func:`local_config` keeps its route tree,
timings, time intervals and inhibit rules exactly as shipped and sends every receiver to a
webhook instead (``<url>/<receiver>``), so what would have gone where can be watched.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import yaml

from devtools import REPO
from devtools.processes import ConfiguredService, ServiceError, http_get

SHIPPED_DIR = REPO / "deploy" / "alertmanager"
SHIPPED_CONFIG = SHIPPED_DIR / "alertmanager.yml"
HEARTBEAT_ALERT = "PitwatchWatchdog"
"""The rule pack's always-firing alert: its arrival proves the whole pipeline works."""

SEND_RESOLVED_DEFAULTS = {
    "email_configs": False,
    "slack_configs": False,
    "wechat_configs": False,
}
"""Integrations that do not send resolved notices unless told to (Alertmanager's defaults);
every other kind (webhook, PagerDuty, Opsgenie, ...) does."""


def shipped_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(SHIPPED_CONFIG.read_text())
    return config


def sends_resolved(receiver: Mapping[str, Any]) -> bool:
    """Whether the shipped receiver tells its people an alert resolved: any of its
    integrations does (each by its ``send_resolved``, else its kind's default). A receiver
    without integrations counts as sending them, like a webhook."""
    settings = [
        bool(integration.get("send_resolved", SEND_RESOLVED_DEFAULTS.get(kind, True)))
        for kind, integrations in receiver.items()
        if kind.endswith("_configs")
        for integration in integrations or ()
    ]
    return any(settings) if settings else True


def local_config(webhook_url: str) -> dict[str, Any]:
    """The shipped config with every receiver posting to ``webhook_url/<receiver>`` (keeping
    whether it sends resolved notices), its templates made absolute and its global ``*_file``
    settings dropped (no receiver uses them any more, and the files do not exist here)."""
    config = shipped_config()
    settings = config.get("global") or {}
    for key in [key for key in settings if key.endswith("_file")]:
        del settings[key]
    config["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [
                {
                    "url": f"{webhook_url}/{receiver['name']}",
                    "send_resolved": sends_resolved(receiver),
                }
            ],
        }
        for receiver in config["receivers"]
    ]
    config["templates"] = [str(SHIPPED_DIR / pattern) for pattern in config.get("templates") or ()]
    return config


class Alertmanager(ConfiguredService):
    """Alertmanager with ``config`` (written to its work directory, after ``header``),
    clustering off."""

    name = "alertmanager"
    executable = package = "prometheus-alertmanager"
    config_file = "alertmanager.yml"

    def options(self) -> list[str]:
        return [f"--storage.path={self.workdir / 'data'}", "--cluster.listen-address="]

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        query = f"?{urllib.parse.urlencode(filters)}" if filters else ""
        status, body = http_get(f"{self.url}/api/v2/alerts{query}")
        if status != 200:
            raise ServiceError(f"Alertmanager answered {status}: {body[:300]!r}")
        return list(json.loads(body))
