"""Shared pieces of the benchmarks: a target server process, a pitwatch process, readings."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devtools.processes import free_port, wait_until  # noqa: E402
from tests.support.fake_platform import FakePlatform  # noqa: E402
from tests.support.services import Pitwatch  # noqa: E402

__all__ = ["FakePlatform", "Pitwatch", "TargetServer", "wait_until"]

SERVER = """
import sys
from aiohttp import web

async def ok(request):
    return web.Response(text="ok")

app = web.Application()
app.router.add_get("/ok", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


class TargetServer:
    """A plain aiohttp server answering ``/ok`` in its own process (its own CPU)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TargetServer:
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port)])
        wait_until(self._up, 15, "target server")
        return self

    def _up(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ok", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class Reading:
    at: float
    probes: float
    skipped: float
    cpu: float
    rss: int
    lag_sum: float
    lag_count: float


_PROBES = re.compile(r"^pitwatch_probes_total\{[^}]*\} (\S+)$", re.M)
_SKIPPED = re.compile(r"^pitwatch_probes_skipped_total\{[^}]*\} (\S+)$", re.M)


def self_metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def fetch(url: str, gzip: bool = True) -> tuple[float, int, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = answer.read()
    return time.perf_counter() - started, len(body), body


def read(pitwatch: Pitwatch) -> Reading:
    text = fetch(f"{pitwatch.url}/metrics", gzip=False)[2].decode()
    assert pitwatch.process is not None
    process = psutil.Process(pitwatch.process.pid)
    times = process.cpu_times()
    return Reading(
        at=time.monotonic(),
        probes=sum(float(v) for v in _PROBES.findall(text)),
        skipped=sum(float(v) for v in _SKIPPED.findall(text)),
        cpu=times.user + times.system,
        rss=process.memory_info().rss,
        lag_sum=self_metric(text, "pitwatch_scheduler_lag_seconds_sum"),
        lag_count=self_metric(text, "pitwatch_scheduler_lag_seconds_count"),
    )


def metrics_latency(pitwatch: Pitwatch, samples: int = 20) -> tuple[float, int, int]:
    """Median seconds of ``samples`` gzip scrapes, gzip size, plain size."""
    timings = []
    size = 0
    for _ in range(samples):
        elapsed, size, _ = fetch(f"{pitwatch.url}/metrics")
        timings.append(elapsed)
    plain = fetch(f"{pitwatch.url}/metrics", gzip=False)[1]
    return statistics.median(timings), size, plain


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pitwatch-bench-"))
