"""The service report's figures beyond availability: the monitoring host, certificates,
backups, real traffic and the monitor's own health. One server-side aggregate per figure,
evaluated at the end of the period over its length; a missing series is "no data"."""

from __future__ import annotations

import asyncio
from typing import Any

from pitwatch.report.inventory import Target
from pitwatch.report.period import Period, iso
from pitwatch.report.prometheus import Prometheus, Sample
from pitwatch.report.promql import Queries

CERTIFICATE_HORIZON = 30 * 86400
FORECAST_WINDOW = 7 * 86400
READ_ONLY_FILESYSTEMS = "squashfs|iso9660|udf"


def _by(samples: list[Sample], label: str) -> dict[str, float]:
    return {s.labels.get(label, ""): s.value for s in samples}


def _ratio(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


async def host_figures(prom: Prometheus, q: Queries, period: Period, step: float) -> dict[str, Any]:
    window, sub = period.seconds, f"{period.seconds}s:{max(1, round(step))}s"
    avail_selector = q.sel(
        "pitwatch_host_filesystem_avail_bytes", fstype=f"!~{READ_ONLY_FILESYSTEMS}"
    )
    cpu, memory, load, used, avail = await asyncio.gather(
        prom.vector(
            "max by (instance) (max_over_time("
            f"{q.sel('pitwatch_host_cpu_utilization_ratio')}[{window}s]))",
            period.end,
        ),
        prom.vector(
            f"max by (instance) (max_over_time(({q.sel('pitwatch_host_memory_used_bytes')} / "
            f"{q.sel('pitwatch_host_memory_total_bytes')})[{sub}]))",
            period.end,
        ),
        prom.vector(
            f"max by (instance) (max_over_time(({q.sel('pitwatch_host_load15')} / "
            f"{q.sel('pitwatch_host_cpus')})[{sub}]))",
            period.end,
        ),
        prom.vector(
            f"1 - last_over_time({avail_selector}[1h]) "
            f"/ last_over_time({q.sel('pitwatch_host_filesystem_size_bytes')}[1h])",
            period.end,
        ),
        prom.vector(
            f"last_over_time({q.sel('pitwatch_host_filesystem_avail_bytes')}[1h])", period.end
        ),
    )
    instances = sorted(
        set(_by(cpu, "instance")) | set(_by(memory, "instance")) | set(_by(load, "instance"))
    )
    cpu_of, memory_of, load_of = (
        _by(cpu, "instance"),
        _by(memory, "instance"),
        _by(load, "instance"),
    )
    hosts = [
        {
            "instance": name,
            "cpu_peak_ratio": _ratio(cpu_of.get(name)),
            "memory_peak_ratio": _ratio(memory_of.get(name)),
            "load15_per_cpu_peak": _ratio(load_of.get(name), 2),
        }
        for name in instances
    ]
    fullest = None
    if used:
        top = max(used, key=lambda s: s.value)
        labels = top.labels
        match = {k: labels.get(k, "") for k in ("instance", "mountpoint")}
        avail_bytes = next(
            (s.value for s in avail if all(s.labels.get(k, "") == v for k, v in match.items())),
            None,
        )
        trend_window = min(window, FORECAST_WINDOW)
        trend = await prom.vector(
            "deriv("
            + q.sel(
                "pitwatch_host_filesystem_avail_bytes",
                instance=match["instance"],
                mountpoint=match["mountpoint"],
            )
            + f"[{trend_window}s])",
            period.end,
        )
        slope = trend[0].value if trend else None
        days = None
        if slope is not None and slope < 0 and avail_bytes is not None:
            days = round(avail_bytes / -slope / 86400, 1)
        fullest = {
            "instance": match["instance"],
            "mountpoint": match["mountpoint"],
            "used_ratio": _ratio(top.value),
            "avail_bytes": avail_bytes,
            "trend_bytes_per_day": None if slope is None else round(slope * 86400),
            "days_until_full": days,
            "trend_window_seconds": trend_window,
        }
    return {"hosts": hosts, "fullest_filesystem": fullest}


async def certificates(prom: Prometheus, q: Queries, period: Period) -> list[dict[str, Any]]:
    answer = await prom.vector(
        "min by (target, component) (last_over_time("
        f"{q.sel('pitwatch_tls_cert_expiry_timestamp_seconds')}[1h]))",
        period.end,
    )
    rows = []
    for sample in answer:
        left = sample.value - period.end
        if left < CERTIFICATE_HORIZON:
            rows.append(
                {
                    "target": sample.labels.get("target", ""),
                    "component": sample.labels.get("component", ""),
                    "expires_at": iso(sample.value),
                    "days_left": round(left / 86400, 1),
                }
            )
    return sorted(rows, key=lambda r: float(r["days_left"]))


async def backups(
    prom: Prometheus, q: Queries, period: Period, targets: dict[str, Target], step: float
) -> list[dict[str, Any]]:
    names = [t.name for t in targets.values() if t.component == "backup"]
    if not names:
        return []
    sub = f"{period.seconds}s:{max(1, round(step))}s"
    modified, limit, oldest = await asyncio.gather(
        prom.vector(q.last_value("pitwatch_file_modified_timestamp_seconds"), period.end),
        prom.vector(q.last_value("pitwatch_file_max_age_seconds"), period.end),
        prom.vector(
            "max by (target) (max_over_time((time() - "
            f"{q.sel('pitwatch_file_modified_timestamp_seconds', component='backup')})[{sub}]))",
            period.end,
        ),
    )
    modified_of, limit_of, oldest_of = (
        _by(modified, "target"),
        _by(limit, "target"),
        _by(oldest, "target"),
    )
    rows = []
    for name in sorted(names):
        stamp = modified_of.get(name)
        age = None if stamp is None else round(period.end - stamp)
        max_age = limit_of.get(name)
        rows.append(
            {
                "target": name,
                "modified_at": None if stamp is None else iso(stamp),
                "age_seconds": age,
                "max_age_seconds": None if max_age is None else round(max_age),
                "oldest_age_seconds": None if name not in oldest_of else round(oldest_of[name]),
                "fresh": None if age is None or max_age is None else age <= max_age,
            }
        )
    return rows


async def monitor_health(
    prom: Prometheus, q: Queries, period: Period, probes_run: int
) -> dict[str, Any]:
    window = period.seconds
    up, skipped, reloads, restarts, build = await asyncio.gather(
        prom.vector(f"avg by (instance) (avg_over_time({q.sel('up')}[{window}s]))", period.end),
        prom.vector(
            f"sum(increase({q.sel('pitwatch_probes_skipped_total')}[{window}s]))", period.end
        ),
        prom.vector(
            "min by (instance) (min_over_time("
            f"{q.sel('pitwatch_config_last_reload_successful')}[{window}s]))",
            period.end,
        ),
        prom.vector(
            f"sum by (instance) (changes({q.sel('process_start_time_seconds')}[{window}s]))",
            period.end,
        ),
        prom.vector(
            f"max by (version) (last_over_time({q.sel('pitwatch_build_info')}[{window}s]))",
            period.end,
        ),
    )
    skipped_total = round(skipped[0].value) if skipped else 0
    due = probes_run + skipped_total
    return {
        "instances": [
            {
                "instance": s.labels.get("instance", ""),
                "scrape_success_ratio": _ratio(s.value, 6),
                "restarts": round(_by(restarts, "instance").get(s.labels.get("instance", ""), 0)),
                "config_reload_rejected": _by(reloads, "instance").get(
                    s.labels.get("instance", ""), 1
                )
                < 1,
            }
            for s in sorted(up, key=lambda s: s.labels.get("instance", ""))
        ],
        "probes_run": probes_run,
        "probes_skipped": skipped_total,
        "skipped_ratio": round(skipped_total / due, 6) if due else None,
        "versions": sorted(s.labels.get("version", "") for s in build if s.labels.get("version")),
    }
