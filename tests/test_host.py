"""The host collector on this machine: what psutil reports, as pitwatch's host series."""

from __future__ import annotations

import psutil

from pitwatch.config import HostConfig
from pitwatch.host import HostCollector
from tests.support.hostprobes import series


def collected(config: HostConfig, labels: dict[str, str] | None = None) -> str:
    return b"".join(HostCollector(config, labels or {}).collect().values()).decode()


def test_machine_figures_match_psutil() -> None:
    text = collected(HostConfig())
    assert series(text, "pitwatch_host_cpus") == [({}, float(psutil.cpu_count() or 1))]
    assert series(text, "pitwatch_host_memory_total_bytes") == [
        ({}, float(psutil.virtual_memory().total))
    ]
    assert series(text, "pitwatch_host_boot_time_seconds") == [({}, psutil.boot_time())]
    ((_, utilization),) = series(text, "pitwatch_host_cpu_utilization_ratio")
    assert 0.0 <= utilization <= 1.0
    for name in ("pitwatch_host_load1", "pitwatch_host_load5", "pitwatch_host_load15"):
        ((_, load),) = series(text, name)
        assert load >= 0
    loopback = {
        labels["direction"]
        for labels, _ in series(text, "pitwatch_host_network_bytes_total")
        if labels["device"] == "lo"
    }
    assert loopback == {"receive", "transmit"}


def test_global_labels_come_first_on_every_series() -> None:
    text = collected(HostConfig(), {"platform": "prod-eu"})
    lines = [line for line in text.splitlines() if line]
    assert lines
    assert all(line.split("{", 1)[1].startswith('platform="prod-eu"') for line in lines), lines


def test_filesystems_follow_the_mountpoint_and_fstype_settings() -> None:
    root = psutil.disk_usage("/")
    text = collected(HostConfig())
    sizes = {
        labels["mountpoint"]: value
        for labels, value in series(text, "pitwatch_host_filesystem_size_bytes")
    }
    assert sizes["/"] == root.total
    assert all(
        labels["fstype"] != "tmpfs"
        for labels, _ in series(text, "pitwatch_host_filesystem_size_bytes")
    )

    without_root = collected(HostConfig(exclude_mountpoints="^/$"))
    assert "/" not in {
        labels["mountpoint"]
        for labels, _ in series(without_root, "pitwatch_host_filesystem_size_bytes")
    }

    tmpfs = [part.mountpoint for part in psutil.disk_partitions(all=True) if part.fstype == "tmpfs"]
    assert tmpfs, "this machine has a tmpfs (/dev/shm at least)"
    with_tmpfs = collected(
        HostConfig(include_fstypes=("tmpfs",), exclude_mountpoints="^/proc($|/)")
    )
    reported = {
        labels["mountpoint"]: labels["fstype"]
        for labels, _ in series(with_tmpfs, "pitwatch_host_filesystem_avail_bytes")
    }
    assert reported.get(tmpfs[0]) == "tmpfs"
