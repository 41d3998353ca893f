"""The ``process`` prober: are the processes of a service running on this host, and what do
they use?

Processes are matched by name, by a regular expression on the command line, and by user;
every figure is summed over the matches. Fewer matches than ``min_count`` fail the probe:
none at all is reason ``connect`` (the service is down, as if it refused connections),
some but too few is reason ``assertion`` (it runs, degraded).

Walking ``/proc`` blocks, so it runs in a worker thread (:mod:`pitwatch.probes._threads`)
and returns a snapshot; the CPU counter is folded in on the event loop. pitwatch's own
process never counts (its command line holds the config path, which a pattern may match),
and neither do zombies (they have exited; only their parent has not reaped them yet).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil
from pydantic import Field, model_validator

from pitwatch.config_types import RegexText, TargetBase
from pitwatch.families import Family, register
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._threads import run_blocking
from pitwatch.reasons import ProbeFailure, Reason
from pitwatch.result import Passed, ProbeContext, Sample

# Not "_count": promtool reserves that suffix for histograms and summaries.
PROCESS_MATCHES = register(
    Family("pitwatch_process_matches", "gauge", "Processes matching the target in the last probe.")
)
PROCESS_CPU = register(
    Family(
        "pitwatch_process_cpu_seconds_total",
        "counter",
        "User and system CPU time of the matching processes, in seconds; only grows (a "
        "process that exits keeps what it used).",
    )
)
PROCESS_RSS = register(
    Family(
        "pitwatch_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the matching processes in the last probe, summed, in bytes.",
    )
)
PROCESS_FDS = register(
    Family(
        "pitwatch_process_open_fds",
        "gauge",
        "Open file descriptors of the matching processes in the last probe, summed (absent "
        "when pitwatch may not read them).",
    )
)
PROCESS_THREADS = register(
    Family(
        "pitwatch_process_threads",
        "gauge",
        "Threads of the matching processes in the last probe, summed.",
    )
)
PROCESS_START = register(
    Family(
        "pitwatch_process_start_time_seconds",
        "gauge",
        "Unix time the newest matching process started (a restart changes it); absent when "
        "none matches.",
    )
)


class ProcessTarget(TargetBase):
    probe: Literal["process"]
    process_name: str | None = None
    """Exact process name, as ``ps -e`` and ``pgrep`` show it (e.g. ``nginx``)."""
    cmdline: RegexText | None = None
    """Regular expression searched in the command line (arguments joined by spaces)."""
    user: str | None = None
    """User name (or numeric uid) the processes run as."""
    min_count: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _something_to_match(self) -> ProcessTarget:
        if self.process_name is None and self.cmdline is None:
            raise ValueError("a process probe needs process_name, cmdline or both")
        return self

    def describe(self) -> str:
        """What is matched, for messages: ``name "nginx", user "www-data"``."""
        parts = []
        if self.process_name is not None:
            parts.append(f'name "{self.process_name}"')
        if self.cmdline is not None:
            parts.append(f"cmdline /{self.cmdline}/")
        if self.user is not None:
            parts.append(f'user "{self.user}"')
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class _Seen:
    """One matching process at the moment of the scan."""

    pid: int
    started: float
    cpu: float
    rss: int
    threads: int
    fds: int | None
    """``None`` when pitwatch may not read another user's descriptors."""


def _scan(spec: ProcessTarget) -> tuple[_Seen, ...]:
    """Every matching process now. Runs in a worker thread."""
    pattern = re.compile(spec.cmdline) if spec.cmdline is not None else None
    own = os.getpid()
    found = []
    for pid in psutil.pids():
        if pid == own:
            continue
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                if not _matches(proc, spec, pattern):
                    continue
                found.append(_measure(proc))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # gone since the listing, or hidden from us (hidepid)
    return tuple(found)


def _matches(proc: psutil.Process, spec: ProcessTarget, pattern: re.Pattern[str] | None) -> bool:
    # Cheapest checks first: name and status come from one read of /proc/PID/stat.
    if spec.process_name is not None and proc.name() != spec.process_name:
        return False
    if proc.status() == psutil.STATUS_ZOMBIE:
        return False
    if spec.user is not None and spec.user not in (proc.username(), str(proc.uids().real)):
        return False
    return pattern is None or pattern.search(" ".join(proc.cmdline())) is not None


def _measure(proc: psutil.Process) -> _Seen:
    times = proc.cpu_times()
    try:
        fds: int | None = proc.num_fds()
    except psutil.AccessDenied:
        fds = None
    return _Seen(
        pid=proc.pid,
        started=proc.create_time(),
        cpu=times.user + times.system,
        rss=proc.memory_info().rss,
        threads=proc.num_threads(),
        fds=fds,
    )


@dataclass(slots=True)
class _CpuTally:
    """A CPU counter that never goes down: the sum over processes would drop whenever one
    exits, which ``rate()`` reads as a counter reset and turns into a spike."""

    key: object
    total: float = 0.0
    last: dict[tuple[int, float], float] = field(default_factory=dict)

    def add(self, seen: tuple[_Seen, ...]) -> None:
        current = {(proc.pid, proc.started): proc.cpu for proc in seen}
        for identity, cpu in current.items():
            # A process new to us adds all it used so far; a known one what it used since.
            self.total += max(0.0, cpu - self.last.get(identity, 0.0))
        self.last = current


def _tally(state: dict[str, Any], key: object) -> _CpuTally:
    tally = state.get("cpu")
    if not isinstance(tally, _CpuTally) or tally.key != key:
        tally = _CpuTally(key)  # new matching rules: a new counter (Prometheus sees a reset)
        state["cpu"] = tally
    return tally


def _samples(seen: tuple[_Seen, ...], cpu_total: float) -> tuple[Sample, ...]:
    samples = [
        Sample(PROCESS_MATCHES, len(seen)),
        Sample(PROCESS_CPU, cpu_total),
        Sample(PROCESS_RSS, sum(proc.rss for proc in seen)),
        Sample(PROCESS_THREADS, sum(proc.threads for proc in seen)),
    ]
    fds = [proc.fds for proc in seen]
    if None not in fds:
        samples.append(Sample(PROCESS_FDS, sum(fd for fd in fds if fd is not None)))
    if seen:
        samples.append(Sample(PROCESS_START, max(proc.started for proc in seen)))
    return tuple(samples)


async def probe(target: ProcessTarget, ctx: ProbeContext) -> Passed:
    key = (target.process_name, target.cmdline, target.user)
    tally = _tally(ctx.state, key)
    # A scan cut short by the deadline measured nothing, but the counter still stands.
    ctx.samples = (Sample(PROCESS_CPU, tally.total),)
    ctx.step = "listing processes"
    seen = await run_blocking(ctx.state, key, lambda: _scan(target))
    tally.add(seen)
    ctx.samples = _samples(seen, tally.total)
    details: tuple[tuple[str, str], ...] = ()
    if any(proc.fds is None for proc in seen):
        details = (("open_fds", "not readable: the processes belong to another user"),)
    count = len(seen)
    if count >= target.min_count:
        noun = "process" if count == 1 else "processes"
        return Passed(f"{count} {noun}", details)
    if count == 0:
        raise ProbeFailure(Reason.CONNECT, f"no process matches {target.describe()}", details)
    message = f"{count} of min_count {target.min_count} processes match {target.describe()}"
    raise ProbeFailure(Reason.ASSERTION, message, details)


KIND = ProbeKind("process", ProcessTarget, probe)
