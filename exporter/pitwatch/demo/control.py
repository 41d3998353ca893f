"""How ``pitwatch demo fault`` reaches a running demo: a small HTTP endpoint on loopback,
found through a state file the demo writes when it starts and removes when it stops.

- ``GET /faults``: every service and its current fault.
- ``POST /faults/<service>`` with the fault as the body (``down``, ``slow``, ``errors=0.2``,
  ``hang``, ``ok``); ``all`` with ``ok`` clears every fault.

It listens on 127.0.0.1 only. Two demos with the same state file: the newer one takes it
over, and each removes it on exit only while it is still its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from pitwatch.demo.faults import OK, FaultBoard, parse_fault

STATE_ENV = "PITWATCH_DEMO_STATE"
ALL = "all"
BOARD = web.AppKey("board", FaultBoard)


def default_state_file() -> Path:
    """``$PITWATCH_DEMO_STATE``, else ``$XDG_RUNTIME_DIR/pitwatch-demo.json``, else a
    per-user file in the temp directory."""
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "pitwatch-demo.json"
    return Path(tempfile.gettempdir()) / f"pitwatch-demo-{os.getuid()}.json"


# -- the demo's side ----------------------------------------------------------------------------


def control_app(board: FaultBoard) -> web.Application:
    app = web.Application()
    app[BOARD] = board
    app.router.add_get("/faults", _list)
    app.router.add_post("/faults/{service}", _set)
    return app


async def _list(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[BOARD].snapshot()})


async def _set(request: web.Request) -> web.Response:
    board = request.app[BOARD]
    service = request.match_info["service"]
    text = (await request.text()).strip()
    try:
        fault = parse_fault(text)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if service == ALL:
        if fault != OK:
            return web.json_response({"error": "only `all ok` is allowed for all"}, status=400)
        changed = {}
        for name in board.services:
            if board.get(name) != OK:
                changed[name] = str(await board.set(name, OK))
        return web.json_response({"service": ALL, "fault": "ok", "cleared": changed})
    if service not in board.services:
        known = ", ".join(board.services)
        return web.json_response(
            {"error": f"no service {service!r} in the demo; one of: {known}"}, status=404
        )
    old = await board.set(service, fault)
    return web.json_response({"service": service, "fault": str(fault), "was": str(old)})


@dataclass(frozen=True, slots=True)
class State:
    pid: int
    control_url: str
    exporter_url: str


def write_state(path: Path, state: State) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{state.pid}")
    temporary.write_text(json.dumps(asdict(state)))
    os.replace(temporary, path)


def remove_state(path: Path, pid: int) -> None:
    """Remove the state file if it is still this demo's (a newer demo may have taken over)."""
    state = read_state(path)
    if state is not None and state.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_state(path: Path) -> State | None:
    try:
        data = json.loads(path.read_text())
        return State(int(data["pid"]), str(data["control_url"]), str(data["exporter_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


# -- the command line's side --------------------------------------------------------------------


class ControlError(Exception):
    """Shown to the user as one line."""


def _no_demo(path: Path) -> ControlError:
    return ControlError(
        f"no demo is running (nothing answers for {path}): start one with `pitwatch demo`"
    )


def call(state_file: Path, method: str, path: str, body: str | None = None) -> dict[str, Any]:
    """One request to the running demo's control endpoint; its JSON answer."""
    state = read_state(state_file)
    if state is None:
        raise _no_demo(state_file)
    request = urllib.request.Request(
        state.control_url + path,
        data=body.encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "text/plain"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        raise ControlError(str(message)) from None
    except (urllib.error.URLError, OSError):
        raise _no_demo(state_file) from None
