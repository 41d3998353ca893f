"""``pitwatch report``: service and post-incident reports built from the history in the
user's Prometheus, read through its HTTP API only (``/api/v1/query``, ``query_range``,
``series``). Nothing here imports the running exporter (scheduler, store, runtime, server,
probes): a report needs Prometheus, never a pitwatch process.

Modules, one job each:

- :mod:`.errors`: :class:`ReportError`, the one exception a user sees (one line, exit 1).
- :mod:`.period`: ``--from`` / ``--to`` / ``--last`` into a checked time range.
- :mod:`.connection`: where Prometheus is and how to log in (secrets from files or env).
- :mod:`.prometheus`: the HTTP API client: auth, CA, timeout, bounded concurrency; every
  transport or protocol failure becomes a :class:`ReportError` naming no secret.
- :mod:`.promql`: the selectors and expressions, in one place.
- :mod:`.inventory`: which targets existed in the period and their labels.
- :mod:`.counting`: probes, failures, reasons, latency and traffic per target, chunked.
- :mod:`.maintenance`: maintenance windows and the probes they take out of availability.
- :mod:`.alerts`: alert episodes from ``ALERTS`` / ``ALERTS_FOR_STATE`` raw samples.
- :mod:`.incidents`: episodes merged into incidents, stable IDs, impact start from probes.
- :mod:`.service` / :mod:`.postmortem`: the two reports' figures, as :mod:`.model` objects.
- :mod:`.links`: Prometheus graph and Grafana panel links of a moment.
- :mod:`.charts`: SVG charts (matplotlib, the ``pitwatch[report]`` extra).
- :mod:`.render`: JSON, Markdown, HTML (Jinja2 templates) and PDF (headless Chromium).
- :mod:`.command`: the ``pitwatch report`` arguments and their run.
"""
