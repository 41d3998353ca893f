from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pitwatch.config import ConfigError, default_config, load_config, parse_config
from pitwatch.durations import format_duration, parse_duration
from pitwatch.probes import PROBES
from pitwatch.probes.http import HttpTarget
from pitwatch.secrets import Secret
from tests.support.targets import config_from, write_config

TESTDATA = Path(__file__).parent / "testdata"

# One rule per file; the exact messages users see, line numbers included.
INVALID = {
    "invalid-component.yml": [
        "3: target \"core-api\": component: must be 'game_provider', 'payment_gateway', 'api', "
        "'kyc', 'database', 'network', 'backup', 'host' or 'other', got 'casino'"
    ],
    "invalid-duplicate-key.yml": ['6: duplicate key "url" (first on line 5)'],
    "invalid-duplicate-name.yml": [
        '6: target "psp-adyen": duplicate target name, first defined on line 2'
    ],
    "invalid-duration.yml": [
        "2: global.interval: invalid duration 'fast': "
        "use a number and a unit, e.g. 500ms, 15s, 1m30s (each unit once, largest first)"
    ],
    "invalid-duration-repeated-unit.yml": [
        "2: global.interval: invalid duration '1h1h': "
        "use a number and a unit, e.g. 500ms, 15s, 1m30s (each unit once, largest first)"
    ],
    "invalid-header-literal-secret.yml": [
        '6: target "kyc-onfido": headers: header "Authorization" holds a literal credential: '
        'write secrets as ${ENV_VAR}, e.g. Authorization: "Bearer ${API_TOKEN}"'
    ],
    "invalid-not-utf8.yml": ["3: byte 0xe9 in column 8 is not UTF-8 text (save the file as UTF-8)"],
    "invalid-nul-byte.yml": [
        "3: a NUL byte: YAML text cannot contain one (is this a binary file?)"
    ],
    "invalid-alias-bomb.yml": ["2: aliases expand to too many values (an alias bomb?)"],
    "invalid-recursive-alias.yml": ["2: this collection holds an alias of itself (a cycle)"],
    "invalid-tier-exponent.yml": ['6: target "core-api": tier: must be 1, 2 or 3, got 1000.0'],
    "invalid-yaml-tab.yml": ["2: a tab character: YAML is indented with spaces only"],
    "invalid-every-problem.yml": [
        '4: global: unknown key "timout" (did you mean "timeout"?)',
        '10: target "core-api": tier: must be 1, 2 or 3, got 4',
        '11: target "core-api": duplicate target name, first defined on line 6',
        '16: target "core-api": timeout 10s must be shorter than interval 5s',
        '17: target "access-log": fields applies to format json only',
        '22: target "access-log": unknown key "bogus"',
        '24: maintenance[0].targets[0]: maintenance names unknown target "wallet-api"',
    ],
    "invalid-label-name.yml": [
        "2: global.labels: label name 'data-center' is not a valid Prometheus label name"
    ],
    "invalid-maintenance.yml": [
        '7: target "evolution-lobby": maintenance[0]: a weekly maintenance window needs weekly, '
        "at and duration"
    ],
    "invalid-missing-env.yml": [
        '7: target "kyc-onfido": headers.Authorization: environment variable '
        "PITWATCH_TEST_UNSET_TOKEN is not set"
    ],
    "invalid-missing-url.yml": [
        '2: target "evolution-lobby": missing required key "url" for probe http'
    ],
    "invalid-not-a-list.yml": ["1: targets: should be a valid list"],
    "invalid-probe-kind.yml": [
        f'4: target "core-api": probe: unknown probe kind "htp" (known: {", ".join(PROBES)})'
    ],
    "invalid-reserved-label.yml": [
        "6: target \"core-api\": labels: label 'team' is reserved: pitwatch or Prometheus sets it"
    ],
    "invalid-secret-file.yml": [
        '7: target "evolution-lobby": tls.cert_file: file {dir}/certs/missing.pem does not exist',
        '8: target "evolution-lobby": tls.key_file: file {dir}/certs/missing.key does not exist',
    ],
    "invalid-status-code.yml": [
        '6: target "evolution-lobby": valid_status_codes: status code 700 is outside 100-599'
    ],
    "invalid-target-name.yml": [
        "2: target \"core api!\": name: target name 'core api!' may only contain A-Z a-z 0-9 _ . -"
    ],
    "invalid-tcp-address.yml": [
        '5: target "wallet-db-port": address: address must be host:port, '
        "got 'wallet-db.example.com'"
    ],
    "invalid-tier.yml": ['4: target "core-api": tier: must be 1, 2 or 3, got 4'],
    "invalid-tls-file.yml": [
        '6: target "evolution-lobby": tls: cannot use the TLS files: no certificate or crl found'
    ],
    "invalid-timeout-not-below-interval.yml": [
        '10: target "core-api": timeout 10s must be shorter than interval 10s'
    ],
    "invalid-unknown-key.yml": [
        '2: target "evolution-lobby": missing required key "url" for probe http',
        '5: target "evolution-lobby": unknown key "ulr" (did you mean "url"?)',
    ],
    "invalid-url-credentials.yml": [
        '5: target "evolution-lobby": url: credentials in the url would leak into logs: '
        "use headers with ${ENV_VAR}"
    ],
    "invalid-yaml.yml": [
        "4: the indentation does not match the lines above: a key or list item here is "
        "indented differently from its siblings (in the block that begins on line 2)"
    ],
}


def expected_problems(name: str) -> list[str]:
    path = TESTDATA / name
    return [f"{path}:{line.replace('{dir}', str(TESTDATA))}" for line in INVALID[name]]


def test_every_invalid_file_has_an_expectation() -> None:
    assert sorted(path.name for path in TESTDATA.glob("invalid-*.yml")) == sorted(INVALID)
    assert len(INVALID) >= 10


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_config_message(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(TESTDATA / name)
    assert caught.value.problems == expected_problems(name)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_check_config_cli_reports_exactly_and_exits_1(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pitwatch", "check-config", str(TESTDATA / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == expected_problems(name)
    assert "Traceback" not in result.stderr


def test_problems_are_collected_not_first_only(tmp_path: Path) -> None:
    text = """\
        global:
          interval: 10s
          timeout: 20s
        targets:
          - name: a
            component: api
            probe: http
            url: ftp://x
          - name: b
            component: nope
            probe: tcp
            address: db:5432
    """
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text))
    lines = [problem.split(": ", 1)[0].rsplit(":", 1)[1] for problem in caught.value.problems]
    assert lines == ["3", "8", "10"]


def test_valid_config_resolves_defaults(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        """\
        global:
          interval: 30s
          labels: {platform: prod-eu}
        targets:
          - name: evolution-lobby
            component: game_provider
            tier: 2
            team: integrations
            probe: http
            url: https://lobby.example.com/health
            labels: {region: eu}
          - name: wallet-port
            component: database
            probe: tcp
            address: "[::1]:5432"
            interval: 1m30s
            timeout: 500ms
            objectives: {availability: 99.99%, latency: 250ms, latency_percentile: 99}
        """,
    )
    lobby, wallet = config.targets
    assert lobby.interval == 30 and lobby.timeout == 5  # min(5s, 80% of 30s)
    assert lobby.labels == (
        ("target", "evolution-lobby"),
        ("component", "game_provider"),
        ("tier", "2"),
        ("team", "integrations"),
        ("platform", "prod-eu"),
        ("region", "eu"),
    )
    assert lobby.objective_ratio == 0.999  # tier 2 default
    assert (lobby.latency_objective, lobby.latency_percentile) == (1.0, "95")
    assert wallet.interval == 90 and wallet.timeout == 0.5
    assert wallet.spec.team == "platform" and wallet.spec.tier == 3
    assert wallet.objective_ratio == pytest.approx(0.9999)
    assert (wallet.latency_objective, wallet.latency_percentile) == (0.25, "99")


def test_short_interval_gets_a_shorter_default_timeout(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        """\
        targets:
          - {name: a, component: api, probe: tcp, address: "x:1", interval: 2s}
        """,
    )
    assert config.targets[0].timeout == pytest.approx(1.6)


def test_yaml_core_schema_keeps_words_and_times_as_strings(tmp_path: Path) -> None:
    config = config_from(
        tmp_path,
        """\
        global:
          labels: {country: NO, window: "03:00", switch: on}
        targets:
          - name: a
            component: api
            probe: http
            url: http://a/
            maintenance:
              - {weekly: [sunday], at: "03:00", duration: 2h, timezone: Europe/Malta}
        """,
    )
    assert config.global_.labels == {"country": "NO", "window": "03:00", "switch": "on"}


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    text = """\
        targets:
          - &provider {name: a, component: game_provider, team: integrations, probe: http, url: http://a/}
          - <<: *provider
            name: b
            url: http://b/
    """
    loaded = config_from(tmp_path, text)
    assert [(t.name, t.spec.team) for t in loaded.targets] == [
        ("a", "integrations"),
        ("b", "integrations"),
    ]


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOBBY_TOKEN", "tok-env")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key").write_text("tok-file\n")
    config = config_from(
        tmp_path,
        """\
        targets:
          - name: a
            component: api
            probe: http
            url: http://a/
            headers: {Authorization: "Bearer ${LOBBY_TOKEN}", Accept: text/plain}
        """,
    )
    spec = config.targets[0].spec
    assert isinstance(spec, HttpTarget)
    assert spec.headers["Authorization"] == Secret("Bearer tok-env")
    assert "tok-env" not in repr(spec) and "tok-env" not in str(spec.model_dump())
    assert Secret("Bearer tok-env") in config.targets[0].secrets


def test_reserved_labels_include_every_family_label(tmp_path: Path) -> None:
    for name in ("reason", "phase", "result", "le", "quantile", "__meta"):
        with pytest.raises(ConfigError, match="reserved"):
            config_from(
                tmp_path,
                f"targets:\n  - {{name: a, component: api, probe: tcp, address: 'x:1', "
                f"labels: {{{name}: v}}}}\n",
            )


_PHASE_LABEL = """
import sys
{first}
from pitwatch.config_types import TargetBase

item = {{"name": "a", "component": "api", "probe": "tcp", "labels": {{"phase": "y"}}}}
try:  # a model validated outside the loader must not guess which labels are free
    TargetBase.model_validate(item)
except RuntimeError as exc:
    print("refused:", exc)
else:
    print("accepted")

from pitwatch.config import ConfigError, load_config
try:
    load_config(sys.argv[1])
except ConfigError as exc:
    print(*exc.problems, sep="\\n")
else:
    print("accepted")
"""


@pytest.mark.parametrize(
    "first",
    [
        "",
        "import pitwatch.config_types",
        "import pitwatch.families",
        "import pitwatch.labels",
        "import pitwatch.probes.tcp",
        "import pitwatch.config",
    ],
)
def test_a_family_label_is_reserved_whatever_was_imported_first(tmp_path: Path, first: str) -> None:
    path = write_config(
        tmp_path,
        "global:\n  labels: {phase: x}\n"
        "targets:\n  - {name: a, component: api, probe: tcp, address: 'x:1', labels: {phase: y}}\n",
    )
    result = subprocess.run(
        [sys.executable, "-c", _PHASE_LABEL.format(first=first), str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == [
        "refused: labels are validated by pitwatch.config, which passes the reserved set",
        f"{path}:2: global.labels: label 'phase' is reserved: pitwatch or Prometheus sets it",
        f"{path}:4: target \"a\": labels: label 'phase' is reserved: pitwatch or Prometheus "
        "sets it",
    ]


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.yml")
    assert caught.value.problems == [
        f"{tmp_path}/missing.yml: cannot read config: No such file or directory"
    ]


def test_empty_file_is_the_default(tmp_path: Path) -> None:
    config = parse_config("", tmp_path / "empty.yml")
    assert config.targets == () and config.host.enabled
    assert default_config().targets == ()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("15s", 15), ("1m30s", 90), ("2h", 7200), ("1d", 86400), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "s", "1x", "-1s", "1s 2s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.5, "500ms"), (90, "1m30s"), (15, "15s"), (3600, "1h")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_an_inherited_timing_problem_is_reported_once(tmp_path: Path) -> None:
    text = "global: {interval: 5s, timeout: 5s}\ntargets:\n" + "".join(
        f"  - {{name: t{index}, component: api, probe: tcp, address: 'x:1'}}\n"
        for index in range(3)
    )
    with pytest.raises(ConfigError) as caught:
        config_from(tmp_path, text)
    assert caught.value.problems == [
        f"{tmp_path}/pitwatch.yml:1: global: timeout 5s must be shorter than interval 5s"
    ]
