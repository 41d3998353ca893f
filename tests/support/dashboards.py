"""Reading the committed dashboards for the tests: panels, queries, variables, links, and the
PromQL inside them (parsed by promql-parser, the same grammar as Prometheus).

A query is checked with Grafana's macros and variables replaced: ``$__rate_interval`` by a
sentinel window no one writes by hand, so a parsed range selector tells whether it came
from the macro; variables by values that keep the query valid PromQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import yaml

import pitwatch.probes  # noqa: F401  (registers every probe's families)
from devtools import REPO
from pitwatch.families import all_families
from pitwatch.selfmetrics import SelfMetrics

DASHBOARDS = REPO / "dashboards"
RULES = REPO / "rules"
RUNBOOKS = REPO / "docs" / "runbooks"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

RATE_SENTINEL = "7777s"
"""What ``$__rate_interval`` becomes for parsing; no dashboard writes this window itself."""
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})

PROMETHEUS_SERIES = frozenset({"ALERTS", "up", "scrape_duration_seconds", "scrape_samples_scraped"})
"""Series Prometheus makes itself: alerts (rule evaluation) and per-scrape series."""

Json = dict[str, Any]


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> Json:
    data: Json = json.loads(path.read_text(encoding="utf-8"))
    return data


def dashboards() -> dict[str, Json]:
    """Every committed dashboard by uid."""
    return {board["uid"]: board for board in map(load, dashboard_files())}


def panels(board: Json) -> Iterator[Json]:
    """Every panel that is not a row, inside collapsed rows too."""
    for panel in board["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def all_panels(board: Json) -> Iterator[Json]:
    """Rows and panels, each once."""
    for panel in board["panels"]:
        yield panel
        if panel["type"] == "row":
            yield from panel.get("panels", [])


def variables(board: Json) -> list[Json]:
    return list(board["templating"]["list"])


def variable_names(board: Json) -> set[str]:
    return {variable["name"] for variable in variables(board)}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str

    @property
    def where(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def queries(board: Json) -> Iterator[PanelQuery]:
    """Every PromQL query of a dashboard: panel targets and annotations."""
    for panel in panels(board):
        for target in panel["targets"]:
            yield PanelQuery(board["uid"], panel["title"], target["refId"], target["expr"])
    for annotation in board["annotations"]["list"]:
        yield PanelQuery(board["uid"], f"annotation {annotation['name']}", "-", annotation["expr"])


LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


def label_values(variable: Json) -> tuple[str, str]:
    """The selector and label of a ``label_values(selector, label)`` variable."""
    match = LABEL_VALUES.match(variable["query"])
    assert match, f"variable {variable['name']}: not label_values(...): {variable['query']}"
    return match["selector"] or "", match["label"]


def substitute(expr: str, values: Mapping[str, str], rate_interval: str, step: str) -> str:
    """The query as Grafana sends it, for the given variable values."""
    text = expr.replace("${__rate_interval}", rate_interval).replace(
        "$__rate_interval", rate_interval
    )
    text = text.replace("${__interval}", step).replace("$__interval", step)
    for name in sorted(values, key=len, reverse=True):
        text = text.replace(f"${{{name}}}", values[name])
        literal = values[name].replace("\\", "\\\\")  # a replacement string, not a pattern
        text = re.sub(rf"\${re.escape(name)}\b", literal, text)
    assert "$" not in text, f"unresolved variable or macro in {text}"
    return text


def lint_values(board: Json) -> dict[str, str]:
    """Values that make every query of the dashboard parse: the "All" value of a variable
    that has one, a plain name otherwise."""
    return {
        variable["name"]: variable.get("allValue") or "x"
        for variable in variables(board)
        if variable["type"] == "query"
    }


# -- PromQL -----------------------------------------------------------------------------------


def parse(expr: str) -> promql_parser.Expr:
    return promql_parser.parse(expr)


def children(node: Any) -> list[Any]:
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.AggregateExpr):
        return [node.expr] + ([node.param] if isinstance(node.param, promql_parser.Expr) else [])
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(
        node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
    ):
        return [node.expr]
    return []


def walk(node: Any, parents: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every node with its ancestors, nearest last."""
    yield node, parents
    for child in children(node):
        yield from walk(child, (*parents, node))


def metric_names(node: Any) -> set[str]:
    return {
        found.name
        for found, _ in walk(node)
        if isinstance(found, promql_parser.VectorSelector) and found.name
    }


def lint_promql(expr: str, counters: frozenset[str]) -> list[str]:
    """Problems of one substituted query: counters outside rate/irate/increase, range
    windows other than ``$__rate_interval``."""
    problems: list[str] = []
    sentinel = promql_parser.parse_duration(RATE_SENTINEL)
    for node, parents in walk(parse(expr)):
        if isinstance(node, promql_parser.MatrixSelector) and node.range != sentinel:
            problems.append(
                f"range [{_duration(node.range)}] on {node.vector_selector.name}: "
                "use [$__rate_interval] (or a recording rule)"
            )
        if (
            isinstance(node, promql_parser.Call)
            and node.func.name in RATE_FUNCTIONS
            and not isinstance(node.args[0], promql_parser.MatrixSelector)
        ):
            problems.append(f"{node.func.name}() of a subquery")
        if isinstance(node, promql_parser.VectorSelector) and node.name in counters:
            inside_rate = (
                len(parents) >= 2
                and isinstance(parents[-1], promql_parser.MatrixSelector)
                and isinstance(parents[-2], promql_parser.Call)
                and parents[-2].func.name in RATE_FUNCTIONS
            )
            if not inside_rate:
                problems.append(f"counter {node.name} outside rate/irate/increase")
    return problems


def _duration(delta: timedelta) -> str:
    return promql_parser.display_duration(delta)


# -- what exists ------------------------------------------------------------------------------


def exporter_series() -> tuple[frozenset[str], frozenset[str]]:
    """Every sample name the exporter can expose, and those that are counters (including
    histogram buckets, sums and counts)."""
    names: set[str] = set()
    counters: set[str] = set()
    for family in all_families():
        if family.type == "histogram":
            parts = {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
            names |= parts
            counters |= parts
        else:
            names.add(family.name)
            if family.type == "counter":
                counters.add(family.name)
    for metric in SelfMetrics().registry.collect():
        for sample in metric.samples:
            names.add(sample.name)
            if metric.type in {"counter", "histogram"} and not sample.name.endswith("_created"):
                counters.add(sample.name)
    return frozenset(names), frozenset(counters)


def rule_groups() -> list[Json]:
    groups: list[Json] = []
    for path in sorted(RULES.glob("*.yml")):
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def recorded_names() -> frozenset[str]:
    return frozenset(
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    )


def alert_rules() -> list[Json]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def links(value: Any) -> Iterator[str]:
    """Every ``url`` anywhere in a dashboard (panel links, data links, dashboard links)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "url" and isinstance(item, str) and item:
                yield item
            else:
                yield from links(item)
    elif isinstance(value, list):
        for item in value:
            yield from links(item)
