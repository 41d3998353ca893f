"""What a probe hands back, and what it is handed.

Probers return a :class:`ProbeResult`; the scheduler adds the timing and the common
series (success, duration, counters, histogram). Results are frozen and replaced whole,
so a scrape never sees half of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pitwatch.families import Family
from pitwatch.reasons import Reason

LabelPairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a prober's own family. ``labels`` are the family's extra labels, in the
    family's order; ``suffix`` is ``_bucket``/``_sum``/``_count`` for histogram parts."""

    family: Family
    value: float
    labels: LabelPairs = ()
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    success: bool
    reason: Reason | None = None
    message: str = ""
    """Short, secret-free text for the status page and the down/up log lines."""
    samples: tuple[Sample, ...] = ()
    details: LabelPairs = ()
    """Extra facts for the status page only (never labels), e.g. which assertion failed."""

    @classmethod
    def ok(cls, samples: tuple[Sample, ...] = (), message: str = "") -> ProbeResult:
        return cls(True, None, message, samples)

    @classmethod
    def failed(cls, reason: Reason, message: str, samples: tuple[Sample, ...] = ()) -> ProbeResult:
        return cls(False, reason, message, samples)


@dataclass(slots=True)
class ProbeContext:
    """Handed to every probe: its deadline, somewhere to note progress, and state that
    lives across probes of the same target (kept over a reload that keeps the target)."""

    timeout: float
    deadline: float
    """Event-loop time (``loop.time()``) by which the probe must be done."""
    state: dict[str, Any] = field(default_factory=dict)
    step: str = "starting"
    """What the probe is doing now; a timeout message names it."""
    measured: Callable[[], tuple[Sample, ...]] | None = None
    """What was measured so far; the scheduler keeps it if the deadline cuts the probe short."""

    def remaining(self) -> float:
        return max(0.0, self.deadline - asyncio.get_running_loop().time())
