"""docs/deployment.md points at files that exist and at its own sections."""

from __future__ import annotations

import re

from devtools import REPO

DOC = REPO / "docs" / "deployment.md"
FROM_DASHBOARDS_BRANCH = ("dashboards/", "deploy/grafana/")
"""Written in another branch of issue 5 (see tests/deploy/test_deploy_compose.py)."""


def test_every_repository_path_named_exists() -> None:
    text = DOC.read_text()
    named = set(re.findall(r"`((?:deploy|rules|scripts|bench|docs|dashboards)/[^`*\s]*)`", text))
    assert len(named) > 10
    missing = [
        path
        for path in sorted(named)
        if not (REPO / path).exists() and not path.startswith(FROM_DASHBOARDS_BRANCH)
    ]
    assert missing == []


def test_every_file_name_in_a_table_row_exists_under_deploy() -> None:
    """Rows name files relative to their directory (`statefulset.yaml`)."""
    text = DOC.read_text()
    names = set(re.findall(r"`([\w.-]+\.(?:ya?ml|service))`", text))
    assert names
    shipped = {path.name for path in (REPO / "deploy").rglob("*") if path.is_file()}
    assert sorted(names - shipped - {"pitwatch.yml"}) == []


def test_section_links_resolve() -> None:
    text = DOC.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    }
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and links <= anchors, links - anchors
