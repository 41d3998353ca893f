"""Blocking work (``/proc`` walks, file reads) for probers, one thread per target at a time.

A thread cannot be cancelled: when the deadline cuts a probe short, its thread keeps
running (a hung network mount can hold it for minutes). Starting a fresh thread on every
tick would then fill the default executor, which host collection and every other prober
share. So each target keeps its one pending future in ``ctx.state``: a probe that finds it
still running waits for it (and reuses its answer) instead of starting another.

The functions run here must not touch the target's state; they return a value that the
prober applies on the event loop, so a result that arrives after its probe was abandoned
is either picked up by the next probe or dropped, never half-applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_KEY = "pending_thread"


async def run_blocking(state: dict[str, Any], key: object, work: Callable[[], T]) -> T:
    """``work()`` in a worker thread, or the answer of the one still running for this state
    if it was started for the same ``key`` (the target's config: after a reload that changed
    it, an old answer would be wrong)."""
    entry = state.get(_KEY)
    if isinstance(entry, tuple) and entry[0] == key and not entry[1].done():
        pending: asyncio.Future[T] = entry[1]
    else:
        pending = asyncio.get_running_loop().run_in_executor(None, work)
        pending.add_done_callback(_consume_exception)
        state[_KEY] = (key, pending)
    # The shield keeps the future alive (and `done()` false) while its thread runs, even
    # when this probe is cancelled at its deadline.
    result: T = await asyncio.shield(pending)
    return result


def _consume_exception(future: asyncio.Future[Any]) -> None:
    # An abandoned future's error would otherwise be logged as "never retrieved"; the
    # probe that awaits it (if any) still sees the exception.
    if not future.cancelled():
        future.exception()
