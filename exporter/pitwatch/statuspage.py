"""``/``: one plain, fast HTML page for the person on call. No scripts, no external assets.

Targets are grouped by component, failing ones first; each row shows its state, the last
probes as a strip (red for failures), when the state last changed, and the last failure with
its reason. Failures are kept apart from the strip, so one that scrolled out of it still shows.
"""

from __future__ import annotations

import time
from html import escape

from pitwatch import __version__
from pitwatch.labels import COMPONENTS
from pitwatch.runtime import Exporter
from pitwatch.store import TargetRecord

REFRESH_SECONDS = 15

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#f6f7f9}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.4em 0 .4em}
.meta{color:#5b6472;margin-bottom:1em}
.tiles{display:flex;flex-wrap:wrap;gap:.5em;margin-bottom:1em}
.tile{padding:.5em .8em;border-radius:4px;color:#fff;min-width:9em;text-decoration:none}
.tile b{display:block;font-size:1.3em}
table{border-collapse:collapse;width:100%;background:#fff;table-layout:fixed}
col.s{width:6em}col.t{width:14em}col.n{width:3em}col.m{width:8em}col.h{width:22em}col.w{width:6em}
th,td{padding:.3em .6em;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
th{font-weight:600;color:#5b6472;font-size:.85em}
.state{font-weight:700;border-radius:3px;padding:.1em .5em;color:#fff;font-size:.85em}
.up{background:#1f9d55}.down{background:#d0312d}.pending{background:#8a94a3}
.maint{background:#2f6fdb}.degraded{background:#d98a00}
.strip span{display:inline-block;width:5px;height:14px;margin-right:1px;background:#1f9d55}
.strip span.f{background:#d0312d}.msg{color:#5b6472;max-width:40em;word-break:break-word}
.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def render_status_page(exporter: Exporter) -> str:
    records = list(exporter.store)
    down = sum(1 for record in records if record.up is False)
    now = time.time()
    source = escape(str(exporter.config_path or "built-in default"))
    shard = f" &middot; shard {exporter.shard}" if exporter.shard is not None else ""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>",
        f"<title>pitwatch: {down} down</title><style>{_STYLE}</style></head><body>",
        "<h1>pitwatch</h1>",
        f"<div class='meta'>{len(records)} targets, {down} down &middot; config {source}{shard} "
        f"&middot; version {escape(__version__)} &middot; refreshes every {REFRESH_SECONDS}s "
        "&middot; <a href='/metrics'>metrics</a></div>",
    ]
    groups = {
        component: sorted(
            (r for r in records if r.target.spec.component == component), key=_urgency
        )
        for component in COMPONENTS
    }
    groups = {component: members for component, members in groups.items() if members}
    parts.append("<div class='tiles'>")
    parts.extend(_tile(component, members) for component, members in groups.items())
    parts.append("</div>")
    for component, members in groups.items():
        failing = sum(1 for record in members if record.up is False)
        parts.append(
            f"<h2 id='{component}'>{escape(_title(component))} "
            f"<small>({len(members) - failing}/{len(members)} up)</small></h2>"
        )
        parts.append(
            "<table><colgroup><col class='s'><col class='t'><col class='n'><col class='m'>"
            "<col class='w'><col class='w'><col class='h'><col class='w'><col></colgroup>"
            "<tr><th>state</th><th>target</th><th>tier</th><th>team</th><th>probe</th>"
            "<th class='num'>last</th><th>last probes</th><th>since</th><th>last failure</th></tr>"
        )
        parts.extend(_row(record, now) for record in members)
        parts.append("</table>")
    if not records:
        parts.append("<p>No targets configured: only host and exporter metrics are exported.</p>")
    parts.append("</body></html>")
    return "".join(parts)


def _title(component: str) -> str:
    return component.replace("_", " ")


def _urgency(record: TargetRecord) -> tuple[int, int, str]:
    """Down first, then unknown, then up; tier 1 before tier 3."""
    rank = {False: 0, None: 1, True: 2}[record.up]
    return rank, record.target.spec.tier, record.target.name


def _tile(component: str, members: list[TargetRecord]) -> str:
    up = sum(1 for record in members if record.up is True)
    known = sum(1 for record in members if record.up is not None)
    if known == 0:
        colour = "pending"
    elif up == known:
        colour = "up"
    elif up == 0:
        colour = "down"
    else:
        colour = "degraded"
    return (
        f"<a class='tile {colour}' href='#{component}'><b>{up}/{len(members)}</b>"
        f"{escape(_title(component))}</a>"
    )


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
    recent = "&#10;".join(
        escape(
            f"{time.strftime('%H:%M:%S', time.gmtime(f.finished_at))}Z "
            f"{f.result.reason}: {f.result.message}"
        )
        for f in reversed(record.failures)
    )
    since = _ago(now - record.changed_at) if record.changed_at else "&ndash;"
    failure = record.last_failure
    if failure is not None:
        reason = escape(str(failure.result.reason))
        details = "".join(
            f"<br>{escape(key)}: {escape(value)}" for key, value in failure.result.details
        )
        when = _ago(now - failure.finished_at)
        message = (
            f"<span title='{recent}'><b>{reason}</b> {escape(failure.result.message)}{details} "
            f"<i>({when}; hover for the last {len(record.failures)})</i></span>"
        )
    else:
        message = ""
    return (
        f"<tr><td>{state}</td><td title='{escape(spec.description)}'>{escape(spec.name)}</td>"
        f"<td>{spec.tier}</td><td>{escape(spec.team)}</td><td>{escape(spec.probe)}</td>"
        f"<td class='num'>{last}</td><td class='strip'>{strip}</td><td>{since}</td>"
        f"<td class='msg'>{message}</td></tr>"
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
