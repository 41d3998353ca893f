"""Assertions of the http probe against a real server: what passes, what fails, and the
exact message and status-page details of each failure; and the config errors of bad
conditions, with their lines."""

from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pitwatch.config import ConfigError, load_config
from pitwatch.probes._assertions import JsonCondition
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from tests.support.gaming_apps import GamingPlatform
from tests.support.targets import config_from, one_target, probe_target, samples_of

TESTDATA = Path(__file__).parent.parent / "testdata" / "httpflow"


@pytest.fixture
async def gaming() -> AsyncIterator[GamingPlatform]:
    platform = await GamingPlatform().start()
    yield platform
    await platform.stop()


async def probe(
    tmp_path: Path, gaming: GamingPlatform, assertions: str, **extra: str
) -> Observation:
    lines = "\n".join(f"  {line}" for line in textwrap.dedent(assertions).strip().splitlines())
    more = "\n".join(f"{key}: {value}" for key, value in extra.items())
    body = f"probe: http\nurl: {gaming.url('/health')}\n{more}\nassertions:\n{lines}"
    return await probe_target(config_from(tmp_path, one_target(body)))


async def test_every_kind_of_assertion_passes_on_a_healthy_answer(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    assertions = """
        headers:
          - Content-Type matches ^application/json
          - X-Request-Id exists
          - Set-Cookie not exists
          - Cache-Control == no-store
        body_matches: ['"status": "UP"']
        body_not_matches: ['(?i)maintenance window']
        json:
          - status == "UP"
          - status == UP
          - latency_ms < 300
          - len(providers) >= 5
          - providers[0] == evolution
          - region in [eu, uk]
          - region not in ["test", "staging"]
          - version matches ^2\\.
          - maintenance exists
          - maintenance == null
          - session not exists
    """
    observation = await probe(tmp_path, gaming, assertions)
    assert observation.result.success, observation.result.message
    assert observation.result.message == "HTTP 200"
    assert observation.result.details == ()


@pytest.mark.parametrize(
    ("change", "assertions", "message"),
    [
        (
            {"status": "DEGRADED"},
            "json: ['status == \"UP\"']",
            'assertion failed: json status == "UP" (got "DEGRADED")',
        ),
        (
            {"latency_ms": 450},
            "json: [latency_ms < 300]",
            "assertion failed: json latency_ms < 300 (got 450)",
        ),
        (
            {"latency_ms": "fast"},
            "json: [latency_ms < 300]",
            'assertion failed: json latency_ms < 300 (got "fast", not a number)',
        ),
        (
            {"providers": ["evolution", "netent", "hacksaw"]},
            "json: ['len(providers) >= 5']",
            "assertion failed: json len(providers) >= 5 (got 3)",
        ),
        ({}, "json: [session.id exists]", "assertion failed: json session.id exists (not found)"),
        ({}, "json: [region not exists]", 'assertion failed: json region not exists (found "eu")'),
        (
            {"region": "staging"},
            "json: ['region in [eu, uk]']",
            'assertion failed: json region in [eu, uk] (got "staging")',
        ),
        (
            {"status": "x" * 40},
            "json: [status == UP]",
            "assertion failed: json status == UP (got a string of 40 characters)",
        ),
        (
            {"providers": {"evolution": "UP"}},
            "json: [providers matches evo]",
            "assertion failed: json providers matches evo (got an object with 1 key, not a string)",
        ),
        (
            {"status": "DOWN"},
            'body_matches: [\'"status": "UP"\']',
            'assertion failed: body_matches /"status": "UP"/ (no match)',
        ),
        (
            {"status": "Maintenance window until 04:00"},
            "body_not_matches: ['(?i)maintenance window']",
            "assertion failed: body_not_matches /(?i)maintenance window/ "
            '(matched "Maintenance window")',
        ),
        (
            {},
            "headers: ['X-Request-Id == req-2']",
            'assertion failed: header X-Request-Id == req-2 (got "req-1")',
        ),
        (
            {},
            "headers: [X-Trace exists]",
            "assertion failed: header X-Trace exists (header absent)",
        ),
        (
            {},
            "headers: ['Content-Type matches ^text/html']",
            'assertion failed: header Content-Type matches ^text/html (got "application/json; '
            'charset=utf-8")',
        ),
    ],
)
async def test_a_failed_assertion_names_itself_and_what_it_found(
    tmp_path: Path,
    gaming: GamingPlatform,
    change: dict[str, object],
    assertions: str,
    message: str,
) -> None:
    gaming.health = {**gaming.health, **change}
    observation = await probe(tmp_path, gaming, assertions)
    result = observation.result
    assert not result.success
    assert result.reason is Reason.ASSERTION
    assert result.message == message
    assertion = message.removeprefix("assertion failed: ")
    assert result.details == (("assertion", assertion),)
    # the HTTP measurements are kept on an assertion failure
    assert samples_of(observation)[("pitwatch_http_status_code", ())] == 200


async def test_every_failed_assertion_is_listed_on_the_status_page(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    gaming.health = {**gaming.health, "status": "DEGRADED", "latency_ms": 900}
    assertions = "json:\n  - status == UP\n  - latency_ms < 300\n  - region == eu"
    observation = await probe(tmp_path, gaming, assertions)
    assert observation.result.message == (
        'assertion failed: json status == UP (got "DEGRADED") (and 1 more)'
    )
    assert observation.result.details == (
        ("assertion", 'json status == UP (got "DEGRADED")'),
        ("assertion", "json latency_ms < 300 (got 900)"),
    )


async def test_a_body_that_is_not_json_fails_the_json_assertions(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    gaming.health_body = "<html>Down for maintenance</html>"
    observation = await probe(tmp_path, gaming, "json: [status == UP, latency_ms < 300]")
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == ("assertion failed: json status == UP (body is not JSON)")


async def test_the_status_is_judged_before_the_assertions(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    body = f"probe: http\nurl: {gaming.url('/nowhere')}\nassertions:\n  json: [status == UP]"
    observation = await probe_target(config_from(tmp_path, one_target(body)))
    assert observation.result.reason is Reason.HTTP_STATUS
    assert observation.result.message == "HTTP 404 (expected 2xx)"
    assert observation.result.details == ()


async def test_sensitive_header_values_are_not_shown(
    tmp_path: Path, gaming: GamingPlatform
) -> None:
    gaming.health_headers = {**gaming.health_headers, "Set-Cookie": "sid=abc123; Path=/"}
    observation = await probe(tmp_path, gaming, "headers: [Set-Cookie not matches sid=]")
    assert observation.result.message == (
        "assertion failed: header Set-Cookie not matches sid= "
        "(got a value not shown here (sensitive header))"
    )
    assert "abc123" not in observation.result.message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "status",
            "expected an operator after 'status': ==, !=, <, <=, >, >=, in, not in, "
            "matches, not matches, exists, not exists",
        ),
        ("status = UP", "expected an operator after 'status'"),
        ("latency_ms < fast", '< needs a number on the right, got "fast"'),
        ("len(providers) exists", "len() cannot be used with exists"),
        ("result in approved", "in needs a list on the right, e.g. [approved, declined]"),
        ("version matches (", "invalid regular expression '('"),
        ('status == "UP', 'a "..." string is not closed or has a bad escape'),
        ("status == UP now", "unexpected 'now' after the value"),
        ("a..b == 1", "bad path: expected a key name after '.'"),
        ("len(a == 1", "len( needs a closing )"),
        ("items[x] == 1", 'bad path at "[x] == 1": use [0], [-1] or ["some key"]'),
    ],
)
def test_condition_syntax_errors(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(problem)):
        JsonCondition.parse(text)


@pytest.mark.parametrize(
    ("text", "document", "holds"),
    [
        ("count == 1", {"count": 1.0}, True),
        ("flag == 1", {"flag": True}, False),
        ("id == 7", {"id": "7"}, False),
        ("id == '7'", {"id": "7"}, True),
        ("ok == true", {"ok": True}, True),
        ("items[-1].id == 3", {"items": [{"id": 1}, {"id": 3}]}, True),
        ("items[5] exists", {"items": [1]}, False),
        ('headers["x-a b"] == y', {"headers": {"x-a b": "y"}}, True),
        ("len($) == 2", [1, 2], True),
        ("len(name) <= 3", {"name": "eur"}, True),
        ("code matches ^2", {"code": 204}, True),
        ("rate >= 0.5", {"rate": 0.5}, True),
        ("rate > 0.5", {"rate": 0.5}, False),
        ("missing != 1", {}, False),
        ("state not in [open, closed]", {"state": "paused"}, True),
        ('value == {"a": [1]}', {"value": {"a": [1]}}, True),
    ],
)
def test_condition_semantics(text: str, document: object, holds: bool) -> None:
    assert (JsonCondition.parse(text).check(document) is None) is holds


INVALID = {
    "invalid-json-condition.yml": [
        '9: target "psp-adyen": assertions.json[1]: < needs a number on the right, got "fast"'
    ],
    "invalid-header-condition.yml": [
        '8: target "psp-adyen": assertions.headers[0]: expected an operator after '
        "'Content-Type': ==, !=, matches, not matches, exists, not exists"
    ],
    "invalid-body-regex.yml": [
        '7: target "psp-adyen": assertions.body_not_matches[0]: invalid regular expression '
        "'(unclosed': missing ), unterminated subpattern at position 0"
    ],
    "invalid-assertion-key.yml": [
        '7: target "psp-adyen": assertions: unknown key "body_match" (did you mean "body_matches"?)'
    ],
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_assertion_configs_point_at_the_line(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(TESTDATA / name)
    assert caught.value.problems == [f"{TESTDATA / name}:{line}" for line in INVALID[name]]
