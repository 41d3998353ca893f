"""Write every dashboard to ``dashboards/<uid>.json``, or with ``--check`` only say which
committed files differ from what the code builds (exit 1).

    .venv/bin/python -m dashboards.generate [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from dashboards import databases, exporter, hosts, overview, target
from dashboards.grafana import Json

DIRECTORY = Path(__file__).resolve().parent
BUILDERS: tuple[Callable[[], Json], ...] = (
    overview.build,
    target.build,
    hosts.build,
    databases.build,
    exporter.build,
)


def render(dashboard: Json) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[Path, str]:
    """Every dashboard's file and its JSON text, as the code builds them now."""
    files: dict[Path, str] = {}
    for build in BUILDERS:
        dashboard = build()
        files[DIRECTORY / f"{dashboard['uid']}.json"] = render(dashboard)
    return files


def stale(files: dict[Path, str]) -> list[Path]:
    return [
        path
        for path, text in files.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing, exit 1 if stale")
    args = parser.parse_args(argv)
    files = rendered()
    outdated = stale(files)
    if args.check:
        for path in outdated:
            print(f"{path.name} is stale: run python -m dashboards.generate", file=sys.stderr)
        return 1 if outdated else 0
    for path in outdated:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
