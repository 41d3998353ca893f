"""``pitwatch demo`` as a real process for tests: started through the command line on a free
loopback port with its own state file, faults switched through ``pitwatch demo fault``.

Tests of other parts (dashboards, the stack) can start one the same way::

    with DemoProcess(tmp_path / "demo") as demo:
        demo.wait_until_healthy()
        demo.fault("psp-northpay", "down")
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devtools.processes import Service, http_get, http_post, wait_until
from pitwatch.demo.catalog import SERVICES
from pitwatch.demo.config import TRAFFIC_TARGET

TARGETS = frozenset(
    {s.name for s in SERVICES if s.role != "aggregator"} | {TRAFFIC_TARGET},
)
"""Every target the demo's config probes."""

Labels = dict[str, str]


def pitwatch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``pitwatch`` command line of this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "pitwatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def samples(exposition: str, name: str) -> Iterator[tuple[Labels, float]]:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                yield dict(sample.labels), float(sample.value)


def by_target(exposition: str, name: str, **labels: str) -> dict[str, float]:
    """``name``'s values by target, of the samples that carry ``labels``."""
    return {
        found["target"]: value
        for found, value in samples(exposition, name)
        if all(found.get(k) == v for k, v in labels.items())
    }


class DemoProcess(Service):
    name = "demo"

    def __init__(
        self,
        workdir: Path,
        *extra: str,
        interval: str = "1s",
        latency_scale: float = 0.3,
    ) -> None:
        super().__init__(workdir)
        self.state_file = workdir / "demo-state.json"
        self.extra = extra
        self.interval = interval
        self.latency_scale = latency_scale

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pitwatch",
            "demo",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--interval",
            self.interval,
            "--latency-scale",
            str(self.latency_scale),
            "--state-file",
            str(self.state_file),
            *self.extra,
        ]

    def config_path(self) -> Path:
        match = re.search(r"^  config\s+(\S+)", self.output(), re.MULTILINE)
        assert match, self.output()
        return Path(match.group(1))

    def metrics(self) -> str:
        status, body = http_get(f"{self.url}/metrics")
        assert status == 200, body
        return body.decode()

    def fault(self, service: str, fault: str) -> str:
        """Switch a fault through the command line; its output."""
        result = pitwatch("demo", "fault", "--state-file", str(self.state_file), service, fault)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def set_fault(self, service: str, fault: str) -> None:
        """Switch a fault through the control endpoint the command line talks to (without
        starting a Python for it)."""
        control = json.loads(self.state_file.read_text())["control_url"]
        status, body = http_post(f"{control}/faults/{service}", fault.encode(), "text/plain")
        assert status == 200, body

    def success(self) -> dict[str, float]:
        return by_target(self.metrics(), "pitwatch_probe_success")

    def wait_until_healthy(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            success = self.success()
            return set(success) == TARGETS and all(value == 1 for value in success.values())

        wait_until(healthy, timeout, "every demo target probed and up", interval=0.5)
