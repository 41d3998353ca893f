"""What the simulated platform is made of: its services, how fast they answer, who owns them.

Latencies are medians of a log-normal spread, in the range such services answer from a
data centre near them: an in-house API in tens of milliseconds, a game provider's API in
around a hundred, a card authorisation in a few hundred, an identity check slower still.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Role = Literal[
    "core_api",
    "wallet",
    "live_provider",
    "provider",
    "aggregator",
    "psp_authorise",
    "psp_status",
    "psp_wallet",
    "kyc",
    "cdn",
    "cache",
]

AGGREGATOR = "aggregator"


@dataclass(frozen=True, slots=True)
class Latency:
    median: float
    """Seconds."""
    spread: float = 0.25
    """Sigma of the log-normal: 0.25 puts the p99 near 1.8 x the median."""
    tail: float = 0.01
    """Share of requests that take about three times longer (a GC pause, a cold cache)."""

    def sample(self, rng: random.Random, scale: float = 1.0) -> float:
        value = self.median * rng.lognormvariate(0.0, self.spread)
        if rng.random() < self.tail:
            value *= 3
        return value * scale


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    role: Role
    latency: Latency
    about: str
    behind: str | None = None
    """The aggregator this provider is reached through (it has no port of its own)."""

    @property
    def own_port(self) -> bool:
        return self.behind is None


SERVICES: tuple[Service, ...] = (
    Service("core-api", "core_api", Latency(0.025), "the platform's player API (tier 1)"),
    Service("wallet-api", "wallet", Latency(0.035), "balances and bets (tier 1)"),
    Service(
        "gp-aurora-live",
        "live_provider",
        Latency(0.12),
        "live casino: probed by a game-launch flow",
    ),
    Service("gp-boreal-slots", "provider", Latency(0.08), "slots, direct integration"),
    Service("gp-cobalt-crash", "provider", Latency(0.06), "crash games, direct integration"),
    Service(
        AGGREGATOR, "aggregator", Latency(0.03), "the game aggregator five providers sit behind"
    ),
    *(
        Service(name, "provider", Latency(median), f"{kind}, via the aggregator", AGGREGATOR)
        for name, median, kind in (
            ("gp-dynamo-slots", 0.09, "slots"),
            ("gp-ember-bingo", 0.07, "bingo"),
            ("gp-fjord-poker", 0.11, "poker"),
            ("gp-granite-slots", 0.08, "slots"),
            ("gp-helix-table", 0.10, "table games"),
        )
    ),
    Service(
        "psp-northpay",
        "psp_authorise",
        Latency(0.22, 0.3),
        "card acquirer: a sandbox authorisation that is always declined",
    ),
    Service("psp-cardway", "psp_status", Latency(0.15), "card gateway, status API"),
    Service("psp-paywallet", "psp_wallet", Latency(0.12), "e-wallet"),
    Service("kyc-verify", "kyc", Latency(0.4, 0.3), "identity checks"),
    Service("canary-cdn", "cdn", Latency(0.015), "a public CDN: the canary for our way out"),
    Service("session-cache", "cache", Latency(0.002), "Redis-style session cache (tcp)"),
)

BY_NAME = {service.name: service for service in SERVICES}
AGGREGATED = tuple(s.name for s in SERVICES if s.behind == AGGREGATOR)
GATEWAYS = tuple(s.name for s in SERVICES if s.role.startswith("psp_"))
PROVIDERS = tuple(s.name for s in SERVICES if s.role in ("provider", "live_provider"))
