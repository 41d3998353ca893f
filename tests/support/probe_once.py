"""Probe every target of a config once, the way the scheduler does, and print the results
as JSON (one object per target name). Runs inside a :mod:`tests.support.sandbox`.

``python -m tests.support.probe_once CONFIG [--serve-dns PORT] [--ignore-echo-after-first-reply]``

- ``--serve-dns PORT`` first starts :class:`tests.dns_server.DnsServer` on 127.0.0.1:PORT
  (port 53 is fine as root of a private network namespace);
- ``--ignore-echo-after-first-reply`` makes the kernel stop answering IPv4 echo requests as
  soon as it has answered one (a raw socket sees the reply, then the sysctl is set), which
  gives a probe partial loss on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from pitwatch.config import ConfigError, load_config
from tests.support.dns_server import DnsServer
from tests.support.targets import probe_target

_ECHO_IGNORE = Path("/proc/sys/net/ipv4/icmp_echo_ignore_all")


def _ignore_echo_after_first_reply() -> threading.Thread:
    watcher = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)

    def watch() -> None:
        with watcher:
            while True:
                packet = watcher.recv(2048)
                header = (packet[0] & 0x0F) * 4
                if packet[header] == 0:  # echo reply
                    _ECHO_IGNORE.write_text("1")
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


async def _probe_all(config_path: Path) -> dict[str, Any]:
    config = load_config(config_path)
    results: dict[str, Any] = {}
    for target in config.targets:
        observation = await probe_target(config, target.name)
        result = observation.result
        results[target.name] = {
            "success": result.success,
            "reason": str(result.reason) if result.reason else None,
            "message": result.message,
            "details": dict(result.details),
            "samples": [
                [sample.family.name, dict(sample.labels), sample.value] for sample in result.samples
            ],
            "duration": observation.duration,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--serve-dns", type=int)
    parser.add_argument("--ignore-echo-after-first-reply", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.serve_dns is not None:
            stack.enter_context(DnsServer(port=args.serve_dns))
        if args.ignore_echo_after_first_reply:
            _ignore_echo_after_first_reply()
        try:
            results = asyncio.run(_probe_all(args.config))
        except ConfigError as exc:
            results = {"config_error": exc.problems}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
