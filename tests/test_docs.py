"""The docs list exactly what the exporter exposes."""

from __future__ import annotations

import re
from pathlib import Path

import pitwatch.probes  # noqa: F401 - registers every prober's families
from pitwatch.families import all_families
from pitwatch.selfmetrics import SelfMetrics

DOCS = Path(__file__).resolve().parent.parent / "docs"


def documented_names() -> set[str]:
    names: set[str] = set()
    for line in (DOCS / "metrics.md").read_text().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([a-z_:*0-9]+)`", first_cell))
    return names


def exposed_names() -> set[str]:
    names = {family.name for family in all_families()}
    for family in SelfMetrics().registry.collect():
        suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
        names.add(family.name + suffix)
    return names


def is_documented(name: str, documented: set[str]) -> bool:
    return name in documented or any(
        doc.endswith("*") and name.startswith(doc[:-1]) for doc in documented
    )


def test_every_exposed_family_is_documented() -> None:
    documented = documented_names()
    missing = sorted(name for name in exposed_names() if not is_documented(name, documented))
    assert missing == [], f"add these to docs/metrics.md: {missing}"


def test_docs_list_nothing_that_is_not_exposed() -> None:
    exposed = exposed_names()
    stale = sorted(
        name for name in documented_names() if not name.endswith("*") and name not in exposed
    )
    assert stale == [], f"docs/metrics.md lists families the exporter does not expose: {stale}"
