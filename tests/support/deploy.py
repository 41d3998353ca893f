"""What the tests of ``deploy/`` (Prometheus, Compose, Kubernetes, systemd) share: the
shipped files' locations, YAML loading, and promtool's verdict on a Prometheus config."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from devtools import REPO
from devtools.processes import binary
from tests.support.services import run_tool

DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
COMPOSE_DIR = DEPLOY / "compose"
KUBERNETES_DIR = DEPLOY / "kubernetes"
SYSTEMD_DIR = DEPLOY / "systemd"
RULE_PACK = sorted((REPO / "rules").glob("*.yml"))
"""The rule files every Prometheus config must load: rules/*.yml, not rules/tests/."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def promtool() -> str:
    return binary("promtool", "prometheus")


def check_prometheus_config(path: Path) -> str:
    """``promtool check config`` (which also checks every rule file it loads); its output."""
    result = run_tool(promtool(), "check", "config", str(path))
    return result.stdout


def resolved_rule_files(config_path: Path) -> list[Path]:
    """The files a Prometheus config's ``rule_files`` globs match, resolved as Prometheus
    does: relative to the config file's directory."""
    config = load_yaml(config_path)
    found: list[Path] = []
    for pattern in config.get("rule_files", []):
        base = Path(pattern)
        if base.is_absolute():
            found += sorted(Path(base.anchor).glob(str(base.relative_to(base.anchor))))
        else:
            found += sorted(config_path.parent.glob(pattern))
    return [path.resolve() for path in found]


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' ``hashmod`` relabel action: md5, last 8 bytes big-endian, mod N."""
    return (
        int.from_bytes(hashlib.md5(value.encode(), usedforsecurity=False).digest()[8:], "big")
        % modulus
    )
