"""``rate_limit``: one token bucket for the whole server, checked before authentication, as
in the toolkit (Go's ``rate.Limiter``): it holds ``burst`` tokens, starts full, gains one
every ``interval``, and a request that finds it empty is answered 429."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) / self.interval)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
