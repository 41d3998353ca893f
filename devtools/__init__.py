"""Real services on 127.0.0.1 for the tests and ``make stack``: Prometheus, Alertmanager,
PostgreSQL and a webhook that receives Alertmanager's notifications.

Not part of the pitwatch package (nothing here ships): the tests import it (pytest puts
the repository root on the path) and so does ``scripts/stack.py`` (run as
``python -m scripts.stack`` from the root).

- :mod:`devtools.processes`: free ports, HTTP checks, and :class:`~devtools.processes.Service`,
  a process with its own directory and log, started until ready and always stopped.
- :mod:`devtools.prometheus`, :mod:`devtools.alertmanager`: those two as services, and the
  one rule that turns the shipped Alertmanager config into a local one.
- :mod:`devtools.webhook`: the HTTP endpoint the local Alertmanager posts to.
- :mod:`devtools.postgres`: PostgreSQL servers made with ``initdb`` and run with ``pg_ctl``.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository root."""
