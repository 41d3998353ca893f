"""The reported time range: ``--from`` / ``--to`` / ``--last`` checked into a :class:`Period`.

``T`` is RFC 3339 (``2026-12-01T00:00:00Z``, an offset, or a bare date meaning midnight UTC)
or a Unix timestamp. Times are whole seconds: Prometheus answers to the millisecond, but
probes and scrapes are seconds apart, so nothing finer means anything here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pitwatch.durations import format_duration, parse_duration
from pitwatch.report.errors import ReportError

DEFAULT_LAST = "7d"


@dataclass(frozen=True, slots=True)
class Period:
    start: int
    """Unix seconds, inclusive."""
    end: int
    """Unix seconds; the report covers probes up to and including this moment."""

    @property
    def seconds(self) -> int:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - self.seconds, self.start)

    def __str__(self) -> str:
        return f"{iso(self.start)} to {iso(self.end)}"


def iso(when: float) -> str:
    """``2026-12-03T14:12:30Z``: the form every report prints and the JSON carries."""
    return datetime.fromtimestamp(int(when), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, flag: str) -> int:
    cleaned = text.strip()
    try:
        number = float(cleaned)
    except ValueError:
        pass
    else:
        if math.isfinite(number) and number >= 0:
            return int(number)
        raise ReportError(f"{flag} {text!r}: a Unix timestamp cannot be negative")
    try:
        if len(cleaned) == 10:
            day = date.fromisoformat(cleaned)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        moment = datetime.fromisoformat(cleaned.replace("z", "Z"))
    except ValueError:
        raise ReportError(
            f"{flag} {text!r}: expected RFC 3339 (2026-12-01T00:00:00Z), a date (2026-12-01) "
            "or a Unix timestamp"
        ) from None
    if moment.tzinfo is None:
        raise ReportError(f"{flag} {text!r}: give a time zone, e.g. 2026-12-01T00:00:00Z")
    return int(moment.timestamp())


def parse_last(text: str) -> int:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ReportError(f"--last: {exc}") from None
    if seconds < 1:
        raise ReportError(f"--last {text!r}: the range is empty")
    return int(seconds)


def resolve_period(
    start: str | None, end: str | None, last: str | None, now: float
) -> tuple[Period, str | None]:
    """The period the flags ask for, and a note when it had to be cut at ``now``."""
    if end is not None and last is not None:
        raise ReportError("give --to or --last, not both")
    current = int(now)
    length = parse_last(last or DEFAULT_LAST)
    begin = parse_time(start, "--from") if start is not None else None
    finish = parse_time(end, "--to") if end is not None else None
    if begin is None:
        finish = current if finish is None else finish
        begin = finish - length
    elif finish is None:
        finish = begin + length if last is not None else current
    if begin >= current:
        raise ReportError(f"the range from {iso(begin)} is in the future (now {iso(current)})")
    if finish <= begin:
        raise ReportError(f"the range {iso(begin)} to {iso(finish)} is empty")
    note = None
    if finish > current:
        note = f"--to is in the future: reporting up to now ({iso(current)})"
        finish = current
    return Period(begin, finish), note


def describe(seconds: float) -> str:
    """A duration for people: ``13m30s``, ``2h``, ``3d4h``."""
    whole = round(seconds)  # as the JSON's *_seconds fields, so both say the same
    return format_duration(float(whole)) if whole > 0 else "0s"
