from __future__ import annotations

from pathlib import Path

import pytest

from pitwatch.runtime import Exporter
from pitwatch.sharding import Shard, owner, parse_shard
from tests.support.fake_platform import FakePlatform
from tests.support.targets import config_from

NAMES = [f"provider-{index:05d}" for index in range(10_000)]


@pytest.mark.parametrize("count", range(1, 9))
def test_every_target_has_exactly_one_shard(count: int) -> None:
    shards = [Shard(index, count) for index in range(count)]
    for name in NAMES:
        assert sum(shard.owns(name) for shard in shards) == 1
    sizes = [sum(1 for name in NAMES if owner(name, count) == index) for index in range(count)]
    expected = len(NAMES) / count
    assert all(abs(size - expected) < 0.1 * expected for size in sizes), sizes


@pytest.mark.parametrize("count", range(1, 8))
def test_adding_a_replica_moves_few_targets(count: int) -> None:
    moved = sum(1 for name in NAMES if owner(name, count) != owner(name, count + 1))
    share = moved / len(NAMES)
    print(f"{count} -> {count + 1} replicas: {100 * share:.1f}% of targets move")
    assert share <= 1.5 / (count + 1)
    # and every target that moves goes to the new replica, none between old ones
    assert all(
        owner(n, count + 1) == count for n in NAMES if owner(n, count) != owner(n, count + 1)
    )


@pytest.mark.parametrize(
    ("text", "hostname", "shard"),
    [("0/3", None, Shard(0, 3)), ("2/3", None, Shard(2, 3)), ("auto/4", "pitwatch-3", Shard(3, 4))],
)
def test_parse(text: str, hostname: str | None, shard: Shard) -> None:
    assert parse_shard(text, hostname) == shard


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/3", "invalid --shard '3/3': the shard index counts from 0 to 2"),
        ("1", "invalid --shard '1': expected I/N, e.g. 0/3, or auto/N"),
        ("a/3", "invalid --shard 'a/3': expected I/N, e.g. 0/3, or auto/N"),
        ("0/0", "invalid --shard '0/0': expected I/N, e.g. 0/3, or auto/N"),
        (
            "auto/3",
            "--shard auto/3: host name 'db-host' does not end in -<ordinal> (as StatefulSet "
            "pods do); give the shard as I/N",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_shard(text, "db-host")
    assert str(caught.value) == message


async def test_a_shard_probes_its_share_but_serves_any_on_probe(
    platform: FakePlatform, tmp_path: Path
) -> None:
    targets = "".join(
        f'  - {{name: t{index}, component: api, probe: http, url: "{platform.http_url()}"}}\n'
        for index in range(12)
    )
    config = config_from(
        tmp_path,
        f"global: {{interval: 10s, timeout: 1s}}\nhost: {{enabled: false}}\ntargets:\n{targets}",
    )
    exporters = [Exporter(config, shard=Shard(index, 3)) for index in range(3)]
    for exporter in exporters:
        await exporter.start()
    try:
        owned = [set(exporter.store.records) for exporter in exporters]
        assert sorted(name for names in owned for name in names) == sorted(
            f"t{i}" for i in range(12)
        )
        assert all(names for names in owned)
        stranger = next(name for name in (f"t{i}" for i in range(12)) if name not in owned[0])
        body = await exporters[0].probe_now(stranger)
        assert body is not None and f'pitwatch_probe_success{{target="{stranger}"'.encode() in body
        text = b"".join(exporters[0].renderer.exposition_parts()).decode()
        assert f'target="{stranger}"' not in text
    finally:
        for exporter in exporters:
            await exporter.stop()
