"""The ``logs`` prober: real request volume, error rate and latency from an access log.

Each probe reads what the log gained since the last one (:mod:`pitwatch.probes._tail`:
rotation by rename, copytruncate, truncation, a per-tick cap) and counts the lines
(:mod:`pitwatch.probes._accesslog`). The counters live in ``ctx.state``, so they keep
growing across probes and across reloads that keep the target; they start at zero when
pitwatch starts, which Prometheus reads as an ordinary counter reset. With a state
directory (:mod:`pitwatch.positions`) reading resumes after a restart where the last
process stopped, rotated files included, so what was written meanwhile is counted; without
one, ``start_at: end`` (the default) skips it.

The probe succeeds when the file could be read. A missing file is reason ``connect`` (the
log is this probe's data source: gone is unreachable), permission denied ``auth``, a
directory ``protocol``, other I/O errors ``connect``; the counters are exported either way.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pitwatch import positions
from pitwatch.config_types import ByteSize, RegexText, StrictModel, TargetBase, resolve_path
from pitwatch.exposition import format_bound
from pitwatch.families import Family, register
from pitwatch.probes._accesslog import (
    Counts,
    JsonFieldNames,
    Parser,
    Router,
    Tally,
    combined_parser,
    json_parser,
)
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._tail import (
    MIN_READ_BYTES,
    StartAt,
    TailRead,
    TailState,
    follow,
    positions_of,
    resume,
)
from pitwatch.probes._threads import run_blocking
from pitwatch.reasons import file_failure
from pitwatch.result import LabelPairs, Passed, ProbeContext, Sample

DEFAULT_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEFAULT_MAX_READ = 16 * 1024 * 1024
_TIME_SHARE = 0.7
"""Share of the probe's remaining time the reading thread may use before it stops early."""
_ROUTE_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")

LOGS_REQUESTS = register(
    Family(
        "pitwatch_logs_requests_total",
        "counter",
        "Requests in the access log since pitwatch started, by method, status class and route.",
        ("method", "status_class", "route"),
    )
)
LOGS_RESPONSE_BYTES = register(
    Family(
        "pitwatch_logs_response_bytes_total",
        "counter",
        "Response bytes logged since pitwatch started, by method, status class and route.",
        ("method", "status_class", "route"),
    )
)
LOGS_DURATION = register(
    Family(
        "pitwatch_logs_request_duration_seconds",
        "histogram",
        "Request durations logged since pitwatch started, by route, in seconds.",
        ("route",),
    )
)
LOGS_UNPARSED = register(
    Family(
        "pitwatch_logs_unparsed_lines_total",
        "counter",
        "Log lines since pitwatch started that were no request in the configured format "
        "(or longer than 32 KiB).",
    )
)
LOGS_READ_BYTES = register(
    Family(
        "pitwatch_logs_read_bytes_total",
        "counter",
        "Bytes of the log pitwatch has read since it started.",
    )
)
LOGS_BACKLOG = register(
    Family(
        "pitwatch_logs_backlog_bytes",
        "gauge",
        "Bytes of the log not yet read after the last probe (max_read_bytes or the timeout "
        "stopped it); stays above 0 when the log grows faster than pitwatch reads.",
    )
)


class JsonFields(StrictModel):
    """Dotted paths of the values in a JSON line (``request.method`` for nested objects)."""

    method: str = "method"
    path: str = "path"
    status: str = "status"
    bytes: str = "bytes"
    request: str | None = None
    """A ``"GET /x HTTP/1.1"`` field, instead of method and path."""


class Route(StrictModel):
    pattern: RegexText
    """Regular expression searched in the path (without the query string)."""
    route: str
    """The ``route`` label value."""

    @field_validator("route")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ROUTE_NAME.fullmatch(value):
            raise ValueError(f"route {value!r} must be 1-64 of A-Z a-z 0-9 _ . : / -")
        return value


class LogsTarget(TargetBase):
    probe: Literal["logs"]
    path: str
    format: Literal["combined", "json"] = "combined"
    fields: JsonFields = Field(default_factory=JsonFields)
    duration_field: str | int | None = None
    """json: the field name; combined: the position of the field after the user agent."""
    duration_unit: Literal["s", "ms", "us", "ns"] = "s"
    duration_buckets: tuple[float, ...] = DEFAULT_DURATION_BUCKETS
    routes: tuple[Route, ...] = ()
    start_at: StartAt = "end"
    max_read_bytes: ByteSize = DEFAULT_MAX_READ

    @field_validator("path")
    @classmethod
    def _resolve(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return str(resolve_path(value, info))

    @field_validator("duration_buckets")
    @classmethod
    def _ascending(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(b <= 0 for b in value) or list(value) != sorted(set(value)):
            raise ValueError("duration_buckets must be positive and strictly ascending")
        return value

    @field_validator("max_read_bytes")
    @classmethod
    def _enough(cls, value: int) -> int:
        if value < MIN_READ_BYTES:
            raise ValueError(f"max_read_bytes must be at least {MIN_READ_BYTES // 1024}KiB")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LogsTarget:
        given = self.model_fields_set
        if self.format == "combined":
            if "fields" in given:
                raise ValueError("fields applies to format json only")
            if self.duration_field is not None and not (
                isinstance(self.duration_field, int) and self.duration_field >= 1
            ):
                raise ValueError(
                    "with format combined, duration_field is the position of the field after "
                    "the user agent (1 = the first)"
                )
        elif isinstance(self.duration_field, int):
            raise ValueError("with format json, duration_field is a field name")
        if self.duration_field is None and given & {"duration_unit", "duration_buckets"}:
            raise ValueError("duration_unit and duration_buckets need duration_field")
        return self

    def parser(self) -> Parser:
        if self.format == "combined":
            position = self.duration_field if isinstance(self.duration_field, int) else None
            return combined_parser(position, self.duration_unit)
        names = JsonFieldNames(
            method=self.fields.method,
            path=self.fields.path,
            status=self.fields.status,
            size=self.fields.bytes,
            request=self.fields.request,
            duration=self.duration_field if isinstance(self.duration_field, str) else None,
        )
        return json_parser(names, self.duration_unit)

    def buckets(self) -> tuple[float, ...]:
        return self.duration_buckets if self.duration_field is not None else ()

    def counting_key(self) -> object:
        """What decides the label sets: when it changes, the counters start over (or old
        routes would stay exported forever)."""
        return (self.format, self.fields, self.duration_field, self.duration_unit,
                self.buckets(), self.routes)  # fmt: skip


@dataclass(slots=True)
class _LogState:
    """What a logs target keeps across probes (in ``ctx.state``)."""

    path: str
    counting_key: object
    parser: Parser
    router: Router
    tail: TailState = field(default_factory=TailState)
    counts: Counts = field(default_factory=Counts)
    read_bytes: int = 0
    backlog: int = 0
    generation: int = 0
    """Bumped by every applied read: a read started from an older position is dropped."""


def _state(store: dict[str, Any], target: LogsTarget) -> _LogState:
    state = store.get("logs")
    key = target.counting_key()
    if not isinstance(state, _LogState):
        state = None
    elif state.path != target.path:
        state.tail.close()  # another file: start afresh (start_at applies again)
        state = None
    if state is None:
        state = _LogState(target.path, key, target.parser(), _router(target))
        saved = positions.store()
        if saved is not None:  # where the previous process stopped
            state.tail = resume(target.path, saved.positions(target.name, target.path))
        store["logs"] = state
    elif state.counting_key != key:
        state.counting_key, state.parser, state.router = key, target.parser(), _router(target)
        state.counts = Counts()
        state.generation += 1  # a read in flight counted with the old rules
    return state


def _router(target: LogsTarget) -> Router:
    return Router([(route.pattern, route.route) for route in target.routes])


@dataclass(frozen=True, slots=True)
class _Outcome:
    generation: int
    read: TailRead
    counts: Counts


def _read(target: LogsTarget, state: _LogState, generation: int, stop_at: float) -> _Outcome:
    """One tick of reading, in a worker thread: touches nothing in ``state``."""
    tally = Tally(state.parser, state.router, target.buckets())
    read = follow(
        target.path,
        state.tail,
        start_at=target.start_at,
        max_bytes=target.max_read_bytes,
        stop_at=stop_at,
        lines=tally.line,
    )
    tally.overlong(read.overlong)
    saved = positions.store()
    if saved is not None and read.error is None:
        saved.save(target.name, target.path, positions_of(read.state))
    return _Outcome(generation, read, tally.counts)


def _apply(state: _LogState, outcome: _Outcome) -> bool:
    if outcome.generation != state.generation:
        return False  # already applied by a probe that shared this read, or outdated
    state.generation += 1
    state.tail = outcome.read.state
    state.counts.merge(outcome.counts)
    state.read_bytes += outcome.read.consumed
    state.backlog = outcome.read.backlog
    for handle in outcome.read.to_close:
        handle.close()
    return True


def _samples(target: LogsTarget, state: _LogState) -> tuple[Sample, ...]:
    counts = state.counts
    samples: list[Sample] = []
    for key in sorted(counts.requests):
        samples.append(Sample(LOGS_REQUESTS, counts.requests[key], _request_labels(key)))
    for key in sorted(counts.response_bytes):
        samples.append(
            Sample(LOGS_RESPONSE_BYTES, counts.response_bytes[key], _request_labels(key))
        )
    bounds = target.buckets()
    for route in sorted(counts.durations):
        histogram = counts.durations[route]
        cumulative = 0
        for bound, count in zip((*bounds, float("inf")), histogram.counts, strict=True):
            cumulative += count
            bucket = (("route", route), ("le", format_bound(bound)))
            samples.append(Sample(LOGS_DURATION, cumulative, bucket, "_bucket"))
        samples.append(Sample(LOGS_DURATION, histogram.total, (("route", route),), "_sum"))
        samples.append(Sample(LOGS_DURATION, cumulative, (("route", route),), "_count"))
    samples.append(Sample(LOGS_UNPARSED, counts.unparsed))
    samples.append(Sample(LOGS_READ_BYTES, state.read_bytes))
    samples.append(Sample(LOGS_BACKLOG, state.backlog))
    return tuple(samples)


def _request_labels(key: tuple[str, str, str]) -> LabelPairs:
    return (("method", key[0]), ("status_class", key[1]), ("route", key[2]))


async def probe(target: LogsTarget, ctx: ProbeContext) -> Passed:
    state = _state(ctx.state, target)
    ctx.samples = _samples(target, state)  # the counters are exported however it ends
    ctx.step = f"reading {target.path}"
    generation = state.generation
    stop_at = time.monotonic() + ctx.remaining() * _TIME_SHARE
    try:
        outcome = await run_blocking(
            ctx.state,
            (target.path, state.counting_key, generation),
            lambda: _read(target, state, generation, stop_at),
        )
    except OSError as exc:  # reading an open file failed (EIO): nothing applied, retried
        raise file_failure(exc, target.path, "log file") from exc
    _apply(state, outcome)
    ctx.samples = _samples(target, state)
    read = outcome.read
    if read.error is not None:
        raise file_failure(read.error, target.path, "log file")
    details = (
        ("rotations", str(read.rotations)),
        ("truncations", str(read.truncations)),
        ("backlog_bytes", str(read.backlog)),
    )
    return Passed(f"{outcome.counts.lines} new lines", details)


KIND = ProbeKind("logs", LogsTarget, probe)
