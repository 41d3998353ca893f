"""Long ranges in pieces: the period is cut into chunks that Prometheus answers in parallel
(bounded by the client's concurrency), each an instant query at the chunk's end over the
chunk's length. Counter increases of consecutive chunks add up to the period's (Prometheus
handles counter resets inside each), and the chunks double as the points of the charts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pitwatch.report.period import Period

MIN_CHUNK = 3600
TARGET_CHUNKS = 30


@dataclass(frozen=True, slots=True)
class Chunk:
    start: int
    end: int

    @property
    def seconds(self) -> int:
        return self.end - self.start


def chunk_length(period: Period) -> int:
    """Whole hours, about 30 chunks a period (1h for a day, 6h for a week, 1d for 30 days)."""
    hours = math.ceil(period.seconds / TARGET_CHUNKS / 3600)
    return max(MIN_CHUNK, hours * 3600)


def chunks_of(period: Period, length: int | None = None) -> list[Chunk]:
    size = length or chunk_length(period)
    chunks = []
    begin = period.start
    while begin < period.end:
        end = min(period.end, begin + size)
        chunks.append(Chunk(begin, end))
        begin = end
    return chunks
