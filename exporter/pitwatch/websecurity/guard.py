"""Every request through the web config, in the toolkit's order: rate limit (429), response
headers, client-certificate SAN allow-list (403), basic auth (401 with ``WWW-Authenticate:
Basic``); and the file watched, so a changed web config, certificate or CA file applies
without a restart.

The toolkit re-reads its file on every request and answers 500 while it is broken; pitwatch
checks the files' stamps every :data:`WATCH_SECONDS`, loads a changed file off the event loop
and keeps the last good config when the new one is invalid (logged, one line per problem):
a typo in the file must not lock Prometheus out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from pitwatch.websecurity.auth import BasicAuth, parse_basic
from pitwatch.websecurity.config import WebConfig, WebConfigError
from pitwatch.websecurity.ratelimit import TokenBucket
from pitwatch.websecurity.tls import load_checked, san_allowed, server_context

log = logging.getLogger("pitwatch")

WATCH_SECONDS = 1.0
LOAD_SECONDS = 30.0
"""A web config that takes longer to load (bcrypt of a decoy at a high cost) is refused."""

Stamp = tuple[tuple[int, int, int, int], ...]
TlsChanged = Callable[[ssl.SSLContext | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Applied:
    """One loaded web config, ready to use."""

    config: WebConfig
    auth: BasicAuth | None
    bucket: TokenBucket | None
    context: ssl.SSLContext | None
    stamp: Stamp


def _stamp(paths: tuple[Path, ...]) -> Stamp:
    stamps = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            stamps.append((0, 0, 0, 0))
        else:
            stamps.append((info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


def _prepare(path: Path) -> _Applied:
    """Load ``path`` and build what applying it needs (blocking: run it in a thread)."""
    config = load_checked(path)
    stamp = _stamp(config.files)
    auth = BasicAuth(config.users) if config.users else None
    limit = config.rate_limit
    bucket = TokenBucket(limit.interval, limit.burst) if limit.interval else None
    context = server_context(config) if config.tls.enabled else None
    return _Applied(config, auth, bucket, context, stamp)


class WebGuard:
    def __init__(self, applied: _Applied) -> None:
        self._applied = applied

    @classmethod
    def load(cls, path: Path) -> WebGuard:
        """The guard for ``path``; raises :class:`WebConfigError`."""
        return cls(_prepare(path))

    @property
    def config(self) -> WebConfig:
        return self._applied.config

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._applied.context

    def close(self) -> None:
        if self._applied.auth is not None:
            self._applied.auth.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        applied = self._applied
        if applied.bucket is not None and not applied.bucket.allow():
            return web.Response(status=429, text="Too Many Requests\n")
        response = await self._checked(applied, request, handler)
        response.headers.update(applied.config.http.headers)
        return response

    async def _checked(
        self, applied: _Applied, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        sans = applied.config.tls.client_allowed_sans
        if sans is not None and applied.context is not None:
            peercert = request.transport.get_extra_info("peercert") if request.transport else None
            if not san_allowed(peercert, sans):
                return web.Response(status=403, text="Forbidden: client certificate not allowed\n")
        if applied.auth is not None and request.path not in applied.config.open_paths:
            credentials = parse_basic(request.headers.get("Authorization", ""))
            if credentials is None or not await applied.auth.check(*credentials):
                return web.Response(
                    status=401, text="Unauthorized\n", headers={"WWW-Authenticate": "Basic"}
                )
        try:
            return await handler(request)
        except web.HTTPException as exc:  # answered like any response, headers included
            return web.Response(status=exc.status, text=exc.text, headers=exc.headers)

    async def watch(self, tls_changed: TlsChanged) -> None:
        """Re-apply the web config whenever it or a file it names changes (runs until
        cancelled)."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            current = self._applied
            if await asyncio.to_thread(_stamp, current.config.files) == current.stamp:
                continue
            path = current.config.source
            try:
                async with asyncio.timeout(LOAD_SECONDS):
                    new = await asyncio.to_thread(_prepare, path)
            except WebConfigError as exc:
                for problem in exc.problems:
                    log.error("web config change rejected, the previous one stays: %s", problem)
                self._applied = _with_stamp(
                    current, await asyncio.to_thread(_stamp, current.config.files)
                )
                continue
            except (TimeoutError, OSError, ssl.SSLError, ValueError) as exc:
                log.error("web config change rejected, the previous one stays: %s: %s", path, exc)
                self._applied = _with_stamp(
                    current, await asyncio.to_thread(_stamp, current.config.files)
                )
                continue
            self._applied = new
            if current.auth is not None:
                current.auth.close()
            log.info("web config reloaded from %s", path)
            if new.config.tls != current.config.tls or new.stamp[1:] != current.stamp[1:]:
                await tls_changed(new.context)


def _with_stamp(applied: _Applied, stamp: Stamp) -> _Applied:
    """The same config, marked as seen at ``stamp`` (a rejected change is reported once)."""
    return _Applied(applied.config, applied.auth, applied.bucket, applied.context, stamp)
