"""Headless Chromium (Debian's ``chromium``, installed by ``make test``) for page tests."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from devtools.processes import binary

# Quiet, offline, no first-run work; --no-sandbox because the suite runs as root in CI.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
)


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="pitwatch-chromium-") as profile:
        command = [binary("chromium", "chromium"), *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


def rendered_dom(url: str) -> str:
    """The page's DOM after Chromium loaded and laid it out."""
    return _chromium("--dump-dom", url).stdout


def screenshot(url: str, path: Path, width: int = 1400, height: int = 1800) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _chromium(f"--screenshot={path}", f"--window-size={width},{height}", url)
    return path
