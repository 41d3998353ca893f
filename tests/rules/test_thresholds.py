"""One source for every alert threshold: the rule's ``expr`` in ``rules/*.yml``. The tables
of docs/alerting.md and the header comment of each rule file must show each threshold, so
changing a number in a rule without them fails here (docs/alerting.md, "Thresholds", says
how the numbers are read)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools import REPO
from tests.support.alerting import AlertRule, alert_rules

ALERTING_DOC = REPO / "docs" / "alerting.md"
_NUMBER = r"\d+(?:\.\d+)?"
_COMPARISON = re.compile(rf"(==|!=|>=|<=|>|<)\s*({_NUMBER}(?:\s*\*\s*{_NUMBER})*)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_NOT_THRESHOLDS = {("==", 0.0), ("==", 1.0), ("!=", 0.0), (">", 0.0), (">=", 0.0), ("<", 0.0)}
"""Checks of a 0/1 series or of a sign, not numbers anyone tunes."""


@dataclass(frozen=True)
class Threshold:
    alert: str
    file: Path
    operator: str
    text: str
    """As written in the rule, e.g. ``21 * 86400``."""
    value: float

    def readings(self) -> set[str]:
        """How a person writes this number: as in the rule, as a percentage, a duration, a
        multiple, a half, or (``> 1.5`` on a counter's increase) the whole count above it."""
        value = self.value
        found = {self.text, self.text.replace(" ", ""), f"{value:g}", f"x{value:g}"}
        if value < 1:
            found.add(f"{value * 100:g}%")
        if value == 0.5:
            found.add("half")
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if value >= size and value % size == 0:
                found.add(f"{value // size:g}{unit}")
                if unit == "d":
                    found.add(f"{value // size:g} days")
                break
        if self.operator == ">" and value > 1 and not value.is_integer():
            found |= {f"≥ {math.ceil(value)}", f">= {math.ceil(value)}"}
        return found

    def shown_in(self, text: str) -> bool:
        return any(_mentions(text, reading) for reading in self.readings())


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(word)}(?![\w%]|\.\d)", text) is not None


def thresholds(rule: AlertRule) -> list[Threshold]:
    """The numbers ``rule``'s expression compares with (label values and ranges aside)."""
    expr = _RANGE.sub("", _STRING.sub('""', rule.expr))
    found = []
    for match in _COMPARISON.finditer(expr):
        operator, text = match.groups()
        value = math.prod(float(part) for part in text.split("*"))
        if (operator, value) not in _NOT_THRESHOLDS:
            found.append(Threshold(rule.name, rule.file, operator, text.strip(), value))
    return found


def _table(section: str, header: str) -> dict[str, list[str]]:
    """Rows of the markdown table under ``header`` in ``section``, by first cell."""
    rows: dict[str, list[str]] = {}
    lines = section.split(header, 1)[1].splitlines()[2:]
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def _sections() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The severity table (alert -> severity, ``for:``) and the thresholds table."""
    doc = ALERTING_DOC.read_text()
    severities = _table(doc, "| alert | severity | `for:` |")
    section = doc.split("\n## Thresholds\n", 1)[1].split("\n## ", 1)[0]
    return severities, _table(section, "| alert | threshold | change it when |")


def _by_alert(rows: dict[str, list[str]], known: set[str]) -> dict[str, str]:
    """Threshold rows by full alert name: ``HostCpuHigh / MemoryHigh`` is the row of
    ``PitwatchHostCpuHigh`` and of ``PitwatchHostMemoryHigh``."""
    found: dict[str, str] = {}
    for names, cells in rows.items():
        first, *others = (name.strip() for name in names.split("/"))
        first = f"Pitwatch{first}"
        found[first] = cells[0]
        for other in others:
            # the other name replaces the end of the first: HostCpuHigh / MemoryHigh
            full = next(
                (
                    first[:cut] + other
                    for cut in range(len(first), 0, -1)
                    if first[:cut] + other in known
                ),
                None,
            )
            assert full is not None, f"docs/alerting.md names no alert {other!r} ({names})"
            found[full] = cells[0]
    return found


def _header_comment(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}"


RULES = alert_rules()
ALERTS = sorted({rule.name for rule in RULES})
SEVERITIES, THRESHOLDS = _sections()
THRESHOLD_ROWS = _by_alert(THRESHOLDS, set(ALERTS))


@pytest.mark.parametrize("alert", ALERTS)
def test_every_threshold_is_in_the_docs_table_and_the_rule_file_comment(alert: str) -> None:
    rules = [rule for rule in RULES if rule.name == alert]
    found = [threshold for rule in rules for threshold in thresholds(rule)]
    if not found:
        return  # e.g. the Watchdog, or an alert on a 0/1 series only
    row = THRESHOLD_ROWS.get(alert)
    assert row is not None, f"docs/alerting.md, Thresholds: no row for {alert}"
    for threshold in found:
        shown = " or ".join(sorted(threshold.readings()))
        assert threshold.shown_in(row), (
            f"{alert}: {threshold.operator} {threshold.text} in {threshold.file.name} is not in "
            f"its docs/alerting.md row ({shown}): {row}"
        )
        assert threshold.shown_in(_header_comment(threshold.file)), (
            f"{alert}: {threshold.operator} {threshold.text} is not in the header comment of "
            f"{threshold.file.name} ({shown})"
        )


@pytest.mark.parametrize("alert", ALERTS)
def test_every_for_is_in_the_severity_table(alert: str) -> None:
    assert alert in SEVERITIES, f"docs/alerting.md: no severity row for {alert}"
    _, held = SEVERITIES[alert]
    for rule in RULES:
        if rule.name == alert:
            assert _mentions(held, _duration(rule.for_seconds)), (
                f"{alert}: for {_duration(rule.for_seconds)} is not in its severity row: {held}"
            )


def test_the_readings_catch_a_changed_number() -> None:
    rule = next(rule for rule in RULES if rule.name == "PitwatchHostCpuHigh")
    (threshold,) = thresholds(rule)
    assert threshold.value == 0.9 and "90%" in threshold.readings()
    changed = Threshold(rule.name, rule.file, ">", "0.85", 0.85)
    assert not changed.shown_in(THRESHOLD_ROWS["PitwatchHostCpuHigh"])
    assert not changed.shown_in(_header_comment(rule.file))
