from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.report_history import HISTORY, WITHOUT_RULES, HistoryPrometheus, built_blocks


@pytest.fixture(scope="session")
def history_blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The parent of the base temp dir is shared by every xdist worker of the run.
    return built_blocks(
        tmp_path_factory.getbasetemp().parent / "report-history", "platform", HISTORY
    )


@pytest.fixture(scope="session")
def history(
    tmp_path_factory: pytest.TempPathFactory, history_blocks: Path
) -> Iterator[HistoryPrometheus]:
    """A real Prometheus holding the planted platform's six days."""
    with HistoryPrometheus(tmp_path_factory.mktemp("history-prometheus"), history_blocks) as prom:
        yield prom


@pytest.fixture(scope="session")
def no_rules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryPrometheus]:
    """Pitwatch's series without the rule pack's alerts."""
    blocks = built_blocks(
        tmp_path_factory.getbasetemp().parent / "report-history", "no-rules", WITHOUT_RULES
    )
    with HistoryPrometheus(tmp_path_factory.mktemp("no-rules-prometheus"), blocks) as prom:
        yield prom
