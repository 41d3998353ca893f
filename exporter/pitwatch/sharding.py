"""Splitting targets between exporter replicas: rendezvous (highest-random-weight) hashing.

Each replica runs with ``--shard I/N`` and probes only the targets it owns. A target goes
to the shard with the highest hash of (shard, name), so every target has exactly one owner
and growing from N to N+1 replicas moves only the ~1/(N+1) of targets the new shard wins,
where ``hash mod N`` would move most of them.
"""

from __future__ import annotations

import hashlib
import re
import socket
from dataclasses import dataclass

_ORDINAL = re.compile(r"-(\d+)$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    """0-based, like a StatefulSet pod ordinal."""
    count: int

    def owns(self, name: str) -> bool:
        return owner(name, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def owner(name: str, count: int) -> int:
    """The shard (0..count-1) that probes target ``name``."""
    encoded = name.encode()
    scores = [
        int.from_bytes(
            hashlib.blake2b(encoded, digest_size=8, salt=index.to_bytes(8, "big")).digest(), "big"
        )
        for index in range(count)
    ]
    return max(range(count), key=scores.__getitem__)


def parse_shard(text: str, hostname: str | None = None) -> Shard:
    """``I/N`` (0-based I), or ``auto/N`` to take I from the host name's ``-<ordinal>`` suffix
    (``pitwatch-2`` in a StatefulSet). Raises ValueError with a message for the user."""
    index_text, sep, count_text = text.partition("/")
    if not sep or not count_text.isdigit() or int(count_text) < 1:
        raise ValueError(f"invalid --shard {text!r}: expected I/N, e.g. 0/3, or auto/N")
    count = int(count_text)
    if index_text == "auto":
        host = hostname if hostname is not None else socket.gethostname()
        match = _ORDINAL.search(host)
        if match is None:
            raise ValueError(
                f"--shard auto/{count}: host name {host!r} does not end in -<ordinal> "
                "(as StatefulSet pods do); give the shard as I/N"
            )
        index_text = match.group(1)
    if not index_text.isdigit():
        raise ValueError(f"invalid --shard {text!r}: expected I/N, e.g. 0/3, or auto/N")
    index = int(index_text)
    if index >= count:
        raise ValueError(f"invalid --shard {text!r}: the shard index counts from 0 to {count - 1}")
    return Shard(index, count)
