"""A small, real gaming platform on 127.0.0.1 for the http-auth, assertion and flow tests:
an OAuth2 token endpoint that counts its calls, endpoints behind basic, bearer and OAuth2
credentials, a game-launch chain (login -> launch URL -> lobby asset, with a session
cookie and header) and a payment sandbox (token -> authorise -> status) that declines.

Everything a test may change is a plain attribute of :class:`GamingPlatform`; the server
runs on the test's own event loop (port 0). Tests that wait on a subprocess do so through
``asyncio.to_thread`` so the server keeps answering.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote_plus

from aiohttp import web

from pitwatch.config import Config, Target
from pitwatch.renderer import render_single
from pitwatch.result import Observation
from pitwatch.scheduler import Scheduler
from pitwatch.selfmetrics import SelfMetrics
from pitwatch.store import ResultStore

CLIENT_ID = "pitwatch-probe"
CLIENT_SECRET = "cs-Zq8K1vTt-client-secret"
BASIC_USER = "monitor"
BASIC_PASSWORD = "pw-9f3LkQ2x-basic"
STATIC_TOKEN = "bt-4TyW8pR1-static-bearer"
PLAYER_PASSWORD = "pl-7HnB2cVx-player"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(data), content_type="application/json", headers=headers
    )


class GamingPlatform:
    def __init__(self) -> None:
        self.token_calls = 0
        self.token_forms: list[dict[str, str]] = []
        self.expires_in: Any = 3600
        self.issued: set[str] = set()
        self.health: Any = {
            "status": "UP",
            "latency_ms": 42,
            "providers": ["evolution", "pragmatic", "netent", "playngo", "hacksaw"],
            "region": "eu",
            "version": "2.7.1",
            "maintenance": None,
        }
        self.health_headers = {"X-Request-Id": "req-1", "Cache-Control": "no-store"}
        self.health_body: str | None = None
        self.launch_status = 200
        self.launch_url_override: str | None = None
        self.sessions: dict[str, str] = {}
        self.launches: set[str] = set()
        self.payments: dict[str, str] = {}
        self.authorise_result = "declined"
        self.seen: list[tuple[str, str]] = []
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> Self:
        app = web.Application()
        app.add_routes(
            [
                web.post("/oauth/token", self.token),
                web.get("/api/health", self.oauth_health),
                web.get("/basic/health", self.basic_health),
                web.get("/bearer/health", self.bearer_health),
                web.get("/health", self.open_health),
                web.get("/echo-auth", self.echo_auth),
                web.route("*", "/echo", self.echo),
                web.post("/login", self.login),
                web.post("/games/{game}/launch", self.launch),
                web.get("/lobby/{launch}/index.html", self.lobby),
                web.post("/psp/token", self.psp_token),
                web.post("/psp/authorise", self.authorise),
                web.get("/psp/payments/{payment}", self.payment_status),
                web.get("/slow", self.slow),
                web.post("/slow", self.slow),
                web.get("/slow/{tail}", self.slow),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def revoke_tokens(self) -> None:
        self.issued.clear()

    # -- OAuth2 ------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.token_forms.append(form)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return _json({"error": "invalid_client"}, 401)
        token = f"at-{self.token_calls}-{secrets.token_hex(12)}"
        self.issued.add(token)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return _json(answer)

    def _bearer(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else None

    async def oauth_health(self, request: web.Request) -> web.Response:
        if self._bearer(request) not in self.issued:
            return _json({"error": "invalid_token"}, 401)
        return self._health()

    def _health(self) -> web.Response:
        if self.health_body is not None:
            return web.Response(text=self.health_body, headers=self.health_headers)
        return _json(self.health, headers=self.health_headers)

    async def basic_health(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        return self._health()

    async def bearer_health(self, request: web.Request) -> web.Response:
        if self._bearer(request) != STATIC_TOKEN:
            return web.Response(status=403, text="forbidden")
        return self._health()

    async def open_health(self, _: web.Request) -> web.Response:
        return self._health()

    async def echo_auth(self, request: web.Request) -> web.Response:
        """A badly behaved service that puts the caller's credentials in its answer."""
        header = request.headers.get("Authorization", "")
        return _json({"status": "DOWN", "auth": header, "token": header.split(" ")[-1]})

    async def echo(self, request: web.Request) -> web.Response:
        """Worse: echoes the JSON body and the last word of every request header."""
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = None
        tails = {name: value.split()[-1] for name, value in request.headers.items() if value}
        return _json({"status": "DOWN", "json": body, "tails": tails})

    # -- game launch -------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("user") != "probe" or body.get("password") != PLAYER_PASSWORD:
            return _json({"error": "bad credentials"}, 401)
        token = f"pt-{secrets.token_hex(12)}"
        session = f"sess-{secrets.token_hex(8)}"
        self.sessions[token] = session
        response = _json(
            {"access_token": token, "player": {"id": 1207, "currency": "EUR"}},
            headers={"X-Session-Id": session},
        )
        response.set_cookie("sid", f"ck-{secrets.token_hex(8)}")
        self.seen.append(("login", token))
        return response

    async def launch(self, request: web.Request) -> web.Response:
        token = self._bearer(request)
        session = request.headers.get("X-Session-Id")
        if token not in self.sessions or self.sessions[token] != session:
            return _json({"error": "not logged in"}, 401)
        if not request.cookies.get("sid"):
            return _json({"error": "no session cookie"}, 400)
        self.seen.append(("launch", request.match_info["game"]))
        if self.launch_status != 200:
            return _json({"error": "provider unavailable"}, self.launch_status)
        launch = f"l-{secrets.token_hex(10)}"
        self.launches.add(launch)
        url = self.launch_url_override or self.url(f"/lobby/{launch}/index.html")
        return _json({"launch_url": url, "game": request.match_info["game"]})

    async def lobby(self, request: web.Request) -> web.Response:
        if request.match_info["launch"] not in self.launches:
            return web.Response(status=404, text="unknown launch")
        return web.Response(
            text="<html><title>Lobby</title><script src=app.js></script></html>",
            content_type="text/html",
        )

    # -- payment sandbox ---------------------------------------------------------------
    async def psp_token(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return _json({"error": "invalid_client"}, 401)
        token = f"psp-{secrets.token_hex(12)}"
        self.issued.add(token)
        return _json({"access_token": token, "expires_in": 300})

    async def authorise(self, request: web.Request) -> web.Response:
        if self._bearer(request) not in self.issued:
            return _json({"error": "invalid_token"}, 401)
        body = await request.json()
        payment = f"pay_{body['reference'].replace('-', '')[:16]}"
        self.payments[payment] = self.authorise_result
        self.seen.append(("authorise", body["reference"]))
        status = {"declined": 402, "approved": 200}.get(self.authorise_result, 500)
        return _json({"result": self.authorise_result, "payment_id": payment}, status)

    async def payment_status(self, request: web.Request) -> web.Response:
        if self._bearer(request) not in self.issued:
            return _json({"error": "invalid_token"}, 401)
        payment = request.match_info["payment"]
        if payment not in self.payments:
            return _json({"error": "unknown payment"}, 404)
        return _json({"payment_id": payment, "status": self.payments[payment]})

    async def slow(self, request: web.Request) -> web.Response:
        # Ends early when the platform stops, so teardown does not wait out the delay.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._closing.wait(), int(request.query.get("ms", "1000")) / 1000
            )
        return _json({"status": "UP"})


class Prober:
    """Probes of one config's targets the way the scheduler runs them, with each target's
    state kept between probes (so token caching shows)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = ResultStore()
        self.store.apply_config(config)
        self.scheduler = Scheduler(self.store, SelfMetrics(), config.global_.max_concurrency)

    async def run(self, name: str | None = None) -> Observation:
        return await self.scheduler.run_probe(self.target(name))

    def target(self, name: str | None = None) -> Target:
        target = self.config.target(name) if name else self.config.targets[0]
        assert target is not None
        return target


def shown(target: Target, observation: Observation) -> str:
    """Everything of a result a person or Prometheus could see: the message and details
    (status page, logs) and the rendered exposition lines."""
    result = observation.result
    lines = [result.message, *(f"{key}: {value}" for key, value in result.details)]
    lines += [part.decode() for part in render_single(target, observation).values()]
    return "\n".join(lines)


def write_secret(directory: Path, name: str, value: str) -> Path:
    path = directory / name
    path.write_text(value + "\n")
    return path
