"""Hosts: the machines pitwatch runs on (``host: enabled``), USE-style.

A starved monitoring host makes probes start late and time out, which looks like the
platform failing; this is where to rule that out. Series carry ``job`` and ``instance``
(the exporter's address) plus the global labels.
"""

from __future__ import annotations

from dashboards.conventions import (
    HOSTS,
    dashboard,
    instance_variable,
    job_variable,
    runbook,
)
from dashboards.grafana import (
    Json,
    Query,
    override,
    row,
    stat,
    table,
    thresholds,
    timeseries,
)

H = 'job=~"$job", instance=~"$instance"'
READ_ONLY_FS = 'fstype!~"squashfs|iso9660|udf"'
AVAIL = "instance_mountpoint:pitwatch_host_filesystem_avail_per_size:ratio"
NETWORK = "pitwatch_host_network_bytes_total"


def _now() -> list[Json]:
    return [
        stat(
            "Uptime",
            "Time since each host booted. PitwatchHostRebooted fires during the first hour.",
            [Query(f"time() - pitwatch_host_boot_time_seconds{{{H}}}", "{{instance}}")],
            unit="dtdurations",
            steps=thresholds(("orange", None), ("green", 3600)),
            links=[runbook("PitwatchHostRebooted")],
        ),
        stat(
            "CPUs",
            "Logical CPUs of each host.",
            [Query(f"pitwatch_host_cpus{{{H}}}", "{{instance}}")],
            unit="short",
            steps=thresholds(("text", None)),
            color_mode="value",
        ),
        stat(
            "CPU busy",
            "Share of CPU time not idle over the last collection interval, all cores.",
            [Query(f"pitwatch_host_cpu_utilization_ratio{{{H}}}", "{{instance}}")],
            unit="percentunit",
            steps=thresholds(("green", None), ("orange", 0.75), ("red", 0.9)),
            links=[runbook("PitwatchHostCpuHigh")],
        ),
        stat(
            "Memory used",
            "Memory in use (total minus available) as a share of physical memory.",
            [Query(f"instance:pitwatch_host_memory_used_per_total:ratio{{{H}}}", "{{instance}}")],
            unit="percentunit",
            steps=thresholds(("green", None), ("orange", 0.75), ("red", 0.9)),
            links=[runbook("PitwatchHostMemoryHigh")],
        ),
        stat(
            "Load per CPU (15m)",
            "15-minute load average divided by the CPUs: above 2, more work waits than the "
            "CPUs can run.",
            [Query(f"instance:pitwatch_host_load15_per_cpu:ratio{{{H}}}", "{{instance}}")],
            unit="short",
            steps=thresholds(("green", None), ("orange", 1), ("red", 2)),
            decimals=2,
            links=[runbook("PitwatchHostLoadHigh")],
        ),
        stat(
            "Fullest filesystem",
            "Space used on the fullest filesystem of each host (read-only images left out).",
            [Query(f"max by (instance) (1 - {AVAIL}{{{H}, {READ_ONLY_FS}}})", "{{instance}}")],
            unit="percentunit",
            steps=thresholds(("green", None), ("orange", 0.9), ("red", 0.95)),
            links=[runbook("PitwatchHostFilesystemAlmostFull")],
        ),
    ]


def _usage() -> list[Json]:
    cpu = timeseries(
        "CPU busy",
        "Share of CPU time not idle (nor waiting for I/O), all cores; the dashed line is "
        "PitwatchHostCpuHigh's threshold (for 15m).",
        [Query(f"pitwatch_host_cpu_utilization_ratio{{{H}}}", "{{instance}}")],
        unit="percentunit",
        min_value=0,
        max_value=1,
        steps=thresholds(("green", None), ("red", 0.9)),
        links=[runbook("PitwatchHostCpuHigh")],
    )
    memory = timeseries(
        "Memory used",
        "Memory in use as a share of physical memory; the dashed line is "
        "PitwatchHostMemoryHigh's threshold (for 15m).",
        [Query(f"instance:pitwatch_host_memory_used_per_total:ratio{{{H}}}", "{{instance}}")],
        unit="percentunit",
        min_value=0,
        max_value=1,
        steps=thresholds(("green", None), ("red", 0.9)),
        links=[runbook("PitwatchHostMemoryHigh")],
    )
    load = timeseries(
        "Load average",
        "Load averages over 1, 5 and 15 minutes, and the 15-minute one per CPU "
        "(PitwatchHostLoadHigh fires above 2 for 15m).",
        [
            Query(f"pitwatch_host_load1{{{H}}}", "{{instance}} load1"),
            Query(f"pitwatch_host_load5{{{H}}}", "{{instance}} load5"),
            Query(f"pitwatch_host_load15{{{H}}}", "{{instance}} load15"),
            Query(
                f"instance:pitwatch_host_load15_per_cpu:ratio{{{H}}}", "{{instance}} load15 per CPU"
            ),
        ],
        unit="short",
        min_value=0,
        links=[runbook("PitwatchHostLoadHigh")],
    )
    network = timeseries(
        "Network traffic",
        "Bytes per second through each interface: received above the axis, transmitted below.",
        [
            Query(
                f'rate({NETWORK}{{{H}, direction="receive"}}[$__rate_interval])',
                "{{instance}} {{device}} in",
            ),
            Query(
                f'rate({NETWORK}{{{H}, direction="transmit"}}[$__rate_interval])',
                "{{instance}} {{device}} out",
            ),
        ],
        unit="Bps",
        overrides=[override("byRegexp", ".* out$", custom__transform="negative-Y")],
    )
    return [cpu, memory, load, network]


def _filesystems() -> list[Json]:
    used = timeseries(
        "Filesystem space used",
        "Share of each filesystem's space in use (read-only images left out); dashed lines "
        "at 90% and 95%, where PitwatchHostFilesystemAlmostFull opens medium and high.",
        [Query(f"1 - {AVAIL}{{{H}, {READ_ONLY_FS}}}", "{{instance}} {{mountpoint}}")],
        unit="percentunit",
        min_value=0,
        max_value=1,
        steps=thresholds(("green", None), ("orange", 0.9), ("red", 0.95)),
        links=[
            runbook("PitwatchHostFilesystemAlmostFull"),
            runbook("PitwatchHostFilesystemFillingUp"),
        ],
    )
    listing = table(
        "Filesystems",
        "Every reported filesystem now: size, space available to unprivileged users, share used.",
        [
            Query(f"pitwatch_host_filesystem_size_bytes{{{H}}}"),
            Query(f"pitwatch_host_filesystem_avail_bytes{{{H}}}"),
            Query(f"1 - {AVAIL}{{{H}}}"),
        ],
        unit="bytes",
        columns={
            "instance": "Instance",
            "mountpoint": "Mount point",
            "device": "Device",
            "fstype": "Type",
            "Value #A": "Size",
            "Value #B": "Available",
            "Value #C": "Used",
        },
        overrides=[
            override(
                "byName",
                "Used",
                unit="percentunit",
                decimals=1,
                thresholds=thresholds(("green", None), ("orange", 0.9), ("red", 0.95)),
                custom__cellOptions={"type": "color-background"},
            )
        ],
        hide=["job"],
        links=[runbook("PitwatchHostFilesystemFillingUp")],
        size=(12, 8),
    )
    return [used, listing]


def build() -> Json:
    return dashboard(
        HOSTS,
        "pitwatch / Hosts",
        "The machines pitwatch runs on: CPU, memory, load, filesystems, network, uptime. "
        "A starved monitoring host makes healthy targets look slow or down.",
        variables=[job_variable(), instance_variable("pitwatch_host_boot_time_seconds")],
        panels=[
            row("Now", *_now()),
            row("Utilisation and saturation", *_usage()),
            row("Filesystems", *_filesystems()),
        ],
    )
