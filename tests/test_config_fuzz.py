"""Configs that cannot hurt: generated hostile configs (``tests.support.config_fuzz``) each end
accepted or rejected with located messages, never a traceback, a hang or a message without
its line; and the attacks the issue names, one by one, each get one ``FILE:LINE: message``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitwatch.config import ConfigError, load_config
from pitwatch.yaml_source import ALIAS_ALLOWANCE, MAX_DEPTH, MAX_DOCUMENT_BYTES
from tests.support.config_fuzz import Tally, prepare, run_fuzz

IN_SUITE_EXAMPLES = 250
"""Enough to cover every mutation kind each run; bench/fuzz_config.py runs thousands."""


def test_generated_hostile_configs_never_crash_hang_or_lose_their_line(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = prepare(tmp_path_factory.mktemp("fuzz"))
    tally = Tally()

    run_fuzz(directory, IN_SUITE_EXAMPLES, tally)
    assert tally.defects == []
    assert sum(tally.counts.values()) == IN_SUITE_EXAMPLES
    assert tally.counts["rejected"] > 0


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"targets: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
            f"1: nested deeper than {MAX_DEPTH} levels",
        ),
        (
            "".join(f"{' ' * level}k{level}:\n" for level in range(MAX_DEPTH + 1)).encode(),
            f"{MAX_DEPTH}: nested deeper than {MAX_DEPTH} levels",
        ),
        (b"targets: &a [*a]\n", "1: this collection holds an alias of itself (a cycle)"),
        (b"global:\n  max_concurrency: " + b"9" * 5000 + b"\n", "2: number has too many digits"),
        (b"global:\n  interval: " + b"9" * 40 + b"s\n", "2: global.interval: invalid duration"),
        (b"# fine\n\n  \xff\n", "3: byte 0xff in column 3 is not UTF-8 text"),
        (b"a: 1\n---\nb: 2\n", "2: a second YAML document (---): the config is one document"),
        (b"a: b: c\n", "1: a second colon on this line"),
        (b"a: [1, 2\nb: 3\n", "2: a [ list ] is not closed, or its items lack commas"),
        (b"a: *nowhere\n", "1: alias *nowhere names no anchor"),
    ],
)
def test_each_attack_is_one_located_message(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "pitwatch.yml"
    path.write_bytes(content)
    problems = _problems(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{message}"), problems


def test_aliases_may_expand_in_proportion_to_the_document(tmp_path: Path) -> None:
    """``<<: *defaults`` in every target of a large config is normal use, not a bomb."""
    targets = "".join(f"  - {{<<: *d, name: t{index}}}\n" for index in range(2_000))
    path = tmp_path / "pitwatch.yml"
    path.write_text(
        f"defaults: &d {{component: api, probe: tcp, address: '127.0.0.1:1'}}\ntargets:\n{targets}"
    )
    problems = _problems(path)  # "defaults" is not a config key: the aliases themselves load
    assert problems == [f'{path}:1: unknown key "defaults"'], problems[:3]
    assert ALIAS_ALLOWANCE > 2_000 * 4


def test_over_long_file_names_are_a_message(tmp_path: Path) -> None:
    name = "n" * 5000
    path = tmp_path / "pitwatch.yml"
    path.write_text(
        "targets:\n"
        "  - name: psp\n    component: payment_gateway\n    probe: http\n"
        "    url: https://psp.example.com/\n"
        f"    tls: {{ca_file: {name}}}\n"
        "    auth: {basic: {username: probe, password_file: " + name + "}}\n"
    )
    problems = _problems(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f'{path}:2: target "psp": cannot check '), problems
    assert problems[0].endswith(": File name too long"), problems
    assert len(problems[0]) < 400


def test_an_oversized_document_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "pitwatch.yml"
    with path.open("wb") as handle:
        handle.write(b"# " + b"x" * (MAX_DOCUMENT_BYTES + 10) + b"\n")
    assert _problems(path) == [f"{path}:1: the config is larger than 32 MiB"]
