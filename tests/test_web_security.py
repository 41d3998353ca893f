"""``--web.config.file``: the exporter-toolkit's documented cases, ported (its YAML cases, its
server behaviour with real TLS clients, its users and cache cases, its reloading), plus what
pitwatch adds (``unauthenticated_paths``, ``check-config --web.config.file``)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pitwatch.websecurity.auth import BasicAuth
from pitwatch.websecurity.config import WebConfigError
from pitwatch.websecurity.tls import load_checked
from tests.support.web_security import (
    Certs,
    bcrypt_hash,
    client_context,
    make_certs,
    request,
    served,
)

TLS = 'tls_server_config:\n  cert_file: "server.crt"\n  key_file: "server.key"\n'


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def write(certs: Certs, text: str, name: str = "web.yml") -> Path:
    path = certs.directory / name
    path.write_text(textwrap.dedent(text))
    return path


# -- the toolkit's YAML cases (TestYAMLFiles) ---------------------------------------------------

YAML_CASES: list[tuple[str, str, str]] = [
    ("empty", "", ""),
    ("junk", "hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\n", "1: the web config must be a mapping"),
    (
        "junk key",
        'tls_server_config:\n  cert_filse: "server.crt"\n',
        '2: tls_server_config: unknown key "cert_filse"',
    ),
    (
        "cert path empty",
        'tls_server_config:\n  cert_file: ""\n  key_file: "server.key"\n',
        "1: tls_server_config: missing one of cert or cert_file",
    ),
    (
        "cert empty",
        'tls_server_config:\n  cert: ""\n  key_file: "server.key"\n',
        "1: tls_server_config: missing one of cert or cert_file",
    ),
    (
        "key path empty",
        'tls_server_config:\n  cert_file: "server.crt"\n  key_file: ""\n',
        "1: tls_server_config: missing one of key or key_file",
    ),
    (
        "key empty",
        'tls_server_config:\n  cert_file: "server.crt"\n  key: ""\n',
        "1: tls_server_config: missing one of key or key_file",
    ),
    (
        "cert and key paths empty",
        'tls_server_config:\n  cert_file: ""\n  key_file: ""\n  client_auth_type: "x"\n',
        "1: tls_server_config: missing one of cert or cert_file",
    ),
    (
        "cert path invalid",
        'tls_server_config:\n  cert_file: "somefile"\n  key_file: "server.key"\n',
        "2: tls_server_config.cert_file: cannot read {dir}/somefile: No such file or directory",
    ),
    (
        "key path invalid",
        'tls_server_config:\n  cert_file: "server.crt"\n  key_file: "somefile"\n',
        "3: tls_server_config.key_file: cannot read {dir}/somefile: No such file or directory",
    ),
    (
        "cert and key paths invalid",
        'tls_server_config:\n  cert_file: "somefile"\n  key_file: "otherfile"\n',
        "2: tls_server_config.cert_file: cannot read {dir}/somefile: No such file or directory",
    ),
    (
        "client CA without policy",
        TLS + '  client_ca_file: "/dev/null"\n',
        "1: tls_server_config: client CA's have been configured without a Client Auth Policy",
    ),
    (
        "client CA file invalid",
        TLS + '  client_ca_file: "somefile"\n',
        "4: tls_server_config.client_ca_file: cannot read {dir}/somefile: No such file or directory",
    ),
    (
        "client CA missing",
        TLS + '  client_auth_type: "RequireAndVerifyClientCert"\n',
        "1: tls_server_config: client_auth_type RequireAndVerifyClientCert needs client_ca_file",
    ),
    (
        "invalid ClientAuth",
        TLS + '  client_auth_type: "Sometimes"\n',
        "1: tls_server_config: invalid ClientAuth: Sometimes",
    ),
    (
        "user list invalid",
        TLS + "basic_auth_users:\n  john: doe\n",
        "4: basic_auth_users: the password of user 'john' is not a bcrypt hash",
    ),
    (
        "invented ciphers",
        TLS + "  cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\n",
        "4: tls_server_config.cipher_suites: unknown cipher: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048",
    ),
    (
        "invented curves",
        TLS + "  curve_preferences:\n    - CurveP257\n",
        "4: tls_server_config.curve_preferences: unknown curve: CurveP257",
    ),
    (
        "wrong TLS version",
        TLS + "  min_version: TLS111\n",
        "4: tls_server_config.min_version: unknown TLS version: TLS111",
    ),
    (
        "no HTTP/2 cipher",
        TLS
        + "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\n",
        "1: tls_server_config: cipher_suites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher",
    ),
    (
        "header X-Content-Type-Options",
        "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
        "2: http_server_config.headers: invalid value for X-Content-Type-Options: expected one of nosniff, got 'sniff'",
    ),
    (
        "header X-Frame-Options",
        "http_server_config:\n  headers:\n    X-Frame-Options: foo\n",
        "2: http_server_config.headers: invalid value for X-Frame-Options: expected one of deny, sameorigin",
    ),
    (
        "header not allowed",
        "http_server_config:\n  headers:\n    Content-Type: foo\n",
        '2: http_server_config.headers: HTTP header "Content-Type" can not be configured',
    ),
    (
        "unverified client certs",
        TLS + '  client_auth_type: "RequireAnyClientCert"\n',
        "1: tls_server_config: RequireAnyClientCert accepts client certificates without verifying them",
    ),
    (
        "unknown open path",
        "unauthenticated_paths: [/metrics]\n",
        "1: unauthenticated_paths[0]: must be '/-/healthy' or '/-/ready', got '/metrics'",
    ),
    (
        "rate limit without unit",
        "rate_limit:\n  interval: 5\n",
        "2: rate_limit.interval: duration 5 needs a unit",
    ),
    (
        "not UTF-8",
        "basic_auth_users:\n  caf\udce9: x\n",
        "2: byte 0xe9 in column 6 is not UTF-8 text",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in YAML_CASES], ids=[n for n, _, _ in YAML_CASES]
)
def test_toolkit_yaml_cases(certs: Certs, text: str, expected: str) -> None:
    path = certs.directory / "case.yml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    if not expected:
        load_checked(path)
        return
    with pytest.raises(WebConfigError) as caught:
        load_checked(path)
    wanted = f"{path}:{expected.replace('{dir}', str(certs.directory))}"
    assert caught.value.problems[0].startswith(wanted), caught.value.problems


def test_a_missing_web_config_is_one_message(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError) as caught:
        load_checked(tmp_path / "somefile")
    assert caught.value.problems == [
        f"{tmp_path / 'somefile'}: cannot read web config: No such file or directory"
    ]


# -- the toolkit's server behaviour (TestServerBehaviour), with real TLS clients ----------------

GOOD = TLS + '  client_auth_type: "VerifyClientCertIfGiven"\n  client_ca_file: "client-ca.pem"\n'
SOME_CIPHERS = TLS + (
    "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
    "  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  min_version: TLS12\n  max_version: TLS12\n"
)
SOME_CIPHERS_NO_ORDER = TLS + (
    "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
    "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  prefer_server_cipher_suites: false\n"
    "  min_version: TLS12\n  max_version: TLS12\n"
)
ALL_CIPHERS = (
    TLS
    + "  cipher_suites:\n"
    + "".join(
        f"  - {name}\n"
        for name in (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        )
    )
)
ALL_CURVES = TLS + "  curve_preferences: [CurveP256, CurveP384, CurveP521, X25519]\n"
SOME_CURVES = TLS + "  min_version: TLS13\n  curve_preferences:\n  - CurveP521\n"
NO_HTTP2 = TLS + (
    "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\n"
    "http_server_config:\n  http2: false\n"
)
INLINE_TEMPLATE = "tls_server_config:\n  cert: |\n{cert}  key: |\n{key}"
REQUIRE_VERIFY = TLS + (
    '  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "client-ca.pem"\n'
)
SAN_GOOD = REQUIRE_VERIFY + '  client_allowed_sans: ["one", "test3", "two"]\n'
SAN_BAD = REQUIRE_VERIFY + '  client_allowed_sans: ["bad"]\n'
HEADERS = """\
http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    X-Content-Type-Options: nosniff
    X-XSS-Protection: "1"
    Content-Security-Policy: "default-src 'self' *.test.example.net"
"""

Client = Callable[[Certs], ssl.SSLContext | None]


def tls_client(**options: object) -> Client:
    return lambda certs: client_context(certs, **options)  # type: ignore[arg-type]


def plain(_: Certs) -> None:
    return None


SERVER_CASES: list[tuple[str, str, Client, str]] = [
    ("no web config, plain client", "", plain, "200"),
    ("no web config, TLS client", "", tls_client(), "fails"),
    ("plain client to a TLS server", GOOD, plain, "fails"),
    ("TLS client", GOOD, tls_client(), "200"),
    ("TLS 1.1 client", GOOD, tls_client(max_version=ssl.TLSVersion.TLSv1_1), "fails"),
    ("all ciphers", ALL_CIPHERS, tls_client(), "200"),
    ("a common cipher", SOME_CIPHERS, tls_client(ciphers="ECDHE-RSA-AES128-GCM-SHA256"), "200"),
    (
        "no common cipher",
        SOME_CIPHERS,
        tls_client(ciphers="ECDHE-RSA-AES256-SHA", max_version=ssl.TLSVersion.TLSv1_2),
        "fails",
    ),
    (
        "server picks its preferred cipher",
        SOME_CIPHERS,
        tls_client(ciphers="ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"),
        "cipher ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        "client picks without server order",
        SOME_CIPHERS_NO_ORDER,
        tls_client(ciphers="ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"),
        "cipher ECDHE-RSA-AES128-GCM-SHA256",
    ),
    ("all curves", ALL_CURVES, tls_client(), "200"),
    ("a common curve", SOME_CURVES, tls_client(curve="secp521r1"), "200"),
    ("no common curve", SOME_CURVES, tls_client(curve="secp384r1"), "fails"),
    (
        "no HTTP/2, a non-HTTP/2 cipher",
        NO_HTTP2,
        tls_client(ciphers="ECDHE-RSA-AES256-GCM-SHA384"),
        "200",
    ),
    ("client certificate verified", REQUIRE_VERIFY, tls_client(cert="client"), "200"),
    ("client certificate required", REQUIRE_VERIFY, tls_client(), "fails"),
    (
        "self-signed client certificate",
        REQUIRE_VERIFY,
        tls_client(cert="client-selfsigned"),
        "fails",
    ),
    ("expired client certificate", REQUIRE_VERIFY, tls_client(cert="client-expired"), "fails"),
    ("no client certificate if optional", GOOD, tls_client(), "200"),
    ("bad client certificate if optional", GOOD, tls_client(cert="client-selfsigned"), "fails"),
    ("client SAN allowed", SAN_GOOD, tls_client(cert="client-sans"), "200"),
    ("client SAN not allowed", SAN_BAD, tls_client(cert="client-sans"), "403"),
]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
@pytest.mark.parametrize(
    ("web", "client", "expected"),
    [(w, c, e) for _, w, c, e in SERVER_CASES],
    ids=[name for name, _, _, _ in SERVER_CASES],
)
async def test_toolkit_server_behaviour(
    certs: Certs, web: str, client: Client, expected: str
) -> None:
    path = write(certs, web, "server-case.yml")
    async with served(path) as server:
        outcome = await asyncio.to_thread(
            _outcome, server.port, client(certs), cipher=expected.startswith("cipher")
        )
    assert outcome == expected


def _outcome(port: int, context: ssl.SSLContext | None, *, cipher: bool = False) -> str:
    """``fails`` (no HTTP answer: handshake refused, connection closed), the status, or the
    cipher the handshake settled on."""
    try:
        answer = request(port, "/-/healthy", context=context)
    except (OSError, ssl.SSLError):
        return "fails"
    return f"cipher {answer.cipher}" if cipher else str(answer.status)


async def test_inline_certificate_and_key(certs: Certs) -> None:
    def indented(name: str) -> str:
        return textwrap.indent((certs.directory / name).read_text(), "    ")

    path = certs.directory / "inline.yml"
    path.write_text(INLINE_TEMPLATE.format(cert=indented("server.crt"), key=indented("server.key")))
    async with served(path) as server:
        answer = await asyncio.to_thread(
            request, server.port, "/-/healthy", context=client_context(certs)
        )
    assert answer.status == 200


async def test_response_headers(certs: Certs) -> None:
    async with served(write(certs, HEADERS)) as server:
        answer = await asyncio.to_thread(request, server.port, "/-/healthy")
        missing = await asyncio.to_thread(request, server.port, "/nowhere")
    assert answer.status == 200
    for header, value in (
        ("x-frame-options", "deny"),
        ("strict-transport-security", "max-age=31536000; includeSubDomains"),
        ("x-content-type-options", "nosniff"),
        ("x-xss-protection", "1"),
        ("content-security-policy", "default-src 'self' *.test.example.net"),
    ):
        assert answer.headers[header] == value
    assert missing.status == 404 and missing.headers["x-frame-options"] == "deny"


async def test_rate_limit_answers_429(certs: Certs) -> None:
    async with served(write(certs, 'rate_limit:\n  interval: "1s"\n  burst: 0\n')) as server:
        assert (await asyncio.to_thread(request, server.port, "/-/healthy")).status == 429
    async with served(write(certs, "rate_limit:\n  interval: 1h\n  burst: 2\n")) as server:
        statuses = [
            (await asyncio.to_thread(request, server.port, "/-/healthy")).status for _ in range(4)
        ]
    assert statuses == [200, 200, 429, 429]
    async with served(write(certs, "rate_limit:\n  interval: 0\n  burst: 0\n")) as server:
        statuses = [
            (await asyncio.to_thread(request, server.port, "/-/healthy")).status for _ in range(3)
        ]
    assert statuses == [200, 200, 200]


# -- users (TestUsers, TestBasicAuthCache, TestByPassBasicAuthVuln) -----------------------------


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"alice": bcrypt_hash("alice123"), "bob": bcrypt_hash("bob123")}


def users_config(hashes: dict[str, str], extra: str = "") -> str:
    users = "".join(f"  {user}: {hashed}\n" for user, hashed in hashes.items())
    return f"basic_auth_users:\n{users}{extra}"


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (("alice", "alice123"), 200),
        (("bob", "bob123"), 200),
        (("alice", "bob123"), 401),
        (("alice", ""), 401),
        (("carol", "alice123"), 401),
        (("", ""), 401),
        (None, 401),
    ],
)
async def test_users(
    certs: Certs, hashes: dict[str, str], auth: tuple[str, str] | None, status: int
) -> None:
    async with served(write(certs, users_config(hashes), "users.yml")) as server:
        answer = await asyncio.to_thread(request, server.port, "/metrics", auth=auth)
    assert answer.status == status
    if status == 401:
        assert answer.headers["www-authenticate"] == "Basic"
        assert "pitwatch_" not in answer.body


async def test_users_over_tls(certs: Certs, hashes: dict[str, str]) -> None:
    async with served(write(certs, TLS + users_config(hashes), "users-tls.yml")) as server:
        good = await asyncio.to_thread(
            request, server.port, context=client_context(certs), auth=("alice", "alice123")
        )
        bad = await asyncio.to_thread(
            request, server.port, context=client_context(certs), auth=("alice", "x")
        )
    assert (good.status, bad.status) == (200, 401)
    assert "pitwatch_build_info" in good.body


async def test_healthy_needs_credentials_unless_the_file_opens_it(
    certs: Certs, hashes: dict[str, str]
) -> None:
    async with served(write(certs, users_config(hashes), "closed.yml")) as server:
        assert (await asyncio.to_thread(request, server.port, "/-/healthy")).status == 401
    opened = users_config(hashes, "unauthenticated_paths: [/-/healthy]\n")
    async with served(write(certs, opened, "open.yml")) as server:
        healthy = await asyncio.to_thread(request, server.port, "/-/healthy")
        ready = await asyncio.to_thread(request, server.port, "/-/ready")
        metrics = await asyncio.to_thread(request, server.port, "/metrics")
    assert (healthy.status, ready.status, metrics.status) == (200, 401, 401)


async def test_a_cached_success_never_outlives_its_hash() -> None:
    """CVE-2022-46146: a verdict cached under the user and password alone let a changed hash
    (or an unknown user) in."""
    auth = BasicAuth({"alice": bcrypt_hash("old").encode()})
    try:
        assert await auth.check("alice", "old")
        assert not await auth.check("mallory", "old")
        for _ in range(3):  # answered from the cache now: still no
            assert not await auth.check("mallory", "old")
        auth.users = {"alice": bcrypt_hash("new").encode()}
        assert not await auth.check("alice", "old")
        assert await auth.check("alice", "new")
    finally:
        auth.close()


def test_unknown_users_cost_what_known_ones_do() -> None:
    """The decoy an unknown user is checked against has the cost of the configured hashes."""
    auth = BasicAuth(
        {"alice": bcrypt_hash("a", cost=6).encode(), "bob": bcrypt_hash("b", cost=6).encode()}
    )
    try:
        assert auth._decoy.split(b"$")[2] == b"06"
    finally:
        auth.close()


def test_the_cache_stays_small() -> None:
    auth = BasicAuth({})
    try:
        for index in range(250):
            auth._remember(str(index).encode(), False)
        assert len(auth._cache) < 100
        assert str(249).encode() in auth._cache and b"0" not in auth._cache
    finally:
        auth.close()


# -- reloading (TestConfigReloading) ------------------------------------------------------------


async def test_a_changed_file_applies_and_a_broken_one_is_refused(
    certs: Certs, hashes: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    path = write(certs, users_config({"alice": hashes["alice"]}), "reload.yml")
    async with served(path) as server:

        async def status(user: str, password: str) -> int:
            return (await asyncio.to_thread(request, server.port, auth=(user, password))).status

        assert await status("alice", "alice123") == 200
        assert await status("bob", "bob123") == 401
        path.write_text(users_config({"bob": hashes["bob"]}) + "# changed\n")
        await _until(lambda: status("bob", "bob123"), 200)
        assert await status("alice", "alice123") == 401
        path.write_text("basic_auth_users:\n  bob: not-a-hash\n")
        await _until(lambda: _logged(caplog, "web config change rejected"), True)
        assert await status("bob", "bob123") == 200  # the last good file stays
    assert (
        f"{path}:1: basic_auth_users: the password of user 'bob' is not a bcrypt hash"
        in caplog.text
    )


async def test_a_new_certificate_is_served_without_a_restart(certs: Certs) -> None:
    directory = certs.directory / "rotating"
    rotating = make_certs(directory)
    path = write(rotating, TLS)
    old = ssl.create_default_context()
    rotating.server_ca.configure_trust(old)
    async with served(path) as server:
        first = await asyncio.to_thread(request, server.port, "/-/healthy", context=old)
        again = make_certs(directory)  # new CA, new server certificate in the same files
        await _until(lambda: asyncio.to_thread(_outcome, server.port, client_context(again)), "200")
        stale = await asyncio.to_thread(_outcome, server.port, old)
    assert first.status == 200
    assert stale == "fails"  # the old CA no longer vouches for what is served


async def _until(probe: Callable[[], object], wanted: object, seconds: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        got = probe()
        if asyncio.iscoroutine(got) or isinstance(got, asyncio.Future):
            got = await got
        if got == wanted:
            return
        if loop.time() > deadline:
            raise AssertionError(f"still {got!r}, wanted {wanted!r}")
        await asyncio.sleep(0.1)


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return text in caplog.text


# -- check-config --web.config.file -------------------------------------------------------------


def test_check_config_validates_a_web_config(certs: Certs, hashes: dict[str, str]) -> None:
    good = write(certs, TLS + users_config(hashes), "check-good.yml")
    bad = write(
        certs, TLS + "  min_version: TLS111\nbasic_auth_users:\n  john: doe\n", "check-bad.yml"
    )

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pitwatch", "check-config", *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    ok = check("--web.config.file", str(good))
    assert (ok.returncode, ok.stdout.strip()) == (0, f"{good}: OK, TLS, 2 users")
    failed = check("--web.config.file", str(bad))
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.splitlines() == [
        f"{bad}:4: tls_server_config.min_version: unknown TLS version: TLS111 (one of TLS10, TLS11, TLS12, TLS13)",
        f"{bad}:5: basic_auth_users: the password of user 'john' is not a bcrypt hash (make one with "
        "`htpasswd -nBC 10 USER`, or python -c 'import bcrypt; "
        'print(bcrypt.hashpw(b"PASSWORD", bcrypt.gensalt()).decode())\')',
    ]
    neither = check()
    assert (
        neither.returncode == 1
        and "give a config FILE, --web.config.file FILE, or both" in neither.stderr
    )


async def test_an_inline_key_never_shows_in_messages_or_logs(
    certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    """The web config's one secret, an inline private key: a broken one is named, not shown."""
    key = (certs.directory / "server.key").read_text()
    broken = key.replace("\n", "\n    ").rstrip() + "\n"
    secret_line = key.splitlines()[2]
    path = certs.directory / "secret-key.yml"
    text = 'tls_server_config:\n  cert_file: "server.crt"\n  key: |\n    ' + broken.replace(
        secret_line, secret_line[::-1]
    )
    path.write_text(text)
    with pytest.raises(WebConfigError) as caught:
        load_checked(path)
    assert caught.value.problems[0].startswith(f"{path}:1: tls_server_config: cannot use")
    reversed_line = secret_line[::-1]
    assert reversed_line not in "\n".join(caught.value.problems)
    good = write(certs, TLS, "secret-reload.yml")
    async with served(good) as _:
        good.write_text(text)
        await _until(lambda: _logged(caplog, "web config change rejected"), True)
    assert reversed_line not in caplog.text and secret_line not in caplog.text
