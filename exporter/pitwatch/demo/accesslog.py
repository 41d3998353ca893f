"""The core API's access log, in nginx's combined format plus ``$request_time``: what the
``logs`` probe of the demo reads to count real traffic."""

from __future__ import annotations

import time
from pathlib import Path


class AccessLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Appends whole lines; a reader never sees half of one it has to count.
        self._file = path.open("a", encoding="utf-8", buffering=1)

    def write(
        self,
        method: str,
        path: str,
        *,
        status: int,
        size: int,
        seconds: float,
        client: str = "127.0.0.1",
        agent: str = "-",
        at: float | None = None,
    ) -> None:
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at or time.time()))
        agent = agent.replace('"', "'")
        request = f"{method} {path} HTTP/1.1"
        self._file.write(
            f'{client} - - [{when}] "{request}" {status} {size} "-" "{agent}" {seconds:.3f}\n'
        )

    def close(self) -> None:
        self._file.close()
