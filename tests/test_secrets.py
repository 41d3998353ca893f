"""One secret in every secret-bearing field of every probe, served back by servers that
echo whatever they get; none of them may show in /metrics, /probe, the status page, the
logs, a reload's or check-config's error messages.

The set of fields is read from the config models, so a new secret field fails this test
until it is covered here.
"""

from __future__ import annotations

import base64
import os
import secrets as random_tokens
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from pydantic import BaseModel

from devtools.processes import free_port, http_get, http_post, wait_until
from pitwatch.probes import PROBES
from pitwatch.secrets import Secret
from tests.support.fake_platform import ServerThread
from tests.support.pg_cluster import DATABASE, PROBE_USER, PgCluster
from tests.support.services import Pitwatch

CAPTURED = "captured-" + random_tokens.token_hex(6)
"""What the echo server's login hands out: a token the flow captures, a secret too."""

# Every field, by probe kind, that this test fills with a secret.
COVERED = {
    "http": {
        "headers",
        "body",
        "auth.basic.password",
        "auth.basic.password_file",
        "auth.bearer.token",
        "auth.bearer.token_file",
        "auth.oauth2.client_secret",
        "auth.oauth2.client_secret_file",
    },
    "flow": {
        "headers",
        "steps.headers",
        "steps.body",
        "steps.auth.basic.password",
        "steps.auth.basic.password_file",
        "steps.auth.bearer.token",
        "steps.auth.bearer.token_file",
        "steps.auth.oauth2.client_secret",
        "steps.auth.oauth2.client_secret_file",
    },
    "postgres": {"dsn", "dsn_file", "password", "password_file"},
}


def _holds_secret(annotation: Any) -> bool:
    if annotation is Secret:
        return True
    return any(_holds_secret(arg) for arg in getattr(annotation, "__args__", ()) or ())


def _models(annotation: Any) -> list[type[BaseModel]]:
    found = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models(arg)
    return found


def secret_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    fields = set()
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        if _holds_secret(info.annotation):
            fields.add(key)
        for inner in _models(info.annotation):
            fields |= secret_fields(inner, key + ".")
    return fields


def test_every_secret_field_is_covered() -> None:
    declared = {kind: secret_fields(probe.config) for kind, probe in PROBES.items()}
    declared = {kind: fields for kind, fields in declared.items() if fields}
    assert declared == COVERED


def _echo_app() -> web.Application:
    """Answers with everything it was sent: headers, body, query."""

    async def echo(request: web.Request) -> web.Response:
        payload = {"headers": dict(request.headers), "body": await request.text()}
        return web.json_response(payload, status=int(request.match_info["status"]))

    async def token(request: web.Request) -> web.Response:
        payload = {
            "error": "invalid_client",
            "got": dict(request.headers),
            "form": await request.text(),
        }
        return web.json_response(payload, status=401)

    async def login(request: web.Request) -> web.Response:
        return web.json_response(
            {"token": CAPTURED, "echo": dict(request.headers), "body": await request.text()}
        )

    app = web.Application()
    app.router.add_route("*", "/echo/{status}", echo)
    app.router.add_route("*", "/token", token)
    app.router.add_route("*", "/login", login)
    return app


class Secrets:
    """Distinct values, kept in env variables and files, and where each one was used."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.values: dict[str, str] = {}
        self.env: dict[str, str] = {}

    def env_ref(self, tag: str, build: Callable[[str], str] = str) -> str:
        """``${NAME}`` of a new variable holding ``build(secret)``."""
        name = f"PITWATCH_TEST_{tag.upper().replace('-', '_')}"
        self.env[name] = build(self._new(tag))
        return "${" + name + "}"

    def file(self, tag: str, build: Callable[[str], str] = str) -> str:
        """Name of a new file (next to the config) holding ``build(secret)``."""
        path = self.directory / f"{tag}.secret"
        path.write_text(build(self._new(tag)) + "\n")
        return path.name

    def _new(self, tag: str) -> str:
        value = f"s3cr3t-{tag}-{random_tokens.token_hex(4)}"
        self.values[tag] = value
        return value


def _auth(secrets: Secrets, kind: str, source: str, token_url: str, tag: str) -> dict[str, Any]:
    if kind == "basic":
        key = {"env": "password", "file": "password_file"}[source]
        value = secrets.env_ref(tag) if source == "env" else secrets.file(tag)
        return {"basic": {"username": "probe-user", key: value}}
    if kind == "bearer":
        key = {"env": "token", "file": "token_file"}[source]
        value = secrets.env_ref(tag) if source == "env" else secrets.file(tag)
        return {"bearer": {key: value}}
    key = {"env": "client_secret", "file": "client_secret_file"}[source]
    value = secrets.env_ref(tag) if source == "env" else secrets.file(tag)
    return {
        "oauth2": {
            "token_url": token_url,
            "client_id": "pitwatch",
            key: value,
            "client_auth": "post",
        }
    }


def leaky_config(secrets: Secrets, echo: str, pg: PgCluster) -> dict[str, Any]:
    """Targets that all fail in ways where a careless message would quote a secret."""
    targets: list[dict[str, Any]] = []

    def add(name: str, probe: str, **keys: Any) -> None:
        targets.append({"name": name, "component": "api", "probe": probe, **keys})

    # http: the echo comes back and an assertion quotes what it found
    add(
        "http-headers",
        "http",
        url=f"{echo}/echo/200",
        headers={
            "X-Api-Key": secrets.env_ref("http-header"),
            "X-Mixed": "Key " + secrets.env_ref("http-header-part"),
        },
        assertions={"json": ["headers.X-Api-Key == nope", "headers.X-Mixed == nope"]},
    )
    add(
        "http-body",
        "http",
        method="POST",
        url=f"{echo}/echo/500",
        body='{"pin": "' + secrets.env_ref("http-body") + '"}',
    )
    add(
        "http-body-asserted",
        "http",
        method="POST",
        url=f"{echo}/echo/200",
        body=secrets.env_ref("http-body-alone"),
        assertions={"json": ["body == nope"], "body_not_matches": ["s3cr3t"]},
    )
    for kind in ("basic", "bearer", "oauth2"):
        for source in ("env", "file"):
            add(
                f"http-{kind}-{source}",
                "http",
                url=f"{echo}/echo/401",
                auth=_auth(secrets, kind, source, f"{echo}/token", f"http-{kind}-{source}"),
                assertions={"json": ["headers.Authorization == nope"]},
            )
    # flow: flow-wide and step headers, a step body, a captured token, then a failing step
    steps: list[dict[str, Any]] = [
        {
            "name": "login",
            "method": "POST",
            "url": f"{echo}/login",
            "headers": {"X-Step-Key": secrets.env_ref("flow-step-header")},
            "body": '{"password": "' + secrets.env_ref("flow-step-body") + '"}',
            "capture": {"token": "json token"},
        },
        {
            "name": "use-token",
            "url": f"{echo}/echo/200",
            "headers": {"Authorization": "Bearer {{ token }}"},
            "assertions": {"json": ["headers.Authorization == nope"]},
        },
    ]
    add(
        "flow-captures", "flow", headers={"X-Flow-Key": secrets.env_ref("flow-header")}, steps=steps
    )
    for kind in ("basic", "bearer", "oauth2"):
        for source in ("env", "file"):
            step = {
                "name": "call",
                "url": f"{echo}/echo/403",
                "auth": _auth(secrets, kind, source, f"{echo}/token", f"flow-{kind}-{source}"),
            }
            add(f"flow-{kind}-{source}", "flow", steps=[step])
    # postgres: wrong passwords against a real server, a DSN to a closed port
    primary = pg.primary.port
    add(
        "pg-dsn-env",
        "postgres",
        dsn=secrets.env_ref(
            "pg-dsn", lambda pw: f"postgresql://{PROBE_USER}:{pw}@127.0.0.1:{primary}/{DATABASE}"
        ),
    )
    add(
        "pg-dsn-file",
        "postgres",
        dsn_file=secrets.file(
            "pg-dsn-file",
            lambda pw: f"postgresql://{PROBE_USER}:{pw}@127.0.0.1:{free_port()}/{DATABASE}",
        ),
    )
    connection = {"host": "127.0.0.1", "port": primary, "user": PROBE_USER, "database": DATABASE}
    add("pg-password-env", "postgres", password=secrets.env_ref("pg-password"), **connection)
    add(
        "pg-password-file", "postgres", password_file=secrets.file("pg-password-file"), **connection
    )
    return {
        "global": {"interval": "1s", "timeout": "800ms"},
        "host": {"enabled": False},
        "targets": targets,
    }


@pytest.fixture
def echo_server() -> Iterator[str]:
    with ServerThread(_echo_app()) as server:
        yield f"http://127.0.0.1:{server.port}"


def forms(value: str) -> list[str]:
    """The secret as it could leak: as is, and base64-encoded as in a Basic header."""
    encoded = base64.b64encode(f"probe-user:{value}".encode()).decode()
    return [value, encoded]


def test_no_secret_shows_anywhere(
    echo_server: str, pg: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = Secrets(tmp_path)
    config = leaky_config(secrets, echo_server, pg)
    path = tmp_path / "pitwatch.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    for name, value in secrets.env.items():
        monkeypatch.setenv(name, value)
    assert len(secrets.values) == 23
    seen: dict[str, str] = {}
    with Pitwatch(
        tmp_path / "run", path, "--log-level", "debug", "--web.enable-lifecycle"
    ) as pitwatch:
        names = [target["name"] for target in config["targets"]]
        wait_until(
            lambda: all(
                f'pitwatch_probe_success{{target="{n}"' in pitwatch.metrics() for n in names
            ),
            30,
            "every target probed",
        )
        time.sleep(2.5)  # a few rounds: the OAuth2 and flow paths run more than once
        seen["/metrics"] = pitwatch.metrics()
        seen["/"] = http_get(pitwatch.url + "/")[1].decode()
        for name in names:
            seen[f"/probe?target={name}"] = http_get(f"{pitwatch.url}/probe?target={name}")[
                1
            ].decode()
        # a reload whose config puts secrets where they are not allowed, or mangles them
        broken = dict(config)
        broken["targets"] = [
            {
                **config["targets"][0],
                "headers": {"X-Api-Key": secrets.values["http-header"]},
                "timeout": "oops",
            },
            {
                "name": "bad-pg",
                "component": "database",
                "probe": "postgres",
                "password": secrets.values["pg-password"],
                "host": "x",
            },
        ]
        path.write_text(yaml.safe_dump(broken, sort_keys=False))
        status, body = http_post(pitwatch.url + "/-/reload")
        assert status == 400
        seen["POST /-/reload"] = body.decode()
        check = subprocess.run(
            [sys.executable, "-m", "pitwatch", "check-config", str(path)],
            capture_output=True,
            text=True,
            check=False,
            env=os.environ,
        )
        assert check.returncode == 1
        seen["check-config"] = check.stdout + check.stderr
    seen["logs"] = pitwatch.log_path.read_text()
    # the probes did fail, with reasons: the test exercised the failure paths
    assert 'reason="assertion"' in seen["/metrics"] and 'reason="auth"' in seen["/metrics"]
    assert "password authentication failed" in seen["/"] or "credentials" in seen["/"]
    leaks = [
        f"{tag} in {where}"
        for tag, value in {**secrets.values, "captured": CAPTURED}.items()
        for where, text in seen.items()
        for form in forms(value)
        if form in text
    ]
    assert leaks == []
