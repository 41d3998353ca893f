"""A platform's past, written as Prometheus would have stored it, for report tests and the
report benchmark: the exporter's series as scraped every ``scrape`` seconds, and the rule
pack's ``ALERTS`` / ``ALERTS_FOR_STATE`` as evaluated every ``evaluation`` seconds, turned into
TSDB blocks by ``promtool tsdb create-blocks-from openmetrics``.

promtool re-reads its whole input for every 2-hour block it writes, so the history is written
as one OpenMetrics file per 2-hour block (each read once), converted by a few promtool
processes in parallel.

The simulation is deliberately plain: probes of a target run every ``interval`` seconds at
multiples of it; a scrape at ``t`` sees every probe made at or before ``t``; a probe inside an
:class:`Outage` fails with its reason; a probe inside a :class:`Maintenance` window is counted
under ``result="maintenance"`` by exporters that do (``counts_maintenance``), else as usual.
During an :class:`ExporterDown` nothing is probed or scraped (``up`` is 0) and the counters
start again from 0 afterwards: a counter reset. Tests state the figures they expect from these
rules by hand, so a mistake here cannot hide one in the report.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools.processes import binary

BLOCK = 7200
JOB = "pitwatch"
INSTANCE = "127.0.0.1:9469"


@dataclass(frozen=True)
class Target:
    name: str
    component: str
    tier: int = 2
    team: str = "ops"
    probe: str = "http"
    canary: bool = False
    interval: int = 30
    objective: float = 0.999
    latency: float = 0.1
    """Probe duration when healthy (seconds)."""
    latency_objective: float = 0.5
    counts_maintenance: bool = False
    cert_expiry: int | None = None
    """Unix time the TLS certificate expires (``https`` targets)."""


@dataclass(frozen=True)
class Outage:
    targets: tuple[str, ...]
    start: int
    end: int
    reason: str = "connect"
    status: int = 0
    latency: float | None = None


@dataclass(frozen=True)
class Maintenance:
    targets: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class ExporterDown:
    start: int
    end: int


@dataclass(frozen=True)
class Alert:
    """One alert episode as Prometheus records it: pending from ``pending_at`` (its activeAt),
    firing from ``firing_at``, gone from ``resolved_at`` (None: still firing at the end)."""

    name: str
    severity: str
    labels: tuple[tuple[str, str], ...]
    pending_at: int
    firing_at: int | None
    resolved_at: int | None


@dataclass(frozen=True)
class LogTraffic:
    target: str
    requests_per_scrape: int
    errors_per_scrape: int = 0
    error_windows: tuple[tuple[int, int, int], ...] = ()
    """(start, end, 5xx per scrape) spells."""


@dataclass
class History:
    start: int
    end: int
    targets: Sequence[Target]
    outages: Sequence[Outage] = ()
    maintenance: Sequence[Maintenance] = ()
    exporter_down: Sequence[ExporterDown] = ()
    alerts: Sequence[Alert] = ()
    traffic: Sequence[LogTraffic] = ()
    scrape: int = 30
    evaluation: int = 30
    platform: str = "hist"
    host: bool = True
    watchdog: bool = True
    backups: dict[str, tuple[int, int]] = field(default_factory=dict)
    """target -> (seconds between backups, max_age)."""

    def lifetimes(self) -> list[tuple[int, int]]:
        """(first, last) scrape times of each exporter process."""
        spans = []
        begin = self.start
        for down in sorted(self.exporter_down, key=lambda d: d.start):
            spans.append((begin, down.start - self.scrape))
            begin = down.end
        spans.append((begin, self.end))
        return spans


# -- the simulation ------------------------------------------------------------------------


def _probes_between(interval: int, after: int, upto: int) -> int:
    """Probes at multiples of ``interval`` in (after, upto]."""
    if upto <= after:
        return 0
    return upto // interval - after // interval


def _overlap(interval: int, after: int, upto: int, start: int, end: int) -> int:
    """Probes in (after, upto] that fall in [start, end)."""
    low, high = max(after, start - 1), min(upto, end - 1)
    return _probes_between(interval, low, high)


@dataclass
class _Cumulative:
    success: int = 0
    failure: int = 0
    maintenance: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class _TargetSim:
    def __init__(self, target: Target, history: History) -> None:
        self.t = target
        self.outages = [o for o in history.outages if target.name in o.targets]
        self.maintenance = [m for m in history.maintenance if target.name in m.targets]

    def in_maintenance(self, at: int) -> bool:
        return any(m.start <= at < m.end for m in self.maintenance)

    def outage_at(self, at: int) -> Outage | None:
        return next((o for o in self.outages if o.start <= at < o.end), None)

    def advance(self, c: _Cumulative, after: int, upto: int) -> None:
        """Add the probes in (after, upto] to ``c``."""
        iv = self.t.interval
        total = _probes_between(iv, after, upto)
        if total == 0:
            return
        if not self.outages and not self.maintenance:
            c.success += total
            return
        # Split (after, upto] at every event edge; each piece has one state.
        edges = {after, upto}
        events: list[Outage | Maintenance] = [*self.outages, *self.maintenance]
        for event in events:
            for edge in (event.start - 1, event.end - 1):
                if after < edge < upto:
                    edges.add(edge)
        points = sorted(edges)
        for low, high in itertools.pairwise(points):
            n = _probes_between(iv, low, high)
            if not n:
                continue
            probe_at = (low // iv + 1) * iv
            maint = self.in_maintenance(probe_at)
            outage = self.outage_at(probe_at)
            if maint and self.t.counts_maintenance:
                c.maintenance += n
            elif outage is not None:
                c.failure += n
                c.reasons[outage.reason] = c.reasons.get(outage.reason, 0) + n
            else:
                c.success += n

    def last_probe(self, at: int) -> int:
        return (at // self.t.interval) * self.t.interval


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


class _Writer:
    """Collects one block's samples family by family (OpenMetrics wants them grouped)."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[str]]] = {}

    def add(self, family: str, kind: str, line: str) -> None:
        entry = self.families.get(family)
        if entry is None:
            entry = (kind, [])
            self.families[family] = entry
        entry[1].append(line)

    def text(self) -> str:
        parts = []
        for family, (kind, lines) in self.families.items():
            parts.append(f"# TYPE {family} {kind}\n")
            parts.append("\n".join(lines))
            parts.append("\n")
        parts.append("# EOF\n")
        return "".join(parts)


def _value(number: float) -> str:
    return repr(float(number)) if isinstance(number, float) else str(number)


def _block_text(history: History, sims: list[_TargetSim], begin: int, end: int) -> str:  # noqa: C901
    """OpenMetrics of the scrapes and evaluations in [begin, end)."""
    w = _Writer()
    s = history.scrape
    lifetimes = history.lifetimes()
    scrapes: list[tuple[int, int]] = []  # (time, process start)
    for at in range(begin - begin % s + (s if begin % s else 0), end, s):
        if at < history.start or at > history.end:
            continue
        life = next((lt for lt in lifetimes if lt[0] <= at <= lt[1]), None)
        if life is not None:
            scrapes.append((at, life[0]))
    base = {"job": JOB, "instance": INSTANCE}
    up_times = [at for at in range(begin - begin % s, end, s) if history.start <= at <= history.end]
    alive = {at for at, _ in scrapes}
    for at in up_times:
        w.add("up", "gauge", f"up{{{_labels(**base)}}} {1 if at in alive else 0} {at}")
    if not scrapes:
        return _alerts_text(history, w, begin, end)
    for sim in sims:
        t = sim.t
        common = {
            **base,
            "target": t.name,
            "component": t.component,
            "tier": str(t.tier),
            "team": t.team,
            "platform": history.platform,
        }
        lab = _labels(**common)
        results = (
            ("success", "failure", "maintenance")
            if t.counts_maintenance
            else ("success", "failure")
        )
        lines: dict[str, list[str]] = {r: [] for r in results}
        reason_lines: dict[str, list[str]] = {}
        success_lines, duration_lines, status_lines, maint_lines = [], [], [], []
        info_lines, objective_lines, latency_objective_lines, cert_lines = [], [], [], []
        if not sim.outages and not sim.maintenance:
            _steady_target(w, t, lab, results, scrapes)
            continue
        for at, life_start in scrapes:
            c = _Cumulative()
            sim.advance(c, life_start - 1, at)
            for result in results:
                lines[result].append(
                    f'pitwatch_probes_total{{{lab},result="{result}"}} {getattr(c, result)} {at}'
                )
            for reason, n in c.reasons.items():
                reason_lines.setdefault(reason, []).append(
                    f'pitwatch_probe_errors_total{{{lab},reason="{reason}"}} {n} {at}'
                )
            last = sim.last_probe(at)
            outage = sim.outage_at(last)
            ok = outage is None
            latency = t.latency if outage is None else (outage.latency or t.latency)
            success_lines.append(f"pitwatch_probe_success{{{lab}}} {1 if ok else 0} {at}")
            duration_lines.append(f"pitwatch_probe_duration_seconds{{{lab}}} {latency!r} {at}")
            if t.probe == "http":
                status = 200 if outage is None else outage.status
                status_lines.append(f"pitwatch_http_status_code{{{lab}}} {status} {at}")
            maint_lines.append(
                f"pitwatch_target_maintenance{{{lab}}} {1 if sim.in_maintenance(at) else 0} {at}"
            )
            info_lines.append(
                f'pitwatch_target_info{{{lab},probe="{t.probe}",canary="{str(t.canary).lower()}"}} 1 {at}'
            )
            objective_lines.append(f"pitwatch_target_objective_ratio{{{lab}}} {t.objective!r} {at}")
            latency_objective_lines.append(
                f'pitwatch_target_latency_objective_seconds{{{lab},percentile="95"}} {t.latency_objective!r} {at}'
            )
            if t.cert_expiry is not None:
                cert_lines.append(
                    f"pitwatch_tls_cert_expiry_timestamp_seconds{{{lab}}} {t.cert_expiry} {at}"
                )
        for result in results:
            for line in lines[result]:
                w.add("pitwatch_probes", "counter", line)
        for reason_block in reason_lines.values():
            for line in reason_block:
                w.add("pitwatch_probe_errors", "counter", line)
        for family, kind, block in (
            ("pitwatch_probe_success", "gauge", success_lines),
            ("pitwatch_probe_duration_seconds", "gauge", duration_lines),
            ("pitwatch_http_status_code", "gauge", status_lines),
            ("pitwatch_target_maintenance", "gauge", maint_lines),
            ("pitwatch_target_info", "gauge", info_lines),
            ("pitwatch_target_objective_ratio", "gauge", objective_lines),
            ("pitwatch_target_latency_objective_seconds", "gauge", latency_objective_lines),
            ("pitwatch_tls_cert_expiry_timestamp_seconds", "gauge", cert_lines),
        ):
            for line in block:
                w.add(family, kind, line)
    _self_metrics(history, w, scrapes, base)
    _traffic_text(history, w, scrapes, base)
    return _alerts_text(history, w, begin, end)


def _steady_target(
    w: _Writer, t: Target, lab: str, results: tuple[str, ...], scrapes: list[tuple[int, int]]
) -> None:
    """A target without events: every probe succeeds (the benchmark's thousand targets)."""
    iv = t.interval
    for result in results:
        if result == "success":
            lines = [
                f'pitwatch_probes_total{{{lab},result="success"}} {at // iv - (life - 1) // iv} {at}'
                for at, life in scrapes
            ]
        else:
            lines = [
                f'pitwatch_probes_total{{{lab},result="{result}"}} 0 {at}' for at, _ in scrapes
            ]
        for line in lines:
            w.add("pitwatch_probes", "counter", line)
    info = f'{lab},probe="{t.probe}",canary="{str(t.canary).lower()}"'
    for family, labels, value in (
        ("pitwatch_probe_success", lab, "1"),
        ("pitwatch_probe_duration_seconds", lab, repr(t.latency)),
        ("pitwatch_target_maintenance", lab, "0"),
        ("pitwatch_target_info", info, "1"),
        ("pitwatch_target_objective_ratio", lab, repr(t.objective)),
        (
            "pitwatch_target_latency_objective_seconds",
            f'{lab},percentile="95"',
            repr(t.latency_objective),
        ),
    ):
        for at, _ in scrapes:
            w.add(family, "gauge", f"{family}{{{labels}}} {value} {at}")
    if t.probe == "http":
        for at, _ in scrapes:
            w.add(
                "pitwatch_http_status_code", "gauge", f"pitwatch_http_status_code{{{lab}}} 200 {at}"
            )


def _self_metrics(
    history: History, w: _Writer, scrapes: list[tuple[int, int]], base: dict[str, str]
) -> None:
    lab = _labels(**base)
    for at, _ in scrapes:
        w.add(
            "pitwatch_config_last_reload_successful",
            "gauge",
            f"pitwatch_config_last_reload_successful{{{lab}}} 1 {at}",
        )
    for at, life in scrapes:
        w.add(
            "process_start_time_seconds",
            "gauge",
            f"process_start_time_seconds{{{lab}}} {life} {at}",
        )
    for at, _ in scrapes:
        w.add(
            "pitwatch_build_info",
            "gauge",
            f'pitwatch_build_info{{{lab},version="0.1.0",python_version="3.11"}} 1 {at}',
        )
    for at, _ in scrapes:
        w.add(
            "pitwatch_probes_skipped", "counter", f"pitwatch_probes_skipped_total{{{lab}}} 0 {at}"
        )
    if not history.host:
        return
    host = _labels(**base, platform=history.platform)
    day = 86400
    for family, kind, value_of in (
        (
            "pitwatch_host_cpu_utilization_ratio",
            "gauge",
            lambda at: 0.2 + 0.5 * ((at // 3600) % 24 == 20),
        ),
        ("pitwatch_host_cpus", "gauge", lambda at: 2),
        (
            "pitwatch_host_memory_used_bytes",
            "gauge",
            lambda at: 4 * 2**30 + ((at // 3600) % 24 == 21) * 2**30,
        ),
        ("pitwatch_host_memory_total_bytes", "gauge", lambda at: 8 * 2**30),
        ("pitwatch_host_load15", "gauge", lambda at: 1.0),
    ):
        for at, _ in scrapes:
            w.add(family, kind, f"{family}{{{host}}} {_value(value_of(at))} {at}")
    size = 100 * 2**30
    for at, _ in scrapes:
        # /var fills by 1 GiB a day from 60 GiB used at the start.
        used = 60 * 2**30 + (at - history.start) * 2**30 // day
        fs = _labels(
            **base, platform=history.platform, mountpoint="/var", device="/dev/vda2", fstype="ext4"
        )
        w.add(
            "pitwatch_host_filesystem_avail_bytes",
            "gauge",
            f"pitwatch_host_filesystem_avail_bytes{{{fs}}} {size - used} {at}",
        )
        w.add(
            "pitwatch_host_filesystem_size_bytes",
            "gauge",
            f"pitwatch_host_filesystem_size_bytes{{{fs}}} {size} {at}",
        )
    for name, (every, max_age) in history.backups.items():
        target = next(t for t in history.targets if t.name == name)
        lab = _labels(
            **base,
            target=name,
            component=target.component,
            tier=str(target.tier),
            team=target.team,
            platform=history.platform,
        )
        for at, _ in scrapes:
            w.add(
                "pitwatch_file_modified_timestamp_seconds",
                "gauge",
                f"pitwatch_file_modified_timestamp_seconds{{{lab}}} {at - at % every} {at}",
            )
            w.add(
                "pitwatch_file_max_age_seconds",
                "gauge",
                f"pitwatch_file_max_age_seconds{{{lab}}} {max_age} {at}",
            )


def _traffic_text(
    history: History, w: _Writer, scrapes: list[tuple[int, int]], base: dict[str, str]
) -> None:
    for traffic in history.traffic:
        target = next(t for t in history.targets if t.name == traffic.target)
        lab = _labels(
            **base,
            target=target.name,
            component=target.component,
            tier=str(target.tier),
            team=target.team,
            platform=history.platform,
        )
        for status in ("2xx", "5xx"):
            for at, life in scrapes:
                if status == "2xx":
                    value = _grid_count(history.scrape, life, at) * traffic.requests_per_scrape
                else:
                    value = _grid_count(history.scrape, life, at) * traffic.errors_per_scrape
                    for begin, finish, per in traffic.error_windows:
                        value += (
                            _grid_count(history.scrape, max(begin, life), min(at, finish - 1)) * per
                        )
                w.add(
                    "pitwatch_logs_requests",
                    "counter",
                    f'pitwatch_logs_requests_total{{{lab},method="GET",route="other",status_class="{status}"}} {value} {at}',
                )


def _grid_count(step: int, low: int, high: int) -> int:
    """Multiples of ``step`` in [low, high]."""
    if high < low:
        return 0
    return high // step - (low - 1) // step


def _alerts_text(history: History, w: _Writer, begin: int, end: int) -> str:
    e = history.evaluation
    times = [
        at
        for at in range(begin - begin % e + (e if begin % e else 0), end, e)
        if history.start <= at <= history.end
    ]
    if history.watchdog:
        for at in times:
            w.add(
                "ALERTS",
                "gauge",
                f'ALERTS{{alertname="PitwatchWatchdog",alertstate="firing",severity="none"}} 1 {at}',
            )
    for alert in history.alerts:
        labels = _labels(alertname=alert.name, **dict(alert.labels), severity=alert.severity)
        stop = alert.resolved_at if alert.resolved_at is not None else history.end + e
        for at in times:
            if alert.pending_at <= at < stop:
                state = (
                    "firing" if alert.firing_at is not None and at >= alert.firing_at else "pending"
                )
                w.add("ALERTS", "gauge", f'ALERTS{{{labels},alertstate="{state}"}} 1 {at}')
        for at in times:
            if alert.pending_at <= at < stop:
                w.add(
                    "ALERTS_FOR_STATE",
                    "gauge",
                    f"ALERTS_FOR_STATE{{{labels}}} {alert.pending_at} {at}",
                )
    return w.text()


def blocks(history: History) -> Iterator[tuple[int, int]]:
    first = history.start - history.start % BLOCK
    for begin in range(first, history.end + 1, BLOCK):
        yield begin, begin + BLOCK


def write_tsdb(history: History, data_dir: Path, workers: int = 2) -> int:
    """Writes the history into ``data_dir`` (a Prometheus ``--storage.tsdb.path``); returns
    the number of samples written."""
    promtool = binary("promtool", "prometheus")
    sims = [_TargetSim(t, history) for t in history.targets]
    data_dir.mkdir(parents=True, exist_ok=True)
    written = 0

    def convert(path: Path) -> None:
        subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                str(path),
                str(data_dir),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        path.unlink()

    with (
        tempfile.TemporaryDirectory(prefix="pitwatch-history-") as scratch,
        ThreadPoolExecutor(workers) as pool,
    ):
        futures = []
        for begin, end in blocks(history):
            text = _block_text(history, sims, begin, end)
            written += text.count("\n") - text.count("# ")
            path = Path(scratch) / f"{begin}.om"
            path.write_text(text)
            futures.append(pool.submit(convert, path))
            pending = [f for f in futures if not f.done()]
            if len(pending) > workers * 2:
                pending[0].result()
        for future in futures:
            future.result()
    os.sync()
    return written
