"""Every dashboard query, run against a live Prometheus (with the rule pack loaded) that
scrapes ``pitwatch demo`` and a companion exporter for what the demo cannot simulate (see
tests/support/dashboard_stack.py), must parse and return data once the stack has warmed up.

Variables are filled as Grafana would: from their own ``label_values`` queries against the
same Prometheus, "All" where a variable offers it and each value in turn where it does not
(a target-detail panel for flow steps has data for the flow target, not for a database).
``$__rate_interval`` is what Grafana computes for this stack: max(step + scrape interval,
4 x scrape interval) = 4s with a 1s scrape and a 2s step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from devtools.processes import ServiceError
from devtools.prometheus import Prometheus
from tests.support.dashboard_stack import running_stack, warm
from tests.support.dashboards import (
    Json,
    dashboards,
    label_values,
    panels,
    substitute,
    variables,
)
from tests.support.fake_platform import FakePlatform

# The first test also starts the stack and waits for it to warm up (about 45s alone).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STEP = "2s"
RATE_INTERVAL = "4s"
WINDOW = 60.0

# Queries that may come back empty in a freshly started stack, and why. Each must still
# parse and evaluate without error.
MAY_BE_EMPTY = {
    (
        "pitwatch-target",
        "annotation Alerts",
    ): "marks firing per-target alerts; the quickest (PitwatchTargetDown) waits 1m of `for:` "
    "after its 2nd failure, longer than the warm-up",
}

BOARDS = dashboards()
CASES = [
    pytest.param(uid, panel["id"], id=f"{uid}:{panel['title']}")
    for uid, board in BOARDS.items()
    for panel in panels(board)
]
ANNOTATIONS = [
    pytest.param(uid, annotation["name"], id=f"{uid}:annotation {annotation['name']}")
    for uid, board in BOARDS.items()
    for annotation in board["annotations"]["list"]
]


@pytest.fixture(scope="module")
def prometheus(
    platform: FakePlatform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    with running_stack(tmp_path_factory.mktemp("dashboards-live"), platform) as stack:
        warm(stack.prometheus)
        yield stack.prometheus


@pytest.fixture(scope="module")
def assignments(prometheus: Prometheus) -> dict[str, list[dict[str, str]]]:
    return {uid: _assignments(prometheus, board) for uid, board in BOARDS.items()}


def _assignments(prometheus: Prometheus, board: Json) -> list[dict[str, str]]:
    """The variable values to try, each variable's own query run with those before it."""
    found: list[dict[str, str]] = [{}]
    for variable in variables(board):
        if variable["type"] != "query":
            continue
        name = variable["name"]
        selector, label = label_values(variable)
        following: list[dict[str, str]] = []
        for values in found:
            expr = substitute(selector, values, RATE_INTERVAL, STEP)
            result = prometheus.query(f"group by ({label}) ({expr})")
            options = sorted(
                {series["metric"][label] for series in result if label in series["metric"]}
            )
            assert options, f"{board['uid']}: variable {name} has no values for {values}"
            if variable["includeAll"]:
                following.append({**values, name: variable["allValue"]})
            else:
                following += [{**values, name: option} for option in options]
        found = following
    return found


def _run(prometheus: Prometheus, expr: str, instant: bool) -> list[float]:
    """The query's values; NaN (0/0, as in a ratio of rates of nothing) is no data."""
    if instant:
        result = prometheus.api("query", query=expr)["result"]
        samples = [series["value"] for series in result]
    else:
        end = time.time()
        result = prometheus.api(
            "query_range", query=expr, start=f"{end - WINDOW:.3f}", end=f"{end:.3f}", step=STEP
        )["result"]
        samples = [sample for series in result for sample in series["values"]]
    values = [float(value) for _, value in samples]
    return [value for value in values if not math.isnan(value)]


def _has_data(
    prometheus: Prometheus, expr: str, instant: bool, tries: list[dict[str, str]]
) -> bool:
    """Whether the query returns data for any of the variable values (every one must
    evaluate without error)."""
    for values in tries:
        if _run(prometheus, substitute(expr, values, RATE_INTERVAL, STEP), instant):
            return True
    return False


@pytest.mark.parametrize(("uid", "panel_id"), CASES)
def test_panel_queries_return_data(
    prometheus: Prometheus, assignments: dict[str, list[dict[str, str]]], uid: str, panel_id: int
) -> None:
    panel = next(p for p in panels(BOARDS[uid]) if p["id"] == panel_id)
    empty = [
        f"{target['refId']}: {target['expr']}"
        for target in panel["targets"]
        if not _has_data(prometheus, target["expr"], target["instant"], assignments[uid])
        and (uid, panel["title"]) not in MAY_BE_EMPTY
    ]
    assert empty == [], f"no data for {assignments[uid][:3]}..."


@pytest.mark.parametrize(("uid", "name"), ANNOTATIONS)
def test_annotation_queries_evaluate(
    prometheus: Prometheus, assignments: dict[str, list[dict[str, str]]], uid: str, name: str
) -> None:
    annotation = next(a for a in BOARDS[uid]["annotations"]["list"] if a["name"] == name)
    has_data = _has_data(prometheus, annotation["expr"], False, assignments[uid])
    assert has_data or (uid, f"annotation {name}") in MAY_BE_EMPTY


def test_the_check_can_fail(prometheus: Prometheus) -> None:
    """A query about a series nobody exposes has no data, nor has one that is only NaN, and
    a broken one is an error."""
    assert not _has_data(prometheus, 'pitwatch_probe_success{target="nope"}', False, [{}])
    assert not _has_data(prometheus, "0 * up / 0", False, [{}])
    assert _has_data(prometheus, "0 * up", True, [{}])
    with pytest.raises(ServiceError, match="parse error"):
        _run(prometheus, "sum(rate(pitwatch_probes_total[4s])", True)
