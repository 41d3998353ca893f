"""The committed Grafana dashboards and their provisioning, checked without Grafana.

The lint follows grafana/dashboard-linter's rules for Prometheus dashboards (datasource
variable, units, descriptions, ``$__rate_interval``, counters only inside rate/irate/
increase, uid and title) on real PromQL syntax trees; the names, links and uids are checked
against the exporter, the rule pack and the runbooks. Whether each query returns data is
``test_dashboards_live.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from dashboards import conventions, generate
from devtools import REPO
from tests.support.dashboards import (
    DASHBOARDS,
    DATASOURCE,
    PROMETHEUS_SERIES,
    RATE_SENTINEL,
    RUNBOOKS,
    Json,
    alert_rules,
    all_panels,
    dashboard_files,
    dashboards,
    exporter_series,
    label_values,
    links,
    lint_promql,
    lint_values,
    load,
    metric_names,
    panels,
    parse,
    queries,
    recorded_names,
    substitute,
    variable_names,
    variables,
)

UIDS = {
    conventions.OVERVIEW,
    conventions.TARGET,
    conventions.HOSTS,
    conventions.DATABASES,
    conventions.SELF,
}

# Grafana unit ids (grafana-data valueFormats/categories.ts) the dashboards may use.
UNITS = frozenset(
    {
        "none", "short", "percent", "percentunit", "s", "ms", "dtdurations", "dateTimeAsIso",
        "dateTimeFromNow", "bytes", "decbytes", "Bps", "bps", "reqps", "ops", "opm", "cps",
        "cpm", "string",
    }
)  # fmt: skip

# Highest classic schemaVersion each Grafana release writes: a dashboard declaring a minimum
# Grafana must not be newer than that release understands.
SCHEMA_OF_GRAFANA = {"9.0.0": 36, "9.1.0": 37, "10.0.0": 38, "10.3.0": 39}

BOARDS = dashboards()
PANEL_IDS = [
    pytest.param(board["uid"], panel["id"], id=f"{board['uid']}:{panel['title']}")
    for board in BOARDS.values()
    for panel in panels(board)
]


def panel(uid: str, panel_id: int) -> Json:
    return next(p for p in panels(BOARDS[uid]) if p["id"] == panel_id)


def test_every_dashboard_is_there_as_valid_json() -> None:
    files = dashboard_files()
    assert {path.stem for path in files} == UIDS
    for path in files:
        board = load(path)  # raises on invalid JSON
        assert board["uid"] == path.stem
        assert len(board["uid"]) <= 40  # Grafana's uid limit
        assert board["title"].startswith("pitwatch / ")
        assert board["description"]
        assert "id" not in board, "an id pins the dashboard to one Grafana database"
    assert len({board["title"] for board in BOARDS.values()}) == len(BOARDS)


def test_regenerating_changes_nothing() -> None:
    files = generate.rendered()
    assert set(files) == set(dashboard_files())
    assert generate.stale(files) == [], "run: .venv/bin/python -m dashboards.generate"
    assert generate.main(["--check"]) == 0


def test_the_check_mode_notices_a_stale_file(tmp_path: Path) -> None:
    files = generate.rendered()
    path = next(iter(files))
    copy = tmp_path / path.name
    copy.write_text(files[path].replace('"refresh": "1m"', '"refresh": "5m"'))
    assert generate.stale({copy: files[path]}) == [copy]
    assert generate.stale({tmp_path / "missing.json": "{}"}) == [tmp_path / "missing.json"]


@pytest.mark.parametrize("uid", sorted(UIDS))
def test_declares_a_grafana_version_and_a_schema_it_supports(uid: str) -> None:
    board = BOARDS[uid]
    required = {item["id"]: item["version"] for item in board["__requires"]}
    assert required["grafana"] == conventions.GRAFANA_MIN_VERSION
    assert board["schemaVersion"] <= SCHEMA_OF_GRAFANA[required["grafana"]]
    used = {p["type"] for p in panels(board)}
    assert {kind for kind in required if kind not in {"grafana", "prometheus"}} == used
    assert board["editable"] is False  # provisioned: change the generator, not the UI


@pytest.mark.parametrize("uid", sorted(UIDS))
def test_datasource_and_query_variables(uid: str) -> None:
    board = BOARDS[uid]
    sources = [v for v in variables(board) if v["type"] == "datasource"]
    assert len(sources) == 1
    assert sources[0]["name"] == "datasource"
    assert sources[0]["label"] == "Data source"
    assert sources[0]["query"] == "prometheus"
    for variable in variables(board):
        if variable["type"] != "query":
            continue
        name = variable["name"]
        assert variable["datasource"] == DATASOURCE, name
        assert variable["refresh"] == 2, f"{name}: refresh on time range change"
        assert variable["label"], name
        selector, label = label_values(variable)
        assert label == name or (name == "target" and label == "target"), name
        if selector:
            values = {k: v for k, v in lint_values(board).items() if k != name}
            parse(substitute(selector, values, RATE_SENTINEL, "1m"))
        if name in {"job", "instance"}:  # dashboard-linter's template-job/instance rules
            assert variable["label"] == name.capitalize()
            assert variable["multi"] is True
            assert variable["allValue"] == ".+"


@pytest.mark.parametrize(("uid", "panel_id"), PANEL_IDS)
def test_panel_lint(uid: str, panel_id: int) -> None:
    p = panel(uid, panel_id)
    assert p["datasource"] == DATASOURCE
    assert p["targets"], "a panel without queries"
    for target in p["targets"]:
        assert target["datasource"] == DATASOURCE, target["refId"]
    assert p["description"].strip()
    assert p["title"].strip()
    unit = p["fieldConfig"]["defaults"].get("unit")
    assert unit in UNITS, f"unit {unit!r}"
    for item in p["fieldConfig"]["overrides"]:
        for prop in item["properties"]:
            if prop["id"] == "unit":
                assert prop["value"] in UNITS


@pytest.mark.parametrize("uid", sorted(UIDS))
def test_queries_parse_and_follow_the_rate_rules(uid: str) -> None:
    board = BOARDS[uid]
    _, counters = exporter_series()
    values = lint_values(board)
    problems = []
    for query in queries(board):
        assert "[5m]" not in query.expr and "[1m]" not in query.expr, query.where
        try:
            expr = substitute(query.expr, values, RATE_SENTINEL, "1m")
            problems += [f"{query.where}: {p}" for p in lint_promql(expr, counters)]
        except (ValueError, AssertionError) as exc:
            problems.append(f"{query.where}: {exc}")
    assert problems == []


def test_the_lint_catches_what_it_should() -> None:
    """The rules above must be able to fail."""
    _, counters = exporter_series()
    assert "pitwatch_probes_total" in counters
    assert "pitwatch_probe_latency_seconds_bucket" in counters
    assert "process_cpu_seconds_total" in counters
    assert lint_promql("sum(pitwatch_probes_total)", counters) == [
        "counter pitwatch_probes_total outside rate/irate/increase"
    ]
    assert lint_promql(f"rate(pitwatch_probes_total[{RATE_SENTINEL}])", counters) == []
    assert lint_promql("rate(pitwatch_probes_total[5m])", counters) == [
        "range [5m] on pitwatch_probes_total: use [$__rate_interval] (or a recording rule)"
    ]
    assert lint_promql(f"max_over_time(pitwatch_probes_total[{RATE_SENTINEL}])", counters) == [
        "counter pitwatch_probes_total outside rate/irate/increase"
    ]
    with pytest.raises(ValueError):
        parse("sum(rate(x[5m])")
    assert metric_names(parse('a / on (job) b{c="d"} or vector(0)')) == {"a", "b"}


@pytest.mark.parametrize("uid", sorted(UIDS))
def test_every_metric_name_exists(uid: str) -> None:
    exported, _ = exporter_series()
    known = exported | recorded_names() | PROMETHEUS_SERIES
    board = BOARDS[uid]
    values = lint_values(board)
    unknown = set()
    for query in queries(board):
        expr = parse(substitute(query.expr, values, RATE_SENTINEL, "1m"))
        unknown |= {f"{query.where}: {name}" for name in metric_names(expr) - known}
    for variable in variables(board):
        if variable["type"] == "query":
            selector, _ = label_values(variable)
            names = metric_names(parse(substitute(selector, values, RATE_SENTINEL, "1m")))
            unknown |= {f"variable {variable['name']}: {name}" for name in names - known}
    assert unknown == set()


def test_recorded_names_the_dashboards_use_are_the_rules() -> None:
    used: set[str] = set()
    for board in BOARDS.values():
        values = lint_values(board)
        for query in queries(board):
            used |= metric_names(parse(substitute(query.expr, values, RATE_SENTINEL, "1m")))
    recorded = {name for name in used if ":" in name}
    assert recorded <= recorded_names()
    # The overview reads the component-level recordings, not raw series per target.
    assert "component:pitwatch_probe_success:avg" in recorded
    assert "target:pitwatch_probe_error_budget_remaining:ratio30d" in recorded


@pytest.mark.parametrize("uid", sorted(UIDS))
def test_layout_fits_the_grid_without_overlap(uid: str) -> None:
    board = BOARDS[uid]
    ids = [p["id"] for p in all_panels(board)]
    assert len(ids) == len(set(ids))
    groups: list[list[Json]] = [[p for p in board["panels"]]]
    groups += [
        row["panels"] for row in board["panels"] if row["type"] == "row" and row["collapsed"]
    ]
    for group in groups:
        boxes = [p["gridPos"] for p in group]
        for box in boxes:
            assert box["x"] >= 0 and box["x"] + box["w"] <= 24 and box["h"] > 0
        for index, a in enumerate(boxes):
            for b in boxes[index + 1 :]:
                apart = (
                    a["x"] + a["w"] <= b["x"]
                    or b["x"] + b["w"] <= a["x"]
                    or a["y"] + a["h"] <= b["y"]
                    or b["y"] + b["h"] <= a["y"]
                )
                assert apart, (a, b)


# -- links ----------------------------------------------------------------------------------


def _dashboard_link_problems(url: str) -> list[str]:
    """A /d/<uid>/... link must name a pitwatch dashboard and only its variables."""
    parts = urlsplit(url)
    match = re.fullmatch(r"/d/([^/]+)(?:/[^/]*)?", parts.path)
    if not match:
        return [f"{url}: not /d/<uid>/<slug>"]
    uid = match[1]
    if uid not in BOARDS:
        return [f"{url}: no dashboard with uid {uid}"]
    names = variable_names(BOARDS[uid])
    problems = []
    for key, _ in parse_qsl(parts.query.replace("${__url_time_range}", ""), keep_blank_values=True):
        if key.startswith("var-") and key.removeprefix("var-") not in names:
            problems.append(f"{url}: {uid} has no variable {key.removeprefix('var-')}")
    return problems


def _runbook_base() -> str:
    bases = {rule["annotations"]["runbook_url"].rsplit("/", 1)[0] + "/" for rule in alert_rules()}
    assert len(bases) == 1, bases
    return str(bases.pop())


def test_alert_dashboard_urls_resolve_to_these_dashboards() -> None:
    problems = []
    seen = set()
    for rule in alert_rules():
        url = rule["annotations"].get("dashboard_url")
        assert url, f"{rule['alert']} has no dashboard_url"
        # {{ $labels.x }} is filled in by Prometheus; only the structure matters here.
        template = re.sub(r"\{\{[^}]*\}\}", "value", url)
        problems += [f"{rule['alert']}: {p}" for p in _dashboard_link_problems(template)]
        seen.add(urlsplit(template).path.split("/")[2])
    assert problems == []
    assert seen == UIDS, "every dashboard is some alert's landing page"
    assert _dashboard_link_problems("/d/pitwatch-target/x?var-nope=1") != []
    assert _dashboard_link_problems("/d/nope/x") != []


def test_links_between_dashboards_resolve() -> None:
    problems = []
    for board in BOARDS.values():
        for url in links(board):
            if url.startswith("/"):
                problems += _dashboard_link_problems(url)
    assert problems == []


def test_runbook_links_use_the_rules_base_and_exist() -> None:
    base = _runbook_base()
    assert base == conventions.RUNBOOK_BASE
    problems = []
    for board in BOARDS.values():
        for url in links(board):
            if not url.startswith(base):
                continue
            name = url.removeprefix(base)
            if name == "${__value.raw}.md":  # the firing-alerts table: the row's alert name
                continue
            if not (RUNBOOKS / name).is_file():
                problems.append(f"{board['uid']}: {url}: no docs/runbooks/{name}")
    assert problems == []


def test_every_alert_runbook_is_linked_from_its_landing_dashboard() -> None:
    """An alert's dashboard_url leads somewhere that links the alert's runbook."""
    missing = []
    for rule in alert_rules():
        uid = urlsplit(rule["annotations"]["dashboard_url"]).path.split("/")[2]
        if rule["annotations"]["runbook_url"] not in set(links(BOARDS[uid])):
            missing.append(f"{rule['alert']} -> {uid}")
    assert sorted(set(missing)) == []


# -- provisioning ---------------------------------------------------------------------------


def _yaml(relative: str) -> Any:
    return yaml.safe_load((REPO / relative).read_text())


def test_datasource_provisioning() -> None:
    config = _yaml("deploy/grafana/datasources/pitwatch.yml")
    assert config["apiVersion"] == 1
    assert set(config) == {"apiVersion", "datasources"}
    (source,) = config["datasources"]
    allowed = {"name", "uid", "type", "access", "url", "isDefault", "editable", "jsonData"}
    assert set(source) <= allowed
    assert source["type"] == "prometheus"
    assert source["access"] == "proxy"
    assert urlsplit(source["url"]).scheme in {"http", "https"}
    interval = source["jsonData"]["timeInterval"]
    assert re.fullmatch(r"\d+[smh]", interval)
    # The scrape interval of the shipped Prometheus configs, where they exist.
    scrape_intervals = {
        _yaml(str(path.relative_to(REPO)))["global"]["scrape_interval"]
        for path in (REPO / "deploy" / "prometheus").glob("*.yml")
    }
    assert scrape_intervals <= {interval}


def test_dashboard_provisioning_points_at_the_dashboards() -> None:
    config = _yaml("deploy/grafana/dashboards/pitwatch.yml")
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    allowed = {
        "name", "orgId", "folder", "folderUid", "type", "disableDeletion", "allowUiUpdates",
        "updateIntervalSeconds", "options",
    }  # fmt: skip
    assert set(provider) <= allowed
    assert provider["type"] == "file"
    assert set(provider["options"]) <= {"path", "foldersFromFilesStructure"}
    assert provider["options"]["path"].startswith("/")
    assert provider["allowUiUpdates"] is False
    assert DASHBOARDS.is_dir() and dashboard_files()
