"""The ``file`` prober: did the backup or batch job write its file, recently and big enough?

Either ``path`` is a glob and the newest regular file matching it (by modification time)
is checked, or ``timestamp_file`` names a file a job writes when it finishes, holding a
Unix time (``date +%s``) or an ISO 8601 time with a zone (``date -Iseconds``).

Reasons: nothing matching (or no timestamp file) and a failed ``max_age``/``min_size`` are
``assertion``, the thing checked is not as it should be; a timestamp file whose content is
no time is ``protocol``; permission denied is ``auth``; any other I/O error (``EIO`` or
``ESTALE`` from a dead network mount) is ``connect``. Paths are config, not secrets, so
messages name them; a timestamp file's content is never shown.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import stat
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationInfo, field_validator, model_validator

from pitwatch.config_types import ByteSize, Duration, TargetBase, resolve_path
from pitwatch.durations import format_duration
from pitwatch.families import Family, register
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._threads import run_blocking
from pitwatch.reasons import ProbeFailure, Reason, file_failure, translated
from pitwatch.result import Passed, ProbeContext, Sample

_TIMESTAMP_READ_LIMIT = 256
_MAX_UNIX_SECONDS = 1e11
"""Year 5138: a bigger number is almost surely milliseconds, which would read as fresh forever."""
_UNIX_TIME = re.compile(r"\d+(?:\.\d+)?")

FILE_MODIFIED = register(
    Family(
        "pitwatch_file_modified_timestamp_seconds",
        "gauge",
        "Unix time the newest matching file was modified (or the time a timestamp file holds), "
        "in the last probe; its age is time() minus this.",
    )
)
FILE_SIZE = register(
    Family(
        "pitwatch_file_size_bytes",
        "gauge",
        "Size of the newest matching file in the last probe, in bytes.",
    )
)
FILE_MATCHES = register(
    Family(
        "pitwatch_file_matches",
        "gauge",
        "Regular files matching the glob in the last probe (1 or 0 for a timestamp file).",
    )
)
FILE_MAX_AGE = register(
    Family(
        "pitwatch_file_max_age_seconds",
        "gauge",
        "Configured max_age: the newest file may be at most this old, in seconds.",
    )
)
FILE_MIN_SIZE = register(
    Family(
        "pitwatch_file_min_size_bytes",
        "gauge",
        "Configured min_size: the newest file must be at least this big, in bytes.",
    )
)


class FileTarget(TargetBase):
    probe: Literal["file"]
    path: str | None = None
    """Glob of the files (``*``, ``?``, ``[...]``, ``**`` for any depth), relative to the
    config file's directory."""
    timestamp_file: str | None = None
    """A file holding the Unix or ISO 8601 time a job last finished."""
    max_age: Duration | None = None
    min_size: ByteSize | None = None

    @field_validator("path", "timestamp_file")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be empty")
        return str(resolve_path(value, info))

    @model_validator(mode="after")
    def _one_source(self) -> FileTarget:
        if (self.path is None) == (self.timestamp_file is None):
            raise ValueError("a file probe needs exactly one of path or timestamp_file")
        if self.timestamp_file is not None and self.min_size is not None:
            raise ValueError("min_size applies to path; a timestamp file's size means nothing")
        return self


@dataclass(frozen=True, slots=True)
class Found:
    """What the last look found: the newest file (if any) and how many matched."""

    matches: int
    newest: str | None = None
    modified: float | None = None
    size: int | None = None


def newest_match(pattern: str) -> Found:
    """The newest regular file matching ``pattern``; raises :class:`ProbeFailure`."""
    best: tuple[float, str, int] | None = None
    count = 0
    with _translated(pattern):
        for name in glob.iglob(pattern, recursive=True):
            try:
                info = os.stat(name)
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed since the listing, or a dangling symlink
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    continue  # a symlink loop is no file
                raise
            if not stat.S_ISREG(info.st_mode):
                continue
            count += 1
            if best is None or (info.st_mtime, name) > best[:2]:
                best = (info.st_mtime, name, info.st_size)
        if best is None:
            _explain_no_match(pattern)
            return Found(count)
    return Found(count, best[1], best[0], best[2])


def _explain_no_match(pattern: str) -> None:
    """Raise the most useful reason nothing matched (the glob itself stays silent about a
    missing or unreadable directory)."""
    root = _fixed_root(pattern)
    if not root.exists():
        raise ProbeFailure(Reason.ASSERTION, f"directory {root} does not exist")
    if root.is_dir():
        try:
            os.listdir(root)
        except PermissionError:
            raise ProbeFailure(Reason.AUTH, f"permission denied listing {root}") from None
    raise ProbeFailure(Reason.ASSERTION, f"no file matches {pattern}")


def _fixed_root(pattern: str) -> Path:
    """The deepest directory of ``pattern`` without glob characters."""
    root = Path(pattern).parent
    while glob.has_magic(str(root)):
        root = root.parent
    return root


def read_timestamp(path: str) -> Found:
    """The time a timestamp file holds; raises :class:`ProbeFailure`."""
    with _translated(path):
        try:
            with open(path, "rb") as handle:
                content = handle.read(_TIMESTAMP_READ_LIMIT)
        except FileNotFoundError:
            raise ProbeFailure(Reason.ASSERTION, f"timestamp file {path} does not exist") from None
    try:
        return Found(1, path, parse_timestamp(content.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:
        detail = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise ProbeFailure(Reason.PROTOCOL, f"timestamp file {path}: {detail}") from None


def parse_timestamp(text: str) -> float:
    """Unix seconds from ``1700000000``, ``1700000000.25`` or ISO 8601 with a zone."""
    text = text.strip()
    if _UNIX_TIME.fullmatch(text):
        value = float(text)
        if value > _MAX_UNIX_SECONDS:
            raise ValueError("the Unix time is too large (milliseconds? write seconds)")
        return value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("content is not a Unix time or an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError("the time has no zone (write e.g. 2026-11-22T02:00:00Z or Unix time)")
    return moment.timestamp()


def _translated(path: str) -> translated:
    """Turns any file-system error inside the block into a :class:`ProbeFailure`."""
    return translated(lambda exc: file_failure(exc, path) if isinstance(exc, OSError) else None)


def _threshold_samples(target: FileTarget) -> tuple[Sample, ...]:
    samples = []
    if target.max_age is not None:
        samples.append(Sample(FILE_MAX_AGE, target.max_age))
    if target.min_size is not None:
        samples.append(Sample(FILE_MIN_SIZE, target.min_size))
    return tuple(samples)


def _samples(target: FileTarget, found: Found) -> tuple[Sample, ...]:
    samples = [Sample(FILE_MATCHES, found.matches)]
    if found.modified is not None:
        samples.append(Sample(FILE_MODIFIED, found.modified))
    if found.size is not None:
        samples.append(Sample(FILE_SIZE, found.size))
    return (*samples, *_threshold_samples(target))


def check_thresholds(target: FileTarget, found: Found, now: float) -> list[tuple[str, str]]:
    """``[(key, what is wrong), ...]`` for every threshold the newest file misses."""
    failed = []
    what = "the timestamp" if target.timestamp_file is not None else "the newest file"
    if target.max_age is not None and found.modified is not None:
        age = now - found.modified
        if age > target.max_age:
            failed.append(
                (
                    "max_age",
                    f"{what} is {format_duration(round(age))} old (max_age "
                    f"{format_duration(target.max_age)})",
                )
            )
    if target.min_size is not None and found.size is not None and found.size < target.min_size:
        failed.append(
            (
                "min_size",
                f"{what} has {human_bytes(found.size)} (min_size {human_bytes(target.min_size)})",
            )
        )
    return failed


def human_bytes(size: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


async def probe(target: FileTarget, ctx: ProbeContext) -> Passed:
    source = target.path or target.timestamp_file
    assert source is not None
    ctx.step = f"looking at {source}"
    ctx.samples = _threshold_samples(target)  # what a look cut short by the deadline leaves
    look = newest_match if target.path is not None else read_timestamp
    try:
        found = await run_blocking(ctx.state, source, lambda: look(source))
    except ProbeFailure:
        ctx.samples = _samples(target, Found(0))
        raise
    ctx.samples = _samples(target, found)
    failed = check_thresholds(target, found, time.time())
    details: tuple[tuple[str, str], ...] = (("file", found.newest or source),)
    if failed:
        details += (("failed", ", ".join(key for key, _ in failed)),)
        raise ProbeFailure(Reason.ASSERTION, "; ".join(text for _, text in failed), details)
    return Passed("", details)


KIND = ProbeKind("file", FileTarget, probe)
