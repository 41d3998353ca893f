"""The HTTP endpoint a local Alertmanager posts its notifications to."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from devtools.processes import ServiceError

OnPost = Callable[[str, Any], None]
"""Called with the receiver (the request path, without slashes) and the JSON payload."""


class Webhook:
    """An HTTP server on 127.0.0.1 (``port`` 0: any free one) in a thread of its own that
    hands every POSTed JSON body to ``on_post``; use as a context manager."""

    def __init__(self, on_post: OnPost, port: int = 0) -> None:
        self.on_post = on_post
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the webhook runs inside its with block"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        on_post = self.on_post

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    payload = json.loads(self.rfile.read(length))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                on_post(self.path.strip("/"), payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        except OSError as exc:
            raise ServiceError(
                f"cannot listen on 127.0.0.1:{self.port} for the webhook: {exc}"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
