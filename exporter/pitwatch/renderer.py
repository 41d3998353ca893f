"""Exposition bytes: every source's sample lines per family, rendered when the source
changes and joined (never rebuilt) for ``/metrics`` and ``/probe``.

A source is a target (the :class:`~pitwatch.store.ResultStore` tells the renderer of every
change, see :class:`~pitwatch.store.StoreListener`) or the host (set whole by the runtime).
Each is kept as bytes per family in :attr:`Renderer.fragments` (family -> source -> bytes),
so a scrape only joins what is there: at 10,000 targets that is tens of milliseconds,
where building client-library objects at scrape time takes seconds. Whatever needs to
follow the bytes (a cache of compressed blocks, say) hooks into :meth:`Renderer._set`,
the one place a source's bytes change.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pitwatch import families as fam
from pitwatch.config import Target
from pitwatch.exposition import Fragments, LineBuilder, compress, label_text
from pitwatch.reasons import Reason
from pitwatch.result import Observation
from pitwatch.store import TargetRecord

HOST_SOURCE = "\x00host"
"""Source key of the host's lines; cannot clash with a target name."""
_THREAD_RENDER_PARTS = 2000
"""Bodies with more parts than this are joined and compressed off the event loop."""


@dataclass(slots=True)
class _TargetCache:
    """What rendering one target reuses until its config changes."""

    target: Target
    base: str
    """Its labels as exposition text: ``target="x",component="api",...``."""
    heads: dict[str, str] = field(default_factory=dict)
    """``name{labels`` per series name, built once."""
    static: Fragments = field(default_factory=dict)
    """Lines that change only with the config or maintenance."""


class Renderer:
    def __init__(self) -> None:
        self.fragments: dict[str, dict[str, bytes]] = {}
        self._targets: dict[str, _TargetCache] = {}

    # -- sources (the store's listener, and the host) ---------------------------------------
    def target_changed(self, record: TargetRecord, static: bool) -> None:
        cache = self._targets.get(record.name)
        if cache is None or cache.target is not record.target:
            cache = _TargetCache(record.target, label_text(record.target.labels))
            self._targets[record.name] = cache
            static = True
        if static:
            cache.static = render_static(record, cache.base, cache.heads)
        self._set(record.name, {**render_record(record, cache.base, cache.heads), **cache.static})

    def target_removed(self, name: str) -> None:
        self._targets.pop(name, None)
        self._set(name, {})

    def set_source(self, key: str, fragments: Fragments) -> None:
        """All lines of a source that is no target, such as the host (``{}``: none)."""
        self._set(key, fragments)

    # -- output -----------------------------------------------------------------------------
    def exposition_parts(self) -> list[bytes]:
        """Every family's header and lines, in order; join them for ``/metrics``."""
        parts: list[bytes] = []
        for family in fam.all_families():
            sources = self.fragments.get(family.name)
            if sources:
                parts.append(family.header)
                parts.extend(sources.values())
        return parts

    async def metrics_body(self, tail: bytes, gzip: bool) -> bytes:
        """The ``/metrics`` body: every source, then ``tail`` (the exporter's own metrics)."""
        parts = self.exposition_parts()
        parts.append(tail)
        if len(parts) > _THREAD_RENDER_PARTS:
            return await asyncio.to_thread(_finish, parts, gzip)
        return _finish(parts, gzip)

    def fragments_of(self, key: str) -> Fragments:
        """Every line one source contributes, by family."""
        return {name: sources[key] for name, sources in self.fragments.items() if key in sources}

    def probe_answer(self, target: Target, observation: Observation) -> bytes:
        """The ``/probe`` body. A target this replica keeps answers with all its series,
        counters and histogram included (the store has recorded ``observation``); another
        shard's target with what this one probe measured."""
        if target.name in self._targets:
            return _one_source(self.fragments_of(target.name))
        return _one_source(render_single(target, observation))

    # -- internals --------------------------------------------------------------------------
    def _set(self, key: str, fragments: Fragments) -> None:
        for family_name, sources in list(self.fragments.items()):
            if key in sources and family_name not in fragments:
                del sources[key]
        for family_name, lines in fragments.items():
            self.fragments.setdefault(family_name, {})[key] = lines


def _finish(parts: list[bytes], gzip: bool) -> bytes:
    body = b"".join(parts)
    return compress(body) if gzip else body


def _one_source(source: Fragments) -> bytes:
    """A complete exposition of one source: each of its families' header, then its lines,
    in registration order."""
    parts: list[bytes] = []
    for family in fam.all_families():
        lines = source.get(family.name)
        if lines:
            parts += (family.header, lines)
    return b"".join(parts)


def render_record(record: TargetRecord, base: str, heads: dict[str, str]) -> Fragments:
    """The series of one target that move with every probe: verdict, counters, histogram
    and the prober's own measurements."""
    stats = record.stats
    out = LineBuilder(base, heads)
    latest = record.latest
    if latest is not None:
        out.add(fam.PROBE_SUCCESS, 1 if latest.result.success else 0)
        out.add(fam.PROBE_DURATION, latest.duration)
    if stats.buckets:
        out.add_histogram(
            fam.PROBE_LATENCY,
            stats.buckets,
            stats.cumulative,
            stats.latency_sum,
            stats.successes + stats.failures,
        )
    out.add(fam.PROBES_TOTAL, stats.successes, _SUCCESS)
    out.add(fam.PROBES_TOTAL, stats.failures, _FAILURE)
    for reason, count in stats.errors.items():
        out.add(fam.PROBE_ERRORS, count, _REASON_LABELS[reason])
    if stats.last_success is not None:
        out.add(fam.PROBE_LAST_SUCCESS, stats.last_success)
    out.add(fam.PROBES_SKIPPED, stats.skipped)
    if latest is not None:
        out.add_samples(latest.result.samples)
    return out.fragments()


def render_static(record: TargetRecord, base: str, heads: dict[str, str]) -> Fragments:
    """The series of one target that only a reload or a maintenance window changes."""
    target = record.target
    out = LineBuilder(base, heads)
    canary = "true" if target.spec.canary else "false"
    out.add(fam.TARGET_INFO, 1, (("probe", target.spec.probe), ("canary", canary)))
    out.add(fam.OBJECTIVE_RATIO, target.objective_ratio)
    out.add(
        fam.LATENCY_OBJECTIVE,
        target.latency_objective,
        (("percentile", target.latency_percentile),),
    )
    out.add(fam.MAINTENANCE, 1 if record.in_maintenance else 0)
    return out.fragments()


_SUCCESS = (("result", "success"),)
_FAILURE = (("result", "failure"),)
_REASON_LABELS = {reason: (("reason", reason.value),) for reason in Reason}


def render_single(target: Target, observation: Observation) -> Fragments:
    """The series of one on-demand probe of a target no store keeps: its verdict and
    measurements only."""
    out = LineBuilder(label_text(target.labels))
    out.add(fam.PROBE_SUCCESS, 1 if observation.result.success else 0)
    out.add(fam.PROBE_DURATION, observation.duration)
    if observation.result.success:
        out.add(fam.PROBE_LAST_SUCCESS, observation.finished_at)
    out.add_samples(observation.result.samples)
    return out.fragments()
