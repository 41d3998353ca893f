"""Following a log file across ticks, the way ``tail -F`` does, without ever counting a
line twice or re-reading a file from its start unless it really started over.

Each tick :func:`follow` reads what was appended since the last one, up to a byte cap and
a time budget, and hands every complete line to a callback. It survives:

- **rotation by rename** (logrotate's default, ``create``): the path now names another
  file. The old one stays open and is read to its end on this tick and on later ticks
  until a tick finds it no longer growing (a web server keeps writing to it until it is
  told to reopen its logs); the new file is read from its beginning.
- **copytruncate and truncation**: the same file got shorter, or its first bytes changed
  (it was truncated and has already grown past where we were): read it from the start.
- **a missing file**: reported; the file that appears later is read from its beginning.

A file rotated away and replaced again before the next tick is never seen: only the file
the path names at a tick, and files already open, are read.

Only the first file seen after start-up is subject to ``start_at`` (``end`` skips what is
already there). A partial last line is left for the next tick; a line longer than
:data:`MAX_LINE` is dropped and reported as overlong.

:func:`follow` runs in a worker thread and never changes its input: it returns the new
:class:`TailState` and the handles to close, and the caller applies both (or drops them,
when its probe was abandoned, so the next tick reads the same bytes again).
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from pitwatch.positions import FINGERPRINT_BYTES, Position

MAX_LINE = 32 * 1024
"""Longer lines are dropped: no access log line is that long unless something is wrong."""
MIN_READ_BYTES = 2 * MAX_LINE
"""A smaller per-tick cap could stall on one long line forever."""
_CHUNK = 256 * 1024
_HEAD = 128
MAX_RETIRED = 4
"""Rotated-away files kept open at most (each holds a descriptor and the disk space)."""
"""How many first bytes identify a file's content (they hold a timestamp in any log)."""

StartAt = Literal["end", "beginning"]


class Handle:
    """An open file, closed on :meth:`close` or when the last reference goes (a handle
    opened by a read whose result was dropped must not leak)."""

    __slots__ = ("__weakref__", "_finalizer", "dev", "fd", "ino")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)
        info = os.fstat(fd)
        self.dev = info.st_dev
        self.ino = info.st_ino

    def close(self) -> None:
        self._finalizer()

    def same_file(self, info: os.stat_result) -> bool:
        return (info.st_dev, info.st_ino) == (self.dev, self.ino)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where reading stands in one open file."""

    handle: Handle
    offset: int
    """Start of the first line not yet handed out."""
    end: int
    """How far the file had been read at the end of the last tick (offset + partial line)."""
    head: bytes = b""
    skipping: bool = False
    """Inside a line we drop (overlong, or begun before ``start_at: end``): discard up to
    the next newline."""


@dataclass(frozen=True, slots=True)
class TailState:
    current: Cursor | None = None
    retired: tuple[Cursor, ...] = ()
    """Rotated-away files still read until they stop growing."""
    started: bool = False
    """Whether the first look happened (``start_at`` applies only to it)."""

    def close(self) -> None:
        for cursor in self.cursors():
            cursor.handle.close()

    def cursors(self) -> tuple[Cursor, ...]:
        return (*self.retired, *(() if self.current is None else (self.current,)))


@dataclass(slots=True)
class TailRead:
    """One tick's outcome."""

    state: TailState
    consumed: int = 0
    """Bytes handed out as lines or dropped, over all files."""
    backlog: int = 0
    """Bytes present but not yet read (the cap or the time budget stopped reading)."""
    overlong: int = 0
    rotations: int = 0
    truncations: int = 0
    error: OSError | None = None
    """Why the path itself could not be opened (the open files were still read)."""
    to_close: list[Handle] = field(default_factory=list)


Lines = Callable[[bytes], None]


class _Budget:
    def __init__(self, max_bytes: int, stop_at: float) -> None:
        self.left = max_bytes
        self.stop_at = stop_at
        self.exhausted = False

    def take(self, read_so_far: int) -> int:
        """How much the next read may ask for (0: stop)."""
        # At least one chunk per file always, so a slow machine still makes progress.
        if self.left <= 0 or (read_so_far and time.monotonic() >= self.stop_at):
            self.exhausted = True
            return 0
        return min(_CHUNK, self.left)


def follow(
    path: str,
    state: TailState,
    *,
    start_at: StartAt,
    max_bytes: int,
    stop_at: float,
    lines: Lines,
) -> TailRead:
    """Read what ``path`` gained since ``state``; complete lines go to ``lines``."""
    out = TailRead(state)
    budget = _Budget(max_bytes, stop_at)
    current, rotated_away = state.current, None
    try:
        current, rotated_away = _reopen_if_rotated(path, state, start_at)
    except OSError as exc:
        out.error = exc
    kept: list[Cursor] = []
    # Oldest first, so lines come out in the order they were written.
    for cursor in state.retired:
        drained = _drain(cursor, budget, lines, out)
        # Rotated away on an earlier tick and no longer growing: its writer has moved on.
        if drained.end == cursor.end and not budget.exhausted:
            _flush(drained, lines, out)
            out.to_close.append(cursor.handle)
        else:
            kept.append(drained)
    if rotated_away is not None:
        out.rotations += 1
        kept.append(_drain(rotated_away, budget, lines, out))
    while len(kept) > MAX_RETIRED:  # rotating faster than we tick: give up the oldest
        out.to_close.append(kept.pop(0).handle)
    if current is not None:
        current = _drain(_check_truncation(current, out), budget, lines, out)
    # A file that did not exist at the first look is new when it appears (read it all); one
    # that was there but unreadable is old news when it becomes readable (start_at applies).
    started = state.started or out.error is None or isinstance(out.error, FileNotFoundError)
    out.state = TailState(current, tuple(kept), started=started)
    out.backlog = sum(_size(cursor) - cursor.offset for cursor in out.state.cursors())
    return out


def _reopen_if_rotated(
    path: str, state: TailState, start_at: StartAt
) -> tuple[Cursor | None, Cursor | None]:
    """The cursor for whatever file ``path`` names now, and the one it replaced (if any)."""
    current = state.current
    # An open file keeps its inode number, so the same (device, inode) is the same file.
    if current is not None and current.handle.same_file(os.stat(path)):
        return current, None
    handle = Handle(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    if current is not None and (handle.dev, handle.ino) == (current.handle.dev, current.handle.ino):
        handle.close()  # rotated back between the stat and the open: still the same file
        return current, None
    size = os.fstat(handle.fd).st_size
    if not state.started and start_at == "end":
        # Skip what is there; a line being written right now is only half ours: drop it.
        skipping = size > 0 and os.pread(handle.fd, 1, size - 1) != b"\n"
        return Cursor(handle, size, size, skipping=skipping), current
    return Cursor(handle, 0, 0), current


def _check_truncation(cursor: Cursor, out: TailRead) -> Cursor:
    size = _size(cursor)
    head = os.pread(cursor.handle.fd, _HEAD, 0)
    if size < cursor.offset or not head.startswith(cursor.head):
        out.truncations += 1
        return Cursor(cursor.handle, 0, 0, head)
    return replace(cursor, head=head)


def _size(cursor: Cursor) -> int:
    return os.fstat(cursor.handle.fd).st_size


def _drain(cursor: Cursor, budget: _Budget, lines: Lines, out: TailRead) -> Cursor:
    """Hand out the complete lines after ``cursor``, as far as the budget goes."""
    fd = cursor.handle.fd
    offset, skipping = cursor.offset, cursor.skipping
    partial = b""
    read = 0
    while want := budget.take(read):
        chunk = os.pread(fd, want, offset + len(partial))
        if not chunk:
            break
        read += len(chunk)
        budget.left -= len(chunk)
        data = partial + chunk
        start = 0
        if skipping:
            newline = data.find(b"\n")
            if newline < 0:
                offset += len(data)
                out.consumed += len(data)
                partial = b""
                continue
            start, skipping = newline + 1, False
        last = data.rfind(b"\n")
        if last >= start:
            for line in data[start:last].split(b"\n"):
                lines(line)
            start = last + 1
        offset += start
        out.consumed += start
        partial = data[start:]
        if len(partial) > MAX_LINE:
            out.overlong += 1
            offset += len(partial)
            out.consumed += len(partial)
            partial, skipping = b"", True
    return replace(cursor, offset=offset, end=offset + len(partial), skipping=skipping)


def _flush(cursor: Cursor, lines: Lines, out: TailRead) -> None:
    """A closing file's last line, even without its newline (the writer is gone)."""
    if cursor.skipping or cursor.end <= cursor.offset:
        return
    rest = os.pread(cursor.handle.fd, min(cursor.end - cursor.offset, MAX_LINE), cursor.offset)
    if rest:
        out.consumed += len(rest)
        lines(rest)


# -- positions across restarts (pitwatch.positions keeps them in the state directory) --------
def positions_of(state: TailState) -> list[Position]:
    """Where each open file stands, oldest first, with the fingerprint of what was read."""
    found = []
    for cursor in state.cursors():
        fingerprint = os.pread(cursor.handle.fd, min(FINGERPRINT_BYTES, cursor.offset), 0)
        found.append(Position(cursor.handle.dev, cursor.handle.ino, cursor.offset, fingerprint))
    return found


def resume(path: str, saved: list[Position]) -> TailState:
    """The state a previous process left: each saved file found again by its inode (the path
    itself, or a rotated name in its directory) and still starting with the same bytes
    resumes at its offset. The file the path names now, if it is none of them, was created
    while pitwatch was down and is read from its beginning."""
    if not saved:
        return TailState()
    cursors = [cursor for cursor in (_reopen(path, position) for position in saved) if cursor]
    try:
        info = os.stat(path)
    except OSError:
        info = None
    current = None
    if info is not None:
        for cursor in cursors:
            if cursor.handle.same_file(info):
                current = cursor
        if current is None:
            try:
                current = Cursor(Handle(os.open(path, os.O_RDONLY | os.O_CLOEXEC)), 0, 0)
            except OSError:
                current = None
    retired = tuple(cursor for cursor in cursors if cursor is not current)[-MAX_RETIRED:]
    return TailState(current, retired, started=True)


def _reopen(path: str, position: Position) -> Cursor | None:
    directory = os.path.dirname(path) or "."
    candidates = [path]
    try:
        with os.scandir(directory) as entries:
            candidates += [entry.path for entry in entries if entry.path != path]
    except OSError:
        pass
    for candidate in candidates:
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) != (position.dev, position.ino):
            continue
        if info.st_size < position.offset:
            return None  # truncated since: the path's current file is read afresh
        try:
            handle = Handle(os.open(candidate, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            return None
        if os.pread(handle.fd, len(position.fingerprint), 0) != position.fingerprint:
            handle.close()  # the inode was reused by another file
            return None
        return Cursor(handle, position.offset, position.offset)
    return None
