"""The import rules of docs/architecture.md ("What each module may import"), checked on the
source: every module of ``exporter/pitwatch`` sits in one layer and imports only from its
own layer and those below, never what its layer excludes; and no import circle exists."""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools import REPO

PACKAGE = REPO / "exporter" / "pitwatch"

VOCABULARY = (
    "pitwatch",
    "pitwatch.addresses",
    "pitwatch.durations",
    "pitwatch.families",
    "pitwatch.labels",
    "pitwatch.logsetup",
    "pitwatch.reasons",
    "pitwatch.sharding",
    "pitwatch.usage",
    "pitwatch.yaml_errors",
    "pitwatch.yaml_source",
)


@dataclass(frozen=True)
class Layer:
    name: str
    modules: tuple[str, ...]
    """Module names or ``fnmatch`` patterns."""
    never: tuple[str, ...] = ()
    """What these modules must not import although a layer below holds it."""
    only: tuple[str, ...] | None = None
    """When set: all these modules may import, besides themselves (a side package)."""


LAYERS = (
    Layer("vocabulary", VOCABULARY),
    Layer("config types", ("pitwatch.config_types", "pitwatch.secrets")),
    Layer("results", ("pitwatch.result", "pitwatch.exposition", "pitwatch.positions")),
    Layer("probers", ("pitwatch.probes", "pitwatch.probes.*")),
    Layer("config loader", ("pitwatch.config",)),
    Layer(
        "pipeline",
        (
            "pitwatch.store",
            "pitwatch.scheduler",
            "pitwatch.renderer",
            "pitwatch.host",
            "pitwatch.selfmetrics",
        ),
    ),
    Layer("runtime", ("pitwatch.runtime", "pitwatch.ondemand")),
    Layer("endpoints", ("pitwatch.server", "pitwatch.statuspage", "pitwatch.websecurity*")),
    Layer("commands", ("pitwatch.cli", "pitwatch.__main__", "pitwatch.demo", "pitwatch.demo.*")),
)
SIDE = (
    Layer(
        "report",
        ("pitwatch.report", "pitwatch.report.*"),
        only=(*VOCABULARY, "pitwatch.config_types", "pitwatch.secrets"),
    ),
)
NEVER = {
    # state never renders, and neither state nor rendering runs probes
    "pitwatch.store": ("pitwatch.renderer", "pitwatch.scheduler", "pitwatch.host"),
    "pitwatch.renderer": ("pitwatch.scheduler", "pitwatch.host", "pitwatch.selfmetrics"),
    "pitwatch.scheduler": ("pitwatch.renderer", "pitwatch.host"),
    "pitwatch.host": ("pitwatch.store", "pitwatch.renderer", "pitwatch.scheduler"),
    "pitwatch.selfmetrics": ("pitwatch.store", "pitwatch.renderer", "pitwatch.scheduler"),
    # the text format knows nothing of where its lines come from
    "pitwatch.exposition": ("pitwatch.secrets",),
    # a family label is reserved through the validation context, never by importing families
    "pitwatch.config_types": ("pitwatch.families",),
}
"""Exclusions inside the layers allowed (the layer rule already keeps probers away from the
config loader, store, renderer, runtime and server)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str) -> set[str]:
    """Every pitwatch module ``module`` imports, at the top or inside a function."""
    found: set[str] = set()
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "pitwatch"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                package = module.split(".")[: len(module.split(".")) - node.level + 1]
                if MODULES[module].name != "__init__.py":
                    package = package[:-1]
                base = ".".join([*package, *([base] if base else [])])
            if base.split(".")[0] != "pitwatch":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    found.discard(module)
    return found


def _matches(module: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns)


def layer_of(module: str) -> tuple[int, Layer]:
    for index, layer in enumerate(LAYERS):
        if _matches(module, layer.modules):
            return index, layer
    for layer in SIDE:
        if _matches(module, layer.modules):
            return -1, layer
    raise LookupError(module)


def problems_of(module: str) -> list[str]:
    return check(module, imports_of(module))


def check(module: str, imports: set[str]) -> list[str]:
    """What is wrong with ``module`` importing ``imports``."""
    index, layer = layer_of(module)
    problems = []
    for imported in sorted(imports):
        if imported not in MODULES:
            problems.append(f"{module} imports {imported}, which does not exist")
            continue
        if layer.only is not None:
            if not (_matches(imported, layer.only) or _matches(imported, layer.modules)):
                problems.append(
                    f"{module} ({layer.name}) imports {imported}: it may use only the shared "
                    "vocabulary, not the running exporter"
                )
            continue
        their_index, theirs = layer_of(imported)
        if their_index < 0 and index == len(LAYERS) - 1:
            continue  # the commands hand over to a side package (``pitwatch report``)
        if their_index < 0 or their_index > index:
            problems.append(
                f"{module} ({layer.name}) imports {imported} ({theirs.name}), a layer above it"
            )
        elif _matches(imported, NEVER.get(module, ())):
            problems.append(f"{module} must never import {imported}")
    return problems


def test_every_module_has_a_layer() -> None:
    missing = []
    for module in MODULES:
        try:
            layer_of(module)
        except LookupError:
            missing.append(module)
    assert not missing, (
        f"no layer for {missing}: add them to LAYERS in tests/test_imports.py and to "
        "docs/architecture.md"
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module: str) -> None:
    assert problems_of(module) == []


def test_no_import_circles() -> None:
    graph = {module: imports_of(module) & set(MODULES) for module in MODULES}
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph[module]):
            if imported in path:
                circles.append([*path[path.index(imported) :], imported])
            elif imported not in done:
                visit(imported, [*path, imported])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert circles == [], [" -> ".join(circle) for circle in circles]


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    edges = sum(len(imports_of(module)) for module in MODULES)
    problems = [problem for module in MODULES for problem in problems_of(module)]
    with capsys.disabled():
        print(
            f"\n[imports] {len(MODULES)} modules in {len(LAYERS)} layers (+{len(SIDE)} side), "
            f"{edges} pitwatch imports, {len(problems)} against the rules"
        )
    assert problems == []


def test_the_rules_catch_what_they_forbid() -> None:
    assert check("pitwatch.probes.http", {"pitwatch.store"}) == [
        "pitwatch.probes.http (probers) imports pitwatch.store (pipeline), a layer above it"
    ]
    assert check("pitwatch.probes.tcp", {"pitwatch.runtime", "pitwatch.config"}) != []
    assert check("pitwatch.store", {"pitwatch.renderer"}) == [
        "pitwatch.store must never import pitwatch.renderer"
    ]
    assert check("pitwatch.config_types", {"pitwatch.families"}) == [
        "pitwatch.config_types must never import pitwatch.families"
    ]
    assert check("pitwatch.report.queries", {"pitwatch.store", "pitwatch.labels"}) == [
        "pitwatch.report.queries (report) imports pitwatch.store: it may use only the shared "
        "vocabulary, not the running exporter"
    ]
    assert check("pitwatch.runtime", {"pitwatch.store", "pitwatch.renderer"}) == []
