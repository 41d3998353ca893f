"""The HTTP side of each simulated service: its endpoints, its latency, and its faults.

Every request first goes through :func:`misbehave`, which applies the service's current
fault (``hang``, ``errors``, ``slow``) on top of its usual latency. ``down`` never gets here
for a service with a port of its own (its port is closed); a provider behind the aggregator
is ``down`` when the aggregator cannot reach it, and the aggregator says so with a 502.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from pitwatch import __version__
from pitwatch.demo.accesslog import AccessLog
from pitwatch.demo.catalog import AGGREGATOR, BY_NAME, Service
from pitwatch.demo.faults import FaultBoard

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("pitwatch.demo")
CLIENT_CLOSED_REQUEST = 499

DECLINED_CARD = "4000000000000002"
"""The sandbox test card every acquirer declines: the decline proves the payment path."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Made up per run and handed to pitwatch in files, as real secrets would be."""

    player_user: str = "pitwatch-test-player"
    player_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    psp_client_id: str = "pitwatch"
    psp_client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    kyc_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class TokenBook:
    """Tokens handed out, the oldest forgotten first: a demo running for days stays small."""

    def __init__(self, keep: int = 1000) -> None:
        self._tokens: dict[str, None] = {}
        self._keep = keep

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = None
        if len(self._tokens) > self._keep:
            del self._tokens[next(iter(self._tokens))]
        return token

    def __contains__(self, token: object) -> bool:
        return token in self._tokens


@dataclass
class Simulation:
    """What every service's handlers share."""

    board: FaultBoard
    rng: random.Random
    credentials: Credentials
    access_log: AccessLog
    latency_scale: float = 1.0
    slow_delay: float = 1.5
    """Extra seconds per request of a ``slow`` service (unless the fault names its own)."""
    player_tokens: TokenBook = field(default_factory=TokenBook)
    psp_tokens: TokenBook = field(default_factory=TokenBook)

    def delay(self, service: Service) -> float:
        fault = self.board.get(service.name)
        base = service.latency.sample(self.rng, self.latency_scale)
        if fault.kind == "slow":
            extra = fault.delay if fault.delay is not None else self.slow_delay
            base += extra * self.rng.uniform(0.9, 1.1)
        return base


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(data), content_type="application/json", headers=headers
    )


async def misbehave(sim: Simulation, service: Service) -> web.Response | None:
    """Wait as long as ``service`` takes now; an error response if its fault says this request
    fails, else ``None`` (go on and answer)."""
    if sim.board.get(service.name).kind == "hang":
        await sim.board.hang(service.name)
    failing = sim.board.should_fail(service.name)
    await asyncio.sleep(sim.delay(service))
    if failing:
        return json_response(
            {"status": "error", "error": "internal error", "request_id": secrets.token_hex(8)},
            status=503 if service.role in ("provider", "live_provider", "aggregator") else 500,
        )
    return None


def _app(sim: Simulation, service: Service, *routes: tuple[str, str, Handler]) -> web.Application:
    """A service's app: its routes (method, path, handler) behind its fault middleware."""
    app = web.Application(middlewares=[_fault_middleware(sim, service)])
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


def _fault_middleware(sim: Simulation, service: Service) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            failed = await misbehave(sim, service)
            return failed if failed is not None else await handler(request)
        except ConnectionResetError:
            if request.transport is not None:
                raise
            # The client hung up before its request body arrived: pitwatch stopping while a
            # probe posts a payment. Nobody is left to answer and it is no server error, so
            # not aiohttp's "Error handling request" traceback; 499 as nginx logs it.
            log.debug("%s: client closed the request %s", service.name, request.path)
            return web.Response(status=CLIENT_CLOSED_REQUEST)

    return middleware


def _access_log_middleware(sim: Simulation) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a 404 or 405 from the router: logged as nginx would
            _log_request(sim, request, exc.status, len(exc.text or ""), started)
            raise
        body = response.body if isinstance(response, web.Response) else None
        _log_request(
            sim, request, response.status, len(body) if isinstance(body, bytes) else 0, started
        )
        return response

    return middleware


def _log_request(
    sim: Simulation, request: web.Request, status: int, size: int, started: float
) -> None:
    sim.access_log.write(
        request.method,
        request.path_qs,
        status=status,
        size=size,
        seconds=time.monotonic() - started,
        client=request.remote or "127.0.0.1",
        agent=request.headers.get("User-Agent", "-"),
    )


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _basic(request: web.Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _unauthorised(realm: str) -> web.Response:
    return json_response(
        {"error": "unauthorized"},
        status=401,
        headers={"WWW-Authenticate": f'Basic realm="{realm}"'},
    )


# -- the platform's own services --------------------------------------------------------------


def core_api(sim: Simulation, service: Service) -> web.Application:
    async def status(_: web.Request) -> web.Response:
        return json_response(
            {
                "status": "ok",
                "maintenance": False,
                "version": "4.18.2",
                "region": "eu-central",
                "players_online": 1800 + sim.rng.randrange(400),
            },
            headers={"X-Request-Id": secrets.token_hex(8), "Cache-Control": "no-store"},
        )

    async def session(request: web.Request) -> web.Response:
        creds = sim.credentials
        if _basic(request) != (creds.player_user, creds.player_password):
            return _unauthorised("players")
        token = sim.player_tokens.issue()
        return json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": 900},
            headers={"X-Session-Id": secrets.token_hex(12)},
        )

    # The access log is outermost: it records the errors a fault makes too.
    app = web.Application(
        middlewares=[_access_log_middleware(sim), _fault_middleware(sim, service)]
    )
    app.router.add_get("/v1/status", status)
    app.router.add_post("/v1/players/session", session)
    return app


def wallet_api(sim: Simulation, service: Service) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return json_response(
            {
                "status": "UP",
                "db": {"status": "UP", "latency_ms": round(sim.rng.uniform(2, 9), 1)},
                "ledger": {"status": "UP", "lag_ms": sim.rng.randrange(5, 60)},
            }
        )

    return _app(sim, service, ("GET", "/v1/health", health))


# -- game providers ---------------------------------------------------------------------------


def provider(sim: Simulation, service: Service) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return json_response(_provider_health(sim, service))

    return _app(sim, service, ("GET", "/health", health))


def _provider_health(sim: Simulation, service: Service) -> dict[str, Any]:
    return {
        "provider": service.name,
        "status": "UP",
        "games_online": 120 + sum(map(ord, service.name)) % 300,
        "rgs": {"status": "UP", "latency_ms": round(sim.rng.uniform(4, 20), 1)},
    }


def live_provider(sim: Simulation, service: Service) -> web.Application:
    """A live casino: the platform's player token buys a launch URL, which opens the lobby."""

    async def launch(request: web.Request) -> web.Response:
        if _bearer(request) not in sim.player_tokens:
            return json_response({"error": "invalid player token"}, status=401)
        session = secrets.token_urlsafe(16)
        host = request.headers.get("Host", request.host)
        return json_response(
            {
                "launch_url": f"http://{host}/lobby/{session}",
                "game": request.match_info["game"],
                "expires_in": 60,
            }
        )

    async def lobby(_: web.Request) -> web.Response:
        tables = 30 + sim.rng.randrange(20)
        html = (
            "<!doctype html><html><head><title>Live lobby</title></head>"
            f'<body><div id="lobby" data-tables="{tables}">Lightning Wheel</div></body></html>'
        )
        return web.Response(text=html, content_type="text/html")

    return _app(
        sim,
        service,
        ("POST", "/v1/games/{game}/launch", launch),
        ("GET", "/lobby/{session}", lobby),
    )


def aggregator(sim: Simulation, service: Service) -> web.Application:
    """Five providers behind one integration: the aggregator answers for each of them, and a
    provider it cannot reach is its 502."""

    async def provider_status(request: web.Request) -> web.Response:
        behind = BY_NAME.get(request.match_info["provider"])
        if behind is None or behind.behind != AGGREGATOR:
            return json_response({"error": "unknown provider"}, status=404)
        if sim.board.get(behind.name).kind == "down":
            await asyncio.sleep(sim.delay(service))
            return json_response(
                {"provider": behind.name, "status": "DOWN", "error": "upstream unreachable"},
                status=502,
            )
        failed = await misbehave(sim, behind)
        if failed is not None:
            return failed
        return json_response(_provider_health(sim, behind))

    return _app(sim, service, ("GET", "/api/v1/providers/{provider}/status", provider_status))


# -- payments, KYC, the outside world ---------------------------------------------------------


def psp_authorise(sim: Simulation, service: Service) -> web.Application:
    """A card acquirer's sandbox: OAuth2 client credentials, then an authorisation that the
    test card makes a decline (HTTP 402, ``"result": "declined"``), the healthy answer."""

    async def token(request: web.Request) -> web.Response:
        creds = sim.credentials
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, status=400)
        if _basic(request) != (creds.psp_client_id, creds.psp_client_secret):
            return json_response({"error": "invalid_client"}, status=401)
        issued = sim.psp_tokens.issue()
        return json_response({"access_token": issued, "token_type": "Bearer", "expires_in": 3600})

    async def authorise(request: web.Request) -> web.Response:
        if _bearer(request) not in sim.psp_tokens:
            return json_response({"error": "invalid_token"}, status=401)
        try:
            payment = await request.json()
            card = str(payment["card"]["number"])
            amount = payment["amount"]
        except (ValueError, KeyError, TypeError):
            return json_response({"result": "error", "error": "malformed request"}, status=400)
        payment_id = f"pay_{secrets.token_hex(10)}"
        if card == DECLINED_CARD:
            return json_response(
                {
                    "result": "declined",
                    "refusal_reason": "insufficient_funds",
                    "payment_id": payment_id,
                    "amount": amount,
                },
                status=402,
            )
        return json_response({"result": "approved", "payment_id": payment_id, "amount": amount})

    return _app(
        sim, service, ("POST", "/oauth/token", token), ("POST", "/v1/payments/authorise", authorise)
    )


def psp_status(sim: Simulation, service: Service) -> web.Application:
    async def status(_: web.Request) -> web.Response:
        return json_response(
            {
                "status": "operational",
                "acquirers": [
                    {"name": "acq-eu-1", "status": "up"},
                    {"name": "acq-eu-2", "status": "up"},
                ],
                "queue_depth": sim.rng.randrange(0, 15),
            }
        )

    return _app(sim, service, ("GET", "/v1/status", status))


def psp_wallet(sim: Simulation, service: Service) -> web.Application:
    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="OK\n", content_type="text/plain")

    return _app(sim, service, ("GET", "/api/ping", ping))


def kyc(sim: Simulation, service: Service) -> web.Application:
    async def dry_run(request: web.Request) -> web.Response:
        if _bearer(request) != sim.credentials.kyc_token:
            return json_response({"error": "invalid token"}, status=401)
        return json_response(
            {
                "status": "operational",
                "checks": {"document_ocr": "ok", "sanctions_list": "ok", "pep_screening": "ok"},
                "sanctions_list_age_hours": sim.rng.randrange(1, 20),
            }
        )

    return _app(sim, service, ("POST", "/v2/checks/dry-run", dry_run))


def cdn(sim: Simulation, service: Service) -> web.Application:
    async def trace(request: web.Request) -> web.Response:
        lines = [
            "fl=28f112",
            f"h={request.host}",
            f"ip={request.remote}",
            f"ts={time.time():.3f}",
            "visit_scheme=http",
            f"uag=pitwatch/{__version__}",
            "colo=FRA",
            "http=http/1.1",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    return _app(sim, service, ("GET", "/cdn-cgi/trace", trace))


APPS: dict[str, Callable[[Simulation, Service], web.Application]] = {
    "core_api": core_api,
    "wallet": wallet_api,
    "provider": provider,
    "live_provider": live_provider,
    "aggregator": aggregator,
    "psp_authorise": psp_authorise,
    "psp_status": psp_status,
    "psp_wallet": psp_wallet,
    "kyc": kyc,
    "cdn": cdn,
}
"""Builders by role; the ``cache`` role is TCP, in :mod:`pitwatch.demo.cache`."""
