"""The label vocabulary: the labels pitwatch puts on every per-target series, the names it
keeps for itself, and the values of ``component``.

Config validation, the metric families, the status page and the reports read these names
here and nowhere else. The names a user may not set also include every metric family's own
labels (``phase``, ``reason``, ...); :func:`pitwatch.families.reserved_label_names` adds
those, and config validation receives the whole set through its validation context, so no
answer depends on which module happened to be imported first.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

Component = Literal[
    "game_provider",
    "payment_gateway",
    "api",
    "kyc",
    "database",
    "network",
    "backup",
    "host",
    "other",
]
COMPONENTS: tuple[Component, ...] = get_args(Component)
"""Every value of the ``component`` label, in the order the status page shows them."""

TARGET_LABELS = ("target", "component", "tier", "team")
"""Labels pitwatch puts on every per-target series, in this order."""
RESERVED_LABELS = frozenset({*TARGET_LABELS, "job", "instance", "le", "quantile"})
"""Names pitwatch or Prometheus set on any series, whatever the metric family."""

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def check_label_name(name: str, reserved: frozenset[str]) -> None:
    """Raise ValueError (with a message for the user) unless ``name`` may be set in a config."""
    if not LABEL_NAME.fullmatch(name):
        raise ValueError(f"label name {name!r} is not a valid Prometheus label name")
    if name.startswith("__") or name in reserved:
        raise ValueError(f"label {name!r} is reserved: pitwatch or Prometheus sets it")
