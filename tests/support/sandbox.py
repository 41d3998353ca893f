"""Run a command in private Linux namespaces, for tests that must set up what the test
machine itself must not change: ICMP permissions (sysctls are per network namespace), a
host that ignores echo requests, a system resolver on 127.0.0.1:53, an /etc/hosts entry.

As root the command runs under ``unshare --net`` and/or ``--mount``; as anyone else under
``unshare --user --map-root-user`` first, which makes it root inside its own namespaces
only. A new network namespace has nothing but its own loopback, so no packet can leave it.
``unshare`` comes from util-linux, which every Debian system has.

``python -m tests.sandbox SETUP_JSON -- COMMAND...`` is the half that runs inside: it brings
``lo`` up, writes sysctls, bind-mounts files, drops CAP_NET_RAW from the bounding set (so
even root cannot open raw sockets after ``exec``), then executes COMMAND.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sh22x")
_MS_BIND = 4096
_PR_CAPBSET_DROP = 24
_CAP_NET_RAW = 13


@dataclass
class Sandbox:
    network: bool = True
    """A private network namespace (only ``lo``)."""
    loopback_up: bool = True
    sysctls: dict[str, str] = field(default_factory=dict)
    """e.g. ``{"net.ipv4.ping_group_range": "1 0"}`` (network namespace sysctls)."""
    files: dict[str, str] = field(default_factory=dict)
    """Path inside -> file outside, bind-mounted over it (e.g. ``/etc/resolv.conf``)."""
    drop_net_raw: bool = False

    def command(self, *argv: str) -> list[str]:
        unshare = ["unshare"]
        if os.geteuid() != 0:
            unshare += ["--user", "--map-root-user"]
        if self.network:
            unshare.append("--net")
        if self.files:
            unshare.append("--mount")
        setup = json.dumps(asdict(self))
        return [*unshare, sys.executable, "-m", "tests.support.sandbox", setup, "--", *argv]

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(
            self.command(*argv),
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=timeout,
            check=False,
        )


def offline_resolver(directory: Path) -> dict[str, str]:
    """Files that make the system resolver a DNS server on 127.0.0.1:53 (started by
    ``tests.probe_once --serve-dns 53``) with a minimal /etc/hosts."""
    resolv = directory / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    hosts = directory / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    return {"/etc/resolv.conf": str(resolv), "/etc/hosts": str(hosts)}


def probe_offline(config: Path) -> dict[str, Any]:
    """Probe every target of ``config`` once in a private network namespace whose resolver
    serves only ``pitwatch.test``: a lookup of any other name fails, and no packet of it
    leaves this machine (as a lookup through the host's own resolver would)."""
    sandbox = Sandbox(files=offline_resolver(config.parent))
    run = sandbox.run(
        sys.executable, "-m", "tests.support.probe_once", str(config), "--serve-dns", "53"
    )
    assert run.returncode == 0, run.stderr
    results: dict[str, Any] = json.loads(run.stdout)
    return results


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = _IFREQ.pack(b"lo", 0)
        _, flags = _IFREQ.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, request))
        fcntl.ioctl(sock, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


def _libc_call(name: str, *args: object) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{name}: {os.strerror(error)}")


def _inside(setup: Sandbox, argv: list[str]) -> None:
    if setup.network and setup.loopback_up:
        _loopback_up()
    for key, value in setup.sysctls.items():
        Path("/proc/sys", *key.split(".")).write_text(value)
    for inside, outside in setup.files.items():
        _libc_call("mount", outside.encode(), inside.encode(), None, _MS_BIND, None)
    if setup.drop_net_raw:
        _libc_call("prctl", _PR_CAPBSET_DROP, _CAP_NET_RAW, 0, 0, 0)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    _inside(Sandbox(**json.loads(sys.argv[1])), sys.argv[3:])
