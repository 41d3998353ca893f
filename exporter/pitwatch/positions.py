"""Where each logs target stands in its files, kept in the state directory so that a restart
(a deploy, a crash, ``kill -9``) resumes reading where the last process stopped instead of
skipping what was written meanwhile.

A position names the file by device and inode, the offset of the first line not yet counted,
and a fingerprint (the file's first bytes, up to 128): a file whose first bytes changed was
truncated or replaced, and is read from its start. The directory is ``--state-dir``; by
default ``/var/lib/pitwatch`` when it exists and is writable (systemd's
``StateDirectory=pitwatch``), else ``.pitwatch-state`` beside the config file.

Positions are written after each read, atomically (a temporary file renamed over the old
one), without fsync: they survive the process, not a power cut (then some lines are counted
again). A directory that cannot be written (read-only, full disk) costs only this: one error
line when it starts failing, one when it works again, and probing goes on as without a
state directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("pitwatch")

FILE_NAME = "log-positions.json"
FINGERPRINT_BYTES = 128
SYSTEM_STATE_DIR = Path("/var/lib/pitwatch")


@dataclass(frozen=True, slots=True)
class Position:
    dev: int
    ino: int
    offset: int
    fingerprint: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "dev": self.dev,
            "ino": self.ino,
            "offset": self.offset,
            "fingerprint": self.fingerprint.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> Position | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                int(data["dev"]),
                int(data["ino"]),
                int(data["offset"]),
                bytes.fromhex(str(data["fingerprint"])),
            )
        except (KeyError, TypeError, ValueError):
            return None


def default_state_dir(config_path: Path | None) -> Path | None:
    if SYSTEM_STATE_DIR.is_dir() and os.access(SYSTEM_STATE_DIR, os.W_OK):
        return SYSTEM_STATE_DIR
    if config_path is None:
        return None
    return config_path.resolve().parent / ".pitwatch-state"


class PositionStore:
    """The positions of every logs target: ``{target: {"path": ..., "files": [...]}}``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._saved: dict[str, dict[str, object]] = self._load()
        self._failing = False

    @property
    def file(self) -> Path:
        return self.directory / FILE_NAME

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            log.error(
                "cannot read log positions from %s (%s): reading starts afresh", self.file, exc
            )
            return {}
        return (
            {key: value for key, value in data.items() if isinstance(value, dict)}
            if isinstance(data, dict)
            else {}
        )

    def positions(self, target: str, path: str) -> list[Position]:
        """The saved positions of ``target`` reading ``path`` (oldest file first)."""
        with self._lock:
            entry = self._saved.get(target)
        if entry is None or entry.get("path") != path:
            return []
        files = entry.get("files")
        found = [Position.from_json(item) for item in files] if isinstance(files, list) else []
        return [position for position in found if position is not None]

    def save(self, target: str, path: str, positions: list[Position]) -> None:
        """Record ``target``'s positions (blocking: called from the reading thread)."""
        entry: dict[str, object] = {"path": path, "files": [p.to_json() for p in positions]}
        with self._lock:
            if self._saved.get(target) == entry:
                return
            self._saved[target] = entry
            text = json.dumps(self._saved, sort_keys=True)
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                temporary = self.file.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
                with temporary.open("w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(temporary, self.file)
            except OSError as exc:
                if not self._failing:
                    log.error(
                        "cannot save log positions in %s: %s; probing goes on, but a restart "
                        "will not resume where reading stopped",
                        self.directory,
                        exc.strerror or exc,
                    )
                self._failing = True
                _remove_quietly(self.file.with_name(f".{FILE_NAME}.{os.getpid()}.tmp"))
                return
            if self._failing:
                log.info("log positions are saved in %s again", self.directory)
                self._failing = False

    def forget(self, keep: set[str]) -> None:
        with self._lock:
            for name in set(self._saved) - keep:
                del self._saved[name]


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


_store: PositionStore | None = None


def configure(directory: Path | None) -> PositionStore | None:
    """Use ``directory`` for positions from now on (``None``: keep none)."""
    global _store  # noqa: PLW0603 - one state directory per process, set at start-up
    _store = PositionStore(directory) if directory is not None else None
    return _store


def store() -> PositionStore | None:
    return _store
