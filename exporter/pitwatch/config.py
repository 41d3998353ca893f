"""The configuration: schema, defaults, cross-checks, and the one loader ``run``,
``check-config`` and reload share.

Loading collects every problem before giving up and reports each as ``FILE:LINE: message``
(see :class:`ConfigError`). A loaded :class:`Config` is immutable; a reload builds a new
one and swaps it in only when it is valid.
"""

from __future__ import annotations

import asyncio
import copy
import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from pitwatch.config_types import (
    BASE_DIR_KEY,
    RESERVED_LABELS_KEY,
    Duration,
    Labels,
    MaintenanceWindow,
    Percentile,
    Ratio,
    RegexText,
    StrictModel,
    TargetBase,
)
from pitwatch.durations import format_duration
from pitwatch.families import reserved_label_names
from pitwatch.labels import TARGET_LABELS, Component
from pitwatch.probes import PROBES, ProbeKind
from pitwatch.secrets import Secret, find_secrets
from pitwatch.yaml_source import (
    MAX_DOCUMENT_BYTES,
    LocatedData,
    Path_,
    YamlError,
    decode,
    load_located,
)

_M = TypeVar("_M", bound=BaseModel)

DEFAULT_TIMEOUT = 5.0
DEFAULT_PROBE_MIN_INTERVAL = 1.0
"""``/probe`` probes one target at most once a second by default (pitwatch.ondemand)."""
DEFAULT_TIMEOUT_SHARE = 0.8
"""Without an explicit timeout a probe gets min(5s, 80% of its interval)."""

DEFAULT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEFAULT_AVAILABILITY = {1: 0.9995, 2: 0.999, 3: 0.995}
"""Tier 1 may be down 22 min a month, tier 2 43 min, tier 3 3.6 h (see docs/alerting.md)."""


def _tier_availability() -> dict[Literal[1, 2, 3], float]:
    return {1: DEFAULT_AVAILABILITY[1], 2: DEFAULT_AVAILABILITY[2], 3: DEFAULT_AVAILABILITY[3]}


class GlobalObjectives(StrictModel):
    availability: dict[Literal[1, 2, 3], Ratio] = Field(default_factory=_tier_availability)
    latency: Duration = 1.0
    latency_percentile: Percentile = "95"


class GlobalConfig(StrictModel):
    interval: Duration = 15.0
    timeout: Duration | None = None
    labels: Labels = Field(default_factory=dict)
    max_concurrency: int = Field(default=256, ge=1, le=100_000)
    probe_min_interval: Duration = DEFAULT_PROBE_MIN_INTERVAL
    """``/probe`` probes one target at most once per this; sooner requests get the last result."""
    latency_buckets: tuple[float, ...] = DEFAULT_BUCKETS
    objectives: GlobalObjectives = Field(default_factory=GlobalObjectives)

    @field_validator("latency_buckets")
    @classmethod
    def _ascending(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= 0 for b in value) or list(value) != sorted(set(value)):
            raise ValueError("latency_buckets must be positive and strictly ascending ([] = off)")
        return value


_PSEUDO_MOUNTS = r"^/(dev|proc|sys|run|snap|var/lib/docker|var/lib/containers|var/lib/kubelet)($|/)"


class HostConfig(StrictModel):
    enabled: bool = True
    interval: Duration | None = None
    include_fstypes: tuple[str, ...] = ()
    """Filesystem types reported besides real disks, e.g. ``[overlay, tmpfs]`` in a container."""
    exclude_mountpoints: RegexText = _PSEUDO_MOUNTS


class SharedMaintenance(StrictModel):
    """Maintenance for whole components or for a list of targets."""

    components: tuple[Component, ...] = ()
    targets: tuple[str, ...] = ()
    windows: tuple[MaintenanceWindow, ...]


class _Document(StrictModel):
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    host: HostConfig = Field(default_factory=HostConfig)
    maintenance: tuple[SharedMaintenance, ...] = ()
    targets: list[Any] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Target:
    """A target as the scheduler runs it: its spec plus every default resolved."""

    spec: TargetBase
    kind: ProbeKind
    interval: float
    timeout: float
    labels: tuple[tuple[str, str], ...]
    """All labels of its series, in order: target, component, tier, team, global, own."""
    objective_ratio: float
    latency_objective: float
    latency_percentile: str
    """``"95"`` and the like: the ``percentile`` label of the latency objective."""
    maintenance: tuple[MaintenanceWindow, ...]
    latency_buckets: tuple[float, ...]
    secrets: tuple[Secret, ...]

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class Config:
    source: Path | None
    global_: GlobalConfig
    host: HostConfig
    targets: tuple[Target, ...]
    checksum: str

    def target(self, name: str) -> Target | None:
        for target in self.targets:
            if target.name == name:
                return target
        return None


class ConfigError(Exception):
    """Every problem found in a config, each already formatted as ``FILE:LINE: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def default_config() -> Config:
    """The built-in config of ``pitwatch run`` without ``--config``: host metrics only."""
    return _build(_Document(), (), None, "builtin")


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve ``path``; raises :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
        text = decode(data)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
    except YamlError as exc:
        raise ConfigError([f"{path}:{exc.line or 1}: {exc.message}"]) from None
    return parse_config(text, path)


RELOAD_SECONDS = 30.0
"""A reload whose loading takes longer is rejected (the loader's limits make that rare)."""


async def load_config_off_loop(path: Path, seconds: float = RELOAD_SECONDS) -> Config:
    """:func:`load_config` in a worker thread, so probing and ``/metrics`` go on meanwhile;
    a load still running after ``seconds`` is a :class:`ConfigError`."""
    try:
        async with asyncio.timeout(seconds):
            return await asyncio.to_thread(load_config, path)
    except TimeoutError:
        raise ConfigError(
            [f"{path}: loading took longer than {format_duration(seconds)}: is the file huge?"]
        ) from None


def parse_config(text: str, path: Path) -> Config:
    try:
        located = load_located(text)
    except YamlError as exc:
        raise ConfigError([f"{path}:{exc.line or 1}: {exc.message}"]) from None
    problems = _Problems(path, located)
    for yaml_problem in located.problems:
        problems.add_line(yaml_problem.line or 1, yaml_problem.message)
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config must be a mapping with targets, global, host"])

    # pitwatch.probes is imported above: every family, so every reserved label, is known.
    context = {BASE_DIR_KEY: path.parent.resolve(), RESERVED_LABELS_KEY: reserved_label_names()}
    document = _validate(_Document, data, (), context, problems)
    specs: list[tuple[int, TargetBase]] = []
    items = data.get("targets")
    for index, item in enumerate(items if isinstance(items, list) else []):
        spec = _validate_target(item, index, context, problems)
        if spec is not None:
            specs.append((index, spec))
    _cross_check(document, specs, problems)
    if problems:
        raise ConfigError(problems.sorted())
    assert document is not None
    checksum = hashlib.sha256(text.encode()).hexdigest()
    return _build(document, tuple(spec for _, spec in specs), path, checksum)


class _Problems:
    def __init__(self, path: Path, located: LocatedData) -> None:
        self.path = path
        self.located = located
        self._items: list[tuple[int, str]] = []
        self.target_names: dict[int, str] = {}

    def __bool__(self) -> bool:
        return bool(self._items)

    def add_line(self, line: int, message: str) -> None:
        entry = (line, f"{self.path}:{line}: {message}")
        if entry not in self._items:
            self._items.append(entry)

    def add(self, loc: Path_, text: str, shown: Path_ | None = None) -> None:
        """Report ``text`` at the line of ``loc``, introduced by the path ``shown`` (default
        ``loc``): ``target "x": objectives.latency: ...`` or ``global.interval: ...``."""
        shown = loc if shown is None else shown
        if len(shown) >= 2 and shown[0] == "targets" and isinstance(shown[1], int):
            name = self.target_names.get(shown[1])
            where = f'target "{name}"' if name else f"targets[{shown[1]}]"
            inner = _dotted(shown[2:])
            prefix = f"{where}: {inner}: " if inner else f"{where}: "
        else:
            prefix = f"{_dotted(shown)}: " if shown else ""
        self.add_line(self.located.line_of(loc), prefix + text)

    def sorted(self) -> list[str]:
        return [message for _, message in sorted(self._items, key=lambda item: item[0])]


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validate(
    model: type[_M],
    data: Any,
    loc: Path_,
    context: dict[str, Any],
    problems: _Problems,
    *,
    probe: str | None = None,
) -> _M | None:
    """``data`` as ``model``, every problem reported. A second pass without the unknown keys
    finds what they hid (a model's own checks run only once its keys are known), so one run
    shows every problem; its model is returned for the cross-checks, though the load fails."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors()
    except Exception as exc:
        problems.add(loc, _unexpected(exc))
        return None
    for error in errors:
        _report(model, error, loc, problems, probe)
    unknown = [error["loc"] for error in errors if error["type"] == "extra_forbidden"]
    if not unknown:
        return None
    cleaned = copy.deepcopy(data)
    for key_path in unknown:
        _drop(cleaned, key_path)
    try:
        return model.model_validate(cleaned, context=context)
    except ValidationError as exc:
        for error in exc.errors():
            _report(model, error, loc, problems, probe)
    except Exception as exc:
        problems.add(loc, _unexpected(exc))
    return None


def _unexpected(exc: Exception) -> str:
    """A check that failed in a way its author did not foresee, as one message."""
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if exc.filename else ""
        return f"cannot check{name[:200]}: {exc.strerror or exc}"
    return f"cannot check this value: {type(exc).__name__}: {str(exc)[:200]}"


def _drop(data: Any, key_path: Sequence[str | int]) -> None:
    *parents, last = key_path
    for part in parents:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, dict):
        data.pop(last, None)


def _validate_target(
    item: Any, index: int, context: dict[str, Any], problems: _Problems
) -> TargetBase | None:
    loc: Path_ = ("targets", index)
    if not isinstance(item, dict):
        problems.add(loc, "each target must be a mapping with name, component, probe, ...")
        return None
    if isinstance(item.get("name"), str):
        problems.target_names[index] = item["name"]
    kind_name = item.get("probe")
    if kind_name is None:
        problems.add(loc, f'missing required key "probe" (one of: {", ".join(PROBES)})')
        return None
    kind = PROBES.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        problems.add(
            (*loc, "probe"), f'unknown probe kind "{kind_name}" (known: {", ".join(PROBES)})'
        )
        return None
    spec = _validate(kind.config, item, loc, context, problems, probe=kind.name)
    if spec is not None and kind.check is not None:
        for key, message in kind.check(spec):
            problems.add((*loc, key), message)
    return spec


def _report(
    model: type[BaseModel],
    error: ErrorDetails,
    base: Path_,
    problems: _Problems,
    probe: str | None = None,
) -> None:
    inner = tuple(
        "global" if part == "global_" else part
        for part in error["loc"]
        if isinstance(part, (str, int))
    )
    loc = (*base, *inner)
    kind = error["type"]
    if kind == "extra_forbidden" and inner:
        key = str(inner[-1])
        hint = _suggest(model, inner[:-1], key)
        problems.add(loc, f'unknown key "{key}"{hint}', loc[:-1])
    elif kind == "missing" and inner:
        suffix = f" for probe {probe}" if probe and len(inner) == 1 else ""
        problems.add(loc, f'missing required key "{inner[-1]}"{suffix}', loc[:-1])
    else:
        problems.add(loc, _error_text(error))


def _error_text(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {error['input']!r}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"]).replace("Input should", "should")


def _suggest(model: type[BaseModel], loc: Sequence[str | int], key: str) -> str:
    fields = _fields_at(model, loc)
    match = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
    return f' (did you mean "{match[0]}"?)' if match else ""


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part) or current.model_fields.get(f"{part}_")
        current = _model_in(info.annotation) if info is not None else None
    if current is None:
        return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _effective_timing(spec: TargetBase, global_: GlobalConfig) -> tuple[float, float]:
    interval = spec.interval or global_.interval
    timeout = spec.timeout or global_.timeout
    if timeout is None:
        timeout = min(DEFAULT_TIMEOUT, DEFAULT_TIMEOUT_SHARE * interval)
    return interval, timeout


def _cross_check(
    document: _Document | None, specs: list[tuple[int, TargetBase]], problems: _Problems
) -> None:
    # Names as written, so a target that failed validation still counts for duplicates.
    first_seen: dict[str, int] = {}
    for index, name in sorted(problems.target_names.items()):
        loc: Path_ = ("targets", index)
        if name in first_seen:
            line = problems.located.line_of(("targets", first_seen[name], "name"))
            problems.add(
                (*loc, "name"), f"duplicate target name, first defined on line {line}", loc
            )
        else:
            first_seen[name] = index
    if document is None:  # the rest needs the global settings, which are reported already
        return
    for index, spec in specs:
        loc = ("targets", index)
        interval, timeout = _effective_timing(spec, document.global_)
        inherited = spec.timeout is None and spec.interval is None
        if timeout >= interval and not inherited:
            key = "timeout" if spec.timeout is not None else "interval"
            problems.add(
                (*loc, key),
                f"timeout {format_duration(timeout)} must be shorter than interval "
                f"{format_duration(interval)}",
                loc,
            )
    global_ = document.global_
    if global_.timeout is not None and global_.timeout >= global_.interval:
        problems.add(
            ("global", "timeout"),
            f"timeout {format_duration(global_.timeout)} must be shorter than interval "
            f"{format_duration(global_.interval)}",
            ("global",),
        )
    # Names of targets that failed validation count too: one mistake, one message.
    known = set(first_seen)
    for index, shared in enumerate(document.maintenance):
        for position, name in enumerate(shared.targets):
            if name not in known:
                problems.add(
                    ("maintenance", index, "targets", position),
                    f'maintenance names unknown target "{name}"',
                )


def _build(
    document: _Document, specs: tuple[TargetBase, ...], source: Path | None, checksum: str
) -> Config:
    global_ = document.global_
    targets = []
    for spec in specs:
        interval, timeout = _effective_timing(spec, global_)
        own = spec.objectives
        availability = (own.availability if own else None) or global_.objectives.availability.get(
            spec.tier, DEFAULT_AVAILABILITY[spec.tier]
        )
        latency = (own.latency if own else None) or global_.objectives.latency
        percentile = (
            own.latency_percentile if own else None
        ) or global_.objectives.latency_percentile
        labels = {
            "target": spec.name,
            "component": spec.component,
            "tier": str(spec.tier),
            "team": spec.team,
        }
        labels.update(global_.labels)
        labels.update(spec.labels)
        windows = list(spec.maintenance)
        for shared in document.maintenance:
            if spec.component in shared.components or spec.name in shared.targets:
                windows.extend(shared.windows)
        targets.append(
            Target(
                spec=spec,
                kind=PROBES[spec.probe],
                interval=interval,
                timeout=timeout,
                labels=tuple(labels.items()),
                objective_ratio=availability,
                latency_objective=latency,
                latency_percentile=percentile,
                maintenance=tuple(windows),
                latency_buckets=global_.latency_buckets,
                secrets=tuple(find_secrets(spec)),
            )
        )
    return Config(source, global_, document.host, tuple(targets), checksum)


__all__ = [
    "TARGET_LABELS",
    "Config",
    "ConfigError",
    "GlobalConfig",
    "HostConfig",
    "Target",
    "default_config",
    "load_config",
    "parse_config",
]
