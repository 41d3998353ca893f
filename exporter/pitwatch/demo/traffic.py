"""Players: a steady, slowly swelling stream of requests to the core API, written to its
access log. Each request depends on the service behind it (a bet on the wallet, a deposit on
a payment gateway, a game launch on a provider), so a fault anywhere shows in the real
traffic figures, next to what the probes see."""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass

from pitwatch.demo.apps import Simulation
from pitwatch.demo.catalog import BY_NAME, GATEWAYS, PROVIDERS
from pitwatch.demo.faults import Fault

RATE = 8.0
"""Requests per second on average: enough for the traffic rules (they need 1/s) to judge."""
WAVE_PERIOD = 600.0
WAVE_DEPTH = 0.25
TICK = 1.0
PLAYER_AGENT = "Mozilla/5.0 (Linux; Android 14) CasinoApp/7.3"


@dataclass(frozen=True, slots=True)
class Route:
    weight: int
    method: str
    path: str
    depends_on: str | None
    """``wallet-api``, ``gateway``, ``provider`` or nothing."""


ROUTES = (
    Route(45, "POST", "/api/v2/bets", "wallet-api"),
    Route(12, "GET", "/api/v2/wallet/balance", "wallet-api"),
    Route(4, "POST", "/api/v2/wallet/deposit", "gateway"),
    Route(1, "POST", "/api/v2/wallet/withdraw", "gateway"),
    Route(10, "POST", "/api/v2/games/{game}/launch", "provider"),
    Route(6, "POST", "/api/v2/login", None),
    Route(14, "GET", "/api/v2/lobby/games", None),
    Route(8, "GET", "/api/v2/promotions", None),
)
_WEIGHTS = [route.weight for route in ROUTES]
_GAMES = ("lightning-wheel", "book-of-fjords", "crash-rocket", "bingo-90", "holdem-6max")


class Players:
    def __init__(self, sim: Simulation, rate: float = RATE) -> None:
        self.sim = sim
        self.rate = rate
        self._started = time.time()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            self.tick()
            due += TICK
            await asyncio.sleep(max(0.0, due - loop.time()))

    def tick(self) -> None:
        """One second of players' requests."""
        core = self.sim.board.get("core-api")
        if core.kind in ("down", "hang"):
            return  # nothing reaches the API: the traffic simply stops
        now = time.time()
        wave = 1 + WAVE_DEPTH * math.sin(2 * math.pi * (now - self._started) / WAVE_PERIOD)
        for _ in range(_poisson(self.sim.rng, self.rate * wave)):
            self._request(core, now)

    def _request(self, core: Fault, now: float) -> None:
        rng = self.sim.rng
        route = rng.choices(ROUTES, _WEIGHTS)[0]
        path = route.path.format(game=rng.choice(_GAMES))
        seconds = BY_NAME["core-api"].latency.sample(rng, self.sim.latency_scale)
        status = 200
        if core.kind == "slow":
            seconds += core.delay if core.delay is not None else self.sim.slow_delay
        if core.kind == "errors" and rng.random() < core.error_rate:
            status = 500
        elif route.depends_on is not None:
            status, extra = self._dependency(route.depends_on)
            seconds += extra
        if status == 200:
            status = _everyday_status(rng)
        size = rng.randrange(300, 4000) if status < 400 else rng.randrange(60, 200)
        client = f"10.{rng.randrange(8, 40)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        self.sim.access_log.write(
            route.method,
            path,
            status=status,
            size=size,
            seconds=seconds,
            client=client,
            agent=PLAYER_AGENT,
            at=now,
        )

    def _dependency(self, kind: str) -> tuple[int, float]:
        """(status, seconds) of the call the API makes to serve this request."""
        rng = self.sim.rng
        if kind == "gateway":
            name = rng.choice(GATEWAYS)
        elif kind == "provider":
            name = rng.choice(PROVIDERS)
        else:
            name = kind
        service = BY_NAME[name]
        fault = self.sim.board.get(name)
        if service.behind is not None and self.sim.board.get(service.behind).kind != "ok":
            fault = self.sim.board.get(service.behind)
        seconds = service.latency.sample(rng, self.sim.latency_scale)
        if fault.kind == "down":
            return 502, 0.002
        if fault.kind == "hang":
            return 504, 10.0  # the API's own upstream timeout
        if fault.kind == "slow":
            seconds += fault.delay if fault.delay is not None else self.sim.slow_delay
        if fault.kind == "errors" and rng.random() < fault.error_rate:
            return 502, seconds
        return 200, seconds


def _everyday_status(rng: random.Random) -> int:
    """What a healthy API answers a few players anyway: expired sessions, double submits."""
    roll = rng.random()
    if roll < 0.003:
        return rng.choice((401, 404, 409, 422))
    if roll < 0.0035:
        return 500
    return 200


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means of one second of traffic.
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count
