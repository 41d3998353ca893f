"""The rule pack: promtool accepts it and its unit tests pass, and every alert meets the pack's
conventions (docs/alerting.md): labels, annotations, a runbook, a promtool case that fires at
the edge of each rule's ``for:`` and one where it stays silent, and only metric names that
pitwatch really exposes."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict

import pytest

from devtools import REPO
from devtools.alertmanager import HEARTBEAT_ALERT
from devtools.processes import binary
from tests.support.alerting import (
    DASHBOARD_UIDS,
    PROMETHEUS_MADE,
    RULE_TESTS_DIR,
    RUNBOOK_BASE_URL,
    RUNBOOKS_DIR,
    SEVERITIES,
    AlertCase,
    AlertRule,
    alert_cases,
    alert_rules,
    annotation_queries,
    exposed_metric_names,
    metric_names,
    recording_rules,
    rule_files,
    rule_groups,
    rule_test_files,
)
from tests.support.services import run_tool

ALERTS = alert_rules()
ALERT_NAMES = sorted({rule.name for rule in ALERTS})
CASES = alert_cases()
RUNBOOK_SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation", "Incident report")
CAMEL_CASE = re.compile(r"^Pitwatch([A-Z][a-z0-9]*|[A-Z]+(?=[A-Z][a-z]|$))+$")


def promtool() -> str:
    return binary("promtool", "prometheus")


# -- promtool ----------------------------------------------------------------------------------


def test_promtool_check_rules_with_every_lint() -> None:
    files = [str(path) for path in rule_files()]
    result = run_tool(promtool(), "check", "rules", "--lint=all", "--lint-fatal", *files)
    print(result.stdout)
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_unit_tests_pass() -> None:
    """All of rules/tests/, two files at a time (each runs every rule at every step)."""
    paths = sorted(RULE_TESTS_DIR.glob("*.yml"))
    assert paths
    failures = []
    pending = list(paths)
    while pending:
        batch, pending = pending[:2], pending[2:]
        runs = [
            (
                path,
                subprocess.Popen(
                    [promtool(), "test", "rules", str(path)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    cwd=REPO,
                ),
            )
            for path in batch
        ]
        for path, process in runs:
            output, _ = process.communicate(timeout=110)
            print(output.strip())
            if process.returncode != 0:
                failures.append(f"{path.name}:\n{output}")
    assert not failures, "\n".join(failures)


def test_unit_test_files_load_the_rules_and_run_recordings_first() -> None:
    """A test file that loads no rules passes vacuously, and promtool orders groups at random
    unless told: each file names its rule files and orders every group they hold, recording
    groups first."""
    for test_file in rule_test_files():
        assert test_file.rule_files, f"{test_file.path.name} loads no rule file"
        groups = rule_groups(list(test_file.rule_files))
        recording = [g.name for g in groups if g.is_recording]
        alerting = [g.name for g in groups if not g.is_recording]
        order = list(test_file.group_eval_order)
        assert sorted(order) == sorted(recording + alerting), test_file.path.name
        assert set(order[: len(recording)]) == set(recording), test_file.path.name


# -- conventions per alert rule ----------------------------------------------------------------


@pytest.mark.parametrize("rule", ALERTS, ids=lambda rule: rule.key)
def test_alert_labels_and_annotations(rule: AlertRule) -> None:
    assert CAMEL_CASE.match(rule.name), f"{rule.name}: CamelCase starting with Pitwatch"
    assert len(rule.name) <= 40, rule.name
    severity = rule.labels.get("severity")
    if rule.name == HEARTBEAT_ALERT:
        assert severity == "none"
    else:
        assert severity in SEVERITIES, f"{rule.key}: severity must be one of {SEVERITIES}"
    assert set(rule.annotations) == {"summary", "description", "runbook_url", "dashboard_url"}
    summary = rule.annotations["summary"]
    assert "{{" not in summary, "summary is static: one headline for a whole group"
    assert re.match(r"^[A-Z].*\.$", summary), f"{summary!r}: a sentence, capital to period"
    if rule.name != HEARTBEAT_ALERT:
        assert "{{" in rule.annotations["description"], "description is templated"
    assert rule.annotations["runbook_url"] == f"{RUNBOOK_BASE_URL}{rule.name}.md"
    dashboard = rule.annotations["dashboard_url"]
    match = re.match(r"^/d/([a-z-]+)/\1(\?.*)?$", dashboard)
    assert match and match.group(1) in DASHBOARD_UIDS, dashboard
    if match.group(1) == "pitwatch-target":
        assert "var-target={{ $labels.target }}" in dashboard, dashboard


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_name_has_one_summary(name: str) -> None:
    summaries = {rule.annotations["summary"] for rule in ALERTS if rule.name == name}
    assert len(summaries) == 1, summaries


def test_groups_stay_small_and_names_unique() -> None:
    groups = rule_groups()
    names = [group.name for group in groups]
    assert len(names) == len(set(names)), names
    for group in groups:
        assert len(group.name) <= 40, group.name
        assert len(group.rules) <= 20, f"{group.name}: {len(group.rules)} rules"


# -- runbooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_a_runbook(name: str) -> None:
    path = RUNBOOKS_DIR / f"{name}.md"
    assert path.is_file(), f"missing runbook {path.relative_to(REPO)}"
    text = path.read_text()
    assert text.startswith(f"# {name}\n"), "a runbook opens with its alert's name"
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings[: len(RUNBOOK_SECTIONS)] == list(RUNBOOK_SECTIONS), headings
    diagnosis = text.split("## Diagnosis", 1)[1].split("## Mitigation", 1)[0]
    assert "```promql" in diagnosis, "Diagnosis gives the PromQL to run"
    assert re.search(r"/d/pitwatch-[a-z]+", diagnosis), "Diagnosis names the dashboard to open"


def test_no_runbook_without_an_alert() -> None:
    runbooks = {path.stem for path in RUNBOOKS_DIR.glob("*.md")}
    assert runbooks == set(ALERT_NAMES), runbooks ^ set(ALERT_NAMES)


def test_alerting_doc_lists_every_alert() -> None:
    text = (REPO / "docs" / "alerting.md").read_text()
    missing = [name for name in ALERT_NAMES if f"`{name}`" not in text]
    assert not missing, missing


# -- promtool cases per alert rule -------------------------------------------------------------


def _matches(rule: AlertRule, labels: dict[str, str] | object) -> bool:
    assert isinstance(labels, dict)
    return all(labels.get(key) == value for key, value in rule.labels.items())


def _cases_by_test() -> dict[tuple[str, int, str], list[AlertCase]]:
    grouped: dict[tuple[str, int, str], list[AlertCase]] = defaultdict(list)
    for case in CASES:
        grouped[(case.file.path.name, case.test_index, case.alertname)].append(case)
    return grouped


@pytest.mark.parametrize("rule", ALERTS, ids=lambda rule: rule.key)
def test_alert_rule_fires_at_the_edge_of_its_for(rule: AlertRule) -> None:
    """Some test of rules/tests/ expects this rule's alert (its static labels, exact labels
    and annotations) at time T and, in the same test, the same alert absent one evaluation
    earlier: promtool then proves the alert turns on exactly at T, the end of its `for:`."""
    edges = []
    for cases in _cases_by_test().values():
        if cases[0].alertname != rule.name:
            continue
        by_time = {case.eval_time: case for case in cases}
        for case in cases:
            for labels, expected_annotations in zip(case.expected, case.annotations, strict=True):
                if not _matches(rule, labels):
                    continue
                assert set(expected_annotations) == set(rule.annotations), (
                    f"{case.file.path.name} at {case.eval_time}s: expect every annotation"
                )
                before = by_time.get(case.eval_time - case.file.evaluation_interval)
                if rule.name == HEARTBEAT_ALERT and case.eval_time == 0:
                    edges.append(case)  # always firing: there is no "before"
                elif before is not None and labels not in before.expected:
                    edges.append(case)
    assert edges, (
        f"{rule.key}: no promtool case fires it at T with a case one evaluation earlier, "
        "in the same test, where it has not fired yet"
    )


@pytest.mark.parametrize("name", [n for n in ALERT_NAMES if n != HEARTBEAT_ALERT])
def test_alert_has_a_case_where_it_stays_silent(name: str) -> None:
    """Some test of rules/tests/ checks this alert only ever to be silent: a near miss."""
    silent_tests = [
        key
        for key, cases in _cases_by_test().items()
        if key[2] == name and all(not case.expected for case in cases)
    ]
    assert silent_tests, f"{name}: no promtool test where it must stay silent"


# -- metric names ------------------------------------------------------------------------------


def test_recorded_names_are_recorded() -> None:
    recorded = {rule.name for rule in recording_rules()}
    used = set()
    for rule in ALERTS:
        used |= metric_names(rule.expr)
        for query in annotation_queries(rule.annotations):
            used |= metric_names(query)
    for recording in recording_rules():
        used |= metric_names(recording.expr)
    unknown = sorted(name for name in used if ":" in name and name not in recorded)
    assert not unknown, unknown


@pytest.mark.parametrize("path", rule_files(), ids=lambda path: path.name)
def test_rules_use_only_metrics_pitwatch_exposes(path: object) -> None:
    """Every raw metric name in the rules and in their annotations' queries is a sample name
    pitwatch registers (its families, probe modules included, and its self-metrics), or one
    Prometheus writes itself (``up``)."""
    exposed = exposed_metric_names() | PROMETHEUS_MADE
    used: dict[str, set[str]] = defaultdict(set)
    for rule in ALERTS:
        if rule.file != path:
            continue
        for name in metric_names(rule.expr):
            used[name].add(rule.name)
        for query in annotation_queries(rule.annotations):
            for name in metric_names(query):
                used[name].add(f"{rule.name} (annotation)")
    for recording in recording_rules():
        if recording.file == path:
            for name in metric_names(recording.expr):
                used[name].add(recording.name)
    unknown = {
        name: sorted(users)
        for name, users in sorted(used.items())
        if ":" not in name and name not in exposed
    }
    assert not unknown, f"not exposed by pitwatch: {unknown}"


def test_metric_name_extraction() -> None:
    """The extractor behind the two tests above, on the shapes the rules use."""
    expr = (
        'sum without (instance, pod) (rate(pitwatch_probes_total{result="failure"}[5m])) '
        "/ on (job, target) group_left () target:x:rate5m offset 15m "
        "unless on (job) max_over_time(pitwatch_target_maintenance[1h] offset 1w) == 1 "
        "and histogram_quantile(0.9, rate(a_bucket[10m])) > 1e3 and time() - b > bool inf"
    )
    assert metric_names(expr) == {
        "pitwatch_probes_total",
        "target:x:rate5m",
        "pitwatch_target_maintenance",
        "a_bucket",
        "b",
    }
    annotation = {
        "description": "{{ with printf \"topk(1, c{job='%s'})\" $labels.job | query }}{{ end }}"
    }
    assert [metric_names(q) for q in annotation_queries(annotation)] == [{"c"}]
