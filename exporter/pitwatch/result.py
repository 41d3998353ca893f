"""What a probe hands back, and what it is handed.

A prober measures and raises: it puts what it measured in ``ctx.samples`` (set on every
way out, so a deadline that cuts it short keeps what it had), returns :class:`Passed` when
the target is healthy and raises :class:`~pitwatch.reasons.ProbeFailure` when it is not.
The scheduler alone turns that (or a timeout, or a bug) into a :class:`ProbeResult`, and
adds the timing as an :class:`Observation`. Results are frozen and replaced whole, so a
scrape never sees half of one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pitwatch.families import Family
from pitwatch.reasons import Reason
from pitwatch.secrets import Redactor

LabelPairs = tuple[tuple[str, str], ...]

STOP_MARGIN = 0.05
"""A prober stops waiting this long (at most a tenth of its timeout) before its deadline,
so that its own verdict (which phase, which step, which packets came back) lands first."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a prober's own family. ``labels`` are the family's extra labels, in the
    family's order; ``suffix`` is ``_bucket``/``_sum``/``_count`` for histogram parts."""

    family: Family
    value: float
    labels: LabelPairs = ()
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class Passed:
    """A prober's positive verdict."""

    message: str = ""
    """Short text for the status page, e.g. ``HTTP 200``."""
    details: LabelPairs = ()
    """Extra facts for the status page only (never labels)."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    success: bool
    reason: Reason | None = None
    message: str = ""
    """Short, secret-free text for the status page and the down/up log lines."""
    samples: tuple[Sample, ...] = ()
    details: LabelPairs = ()
    """Extra facts for the status page only (never labels), e.g. which assertion failed."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One finished probe: the verdict plus what the scheduler measured."""

    result: ProbeResult
    duration: float
    finished_at: float
    """Unix time."""


@dataclass(slots=True)
class ProbeContext:
    """Handed to every probe: its deadline, somewhere to note progress and measurements,
    and state that lives across probes of the same target (kept over a reload that keeps
    the target)."""

    timeout: float
    deadline: float
    """Event-loop time (``loop.time()``) by which the probe must be done."""
    state: dict[str, Any] = field(default_factory=dict)
    step: str = "starting"
    """What the probe is doing now; a timeout message names it."""
    samples: tuple[Sample, ...] = ()
    """What the probe measured so far. Probers keep it current (a ``finally:`` does), so the
    result carries it however the probe ends, a timeout included."""
    redactor: Redactor = field(default_factory=Redactor)
    """Masks the target's secrets and whatever the probe learnt (:meth:`hide`) in every
    text shown; the scheduler applies it to the result."""

    def remaining(self) -> float:
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def stop_at(self) -> float:
        """Loop time a prober stops waiting on its own, just before the deadline."""
        return self.deadline - min(STOP_MARGIN, self.timeout / 10)

    def budget(self, limit: float | None = None) -> float:
        """Seconds an operation may take: until :meth:`stop_at` (at least 1 ms), at most
        ``limit``."""
        left = max(0.001, self.stop_at() - asyncio.get_running_loop().time())
        return left if limit is None else min(left, limit)

    def hide(self, value: str) -> None:
        """Never show ``value`` (a token fetched, a value captured) in what this probe says."""
        self.redactor.hide(value)

    def redact(self, text: str) -> str:
        return self.redactor(text)
