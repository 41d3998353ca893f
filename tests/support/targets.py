"""Helpers the probe and core tests share: configs written to a temporary directory, one
target's probe run exactly as the scheduler runs it, and its samples as a dict."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from pitwatch.config import Config, load_config
from pitwatch.result import Observation
from pitwatch.scheduler import Scheduler
from pitwatch.selfmetrics import SelfMetrics
from pitwatch.store import ResultStore


def write_config(directory: Path, text: str, name: str = "pitwatch.yml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def config_from(directory: Path, text: str) -> Config:
    return load_config(write_config(directory, text))


async def probe_target(config: Config, name: str | None = None) -> Observation:
    """Run one target's probe exactly as the scheduler does (deadline, cap, redaction)."""
    store = ResultStore()
    store.apply_config(config)
    scheduler = Scheduler(store, SelfMetrics(), config.global_.max_concurrency)
    target = config.target(name) if name else config.targets[0]
    assert target is not None
    observation = await scheduler.run_probe(target)
    # A closed TLS connection finishes its close_notify exchange in the background; let it,
    # before the test's event loop ends under it.
    await asyncio.sleep(0.05)
    return observation


def one_target(body: str, interval: str = "10s", timeout: str = "2s") -> str:
    """A config with a single target whose keys are ``body`` (YAML lines)."""
    lines = "\n".join(f"    {line}" for line in textwrap.dedent(body).strip().splitlines())
    return (
        f"global:\n  interval: {interval}\n  timeout: {timeout}\nhost:\n  enabled: false\n"
        f"targets:\n  - name: t\n    component: api\n{lines}\n"
    )


def samples_of(observation: Observation) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.family.name, sample.labels): sample.value for sample in observation.result.samples
    }
