"""The Markdown, HTML and JSON forms of both reports: the JSON validates against the shipped
schemas, the Markdown has its sections, the HTML renders in headless Chromium (screenshots
kept under artifacts/) with no external asset, and the PDF prints."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from devtools import REPO
from tests.support.browser import rendered_dom, screenshot
from tests.support.report_history import REPORT_FROM, REPORT_TO, HistoryPrometheus, run_report

SCHEMAS = REPO / "exporter" / "pitwatch" / "report" / "schema"
ARTIFACTS = REPO / "artifacts"
FLEET = "20261104-2000-game_provider"
SERVICE_SECTIONS = (
    "What changed since the last period",
    "Summary",
    "Availability per component",
    "Incidents",
    "Worst targets",
    "Maintenance (left out of availability)",
    "Targets",
    "Real traffic (access logs)",
    "Monitoring host",
    "Certificates expiring within 30 days",
    "Backups",
    "The monitor itself",
    "Alerts that fired (every severity)",
)
INCIDENT_SECTIONS = (
    "Summary",
    "Impact",
    "Detection",
    "What failed",
    "Timeline",
    "Alerts and runbooks",
    "Root cause",
    "Trigger",
    "Resolution",
    "Contributing factors",
    "What went well",
    "What went wrong",
    "Where we got lucky",
    "Action items",
)

MakeReport = Callable[..., subprocess.CompletedProcess[str]]
"""``_service`` or ``_incident``: the report of the planted history in a format."""


def _service(history: HistoryPrometheus, fmt: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_report(
        "--prometheus",
        history.url,
        "--from",
        REPORT_FROM,
        "--to",
        REPORT_TO,
        "--format",
        fmt,
        *extra,
    )


def _incident(
    history: HistoryPrometheus, fmt: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_report("incident", FLEET, "--prometheus", history.url, "--format", fmt, *extra)


@pytest.mark.parametrize(("kind", "make"), [("service", _service), ("incident", _incident)])
def test_json_matches_its_schema(history: HistoryPrometheus, kind: str, make: MakeReport) -> None:
    schema = json.loads((SCHEMAS / f"{kind}-report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    done = make(history, "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    # The schema holds: a field the report forgot or renamed fails it.
    broken = dict(document)
    broken.pop("incidents" if kind == "service" else "timeline")
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


@pytest.mark.parametrize(
    ("make", "sections"), [(_service, SERVICE_SECTIONS), (_incident, INCIDENT_SECTIONS)]
)
def test_markdown_has_its_sections(
    history: HistoryPrometheus, make: MakeReport, sections: tuple[str, ...]
) -> None:
    done = make(history, "markdown")
    assert done.returncode == 0, done.stderr
    headings = re.findall(r"^## (.+)$", done.stdout, flags=re.M)
    assert headings == list(sections)
    assert done.stdout.startswith("# ")


def test_service_markdown_lists_the_incidents(history: HistoryPrometheus) -> None:
    text = _service(history, "markdown").stdout
    assert "| `20261104-2000-game_provider` | critical | resolved |" in text
    assert "| payment_gateway | 2 |" in text


@pytest.mark.parametrize(("name", "make"), [("service", _service), ("incident", _incident)])
def test_html_renders_in_chromium_without_external_assets(
    history: HistoryPrometheus, tmp_path: Path, name: str, make: MakeReport
) -> None:
    page = tmp_path / f"{name}.html"
    done = make(history, "html", "--output", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//[^"]*\.(css|js|png|svg|woff2?)', html)
    assert "<script" not in html
    assert html.count("<svg") >= 2, "charts drawn inline"
    dom = rendered_dom(page.as_uri())
    assert "Timeline" in dom if name == "incident" else "Availability per component" in dom
    shot = screenshot(page.as_uri(), ARTIFACTS / f"report-{name}.png", width=1280, height=2400)
    assert shot.stat().st_size > 50_000


def test_pdf_prints_with_chromium(history: HistoryPrometheus, tmp_path: Path) -> None:
    pdf = tmp_path / "incident.pdf"
    done = _incident(history, "pdf", "--output", str(pdf))
    assert done.returncode == 0, done.stderr
    body = pdf.read_bytes()
    assert body.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", body)) >= 2, "the report runs over several A4 pages"


def test_pdf_without_chromium_is_one_clear_line(history: HistoryPrometheus, tmp_path: Path) -> None:
    done = _incident(history, "pdf", "--output", str(tmp_path / "x.pdf"))
    assert done.returncode == 0
    missing = run_report(
        "incident",
        FLEET,
        "--prometheus",
        history.url,
        "--format",
        "pdf",
        "--output",
        str(tmp_path / "y.pdf"),
        env={"PITWATCH_CHROMIUM": "/nonexistent/chromium"},
    )
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    assert "Chromium" in missing.stderr or "chromium" in missing.stderr
