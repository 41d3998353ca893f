"""Durations written the Prometheus way: ``500ms``, ``15s``, ``1m30s``, ``2h``, ``7d``.

As in Prometheus, each unit appears at most once and the largest comes first (``1h30m``, not
``30m1h`` or ``1h1h``); unlike Prometheus, a part may have decimals (``1.5s``).
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER = r"(\d{1,15}(?:\.\d{1,9})?)"
_WHOLE = re.compile(
    "".join(
        f"(?:{_NUMBER}{unit}{'(?!s)' if unit == 'm' else ''})?"
        for unit in ("w", "d", "h", "m", "s", "ms")
    )
)
_ORDERED_UNITS = ("w", "d", "h", "m", "s", "ms")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ValueError with a message fit for a config error."""
    cleaned = text.strip()
    match = _WHOLE.fullmatch(cleaned)
    if not cleaned or match is None:
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit, e.g. 500ms, 15s, 1m30s "
            "(each unit once, largest first)"
        )
    seconds = sum(
        float(number) * _UNITS[unit]
        for number, unit in zip(match.groups(), _ORDERED_UNITS, strict=True)
        if number is not None
    )
    return seconds


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
