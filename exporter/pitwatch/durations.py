"""Durations written the Prometheus way: ``500ms``, ``15s``, ``1m30s``, ``2h``, ``7d``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError with a message fit for a config error."""
    cleaned = text.strip()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit, e.g. 500ms, 15s, 1m30s"
        )
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned))


def format_duration(seconds: float) -> str:
    """The shortest readable form of ``seconds`` (``90.0`` -> ``1m30s``), for messages."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    parts = []
    rest = seconds
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        whole = int(rest // size)
        if whole:
            parts.append(f"{whole}{unit}")
            rest -= whole * size
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)
