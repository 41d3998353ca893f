"""Progress on stderr for reports that take more than a few seconds (a 30-day report of a
large fleet): one line every few seconds naming the phase and the queries answered."""

from __future__ import annotations

import sys
import time
from typing import TextIO

QUIET_SECONDS = 3.0
EVERY_SECONDS = 5.0


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self.last_line = self.started
        self.phase = "starting"
        self.answered = 0
        self.printed = False

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._maybe_print()

    def answered_one(self) -> None:
        self.answered += 1
        self._maybe_print()

    def _maybe_print(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < QUIET_SECONDS:
            return
        if self.printed and now - self.last_line < EVERY_SECONDS:
            return
        self.last_line = now
        self.printed = True
        print(
            f"pitwatch report: {self.phase}, {self.answered} queries answered, "
            f"{now - self.started:.0f}s",
            file=self.stream,
            flush=True,
        )

    def done(self) -> None:
        if self.enabled and self.printed:
            elapsed = time.monotonic() - self.started
            print(
                f"pitwatch report: done in {elapsed:.1f}s ({self.answered} queries)",
                file=self.stream,
                flush=True,
            )
