"""Field types and the parts every target shares: durations, ratios, labels, objectives,
maintenance windows and :class:`TargetBase`, which each prober's config model extends."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from pitwatch.durations import parse_duration
from pitwatch.labels import Component, check_label_name

TARGET_NAME = re.compile(r"[A-Za-z0-9_.-]+")
LABEL_VALUE_WORD = re.compile(r"[A-Za-z0-9_.-]+")
RESERVED_LABELS_KEY = "reserved_labels"
"""Validation-context key of the label names a config may not set (see :mod:`pitwatch.labels`)."""
BASE_DIR_KEY = "base_dir"
"""Validation-context key of the directory relative paths in the config are resolved against."""


class StrictModel(BaseModel):
    """Unknown keys are errors; loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def _duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a duration such as 500ms, 15s or 1m30s")
    raise ValueError(f"duration {value} needs a unit, e.g. {value}s")


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("duration must be greater than zero")
    return value


Duration = Annotated[float, BeforeValidator(_duration), AfterValidator(_positive)]
"""Seconds, written with a unit in YAML."""


def fraction_or_percent(value: object) -> object:
    """``"99.9%"`` -> 0.999; anything else is left for the field's own validation."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"invalid percentage {value!r}") from None
    return value


def _open_unit_interval(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError("must be between 0 and 1 (or 0% and 100%), exclusive")
    return value


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


def _byte_size(value: object) -> object:
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"invalid size {value!r}: use bytes or a unit, e.g. 512KiB, 4MiB, 1GB")
        return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    return value


ByteSize = Annotated[int, BeforeValidator(_byte_size), Field(ge=0)]
"""Bytes, written as a number or with a unit (``4MiB``, ``1GB``)."""

Ratio = Annotated[float, BeforeValidator(fraction_or_percent), AfterValidator(_open_unit_interval)]
"""A fraction in (0, 1), written as ``0.999`` or ``99.9%``."""


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


RegexText = Annotated[str, AfterValidator(_regex)]
"""A regular expression, checked when the config loads and kept as text."""


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    return info.context if isinstance(info.context, Mapping) else {}


def config_dir(info: ValidationInfo) -> Path:
    """The directory relative paths in the config are resolved against."""
    base = _context(info).get(BASE_DIR_KEY)
    return Path(base) if base is not None else Path.cwd()


def resolve_path(value: str, info: ValidationInfo) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else config_dir(info) / path


def _labels(value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    reserved = _context(info).get(RESERVED_LABELS_KEY)
    if not isinstance(reserved, frozenset):
        # Only the config loader knows every family's labels; a guess here would accept a
        # reserved name depending on what was imported first.
        raise RuntimeError("labels are validated by pitwatch.config, which passes the reserved set")
    for name in value:
        check_label_name(name, reserved)
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]


PERCENTILES = ("50", "90", "95", "99")
"""Latency percentiles an objective can use; the rule pack records each of these."""


def _percentile(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"latency_percentile must be one of {', '.join(PERCENTILES)}")
    try:
        text = f"{float(value):g}"
    except ValueError:
        text = str(value)
    if text not in PERCENTILES:
        raise ValueError(f"latency_percentile must be one of {', '.join(PERCENTILES)}, got {value}")
    return text


Percentile = Annotated[str, BeforeValidator(_percentile)]
"""``95`` (or ``95.0``), kept as the label value ``"95"``."""


class Objectives(StrictModel):
    """Service objectives; unset keys fall back to ``global.objectives`` and the tier defaults."""

    availability: Ratio | None = None
    latency: Duration | None = None
    latency_percentile: Percentile | None = None


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class MaintenanceWindow(StrictModel):
    """Either one-off (``start`` and ``end``, ISO 8601 with a zone) or weekly (``weekly`` days,
    ``at`` HH:MM local time in ``timezone``, ``duration``)."""

    start: datetime | None = None
    end: datetime | None = None
    weekly: tuple[Weekday, ...] | None = None
    at: str | None = None
    duration: Duration | None = None
    timezone: str = "UTC"
    reason: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        weekly = self.weekly is not None or self.at is not None or self.duration is not None
        if one_off == weekly:
            raise ValueError(
                "a maintenance window needs either start and end, or weekly, at and duration"
            )
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off maintenance window needs both start and end")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError(
                    "maintenance start and end need a time zone, e.g. 2026-11-22T02:00:00Z"
                )
            if self.end <= self.start:
                raise ValueError("maintenance end must be after start")
        else:
            if not self.weekly or self.at is None or self.duration is None:
                raise ValueError("a weekly maintenance window needs weekly, at and duration")
            if not _CLOCK.fullmatch(self.at):
                raise ValueError(f"at: expected HH:MM (quoted in YAML), got {self.at!r}")
            if self.duration > 7 * 86400:
                raise ValueError("a weekly maintenance window cannot last longer than a week")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self

    def active(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls inside this window."""
        if self.start is not None and self.end is not None:
            return self.start <= now < self.end
        assert self.weekly is not None and self.at is not None and self.duration is not None
        local = now.astimezone(ZoneInfo(self.timezone))
        hour, minute = (int(part) for part in self.at.split(":"))
        length = timedelta(seconds=self.duration)
        # A window that began up to 7 days ago may still be running (overnight, multi-day).
        for days_back in range(8):
            day = (local - timedelta(days=days_back)).date()
            if _WEEKDAYS[day.weekday()] not in self.weekly:
                continue
            begin = datetime(day.year, day.month, day.day, hour, minute, tzinfo=local.tzinfo)
            if begin <= local < begin + length:
                return True
        return False


def _target_name(name: str) -> str:
    if not TARGET_NAME.fullmatch(name):
        raise ValueError(f"target name {name!r} may only contain A-Z a-z 0-9 _ . -")
    return name


def _team(team: str) -> str:
    if not LABEL_VALUE_WORD.fullmatch(team):
        raise ValueError(
            f"team {team!r} must be a word of A-Z a-z 0-9 _ . - (Alertmanager routes on it)"
        )
    return team


class TargetBase(StrictModel):
    """What every target has, whatever its probe. Probe modules subclass it with
    ``probe: Literal["<kind>"]`` and their own keys."""

    name: Annotated[str, AfterValidator(_target_name)]
    component: Component
    tier: Literal[1, 2, 3] = 3
    team: Annotated[str, AfterValidator(_team)] = "platform"
    probe: str
    interval: Duration | None = None
    timeout: Duration | None = None
    labels: Labels = Field(default_factory=dict)
    objectives: Objectives | None = None
    maintenance: tuple[MaintenanceWindow, ...] = ()
    canary: bool = False
    description: str = ""


def utcnow() -> datetime:
    return datetime.now(UTC)
