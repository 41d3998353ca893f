"""Writing a report in the format asked for. JSON is the document itself; Markdown and HTML
are rendered from it by the Jinja2 templates in ``templates/`` (HTML with inline SVG charts
and CSS, no external asset, printable); PDF is that HTML printed by headless Chromium."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pitwatch.report.errors import ReportError
from pitwatch.report.links import Links

EXTRA_HINT = "install the report extra: pip install 'pitwatch[report]'"


def check_format(fmt: str, output: Path | None) -> None:
    """Refuse early what cannot work, before any query runs."""
    if fmt == "pdf":
        from pitwatch.report.pdf import chromium_path

        if output is None:
            raise ReportError("--format pdf needs --output FILE (a PDF is not for a terminal)")
        chromium_path()
    if fmt in ("html", "pdf"):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ReportError(
                f"--format {fmt} draws charts with matplotlib: {EXTRA_HINT}"
            ) from None
    if fmt in ("markdown", "html", "pdf"):
        try:
            import jinja2  # noqa: F401
        except ImportError:
            # A core dependency, not the extra's: only a broken installation lacks it.
            raise ReportError(
                f"--format {fmt} needs Jinja2, which pitwatch depends on but this installation "
                "lacks: reinstall pitwatch or pip install Jinja2"
            ) from None
    if output is not None and output.parent and not output.parent.is_dir():
        raise ReportError(f"--output {output}: no such directory {output.parent}")


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def rendered(document: dict[str, Any], fmt: str, links: Links) -> str:
    if fmt == "json":
        return to_json(document)
    from pitwatch.report.templating import render_html, render_markdown

    if fmt == "markdown":
        return render_markdown(document, links)
    return render_html(document, links)


def write_report(document: dict[str, Any], fmt: str, output: Path | None, links: Links) -> None:
    if fmt == "pdf":
        from pitwatch.report.pdf import print_pdf

        assert output is not None
        print_pdf(rendered(document, "html", links), output)
        return
    text = rendered(document, fmt, links)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"--output {output}: {(exc.strerror or str(exc)).lower()}") from None
