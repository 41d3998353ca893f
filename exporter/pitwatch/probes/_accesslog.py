"""Access-log lines into request counts: parsing (combined format or JSON lines), routing
paths to a bounded set of names, and the counters and histograms the ``logs`` probe exports.

Everything that becomes a label is drawn from a closed set: ``method`` from
:data:`KNOWN_METHODS` or ``OTHER``, ``status_class`` from ``1xx``..``5xx``, ``route`` from
the configured route names or ``other``. A raw path never leaves this module.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pitwatch.probes._tail import MAX_LINE

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}
)
OTHER_METHOD = "OTHER"
OTHER_ROUTE = "other"
UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_ROUTE_CACHE = 4096

# host ident user [time] "request" status bytes ["referer" "user agent"] [extra fields...]
# Quoted fields may hold \" (Apache) or \x22 (nginx) escapes.
_QUOTED = rb'"(?:[^"\\]|\\.)*"'
_COMBINED = re.compile(
    rb"\S+ \S+ (?:\S+|" + _QUOTED + rb") \[[^\]]*\] "
    rb'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    rb"(?: " + _QUOTED + rb" " + _QUOTED + rb")?(?P<rest>.*)"
)
_EXTRA_FIELD = re.compile(_QUOTED + rb"|\S+")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    status: int
    path: str | None
    size: int
    duration: float | None
    """Seconds, when the log has a duration and this line a usable one."""


Parser = Callable[[bytes], Request | None]
"""One line -> its request, or ``None`` when the line is not one."""


def combined_parser(duration_position: int | None, unit: str) -> Parser:
    """Parser for nginx/Apache combined (and common) format; ``duration_position`` counts
    the fields after the user agent (1 = the first), e.g. nginx's ``$request_time``."""
    scale = UNIT_SECONDS[unit]

    def parse(line: bytes) -> Request | None:
        match = _COMBINED.fullmatch(line)
        if match is None:
            return None
        method, path = _split_request(match["request"].decode("utf-8", "replace"))
        size = match["bytes"]
        duration = None
        if duration_position is not None:
            extra = _EXTRA_FIELD.findall(match["rest"])
            if len(extra) >= duration_position:
                duration = _seconds(extra[duration_position - 1].strip(b'"'), scale)
        return Request(
            method, int(match["status"]), path, 0 if size == b"-" else int(size), duration
        )

    return parse


@dataclass(frozen=True, slots=True)
class JsonFieldNames:
    """Where each value sits in a JSON line (dotted paths such as ``request.method``)."""

    method: str
    path: str
    status: str
    size: str
    request: str | None = None
    """A ``"GET /x HTTP/1.1"`` field to take method and path from instead."""
    duration: str | None = None


def json_parser(names: JsonFieldNames, unit: str) -> Parser:
    scale = UNIT_SECONDS[unit]
    lookups = {
        key: _lookup(value)
        for key, value in (
            ("method", names.method),
            ("path", names.path),
            ("status", names.status),
            ("size", names.size),
            ("request", names.request),
            ("duration", names.duration),
        )
        if value is not None
    }

    def parse(line: bytes) -> Request | None:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # also UnicodeDecodeError; `[[[[...` nests too deep
            return None
        if not isinstance(record, dict):
            return None
        status = _integer(lookups["status"](record))
        if status is None:
            return None
        if "request" in lookups:
            request = lookups["request"](record)
            method, path = _split_request(request if isinstance(request, str) else "")
        else:
            raw_method, raw_path = lookups["method"](record), lookups["path"](record)
            method = _method(raw_method if isinstance(raw_method, str) else "")
            path = _path_only(raw_path) if isinstance(raw_path, str) else None
        size = _integer(lookups["size"](record)) or 0
        duration = None
        if "duration" in lookups:
            duration = _seconds(lookups["duration"](record), scale)
        return Request(method, status, path, max(0, size), duration)

    return parse


def _lookup(dotted: str) -> Callable[[Any], Any]:
    parts = dotted.split(".")

    def get(record: Any) -> Any:
        for part in parts:
            if not isinstance(record, dict):
                return None
            record = record.get(part)
        return record

    return get


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _seconds(value: Any, scale: float) -> float | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value) * scale
    except (TypeError, ValueError):
        return None  # "-" when the upstream never answered, and the like
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _split_request(request: str) -> tuple[str, str | None]:
    """``"GET /bets?id=1 HTTP/1.1"`` -> ``("GET", "/bets")``; garbage -> ``("OTHER", None)``."""
    parts = request.split(" ")
    if len(parts) not in (2, 3):
        return OTHER_METHOD, None
    return _method(parts[0]), _path_only(parts[1])


def _method(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def _path_only(target: str) -> str:
    """The path of a request target: no query (it can carry tokens), no scheme and host."""
    if target.startswith(("http://", "https://")):
        slash = target.find("/", target.find("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    return target.split("?", 1)[0].split("#", 1)[0]


class Router:
    """Path -> route name: the first pattern that matches (``re.search``), else ``other``."""

    def __init__(self, routes: Sequence[tuple[str, str]]) -> None:
        self._routes = tuple((re.compile(pattern), name) for pattern, name in routes)
        # Paths repeat a lot; the cache is bounded, so odd paths cannot grow it.
        self.route = lru_cache(maxsize=_ROUTE_CACHE)(self._route)

    def _route(self, path: str | None) -> str:
        if path is not None:
            for pattern, name in self._routes:
                if pattern.search(path):
                    return name
        return OTHER_ROUTE


@dataclass(slots=True)
class Histogram:
    counts: list[int]
    """Per bucket, not cumulative; the last one is +Inf."""
    total: float = 0.0

    def observe(self, bounds: Sequence[float], value: float) -> None:
        self.counts[bisect.bisect_left(bounds, value)] += 1
        self.total += value

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total


LabelKey = tuple[str, str, str]
"""(method, status_class, route)"""


@dataclass(slots=True)
class Counts:
    requests: dict[LabelKey, int] = field(default_factory=dict)
    response_bytes: dict[LabelKey, int] = field(default_factory=dict)
    durations: dict[str, Histogram] = field(default_factory=dict)
    unparsed: int = 0
    lines: int = 0

    def merge(self, other: Counts) -> None:
        for key, value in other.requests.items():
            self.requests[key] = self.requests.get(key, 0) + value
        for key, value in other.response_bytes.items():
            self.response_bytes[key] = self.response_bytes.get(key, 0) + value
        for route, histogram in other.durations.items():
            mine = self.durations.get(route)
            if mine is None:
                self.durations[route] = Histogram(list(histogram.counts), histogram.total)
            else:
                mine.merge(histogram)
        self.unparsed += other.unparsed
        self.lines += other.lines


class Tally:
    """Counts lines as they are read (in the reading thread, into its own :class:`Counts`)."""

    def __init__(self, parser: Parser, router: Router, bounds: tuple[float, ...]) -> None:
        self.parser = parser
        self.router = router
        self.bounds = bounds
        self.counts = Counts()

    def line(self, raw: bytes) -> None:
        # A copytruncate'd file written without O_APPEND starts with a run of NUL bytes.
        raw = raw.rstrip(b"\r").lstrip(b"\x00")
        if not raw:
            return
        counts = self.counts
        counts.lines += 1
        request = self.parser(raw) if len(raw) <= MAX_LINE else None
        if request is None or not 100 <= request.status <= 599:
            counts.unparsed += 1
            return
        route = self.router.route(request.path)
        key = (request.method, f"{request.status // 100}xx", route)
        counts.requests[key] = counts.requests.get(key, 0) + 1
        counts.response_bytes[key] = counts.response_bytes.get(key, 0) + request.size
        if request.duration is not None and self.bounds:
            histogram = counts.durations.get(route)
            if histogram is None:
                histogram = counts.durations[route] = Histogram([0] * (len(self.bounds) + 1))
            histogram.observe(self.bounds, request.duration)

    def overlong(self, count: int) -> None:
        self.counts.lines += count
        self.counts.unparsed += count
