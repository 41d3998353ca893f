"""Every metric family pitwatch renders itself: name, type, HELP and extra label names, once.

Probe modules register their own families here at import time (``register(...)``), so the
renderer knows every name, its order and its header, and config validation knows which
label names are taken (:func:`reserved_label_names`). Exporter self-metrics live in
:mod:`pitwatch.selfmetrics` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pitwatch.labels import RESERVED_LABELS

FamilyType = Literal["gauge", "counter", "histogram"]


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    type: FamilyType
    help: str
    labels: tuple[str, ...] = ()
    """Label names this family adds after its source's labels (``le`` is implied for
    histograms)."""
    header: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = f"# HELP {self.name} {_escape_help(self.help)}\n# TYPE {self.name} {self.type}\n"
        object.__setattr__(self, "header", text.encode())


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    existing = _REGISTRY.get(family.name)
    if existing is not None and existing != family:
        raise RuntimeError(f"metric family {family.name} registered twice with different shapes")
    _REGISTRY[family.name] = family
    return family


def all_families() -> tuple[Family, ...]:
    return tuple(_REGISTRY.values())


def reserved_label_names() -> frozenset[str]:
    """Label names a user may not set: pitwatch's own and every registered family's extra
    labels (complete once :mod:`pitwatch.probes` is imported, as :mod:`pitwatch.config` does)."""
    names = set(RESERVED_LABELS)
    for family in _REGISTRY.values():
        names.update(family.labels)
    return frozenset(names)


def _family(name: str, type_: FamilyType, help_: str, *labels: str) -> Family:
    return register(Family(name, type_, help_, labels))


# Per-target families every probe gets (the scheduler owns these values, not the probers).
PROBE_SUCCESS = _family("pitwatch_probe_success", "gauge", "1 if the last probe succeeded, else 0.")
PROBE_DURATION = _family(
    "pitwatch_probe_duration_seconds", "gauge", "How long the last probe took, in seconds."
)
PROBE_LATENCY = _family(
    "pitwatch_probe_latency_seconds",
    "histogram",
    "Durations of all probes since the exporter started, in seconds.",
)
PROBES_TOTAL = _family(
    "pitwatch_probes_total", "counter", "Probes run, by result (success or failure).", "result"
)
PROBE_ERRORS = _family(
    "pitwatch_probe_errors_total",
    "counter",
    "Failed probes by reason (timeout, dns, connect, tls, http_status, assertion, protocol, "
    "auth, other).",
    "reason",
)
PROBE_LAST_SUCCESS = _family(
    "pitwatch_probe_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful probe (absent until the first success).",
)
PROBES_SKIPPED = _family(
    "pitwatch_probes_skipped_total",
    "counter",
    "Probes not started because the previous one was still running when the next was due.",
)
TARGET_INFO = _family(
    "pitwatch_target_info",
    "gauge",
    "Static facts about a target: its probe kind and whether it is a canary; value 1.",
    "probe",
    "canary",
)
OBJECTIVE_RATIO = _family(
    "pitwatch_target_objective_ratio",
    "gauge",
    "Availability objective of the target as a ratio (e.g. 0.999), from config or tier default.",
)
LATENCY_OBJECTIVE = _family(
    "pitwatch_target_latency_objective_seconds",
    "gauge",
    "Latency objective: the given percentile of probe latency should stay below this many seconds.",
    "percentile",
)
MAINTENANCE = _family(
    "pitwatch_target_maintenance",
    "gauge",
    "1 while the target is inside a configured maintenance window, else 0.",
)

# The host pitwatch runs on (psutil).
HOST_CPU_UTILIZATION = _family(
    "pitwatch_host_cpu_utilization_ratio",
    "gauge",
    "Share of CPU time not idle over the last collection interval, all cores, 0..1.",
)
HOST_CPUS = _family("pitwatch_host_cpus", "gauge", "Logical CPUs of the host.")
HOST_MEMORY_USED = _family(
    "pitwatch_host_memory_used_bytes",
    "gauge",
    "Memory in use (total minus available), in bytes.",
)
HOST_MEMORY_TOTAL = _family(
    "pitwatch_host_memory_total_bytes", "gauge", "Physical memory of the host, in bytes."
)
HOST_LOAD1 = _family("pitwatch_host_load1", "gauge", "1-minute load average.")
HOST_LOAD5 = _family("pitwatch_host_load5", "gauge", "5-minute load average.")
HOST_LOAD15 = _family("pitwatch_host_load15", "gauge", "15-minute load average.")
HOST_FS_USED = _family(
    "pitwatch_host_filesystem_used_bytes",
    "gauge",
    "Bytes used on a filesystem.",
    "mountpoint",
    "device",
    "fstype",
)
HOST_FS_SIZE = _family(
    "pitwatch_host_filesystem_size_bytes",
    "gauge",
    "Size of a filesystem, in bytes.",
    "mountpoint",
    "device",
    "fstype",
)
HOST_FS_AVAIL = _family(
    "pitwatch_host_filesystem_avail_bytes",
    "gauge",
    "Bytes available to unprivileged users on a filesystem.",
    "mountpoint",
    "device",
    "fstype",
)
HOST_NETWORK_BYTES = _family(
    "pitwatch_host_network_bytes_total",
    "counter",
    "Bytes through a network interface, by direction (receive or transmit).",
    "device",
    "direction",
)
HOST_BOOT_TIME = _family(
    "pitwatch_host_boot_time_seconds",
    "gauge",
    "Unix time the host booted; uptime is time() minus this.",
)
