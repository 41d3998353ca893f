"""The ``flow`` prober: ordered HTTP steps sharing one session (cookies), where later steps
use what earlier ones captured, e.g. login -> launch URL -> lobby asset.

- **Placeholders** ``{{ name }}`` in a step's ``url``, header values and ``body`` take a
  value captured by an earlier step, or a built-in: ``uuid`` (one random UUID per run,
  for idempotency keys and order references) and ``unix_time``. Values go in as they are.
  The syntax differs from ``${ENV}`` on purpose: config secrets are filled in when the
  config loads, captures while the flow runs.
- **Captures** (``capture: {token: json access_token}``) read ``json PATH``,
  ``header NAME``, ``cookie NAME`` or ``regex PATTERN`` (its first group) from the answer.
  Captured values are secrets: they never appear in a message, a detail or a timeout note.
- **Time**: step *n* must be done when the shares of steps 1..n of the timeout have passed
  since the flow began (``timeout_share``, by default the unset shares split evenly), so a
  fast step leaves its time to the next, and a hanging one cannot eat later steps' time.
- **Series**: every step always reports ``pitwatch_flow_step_success`` and
  ``pitwatch_flow_step_duration_seconds`` (0 and 0 for a step that did not run), so the
  series stay stable; the ``step`` label is the configured step name.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self

import aiohttp
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from pitwatch.config_types import TargetBase, fraction_or_percent
from pitwatch.durations import format_duration
from pitwatch.families import Family, register
from pitwatch.probes._assertions import ResponseView, judge
from pitwatch.probes._auth import AUTH_CONFLICT, authorization_key, send_authorised
from pitwatch.probes._client import (
    ClientOptions,
    Request,
    Timings,
    check_url,
    open_session,
)
from pitwatch.probes._hidden import SecretHeaders
from pitwatch.probes._jsonpath import JsonPath, parse_whole_path
from pitwatch.probes._kind import ProbeKind
from pitwatch.probes._located import error_at
from pitwatch.probes._request import RequestSpec
from pitwatch.probes._tls import expiry_sample
from pitwatch.reasons import ProbeFailure, Reason
from pitwatch.result import Passed, ProbeContext, Sample

FLOW_STEP_DURATION = register(
    Family(
        "pitwatch_flow_step_duration_seconds",
        "gauge",
        "Time each step of the last flow probe took, in seconds; 0 for a step that did not run.",
        ("step",),
    )
)
FLOW_STEP_SUCCESS = register(
    Family(
        "pitwatch_flow_step_success",
        "gauge",
        "1 if the step passed in the last flow probe, 0 if it failed or did not run.",
        ("step",),
    )
)

BUILTINS = ("uuid", "unix_time")
MAX_STEPS = 20
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STEP_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


# -- placeholders --------------------------------------------------------------------------
def placeholders(text: str) -> list[str]:
    """The names used in ``text``; raises ValueError on a ``{{`` that is not one."""
    names = []
    position = text.find("{{")
    while position >= 0:
        match = _PLACEHOLDER.match(text, position)
        if not match:
            raise ValueError(
                f"malformed placeholder at {text[position : position + 20]!r}: "
                "write {{ name }} with a name of letters, digits and _"
            )
        names.append(match.group(1))
        position = text.find("{{", match.end())
    return names


def fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


# -- captures ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Capture:
    """Where a step's value comes from: ``json PATH``, ``header NAME``, ``cookie NAME`` or
    ``regex PATTERN`` (the first group, or the whole match without groups)."""

    text: str
    source: Literal["json", "header", "cookie", "regex"] = field(compare=False)
    path: JsonPath | None = field(default=None, compare=False)
    name: str = field(default="", compare=False)
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str) -> Capture:
        source, _, rest = text.strip().partition(" ")
        rest = rest.strip()
        if source == "json" and rest:
            return cls(text.strip(), "json", path=parse_whole_path(rest))
        if source == "header" and _HEADER_NAME.fullmatch(rest):
            return cls(text.strip(), "header", name=rest)
        if source == "cookie" and _HEADER_NAME.fullmatch(rest):
            return cls(text.strip(), "cookie", name=rest)
        if source == "regex" and rest:
            try:
                return cls(text.strip(), "regex", pattern=re.compile(rest))
            except re.error as exc:
                raise ValueError(f"invalid regular expression {rest!r}: {exc}") from None
        raise ValueError(
            'a capture is "json PATH", "header NAME", "cookie NAME" or "regex PATTERN", '
            f"got {text!r}"
        )

    def read(self, view: ResponseView, cookies: aiohttp.abc.AbstractCookieJar) -> str | None:
        """The captured text, or ``None`` when the answer does not have it."""
        if self.source == "json":
            assert self.path is not None
            parsed, document = view.json()
            found, value = self.path.resolve(document) if parsed else (False, None)
            if not found or value is None:
                return None
            return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if self.source == "header":
            return view.response.headers.get(self.name)
        if self.source == "cookie":
            return next((c.value for c in cookies if c.key == self.name), None)
        assert self.pattern is not None
        match = self.pattern.search(view.text)
        if match is None:
            return None
        return match.group(1) if self.pattern.groups else match.group(0)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> Capture:
            if not isinstance(value, str):
                raise ValueError('a capture is one line of text, e.g. "json access_token"')
            return cls.parse(value)

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda c: c.text),
        )


# -- config --------------------------------------------------------------------------------
def _share_range(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError("timeout_share must be more than 0 and at most 1 (100%)")
    return value


Share = Annotated[float, BeforeValidator(fraction_or_percent), AfterValidator(_share_range)]


class FlowStep(RequestSpec):
    name: str
    """Becomes the ``step`` label: keep it short and fixed."""
    url: str
    capture: dict[str, Capture] = Field(default_factory=dict)
    timeout_share: Share | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _STEP_NAME.fullmatch(value) or len(value) > 64:
            raise ValueError(
                f"step name {value!r} must be up to 64 of A-Z a-z 0-9 _ . - (it is a label value)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        placeholders(value)
        if not value.lstrip().startswith("{{"):
            # A captured value may be the whole URL (a launch URL); otherwise check the
            # fixed part now, with stand-ins for the placeholders.
            check_url(_PLACEHOLDER.sub("x", value))
        return value

    @field_validator("capture")
    @classmethod
    def _capture_names(cls, value: dict[str, Capture]) -> dict[str, Capture]:
        for name in value:
            if not _VARIABLE.fullmatch(name):
                raise ValueError(f"capture name {name!r} must be letters, digits and _")
            if name in BUILTINS:
                raise ValueError(f"capture name {name!r} is built in: choose another")
        return value

    def templates(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every text that may hold placeholders, with its place in the config."""
        found: list[tuple[tuple[str | int, ...], str]] = [(("url",), self.url)]
        found += [(("headers", key), value.reveal()) for key, value in self.headers.items()]
        if self.body is not None:
            found.append((("body",), self.body.reveal()))
        return found


class FlowTarget(TargetBase, ClientOptions):
    probe: Literal["flow"]
    headers: SecretHeaders = Field(default_factory=dict)
    """Sent with every step (a step's own header of the same name wins); no placeholders."""
    steps: tuple[FlowStep, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Counted here, not with min_length: pydantic would add "too short" to every
        # error inside the only step.
        if not 1 <= len(self.steps) <= MAX_STEPS:
            raise error_at(
                "FlowTarget", ("steps",), f"a flow has 1 to {MAX_STEPS} steps", len(self.steps)
            )
        for key, value in self.headers.items():
            if "{{" in value.reveal():
                raise error_at(
                    "FlowTarget",
                    ("headers", key),
                    "flow-wide headers cannot use {{ }} placeholders: set them on the steps",
                    key,
                )
        known: set[str] = set(BUILTINS)
        seen: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            at: tuple[str | int, ...] = ("steps", index)
            if step.name in seen:
                raise error_at(
                    "FlowTarget",
                    (*at, "name"),
                    f'duplicate step name "{step.name}" (also steps[{seen[step.name]}])',
                    step.name,
                )
            seen[step.name] = index
            for loc, text in step.templates():
                _check_known(text, known, (*at, *loc))
            conflict = authorization_key({**self.headers, **step.headers})
            if step.auth is not None and conflict is not None:
                raise error_at("FlowTarget", (*at, "auth"), AUTH_CONFLICT, conflict)
            known.update(step.capture)
        total = sum(step.timeout_share or 0.0 for step in self.steps)
        unset = sum(step.timeout_share is None for step in self.steps)
        if total > 1 + 1e-9 or (unset and total >= 1 - 1e-9):
            raise error_at(
                "FlowTarget",
                ("steps",),
                f"timeout_share of the steps add up to {total:.0%}: they must leave room "
                "for the steps without one (and never exceed 100%)"
                if unset
                else f"timeout_share of the steps add up to {total:.0%}, more than 100%",
                total,
            )
        return self

    def budget_ends(self) -> tuple[float, ...]:
        """For each step, the share of the timeout that may have passed when it is done."""
        total = sum(step.timeout_share or 0.0 for step in self.steps)
        unset = sum(step.timeout_share is None for step in self.steps)
        default = (1 - total) / unset if unset else 0.0
        ends, reached = [], 0.0
        for step in self.steps:
            reached += step.timeout_share if step.timeout_share is not None else default
            ends.append(min(1.0, reached))
        return tuple(ends)


def _check_known(text: str, known: set[str], loc: tuple[str | int, ...]) -> None:
    try:
        names = placeholders(text)
    except ValueError as exc:
        raise error_at("FlowTarget", loc, str(exc), "") from None
    for name in names:
        if name not in known:
            available = ", ".join(sorted(known))
            raise error_at(
                "FlowTarget",
                loc,
                f"{{{{ {name} }}}} is not captured by an earlier step (available: {available})",
                name,
            )


# -- running -------------------------------------------------------------------------------
@dataclass(slots=True)
class _Run:
    target: FlowTarget
    ctx: ProbeContext
    timings: Timings = field(default_factory=Timings)
    values: dict[str, str] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)
    passed: list[bool] = field(default_factory=list)
    started_at: float | None = None
    """perf_counter when the running step began; ``None`` between steps."""

    def begin_step(self) -> None:
        self.started_at = time.perf_counter()

    def end_step(self, passed: bool) -> None:
        assert self.started_at is not None
        self.durations.append(time.perf_counter() - self.started_at)
        self.started_at = None
        self.passed.append(passed)

    def samples(self) -> tuple[Sample, ...]:
        series: list[Sample] = []
        for index, step in enumerate(self.target.steps):
            label = (("step", step.name),)
            duration = self.durations[index] if index < len(self.durations) else 0.0
            if index == len(self.durations) and self.started_at is not None:
                duration = time.perf_counter() - self.started_at  # cut short by the deadline
            success = index < len(self.passed) and self.passed[index]
            series.append(Sample(FLOW_STEP_SUCCESS, 1.0 if success else 0.0, label))
            series.append(Sample(FLOW_STEP_DURATION, duration, label))
        return (*series, *expiry_sample(self.timings.cert_expiry))


async def probe(target: FlowTarget, ctx: ProbeContext) -> Passed:
    run = _Run(target, ctx)
    run.values.update(uuid=str(uuid.uuid4()), unix_time=str(int(time.time())))
    ends = target.budget_ends()
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: also keep cookies of IP-address hosts
    count = len(target.steps)
    try:
        async with open_session(target, run.timings, cookies=jar) as session:
            for index, step in enumerate(target.steps):
                run.begin_step()
                try:
                    await _step(run, session, jar, step, ends[index])
                except ProbeFailure as failure:
                    run.end_step(passed=False)
                    where = (("step", f"{step.name} ({index + 1} of {count})"),)
                    raise ProbeFailure(
                        failure.reason,
                        f'step "{step.name}" ({index + 1}/{count}): {failure.message}',
                        where + failure.details,
                    ) from None
                run.end_step(passed=True)
    finally:
        ctx.samples = run.samples()
    return Passed(f"{count}/{count} steps passed")


async def _step(
    run: _Run,
    session: aiohttp.ClientSession,
    jar: aiohttp.CookieJar,
    step: FlowStep,
    budget_end: float,
) -> None:
    target, ctx = run.target, run.ctx
    url = fill(step.url, run.values)
    try:
        check_url(url)
    except ValueError:
        raise ProbeFailure(
            Reason.ASSERTION, "the url is not an http(s) URL after filling in values"
        ) from None
    headers = {name: value.reveal() for name, value in target.headers.items()}
    for name, template in step.headers.items():
        headers = {key: item for key, item in headers.items() if key.lower() != name.lower()}
        headers[name] = fill(template.reveal(), run.values)
    body = fill(step.body.reveal(), run.values) if step.body is not None else None
    prefix = f'step "{step.name}": '
    request = Request(step.method, url, headers, body, prefix)
    began = ctx.deadline - ctx.timeout
    deadline = min(began + budget_end * ctx.timeout, ctx.stop_at())
    try:
        async with asyncio.timeout_at(deadline):
            response = await send_authorised(
                session,
                target,
                run.timings,
                ctx,
                request,
                auth=step.auth,
                state_key=f"flow.oauth2.{step.name}",
            )
    except TimeoutError:
        doing = ctx.step.removeprefix(prefix)
        ended = format_duration(round(deadline - began, 3))
        raise ProbeFailure(
            Reason.TIMEOUT,
            f"no answer by {ended} into the flow, the end of its share of the "
            f"{format_duration(ctx.timeout)} timeout ({doing})",
        ) from None
    view = ResponseView(response)
    status = (("status", f"HTTP {response.status}"),)
    failure = judge(view, step.valid_status_codes, step.assertions, step.auth is not None)
    if failure is not None:
        raise ProbeFailure(failure.reason, failure.message, status + failure.details)
    for name, capture in step.capture.items():
        value = capture.read(view, jar)
        if not value:
            missing = "empty" if value == "" else "not found"
            raise ProbeFailure(
                Reason.ASSERTION,
                f"capture {name}: {capture.text} {missing}",
                (*status, ("capture", f"{name} = {capture.text} ({missing})")),
            )
        run.values[name] = value
        ctx.hide(value)


KIND = ProbeKind("flow", FlowTarget, probe)
