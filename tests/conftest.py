from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from pitwatch.config import Config
from tests.support.exposition import TWO_TARGETS
from tests.support.fake_platform import FakePlatform
from tests.support.pg_cluster import PgCluster, running_cluster
from tests.support.targets import config_from


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    """A real PostgreSQL primary and streaming replica, shared by the whole session."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePlatform]:
    with FakePlatform(tmp_path_factory.mktemp("platform")) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """A socket or session left unclosed then warns (an error here) in the test that leaked
    it, not in whichever later test the garbage collector happens to run in."""
    yield
    gc.collect()


@pytest.fixture
def two_targets(tmp_path: Path) -> Config:
    """A config of an http and a tcp target with global labels (tests.support.exposition)."""
    return config_from(tmp_path, TWO_TARGETS)
