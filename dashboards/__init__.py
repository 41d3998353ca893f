"""pitwatch's Grafana dashboards as Python code (a dev-only generator, not part of the package).

``python -m dashboards.generate`` writes ``dashboards/<uid>.json``; the JSON is committed so
users import or provision it without Python, and a test fails when regenerating would change
it. One module per dashboard; :mod:`dashboards.grafana` holds the panel and variable
builders, :mod:`dashboards.conventions` what every dashboard shares (uids, runbook base URL,
variables, the declared Grafana version).
"""
