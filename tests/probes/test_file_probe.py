"""The ``file`` probe against real files: backups with set modification times, timestamp
files a job writes, missing and odd files, and a real ``pitwatch run``."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools import REPO
from devtools.processes import wait_until
from pitwatch.probes.file import parse_timestamp
from pitwatch.reasons import Reason, file_failure
from pitwatch.result import Observation
from tests.support.hostprobes import Runner, check_config, problems, value
from tests.support.services import Pitwatch, promtool_check_metrics
from tests.support.targets import config_from, one_target, samples_of, write_config

HOUR = 3600.0
SECRET = "pa55w0rd-in-a-timestamp-file"


def backup(path: Path, size: int, age: float) -> Path:
    """A file of ``size`` bytes last modified ``age`` seconds ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    modified = time.time() - age
    os.utime(path, (modified, modified))
    return path


async def file_probe(tmp_path: Path, body: str) -> Observation:
    return await Runner(config_from(tmp_path, one_target(f"probe: file\n{body}"))).probe()


def measured(observation: Observation, family: str) -> float | None:
    return samples_of(observation).get((f"pitwatch_file_{family}", ()))


@dataclass(frozen=True)
class Newest:
    path: Path
    modified: float


@pytest.fixture
def dumps(tmp_path: Path) -> Newest:
    """Three nightly dumps, a directory and an unrelated file that are newer."""
    backups = tmp_path / "backups"
    backup(backups / "wallet-2026-11-20.dump", 5000, 50 * HOUR)
    backup(backups / "wallet-2026-11-21.dump", 4000, 26.5 * HOUR)
    newest = backup(backups / "wallet-2026-11-22.dump", 3072, 2 * HOUR)
    (backups / "wallet-partial.dump").mkdir()
    backup(backups / "other.txt", 1, 60)
    return Newest(newest, newest.stat().st_mtime)


async def test_newest_match_by_modification_time(tmp_path: Path, dumps: Newest) -> None:
    observation = await file_probe(tmp_path, "path: backups/wallet-*.dump")
    assert observation.result.success, observation.result.message
    assert measured(observation, "matches") == 3  # the directory is no file
    assert measured(observation, "modified_timestamp_seconds") == dumps.modified
    assert measured(observation, "size_bytes") == 3072
    assert measured(observation, "max_age_seconds") is None  # thresholds only when set
    assert measured(observation, "min_size_bytes") is None
    assert observation.result.details == (("file", str(dumps.path)),)


async def test_recursive_glob(tmp_path: Path) -> None:
    deepest = backup(tmp_path / "b" / "2026" / "11" / "22" / "kyc.tar.zst", 10, 60)
    backup(tmp_path / "b" / "2026" / "11" / "21" / "kyc.tar.zst", 10, 90000)
    observation = await file_probe(tmp_path, "path: 'b/**/*.tar.zst'")
    assert measured(observation, "matches") == 2
    assert observation.result.details == (("file", str(deepest)),)


async def test_thresholds_met(tmp_path: Path, dumps: Newest) -> None:
    observation = await file_probe(
        tmp_path, "path: backups/wallet-*.dump\nmax_age: 26h\nmin_size: 3KiB"
    )
    assert observation.result.success, observation.result.message
    assert measured(observation, "max_age_seconds") == 26 * HOUR
    assert measured(observation, "min_size_bytes") == 3072


async def test_too_old_and_too_small_is_assertion(tmp_path: Path, dumps: Newest) -> None:
    observation = await file_probe(tmp_path, "path: backups/wallet-*.dump\nmax_age: 1h")
    assert observation.result.reason is Reason.ASSERTION
    assert re.fullmatch(
        r"the newest file is 2h(\d+s)? old \(max_age 1h\)", observation.result.message
    ), observation.result.message
    observation = await file_probe(
        tmp_path, "path: backups/wallet-*.dump\nmax_age: 90m\nmin_size: 1GiB"
    )
    assert observation.result.reason is Reason.ASSERTION
    assert re.fullmatch(
        r"the newest file is 2h(\d+s)? old \(max_age 1h30m\); "
        r"the newest file has 3 KiB \(min_size 1 GiB\)",
        observation.result.message,
    ), observation.result.message
    assert observation.result.details == (
        ("file", str(dumps.path)),
        ("failed", "max_age, min_size"),
    )
    # The measurements and thresholds are exported on failure too, for the rules.
    assert measured(observation, "size_bytes") == 3072
    assert measured(observation, "max_age_seconds") == 90 * 60
    assert measured(observation, "min_size_bytes") == 2**30


async def test_no_match(tmp_path: Path) -> None:
    (tmp_path / "backups").mkdir()
    observation = await file_probe(tmp_path, "path: backups/*.dump\nmax_age: 1d")
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == f"no file matches {tmp_path}/backups/*.dump"
    assert measured(observation, "matches") == 0
    assert measured(observation, "modified_timestamp_seconds") is None
    assert measured(observation, "max_age_seconds") == 86400
    observation = await file_probe(tmp_path, "path: /mnt/backup-volume-not-mounted/*/x.dump")
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == "directory /mnt/backup-volume-not-mounted does not exist"


async def test_broken_symlinks_are_no_files(tmp_path: Path, dumps: Newest) -> None:
    (dumps.path.parent / "wallet-dangling.dump").symlink_to(tmp_path / "gone")
    (dumps.path.parent / "wallet-loop.dump").symlink_to(dumps.path.parent / "wallet-loop.dump")
    observation = await file_probe(tmp_path, "path: backups/wallet-*.dump")
    assert observation.result.success, observation.result.message
    assert measured(observation, "matches") == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("1795312800\n", 1795312800.0),
        ("  1795312800.25 ", 1795312800.25),
        ("2026-11-22T02:00:00Z", 1795312800.0),
        ("2026-11-22T03:00:00+01:00\n", 1795312800.0),
        ("2026-11-22 02:00:00.500+00:00", 1795312800.5),
    ],
)
async def test_timestamp_file(tmp_path: Path, content: str, expected: float) -> None:
    (tmp_path / "settlement.last").write_text(content)
    observation = await file_probe(tmp_path, "timestamp_file: settlement.last")
    assert observation.result.success, observation.result.message
    assert measured(observation, "modified_timestamp_seconds") == expected
    assert measured(observation, "matches") == 1
    assert measured(observation, "size_bytes") is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("2026-11-22T02:00:00", "the time has no zone (write e.g. 2026-11-22T02:00:00Z or Unix time)"),
        ("yesterday", "content is not a Unix time or an ISO 8601 time"),
        ("", "content is not a Unix time or an ISO 8601 time"),
        ("1795312800000", "the Unix time is too large (milliseconds? write seconds)"),
        (f"{SECRET}\n", "content is not a Unix time or an ISO 8601 time"),
    ],
)  # fmt: skip
async def test_timestamp_file_that_holds_no_time(
    tmp_path: Path, content: str, problem: str
) -> None:
    stamp = tmp_path / "settlement.last"
    stamp.write_text(content)
    observation = await file_probe(tmp_path, "timestamp_file: settlement.last")
    assert observation.result.reason is Reason.PROTOCOL
    assert observation.result.message == f"timestamp file {stamp}: {problem}"


async def test_timestamp_file_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "stamp").write_bytes(b"\xff\xfe1")
    observation = await file_probe(tmp_path, "timestamp_file: stamp")
    assert observation.result.reason is Reason.PROTOCOL
    assert observation.result.message == f"timestamp file {tmp_path}/stamp: invalid start byte"


async def test_timestamp_too_old_and_missing(tmp_path: Path) -> None:
    stamp = tmp_path / "settlement.last"
    stamp.write_text(f"{time.time() - 30 * HOUR:.0f}\n")
    observation = await file_probe(tmp_path, "timestamp_file: settlement.last\nmax_age: 26h")
    assert observation.result.reason is Reason.ASSERTION
    assert re.fullmatch(
        r"the timestamp is 1d6h(\d+s)? old \(max_age 1d2h\)", observation.result.message
    ), observation.result.message
    stamp.unlink()
    observation = await file_probe(tmp_path, "timestamp_file: settlement.last\nmax_age: 26h")
    assert observation.result.reason is Reason.ASSERTION
    assert observation.result.message == f"timestamp file {stamp} does not exist"
    assert measured(observation, "matches") == 0


async def test_unreadable_timestamp_files(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    observation = await file_probe(tmp_path, "timestamp_file: loop")
    assert observation.result.reason is Reason.CONNECT
    assert observation.result.message == (f"cannot read {loop}: too many levels of symbolic links")
    observation = await file_probe(tmp_path, f"timestamp_file: {tmp_path}")
    assert observation.result.reason is Reason.PROTOCOL
    assert observation.result.message == f"cannot read {tmp_path}: is a directory"


def test_error_translation() -> None:
    # Permission errors cannot be provoked as root (the suite runs as root in CI), so the
    # one translation point is checked with the errors the OS raises.
    cases = [
        (PermissionError(13, "Permission denied"), Reason.AUTH, "permission denied reading /b"),
        (OSError(5, "Input/output error"), Reason.CONNECT, "cannot read /b: input/output error"),
        (OSError(116, "Stale file handle"), Reason.CONNECT, "cannot read /b: stale file handle"),
        (IsADirectoryError(21, "Is a directory"), Reason.PROTOCOL, "cannot read /b: is a directory"),
    ]  # fmt: skip
    for error, reason, message in cases:
        failure = file_failure(error, "/b")
        assert (failure.reason, failure.message) == (reason, message)


def test_parse_timestamp_rejects_what_would_mislead() -> None:
    assert parse_timestamp("0") == 0.0
    with pytest.raises(ValueError, match="no zone"):
        parse_timestamp("2026-11-22")


def test_config_problems(tmp_path: Path) -> None:
    both = "probe: file\npath: a\ntimestamp_file: b"
    assert problems(tmp_path, one_target(both)) == [
        '7: target "t": a file probe needs exactly one of path or timestamp_file'
    ]
    assert problems(tmp_path, one_target("probe: file\nmax_age: 1d")) == [
        '7: target "t": a file probe needs exactly one of path or timestamp_file'
    ]
    assert problems(tmp_path, one_target("probe: file\ntimestamp_file: b\nmin_size: 1GiB")) == [
        '7: target "t": min_size applies to path; a timestamp file\'s size means nothing'
    ]
    assert problems(tmp_path, one_target("probe: file\npath: a\nmin_size: lots")) == [
        "11: target \"t\": min_size: invalid size 'lots': use bytes or a unit, e.g. 512KiB, "
        "4MiB, 1GB"
    ]
    assert problems(tmp_path, one_target("probe: file\npath: a\nmax_age: 26")) == [
        '11: target "t": max_age: duration 26 needs a unit, e.g. 26s'
    ]


def test_example_config_is_valid() -> None:
    result = check_config(REPO / "deploy" / "examples" / "file.yml")
    assert result.returncode == 0, result.stderr


def test_real_exporter(tmp_path: Path) -> None:
    backup(tmp_path / "dumps" / "wallet.dump", 2048, 3 * HOUR)
    (tmp_path / "settlement.last").write_text(f"{time.time() - 60:.0f}\n")
    config = write_config(
        tmp_path,
        """\
        global: {interval: 500ms, timeout: 400ms}
        host: {enabled: false}
        targets:
          - {name: wallet-dump, component: backup, probe: file, path: 'dumps/*.dump',
             max_age: 26h, min_size: 1GiB}
          - {name: settlement, component: backup, probe: file,
             timestamp_file: settlement.last, max_age: 1h}
        """,
    )
    with Pitwatch(tmp_path / "pw", config) as exporter:

        def probed() -> bool:
            text = exporter.metrics()
            return all(
                value(text, "pitwatch_probe_success", target=name) is not None
                for name in ("wallet-dump", "settlement")
            )

        wait_until(probed, 30, "both targets probed")
        text = exporter.metrics()
    assert value(text, "pitwatch_probe_success", target="wallet-dump") == 0  # too small
    assert value(text, "pitwatch_probe_errors_total", target="wallet-dump", reason="assertion")
    assert value(text, "pitwatch_file_size_bytes", target="wallet-dump") == 2048
    assert value(text, "pitwatch_file_min_size_bytes", target="wallet-dump") == 2**30
    assert value(text, "pitwatch_probe_success", target="settlement") == 1
    assert value(text, "pitwatch_file_max_age_seconds", target="settlement") == HOUR
    assert value(text, "pitwatch_file_min_size_bytes", target="settlement") is None
    assert promtool_check_metrics(text) == ""
