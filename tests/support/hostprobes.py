"""Helpers for the process, file and logs probe tests: repeated probes that share a
target's state (as the scheduler's do), reading values back from ``/metrics`` text, and
running ``pitwatch check-config``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from devtools import REPO
from pitwatch.config import Config, ConfigError, load_config
from pitwatch.renderer import Renderer
from pitwatch.result import Observation
from pitwatch.scheduler import Scheduler
from pitwatch.selfmetrics import SelfMetrics
from pitwatch.store import ResultStore
from tests.support.targets import write_config

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Runner:
    """Probes targets of one config again and again with one store, exactly as the
    scheduler does, so state (log offsets, counters) carries from probe to probe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = ResultStore()
        self.renderer = Renderer()
        self.store.subscribe(self.renderer)
        self.store.apply_config(config)
        self.scheduler = Scheduler(self.store, SelfMetrics(), config.global_.max_concurrency)

    def reload(self, config: Config) -> None:
        """What a reload does to the store: targets that stay keep their state."""
        self.config = config
        self.store.apply_config(config)

    async def probe(self, name: str | None = None) -> Observation:
        target = self.config.target(name) if name else self.config.targets[0]
        assert target is not None
        observation = await self.scheduler.run_probe(target)
        self.store.record(target.name, observation)
        return observation

    def rendered(self, name: str | None = None) -> str:
        """The target's lines as ``/metrics`` would show them."""
        fragments = self.renderer.fragments_of(name or self.config.targets[0].name)
        return b"".join(fragments.values()).decode()


def series(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of ``name`` in exposition ``text``: (labels, value)."""
    found = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and match.group(1) == name:
            labels = dict(_LABEL.findall(match.group(2) or ""))
            found.append((labels, float(match.group(3))))
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    """The sum of ``name`` over the samples whose labels include ``labels`` (None: none)."""
    matching = [
        sample_value
        for sample_labels, sample_value in series(text, name)
        if all(sample_labels.get(key) == wanted for key, wanted in labels.items())
    ]
    return sum(matching) if matching else None


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pitwatch", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def problems(directory: Path, text: str) -> list[str]:
    """What loading config ``text`` reports, as ``LINE: message`` (file part dropped)."""
    path = write_config(directory, text)
    try:
        load_config(path)
    except ConfigError as exc:
        return [problem.replace(f"{path}:", "", 1) for problem in exc.problems]
    return []
