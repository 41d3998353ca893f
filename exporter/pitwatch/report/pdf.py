"""PDF: the HTML report printed by headless Chromium (Debian's ``chromium``), where present."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pitwatch.report.errors import ReportError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "PITWATCH_CHROMIUM"
TIMEOUT = 120


def chromium_path() -> str:
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        if not shutil.which(configured):
            raise ReportError(f"${CHROMIUM_ENV} {configured}: no such program")
        return configured
    for name in CANDIDATES:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
        if found:
            return found
    raise ReportError(
        "--format pdf prints the HTML report with headless Chromium, which is not installed "
        f"(apt-get install chromium, or set ${CHROMIUM_ENV}); --format html prints from a browser"
    )


def print_pdf(html: str, output: Path) -> None:
    chromium = chromium_path()
    with tempfile.TemporaryDirectory(prefix="pitwatch-report-") as scratch:
        page = Path(scratch) / "report.html"
        page.write_text(html, encoding="utf-8")
        target = Path(scratch) / "report.pdf"
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={Path(scratch) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            page.as_uri(),
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not print the PDF within {TIMEOUT}s") from None
        if result.returncode != 0 or not target.exists():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1][:200]
            raise ReportError(f"Chromium could not print the PDF: {last}")
        try:
            shutil.copyfile(target, output)
        except OSError as exc:
            raise ReportError(f"--output {output}: {(exc.strerror or str(exc)).lower()}") from None
