"""``/``: one plain, fast HTML page for the person on call. No scripts, no external assets."""

from __future__ import annotations

import time
from html import escape

from pitwatch import __version__
from pitwatch.config_types import COMPONENTS
from pitwatch.runtime import Exporter
from pitwatch.store import TargetRecord

REFRESH_SECONDS = 15

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#f6f7f9}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.4em 0 .4em}
.meta{color:#5b6472;margin-bottom:1em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:.3em .6em;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
th{font-weight:600;color:#5b6472;font-size:.85em}
.state{font-weight:700;border-radius:3px;padding:.1em .5em;color:#fff;font-size:.85em}
.up{background:#1f9d55}.down{background:#d0312d}.pending{background:#8a94a3}.maint{background:#2f6fdb}
.strip span{display:inline-block;width:5px;height:14px;margin-right:1px;background:#1f9d55}
.strip span.f{background:#d0312d}.msg{color:#5b6472;max-width:40em;word-break:break-word}
.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def render_status_page(exporter: Exporter) -> str:
    records = list(exporter.store)
    down = sum(1 for record in records if record.up is False)
    now = time.time()
    source = escape(str(exporter.config_path or "built-in default"))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>",
        f"<title>pitwatch: {down} down</title><style>{_STYLE}</style></head><body>",
        "<h1>pitwatch</h1>",
        f"<div class='meta'>{len(records)} targets, {down} down &middot; config {source} "
        f"&middot; version {escape(__version__)} &middot; "
        f"<a href='/metrics'>metrics</a></div>",
    ]
    groups = {
        component: [r for r in records if r.target.spec.component == component]
        for component in COMPONENTS
    }
    for component, members in groups.items():
        if not members:
            continue
        failing = sum(1 for record in members if record.up is False)
        parts.append(
            f"<h2>{escape(component.replace('_', ' '))} "
            f"<small>({len(members) - failing}/{len(members)} up)</small></h2>"
        )
        parts.append(
            "<table><tr><th>state</th><th>target</th><th>tier</th><th>team</th><th>probe</th>"
            "<th class='num'>last</th><th>history</th><th>since</th><th>last failure</th></tr>"
        )
        parts.extend(_row(record, now) for record in members)
        parts.append("</table>")
    if not records:
        parts.append("<p>No targets configured: only host and exporter metrics are exported.</p>")
    parts.append("</body></html>")
    return "".join(parts)


def _row(record: TargetRecord, now: float) -> str:
    spec = record.target.spec
    if record.in_maintenance:
        state = "<span class='state maint'>MAINT</span>"
    elif record.up is None:
        state = "<span class='state pending'>PENDING</span>"
    elif record.up:
        state = "<span class='state up'>UP</span>"
    else:
        state = "<span class='state down'>DOWN</span>"
    latest = record.latest
    last = f"{latest.duration * 1000:.0f} ms" if latest else "&ndash;"
    strip = "".join(
        f"<span class='f' title='{escape(reason)}'></span>" if not ok else "<span></span>"
        for _, ok, reason in record.history
    )
    since = _ago(now - record.changed_at) if record.changed_at else "&ndash;"
    failure = record.last_failure
    if failure is not None:
        reason = escape(str(failure.result.reason))
        details = "".join(
            f"<br>{escape(key)}: {escape(value)}" for key, value in failure.result.details
        )
        when = _ago(now - failure.finished_at)
        message = f"<b>{reason}</b> {escape(failure.result.message)}{details} <i>({when})</i>"
    else:
        message = ""
    return (
        f"<tr><td>{state}</td><td title='{escape(spec.description)}'>{escape(spec.name)}</td>"
        f"<td>{spec.tier}</td>"
        f"<td>{escape(spec.team)}</td><td>{escape(spec.probe)}</td><td class='num'>{last}</td>"
        f"<td class='strip'>{strip}</td><td>{since}</td><td class='msg'>{message}</td></tr>"
    )


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"
