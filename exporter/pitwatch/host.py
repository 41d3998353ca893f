"""Metrics of the host pitwatch runs on, through psutil.

:meth:`HostCollector.collect` blocks (``statvfs`` on a dead network mount can hang), so
the runtime calls it in a worker thread and never starts a second one while it runs.
"""

from __future__ import annotations

import os
import re

import psutil

from pitwatch import families as fam
from pitwatch.config import HostConfig
from pitwatch.exposition import Fragments, LineBuilder, label_text


class HostCollector:
    def __init__(self, config: HostConfig, global_labels: dict[str, str]) -> None:
        self.config = config
        self._exclude = re.compile(config.exclude_mountpoints)
        self._base = label_text(global_labels.items())
        self._last_cpu = psutil.cpu_times()

    def collect(self) -> Fragments:
        out = LineBuilder(self._base)
        out.add(fam.HOST_CPU_UTILIZATION, self._cpu_utilization())
        out.add(fam.HOST_CPUS, psutil.cpu_count() or 1)
        memory = psutil.virtual_memory()
        out.add(fam.HOST_MEMORY_USED, memory.total - memory.available)
        out.add(fam.HOST_MEMORY_TOTAL, memory.total)
        load1, load5, load15 = os.getloadavg()
        out.add(fam.HOST_LOAD1, load1)
        out.add(fam.HOST_LOAD5, load5)
        out.add(fam.HOST_LOAD15, load15)
        self._filesystems(out)
        for device, counters in sorted(psutil.net_io_counters(pernic=True).items()):
            out.add(
                fam.HOST_NETWORK_BYTES,
                counters.bytes_recv,
                (("device", device), ("direction", "receive")),
            )
            out.add(
                fam.HOST_NETWORK_BYTES,
                counters.bytes_sent,
                (("device", device), ("direction", "transmit")),
            )
        out.add(fam.HOST_BOOT_TIME, psutil.boot_time())
        return out.fragments()

    def _cpu_utilization(self) -> float:
        current = psutil.cpu_times()
        previous, self._last_cpu = self._last_cpu, current
        total = sum(current) - sum(previous)
        if total <= 0:
            return 0.0
        idle = (current.idle - previous.idle) + (
            getattr(current, "iowait", 0.0) - getattr(previous, "iowait", 0.0)
        )
        return min(1.0, max(0.0, 1.0 - idle / total))

    def _filesystems(self, out: LineBuilder) -> None:
        extra = set(self.config.include_fstypes)
        parts = psutil.disk_partitions(all=False)  # device-backed filesystems only
        if extra:
            parts += [part for part in psutil.disk_partitions(all=True) if part.fstype in extra]
        seen: set[str] = set()
        for part in parts:
            if part.mountpoint in seen or self._exclude.search(part.mountpoint):
                continue
            seen.add(part.mountpoint)
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:
                continue  # unmounted meanwhile, or not ours to read
            labels = (
                ("mountpoint", part.mountpoint),
                ("device", part.device),
                ("fstype", part.fstype),
            )
            out.add(fam.HOST_FS_USED, usage.used, labels)
            out.add(fam.HOST_FS_SIZE, usage.total, labels)
            out.add(fam.HOST_FS_AVAIL, usage.free, labels)
