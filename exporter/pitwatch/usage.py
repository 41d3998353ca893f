"""What every subcommand (``run``, ``check-config``, ``demo``) shares on the command line:
the error for a mistake in it, and the ``--listen`` address."""

from __future__ import annotations

from pitwatch.addresses import split_host_port

DEFAULT_LISTEN = ":9469"


class UsageError(Exception):
    """A mistake on the command line; the message is shown as is."""


def parse_listen(text: str) -> tuple[str | None, int]:
    """``HOST:PORT``, ``:PORT`` (all interfaces) or ``[V6]:PORT``."""
    try:
        host, port = split_host_port(text, "--listen", listen=True)
    except ValueError:
        raise UsageError(
            f"invalid --listen {text!r}: expected HOST:PORT, :PORT or [::1]:PORT"
        ) from None
    return (host or None), port
