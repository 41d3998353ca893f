"""deploy/prometheus/: promtool accepts every config and each loads the whole rule pack; and a
real Prometheus, given the two sharded configs' scrape jobs, spreads the targets over real
``pitwatch run --shard I/N`` replicas as the files say: in Mode A every target is probed by
exactly one replica, in Mode B each /probe scrape goes to the replica ``hashmod`` picks, with
the target name as ``instance``."""

from __future__ import annotations

import re
import urllib.parse
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.processes import free_port, wait_until
from devtools.prometheus import Prometheus, prometheus_config
from tests.support.deploy import (
    PROMETHEUS_DIR,
    RULE_PACK,
    check_prometheus_config,
    hashmod,
    load_yaml,
    resolved_rule_files,
)
from tests.support.services import Pitwatch

CONFIGS = sorted(PROMETHEUS_DIR.glob("*.yml"))
SINGLE = PROMETHEUS_DIR / "prometheus.yml"
SHARDS = PROMETHEUS_DIR / "prometheus-shards.yml"
PROBE = PROMETHEUS_DIR / "prometheus-probe.yml"
TARGET_NAMES = [f"psp-{index}" for index in range(5)] + [f"gp-{index}" for index in range(5)]


def test_the_expected_configs_are_shipped() -> None:
    assert sorted([SINGLE, SHARDS, PROBE]) == CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_promtool_accepts_the_config_and_its_rules(path: Path) -> None:
    output = check_prometheus_config(path)
    assert f"SUCCESS: {len(RULE_PACK)} rule files found" in output, output


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_the_config_loads_exactly_the_rule_pack(path: Path) -> None:
    assert resolved_rule_files(path) == [rule.resolve() for rule in RULE_PACK]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_job_names_match_the_self_monitoring_selector(path: Path) -> None:
    """PitwatchExporterDown/Absent select ``up{job=~"pitwatch.*"}``."""
    selector = re.search(
        r'up\{job=~"([^"]+)"\}', (RULE_PACK[0].parent / "pitwatch-self.yml").read_text()
    )
    assert selector is not None
    for job in load_yaml(path)["scrape_configs"]:
        assert re.fullmatch(selector.group(1), job["job_name"]), job["job_name"]


def job(path: Path) -> dict[str, Any]:
    jobs = load_yaml(path)["scrape_configs"]
    assert len(jobs) == 1, f"{path.name}: one scrape job"
    return dict(jobs[0])


def probe_modulus(probe_job: dict[str, Any]) -> int:
    hashmods = [rule for rule in probe_job["relabel_configs"] if rule.get("action") == "hashmod"]
    assert len(hashmods) == 1, hashmods
    return int(hashmods[0]["modulus"])


def test_both_sharded_examples_describe_the_same_replicas() -> None:
    replicas = job(SHARDS)["static_configs"][0]["targets"]
    assert probe_modulus(job(PROBE)) == len(replicas)
    address = job(PROBE)["relabel_configs"][-1]["replacement"]
    assert [address.replace("$1", str(index)) for index in range(len(replicas))] == replicas


class Replica(Pitwatch):
    """A replica on its own loopback address (127.0.0.1I for Mode A, 127.0.0.2I for Mode B),
    all on one port, so that a hashmod relabeling can name a replica by its number alone.
    Mode A replicas run ``--shard I/N``; Mode B replicas ``--no-schedule``."""

    def __init__(self, workdir: Path, config: Path, host: str, port: int, *flags: str) -> None:
        super().__init__(workdir, config, *flags)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--listen") + 1] = f"{self.host}:{self.port}"
        return command


def replica_config(directory: Path, answering: str) -> Path:
    targets = [
        {"name": name, "component": "api", "probe": "tcp", "address": answering}
        for name in TARGET_NAMES
    ]
    config = {
        "global": {"interval": "1s", "timeout": "500ms"},
        "host": {"enabled": False},
        "targets": targets,
    }
    path = directory / "pitwatch.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_live_prometheus_spreads_targets_as_the_sharded_configs_say(tmp_path: Path) -> None:
    mode_a, mode_b = job(SHARDS), job(PROBE)
    count = probe_modulus(mode_b)
    hosts = [f"127.0.0.1{index}" for index in range(count)]
    probe_hosts = [f"127.0.0.2{index}" for index in range(count)]
    port = free_port()
    config = replica_config(tmp_path, f"{hosts[0]}:{port}")

    # The shipped jobs, with only what differs on loopback changed: the replica addresses,
    # the target names, and no scrape_timeout (the test scrapes every second).
    mode_a["static_configs"] = [{"targets": [f"{host}:{port}" for host in hosts]}]
    mode_b["static_configs"] = [{"targets": TARGET_NAMES}]
    mode_b.pop("scrape_timeout", None)
    address = mode_b["relabel_configs"][-1]
    assert re.fullmatch(r"[a-z.-]+\$1[a-z.-]*:\d+", address["replacement"]), address
    address["replacement"] = f"127.0.0.2$1:{port}"

    with ExitStack() as stack:
        for index, host in enumerate(hosts):
            replica = Replica(
                tmp_path / f"r{index}", config, host, port, "--shard", f"{index}/{count}"
            )
            stack.enter_context(replica)
        for index, host in enumerate(probe_hosts):
            replica = Replica(tmp_path / f"b{index}", config, host, port, "--no-schedule")
            stack.enter_context(replica)
        prometheus = stack.enter_context(
            Prometheus(tmp_path / "prometheus", prometheus_config([mode_a, mode_b], interval="1s"))
        )

        def all_up() -> bool:
            active = prometheus.api("targets", state="active")["activeTargets"]
            return len(active) == count + len(TARGET_NAMES) and all(
                target["health"] == "up" for target in active
            )

        wait_until(all_up, 30, "every replica and every /probe target scraped")
        active = prometheus.api("targets", state="active")["activeTargets"]
        probed = {
            t["labels"]["instance"]: t for t in active if t["labels"]["job"] == mode_b["job_name"]
        }
        assert sorted(probed) == sorted(TARGET_NAMES)
        for name, target in probed.items():
            url = urllib.parse.urlsplit(target["scrapeUrl"])
            assert url.netloc == f"127.0.0.2{hashmod(name, count)}:{port}", (name, url)
            assert (url.path, urllib.parse.parse_qs(url.query)) == ("/probe", {"target": [name]})

        def series_per_target(job_name: str) -> dict[str, int]:
            result = prometheus.query(
                f'count by (target) (pitwatch_probe_success{{job="{job_name}"}})'
            )
            return {sample["metric"]["target"]: int(sample["value"][1]) for sample in result}

        every_target_once = dict.fromkeys(TARGET_NAMES, 1)
        wait_until(
            lambda: series_per_target(mode_a["job_name"]) == every_target_once,
            30,
            "Mode A: each target's series from exactly one replica",
        )
        assert series_per_target(mode_b["job_name"]) == every_target_once
        # Both modes carry the counters the rule pack reads, one series per target each
        for mode in (mode_a, mode_b):
            counted = prometheus.query(
                f'count by (target) (pitwatch_probes_total{{job="{mode["job_name"]}",result="success"}} > 0)'
            )
            assert sorted(sample["metric"]["target"] for sample in counted) == sorted(TARGET_NAMES)
        print(
            f"{len(TARGET_NAMES)} targets over {count} replicas; /probe scrapes go to "
            + ", ".join(f"{name}->{hashmod(name, count)}" for name in TARGET_NAMES)
        )
