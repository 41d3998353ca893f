from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from pitwatch.config import Config
from pitwatch.probes import ProbeKind
from pitwatch.reasons import Reason
from pitwatch.result import Passed, ProbeContext
from pitwatch.scheduler import Scheduler, start_offset
from pitwatch.selfmetrics import SelfMetrics
from pitwatch.store import ResultStore
from tests.support.fake_platform import FakePlatform
from tests.support.targets import config_from


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[tuple[Scheduler, ResultStore, SelfMetrics]]:
    store = ResultStore()
    metrics = SelfMetrics()
    store.apply_config(config)
    scheduler = Scheduler(store, metrics, config.global_.max_concurrency)
    scheduler.apply(config.targets, config.global_.max_concurrency)
    try:
        yield scheduler, store, metrics
    finally:
        await scheduler.stop()


def sample(metrics: SelfMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


@pytest.mark.parametrize(
    ("name", "interval"), [("evolution-lobby", 15.0), ("psp-adyen", 10.0), ("x", 1.0)]
)
def test_offset_is_stable_and_inside_the_interval(name: str, interval: float) -> None:
    offset = start_offset(name, interval)
    assert 0 <= offset < interval
    assert offset == start_offset(name, interval)


def test_offsets_spread_evenly() -> None:
    deciles = [0] * 10
    for index in range(2000):
        deciles[int(start_offset(f"provider-{index:04d}", 10.0))] += 1
    assert min(deciles) > 150 and max(deciles) < 250, deciles


async def test_fixed_cadence(platform: FakePlatform, tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        f"""\
        global: {{interval: 300ms, timeout: 250ms}}
        targets:
          - {{name: steady, component: api, probe: http, url: "{platform.http_url("/slow?ms=100")}"}}
        """,
    )
    finished: list[float] = []
    async with running(config) as (_, store, _metrics):
        record = store.records["steady"]
        for _ in range(60):
            await asyncio.sleep(0.05)
            if record.latest and (not finished or finished[-1] != record.latest.finished_at):
                finished.append(record.latest.finished_at)
            if len(finished) >= 5:
                break
    gaps = [b - a for a, b in itertools.pairwise(finished)]
    assert len(gaps) >= 3
    # each probe takes ~100ms, yet they stay 300ms apart: the sleep subtracts the work
    assert all(0.2 < gap < 0.4 for gap in gaps), gaps


async def test_overdue_probes_are_skipped_and_lag_is_measured(
    platform: FakePlatform, tmp_path: Path
) -> None:
    slow = platform.http_url("/slow?ms=300")
    config = config_from(
        tmp_path,
        f"""\
        global: {{interval: 500ms, timeout: 400ms, max_concurrency: 1}}
        targets:
          - {{name: a, component: api, probe: http, url: "{slow}"}}
          - {{name: b, component: api, probe: http, url: "{slow}"}}
          - {{name: c, component: api, probe: http, url: "{slow}"}}
        """,
    )
    platform.slow_load.most = 0
    async with running(config) as (_, store, metrics):
        await asyncio.sleep(2.6)
        skipped = sum(record.stats.skipped for record in store)
        lag_count = sample(metrics, "pitwatch_scheduler_lag_seconds_count")
        lag_sum = sample(metrics, "pitwatch_scheduler_lag_seconds_sum")
    # 3 x 300ms of work every 500ms through one slot cannot all run
    assert skipped >= 2
    assert lag_count >= 4 and lag_sum / lag_count > 0.1
    assert platform.slow_load.most == 1  # the cap held


async def test_concurrency_cap_bounds_parallel_probes(
    platform: FakePlatform, tmp_path: Path
) -> None:
    slow = platform.http_url("/slow?ms=200")
    targets = "\n".join(
        f'  - {{name: t{index}, component: api, probe: http, url: "{slow}"}}' for index in range(8)
    )
    config = config_from(
        tmp_path,
        f"global: {{interval: 1s, timeout: 900ms, max_concurrency: 3}}\ntargets:\n{targets}\n",
    )
    platform.slow_load.most = 0
    async with running(config) as (_, store, _metrics):
        await asyncio.sleep(1.5)
        probed = sum(1 for record in store if record.latest is not None)
    assert probed >= 5
    assert platform.slow_load.most == 3


async def test_prober_bug_is_reason_other_with_one_traceback(
    platform: FakePlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_from(
        tmp_path,
        f"""\
        global: {{interval: 100ms, timeout: 80ms}}
        targets:
          - {{name: buggy, component: api, probe: http, url: "{platform.http_url()}"}}
        """,
    )
    calls = 0

    async def broken(target: object, ctx: ProbeContext) -> Passed:
        nonlocal calls
        calls += 1
        raise KeyError("a bug")

    target = config.targets[0]
    buggy = dataclasses.replace(target, kind=ProbeKind("http", type(target.spec), broken))
    config = dataclasses.replace(config, targets=(buggy,))
    caplog.set_level(logging.WARNING)
    async with running(config) as (_, store, _metrics):
        await asyncio.sleep(0.6)
        record = store.records["buggy"]
    assert calls >= 4
    assert record.latest is not None
    assert record.latest.result.reason is Reason.OTHER
    assert record.latest.result.message == "internal error: KeyError"
    assert record.stats.errors[Reason.OTHER] == calls
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1
    down = [r for r in caplog.records if "is down" in r.getMessage()]
    assert len(down) == 1  # logged on the transition only


async def test_down_and_recovery_are_logged_once_each(
    platform: FakePlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_from(
        tmp_path,
        f"""\
        global: {{interval: 100ms, timeout: 80ms}}
        targets:
          - {{name: flappy, component: payment_gateway, probe: http, url: "{platform.http_url("/switch/flappy")}"}}
        """,
    )
    caplog.set_level(logging.INFO, logger="pitwatch")
    platform.set_switch("flappy", 200)
    async with running(config) as (_, store, _metrics):
        await asyncio.sleep(0.35)
        platform.set_switch("flappy", 503)
        await asyncio.sleep(0.5)
        platform.set_switch("flappy", 200)
        await asyncio.sleep(0.5)
        record = store.records["flappy"]
    messages = [r.getMessage() for r in caplog.records if r.name == "pitwatch.scheduler"]
    assert messages == [
        "target flappy is down: http_status: HTTP 503 (expected 2xx)",
        "target flappy recovered",
    ]
    assert record.stats.failures >= 3 and record.stats.successes >= 5
    assert record.up is True


async def test_reapplying_the_same_targets_keeps_their_loops(
    platform: FakePlatform, tmp_path: Path
) -> None:
    text = f"""\
        global: {{interval: 200ms, timeout: 150ms}}
        targets:
          - {{name: kept, component: api, probe: http, url: "{platform.http_url()}"}}
          - {{name: changed, component: api, probe: http, url: "{platform.http_url()}"}}
        """
    config = config_from(tmp_path, text)
    async with running(config) as (scheduler, store, _metrics):
        await asyncio.sleep(0.5)
        loops = dict(scheduler._loops)
        kept_probes = store.records["kept"].stats.successes
        changed = config_from(
            tmp_path, text.replace("name: changed, component: api", "name: changed, component: kyc")
        )
        store.apply_config(changed)
        scheduler.apply(changed.targets, changed.global_.max_concurrency)
        assert scheduler._loops["kept"] is loops["kept"]
        assert scheduler._loops["changed"] is not loops["changed"]
        await asyncio.sleep(0.3)
        assert store.records["kept"].stats.successes > kept_probes
