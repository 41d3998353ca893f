"""SVG charts for the HTML report, drawn with matplotlib (the ``pitwatch[report]`` extra):
availability and latency over the period, failures by reason, and an incident swimlane per
target. Figures are built without pyplot (no global state) and written with fixed metadata,
so the same report gives the same SVG bytes. Text is drawn as paths: no font needed to view.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from matplotlib import dates as mdates
from matplotlib import rcParams
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

rcParams["svg.hashsalt"] = "pitwatch"
rcParams["font.size"] = 8
rcParams["axes.titlesize"] = 10
PALETTE = ("#1f6feb", "#d9480f", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e03131", "#5c940d")
SEVERITY_COLOURS = {"critical": "#c92a2a", "high": "#e8590c", "medium": "#f59f00", "low": "#868e96"}
WIDTH = 11.0


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _svg(figure: Figure) -> str:
    FigureCanvasSVG(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _axes(height: float, title: str) -> tuple[Figure, Any]:
    figure = Figure(figsize=(WIDTH, height), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left")
    axes.grid(True, color="#e9ecef", linewidth=0.8)
    axes.spines[["top", "right"]].set_visible(False)
    locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_formatter(formatter)
    return figure, axes


def lines(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    unit: str,
    floor: float | None = None,
) -> str | None:
    """One line per key, over time; ``unit`` ``%`` shows 0..1 values as percent."""
    drawable = {k: v for k, v in series.items() if v}
    if not drawable:
        return None
    figure, axes = _axes(3.0, title)
    for index, (name, points) in enumerate(sorted(drawable.items())):
        scale = 100.0 if unit == "%" else 1.0
        axes.plot(
            [_when(t) for t, _ in points],
            [v * scale for _, v in points],
            label=name,
            color=PALETTE[index % len(PALETTE)],
            linewidth=1.6,
            marker="o" if len(points) < 40 else None,
            markersize=3,
        )
    if floor is not None:
        axes.set_ylim(bottom=floor * (100.0 if unit == "%" else 1.0))
    axes.set_ylabel(unit)
    axes.legend(fontsize=8, loc="lower left", frameon=False, ncol=4)
    return _svg(figure)


def stacked_bars(
    title: str, points: Sequence[tuple[float, float, Mapping[str, float]]]
) -> str | None:
    """Bars per chunk (start, end, {key: count}), stacked by key."""
    keys = sorted({k for _, _, values in points for k, v in values.items() if v})
    if not keys:
        return None
    figure, axes = _axes(2.6, title)
    bottoms = [0.0] * len(points)
    for index, key in enumerate(keys):
        heights = [values.get(key, 0.0) for _, _, values in points]
        axes.bar(
            [_when((a + b) / 2) for a, b, _ in points],
            heights,
            width=[(b - a) / 86400 * 0.9 for a, b, _ in points],
            bottom=bottoms,
            label=key,
            color=PALETTE[index % len(PALETTE)],
        )
        bottoms = [x + y for x, y in zip(bottoms, heights, strict=True)]
    axes.set_ylabel("failed probes")
    axes.legend(fontsize=8, loc="upper left", frameon=False, ncol=5)
    return _svg(figure)


def swimlanes(
    title: str,
    lanes: Mapping[str, Sequence[tuple[float, float, str]]],
    start: float,
    end: float,
) -> str | None:
    """One lane per name with its spans (start, end, severity or state) coloured."""
    if not lanes:
        return None
    names = sorted(lanes)[:40]
    figure, axes = _axes(0.6 + 0.32 * len(names), title)
    colours = {
        **SEVERITY_COLOURS,
        "down": "#c92a2a",
        "pending": "#f59f00",
        "firing": "#e8590c",
        "maintenance": "#74c0fc",
    }
    for row, name in enumerate(names):
        for begin, finish, kind in lanes[name]:
            axes.barh(
                row,
                (max(finish, begin + 60) - begin) / 86400,
                left=_when(begin),
                height=0.6,
                color=colours.get(kind, "#495057"),
            )
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(_when(start), _when(end))
    return _svg(figure)
