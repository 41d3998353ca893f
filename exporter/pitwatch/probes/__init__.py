"""The prober registry: a config's ``probe:`` value -> its :class:`ProbeKind` (config model
and probe function).

Every prober module defines one config model (a :class:`~pitwatch.config_types.TargetBase`
subclass with ``probe: Literal["<kind>"]``) and one ``async def probe(target, ctx) ->
Passed``, and exports both as ``KIND`` (see :mod:`pitwatch.probes._kind`); this module
lists them. Importing it registers every prober's metric families.
"""

from __future__ import annotations

from collections.abc import Mapping

from pitwatch.probes import dns, file, flow, http, icmp, logs, postgres, process, tcp
from pitwatch.probes._kind import ProbeKind

PROBES: Mapping[str, ProbeKind] = {
    kind.name: kind
    for kind in (
        http.KIND,
        flow.KIND,
        tcp.KIND,
        dns.KIND,
        icmp.KIND,
        process.KIND,
        file.KIND,
        logs.KIND,
        postgres.KIND,
    )
}

__all__ = ["PROBES", "ProbeKind"]
