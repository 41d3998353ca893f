"""The rule pack and the routing as data, for the tests of ``rules/`` and ``deploy/alertmanager/``.

- :func:`alert_rules`, :func:`recording_rules`: the shipped rule files, parsed.
- :func:`alert_cases`: every ``alert_rule_test`` of ``rules/tests/*.yml``.
- :func:`metric_names`: the metric names a PromQL expression (or an annotation's queries) reads.
- :func:`exposed_metric_names`: every sample name the exporter can expose, from its registries.
- :class:`WebhookRecorder`: a :class:`devtools.webhook.Webhook` recording each notification
  with its arrival time (point :func:`devtools.alertmanager.local_config` at its ``url``).
- :class:`FakeUpstream`: an aiohttp server whose answers a test switches, for pitwatch to probe.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from devtools import REPO
from devtools.webhook import Webhook

RULES_DIR = REPO / "rules"
RULE_TESTS_DIR = RULES_DIR / "tests"
RUNBOOKS_DIR = REPO / "docs" / "runbooks"

RUNBOOK_BASE_URL = "https://github.com/pitwatch/pitwatch/blob/main/docs/runbooks/"
"""Every ``runbook_url`` is this plus ``<AlertName>.md`` (docs/alerting.md, "Runbook links")."""
GRAFANA_BASE_URL = "https://grafana.example.com"
"""Set once, in deploy/alertmanager/templates/pitwatch.tmpl (``pitwatch.grafana.url``)."""
DASHBOARD_UIDS = (
    "pitwatch-overview",
    "pitwatch-target",
    "pitwatch-hosts",
    "pitwatch-databases",
    "pitwatch-self",
)
SEVERITIES = ("critical", "high", "medium", "low")
PROMETHEUS_MADE = frozenset({"up"})
"""Series Prometheus itself writes for every scrape target, not the exporter."""

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}


def parse_duration(text: str | None) -> float:
    """Seconds of a Prometheus duration such as ``1h30m`` (``None`` or empty: 0)."""
    if not text:
        return 0.0
    parts = _DURATION.findall(text)
    if "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return float(sum(int(number) * _DURATION_SECONDS[unit] for number, unit in parts))


# -- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRule:
    file: Path
    group: str
    name: str
    expr: str
    for_seconds: float
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    @property
    def key(self) -> str:
        """A readable id: the alert and the static labels that tell its rules apart."""
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.name}{{{extra}}}"


@dataclass(frozen=True)
class RecordingRule:
    file: Path
    group: str
    name: str
    expr: str


@dataclass(frozen=True)
class RuleGroup:
    file: Path
    name: str
    interval: str | None
    rules: tuple[Mapping[str, Any], ...]

    @property
    def is_recording(self) -> bool:
        return all("record" in rule for rule in self.rules)


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rule_groups(files: list[Path] | None = None) -> list[RuleGroup]:
    groups = []
    for path in files if files is not None else rule_files():
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            groups.append(
                RuleGroup(path, group["name"], group.get("interval"), tuple(group["rules"]))
            )
    return groups


def alert_rules() -> list[AlertRule]:
    return [
        AlertRule(
            file=group.file,
            group=group.name,
            name=rule["alert"],
            expr=rule["expr"],
            for_seconds=parse_duration(rule.get("for")),
            labels={k: str(v) for k, v in (rule.get("labels") or {}).items()},
            annotations={k: str(v) for k, v in (rule.get("annotations") or {}).items()},
        )
        for group in rule_groups()
        for rule in group.rules
        if "alert" in rule
    ]


def recording_rules() -> list[RecordingRule]:
    return [
        RecordingRule(group.file, group.name, rule["record"], rule["expr"])
        for group in rule_groups()
        for rule in group.rules
        if "record" in rule
    ]


# -- the promtool tests -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleTestFile:
    path: Path
    evaluation_interval: float
    rule_files: tuple[Path, ...]
    group_eval_order: tuple[str, ...]


@dataclass(frozen=True)
class AlertCase:
    """One ``alert_rule_test`` entry: at ``eval_time`` exactly ``expected`` alerts fire."""

    file: RuleTestFile
    test_index: int
    test_name: str
    eval_time: float
    alertname: str
    expected: tuple[Mapping[str, str], ...]
    """The ``exp_labels`` of every expected alert (empty: the alert must be silent)."""
    annotations: tuple[Mapping[str, str], ...]


def rule_test_files() -> list[RuleTestFile]:
    files = []
    for path in sorted(RULE_TESTS_DIR.glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        loaded: list[Path] = []
        for pattern in document.get("rule_files") or []:
            loaded.extend(sorted(path.parent.glob(pattern)))
        files.append(
            RuleTestFile(
                path=path,
                evaluation_interval=parse_duration(document.get("evaluation_interval", "1m")),
                rule_files=tuple(p.resolve() for p in loaded),
                group_eval_order=tuple(document.get("group_eval_order") or ()),
            )
        )
    return files


def alert_cases() -> list[AlertCase]:
    cases = []
    for test_file in rule_test_files():
        document = yaml.safe_load(test_file.path.read_text())
        for index, test in enumerate(document["tests"]):
            for case in test.get("alert_rule_test") or []:
                expected = case.get("exp_alerts") or []
                cases.append(
                    AlertCase(
                        file=test_file,
                        test_index=index,
                        test_name=test.get("name", f"#{index}"),
                        eval_time=parse_duration(case["eval_time"]),
                        alertname=case["alertname"],
                        expected=tuple(
                            {k: str(v) for k, v in (alert.get("exp_labels") or {}).items()}
                            for alert in expected
                        ),
                        annotations=tuple(
                            {k: str(v) for k, v in (alert.get("exp_annotations") or {}).items()}
                            for alert in expected
                        ),
                    )
                )
    return cases


# -- metric names -------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "Inf",
        "NaN",
    }
)
_PRINTF_QUERY = re.compile(r'printf\s+"((?:[^"\\]|\\.)*)"')


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels left out)."""
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS:
            continue
        names.add(name)
    return names


def annotation_queries(annotations: Mapping[str, str]) -> list[str]:
    """The PromQL the annotation templates run (``printf "..." ... | query``), ``%s`` filled."""
    queries = []
    for text in annotations.values():
        for match in _PRINTF_QUERY.finditer(text):
            queries.append(match.group(1).replace('\\"', '"').replace("%s", "x"))
    return queries


def exposed_metric_names() -> set[str]:
    """Every sample name pitwatch can expose: its own families (probe modules register theirs
    on import) and its self-metrics registry (prometheus-client, process collector included)."""
    import pitwatch.probes  # noqa: F401 - registers every probe module's families
    from pitwatch.families import all_families
    from pitwatch.selfmetrics import SelfMetrics

    names: set[str] = set()
    for family in all_families():
        if family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    for metric in SelfMetrics().registry.collect():
        names.update(sample.name for sample in metric.samples)
    return names


# -- Alertmanager ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    receiver: str
    received_at: float
    """time.monotonic() when it arrived."""
    payload: Mapping[str, Any]

    @property
    def status(self) -> str:
        return str(self.payload["status"])

    def alerts(self, **labels: str) -> list[Mapping[str, Any]]:
        """Its alerts whose labels include ``labels``."""
        return [
            alert
            for alert in self.payload["alerts"]
            if all(alert["labels"].get(k) == v for k, v in labels.items())
        ]


class WebhookRecorder(Webhook):
    """A webhook that records every notification as a :class:`Notification` whose receiver
    is the request path; use as a context manager."""

    def __init__(self) -> None:
        super().__init__(self._record)
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()

    def _record(self, receiver: str, payload: Any) -> None:
        with self._lock:
            self.notifications.append(Notification(receiver, time.monotonic(), payload))

    def received(self, receiver: str | None = None) -> list[Notification]:
        with self._lock:
            return [n for n in self.notifications if receiver is None or n.receiver == receiver]

    def find(
        self, receiver: str | None = None, status: str | None = None, **labels: str
    ) -> Iterator[Notification]:
        """Notifications (to ``receiver``, of ``status``) holding an alert with ``labels``."""
        for notification in self.received(receiver):
            if status is not None and notification.status != status:
                continue
            if any(
                status is None or alert["status"] == status
                for alert in notification.alerts(**labels)
            ):
                yield notification


class FakeUpstream:
    """An aiohttp server on 127.0.0.1 in a thread of its own (so blocking test code never stalls
    it): ``GET /health/<name>`` answers the status set for ``name`` (default 200). Use as a
    context manager."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/health/{name}"

    def set(self, status: int, *names: str) -> None:
        for name in names:
            self.statuses[name] = status

    async def _handle(self, request: web.Request) -> web.Response:
        status = self.statuses.get(request.match_info["name"], 200)
        return web.Response(status=status, text="ok" if status < 400 else "broken")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/health/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
