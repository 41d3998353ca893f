"""What a user can get wrong, and a secured Prometheus: one clear line on stderr and exit 1
for each mistake (never a traceback), and no password or token in any output."""

from __future__ import annotations

import argparse
import os
import secrets as random_tokens
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import pytest
import trustme
import yaml

from devtools.processes import free_port
from tests.support.report_history import REPORT_FROM, REPORT_TO, HistoryPrometheus, run_report

PASSWORD = "pw-" + random_tokens.token_hex(8)
TOKEN = "tok-" + random_tokens.token_hex(8)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pitwatch report: ")
    return lines[0]


def service(
    url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_report(
        "--prometheus",
        url,
        "--from",
        REPORT_FROM,
        "--to",
        REPORT_TO,
        "--format",
        "json",
        *extra,
        env=env,
    )


class _NotPrometheus(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotPrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_nothing_listening() -> None:
    port = free_port()
    assert one_line(service(f"http://127.0.0.1:{port}")) == (
        f"pitwatch report: cannot connect to http://127.0.0.1:{port}: connection refused"
    )


def test_not_a_prometheus(web_server: str) -> None:
    line = one_line(service(web_server))
    assert f"{web_server} is not a Prometheus: /api/v1/query answered HTTP 404 (text/html)" in line


def test_a_server_that_hangs(silent_port: int) -> None:
    line = one_line(service(f"http://127.0.0.1:{silent_port}", "--timeout", "1"))
    assert "did not answer within 1s" in line


def test_no_url() -> None:
    assert "give --prometheus URL or set PITWATCH_PROMETHEUS_URL" in one_line(
        run_report("--format", "json", env={"PITWATCH_PROMETHEUS_URL": ""})
    )


def test_url_from_the_environment(history: HistoryPrometheus) -> None:
    done = run_report(
        "--from",
        REPORT_FROM,
        "--to",
        REPORT_TO,
        "--format",
        "json",
        env={"PITWATCH_PROMETHEUS_URL": history.url},
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            ("--from", "2026-11-03T00:00:00Z", "--to", "2026-11-03T00:00:00Z"),
            "the range 2026-11-03T00:00:00Z to 2026-11-03T00:00:00Z is empty",
        ),
        (("--from", "2099-01-01T00:00:00Z"), "is in the future"),
        (("--from", "yesterday"), "--from 'yesterday': expected RFC 3339"),
        (("--last", "7 days"), "--last: invalid duration '7 days'"),
        (("--to", "2026-11-04T00:00:00Z", "--last", "1d"), "give --to or --last, not both"),
        (("--from", "2026-11-03T00:00:00"), "give a time zone"),
    ],
)
def test_bad_ranges(history: HistoryPrometheus, flags: tuple[str, ...], expected: str) -> None:
    done = run_report("--prometheus", history.url, "--format", "json", *flags)
    assert expected in one_line(done)


def test_a_range_without_pitwatch_data(history: HistoryPrometheus) -> None:
    done = run_report(
        "--prometheus",
        history.url,
        "--from",
        "2026-09-01T00:00:00Z",
        "--to",
        "2026-09-08T00:00:00Z",
    )
    line = one_line(done)
    assert (
        f"no pitwatch data in {history.url} between 2026-09-01T00:00:00Z and 2026-09-08T00:00:00Z"
        in line
    )


def test_a_wrong_job_names_the_jobs_there(history: HistoryPrometheus) -> None:
    line = one_line(service(history.url, "--job", "blackbox"))
    assert (
        'job=~"blackbox"' in line
        and "pitwatch jobs there: pitwatch (choose one with --job)" in line
    )


def test_unknown_and_malformed_incident_ids(history: HistoryPrometheus) -> None:
    line = one_line(
        run_report("incident", "20261104-2001-game_provider", "--prometheus", history.url)
    )
    assert line == (
        f"pitwatch report: no incident 20261104-2001-game_provider in {history.url}; that day: "
        "20261104-1000-monitor, 20261104-2000-game_provider"
    )
    assert "not an incident ID" in one_line(
        run_report("incident", "psp-northpay", "--prometheus", history.url)
    )
    assert "takes no --from" in one_line(
        run_report(
            "incident", "20261104-2000-game_provider", "--prometheus", history.url, "--last", "1d"
        )
    )


def test_a_prometheus_without_the_rule_pack(no_rules: HistoryPrometheus) -> None:
    done = run_report(
        "--prometheus",
        no_rules.url,
        "--from",
        "2026-11-01T12:00:00Z",
        "--to",
        "2026-11-02T12:00:00Z",
    )
    line = one_line(done)
    assert "has no alert of the pitwatch rule pack" in line and "load rules/*.yml" in line


def without_module(directory: Path, module: str) -> dict[str, str]:
    """The environment of a Python that cannot import ``module``, as if it were not installed:
    a ``sitecustomize`` in ``directory`` (put first on the path) blocks it."""
    (directory / "sitecustomize.py").write_text(f"import sys\n\nsys.modules[{module!r}] = None\n")
    path = [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path)}


@pytest.mark.parametrize(
    ("module", "refused", "expected"),
    [
        (
            "matplotlib",
            ("html",),
            "pitwatch report: --format html draws charts with matplotlib: "
            "install the report extra: pip install 'pitwatch[report]'",
        ),
        (
            "jinja2",
            ("markdown", "html"),
            "pitwatch report: --format {fmt} needs Jinja2, which pitwatch depends on but this "
            "installation lacks: reinstall pitwatch or pip install Jinja2",
        ),
    ],
)
def test_a_missing_library_refuses_only_the_formats_that_need_it(
    history: HistoryPrometheus,
    tmp_path: Path,
    module: str,
    refused: tuple[str, ...],
    expected: str,
) -> None:
    env = without_module(tmp_path, module)
    period = ("--prometheus", history.url, "--from", REPORT_FROM, "--to", REPORT_TO)
    for fmt in refused:
        assert one_line(run_report(*period, "--format", fmt, env=env)) == expected.format(fmt=fmt)
    still_working = [fmt for fmt in ("markdown", "json") if fmt not in refused]
    for fmt in still_working:
        done = run_report(*period, "--format", fmt, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("# " if fmt == "markdown" else "{")


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, history_blocks: Path
) -> Iterator[tuple[HistoryPrometheus, Path]]:
    """The history behind TLS (a private CA) and basic auth, as Prometheus's web config does it."""
    workdir = tmp_path_factory.mktemp("secured-prometheus")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(workdir / "server.pem"))
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    web = {
        "tls_server_config": {
            "cert_file": str(workdir / "server.pem"),
            "key_file": str(workdir / "server.pem"),
        },
        "basic_auth_users": {
            "reporter": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        },
    }
    (workdir / "web.yml").write_text(yaml.safe_dump(web))
    prom = HistoryPrometheus(
        workdir / "prom", history_blocks, f"--web.config.file={workdir / 'web.yml'}"
    )
    prom.scheme = "https"
    prom.start_secured(ca_file=workdir / "ca.pem", user="reporter", password=PASSWORD)
    try:
        yield prom, workdir
    finally:
        prom.stop()


def _secured_url(prom: HistoryPrometheus) -> str:
    return f"https://127.0.0.1:{prom.port}"


def test_a_secured_prometheus(secured: tuple[HistoryPrometheus, Path], tmp_path: Path) -> None:
    prom, workdir = secured
    url = _secured_url(prom)
    (tmp_path / "password").write_text(PASSWORD + "\n")
    (tmp_path / "wrong").write_text("not-" + PASSWORD)
    ok = service(
        url,
        "--ca-file",
        str(workdir / "ca.pem"),
        "--basic-auth-user",
        "reporter",
        "--basic-auth-password-file",
        str(tmp_path / "password"),
    )
    assert ok.returncode == 0, ok.stderr
    outputs = [ok.stdout, ok.stderr]
    untrusted = service(
        url,
        "--basic-auth-user",
        "reporter",
        "--basic-auth-password-file",
        str(tmp_path / "password"),
    )
    assert "its TLS certificate is not trusted (give its CA with --ca-file)" in one_line(untrusted)
    wrong = service(
        url,
        "--ca-file",
        str(workdir / "ca.pem"),
        "--basic-auth-user",
        "reporter",
        "--basic-auth-password-file",
        str(tmp_path / "wrong"),
    )
    assert "HTTP 401 Unauthorized" in one_line(wrong)
    in_env = service(
        url,
        "--ca-file",
        str(workdir / "ca.pem"),
        env={"PITWATCH_PROMETHEUS_USERNAME": "reporter", "PITWATCH_PROMETHEUS_PASSWORD": PASSWORD},
    )
    assert in_env.returncode == 0, in_env.stderr
    in_url = service(
        f"https://reporter:{PASSWORD}@127.0.0.1:{prom.port}", "--ca-file", str(workdir / "ca.pem")
    )
    assert in_url.returncode == 0, in_url.stderr
    assert f'"prometheus": "{url}"' in in_url.stdout
    token = service(
        url, "--ca-file", str(workdir / "ca.pem"), env={"PITWATCH_PROMETHEUS_BEARER_TOKEN": TOKEN}
    )
    assert "HTTP 401" in one_line(token)
    for done in (untrusted, wrong, in_env, in_url, token):
        outputs += [done.stdout, done.stderr]
    for text in outputs:
        assert PASSWORD not in text and TOKEN not in text


COVERED_SECRET_OPTIONS = {"basic_auth_password_file", "bearer_token_file"}


def test_every_secret_option_is_covered() -> None:
    """A new secret-bearing option of `pitwatch report` fails here until the test above
    covers it."""
    from pitwatch.report.command import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    secretish = {
        action.dest
        for action in parser._actions
        if any(word in action.dest for word in ("password", "token", "secret", "credential"))
    }
    assert secretish == COVERED_SECRET_OPTIONS
