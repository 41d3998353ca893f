"""Certificates and a served exporter for the web-config tests: a server certificate for
127.0.0.1/localhost, a client CA with good and expired client certificates, a self-signed
client certificate and one with chosen SANs, all made with trustme at test time; and
pitwatch's app behind a :class:`~pitwatch.websecurity.guard.WebGuard` on a free port."""

from __future__ import annotations

import asyncio
import datetime
import http.client
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import trustme
from aiohttp import web

from pitwatch.config import default_config
from pitwatch.runtime import Exporter
from pitwatch.server import make_app, runner_options
from pitwatch.websecurity.guard import WebGuard


@dataclass(frozen=True)
class Certs:
    directory: Path
    server_ca: trustme.CA
    client_ca: trustme.CA

    @property
    def server_ca_file(self) -> Path:
        return self.directory / "server-ca.pem"


def make_certs(directory: Path) -> Certs:
    directory.mkdir(parents=True, exist_ok=True)
    # RSA: the toolkit's cases name TLS_ECDHE_RSA_* suites.
    server_ca, client_ca = trustme.CA(key_type=trustme.KeyType.RSA), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
    server.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    server.private_key_pem.write_to_path(str(directory / "server.key"))
    server_ca.cert_pem.write_to_path(str(directory / "server-ca.pem"))
    client_ca.cert_pem.write_to_path(str(directory / "client-ca.pem"))
    now = datetime.datetime.now(datetime.UTC)
    issued = {
        "client": client_ca.issue_cert("client.example.com"),
        "client-sans": client_ca.issue_cert("one.example.com", "test3"),
        "client-expired": client_ca.issue_cert(
            "client.example.com",
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        ),
        "client-selfsigned": trustme.CA().issue_cert("client.example.com"),
    }
    for name, cert in issued.items():
        cert.private_key_and_cert_chain_pem.write_to_path(str(directory / f"{name}.pem"))
    return Certs(directory, server_ca, client_ca)


def bcrypt_hash(password: str, cost: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


@dataclass
class Served:
    port: int
    guard: WebGuard

    def url(self, path: str = "/metrics", scheme: str = "https") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def served(web_config: Path) -> AsyncIterator[Served]:
    """The built-in exporter behind ``web_config``, with the file watched as ``run`` does."""
    guard = await asyncio.to_thread(WebGuard.load, web_config)
    exporter = Exporter(default_config())
    runner = web.AppRunner(make_app(exporter, guard=guard, lifecycle=True), **runner_options())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=guard.ssl_context)
    await site.start()
    port = site.port
    sites = [site]

    async def tls_changed(context: ssl.SSLContext | None) -> None:
        await sites[0].stop()
        sites[0] = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True, ssl_context=context)
        await sites[0].start()

    watcher = asyncio.create_task(guard.watch(tls_changed))
    try:
        yield Served(port, guard)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await runner.cleanup()
        guard.close()


def client_context(
    certs: Certs,
    *,
    cert: str | None = None,
    max_version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    curve: str | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.server_ca_file))
    if cert is not None:
        context.load_cert_chain(str(certs.directory / f"{cert}.pem"))
    if max_version is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = max_version
    if ciphers is not None:
        context.set_ciphers(ciphers)
    if curve is not None:
        context.set_ecdh_curve(curve)
    return context


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str
    cipher: str = ""


def request(
    port: int,
    path: str = "/metrics",
    *,
    context: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 10,
) -> Answer:
    """One blocking HTTP(S) request to 127.0.0.1 (run it in a thread from async tests)."""
    import base64

    if context is not None:
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, context=context, timeout=timeout
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        cipher = ""
        sock = connection.sock
        if isinstance(sock, ssl.SSLSocket):
            cipher = (sock.cipher() or ("",))[0]
        return Answer(
            response.status,
            {key.lower(): value for key, value in response.getheaders()},
            response.read().decode(errors="replace"),
            cipher,
        )
    finally:
        connection.close()
