"""Prometheus text exposition (format 0.0.4): escaping, number formats and the
:class:`LineBuilder` that writes one source's sample lines per family. What is rendered
when, and how it is joined, is :mod:`pitwatch.renderer`'s business."""

from __future__ import annotations

import functools
import gzip
import math
from collections.abc import Iterable, Sequence

from pitwatch.families import Family
from pitwatch.result import LabelPairs, Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_LEVEL = 1
"""Level 1 compresses exposition text about as well as 6 at a third of the CPU."""

Fragments = dict[str, bytes]
"""Family name -> the sample lines one source (a target, the host) contributes to it."""


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)


@functools.lru_cache(maxsize=8192)
def _extra_text(extra: LabelPairs) -> str:
    """Extra label pairs repeat across targets (``reason="timeout"``): render each once."""
    return label_text(extra)


def format_value(value: float) -> str:
    if type(value) is int:  # counters and buckets: the common, cheap case
        return str(value)
    if value != value:  # noqa: PLR0124 - NaN is the one value unequal to itself
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_bound(bound: float) -> str:
    """Bucket bounds as client libraries write them (``1.0``, ``0.25``, ``+Inf``)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class LineBuilder:
    """Collects sample lines per family for one source whose labels start with ``base``.

    ``heads`` caches ``name{base`` per series name; pass the same dict to every render of
    the same source (and a new one when its labels change) to build it only once.
    """

    __slots__ = ("_base", "_heads", "_lines")

    def __init__(self, base: str, heads: dict[str, str] | None = None) -> None:
        self._base = base
        self._heads = heads if heads is not None else {}
        self._lines: dict[str, list[str]] = {}

    def add(self, family: Family, value: float, extra: LabelPairs = (), suffix: str = "") -> None:
        name = family.name + suffix if suffix else family.name
        head = self._heads.get(name)
        if head is None:
            head = self._heads[name] = f"{name}{{{self._base}"
        text = format_value(value)
        if extra:
            more = _extra_text(extra)
            line = f"{head},{more}}} {text}\n" if self._base else f"{head}{more}}} {text}\n"
        elif self._base:
            line = f"{head}}} {text}\n"
        else:
            line = f"{name} {text}\n"
        lines = self._lines.get(family.name)
        if lines is None:
            self._lines[family.name] = [line]
        else:
            lines.append(line)

    def add_samples(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self.add(sample.family, sample.value, sample.labels, sample.suffix)

    def add_histogram(
        self,
        family: Family,
        bounds: Sequence[float],
        cumulative: Sequence[int],
        total: float,
        count: int,
    ) -> None:
        for bound, seen in zip(bounds, cumulative, strict=True):
            self.add(family, seen, (("le", format_bound(bound)),), "_bucket")
        self.add(family, count, (("le", "+Inf"),), "_bucket")
        self.add(family, total, (), "_sum")
        self.add(family, count, (), "_count")

    def fragments(self) -> Fragments:
        return {name: "".join(lines).encode() for name, lines in self._lines.items()}


def compress(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
