"""A real Prometheus scrapes a real ``pitwatch run --web.config.file`` over TLS with basic
auth (the way docs/deployment.md tells), and one with the wrong password is turned away."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.processes import wait_until
from devtools.prometheus import Prometheus
from tests.support.services import Pitwatch
from tests.support.web_security import bcrypt_hash, make_certs


class SecuredPitwatch(Pitwatch):
    """Ready when ``/-/ready`` answers over TLS (the test trusts the server's CA)."""

    def ready_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/-/ready"


@pytest.mark.slow
def test_prometheus_scrapes_over_tls_with_basic_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_certs(tmp_path / "certs")
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.server_ca_file))  # for the readiness check
    web = certs.directory / "web.yml"
    web.write_text(
        'tls_server_config:\n  cert_file: "server.crt"\n  key_file: "server.key"\n'
        f"basic_auth_users:\n  prometheus: {bcrypt_hash('scrape-secret')}\n"
        "unauthenticated_paths: [/-/healthy, /-/ready]\n"
    )
    (tmp_path / "password").write_text("scrape-secret\n")
    (tmp_path / "wrong").write_text("guess\n")
    with SecuredPitwatch(tmp_path / "run", None, "--web.config.file", str(web)) as pitwatch:
        target = f"127.0.0.1:{pitwatch.port}"

        def job(name: str, password_file: str) -> dict[str, object]:
            return {
                "job_name": name,
                "scheme": "https",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "tls_config": {"ca_file": str(certs.server_ca_file)},
                "basic_auth": {
                    "username": "prometheus",
                    "password_file": str(tmp_path / password_file),
                },
                "static_configs": [{"targets": [target]}],
            }

        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [job("good", "password"), job("wrong", "wrong")],
        }
        with Prometheus(tmp_path / "prometheus", config) as prometheus:
            wait_until(
                lambda: (
                    prometheus.scrape_health("good") is not None
                    and prometheus.scrape_health("wrong") is not None
                ),
                30,
                "both jobs scraped",
            )
            wait_until(lambda: prometheus.value('up{job="good"}') == 1, 30, "the good job up")
            assert prometheus.value('up{job="wrong"}') == 0
            assert (prometheus.value('pitwatch_build_info{job="good"}') or 0) == 1
            targets = prometheus.api("targets", state="active")["activeTargets"]
            errors = {t["labels"]["job"]: t.get("lastError", "") for t in targets}
    assert "401" in errors["wrong"], errors
    assert errors["good"] == ""
